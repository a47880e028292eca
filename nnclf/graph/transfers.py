"""Transfer functions g: the local function h = g(z) of the notes' hidden layer, by name.

Contract
--------
A transfer function is a :class:`~nnclf.graph.functions.LocalFunction` of one argument applied entry
by entry, made by :func:`elementwise` from g and its derivative g'. :data:`TRANSFERS` maps the
names a config's ``model.transfer`` may say to them; :func:`register_transfer` adds one and
:func:`get_transfer` looks one up (an unknown name raises :class:`~nnclf.errors.GraphError`
listing the valid ones). Built-ins: ``tanh``, ``sigmoid``, ``relu``, ``identity``,
``softplus``.

Adding a transfer function is one ``def`` of its derivative and one registry line::

    register_transfer(elementwise("name", g, dg))

Everything here is also importable from :mod:`nnclf.graph`.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable

import numpy as np

from nnclf.errors import GraphError
from nnclf.graph.functions import FLOAT, Compiled, LocalFunction, _copy, expm1_nonnegative

__all__ = [
    "elementwise",
    "register_transfer",
    "get_transfer",
    "TRANSFERS",
    "tanh",
    "sigmoid",
    "relu",
    "identity",
    "softplus",
]


def elementwise(
    name: str, g: Callable, dg: Callable, compiled: tuple[Callable, Callable] | None = None
) -> LocalFunction:
    """A transfer function h = g(z) applied entry by entry.

    Parameters
    ----------
    name : str
        The name it is registered and shown under.
    g : callable
        ``g(z, out=None)``, the function itself.
    dg : callable
        Its derivative g'(z) entry by entry, as ``dg(z)``, ``dg(z, h)``, ``dg(z, out=None)``
        or ``dg(z, h, out=None)``: ``h = g(z)`` is given to a ``dg`` that takes it, so that,
        for example, tanh' can be computed as 1 - h^2. The form is read once, here; any other
        signature is a :class:`~nnclf.errors.GraphError` now rather than inside ``fit``.
    compiled : (forward, vjp), optional
        The same g and VJP as kernels for the compiled engine: ``forward(z, out)`` and
        ``vjp(p, h, z, out)`` writing into ``out`` (see :class:`~nnclf.graph.functions.Compiled`).
        Without them, a network using this g trains on the numpy engine.

    Its Jacobian is diag(g'(z)) and its VJP is ``p * g'(z)``.
    """

    _check_takes_z(name, "g", g, "g(z) or g(z, out=None)")
    dg = _derivative(name, dg)

    def vjp(p, h, z, out=None):
        # out=out, not out=d: for a 0-d z numpy returns a scalar, which cannot be an out.
        d = dg(z, h, out=out)
        return np.multiply(p, d, out=out)

    return LocalFunction(
        name,
        g,
        jacobians=[lambda h, z: np.diag(np.ravel(dg(z, h)))],
        vjps=[vjp],
        compiled=Compiled(compiled[0], (compiled[1],)) if compiled is not None else None,
    )


def _positional(fn: Callable) -> tuple[int, int, bool] | None:
    """(required, allowed, takes out) positional arguments of ``fn``, None if unknown."""
    if isinstance(fn, np.ufunc):
        return fn.nin, fn.nin, True
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    args = [p for p in params if p.kind in kinds and p.name != "out"]
    many = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params)
    out = any(p.name == "out" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    required = sum(p.default is inspect.Parameter.empty for p in args)
    return required, 2 if many else len(args), out


def _check_takes_z(name: str, what: str, fn: Callable, forms: str) -> None:
    shape = _positional(fn) if callable(fn) else (0, 0, False)
    if shape is not None and (shape[0] > 1 or shape[1] < 1):
        raise GraphError(
            f"elementwise({name!r}): {what} must be called as {forms}; "
            f"got {getattr(fn, '__name__', fn)!r}, which takes {shape[1]} "
            f"argument(s) ({shape[0]} required)"
        )


def _derivative(name: str, dg: Callable) -> Callable:
    """``dg`` as ``dg(z, h, out=None)``, whichever of the four documented forms it has."""
    forms = "dg(z), dg(z, h), dg(z, out=None) or dg(z, h, out=None)"
    if not callable(dg):
        raise GraphError(
            f"elementwise({name!r}): dg must be a function, as {forms}; got {type(dg).__name__}"
        )
    shape = _positional(dg)
    if shape is None:
        return lambda z, h, out=None: dg(z, h)
    required, allowed, takes_out = shape
    if required > 2 or allowed < 1:
        raise GraphError(
            f"elementwise({name!r}): dg must be called as {forms}; got "
            f"{getattr(dg, '__name__', dg)!r}, which takes {allowed} argument(s) "
            f"({required} required)"
        )
    with_h = required == 2 or allowed >= 2
    if takes_out:
        return dg if with_h else (lambda z, h, out=None: dg(z, out=out))
    return (lambda z, h, out=None: dg(z, h)) if with_h else (lambda z, h, out=None: dg(z))


TRANSFERS: dict[str, LocalFunction] = {}
"""Transfer functions g by name: what a config's ``model.transfer`` may say."""


def register_transfer(fn: LocalFunction) -> LocalFunction:
    """Make ``fn`` available by its name as a transfer function."""
    TRANSFERS[fn.name] = fn
    return fn


def get_transfer(name: str) -> LocalFunction:
    """The transfer function called ``name``; the error lists the valid names."""
    try:
        return TRANSFERS[name]
    except (KeyError, TypeError):
        raise GraphError(
            f"unknown transfer function {name!r}; choose one of {', '.join(sorted(TRANSFERS))}"
        ) from None


def _dtanh(z, h, out=None):
    d = np.multiply(h, h, out=out)
    return np.subtract(1.0, d, out=out)


def _tanh_c(z, out):
    for i in range(out.size):
        out.flat[i] = _tanh1_c(z.flat[i])


def _tanh1_c(x):
    # tanh x = e / (e + 2), e = expm1(2|x|), with the sign of x: within 3 units in the last
    # place of np.tanh, and vectorised by numba (math.tanh is one libm call per entry).
    # Beyond |x| = 20 tanh x is +-1 in float64, and |x| is cut there.
    a = abs(x)
    if a > FLOAT(20.0):
        a = FLOAT(20.0)
    e = expm1_nonnegative(a + a)
    return math.copysign(e / (e + FLOAT(2.0)), x)


def _tanh_vjp_c(p, h, z, out):
    for i in range(out.size):
        out.flat[i] = p.flat[i] * (FLOAT(1.0) - h.flat[i] * h.flat[i])


def expit(z, out=None):
    """The logistic function 1 / (1 + exp(-z)): scipy's ``expit``, imported on first use
    (scipy.special is not needed by a graph without sigmoid or softplus)."""
    from scipy.special import expit as scipy_expit

    return scipy_expit(z, out=out) if out is not None else scipy_expit(z)


def _dsigmoid(z, h, out=None):
    d = np.subtract(1.0, h, out=out)
    return np.multiply(h, d, out=out)


def _expit_c(z):
    # As scipy's expit: never exp of a large positive number.
    if z >= FLOAT(0.0):
        return FLOAT(1.0) / (FLOAT(1.0) + math.exp(-z))
    e = math.exp(z)
    return e / (FLOAT(1.0) + e)


def _sigmoid_c(z, out):
    for i in range(out.size):
        out.flat[i] = _expit_c(z.flat[i])


def _sigmoid_vjp_c(p, h, z, out):
    for i in range(out.size):
        out.flat[i] = p.flat[i] * (h.flat[i] * (FLOAT(1.0) - h.flat[i]))


def _relu_c(z, out):
    for i in range(out.size):
        out.flat[i] = max(z.flat[i], FLOAT(0.0))


def _relu_vjp_c(p, h, z, out):
    for i in range(out.size):
        out.flat[i] = p.flat[i] if z.flat[i] > FLOAT(0.0) else FLOAT(0.0) * p.flat[i]


def _drelu(z, h, out=None):
    if out is None:
        return (z > 0.0).astype(float)
    return np.greater(z, 0.0, out=out)


def _identity_c(z, out):
    for i in range(out.size):
        out.flat[i] = z.flat[i]


def _identity_vjp_c(p, h, z, out):
    _identity_c(p, out)


def _softplus_c(z, out):
    # logaddexp(0, z) = max(z, 0) + log1p(exp(-|z|)), as numpy computes it.
    for i in range(out.size):
        out.flat[i] = max(z.flat[i], FLOAT(0.0)) + math.log1p(math.exp(-abs(z.flat[i])))


def _softplus_vjp_c(p, h, z, out):
    for i in range(out.size):
        out.flat[i] = p.flat[i] * _expit_c(z.flat[i])


def _didentity(z, h, out=None):
    if out is None:
        return np.ones(np.shape(z))
    out.fill(1.0)
    return out


tanh = register_transfer(elementwise("tanh", np.tanh, _dtanh, (_tanh_c, _tanh_vjp_c)))
sigmoid = register_transfer(elementwise("sigmoid", expit, _dsigmoid, (_sigmoid_c, _sigmoid_vjp_c)))
relu = register_transfer(
    elementwise(
        "relu", lambda z, out=None: np.maximum(z, 0.0, out=out), _drelu, (_relu_c, _relu_vjp_c)
    )
)
identity = register_transfer(
    elementwise("identity", _copy, _didentity, (_identity_c, _identity_vjp_c))
)
softplus = register_transfer(
    elementwise(
        "softplus",
        lambda z, out=None: np.logaddexp(0.0, z, out=out),
        lambda z, h, out=None: expit(z, out=out),
        (_softplus_c, _softplus_vjp_c),
    )
)
