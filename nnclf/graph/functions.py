"""Local functions f^i of a computational graph, each with its Jacobians and VJPs.

Contract
--------
A :class:`LocalFunction` keeps together, for one kind of vertex of the notes' graph:

- ``forward(*args, out=None)``: u^i = f^i(A^i), where ``args`` is A^i = <u^j | j in pi(i)>;
- ``jacobian(k, ans, *args)``: the explicit matrix J^{j->i}(A^i) of shape (d_i, d_j) for the
  argument at position ``k`` (every array, a matrix such as W included, is treated as the
  vector of its entries in row-major order, as the notes do);
- ``vjp(k, g, ans, *args, out=None)``: the vector-Jacobian product g J^{j->i}(A^i), shaped like
  ``args[k]``, computed without building J;
- ``check(*args)``: raises :class:`~nnclf.errors.GraphError` (a ``ValueError``) naming the
  argument whose shape does not fit.

``ans`` is the already computed output u^i, so that derivatives such as tanh' = 1 - h^2 reuse
it. ``out``, when given, is a preallocated array of the result's shape that is written and
returned; the compiled graph passes buffers there, the plain evaluation passes ``None``.

Compiled forms (:class:`Compiled`) write their constants as :data:`FLOAT`, may mark a
reordered sum with :func:`reorders_sums`, and call :func:`exp_nonpositive` and
:func:`expm1_nonnegative` where numba should vectorise an exp.

Built-ins: :data:`add`, :data:`mul`, :data:`affine` here; :data:`log_softmax` and
:data:`neg_pick` (the network's output, q = LS(l) and o = -q_y) in :mod:`nnclf.graph.softmax`; the
transfer functions g in :data:`TRANSFERS` (``tanh``, ``sigmoid``, ``relu``, ``identity``,
``softplus``) in :mod:`nnclf.graph.transfers`. All of them are re-exported here. A new transfer
function is one call to :func:`elementwise` plus :func:`register_transfer`; an arbitrary local
function is one :class:`LocalFunction`.

Batches: ``affine``, the transfer functions, ``log_softmax`` and ``neg_pick`` also take a batch
axis first (x of shape (B, d), y of shape (B,)); ``neg_pick`` then returns the mean loss.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from nnclf.errors import GraphError

__all__ = [
    "LocalFunction",
    "Compiled",
    "FLOAT",
    "reorders_sums",
    "exp_nonpositive",
    "expm1_nonnegative",
    "add",
    "mul",
    "affine",
]

FLOAT = np.float64
"""The floating type compiled kernels write their constants in (``FLOAT(1.0)``, never a bare
``1.0``, which numba types as float64 and which would turn a float32 pass into a float64
one): the compiled engine rebinds it to the graph's dtype when it jits a kernel."""


def _accepts_out(fn: Callable) -> bool:
    try:
        return "out" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _into(value, out):
    """Store ``value`` in ``out`` when a buffer is given (for functions without ``out``)."""
    if out is None:
        return value
    out[...] = value
    return out


def _copy(value, out=None):
    """A fresh copy of ``value``, or ``value`` written into ``out``."""
    if out is None:
        value = np.asarray(value)
        return value.astype(value.dtype if value.dtype.kind == "f" else float)  # float32 stays
    out[...] = value
    return out


