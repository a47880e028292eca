"""Computational graphs in the notes' formal sense, with forward and backward passes.

Contract
--------
A :class:`Graph` is built vertex by vertex. Leaves (``Graph.leaf``) are vertices 1..l, numbered
in the order they are added; every other vertex (``Graph.vertex``) gets the next number of
l+1..n and names a :class:`~nnclf.functions.LocalFunction` f^i and an ordered tuple of parents
pi(i) that must already exist, so j < i holds for every edge (j, i) by construction and no
cycle can be made. A vertex may use the same parent twice. The last vertex added is the
output u^n.

- ``forward(leaf_values)``: for i = l+1..n, A^i = <u^j | j in pi(i)> and u^i = f^i(A^i).
- ``backward(values)``: p^n = 1 and p^j = sum_{i:(j,i) in E} p^i J^{j->i}(A^i) for j = n-1..1;
  returns p^j = du^n/du^j for the leaves. ``mode="vjp"`` forms each product p^i J^{j->i}
  without the matrix; ``mode="jacobian"`` builds every J^{j->i} explicitly, as in the notes.
- ``path_sum(values, leaf)``: the theorem p^j = sum over directed paths from j to n of the
  products of the D^{a->b} = J^{a->b}(A^b) along the path.
- ``compile(wrt)``: an :class:`Executor`, the same passes planned once, with buffers reused
  from call to call; the training hot path. It writes each pass as straight-line Python
  (one line per vertex forward, one per edge backward) that names slots and objects only by
  the notes' vertex numbers: no vertex name, function name or other user text is ever part
  of the code it compiles.

``backward`` is idempotent: every call starts again from p^n = 1 and returns fresh arrays.
Graphs, vertices and values that do not fit raise :class:`~nnclf.errors.GraphError` (a
``ValueError``) naming the vertex; a wrong Python type (a parent that is not a vertex, a
function that is not a :class:`~nnclf.functions.LocalFunction`) is a ``TypeError``, and an
unknown name looked up with ``graph[name]`` a ``KeyError``.
"""

from __future__ import annotations

import itertools
import linecache
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Callable, Iterable

import numpy as np

from .errors import GraphError
from .functions import LocalFunction

__all__ = ["Graph", "Vertex", "Executor"]

MODES = ("vjp", "jacobian")
MAX_PLANS = 8
"""Buffer sets an executor keeps, one per combination of leaf shapes (e.g. a full and a
last, shorter minibatch)."""


class Vertex:
    """One vertex of a :class:`Graph`: a leaf, or a local function of ordered parents."""

    __slots__ = ("graph", "name", "fn", "parents", "_position")

    def __init__(self, graph: "Graph", name: str, fn: LocalFunction | None, parents: tuple):
        self.graph = graph
        self.name = name
        self.fn = fn
        self.parents = parents
        self._position = 0

    @property
    def is_leaf(self) -> bool:
        return self.fn is None

    @property
    def index(self) -> int:
        """The vertex number i of the notes (1-based; leaves first)."""
        offset = 0 if self.is_leaf else len(self.graph._leaves)
        return offset + self._position + 1

    def __repr__(self) -> str:
        if self.is_leaf:
            return f"<leaf {self.index}: {self.name}>"
        args = ", ".join(p.name for p in self.parents)
        return f"<vertex {self.index}: {self.name} = {self.fn.name}({args})>"


