"""Transfer functions g: the local function h = g(z) of the notes' hidden layer, by name.

Contract
--------
A transfer function is a :class:`~nnclf.functions.LocalFunction` of one argument applied entry
by entry, made by :func:`elementwise` from g and its derivative g'. :data:`TRANSFERS` maps the
names a config's ``model.transfer`` may say to them; :func:`register_transfer` adds one and
:func:`get_transfer` looks one up (an unknown name raises :class:`~nnclf.errors.GraphError`
listing the valid ones). Built-ins: ``tanh``, ``sigmoid``, ``relu``, ``identity``,
``softplus``.

Adding a transfer function is one ``def`` of its derivative and one registry line::

    register_transfer(elementwise("name", g, dg))

Everything here is also importable from :mod:`nnclf.functions`.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.special import expit

from .errors import GraphError
from .functions import LocalFunction, _copy

__all__ = ["elementwise", "register_transfer", "get_transfer", "TRANSFERS",
           "tanh", "sigmoid", "relu", "identity", "softplus"]


def elementwise(name: str, g: Callable, dg: Callable) -> LocalFunction:
    """A transfer function h = g(z) applied entry by entry.

    Parameters
    ----------
    name : str
        The name it is registered and shown under.
    g : callable
        ``g(z, out=None)``, the function itself.
    dg : callable
        ``dg(z, h, out=None)``, its derivative g'(z) entry by entry; ``h = g(z)`` is given so
        that, for example, tanh' can be computed as 1 - h^2.

    Its Jacobian is diag(g'(z)) and its VJP is ``p * g'(z)``.
    """

    def vjp(p, h, z, out=None):
        # out=out, not out=d: for a 0-d z numpy returns a scalar, which cannot be an out.
        d = dg(z, h, out=out)
        return np.multiply(p, d, out=out)

    return LocalFunction(
        name,
        g,
        jacobians=[lambda h, z: np.diag(np.ravel(dg(z, h)))],
        vjps=[vjp],
    )


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


def _dsigmoid(z, h, out=None):
    d = np.subtract(1.0, h, out=out)
    return np.multiply(h, d, out=out)


def _drelu(z, h, out=None):
    if out is None:
        return (z > 0.0).astype(float)
    return np.greater(z, 0.0, out=out)


def _didentity(z, h, out=None):
    if out is None:
        return np.ones(np.shape(z))
    out.fill(1.0)
    return out


tanh = register_transfer(elementwise("tanh", np.tanh, _dtanh))
sigmoid = register_transfer(elementwise("sigmoid", expit, _dsigmoid))
relu = register_transfer(
    elementwise("relu", lambda z, out=None: np.maximum(z, 0.0, out=out), _drelu)
)
identity = register_transfer(elementwise("identity", _copy, _didentity))
softplus = register_transfer(
    elementwise(
        "softplus",
        lambda z, out=None: np.logaddexp(0.0, z, out=out),
        lambda z, h, out=None: expit(z, out=out),
    )
)
