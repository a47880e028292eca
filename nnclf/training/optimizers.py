"""The parameter update of SGD, theta <- theta - eta^t dL/dtheta, its variants, and the
running average of the parameters.

Contract
--------
In the style of ``jax.example_libraries.optimizers``, an :class:`Optimizer` is a pair of
small functions:

- ``init(params) -> state``: the optimizer's own arrays, ``{slot: {name: array}}``, shaped
  like the parameters (``{"velocity": {...}}`` for momentum, ``{}`` for plain SGD); a
  checkpoint holds each as the array ``<slot>_<name>``;
- ``update(grads, eta, params, state)``: one update of ``params`` and ``state``, in place,
  from the gradients dL/dtheta and the step size eta^t.

Each update rule, transform and the average is written once, in
:mod:`nnclf.training.updates`, with its numpy form (run here) beside its compiled form (run
by the compiled engine); the classes here bind its hyperparameters and keep its state.

:func:`make_optimizer` builds one from the settings out of small parts: gradient transforms
applied in order (clipping by global norm, then l2 weight decay on the weight matrices) and
an update rule, ``train.optimizer``. With g the transformed gradient of one parameter
(element by element) and eta = eta^t from the schedule for all of them:

- ``sgd``: theta <- theta - eta g (the notes); with momentum ``mass``, v <- mass v - eta g,
  theta <- theta + v, or with Nesterov theta <- theta + mass v - eta g;
- ``adagrad`` (Duchi, Hazan and Singer, JMLR 12, 2011): G <- G + g*g (G starts at 0);
  theta <- theta - eta g / (sqrt(G) + epsilon). State ``accumulator`` (G);
- ``adam`` (Kingma and Ba, ICLR 2015, Algorithm 1): k <- k + 1; m <- beta1 m + (1 - beta1) g;
  v <- beta2 v + (1 - beta2) g*g; mhat = m / (1 - beta1^k); vhat = v / (1 - beta2^k);
  theta <- theta - eta mhat / (sqrt(vhat) + epsilon). State ``m``, ``v`` and ``count``
  (``{"k": array([k])}``: Adam's own updates, so that a checkpoint carries it and a run
  that switches to Adam starts it at 1).

:meth:`Optimizer.step` runs the backward pass and the update. For plain SGD with no
transform, it does both at once: backpropagation is linear in its seed p^n, so seeding it
with p^n = -eta^t and adding the result into the parameters is the update itself (the notes'
algorithm, with no gradient array in between). Every other optimizer takes the gradients
(seed p^n = 1) and calls ``update``.

:class:`RunningAverage` is averaged SGD (Polyak and Juditsky, SIAM J. Control Optim. 30,
1992; Ruppert 1988; scikit-learn's ``SGDClassifier(average=...)``): after each step t from
t0 on, avg <- avg + (theta - avg) / (t - t0 + 1), the mean of the parameters after steps
t0 .. t, whatever the update rule.

:func:`optimizer_spec` checks a ``train.optimizer`` setting (a name, or a mapping {name, ...})
against :data:`OPTIMIZERS` and fills in its defaults; :func:`state_arrays` and
:func:`load_state` write and read the optimizer's state and the average in a checkpoint.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from nnclf.base.memory import aligned, aligned_zeros_like
from nnclf.base.rules import Rule as Setting
from nnclf.base.rules import check_fields, number
from nnclf.base.suggest import did_you_mean
from nnclf.errors import CheckpointError, ConfigError
from nnclf.training.updates import (
    ADAGRAD,
    ADAM,
    AVERAGE,
    CLIP_SCALE,
    CLIP_SQUARES,
    DECAY,
    MOMENTUM,
    SGD,
    UpdateRule,
)

__all__ = [
    "Optimizer",
    "make_optimizer",
    "OPTIMIZERS",
    "optimizer_spec",
    "clip_by_global_norm",
    "l2_decay",
    "sgd",
    "momentum",
    "adagrad",
    "adam",
    "decayed",
    "RunningAverage",
    "model_shown",
    "state_arrays",
    "load_state",
]

Arrays = Mapping[str, np.ndarray]
Transform = Callable[[Arrays, Arrays], Arrays]


def decayed(params: Arrays) -> tuple[str, ...]:
    """The parameters l2 weight decay applies to: the weight matrices (W and V; W1, W2, ...
    in a deeper network), never the biases (b, gamma)."""
    return tuple(name for name, p in params.items() if np.ndim(p) == 2)


# ---------------------------------------------------------------------- gradient transforms


def clip_by_global_norm(max_norm: float) -> Transform:
    """g -> g * max_norm / ||g|| when the norm over all gradients exceeds ``max_norm``
    (:data:`~nnclf.training.updates.CLIP_SQUARES`, :data:`~nnclf.training.updates.CLIP_SCALE`)."""
    squares, rescaled = CLIP_SQUARES.numpy, CLIP_SCALE.numpy

    def transform(grads: Arrays, params: Arrays) -> Arrays:
        norm = math.sqrt(sum(squares(g) for g in grads.values()))
        if norm <= max_norm:
            return grads
        scale = max_norm / norm
        return {name: rescaled(g, scale) for name, g in grads.items()}

    return transform


def l2_decay(coefficient: float) -> Transform:
    """g -> g + coefficient * theta for the weight matrices (:func:`decayed`): the gradient
    of L + (coefficient / 2) ||theta||^2 (:data:`~nnclf.training.updates.DECAY`)."""
    decay = DECAY.numpy

    def transform(grads: Arrays, params: Arrays) -> Arrays:
        # New arrays, never in place: the gradients are the executor's buffers.
        names = decayed(params)
        return {
            name: decay(g, coefficient, params[name]) if name in names else g
            for name, g in grads.items()
        }

    return transform


# ---------------------------------------------------------------------- update rules


def _zeros(params: Arrays) -> dict[str, np.ndarray]:
    return {name: aligned_zeros_like(p) for name, p in params.items()}


@dataclass(frozen=True)
class Rule:
    """An :class:`~nnclf.training.updates.UpdateRule` with its hyperparameters' values, run
    by its numpy form: ``init(params) -> state`` and ``apply(grads, eta, params, state)``."""

    rule: UpdateRule
    hyper: tuple = ()

    @property
    def plain(self) -> bool:
        """Whether the update may be fused into the backward pass (plain SGD)."""
        return self.rule.fusable

    def init(self, params: Arrays) -> dict:
        """A zero array per slot and parameter, and ``{"count": {"k": [0]}}`` if counted."""
        state = {slot: _zeros(params) for slot in self.rule.slots}
        if self.rule.scalars is not None:
            state["count"] = {"k": np.zeros(1)}
        return state

    def apply(self, grads: Arrays, eta: float, params: Arrays, state: dict) -> None:
        """theta <- the rule's update of theta, for every parameter, in place."""
        rule, hyper = self.rule, self.hyper
        scalars = ()
        if rule.scalars is not None:
            count = state["count"]["k"]
            count += 1.0
            scalars = rule.scalars(float(count[0]), *hyper)
        slots = [state[slot] for slot in rule.slots]
        for name, g in grads.items():
            rule.numpy(params[name], g, *[s[name] for s in slots], eta, *hyper, *scalars)