class Graph:
    """A computational graph: vertices 1..n, leaves 1..l, edges (j, i) with j < i.

    Examples
    --------
    The notes' example with n = 4, l = 2:

    >>> from nnclf import functions as F
    >>> g = Graph()
    >>> u1, u2 = g.leaf("u1"), g.leaf("u2")
    >>> u3 = g.vertex("u3", F.add, u1, u2)
    >>> u4 = g.vertex("u4", F.mul, u2, u3)
    >>> g.edges
    [(1, 3), (2, 3), (2, 4), (3, 4)]
    >>> values = g.forward({"u1": 1.0, "u2": 2.0})
    >>> float(values["u4"])
    6.0
    >>> {k: float(v) for k, v in g.backward(values).items()}
    {'u1': 2.0, 'u2': 5.0}
    """

    def __init__(self):
        self._leaves: list[Vertex] = []
        self._ops: list[Vertex] = []
        self._by_name: dict[str, Vertex] = {}
        self._executors: dict[tuple, Executor] = {}

    # ------------------------------------------------------------------ building

    def _new(self, name, fn, parents) -> Vertex:
        if not isinstance(name, str) or not name:
            raise GraphError(f"a vertex name must be a non-empty string, got {name!r}")
        if name in self._by_name:
            raise GraphError(f"vertex name '{name}' is already used in this graph; choose another")
        v = Vertex(self, name, fn, parents)
        self._by_name[name] = v
        self._executors.clear()
        return v

    def leaf(self, name: str) -> Vertex:
        """Add a leaf u^j whose value is given to :meth:`forward`."""
        v = self._new(name, None, ())
        v._position = len(self._leaves)
        self._leaves.append(v)
        return v

    def vertex(self, name: str, fn: LocalFunction, *parents: Vertex | str) -> Vertex:
        """Add vertex u^i = f^i(u^{pi(i)_1}, u^{pi(i)_2}, ...); it becomes the output u^n."""
        if not isinstance(fn, LocalFunction):
            raise TypeError(
                f"vertex '{name}': {fn!r} is not a LocalFunction; use one from nnclf.functions "
                "or build one with nnclf.functions.LocalFunction"
            )
        if len(parents) != fn.arity:
            raise GraphError(
                f"vertex '{name}': {fn.name} takes {fn.arity} parents, got {len(parents)}"
            )
        resolved = tuple(self._parent(name, k, p) for k, p in enumerate(parents, start=1))
        v = self._new(name, fn, resolved)
        v._position = len(self._ops)
        self._ops.append(v)
        return v

    def _parent(self, child: str, k: int, p) -> Vertex:
        if isinstance(p, str):
            if p not in self._by_name:
                raise GraphError(
                    f"vertex '{child}': parent {k} '{p}' does not exist; "
                    "add a vertex before its children"
                )
            return self._by_name[p]
        if not isinstance(p, Vertex):
            raise TypeError(f"vertex '{child}': parent {k} must be a Vertex or a name, got {p!r}")
        if p.graph is not self:
            raise GraphError(
                f"vertex '{child}': parent {k} '{p.name}' belongs to another graph"
            )
        return p

    # ------------------------------------------------------------------ structure

    @property
    def leaves(self) -> list[Vertex]:
        """The leaves 1..l in order."""
        return list(self._leaves)

    @property
    def vertices(self) -> list[Vertex]:
        """All vertices 1..n in order."""
        return self._leaves + self._ops

    @property
    def n(self) -> int:
        return len(self._leaves) + len(self._ops)

    @property
    def l(self) -> int:  # noqa: E743 (the notes' name)
        return len(self._leaves)

    @property
    def output(self) -> Vertex:
        """The output vertex u^n: the last vertex added."""
        if not self._ops:
            raise GraphError("the graph has no non-leaf vertex yet, so no output u^n")
        return self._ops[-1]

    def __getitem__(self, name: str) -> Vertex:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no vertex named '{name}'; vertices are {self._names()}") from None

    def _names(self, vertices: Iterable[Vertex] | None = None) -> str:
        return ", ".join(v.name for v in (self.vertices if vertices is None else vertices))

    @property
    def edges(self) -> list[tuple[int, int]]:
        """E: the pairs (j, i), 1-based, ordered by i then by first use among the parents."""
        out = []
        for v in self._ops:
            seen = []
            for p in v.parents:
                if p.index not in seen:
                    seen.append(p.index)
            out.extend((j, v.index) for j in seen)
        return out

    def parents(self, name: str) -> tuple[str, ...]:
        """pi(i): the names of the parents of vertex ``name``, in argument order."""
        return tuple(p.name for p in self[name].parents)

    # ------------------------------------------------------------------ forward

    def forward(self, leaf_values: Mapping) -> dict[str, np.ndarray]:
        """The forward pass: u^i = f^i(A^i) for i = l+1..n.

        Parameters
        ----------
        leaf_values : mapping
            A value for every leaf, by name.

        Returns
        -------
        dict
            Every vertex name -> its value u^i (leaves included).
        """
        values = self._leaf_values(leaf_values, "forward")
        for v in self._ops:
            args = [values[p.name] for p in v.parents]
            values[v.name] = self._apply(v, args)
        return values

    def _leaf_values(self, leaf_values: Mapping, caller: str) -> dict:
        if not isinstance(leaf_values, Mapping):
            raise TypeError(f"{caller}: give the leaf values as a dict of name -> value")
        unknown = [k for k in leaf_values if k not in self._by_name or not self._by_name[k].is_leaf]
        if unknown:
            raise GraphError(
                f"{caller}: '{unknown[0]}' is not a leaf of this graph; "
                f"leaves are {self._names(self._leaves)}"
            )
        values = {}
        for v in self._leaves:
            if v.name not in leaf_values:
                raise GraphError(f"{caller}: no value for leaf '{v.name}'")
            values[v.name] = np.asarray(leaf_values[v.name])
        return values

    def _apply(self, v: Vertex, args: list):
        try:
            v.fn.check(*args)
            return v.fn.forward(*args)
        except (ValueError, IndexError, TypeError) as e:
            raise GraphError(self._where(v) + str(e)) from None

    def _where(self, v: Vertex) -> str:
        args = ", ".join(p.name for p in v.parents)
        return f"vertex '{v.name}' = {v.fn.name}({args}): "

    # ------------------------------------------------------------------ backward

    def _backward_plan(self, wrt: tuple[str, ...]) -> list[tuple[Vertex, list[tuple[int, Vertex]]]]:
        """For each vertex i from n down to l+1, the argument positions k whose parent j
        needs p^j: those on a directed path from a leaf in ``wrt`` to the output."""
        from_wrt = {name: True for name in wrt}
        for v in self._ops:
            from_wrt[v.name] = any(
                from_wrt.get(p.name, False) and v.fn.differentiable[k]
                for k, p in enumerate(v.parents)
            )
        to_output = {self.output.name}
        plan = []
        for v in reversed(self._ops):
            if v.name not in to_output:
                continue
            edges = [
                (k, p) for k, p in enumerate(v.parents)
                if v.fn.differentiable[k] and from_wrt.get(p.name, False)
            ]
            if edges:
                plan.append((v, edges))
                to_output.update(p.name for _, p in edges)
        return plan

    def _check_wrt(self, wrt, caller: str) -> tuple[str, ...]:
        if wrt is None:
            return tuple(v.name for v in self._leaves)
        if isinstance(wrt, str):
            wrt = (wrt,)
        wrt = tuple(wrt)
        for name in wrt:
            if name not in self._by_name or not self._by_name[name].is_leaf:
                raise GraphError(
                    f"{caller}: '{name}' is not a leaf; leaves are {self._names(self._leaves)}"
                )
        return wrt

    def _check_values(self, values: Mapping, caller: str) -> None:
        for v in self.vertices:
            if v.name not in values:
                raise GraphError(
                    f"{caller}: no value for vertex '{v.name}'; pass the dict that forward() returned"
                )
        out = self.output
        if np.size(values[out.name]) != 1:
            raise GraphError(
                f"{caller}: the output '{out.name}' has shape {np.shape(values[out.name])}; "
                "backpropagation needs a scalar output (d_n = 1)"
            )

    def backward(self, values: Mapping, mode: str = "vjp", wrt=None) -> dict[str, np.ndarray]:
        """The backward pass: p^n = 1, p^j = sum_{i:(j,i) in E} p^i J^{j->i}(A^i).

        Parameters
        ----------
        values : mapping
            The dict returned by :meth:`forward`.
        mode : {"vjp", "jacobian"}
            ``"vjp"`` computes each p^i J^{j->i} without forming J (fast); ``"jacobian"``
            builds every J^{j->i}(A^i) as an explicit (d_i, d_j) matrix, as in the notes.
        wrt : str or sequence of str, optional
            The leaves whose p^j are wanted (default: all). Vertices on no path from these
            leaves to the output are skipped.

        Returns
        -------
        dict
            Leaf name -> p^j = du^n/du^j, a new float array shaped like the leaf. A leaf with
            no path to the output through differentiable arguments gets zeros.
        """
        if mode not in MODES:
            raise GraphError(f"backward: unknown mode {mode!r}; use 'vjp' or 'jacobian'")
        wrt = self._check_wrt(wrt, "backward")
        self._check_values(values, "backward")
        plan = self._backward_plan(wrt)
        if mode == "vjp":
            p = {self.output.name: np.ones(np.shape(values[self.output.name]))}
            for v, edges in plan:
                args = [values[q.name] for q in v.parents]
                for k, parent in edges:
                    c = v.fn.vjp(k, p[v.name], values[v.name], *args)
                    p[parent.name] = c if parent.name not in p else p[parent.name] + c
        else:
            p = {self.output.name: np.ones((1, 1))}
            for v, edges in plan:
                for j, D in self._edge_jacobians(v, values, {q for _, q in edges}).items():
                    c = p[v.name] @ D
                    p[j.name] = c if j.name not in p else p[j.name] + c
        return {
            name: self._shaped(p.get(name), values[name]) for name in wrt
        }

    @staticmethod
    def _shaped(p, leaf_value) -> np.ndarray:
        shape = np.shape(leaf_value)
        if p is None:
            return np.zeros(shape)
        return np.array(p, dtype=float).reshape(shape)

    def _edge_jacobians(self, v: Vertex, values: Mapping, parents=None) -> dict[Vertex, np.ndarray]:
        """D^{j->i} = J^{j->i}(A^i) for each distinct parent j of vertex i; a parent used at
        several argument positions gets the sum of their Jacobians."""
        args = [values[q.name] for q in v.parents]
        out: dict[Vertex, np.ndarray] = {}
        for k, q in enumerate(v.parents):
            if parents is not None and q not in parents:
                continue
            J = v.fn.jacobian(k, values[v.name], *args)
            out[q] = J if q not in out else out[q] + J
        return out

    # ------------------------------------------------------------------ paths

    def paths(self, leaf: str) -> list[tuple[int, ...]]:
        """P(j, n): every directed path from vertex ``leaf`` to the output, as vertex numbers."""
        start = self._path_start(leaf, "paths")
        children: dict[int, list[int]] = {}
        for j, i in self.edges:
            children.setdefault(j, []).append(i)
        target, found, stack = self.output.index, [], [(start.index,)]
        while stack:
            path = stack.pop()
            if path[-1] == target:
                found.append(path)
                continue
            stack.extend(path + (c,) for c in reversed(children.get(path[-1], [])))
        return found

    def _path_start(self, leaf: str, caller: str) -> Vertex:
        if leaf not in self._by_name or not self._by_name[leaf].is_leaf:
            raise GraphError(
                f"{caller}: '{leaf}' is not a leaf; leaves are {self._names(self._leaves)}"
            )
        return self._by_name[leaf]

    def path_sum(self, values: Mapping, leaf: str) -> np.ndarray:
        """du^n/du^j as the notes' theorem states it: the sum over all directed paths p from
        j to n of the product of D^{a->b} = J^{a->b}(A^b) over the edges (a, b) of p.

        Exponential in the number of paths; meant for teaching and verification.
        """
        self._path_start(leaf, "path_sum")
        self._check_values(values, "path_sum")
        D = {}
        for v in self._ops:
            for q, J in self._edge_jacobians(v, values).items():
                D[(q.index, v.index)] = J
        total = np.zeros((1, np.size(values[leaf])))
        for path in self.paths(leaf):
            product = D[(path[0], path[1])]
            for a, b in zip(path[1:], path[2:]):
                product = D[(a, b)] @ product
            total = total + product
        return total.reshape(np.shape(values[leaf]))

    # ------------------------------------------------------------------ display

    def _label(self, v: Vertex, values: Mapping | None) -> str:
        text = f"{v.index}: {v.name}"
        if not v.is_leaf:
            text += f" = {v.fn.name}({', '.join(p.name for p in v.parents)})"
        if values is not None and v.name in values:
            shape = values[v.name]
            shape = tuple(shape) if isinstance(shape, tuple) else np.shape(shape)
            text += f"\\nd = {int(np.prod(shape))}, shape {shape}"
        return text

    def to_dot(self, values: Mapping | None = None) -> str:
        """Graphviz DOT text: each vertex with its number and name (and, given values or
        shapes by name, its dimension d_i), each edge (j, i); leaves are drawn as boxes."""
        lines = ["digraph computational_graph {", "  rankdir=LR;"]
        for v in self.vertices:
            shape = "box" if v.is_leaf else ("doublecircle" if v is self.output else "ellipse")
            lines.append(f'  v{v.index} [label="{self._label(v, values)}", shape={shape}];')
        lines.extend(f"  v{j} -> v{i};" for j, i in self.edges)
        lines.append("}")
        return "\n".join(lines) + "\n"

    def summary(self, values: Mapping | None = None) -> str:
        """A table of the vertices: number, name, local function, parents, shape."""
        rows = [("i", "name", "f^i", "parents pi(i)", "shape")]
        for v in self.vertices:
            shape = "" if values is None or v.name not in values else str(np.shape(values[v.name]))
            rows.append((
                str(v.index), v.name, "leaf" if v.is_leaf else v.fn.name,
                ", ".join(str(p.index) for p in v.parents), shape,
            ))
        widths = [max(len(r[c]) for r in rows) for c in range(5)]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)

    def __repr__(self) -> str:
        return f"<Graph n={self.n} l={self.l}: {self._names()}>"

    # ------------------------------------------------------------------ compiled

    def compile(self, wrt=None) -> "Executor":
        """The graph planned once for many forward/backward passes (see :class:`Executor`)."""
        wrt = self._check_wrt(wrt, "compile")
        if wrt not in self._executors:
            self._executors[wrt] = Executor(self, wrt)
        return self._executors[wrt]


