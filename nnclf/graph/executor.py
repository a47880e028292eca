"""The graph's passes compiled: planned once, run many times with buffers reused.

Contract
--------
:meth:`nnclf.graph.graph.Graph.compile` returns an :class:`Executor` for a set of vertices ``wrt``
(leaves or not: for a non-leaf vertex it returns the p^i the backward pass computes).
It computes the numbers of :meth:`Graph.forward <nnclf.graph.graph.Graph.forward>` and
:meth:`Graph.backward <nnclf.graph.graph.Graph.backward>` with the same local functions, but plans
the vertex order, the argument slots and the edges once, and writes each pass as
straight-line Python (one line per vertex forward, one per edge backward). That code names
slots and objects only by the notes' vertex numbers (``u[7]`` holds u^7, ``p[6]`` holds
p^6): no vertex name, function name or other user text is ever part of the code it compiles.
Each pass has its own namespace, and its source is registered with :mod:`linecache`, so a
traceback through it shows the generated line; :meth:`Executor.source` prints it. Real-valued
leaves are cast to the graph's ``dtype`` on the way in, as :meth:`Graph.forward
<nnclf.graph.graph.Graph.forward>` does, and every buffer is allocated in that dtype.

The backward pass is planned once as :class:`BackwardStep` s (:func:`backward_steps`, ordered
for adding into leaves by :func:`into_order`); the compiled engine
(:mod:`nnclf.training.compiled`) writes its own step from the same plan.

``Executor.backward(seed, into=params)`` adds p^j into given arrays in place: with
``seed = -eta`` and the parameters themselves that is the SGD step theta <- theta - eta do/dtheta
(:mod:`nnclf.training.optimizers` decides when it applies).
"""

from __future__ import annotations

import itertools
import linecache
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from operator import itemgetter

import numpy as np

from nnclf.errors import GraphError
from nnclf.graph.functions import LocalFunction

__all__ = ["Executor", "BackwardStep", "backward_steps", "into_order"]

MAX_PLANS = 8
"""Buffer sets an executor keeps, one per combination of leaf shapes (e.g. a full and a
last, shorter minibatch)."""


@dataclass
class BackwardStep:
    """One backward step: carry p^i back along argument position k (0-based) of vertex i to
    its parent j. ``i``, ``j`` and ``args`` are vertex numbers, 1-based as in the notes."""

    fn: LocalFunction
    k: int
    i: int
    j: int
    args: tuple[int, ...]

    @property
    def reads(self) -> set[int]:
        """The vertices whose values this step's VJP uses."""
        return {self.args[r] for r in self.fn.reads[self.k]}

    @property
    def name(self) -> str:
        """``i_j_k`` (k 1-based): the suffix of the names this step binds in a pass."""
        return f"{self.i}_{self.j}_{self.k + 1}"


def backward_steps(graph, wrt: tuple[str, ...]) -> list[BackwardStep]:
    """The backward pass p^j = sum over children i of p^i J^{j->i} as a list of steps, one
    per edge, for each vertex i from n down to l+1 (the graph's plan for ``wrt``).

    The one plan both renderings of the backward pass are written from: the executor's
    generated numpy passes here, and the compiled engine's step
    (:mod:`nnclf.training.compiled`)."""
    return [
        BackwardStep(v.fn, k, v.index, parent.index, tuple(p.index for p in v.parents))
        for v, edges in graph._backward_plan(wrt)
        for k, parent in edges
    ]


def into_order(
    steps: list[BackwardStep], targets
) -> tuple[list[BackwardStep], list[tuple[BackwardStep, bool]]]:
    """``steps`` ordered for adding p^j of the leaves ``targets`` (vertex numbers) into
    those leaves' own arrays: the steps into other vertices first, as planned; then the
    steps into the targets, each with whether it may add in place (no step from it on
    reads that target: the leaves' values change under the steps that add into them)."""
    inner = [st for st in steps if st.j not in targets]
    last = [st for st in steps if st.j in targets]
    return inner, [
        (st, st.j not in set().union(*(s.reads for s in last[n:]))) for n, st in enumerate(last)
    ]


_PASS_NUMBERS = itertools.count(1)
"""Numbers the generated passes, so that each has a file name of its own in tracebacks."""