def sgd() -> Rule:
    """theta <- theta - eta g (:data:`~nnclf.training.updates.SGD`)."""
    return Rule(SGD)


def momentum(mass: float, nesterov: bool = False) -> Rule:
    """v <- mass v - eta g, then theta <- theta + v, or with Nesterov
    theta <- theta + mass v - eta g (:data:`~nnclf.training.updates.MOMENTUM`)."""
    return Rule(MOMENTUM, (mass, nesterov))


def adagrad(epsilon: float) -> Rule:
    """G <- G + g*g; theta <- theta - eta g / (sqrt(G) + epsilon)
    (:data:`~nnclf.training.updates.ADAGRAD`)."""
    return Rule(ADAGRAD, (epsilon,))


def adam(beta1: float, beta2: float, epsilon: float) -> Rule:
    """Adam, Kingma and Ba's Algorithm 1 (:data:`~nnclf.training.updates.ADAM`), k counting
    its updates."""
    return Rule(ADAM, (beta1, beta2, epsilon))


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

    @functools.cached_property
    def fused(self) -> bool:
        """True when :meth:`step` adds the seeded backward pass straight into the parameters."""
        return self.rule.plain and not self.transforms

    def step(self, executor, eta: float, params: Arrays, state: dict) -> None:
        """The notes' update after the executor's forward pass: the backward pass
        (p^n = 1, p^j = sum_i p^i J^{j->i}), then theta <- theta - eta^t dL/dtheta by the
        rule, for every parameter theta.

        Plain SGD is fused (:attr:`fused`): the update is linear in the gradient and
        backpropagation is linear in its seed, so the backward pass seeded with
        p^n = -eta^t and added into the parameters is the very same update, with no
        gradient array in between.
        """
        if self.fused:
            executor.backward(-eta, into=params)  # theta <- theta + (-eta^t) dL/dtheta
        else:
            grads = executor.backward(1.0)  # p^n = 1: dL/dtheta
            self.update(grads, eta, params, state)  # theta <- theta - eta^t g, by the rule

    def stepper(self, params: Arrays, state: dict) -> Callable[[object, float], None]:
        """``step(executor, eta)``: :meth:`step` bound to ``params`` and ``state``."""
        step = self.step
        return lambda executor, eta: step(executor, eta, params, state)


# ---------------------------------------------------------------------- the setting

