"""The parameter update of SGD, theta <- theta - eta^t dL/dtheta, and its variants.

Contract
--------
In the style of ``jax.example_libraries.optimizers``, an :class:`Optimizer` is a pair of
small functions:

- ``init(params) -> state``: the optimizer's own arrays (``{"velocity": {name: array}}``
  for momentum, ``{}`` for plain SGD), shaped like the parameters;
- ``update(grads, eta, params, state)``: one update of ``params`` and ``state``, in place,
  from the gradients dL/dtheta and the step size eta^t.

:func:`make_optimizer` builds one from the settings out of small parts: gradient transforms
applied in order (clipping by global norm, then l2 weight decay on W and V) and an update rule
(plain, momentum or Nesterov momentum).

:meth:`Optimizer.step` runs the backward pass and the update. For plain SGD with no
transform, it does both at once: backpropagation is linear in its seed p^n, so seeding it
with p^n = -eta^t and adding the result into the parameters is the update itself (the notes'
algorithm, with no gradient array in between). Every other optimizer takes the gradients
(seed p^n = 1) and calls ``update``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from .settings import SGDSettings

__all__ = ["Optimizer", "make_optimizer", "clip_by_global_norm", "l2_decay", "sgd",
           "momentum", "decayed"]

Arrays = Mapping[str, np.ndarray]
Transform = Callable[[Arrays, Arrays], Arrays]


def decayed(params: Arrays) -> tuple[str, ...]:
    """The parameters l2 weight decay applies to: the weight matrices (W and V; W1, W2, ...
    in a deeper network), never the biases (b, gamma)."""
    return tuple(name for name, p in params.items() if np.ndim(p) == 2)


# ---------------------------------------------------------------------- gradient transforms

def clip_by_global_norm(max_norm: float) -> Transform:
    """g -> g * max_norm / ||g|| when the norm over all gradients exceeds ``max_norm``."""
    def transform(grads: Arrays, params: Arrays) -> Arrays:
        norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))
        if norm <= max_norm:
            return grads
        scale = max_norm / norm
        return {name: g * scale for name, g in grads.items()}
    return transform


def l2_decay(coefficient: float) -> Transform:
    """g -> g + coefficient * theta for the weight matrices (:func:`decayed`): the gradient
    of L + (coefficient / 2) ||theta||^2."""
    def transform(grads: Arrays, params: Arrays) -> Arrays:
        # New arrays, never in place: the gradients are the executor's buffers.
        names = decayed(params)
        return {name: g + coefficient * params[name] if name in names else g
                for name, g in grads.items()}
    return transform


# ---------------------------------------------------------------------- update rules

@dataclass(frozen=True)
class Rule:
    """An update rule: ``init(params) -> state`` and ``apply(grads, eta, params, state)``."""

    init: Callable[[Arrays], dict]
    apply: Callable[[Arrays, float, dict, dict], None]
    plain: bool = False


def sgd() -> Rule:
    """theta <- theta - eta g."""
    def apply(grads, eta, params, state):
        for name, g in grads.items():
            params[name] -= eta * g
    return Rule(lambda params: {}, apply, plain=True)


def momentum(mass: float, nesterov: bool = False) -> Rule:
    """v <- mass v - eta g, then theta <- theta + v, or with Nesterov
    theta <- theta + mass v - eta g."""
    def init(params):
        return {"velocity": {name: np.zeros_like(p) for name, p in params.items()}}

    def apply(grads, eta, params, state):
        velocity = state["velocity"]
        for name, g in grads.items():
            v = velocity[name]
            v *= mass
            v -= eta * g
            params[name] += mass * v - eta * g if nesterov else v
    return Rule(init, apply)


# ---------------------------------------------------------------------- the optimizer

@dataclass(frozen=True)
class Optimizer:
    """Gradient transforms followed by an update rule (see the module docstring)."""

    transforms: tuple[Transform, ...]
    rule: Rule

    def init(self, params: Arrays) -> dict:
        """The optimizer's state for ``params``: ``{slot: {name: array}}``."""
        return self.rule.init(params)

    def update(self, grads: Arrays, eta: float, params: Arrays, state: dict) -> None:
        """One update of ``params`` (and ``state``) in place."""
        for transform in self.transforms:
            grads = transform(grads, params)
        self.rule.apply(grads, eta, params, state)

    @property
    def fused(self) -> bool:
        """True when :meth:`step` adds the seeded backward pass straight into the parameters."""
        return self.rule.plain and not self.transforms

    def stepper(self, params: Arrays, state: dict) -> Callable[[object, float], None]:
        """``step(executor, eta)``: backward pass and update after the executor's forward
        pass, bound to ``params`` and ``state`` (the trainer's per-step call)."""
        if self.fused:
            def step(executor, eta: float) -> None:
                # p^n = -eta^t, summed into the parameters: theta - eta^t dL/dtheta.
                executor.backward(-eta, into=params)
        else:
            update = self.update

            def step(executor, eta: float) -> None:
                update(executor.backward(1.0), eta, params, state)
        return step


def make_optimizer(settings: SGDSettings) -> Optimizer:
    """The optimizer ``settings`` ask for: clipping, l2, then plain or momentum updates."""
    transforms = []
    if settings.clip_norm is not None:
        transforms.append(clip_by_global_norm(settings.clip_norm))
    if settings.l2 > 0:
        transforms.append(l2_decay(settings.l2))
    rule = momentum(settings.momentum, settings.nesterov) if settings.momentum > 0 else sgd()
    return Optimizer(tuple(transforms), rule)
