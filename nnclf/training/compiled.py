"""The compiled engine: a graph's SGD steps generated from its plan and jitted by numba.

Contract
--------
:class:`CompiledSteps` turns a :class:`~nnclf.graph.graph.Graph` into one function that runs many
SGD steps in native code: for each step, gather the picked rows of the data into the data
leaves, the forward pass u^i = f^i(A^i) in vertex order, the backward pass of the
executor's own plan (:func:`~nnclf.graph.executor.backward_steps`, ordered by
:func:`~nnclf.graph.executor.into_order`), the parameter update (plain SGD fused into the
backward pass, or clipping, l2 and a plain, momentum, Nesterov, Adagrad or Adam update on the
gradients: the compiled form of each rule of :mod:`nnclf.training.updates`, whose numpy form
the numpy engine runs) and, with averaging, the running average avg <- avg + r (theta - avg);
eta^t and the averaging rate r^t (0 before averaging starts) are read from arrays of the
chunk's values, computed in Python. The source is generated from the plan and calls each
vertex's :class:`~nnclf.graph.functions.Compiled` kernels; it names every value and kernel
by vertex numbers only (``u7`` holds u^7, ``p7`` p^7, ``f7`` is f^7, ``v9_4_0`` the VJP of
f^9 in its argument 0, here vertex 4; ``s4_1`` the rule's second state array of parameter
vertex 4, ``avg4`` its average), so no user text is ever compiled.

The step computes in the graph's dtype: eta^t, the rates and the hyperparameters are given
to it in that dtype, and every kernel is jitted with its constants in it
(:data:`~nnclf.graph.functions.FLOAT`), so that a float32 step never widens to float64 (which
would halve how many entries one vector instruction holds); only the loss sum and Adam's
count are kept in float64. Kernels and step use numba's ``error_model="numpy"``, under which
a loop with a division can be vectorised.

Caching: the generated module is written to :func:`cache_dir` under a name made from a hash
of its source and of every kernel's source, and its step function is jitted with numba's
``cache=True``; a second process with the same network loads the machine code from there
instead of compiling again.

numba is imported only by the functions here that need it, never when nnclf is imported.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import inspect
import math
import os
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnclf.base.memory import aligned, aligned_zeros, aligned_zeros_like
from nnclf.base.version import __version__
from nnclf.errors import GraphError
from nnclf.graph.executor import backward_steps, into_order
from nnclf.graph.functions import FLOAT
from nnclf.training.updates import (
    AVERAGE,
    CLIP_SCALE,
    CLIP_SQUARES,
    DECAY,
    MOMENTUM,
    RULES,
    SGD,
    UpdateRule,
)

__all__ = ["numba_version", "missing_compiled_form", "cache_dir", "Update", "CompiledSteps"]

_JITTED: dict = {}
_KERNELS: dict[str, dict] = {}
_MODULES: dict[str, types.ModuleType] = {}


def numba_version() -> str | None:
    """numba's installed version, or None when it cannot be imported (found without
    importing it: importing numba takes a few tenths of a second)."""
    try:
        if importlib.util.find_spec("numba") is None:
            return None
        return importlib.metadata.version("numba")
    except (ImportError, ValueError):
        return None


def missing_compiled_form(graph):
    """The first local function of ``graph`` without a compiled form, or None."""
    for v in graph._ops:
        if v.fn.compiled is None:
            return v.fn
    return None


def cache_dir() -> Path:
    """Where generated step modules and numba's machine code are kept:
    ``$NNCLF_CACHE_DIR``, else ``$XDG_CACHE_HOME/nnclf/numba`` (``~/.cache/nnclf/numba``)."""
    if os.environ.get("NNCLF_CACHE_DIR"):
        return Path(os.environ["NNCLF_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nnclf" / "numba"


def jit_kernel(fn, dtype=np.float64):
    """``fn`` jitted by numba (once per dtype), with the plain functions it calls jitted too,
    and ``FLOAT`` (:data:`~nnclf.graph.functions.FLOAT`, the type of the kernels' constants)
    bound to ``dtype``'s scalar type, so that a float32 step computes in float32.

    Every kernel takes numpy's error model: a division by zero gives inf or nan, as in
    numpy, instead of the check for Python's ZeroDivisionError, which keeps a loop with a
    division from being vectorised. A kernel marked by
    :func:`~nnclf.graph.functions.reorders_sums` may have its sums reordered."""
    scalar = np.dtype(dtype).type
    if (fn, scalar) not in _JITTED:
        import numba

        env = dict(fn.__globals__)
        env["FLOAT"] = scalar
        for name in fn.__code__.co_names:
            helper = env.get(name)
            if isinstance(helper, types.FunctionType) and helper is not fn:
                env[name] = jit_kernel(helper, scalar)
        clone = types.FunctionType(fn.__code__, env, fn.__name__, fn.__defaults__, fn.__closure__)
        if getattr(fn, "reorders_sums", False):
            # A flag of its own instructions: it stays with them when LLVM inlines the call.
            flags = {"fastmath": {"reassoc"}}
        else:
            flags = {"inline": "always"}
        _JITTED[fn, scalar] = numba.njit(clone, error_model="numpy", **flags)
    return _JITTED[fn, scalar]


# ------------------------------------------------------------------ update kernels


def _gather_rows(data, rows, out):
    # out[r] = data[rows[r]], entry by entry (for rows of any shape): a row slice would cost
    # numba more than copying a short row.
    w = out.size // rows.size
    for r in range(rows.size):
        k = rows[r] * w
        for j in range(w):
            out.flat[r * w + j] = data.flat[k + j]


def _gather_standardized(data, index, rows, out, mean, scale):
    # out[r] = (data[index[rows[r]]] - mean) / scale: a row of a memory-mapped X, standardised
    # in float64 as it is read (as numpy does on a float64 copy), then stored in out's dtype.
    w = out.size // rows.size
    for r in range(rows.size):
        k = index[rows[r]] * w
        for j in range(w):
            out.flat[r * w + j] = (np.float64(data.flat[k + j]) - mean[j]) / scale[j]


def _axpy(target, a, x):
    for i in range(target.size):
        target.flat[i] += a * x.flat[i]


def _add_into(target, x):
    _axpy(target, FLOAT(1.0), x)


# ------------------------------------------------------------------ generating the step


@dataclass(frozen=True)
class Update:
    """The update rule, as the settings give it: ``optimizer`` ``sgd`` (``momentum`` 0 for
    plain SGD), ``adagrad`` (``epsilon``) or ``adam`` (``beta1``, ``beta2``, ``epsilon``);
    ``decayed`` the parameters l2 applies to (by name); ``l2`` and ``clip_norm`` None or 0
    when off; ``average`` whether the running average is kept."""

    momentum: float = 0.0
    nesterov: bool = False
    l2: float = 0.0
    clip_norm: float | None = None
    decayed: tuple[str, ...] = ()
    optimizer: str = "sgd"
    beta1: float = 0.0
    beta2: float = 0.0
    epsilon: float = 0.0
    average: bool = False

    @property
    def rule(self) -> UpdateRule:
        """The update rule (:mod:`nnclf.training.updates`) whose compiled form each step calls."""
        if self.optimizer == "sgd":
            return MOMENTUM if self.momentum else SGD
        return RULES[self.optimizer]

    @property
    def fused(self) -> bool:
        return self.rule.fusable and not self.l2 and self.clip_norm is None

    @property
    def slots(self) -> int:
        """How many arrays of state per parameter the rule keeps."""
        return len(self.rule.slots)

    def values(self) -> dict:
        """The value of each hyperparameter the step reads, by its name in the step: l2's
        coefficient and clipping's ``max_norm``, then the rule's own."""
        every = {
            "l2": self.l2 or 0.0,
            "max_norm": self.clip_norm or 0.0,
            "mass": self.momentum,
            "nesterov": self.nesterov,
            "beta1": self.beta1,
            "beta2": self.beta2,
            "epsilon": self.epsilon,
        }
        return {name: every[name] for name in ("l2", "max_norm", *self.rule.hyper)}

    def hyper(self) -> np.ndarray:
        """The numbers of :meth:`values` (flags are written into the step as constants)."""
        return np.array(
            [float(v) for v in self.values().values() if not isinstance(v, bool)] or [0.0]
        )


class _Source:
    """Lines of the generated step function and the kernels they call, by generated name."""

    def __init__(self, dtype=np.float64):
        self.lines: list[str] = []
        self.kernels: dict[str, object] = {}
        self.fused = False
        self.dtype = np.dtype(dtype)

    def emit(self, line: str, depth: int = 2) -> None:
        self.lines.append("    " * depth + line)

    def call(self, name: str, kernel, args: str, depth: int = 2) -> None:
        self.kernels[name] = kernel
        self.emit(f"{name}({args})", depth)


def _generate(
    graph,
    params: tuple[str, ...],
    data: tuple[str, ...],
    update: Update,
    p_slots: dict[int, int],
    standardized: bool = False,
) -> _Source:
    """The source of ``run``; ``p_slots`` maps a vertex number to its slot in ``P``;
    ``standardized``: the first data leaf is read through ``D[len(data)]`` (an index array)
    and standardised with ``D[len(data) + 1]`` (mean) and ``D[len(data) + 2]`` (scale)."""
    src = _Source(graph.dtype)
    n = graph.n
    number = {v.name: v.index for v in graph.vertices}
    param_ids = [number[name] for name in params]
    src.emit("def run(U, P, T, S, A, K, D, picks, etas, rates, hyper, loss_sum):", 0)
    _bind_locals(src, n, p_slots, param_ids, update)
    src.emit("for step in range(picks.shape[0]):", 1)
    src.emit("rows = picks[step]\n        eta = etas[step]")
    for k, name in enumerate(data):
        if k == 0 and standardized:
            m = len(data)
            src.call(
                "gather_standardized",
                _gather_standardized,
                f"D[0], D[{m}], rows, u{number[name]}, D[{m + 1}], D[{m + 2}]",
            )
        else:
            src.call("gather", _gather_rows, f"D[{k}], rows, u{number[name]}")
    for v in graph._ops:
        args = ", ".join(f"u{p.index}" for p in v.parents)
        src.call(f"f{v.index}", v.fn.compiled.forward, f"{args}, u{v.index}")
    src.emit(f"loss = u{n}[0]")
    src.emit("if not math.isfinite(loss):\n            return step, loss_sum, loss")
    src.emit(f"p{n}[0] = 1.0")
    _backward(src, graph, param_ids, update)
    _update(
        src,
        param_ids,
        update,
        [number[name] in _decayed(update, params, number) for name in params],
    )
    if update.average:
        src.emit("rate = rates[step]\n        if rate > 0.0:")
        for i in param_ids:
            src.call("average", AVERAGE.compiled, f"avg{i}, u{i}, rate", 3)
    src.emit("loss_sum += loss")
    src.emit("return picks.shape[0], loss_sum, 0.0", 1)
    return src


def _bind_locals(
    src: _Source, n: int, p_slots: dict[int, int], param_ids: list[int], update: Update
) -> None:
    """Name, before the loop, every array and hyperparameter the step reads: the values u^i,
    the buffers of p^i and the scratch t^i a VJP writes into, the rule's state per parameter, the running
    averages, and each hyperparameter (a flag written in as a constant)."""
    for i in range(1, n + 1):
        src.emit(f"u{i} = U[{i - 1}]", 1)
    for i, slot in p_slots.items():
        src.emit(f"p{i} = P[{slot}]", 1)
        src.emit(f"t{i} = T[{slot}]", 1)
    for k, i in enumerate(param_ids):
        for slot in range(update.slots):
            src.emit(f"s{i}_{slot} = S[{slot * len(param_ids) + k}]", 1)
        if update.average:
            src.emit(f"avg{i} = A[{k}]", 1)
    slot = 0
    for name, value in update.values().items():
        if isinstance(value, bool):
            src.emit(f"{name} = {value}", 1)
        else:
            src.emit(f"{name} = hyper[{slot}]", 1)
            slot += 1


def _decayed(update: Update, params, number) -> set:
    return {number[name] for name in params if name in update.decayed}


def _backward(src: _Source, graph, param_ids: list[int], update: Update) -> None:
    """p^j = sum_i p^i J^{j->i}, from the executor's own plan
    (:func:`~nnclf.graph.executor.backward_steps` and :func:`~nnclf.graph.executor.into_order`):
    every vertex's p first, then the parameters' (added into the parameters themselves when
    the update is fused and every step may add in place)."""
    steps = backward_steps(graph, tuple(graph.vertices[i - 1].name for i in param_ids))
    inner, last = into_order(steps, set(param_ids))
    fused = update.fused and all(in_place for _, in_place in last)
    seen: set[int] = set()
    for st in inner + [st for st, _ in last]:
        vjp = st.fn.compiled.vjps[st.k]
        name = f"v{st.i}_{st.j}_{st.k}"
        g = f"p{st.i}, u{st.i}, " + ", ".join(f"u{a}" for a in st.args)
        if fused and st.j in param_ids:
            acc = st.fn.compiled.accumulators[st.k] if st.fn.compiled.accumulators else None
            if acc is not None:
                src.call(f"a{st.i}_{st.j}_{st.k}", acc, f"u{st.j}, -eta, {g}")
            else:
                src.call(name, vjp, f"{g}, t{st.j}")
                src.call("axpy", _axpy, f"u{st.j}, -eta, t{st.j}")
        elif st.j in seen:
            src.call(name, vjp, f"{g}, t{st.j}")
            src.call("add_into", _add_into, f"p{st.j}, t{st.j}")
        else:
            src.call(name, vjp, f"{g}, p{st.j}")
        seen.add(st.j)
    src.fused = fused


def _update(src: _Source, param_ids: list[int], update: Update, decayed: list[bool]) -> None:
    """Clipping by global norm, l2 on the decayed parameters, then the update rule, on the
    gradients p^j: one call per parameter to the compiled form of each part defined in
    :mod:`nnclf.training.updates` (whose numpy forms :mod:`nnclf.training.optimizers`
    runs); nothing when the step was fused."""
    if src.fused:
        return
    if update.clip_norm is not None:
        src.emit("norm = 0.0")
        for i in param_ids:
            src.emit(f"norm += sum_squares(p{i})")
        src.kernels["sum_squares"] = CLIP_SQUARES.compiled
        src.emit("norm = math.sqrt(norm)\n        if norm > max_norm:")
        for i in param_ids:
            src.call("scale", CLIP_SCALE.compiled, f"p{i}, max_norm / norm", 3)
    for i, decay in zip(param_ids, decayed):
        if decay and update.l2:
            src.call("decay", DECAY.compiled, f"p{i}, l2, u{i}")
    rule = update.rule
    hyper = ", ".join(rule.hyper)
    if rule.scalars is not None:
        src.kernels[f"{rule.name}_scalars"] = rule.scalars
        src.emit(
            f"K[0] += 1.0\n        {', '.join(rule.counted)} = {rule.name}_scalars(K[0], {hyper})"
        )
        for name in rule.counted:  # computed in float64, used in the graph's dtype
            src.emit(f"{name} = FLOAT({name})")
    for i in param_ids:
        args = [f"u{i}", f"p{i}", *(f"s{i}_{k}" for k in range(len(rule.slots))), "eta"]
        src.call(rule.name, rule.compiled, ", ".join([*args, *rule.hyper, *rule.counted]))


def _fingerprint(src: _Source) -> str:
    """A hash of the step's source, of every kernel's source and of the versions."""
    # The module name too: a generated module imports its kernels from here by that name.
    h = hashlib.sha256(
        f"nnclf {__version__} {__name__} numba {numba_version()} {src.dtype}\n".encode()
    )
    h.update("\n".join(src.lines).encode())
    # How kernels and step are jitted (numba's flags) is part of the machine code too.
    h.update(inspect.getsource(jit_kernel).encode() + inspect.getsource(_load).encode())
    seen = set()
    for name in sorted(src.kernels):
        todo = [src.kernels[name]]
        while todo:
            fn = todo.pop()
            if fn in seen:
                continue
            seen.add(fn)
            h.update(inspect.getsource(fn).encode())
            todo.extend(
                g
                for c in fn.__code__.co_names
                if isinstance(g := fn.__globals__.get(c), types.FunctionType)
            )
    return h.hexdigest()[:20]


def _load(src: _Source, key: str):
    """The jitted ``run`` of ``src``: from this process, from the disk cache, or compiled."""
    if key in _MODULES:
        return _MODULES[key].run
    _KERNELS[key] = {name: jit_kernel(fn, src.dtype) for name, fn in src.kernels.items()}
    _KERNELS[key]["FLOAT"] = np.dtype(src.dtype).type
    header = (
        "import math\nfrom numba import njit\nfrom nnclf.training.compiled import kernels_for\n"
        f"globals().update(kernels_for({key!r}))\n\n\n"
        '@njit(cache=True, error_model="numpy")\n'
    )
    text = header + "\n".join(src.lines) + "\n"
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"step_{key}.py"
        if not path.exists():
            partial = folder / f".step_{key}.{os.getpid()}.tmp"
            partial.write_text(text)
            os.replace(partial, path)
    except OSError:
        import tempfile

        path = Path(tempfile.mkdtemp(prefix="nnclf-")) / f"step_{key}.py"
        path.write_text(text)
    spec = importlib.util.spec_from_file_location(f"nnclf_step_{key}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    _MODULES[key] = module
    return module.run


def kernels_for(key: str) -> dict:
    """The jitted kernels a generated module calls, by their generated names."""
    return _KERNELS[key]


# ------------------------------------------------------------------ running it


class CompiledSteps:
    """Many SGD steps of ``graph`` in one native call.

    Parameters
    ----------
    graph : Graph
        Every local function must have a compiled form.
    params : dict of name -> array
        The parameter leaves (C-contiguous float arrays), updated in place.
    data : tuple of str
        The leaves filled, row by row, from the data arrays given to :meth:`run` (in order).
    update : Update
    state : tuple of dict of name -> array
        The rule's state, ``update.slots`` dicts shaped like the parameters (momentum's
        velocity; Adagrad's sums of squares; Adam's m and v), updated in place.
    count : ndarray of shape (1,), optional
        Adam's count k of its updates, updated in place.
    average : dict of name -> array, optional
        The running average (with ``update.average``), updated in place.
    standardized : bool
        The data given to :meth:`run` are (X, ..., index, mean, scale): the first leaf's row
        ``r`` is ``(X[index[r]] - mean) / scale`` (X memory-mapped, :mod:`nnclf.data.npyfolder`).
    """

    def __init__(
        self,
        graph,
        params: dict,
        data: tuple[str, ...],
        update: Update,
        state: tuple = (),
        count: np.ndarray | None = None,
        average: dict | None = None,
        standardized: bool = False,
    ):
        missing = missing_compiled_form(graph)
        if missing is not None:
            raise GraphError(f"local function '{missing.name}' has no compiled form")
        assert len(state) == update.slots and (average is not None) == update.average
        self.graph, self.params, self.data, self.update = graph, params, data, update
        names = tuple(params)
        # Unused arguments are the parameters themselves, so that every call has one type.
        self._state = tuple(values[name] for values in state for name in names) or tuple(
            params.values()
        )
        self._average = tuple((average or params)[name] for name in names)
        self._count = count if count is not None else np.zeros(1)
        self._hyper = update.hyper().astype(graph.dtype)
        self._buffers: dict = {}
        self._run = None
        steps = backward_steps(graph, tuple(params))
        wanted = sorted({st.i for st in steps} | {st.j for st in steps})
        self._slots = {i: s for s, i in enumerate(wanted)}
        self.standardized = standardized
        self._source = _generate(graph, names, data, update, self._slots, standardized)
        self.key = _fingerprint(self._source)

    @property
    def source(self) -> str:
        """The generated step function's source."""
        return "\n".join(self._source.lines)

    def _allocate(self, sample: tuple) -> tuple:
        """Buffers for batches shaped like ``sample`` (the data arrays' first rows)."""
        dtype = self.graph.dtype
        leaves = dict(self.params)
        # Float data (and standardised rows, whatever X's dtype) in the graph's dtype.
        floats = {k for k, a in enumerate(sample) if a.dtype.kind == "f"}
        floats |= {0} if self.standardized else set()
        leaves.update(
            {
                name: aligned(a, dtype if k in floats else a.dtype)
                for k, (name, a) in enumerate(zip(self.data, sample))
            }
        )
        values = self.graph.forward(leaves)
        U = tuple(
            leaves[v.name]
            if v.name in leaves
            else aligned_zeros(np.shape(values[v.name]) or (1,), dtype)
            for v in self.graph.vertices
        )
        P = tuple(aligned_zeros_like(U[i - 1]) for i in self._slots)
        T = tuple(aligned_zeros_like(a) for a in P)
        if self._run is None:
            self._run = _load(self._source, self.key)
        return U, P, T

    def run(
        self,
        data: tuple,
        picks: np.ndarray,
        etas: np.ndarray,
        loss_sum: float,
        rates: np.ndarray | None = None,
    ):
        """Steps on the rows ``picks[s]`` (shape (steps, B)) with step sizes ``etas[s]``
        and averaging rates ``rates[s]`` (read with ``update.average`` only).

        Returns (steps done, the loss sum continued, the loss that stopped it or 0.0): fewer
        steps than asked mean step ``done + 1`` had a loss that is not finite, and was not
        taken.
        """
        B = picks.shape[1]
        if B not in self._buffers:
            self._buffers[B] = self._allocate(
                tuple(np.take(a, np.zeros(B, int), axis=0) for a in data)
            )
        U, P, T = self._buffers[B]
        # eta^t and the rates in the graph's dtype: a float32 step computes in float32.
        etas = np.asarray(etas, dtype=self.graph.dtype)
        rates = etas if rates is None else np.asarray(rates, dtype=self.graph.dtype)
        return self._run(
            U,
            P,
            T,
            self._state,
            self._average,
            self._count,
            data,
            picks,
            etas,
            rates,
            self._hyper,
            float(loss_sum),
        )


assert math  # used by the generated modules through their own import
