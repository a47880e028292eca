"""Each update rule of SGD defined once, in the two renderings the engines run.

Contract
--------
An :class:`UpdateRule` is theta <- theta - eta^t g and its variants for ONE parameter: its
name, the state arrays it keeps per parameter (``slots``, named as a checkpoint names them,
``<slot>_<parameter>``), its hyperparameters, and its two forms side by side, as a
:class:`~nnclf.graph.functions.LocalFunction` keeps its numpy and its compiled forms:

- ``numpy(theta, g, *state, eta, *hyper, *scalars)``: vectorised numpy, in place on theta
  and the state (the numpy engine, :mod:`nnclf.training.optimizers`);
- ``compiled(theta, g, *state, eta, *hyper, *scalars)``: the same arithmetic as a plain
  Python loop over the entries, which numba jits (the compiled engine,
  :mod:`nnclf.training.compiled`, generates one call per parameter from the rule);

``scalars(k, *hyper)``, when a rule has one, is plain scalar arithmetic both engines call once
per step with k, the rule's count of its own updates (Adam's bias corrections). With g the
gradient of one parameter (element by element):

- :data:`SGD`: theta <- theta - eta g (the notes). It is linear in g, so an engine may add
  -eta p^j into theta during the backward pass instead (``fusable``);
- :data:`MOMENTUM`: v <- mass v - eta g, theta <- theta + v, or with Nesterov
  theta <- theta + mass v - eta g;
- :data:`ADAGRAD` (Duchi, Hazan and Singer, JMLR 12, 2011): G <- G + g*g;
  theta <- theta - eta g / (sqrt(G) + epsilon);
- :data:`ADAM` (Kingma and Ba, ICLR 2015, Algorithm 1): m <- beta1 m + (1 - beta1) g;
  v <- beta2 v + (1 - beta2) g*g; theta <- theta - eta (m / c1) / (sqrt(v / c2) + epsilon)
  with c1 = 1 - beta1^k, c2 = 1 - beta2^k.

The gradient transforms and the running average are written the same way, once each:
:data:`DECAY` (l2: g + coefficient theta), :data:`CLIP` (the global norm's squares and the
rescaling g * max_norm / ||g||) and :data:`AVERAGE` (avg <- avg + rate (theta - avg)).
The numpy forms of the transforms return new arrays (the gradients they get are the
executor's buffers); the compiled forms write into their first argument (the compiled
engine's own buffers).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nnclf.graph.functions import FLOAT

__all__ = [
    "UpdateRule",
    "Twice",
    "SGD",
    "MOMENTUM",
    "ADAGRAD",
    "ADAM",
    "RULES",
    "DECAY",
    "CLIP_SQUARES",
    "CLIP_SCALE",
    "AVERAGE",
]


@dataclass(frozen=True)
class UpdateRule:
    """One update rule, declared once: see the module docstring.

    Attributes
    ----------
    name : str
        The rule's name, also its kernel's name in the generated step.
    slots : tuple of str
        The state arrays kept per parameter, each shaped like it.
    hyper : tuple of str
        The hyperparameters both forms take after eta, in this order.
    numpy, compiled : callable
        The two renderings, ``(theta, g, *state, eta, *hyper, *scalars)``.
    scalars : callable, optional
        ``scalars(k, *hyper) -> tuple``, once per step from the rule's count k.
    counted : tuple of str
        The names of what ``scalars`` returns (empty when the rule keeps no count).
    fusable : bool
        Linear in g with coefficient -eta: the update may be added into theta during the
        backward pass seeded with p^n = -eta^t.
    """

    name: str
    slots: tuple[str, ...]
    hyper: tuple[str, ...]
    numpy: Callable
    compiled: Callable
    scalars: Callable | None = None
    counted: tuple[str, ...] = ()
    fusable: bool = False


@dataclass(frozen=True)
class Twice:
    """A part of the update other than the rule (a transform, the average), in its two
    renderings."""

    numpy: Callable
    compiled: Callable


# ---------------------------------------------------------------------- sgd


def _sgd_np(theta, g, eta):
    theta -= eta * g


def _sgd_c(theta, g, eta):
    for i in range(theta.size):
        theta.flat[i] -= eta * g.flat[i]


SGD = UpdateRule("sgd", (), (), _sgd_np, _sgd_c, fusable=True)
"""theta <- theta - eta g."""


# ---------------------------------------------------------------------- momentum


def _momentum_np(theta, g, v, eta, mass, nesterov):
    v *= mass
    v -= eta * g
    theta += mass * v - eta * g if nesterov else v


def _momentum_c(theta, g, v, eta, mass, nesterov):
    for i in range(theta.size):
        v.flat[i] = v.flat[i] * mass - eta * g.flat[i]
        theta.flat[i] += mass * v.flat[i] - eta * g.flat[i] if nesterov else v.flat[i]


MOMENTUM = UpdateRule("momentum", ("velocity",), ("mass", "nesterov"), _momentum_np, _momentum_c)
"""v <- mass v - eta g; theta <- theta + v, or theta + mass v - eta g (Nesterov)."""


# ---------------------------------------------------------------------- adagrad


def _adagrad_np(theta, g, G, eta, epsilon):
    G += g * g
    theta -= eta * g / (np.sqrt(G) + epsilon)


def _adagrad_c(theta, g, G, eta, epsilon):
    for i in range(theta.size):
        G.flat[i] += g.flat[i] * g.flat[i]
        theta.flat[i] -= eta * g.flat[i] / (math.sqrt(G.flat[i]) + epsilon)


ADAGRAD = UpdateRule("adagrad", ("accumulator",), ("epsilon",), _adagrad_np, _adagrad_c)
"""G <- G + g*g; theta <- theta - eta g / (sqrt(G) + epsilon)."""


# ---------------------------------------------------------------------- adam


def _adam_corrections(k, beta1, beta2, epsilon):
    # The bias corrections c1 = 1 - beta1^k and c2 = 1 - beta2^k of update k.
    return 1.0 - beta1**k, 1.0 - beta2**k


def _adam_np(theta, g, m, v, eta, beta1, beta2, epsilon, c1, c2):
    m *= beta1
    m += (1.0 - beta1) * g
    v *= beta2
    v += (1.0 - beta2) * g * g
    theta -= eta * (m / c1) / (np.sqrt(v / c2) + epsilon)


def _adam_c(theta, g, m, v, eta, beta1, beta2, epsilon, c1, c2):
    for i in range(theta.size):
        m.flat[i] = m.flat[i] * beta1 + (FLOAT(1.0) - beta1) * g.flat[i]
        v.flat[i] = v.flat[i] * beta2 + (FLOAT(1.0) - beta2) * g.flat[i] * g.flat[i]
        theta.flat[i] -= eta * (m.flat[i] / c1) / (math.sqrt(v.flat[i] / c2) + epsilon)


ADAM = UpdateRule(
    "adam",
    ("m", "v"),
    ("beta1", "beta2", "epsilon"),
    _adam_np,
    _adam_c,
    scalars=_adam_corrections,
    counted=("c1", "c2"),
)
"""m, v <- the moments' running means; theta <- theta - eta mhat / (sqrt(vhat) + epsilon)."""