class _Pass:
    """One generated pass: a straight-line function and its own namespace.

    Its source names only slots (``u[i]``, ``p[j]``, ``t[n]``) and objects bound under names
    made of vertex numbers (``f7``, ``v7_6_1``); no vertex or function name, nor any other text
    given by a user, is ever part of it. The source is registered with :mod:`linecache` under
    a file name of its own while the function lives, so tracebacks show its lines.
    """

    def __init__(self, name: str, params: str, shapes: list, buffers: dict, dtype: np.dtype):
        self.name = name
        self.lines = [f"def {name}({params}):"]
        self.namespace: dict = {"add": np.add}
        self._shapes = shapes
        self._buffers = buffers
        self._dtype = dtype
        self.text = ""

    def bind(self, name: str, obj) -> str:
        """Put ``obj`` in this pass's namespace as ``name``."""
        self.namespace[name] = obj
        return name

    def buffer(self, name: str, slot: int) -> str:
        """A scratch array shaped like u^slot, shared by the passes of one plan."""
        if name not in self._buffers:
            self._buffers[name] = np.empty(self._shapes[slot], dtype=self._dtype)
        return self.bind(name, self._buffers[name])

    def emit(self, statement: str, comment: str) -> None:
        line = f"    {statement}  # {comment}"
        assert "\n" not in line, "generated lines are built from vertex numbers only"
        self.lines.append(line)

    def build(self) -> Callable:
        """Compile the pass and return its function."""
        if len(self.lines) == 1:
            self.lines.append("    pass")
        self.text = "\n".join(self.lines) + "\n"
        _forget_dead_passes()
        filename = f"<nnclf executor pass {next(_PASS_NUMBERS)}>"
        linecache.cache[filename] = (len(self.text), None, self.text.splitlines(True), filename)
        exec(compile(self.text, filename, "exec"), self.namespace)
        fn = self.namespace[self.name]
        # Not popped from linecache by the finalizer itself: garbage collection can run while
        # linecache.checkcache walks the cache's keys, which then fails on the missing one.
        weakref.finalize(fn, _DEAD_PASSES.append, filename)
        return fn


_DEAD_PASSES: list[str] = []
"""The file names of passes whose code is gone, to drop from linecache when the next is built."""


def _forget_dead_passes() -> None:
    while _DEAD_PASSES:
        linecache.cache.pop(_DEAD_PASSES.pop(), None)


@dataclass(eq=False)
class _Plan:
    """The passes generated for one combination of leaf shapes."""

    shapes: list[tuple]
    """``shapes[i]``: the shape of u^i (``shapes[0]`` is unused)."""
    casts: tuple[int, ...]
    """The leaves (0-based among the leaves) to cast to the graph's dtype on the way in."""
    buffers: dict[str, np.ndarray]
    """The scratch arrays the passes write into, by the name they have in the source."""
    forward: Callable
    """``forward(u)``: fills u^{l+1}..u^n and returns u^n."""
    backward: Callable
    """``backward(u, p)``: fills p^j, given p^n."""
    source: list[str]
    """The text of every pass generated so far."""
    into: dict[tuple[str, ...], Callable] = field(default_factory=dict)
    """``backward_into(u, p, t)`` by the names of the leaves it adds into."""