@dataclass
class _Step:
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


_PASS_NUMBERS = itertools.count(1)
"""Numbers the generated passes, so that each has a file name of its own in tracebacks."""


class _Pass:
    """One generated pass: a straight-line function and its own namespace.

    Its source names only slots (``u[i]``, ``p[j]``, ``t[n]``) and objects bound under names
    made of vertex numbers (``f7``, ``v7_6_1``); no vertex or function name, nor any other text
    given by a user, is ever part of it. The source is registered with :mod:`linecache` under
    a file name of its own while the function lives, so tracebacks show its lines.
    """

    def __init__(self, name: str, params: str, shapes: list, buffers: dict):
        self.name = name
        self.lines = [f"def {name}({params}):"]
        self.namespace: dict = {"add": np.add}
        self._shapes = shapes
        self._buffers = buffers
        self.text = ""

    def bind(self, name: str, obj) -> str:
        """Put ``obj`` in this pass's namespace as ``name``."""
        self.namespace[name] = obj
        return name

    def buffer(self, name: str, slot: int) -> str:
        """A scratch array shaped like u^slot, shared by the passes of one plan."""
        if name not in self._buffers:
            self._buffers[name] = np.empty(self._shapes[slot])
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
        filename = f"<nnclf executor pass {next(_PASS_NUMBERS)}>"
        linecache.cache[filename] = (len(self.text), None, self.text.splitlines(True), filename)
        exec(compile(self.text, filename, "exec"), self.namespace)
        fn = self.namespace[self.name]
        weakref.finalize(fn, linecache.cache.pop, filename, None)
        return fn