RULES = {rule.name: rule for rule in (SGD, MOMENTUM, ADAGRAD, ADAM)}
"""Every update rule by name."""


# ---------------------------------------------------------------------- transforms, average


def _decay_np(g, coefficient, theta):
    return g + coefficient * theta


def _decay_c(g, coefficient, theta):
    for i in range(g.size):
        g.flat[i] = g.flat[i] + coefficient * theta.flat[i]


DECAY = Twice(_decay_np, _decay_c)
"""g + coefficient theta: the gradient of L + (coefficient / 2) ||theta||^2."""


def _squares_np(g):
    return float(np.vdot(g, g))


def _squares_c(g):
    s = FLOAT(0.0)
    for i in range(g.size):
        s += g.flat[i] * g.flat[i]
    return s


CLIP_SQUARES = Twice(_squares_np, _squares_c)
"""sum of g*g over one gradient: the global norm is the root of their sum over all."""


def _scale_np(g, c):
    return g * c


def _scale_c(g, c):
    c = FLOAT(c)
    for i in range(g.size):
        g.flat[i] = g.flat[i] * c


CLIP_SCALE = Twice(_scale_np, _scale_c)
"""g * c, with c = max_norm / ||g|| when the global norm exceeds max_norm."""


def _average_np(avg, theta, rate):
    avg += rate * (theta - avg)


def _average_c(avg, theta, rate):
    for i in range(avg.size):
        avg.flat[i] += rate * (theta.flat[i] - avg.flat[i])


AVERAGE = Twice(_average_np, _average_c)
"""avg <- avg + rate (theta - avg), rate = 1 / (steps averaged)."""