class Executor:
    """Forward and backward passes of a :class:`Graph`, planned once and run many times.

    The vertex order, the argument slots of every local function and the edges that lead from
    the ``wrt`` vertices to the output are worked out when the executor is made; the arrays
    holding every u^i and p^j are allocated on the first call for a given set of leaf shapes
    and dtypes, and reused by every later call with the same ones. The numbers are those of
    :meth:`Graph.forward` and :meth:`Graph.backward`: the same local functions compute them,
    writing into buffers.

    Leaf arrays are used as given, without copying, so a parameter updated in place is seen by
    the next call (a real-valued leaf not in the graph's dtype is cast, which copies it). The
    arrays returned by :meth:`backward` are the executor's own buffers: they are overwritten
    by the next call. Leaf values are checked on the first call for each
    new set of leaf shapes only.
    """

    def __init__(self, graph, wrt: tuple[str, ...]):
        self.graph = graph
        self.wrt = wrt
        # Slot i holds u^i (and p^i): vertex numbers, 1-based as in the notes; slot 0 is unused.
        self._slot = slot = {v.name: v.index for v in graph.vertices}
        self._leaf_names = tuple(v.name for v in graph._leaves)
        self._get_leaves = lambda values, names=self._leaf_names: [values[k] for k in names]
        if len(self._leaf_names) > 1:
            self._get_leaves = itemgetter(*self._leaf_names)
        self._leaf_slots = slice(1, len(self._leaf_names) + 1)
        self._dtype = graph.dtype
        real = set(graph.real_leaves)
        self._real = tuple(n for n, name in enumerate(self._leaf_names) if name in real)
        self._output_slot = slot[graph.output.name]
        self._forward_steps = [
            (v.fn.forward_fn(), tuple(slot[p.name] for p in v.parents), slot[v.name])
            for v in graph._ops
        ]
        self._steps = backward_steps(graph, wrt)
        self._wrt_slots = tuple(slot[name] for name in wrt)
        self._plans: dict[tuple, _Plan] = {}
        self._plan: _Plan | None = None
        self._values: list = [None] * (graph.n + 1)
        self._p: list = [None] * (graph.n + 1)

    # ------------------------------------------------------------------ planning

    def _allocate(self, leaf_values: list) -> _Plan:
        """Check the leaves, size every buffer by one plain forward pass, and write the
        passes as straight-line Python: one line per vertex forward, one per edge backward,
        no loop, no look-up by name. :meth:`source` shows the code."""
        values = self.graph.forward(dict(zip(self._leaf_names, leaf_values)))
        shapes = [()] + [np.shape(values[v.name]) for v in self.graph.vertices]
        casts = tuple(n for n in self._real if leaf_values[n].dtype != self._dtype)
        buffers: dict = {}
        forward = _Pass("forward", "u", shapes, buffers, self._dtype)
        for f, args, i in self._forward_steps:
            out = "None" if i == self._output_slot else forward.buffer(f"o{i}", i)
            forward.emit(
                f"u[{i}] = {forward.bind(f'f{i}', f)}({_slots('u', args)}, out={out})",
                f"u^{i} = f^{i}({_slots('u^', args)})",
            )
        forward.lines.append(f"    return u[{self._output_slot}]")
        backward = _Pass("backward", "u, p", shapes, buffers, self._dtype)
        _backward_lines(backward, self._steps)
        return _Plan(
            shapes, casts, buffers, forward.build(), backward.build(), [forward.text, backward.text]
        )

    def _into_pass(self, plan: _Plan, targets: tuple[str, ...]) -> Callable:
        """The backward pass when p^j of the leaves ``targets`` is added into given arrays
        ``t[0], t[1], ...``.

        Steps into other vertices run first, as usual. The steps into target leaves come
        last, since the leaves' values change under them: a step adds in place when no step
        after it reads that leaf; otherwise its product waits in a buffer until the end.
        """
        unknown = [name for name in targets if name not in self.wrt]
        if unknown:
            raise GraphError(
                f"backward: into names '{unknown[0]}', which is not among the vertices "
                f"this executor differentiates ({', '.join(self.wrt)})"
            )
        inner = [name for name in targets if not self.graph[name].is_leaf]
        if inner:
            raise GraphError(
                f"backward: into names '{inner[0]}', which is not a leaf; into adds p^j into "
                "the arrays of leaves only (without into, backward returns p^i of any vertex)"
            )
        target = {self._slot[name]: n for n, name in enumerate(targets)}
        into = _Pass("backward_into", "u, p, t", plan.shapes, plan.buffers, self._dtype)
        inner, last = into_order(self._steps, target)
        _backward_lines(into, inner)
        waiting = []
        for st, in_place in last:
            tn = target[st.j]
            args = f"p[{st.i}], u[{st.i}], {_slots('u', st.args)}"
            acc = st.fn.accumulate_fn(st.k) if in_place else None
            comment = f"t[{tn}] (p^{st.j}) += p^{st.i} J^{{{st.j}->{st.i}}}"
            if acc is not None:
                into.emit(f"{into.bind('a' + st.name, acc)}(t[{tn}], {args})", comment)
            elif in_place:
                into.emit(f"add(t[{tn}], {_product(into, st)}, out=t[{tn}])", comment)
            else:
                into.emit(f"w{len(waiting)} = {_product(into, st)}", f"{comment} (later)")
                waiting.append(tn)
        for w, tn in enumerate(waiting):
            into.emit(f"add(t[{tn}], w{w}, out=t[{tn}])", f"t[{tn}] += w{w}")
        fn = plan.into[targets] = into.build()
        plan.source.append(into.text)
        return fn

    def source(self) -> str:
        """The Python code of the passes planned for the last forward call's leaf shapes.

        Slots are numbered as in the notes (1-based): ``u[i]`` holds u^i and ``p[j]`` holds
        p^j; ``t[n]`` is the n-th array given as ``into``. Bound objects are named by the same
        numbers: ``f7`` is f^7 and ``o7`` the buffer of u^7; ``v7_6_1`` is the VJP of f^7 in
        its argument 1, here vertex 6 (the product p^7 J^{6->7}), ``b7_6_1`` its buffer and
        ``a7_6_1`` its accumulating form. The code holds no vertex or function name.
        """
        if self._plan is None:
            raise GraphError("source: run forward first; the code depends on the leaf shapes")
        return "\n".join(self._plan.source)

    # ------------------------------------------------------------------ running

    def forward(self, leaf_values: Mapping):
        """Run the forward pass on leaf values given by name; returns the output u^n.

        Every vertex value is kept for :meth:`backward` and for :meth:`value`.
        """
        try:
            leaves = self._get_leaves(leaf_values)
        except KeyError as e:
            raise GraphError(f"forward: no value for leaf '{e.args[0]}'") from None
        try:
            signature = tuple([(v.shape, v.dtype) for v in leaves])
        except AttributeError:  # lists, Python numbers: make them arrays here
            leaves = [np.asarray(v) for v in leaves]
            signature = tuple([(v.shape, v.dtype) for v in leaves])
        plan = self._plans.get(signature)
        if plan is None:
            if len(self._plans) >= MAX_PLANS:
                self._plans.pop(next(iter(self._plans)))
            plan = self._plans[signature] = self._allocate(leaves)
        self._plan = plan
        if plan.casts:  # integer or other-precision leaves: as Graph.forward casts them
            leaves = list(leaves)
            for n in plan.casts:
                leaves[n] = leaves[n].astype(self._dtype)
        vals = self._values
        vals[self._leaf_slots] = leaves
        return plan.forward(vals)

    def value(self, name):
        """u^i of the last forward pass (a buffer, overwritten by the next call); the vertex
        by name or number."""
        return self._values[self.graph.vertex_of(name, "value").index]

    def backward(self, seed: float = 1.0, into: Mapping[str, np.ndarray] | None = None):
        """The backward pass for the last forward pass: p^j for the ``wrt`` leaves.

        Parameters
        ----------
        seed : float
            p^n (1 for the gradient). Backpropagation is linear in p^n, so a seed of -eta
            gives -eta du^n/du^j: the SGD step itself.
        into : mapping of leaf name -> array, optional
            Add p^j into these arrays in place instead of returning it (with ``seed=-eta``
            and the parameters themselves, this applies theta <- theta - eta do/dtheta).
            Leaves only.

        Returns
        -------
        dict
            Vertex name -> p^i for every ``wrt`` vertex, leaf or not (the executor's
            buffers), or ``into`` when given.
        """
        plan = self._plan
        if plan is None:
            raise GraphError("backward: run forward first")
        p = self._p
        shape = plan.shapes[self._output_slot]
        p[self._output_slot] = seed if shape == () else np.full(shape, seed, dtype=self._dtype)
        if into is not None:
            targets = tuple(into)
            run = plan.into.get(targets) or self._into_pass(plan, targets)
            run(self._values, p, list(into.values()))
            return into
        plan.backward(self._values, p)
        shapes, dtype, n = plan.shapes, self._dtype, self._output_slot
        return {
            name: (p[s] if s != n else np.full(shapes[n], seed, dtype=dtype))
            if p[s] is not None
            else np.zeros(shapes[s], dtype=dtype)
            for name, s in zip(self.wrt, self._wrt_slots)
        }