class LocalFunction:
    """A local function f^i with its Jacobian and VJP for every argument position.

    Parameters
    ----------
    name : str
        Shown in errors, summaries and DOT output.
    forward : callable
        ``forward(*args) -> u``. May take a keyword ``out`` (a preallocated result).
    jacobians : sequence of callables, optional
        ``jacobians[k](ans, *args) -> (d_i, d_j) matrix`` for argument position ``k``.
        When omitted, the Jacobian is built row by row from the VJP.
    vjps : sequence of callables, optional
        ``vjps[k](g, ans, *args) -> array shaped like args[k]``; may take ``out``.
        When omitted, the VJP is computed as ``g.ravel() @ J`` from the Jacobian.
    check : callable, optional
        ``check(*args)`` raises ``ValueError`` (nnclf's own raise ``GraphError``) when the
        arguments do not fit; a graph reports it with the vertex's name.
    differentiable : sequence of bool, optional
        False for argument positions the output is piecewise constant in (a class index);
        backpropagation does not pass through them. Default: all True.
    reads : sequence of sequences of int, optional
        ``reads[k]``: the argument positions whose values the VJP for position k uses
        (default: all). A fact about this function's own VJP, kept here beside it; it serves
        only callers that add p^j into the leaves in place (an optimizer's in-place SGD step,
        ``Executor.backward(into=...)``): they must not change a leaf before every VJP that
        reads it has run. Plain backpropagation ignores it.
    accumulators : sequence of callables or None, optional
        ``accumulators[k](target, g, ans, *args)`` adds g J^{j->i} into ``target`` in place,
        without an intermediate array (for example a BLAS rank-one update for the outer
        product of a matrix argument): an accumulating form of the VJP for position k, for
        the same callers that add p^j into the leaves in place. Optional, per position; when
        missing they add the VJP. Plain backpropagation never uses it.
    compiled : Compiled, optional
        The same function as kernels the compiled engine (:mod:`nnclf.training.compiled`) can jit;
        without it a graph using this function trains on the numpy engine.

    Examples
    --------
    The notes' chain-rule example f(z) = z^2:

    >>> square = LocalFunction("square", lambda z: z * z,
    ...                        jacobians=[lambda ans, z: np.diag(2 * np.ravel(z))])
    """

    def __init__(
        self,
        name: str,
        forward: Callable,
        jacobians: Sequence[Callable] | None = None,
        vjps: Sequence[Callable] | None = None,
        check: Callable | None = None,
        differentiable: Sequence[bool] | None = None,
        reads: Sequence[Sequence[int]] | None = None,
        accumulators: Sequence[Callable | None] | None = None,
        compiled: Compiled | None = None,
    ):
        if jacobians is None and vjps is None:
            raise GraphError(
                f"local function '{name}': give its Jacobians, its VJPs, or both "
                "(one per argument position)"
            )
        if jacobians is not None and vjps is not None and len(jacobians) != len(vjps):
            raise GraphError(
                f"local function '{name}': {len(jacobians)} Jacobians but {len(vjps)} VJPs; "
                "give one of each per argument position"
            )
        self.name = name
        self.arity = len(jacobians if jacobians is not None else vjps)
        self.differentiable = (
            (True,) * self.arity
            if differentiable is None
            else tuple(bool(d) for d in differentiable)
        )
        if len(self.differentiable) != self.arity:
            raise GraphError(
                f"local function '{name}': differentiable has {len(self.differentiable)} entries "
                f"for {self.arity} arguments"
            )
        self._forward = forward
        self._forward_out = _accepts_out(forward)
        self._jacobians = tuple(jacobians) if jacobians is not None else None
        self._vjps = tuple(vjps) if vjps is not None else None
        self._vjp_out = tuple(_accepts_out(v) for v in vjps) if vjps is not None else None
        self._check = check
        everything = tuple(range(self.arity))
        self.reads = tuple(
            everything if reads is None else tuple(reads[k]) for k in range(self.arity)
        )
        self._accumulators = (
            tuple(accumulators) if accumulators is not None else (None,) * self.arity
        )
        self.compiled = compiled

    def __repr__(self) -> str:
        return f"<local function {self.name}/{self.arity}>"

    def check(self, *args) -> None:
        """Raise ``GraphError`` (or the ``ValueError`` of a user's ``check``) when the
        arguments do not fit this function."""
        if len(args) != self.arity:
            raise GraphError(f"{self.name} takes {self.arity} arguments, got {len(args)}")
        if self._check is not None:
            self._check(*args)

    def forward(self, *args, out=None):
        """u^i = f^i(A^i)."""
        if self._forward_out:
            return self._forward(*args, out=out)
        return _into(np.asarray(self._forward(*args), dtype=float), out)

    def jacobian(self, k: int, ans, *args) -> np.ndarray:
        """J^{j->i}(A^i) for the argument at position k: a (d_i, d_j) matrix."""
        d_i, d_j = np.size(ans), np.size(args[k])
        if not self.differentiable[k]:
            return np.zeros((d_i, d_j))
        if self._jacobians is not None:
            return np.asarray(self._jacobians[k](ans, *args), dtype=float).reshape(d_i, d_j)
        rows = np.empty((d_i, d_j))
        for r, e in enumerate(np.eye(d_i)):
            rows[r] = np.ravel(self.vjp(k, e.reshape(np.shape(ans)), ans, *args))
        return rows

    def forward_fn(self) -> Callable:
        """``forward`` as a plain callable ``f(*args, out=buf)``, for compiled graphs."""
        return self._forward if self._forward_out else self.forward

    def vjp_fn(self, k: int) -> Callable:
        """The VJP for position ``k`` as a plain callable ``v(g, ans, *args, out=buf)``."""
        if self.differentiable[k] and self._vjps is not None and self._vjp_out[k]:
            return self._vjps[k]
        return lambda g, ans, *args, out=None: self.vjp(k, g, ans, *args, out=out)

    def accumulate_fn(self, k: int) -> Callable | None:
        """``a(target, g, ans, *args)`` adding g J^{j->i} into ``target`` in place, or None
        when this function has no special way to do it (then add the VJP); for callers that
        add p^j into the leaves in place (see ``accumulators``)."""
        return self._accumulators[k] if self.differentiable[k] else None

    def vjp(self, k: int, g, ans, *args, out=None):
        """g J^{j->i}(A^i) for the argument at position k, shaped like ``args[k]``."""
        if not self.differentiable[k]:
            return _into(np.zeros(np.shape(args[k])), out)
        if self._vjps is None:
            row = np.ravel(g) @ self.jacobian(k, ans, *args)
            return _into(row.reshape(np.shape(args[k])), out)
        if self._vjp_out[k]:
            return self._vjps[k](g, ans, *args, out=out)
        return _into(np.asarray(self._vjps[k](g, ans, *args), dtype=float), out)