OPTIMIZERS: dict[str, dict[str, float]] = {
    "sgd": {},
    "adagrad": {"epsilon": 1e-8},
    "adam": {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
}
"""Each ``train.optimizer`` (an update rule) and its parameters' defaults."""

_RANGES: dict[str, Setting] = {
    "beta1": number(0, 1),
    "beta2": number(0, 1),
    "epsilon": number(0, closed="neither"),
}
"""The rule of each optimizer parameter (:mod:`nnclf.base.rules`)."""


def optimizer_spec(value) -> dict[str, Any]:
    """``train.optimizer`` (a name, or a mapping {name, ...}) as a mapping with every
    parameter filled in: ``"adagrad"`` -> ``{"name": "adagrad", "epsilon": 1e-08}``.

    Raises
    ------
    ConfigError
        Named ``optimizer`` (an unknown name or parameter) or ``optimizer.<parameter>``.
    """
    spec = {"name": value} if isinstance(value, str) else value
    if not isinstance(spec, Mapping) or "name" not in spec:
        raise ConfigError(
            f" must be a name ({', '.join(OPTIMIZERS)}) or a mapping with a 'name', got {value!r}",
            name="optimizer",
        )
    spec = dict(spec)
    name = spec.pop("name")
    if not isinstance(name, str) or name not in OPTIMIZERS:
        raise ConfigError(
            f": unknown optimizer {name!r}{did_you_mean(str(name), OPTIMIZERS)}; "
            f"choose one of {', '.join(OPTIMIZERS)}",
            name="optimizer",
        )
    defaults = OPTIMIZERS[name]
    for key in spec:
        if key not in defaults:
            known = f"its parameters are {', '.join(defaults)}" if defaults else "it has none"
            raise ConfigError(
                f": {name} has no parameter {key!r}{did_you_mean(str(key), defaults)}; {known}",
                name="optimizer",
            )
    filled = {"name": name, **defaults, **spec}
    for key in defaults:
        problem = _RANGES[key].problem(filled[key])
        if problem is not None:
            raise ConfigError(problem, name=f"optimizer.{key}")
        filled[key] = float(filled[key])
    return filled


def make_optimizer(settings) -> Optimizer:
    """The optimizer ``settings`` ask for: clipping, l2, then the update rule of
    ``settings.optimizer`` (plain or momentum SGD, Adagrad, Adam)."""
    transforms = []
    if settings.clip_norm is not None:
        transforms.append(clip_by_global_norm(settings.clip_norm))
    if settings.l2 > 0:
        transforms.append(l2_decay(settings.l2))
    spec = dict(settings.optimizer)
    name = spec.pop("name")
    if name == "adagrad":
        rule = adagrad(**spec)
    elif name == "adam":
        rule = adam(**spec)
    else:
        rule = momentum(settings.momentum, settings.nesterov) if settings.momentum > 0 else sgd()
    return Optimizer(tuple(transforms), rule)


# ---------------------------------------------------------------------- averaging


class RunningAverage:
    """The mean of the parameters after each step from ``start`` on (Polyak-Ruppert), and
    the iterate while the network shows the average.

    The trainer updates it after every step. Once it has started, the average is the model,
    since it is what will be saved: every evaluation sees it (:meth:`shown`: the validation
    metrics in the history, early stopping and the best parameters it keeps, callbacks, the
    last finite parameters kept against divergence), and a fit that ends (completed, stopped
    early or by a callback; not interrupted, nor cut short by ``max_steps``) leaves it in the
    network (:meth:`show`), keeping the iterate, which :meth:`put_back` returns to the
    network before training goes on (the next fit, an ``extend``). A run that ends before
    ``start`` ends with its iterate.

    Parameters
    ----------
    params : dict of name -> array
        The parameters averaged (only their shapes and dtypes are read here).
    start : int
        t0, the first step averaged.

    Attributes
    ----------
    values : dict of name -> array
        The average, shaped like the parameters (zeros until step ``start``).
    count : int
        How many steps have been averaged: the average after step t is over the
        parameters after steps t - count + 1 .. t.
    iterate : dict of name -> array, or None
        The parameters training goes on from, while the network shows the average.
    """

    def __init__(self, params: Arrays, start: int):
        self.start = start
        self.count = 0
        self.values = _zeros(params)
        self.iterate: dict | None = None

    @classmethod
    def going_on(
        cls, average: RunningAverage | None, params: Arrays, start: int | None
    ) -> RunningAverage | None:
        """The running average for settings that average from ``start`` (or not, None):
        ``average`` kept (under the new start) if there is one, with its iterate put back
        into ``params`` (training goes on from the iterate), else a new one."""
        if average is None:
            return None if start is None else cls(params, start)
        average.put_back(params)
        average.start = start
        return None if start is None else average

    @property
    def started(self) -> bool:
        return self.count > 0

    def update(self, params: Arrays, t: int) -> None:
        """After step t: avg <- avg + (theta - avg) / n, n the steps averaged with this one."""
        if t >= self.start:
            self.count += 1
            rate = 1.0 / self.count
            average = AVERAGE.numpy
            for name, avg in self.values.items():
                average(avg, params[name], rate)

    def rates(self, first: int, stop: int) -> np.ndarray:
        """The rate 1 / n of :meth:`update` at each step first .. stop - 1, 0 before
        ``start`` (what the compiled engine applies); leaves ``count`` as it is."""
        averaged = np.arange(first, stop) >= self.start
        n = self.count + np.cumsum(averaged)
        return np.where(averaged, 1.0 / np.maximum(n, 1), 0.0)

    def advance(self, first: int, stop: int) -> None:
        """Count steps first .. stop - 1 as averaged (after the compiled engine took them)."""
        self.count += max(0, stop - max(first, self.start))

    def show(self, params: Arrays) -> None:
        """Make the average (once started) ``params``' values, keeping the iterate."""
        if self.started and self.iterate is None:
            self.iterate = {name: aligned(p) for name, p in params.items()}
            _assign(params, self.values)

    def put_back(self, params: Arrays) -> None:
        """Return the iterate to ``params`` if they show the average."""
        if self.iterate is not None:
            _assign(params, self.iterate)
            self.iterate = None

    @contextlib.contextmanager
    def shown(self, params: Arrays):
        """A context in which ``params`` hold the model: the average, once started."""
        showing = self.started and self.iterate is None
        self.show(params)
        try:
            yield params
        finally:
            if showing:
                self.put_back(params)

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict]:
        """Arrays ``average_<name>`` (and ``iterate_<name>`` while the average is shown)
        and the state ``{"average_count": count}``."""
        arrays = {f"average_{k}": v for k, v in self.values.items()}
        arrays.update({f"iterate_{k}": v for k, v in (self.iterate or {}).items()})
        return arrays, {"average_count": self.count}

    def load_state_dict(self, arrays: Arrays, state: Mapping) -> None:
        """Restore :meth:`state_dict`.

        Raises
        ------
        CheckpointError
            For a missing or misshapen array or a count that is not an integer >= 0.
        """
        check_fields(
            state,
            {"average_count": "int>=0"},
            lambda problem: CheckpointError(f"checkpoint: {problem}"),
        )
        count = state["average_count"]
        _assign(self.values, {k: _saved(arrays, f"average_{k}", v) for k, v in self.values.items()})
        self.count = count
        first = next(iter(self.values))
        self.iterate = (
            {k: _saved(arrays, f"iterate_{k}", v) for k, v in self.values.items()}
            if f"iterate_{first}" in arrays
            else None
        )