@dataclass(eq=False)
class _Plan:
    """The passes generated for one combination of leaf shapes."""

    shapes: list[tuple]
    """``shapes[i]``: the shape of u^i (``shapes[0]`` is unused)."""
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
    the ``wrt`` leaves to the output are worked out when the executor is made; the arrays
    holding every u^i and p^j are allocated on the first call for a given set of leaf shapes
    and reused by every later call with the same shapes. The numbers are those of
    :meth:`Graph.forward` and :meth:`Graph.backward`: the same local functions compute them,
    writing into buffers.

    Leaf arrays are used as given, without copying, so a parameter updated in place is seen by
    the next call. The arrays returned by :meth:`backward` are the executor's own buffers:
    they are overwritten by the next call. Leaf values are checked on the first call for each
    new set of leaf shapes only.
    """

    def __init__(self, graph: Graph, wrt: tuple[str, ...]):
        self.graph = graph
        self.wrt = wrt
        # Slot i holds u^i (and p^i): vertex numbers, 1-based as in the notes; slot 0 is unused.
        self._slot = slot = {v.name: v.index for v in graph.vertices}
        self._leaf_names = tuple(v.name for v in graph._leaves)
        self._get_leaves = lambda values, names=self._leaf_names: [values[k] for k in names]
        if len(self._leaf_names) > 1:
            self._get_leaves = itemgetter(*self._leaf_names)
        self._leaf_slots = slice(1, len(self._leaf_names) + 1)
        self._output_slot = slot[graph.output.name]
        self._forward_steps = [
            (v.fn.forward_fn(), tuple(slot[p.name] for p in v.parents), slot[v.name])
            for v in graph._ops
        ]
        self._steps = [
            _Step(v.fn, k, slot[v.name], slot[parent.name], tuple(slot[p.name] for p in v.parents))
            for v, edges in graph._backward_plan(wrt)
            for k, parent in edges
        ]
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
        buffers: dict = {}
        forward = _Pass("forward", "u", shapes, buffers)
        for f, args, i in self._forward_steps:
            out = "None" if i == self._output_slot else forward.buffer(f"o{i}", i)
            forward.emit(f"u[{i}] = {forward.bind(f'f{i}', f)}({_slots('u', args)}, out={out})",
                         f"u^{i} = f^{i}({_slots('u^', args)})")
        forward.lines.append(f"    return u[{self._output_slot}]")
        backward = _Pass("backward", "u, p", shapes, buffers)
        _backward_lines(backward, self._steps)
        return _Plan(shapes, buffers, forward.build(), backward.build(),
                     [forward.text, backward.text])

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
                f"backward: into names '{unknown[0]}', which is not among the leaves "
                f"this executor differentiates ({', '.join(self.wrt)})"
            )
        target = {self._slot[name]: n for n, name in enumerate(targets)}
        into = _Pass("backward_into", "u, p, t", plan.shapes, plan.buffers)
        _backward_lines(into, [st for st in self._steps if st.j not in target])
        last = [st for st in self._steps if st.j in target]
        waiting = []
        for n, st in enumerate(last):
            tn = target[st.j]
            args = f"p[{st.i}], u[{st.i}], {_slots('u', st.args)}"
            in_place = st.j not in set().union(*(s.reads for s in last[n:]))
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
            signature = tuple([v.shape for v in leaves])
        except AttributeError:  # lists, Python numbers: make them arrays here
            leaves = [np.asarray(v) for v in leaves]
            signature = tuple([v.shape for v in leaves])
        plan = self._plans.get(signature)
        if plan is None:
            if len(self._plans) >= MAX_PLANS:
                self._plans.pop(next(iter(self._plans)))
            plan = self._plans[signature] = self._allocate(leaves)
        self._plan = plan
        vals = self._values
        vals[self._leaf_slots] = leaves
        return plan.forward(vals)

    def value(self, name: str):
        """u^i of the last forward pass (a buffer, overwritten by the next call)."""
        return self._values[self.graph[name].index]

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

        Returns
        -------
        dict
            Leaf name -> p^j (the executor's buffers), or ``into`` when given.
        """
        plan = self._plan
        if plan is None:
            raise GraphError("backward: run forward first")
        p = self._p
        shape = plan.shapes[self._output_slot]
        p[self._output_slot] = seed if shape == () else np.full(shape, seed, dtype=float)
        if into is not None:
            targets = tuple(into)
            run = plan.into.get(targets) or self._into_pass(plan, targets)
            run(self._values, p, list(into.values()))
            return into
        plan.backward(self._values, p)
        shapes = plan.shapes
        return {
            name: p[s] if p[s] is not None else np.zeros(shapes[s])
            for name, s in zip(self.wrt, self._wrt_slots)
        }