def reorders_sums(kernel: Callable) -> Callable:
    """Mark a compiled kernel whose sums the compiler may reorder (a dot product split into
    vector lanes, as BLAS splits it): the compiled engine jits it with numba's fastmath flag
    ``reassoc`` alone, which keeps inf and NaN as they are. The result changes by rounding
    only; every other kernel is compiled to add in the order it is written."""
    kernel.reorders_sums = True
    return kernel


class Compiled(NamedTuple):
    """A local function's kernels for the compiled engine (:mod:`nnclf.training.compiled`).

    Plain Python functions over C-contiguous arrays, written so that numba can jit them
    (they also run, slowly, as Python, which is how the tests read them without numba).
    Each writes its result into a buffer and returns nothing. In the compiled engine every
    value is an array with its batch axis: x is (B, d) even for B = 1, a scalar is (1,).

    - ``forward(*args, out)``: u^i = f^i(A^i) into ``out``;
    - ``vjps[k](g, ans, *args, out)``: g J^{j->i}(A^i) into ``out`` (None where the function
      is not differentiable);
    - ``accumulators[k](target, scale, g, ans, *args)``: ``target += scale * g J^{j->i}``
      without a temporary (optional, per position: the fused SGD step).
    """

    forward: Callable
    vjps: tuple
    accumulators: tuple = ()


# --------------------------------------------------------------------------- exp for kernels
# exp_nonpositive (exp x for x <= 0, the shifted logits of the log-softmax) and
# expm1_nonnegative (expm1 y for 0 <= y <= 40, inside tanh): scalar functions within 3 units
# in the last place of numpy's, in the type of their argument (constants in FLOAT), without
# calls or exits, so that numba vectorises a loop over entries that calls them (math.exp is
# one libm call per entry). x = k ln 2 + r with |r| <= ln(2) / 2 (Cody and Waite: ln 2 in two
# parts, the first with 9 bits, so that k times it is exact in float32 too); expm1 r by its
# Taylor series to r^13 (the next term is below 1e-17 of it); 2^k from the bits of k.