def _assign(params: Arrays, values: Arrays) -> None:
    for name, value in values.items():
        params[name][...] = value


def _saved(arrays: Arrays, key: str, like: np.ndarray) -> np.ndarray:
    """A copy of the checkpoint's ``arrays[key]``, which must be shaped like ``like``."""
    if key not in arrays:
        raise CheckpointError(
            f"checkpoint: no array {key!r}; it was not written by this run's trainer"
        )
    value = np.array(arrays[key], dtype=like.dtype)
    if value.shape != like.shape:
        raise CheckpointError(
            f"checkpoint: array {key!r} has shape {value.shape}, not the "
            f"network's {like.shape}; use the file this run wrote"
        )
    return value


def model_shown(average: RunningAverage | None, params: Arrays):
    """A context in which ``params`` hold the model: the average once it has started."""
    return average.shown(params) if average is not None else contextlib.nullcontext()


# ---------------------------------------------------------------------- checkpoints


def state_arrays(state: dict, average: RunningAverage | None) -> tuple[dict, dict]:
    """The optimizer's ``state`` and the running average as a checkpoint holds them: arrays
    ``<slot>_<name>`` (``velocity_W``, ``m_W``, ``count_k``, ...) and the average's
    (:meth:`RunningAverage.state_dict`), and the average's JSON-able state."""
    arrays = {f"{slot}_{k}": v for slot, values in state.items() for k, v in values.items()}
    more, extra = average.state_dict() if average is not None else ({}, {})
    return {**arrays, **more}, extra


def load_state(state: dict, average: RunningAverage | None, arrays: Arrays, saved: Mapping) -> None:
    """Restore what :func:`state_arrays` wrote into ``state`` and ``average``, in place.

    Raises
    ------
    CheckpointError
        Naming an array that is missing or misshapen.
    """
    for slot, values in state.items():
        _assign(values, {k: _saved(arrays, f"{slot}_{k}", v) for k, v in values.items()})
    if average is not None:
        average.load_state_dict(arrays, saved)