def _slots(prefix: str, slots) -> str:
    """``u[1], u[2]`` (prefix ``u``) or ``u^1, u^2`` (prefix ``u^``)."""
    if prefix.endswith("^"):
        return ", ".join(f"{prefix}{a}" for a in slots)
    return ", ".join(f"{prefix}[{a}]" for a in slots)


def _product(pass_: _Pass, st: _Step) -> str:
    """The call computing p^i J^{j->i} into a buffer shaped like u^j."""
    vjp = pass_.bind("v" + st.name, st.fn.vjp_fn(st.k))
    out = pass_.buffer("b" + st.name, st.j)
    return f"{vjp}(p[{st.i}], u[{st.i}], {_slots('u', st.args)}, out={out})"


def _backward_lines(pass_: _Pass, steps: list[_Step]) -> None:
    """p^j = sum over children i of p^i J^{j->i}: the first child's product is stored, the
    others are added to it."""
    seen: set[int] = set()
    for st in steps:
        if st.j in seen:
            pass_.emit(f"add(p[{st.j}], {_product(pass_, st)}, out=p[{st.j}])",
                       f"p^{st.j} += p^{st.i} J^{{{st.j}->{st.i}}}")
        else:
            pass_.emit(f"p[{st.j}] = {_product(pass_, st)}",
                       f"p^{st.j} = p^{st.i} J^{{{st.j}->{st.i}}}")
        seen.add(st.j)