_TAYLOR = tuple(1.0 / math.factorial(n) for n in range(12, 1, -1))
"""1/12!, ..., 1/2!: expm1's Taylor coefficients after 1/13!, highest first."""


def _reduced(x):
    # (k, r) with x = k ln 2 + r, |r| <= ln(2) / 2.
    k = np.floor(x * FLOAT(1.4426950408889634) + FLOAT(0.5))
    r = (x - k * FLOAT(0.693359375)) - k * FLOAT(-2.1219444005469058e-4)
    return k, r


def _expm1_reduced(r):
    # expm1 r for |r| <= ln(2) / 2, Horner's rule from the highest power.
    q = FLOAT(1.0 / 6227020800.0)
    for c in _TAYLOR:
        q = q * r + FLOAT(c)
    return q * r * r + r


def expm1_nonnegative(y):
    """expm1 y for 0 <= y <= 40 (NaN stays NaN): 2^k expm1(r) + (2^k - 1)."""
    k, r = _reduced(y)
    q = _expm1_reduced(r)
    p = FLOAT(1.0)
    for bit in (32, 16, 8, 4, 2, 1):
        if k >= FLOAT(bit):
            p = p * FLOAT(2.0**bit)
            k = k - FLOAT(bit)
    return p * q + (p - FLOAT(1.0))


def exp_nonpositive(x):
    """exp x for x <= 0 (NaN stays NaN): 2^k (1 + expm1 r); 0 below -708 (float64's
    smallest normal number is exp(-708.4); in float32 2^k underflows to 0 long before)."""
    tiny = x < FLOAT(-708.0)
    if tiny:
        x = FLOAT(0.0)
    k, r = _reduced(x)
    q = _expm1_reduced(r)
    p = FLOAT(1.0)
    # 2^-128 in three steps of 2^-64: in float32 2^-128 is subnormal, and a vector multiply
    # by it (done for every lane, then selected) would take the slow subnormal path.
    for bit in (512, 256, 64, 64, 64, 32, 16, 8, 4, 2, 1):
        if k <= FLOAT(-bit):
            p = p * FLOAT(2.0**-bit)
            k = k + FLOAT(bit)
    e = p + p * q
    return FLOAT(0.0) if tiny else e


# --------------------------------------------------------------------------- elementwise


def _same_shape(name: str):
    def check(a, b):
        if np.shape(a) != np.shape(b):
            raise GraphError(
                f"{name} needs arguments of one shape, got {np.shape(a)} and {np.shape(b)}"
            )

    return check


def _add_c(a, b, out):
    for i in range(out.size):
        out.flat[i] = a.flat[i] + b.flat[i]


def _copy_vjp_c(g, ans, a, b, out):
    for i in range(out.size):
        out.flat[i] = g.flat[i]


def _mul_c(a, b, out):
    for i in range(out.size):
        out.flat[i] = a.flat[i] * b.flat[i]


def _mul_vjp_a_c(g, ans, a, b, out):
    _mul_c(g, b, out)


def _mul_vjp_b_c(g, ans, a, b, out):
    _mul_c(g, a, out)


add = LocalFunction(
    "add",
    lambda a, b, out=None: np.add(a, b, out=out),
    jacobians=[lambda ans, a, b: np.eye(np.size(a))] * 2,
    vjps=[lambda g, ans, a, b, out=None: _copy(g, out)] * 2,
    check=_same_shape("add"),
    compiled=Compiled(_add_c, (_copy_vjp_c, _copy_vjp_c)),
)
"""f(a, b) = a + b, elementwise."""

mul = LocalFunction(
    "mul",
    lambda a, b, out=None: np.multiply(a, b, out=out),
    jacobians=[
        lambda ans, a, b: np.diag(np.ravel(b).astype(float)),
        lambda ans, a, b: np.diag(np.ravel(a).astype(float)),
    ],
    vjps=[
        lambda g, ans, a, b, out=None: np.multiply(g, b, out=out),
        lambda g, ans, a, b, out=None: np.multiply(g, a, out=out),
    ],
    check=_same_shape("mul"),
    compiled=Compiled(_mul_c, (_mul_vjp_a_c, _mul_vjp_b_c)),
)
"""f(a, b) = a * b, elementwise."""


