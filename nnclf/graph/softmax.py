"""The network's output as local functions: q = LS(l), the log-softmax, and o = -q_y.

Contract
--------
:data:`log_softmax` is LS(l)_k = l_k - log sum_k' exp(l_k'), computed so that large logits
cannot overflow, with the notes' Jacobian [[k = k']] - softmax_k'(l); :data:`neg_pick` is
o = -q_y, the loss -log p(y | x) (the mean over the rows of a batch), whose class index y is
a leaf the output is piecewise constant in. Both are :class:`~nnclf.graph.functions.LocalFunction`
objects with their numpy forms and, beside them, their compiled forms; both take a batch
axis first.
"""

from __future__ import annotations

import math

import numpy as np

from nnclf.errors import GraphError
from nnclf.graph.functions import FLOAT, Compiled, LocalFunction, exp_nonpositive

__all__ = ["log_softmax", "neg_pick"]


# --------------------------------------------------------------------------- log-softmax


def _log_softmax(l, out=None):
    # LS_k(l) = l_k - log sum_k' exp(l_k'), computed so that large logits cannot overflow.
    if l.ndim == 1:
        # One row: a single logaddexp reduction is the fewest numpy calls.
        return np.subtract(l, np.logaddexp.reduce(l), out=out)
    # Many rows: shift by the row maximum, then one exp per entry (logaddexp would take two
    # transcendental calls per entry).
    # (The ufuncs' reductions, not np.max and np.sum: the same sums without the dispatch
    # that costs as much as the arithmetic on a minibatch.)
    q = np.subtract(l, np.maximum.reduce(l, axis=-1, keepdims=True), out=out)
    lse = np.add.reduce(np.exp(q), axis=-1, keepdims=True)
    return np.subtract(q, np.log(lse, out=lse), out=q)


def _log_softmax_jac(q, l):
    # [dLS(l)/dl]_{k,k'} = [[k = k']] - softmax_k'(l), one block per row of a batch.
    P = np.exp(np.atleast_2d(q))
    B, K = P.shape
    J = np.zeros((B * K, B * K))
    for r in range(B):
        J[r * K : (r + 1) * K, r * K : (r + 1) * K] = np.eye(K) - P[r][None, :]
    return J


def _log_softmax_vjp(g, q, l, out=None):
    # g (I - 1 softmax^T) = g - softmax * sum(g); softmax = exp(q) reuses the output.
    s = np.add.reduce(g, axis=-1, keepdims=True)
    r = np.exp(q, out=out)
    np.multiply(r, s, out=r)
    return np.subtract(g, r, out=r)


def _log_softmax_check(l):
    if np.ndim(l) not in (1, 2):
        raise GraphError(f"argument must be (K,) or (batch, K), got shape {np.shape(l)}")


def _log_softmax_c(l, out):
    # l is (B, K): row by row, shifted by the row maximum as in _log_softmax. The exps go
    # through out first, so that their loop has no sum in it and is vectorised.
    for r in range(l.shape[0]):
        top = l[r, 0]
        for k in range(1, l.shape[1]):
            top = max(top, l[r, k])
        for k in range(l.shape[1]):
            out[r, k] = exp_nonpositive(l[r, k] - top)
        s = FLOAT(0.0)
        for k in range(l.shape[1]):
            s += out[r, k]
        lse = math.log(s)
        for k in range(l.shape[1]):
            out[r, k] = (l[r, k] - top) - lse


def _log_softmax_vjp_c(g, q, l, out):
    for r in range(g.shape[0]):
        s = FLOAT(0.0)
        for k in range(g.shape[1]):
            s += g[r, k]
        for k in range(g.shape[1]):
            out[r, k] = g[r, k] - exp_nonpositive(q[r, k]) * s


log_softmax = LocalFunction(
    "log_softmax",
    _log_softmax,
    jacobians=[_log_softmax_jac],
    vjps=[_log_softmax_vjp],
    check=_log_softmax_check,
    compiled=Compiled(_log_softmax_c, (_log_softmax_vjp_c,)),
)
"""LS(l) = l - log sum exp(l), numerically stable; row by row for a batch."""


# --------------------------------------------------------------------------- o = -q_y


def _neg_pick(q, y, out=None):
    if q.ndim == 1:
        return -float(q[y])
    # The mean as np.mean takes it (the sum, then one division), without its dispatch.
    return -float(np.add.reduce(q[np.arange(len(y)), y]) / len(y))


def _neg_pick_vjp_q(g, ans, q, y, out=None):
    if out is None:
        out = np.zeros(q.shape)
    else:
        out.fill(0.0)
    if q.ndim == 1:
        out[y] = -g
    else:
        out[np.arange(len(y)), y] = -g / len(y)
    return out


def _neg_pick_jac_q(ans, q, y):
    return _neg_pick_vjp_q(1.0, ans, q, y).reshape(1, -1)


def _neg_pick_check(q, y):
    q_shape, y_arr = np.shape(q), np.asarray(y)
    if len(q_shape) not in (1, 2):
        raise GraphError(f"argument 1 must be (K,) or (batch, K), got shape {q_shape}")
    if y_arr.dtype.kind not in "iu":
        raise GraphError(f"argument 2 must be an integer class index, got dtype {y_arr.dtype}")
    if len(q_shape) == 2 and q_shape[0] == 0:
        raise GraphError(
            f"argument 1 is an empty batch, shape {q_shape}; the mean loss needs at least one row"
        )
    expected = () if len(q_shape) == 1 else q_shape[:1]
    if y_arr.shape != expected:
        raise GraphError(
            f"argument 2 has shape {y_arr.shape} but argument 1 has shape {q_shape}: "
            f"expected {expected}"
        )
    if y_arr.size and (y_arr.min() < 0 or y_arr.max() >= q_shape[-1]):
        raise GraphError(f"argument 2 holds class indices outside 0..{q_shape[-1] - 1}")


def _neg_pick_c(q, y, out):
    # q is (B, K), y (B,), out (1,): the mean of -q[r, y_r].
    s = FLOAT(0.0)
    for r in range(y.size):
        s += q[r, y[r]]
    out[0] = -(s / FLOAT(y.size))


def _neg_pick_vjp_q_c(g, ans, q, y, out):
    out[:] = 0.0
    for r in range(y.size):
        out[r, y[r]] = -g[0] / FLOAT(y.size)


neg_pick = LocalFunction(
    "neg_pick",
    _neg_pick,
    jacobians=[_neg_pick_jac_q, None],
    vjps=[_neg_pick_vjp_q, None],
    check=_neg_pick_check,
    differentiable=(True, False),
    compiled=Compiled(_neg_pick_c, (_neg_pick_vjp_q_c, None)),
)
"""f(q, y) = -q_y: the loss o = -log p(y | x); for a batch, the mean over its rows.

The class index y is a leaf too, but o is piecewise constant in it: its gradient is zero and
backpropagation does not pass through it."""