def _slots(prefix: str, slots) -> str:
    """``u[1], u[2]`` (prefix ``u``) or ``u^1, u^2`` (prefix ``u^``)."""
    if prefix.endswith("^"):
        return ", ".join(f"{prefix}{a}" for a in slots)
    return ", ".join(f"{prefix}[{a}]" for a in slots)


def _product(pass_: _Pass, st: BackwardStep) -> str:
    """The call computing p^i J^{j->i} into a buffer shaped like u^j."""
    vjp = pass_.bind("v" + st.name, st.fn.vjp_fn(st.k))
    out = pass_.buffer("b" + st.name, st.j)
    return f"{vjp}(p[{st.i}], u[{st.i}], {_slots('u', st.args)}, out={out})"


def _backward_lines(pass_: _Pass, steps: list[BackwardStep]) -> None:
    """p^j = sum over children i of p^i J^{j->i}: the first child's product is stored, the
    others are added to it."""
    seen: set[int] = set()
    for st in steps:
        if st.j in seen:
            pass_.emit(
                f"add(p[{st.j}], {_product(pass_, st)}, out=p[{st.j}])",
                f"p^{st.j} += p^{st.i} J^{{{st.j}->{st.i}}}",
            )
        else:
            pass_.emit(
                f"p[{st.j}] = {_product(pass_, st)}", f"p^{st.j} = p^{st.i} J^{{{st.j}->{st.i}}}"
            )
        seen.add(st.j)