# --------------------------------------------------------------------------- affine


def _affine_check(W, x, b):
    W_shape, x_shape, b_shape = np.shape(W), np.shape(x), np.shape(b)
    if len(W_shape) != 2:
        raise GraphError(f"argument 1 (the matrix) must be 2-D, got shape {W_shape}")
    m, d = W_shape
    if len(x_shape) not in (1, 2) or x_shape[-1] != d:
        raise GraphError(
            f"argument 2 has shape {x_shape} but the matrix has shape {W_shape}: "
            f"expected ({d},) or (batch, {d})"
        )
    if b_shape != (m,):
        raise GraphError(
            f"argument 3 has shape {b_shape} but the matrix has shape {W_shape}: expected ({m},)"
        )


def _affine(W, x, b, out=None):
    # x is (d,) for one example or (B, d) for a batch; the result is (m,) or (B, m).
    u = np.dot(W, x, out=out) if x.ndim == 1 else np.dot(x, W.T, out=out)
    return np.add(u, b, out=u)


def _affine_vjp_W(g, ans, W, x, b, out=None):
    if x.ndim == 1:
        # The outer product g x^T as a (m, 1) by (1, d) matrix product: BLAS is faster
        # here than numpy's broadcasting multiply.
        return np.dot(g.reshape(-1, 1), x.reshape(1, -1), out=out)
    return np.dot(g.T, x, out=out)


def _affine_vjp_x(g, ans, W, x, b, out=None):
    return np.dot(g, W, out=out)


def _affine_vjp_b(g, ans, W, x, b, out=None):
    if g.ndim == 1:
        return _copy(g, out)
    return np.add.reduce(g, axis=0, out=out)


_BLAS: dict = {}

DGER_MIN_SIZE = 16384
"""The smallest W (entries) whose one-example update goes through BLAS ``dger``: importing
scipy.linalg for it takes a tenth of a second, which smaller matrices never win back
(measured: 1.3 against 4 microseconds a step at 100 x 64, 60 against 260 at 512 x 784)."""


def _blas(name: str):
    """scipy's BLAS routine ``name`` (dger, dgemm, sgemm), imported on first use."""
    if name not in _BLAS:
        from scipy.linalg import blas

        _BLAS[name] = getattr(blas, name)
    return _BLAS[name]


_GEMM = {np.dtype(np.float64): "dgemm", np.dtype(np.float32): "sgemm"}
"""BLAS's matrix product C <- alpha A B + beta C, by dtype."""


def _affine_add_W(target, g, ans, W, x, b):
    # target += g x^T (one example) or g^T x (a batch) as one BLAS call on the
    # Fortran-ordered view target.T, with no (m, d) temporary: a rank-one update (dger), or
    # a product added into it (gemm with beta = 1). BLAS works on a converted copy of an
    # array not already in its order and dtype, which would leave the target as it was:
    # such targets take the plain sum, and so do small W for one example (see DGER_MIN_SIZE).
    dtype = target.dtype
    if not (target.flags.c_contiguous and x.dtype == dtype and g.dtype == dtype):
        target += _affine_vjp_W(g, ans, W, x, b)
    elif x.ndim == 1 and dtype == np.float64 and target.size >= DGER_MIN_SIZE:
        _blas("dger")(1.0, x, g, a=target.T, overwrite_a=True)
    elif x.ndim == 2 and dtype in _GEMM:
        # target^T += x^T g: x.T and g.T are the (B, d) and (B, m) rows seen in Fortran order.
        _blas(_GEMM[dtype])(1.0, x.T, g.T, beta=1.0, c=target.T, trans_b=True, overwrite_c=True)
    else:
        target += _affine_vjp_W(g, ans, W, x, b)


def _affine_add_b(target, g, ans, W, x, b):
    if g.ndim == 1:
        np.add(target, g, out=target)
    else:
        np.add(target, np.add.reduce(g, axis=0), out=target)


def _affine_jac_W(ans, W, x, b):
    # Rows are the entries (batch, i) of u, columns the entries (i', j) of W in row-major
    # order: du_{b,i} / dW_{i',j} = [[i = i']] x_{b,j}.
    X = np.atleast_2d(x)
    m, d = W.shape
    return np.einsum("ik,bj->bikj", np.eye(m), X).reshape(X.shape[0] * m, m * d)


def _affine_jac_x(ans, W, x, b):
    return np.kron(np.eye(np.atleast_2d(x).shape[0]), W)


def _affine_jac_b(ans, W, x, b):
    return np.tile(np.eye(W.shape[0]), (np.atleast_2d(x).shape[0], 1))


def _affine_c(W, x, b, out):
    # x is (B, d). One example: W x by the loop below, whose sums the compiler may reorder
    # into vector lanes (as BLAS reorders them: the engines agree to rounding either way);
    # below 512 entries or with one row a call to BLAS costs more than it saves. A batch:
    # x W^T by BLAS, as the numpy engine computes it.
    if W.size < 512 or x.shape[0] == 1:
        _affine_rows_c(W, x, out)
    else:
        np.dot(x, W.T, out)
    for r in range(x.shape[0]):
        for i in range(b.size):
            out[r, i] += b[i]


@reorders_sums
def _affine_rows_c(W, x, out):
    # out = x W^T: four rows of W at a time, so that each entry of x is read once for four
    # sums, which stay independent of each other.
    m, d = W.shape
    top = m - m % 4
    for r in range(x.shape[0]):
        for i in range(0, top, 4):
            s0 = s1 = s2 = s3 = FLOAT(0.0)
            for j in range(d):
                c = x[r, j]
                s0 += W[i, j] * c
                s1 += W[i + 1, j] * c
                s2 += W[i + 2, j] * c
                s3 += W[i + 3, j] * c
            out[r, i], out[r, i + 1], out[r, i + 2], out[r, i + 3] = s0, s1, s2, s3
        for i in range(top, m):
            s = FLOAT(0.0)
            for j in range(d):
                s += W[i, j] * x[r, j]
            out[r, i] = s


def _affine_add_W_c(target, scale, g, ans, W, x, b):
    # target += scale * g^T x, one rank-one update per row of the batch.
    for r in range(x.shape[0]):
        xr = x[r]
        for i in range(target.shape[0]):
            c = scale * g[r, i]
            t = target[i]
            for j in range(xr.size):
                t[j] += c * xr[j]


def _affine_vjp_W_c(g, ans, W, x, b, out):
    out[:] = 0.0
    _affine_add_W_c(out, FLOAT(1.0), g, ans, W, x, b)


def _affine_vjp_x_c(g, ans, W, x, b, out):
    out[:] = 0.0
    for r in range(g.shape[0]):
        o = out[r]
        for i in range(W.shape[0]):
            c = g[r, i]
            w = W[i]
            for j in range(o.size):
                o[j] += c * w[j]


def _affine_add_b_c(target, scale, g, ans, W, x, b):
    if g.shape[0] == 1:  # (one example: a loop over the entries alone, which vectorises)
        for i in range(target.size):
            target[i] += scale * g[0, i]
        return
    for i in range(target.size):
        s = FLOAT(0.0)
        for r in range(g.shape[0]):
            s += g[r, i]
        target[i] += scale * s


def _affine_vjp_b_c(g, ans, W, x, b, out):
    out[:] = 0.0
    _affine_add_b_c(out, FLOAT(1.0), g, ans, W, x, b)


affine = LocalFunction(
    "affine",
    _affine,
    jacobians=[_affine_jac_W, _affine_jac_x, _affine_jac_b],
    vjps=[_affine_vjp_W, _affine_vjp_x, _affine_vjp_b],
    check=_affine_check,
    reads=[(1,), (0,), ()],
    accumulators=[_affine_add_W, None, _affine_add_b],
    compiled=Compiled(
        _affine_c,
        (_affine_vjp_W_c, _affine_vjp_x_c, _affine_vjp_b_c),
        (_affine_add_W_c, None, _affine_add_b_c),
    ),
)
"""f(W, x, b) = Wx + b; with a batch x of shape (B, d), each row is W x_r + b."""
