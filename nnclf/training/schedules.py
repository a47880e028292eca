"""Step sizes eta^t for stochastic gradient descent.

Contract: a schedule is a callable ``eta(t) -> float`` of the SGD step
``t = 1, 2, ...`` (the eta^t of the notes' update theta <- theta - eta^t * grad).
It is made by a small factory that checks its arguments once, when built, so a
bad value fails at configuration time with a message naming the value; calling
a schedule with ``t < 1`` is an error. Each schedule carries its ``name`` and
``params`` so a config or a resumed run can record it, and
``make_schedule(schedule.to_dict())`` rebuilds it.

The trainer calls three more methods of every schedule: ``observe(val_loss)`` at each
evaluation, ``state_dict()`` and ``load_state_dict(state)`` for checkpoints; they do nothing
but in the one schedule with state, :func:`plateau` (reduce on plateau, a
:class:`PlateauSchedule`), which lowers its step size when the validation loss stops
improving (``needs_validation`` is true). Between two evaluations it is a function of t like
any other (``values(start, stop)`` included). ``make_schedule`` of a stateful schedule
returns a fresh copy, so no two trainers share one state.

Every factory takes an optional linear warm-up of ``warmup = W`` steps:
eta^t = base(t) * t / W for t <= W, and eta^t = base(t) after, so the base
schedule continues unchanged at its own t.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np

from nnclf.base.rules import Rule, check_fields, integer, number, shown
from nnclf.base.suggest import did_you_mean
from nnclf.errors import CheckpointError, ConfigError

__all__ = [
    "Schedule",
    "PlateauSchedule",
    "SCHEDULES",
    "make_schedule",
    "schedule_parameters",
    "constant",
    "inverse_time",
    "invscaling",
    "step",
    "exponential",
    "cosine",
    "plateau",
]


@dataclass(frozen=True, repr=False)
class Schedule:
    """A step-size schedule ``t -> eta^t``; build one with a factory or :func:`make_schedule`.

    Attributes
    ----------
    name : str
        The factory's key in :data:`SCHEDULES`.
    params : Mapping[str, float]
        The factory's arguments, ``warmup`` included (read-only).
    formula : callable
        The base schedule ``t -> eta^t`` before warm-up.
    """

    name: str
    params: Mapping[str, Any] = field(hash=False)
    formula: Callable[[float], float] = field(compare=False)

    needs_validation: ClassVar[bool] = False
    """Whether :meth:`observe` needs a validation loss (a trainer without one refuses)."""

    def observe(self, val_loss: float) -> bool:
        """Take one evaluation's validation loss; True if that changed eta (never here)."""
        return False

    def state_dict(self) -> dict:
        """What a checkpoint keeps of the schedule besides its spec: nothing here."""
        return {}

    def load_state_dict(self, state: Mapping | None) -> None:
        """Restore :meth:`state_dict` (None: a checkpoint written before it was kept)."""

    def __call__(self, t: float) -> float:
        # The type test is the trainer's per-step fast path: a plain int passes at once.
        if (
            type(t) is not int
            and (isinstance(t, bool) or not isinstance(t, numbers.Real))
            or not t >= 1
        ):
            raise _bad(f": {self.name}: step t must be >= 1 (steps count from 1), got {t!r}")
        eta = self.formula(t)
        warmup = self.params["warmup"]
        if t <= warmup:
            eta *= t / warmup
        return float(eta)

    def values(self, start: int, stop: int) -> np.ndarray:
        """eta^t for t = start .. stop - 1, as an array (the compiled engine's step sizes).

        The formula is evaluated on the whole range at once when it accepts an array (the
        same IEEE operations as step by step), else step by step.
        """
        t = np.arange(start, stop, dtype=float)
        try:
            eta = np.broadcast_to(np.asarray(self.formula(t), dtype=float), t.shape).copy()
        except (TypeError, ValueError):  # math functions, min(): made for a scalar t
            return np.array([self(int(s)) for s in range(start, stop)])
        warm = t <= self.params["warmup"]
        eta[warm] *= t[warm] / self.params["warmup"] if warm.any() else 1.0
        return eta

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"name": ..., **params}``, the spec :func:`make_schedule` accepts."""
        return {"name": self.name, **self.params}

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.params.items())
        return f"{self.name}({args})"


@dataclass(frozen=True, repr=False)
class PlateauSchedule(Schedule):
    """eta^t = max(eta0 * factor**k, min_eta), k the reductions so far (see :func:`plateau`).

    Attributes
    ----------
    state : dict
        ``reductions`` (k), ``best`` (the lowest validation loss seen, None before the first)
        and ``bad_evals`` (evaluations in a row since the last improvement or reduction).
    """

    state: dict = field(
        default_factory=lambda: {"reductions": 0, "best": None, "bad_evals": 0}, compare=False
    )
    needs_validation: ClassVar[bool] = True

    def observe(self, val_loss: float) -> bool:
        """Take one evaluation's validation loss; True if the step size was reduced.

        An improvement is a loss below best - min_delta. After ``patience`` evaluations in a
        row without one, k grows by one (unless eta is already at min_eta) and the count
        starts again. A NaN loss is no improvement and never becomes the best.
        """
        p, state = self.params, self.state
        best = state["best"]
        # NaN compares False with everything, so it is tested first: stored as the best, it
        # would make every later loss look like no improvement.
        if not math.isnan(val_loss) and (best is None or val_loss < best - p["min_delta"]):
            state["best"], state["bad_evals"] = float(val_loss), 0
            return False
        state["bad_evals"] += 1
        if state["bad_evals"] < p["patience"]:
            return False
        state["bad_evals"] = 0
        if p["eta0"] * p["factor"] ** state["reductions"] <= p["min_eta"]:
            return False
        state["reductions"] += 1
        return True

    def state_dict(self) -> dict:
        """The JSON-able state (a copy): reductions, best, bad_evals."""
        return dict(self.state)

    def load_state_dict(self, state: Mapping | None) -> None:
        """Restore :meth:`state_dict`; a CheckpointError if it is missing or damaged."""
        state = state if isinstance(state, Mapping) else {}
        check_fields(
            state,
            {"reductions": "int>=0", "best": "float?", "bad_evals": "int>=0"},
            lambda problem: CheckpointError(
                f"checkpoint: its plateau schedule state {shown(state)} should be "
                "{reductions, best, bad_evals}; use the file nnclf wrote"
            ),
        )
        best = state.get("best")
        self.state.update(
            reductions=state["reductions"],
            # A NaN best (a checkpoint of an older nnclf) is no best at all.
            best=None if best is None or math.isnan(best) else float(best),
            bad_evals=state["bad_evals"],
        )


def _bad(problem: str) -> ConfigError:
    """An error in a schedule's spec: ``schedule: <problem>``."""
    return ConfigError(problem, name="schedule")


# Each parameter's rule, worded one thing at a time ("must be a number", "must be finite",
# then its range), the values of a factory's arguments checked when it is called.
_POSITIVE = number(0, closed="neither", stepwise=True)
_NOT_NEGATIVE = number(0, stepwise=True)
_FRACTION = number(0, 1, closed="neither", stepwise=True)


def _count_rule(minimum: int) -> Rule:
    return integer(minimum, stepwise=True)


def _up_to_eta0(eta0: float) -> Rule:
    return number(0, eta0, closed="both", says=f" in [0, eta0={eta0!r}]", stepwise=True)


def _checked(schedule: str, key: str, value: Any, rule: Rule):
    """``value`` as a float (an int for an integer rule), after ``rule`` took it."""
    problem = rule.problem(value)
    if problem is not None:
        raise _bad(f": {schedule}: {key}{problem}")
    return int(value) if rule.kind == "integer" else float(value)


def _positive(schedule: str, key: str, value: Any) -> float:
    return _checked(schedule, key, value, _POSITIVE)


def _count(schedule: str, key: str, value: Any, minimum: int) -> int:
    return _checked(schedule, key, value, _count_rule(minimum))


def _schedule(name: str, formula: Callable[[float], float], warmup: Any, **params: Any) -> Schedule:
    params["warmup"] = _count(name, "warmup", warmup, 0)
    return Schedule(name, MappingProxyType(params), formula)


def constant(eta0: float, *, warmup: int = 0) -> Schedule:
    """Constant step size: eta^t = eta0."""
    eta0 = _positive("constant", "eta0", eta0)
    return _schedule("constant", lambda t: eta0, warmup, eta0=eta0)


def inverse_time(eta0: float, tau: float, *, warmup: int = 0) -> Schedule:
    """Inverse-time decay: eta^t = eta0 / (1 + t / tau); halved at t = tau."""
    eta0 = _positive("inverse_time", "eta0", eta0)
    tau = _positive("inverse_time", "tau", tau)
    return _schedule("inverse_time", lambda t: eta0 / (1 + t / tau), warmup, eta0=eta0, tau=tau)


def invscaling(eta0: float, power: float = 0.5, *, warmup: int = 0) -> Schedule:
    """Inverse scaling, as in scikit-learn: eta^t = eta0 / t**power, with power >= 0."""
    eta0 = _positive("invscaling", "eta0", eta0)
    power = _checked("invscaling", "power", power, _NOT_NEGATIVE)
    return _schedule("invscaling", lambda t: eta0 / t**power, warmup, eta0=eta0, power=power)


def step(eta0: float, factor: float, every: int, *, warmup: int = 0) -> Schedule:
    """Step decay: eta^t = eta0 * factor**floor(t / every), every a positive integer."""
    eta0 = _positive("step", "eta0", eta0)
    factor = _positive("step", "factor", factor)
    every = _count("step", "every", every, 1)
    return _schedule(
        "step",
        lambda t: eta0 * factor ** math.floor(t / every),
        warmup,
        eta0=eta0,
        factor=factor,
        every=every,
    )


def exponential(eta0: float, rate: float, every: float = 1, *, warmup: int = 0) -> Schedule:
    """Exponential decay: eta^t = eta0 * rate**(t / every); multiplied by rate each `every` steps."""
    eta0 = _positive("exponential", "eta0", eta0)
    rate = _positive("exponential", "rate", rate)
    every = _positive("exponential", "every", every)
    return _schedule(
        "exponential",
        lambda t: eta0 * rate ** (t / every),
        warmup,
        eta0=eta0,
        rate=rate,
        every=every,
    )


def cosine(eta0: float, total_steps: int, floor: float = 0.0, *, warmup: int = 0) -> Schedule:
    """Cosine annealing from eta0 at t = 0 to floor at t = T = total_steps, then constant.

    eta^t = floor + (eta0 - floor) * (1 + cos(pi * min(t, T) / T)) / 2, with 0 <= floor <= eta0.
    """
    eta0 = _positive("cosine", "eta0", eta0)
    total = _count("cosine", "total_steps", total_steps, 1)
    floor = _checked("cosine", "floor", floor, _up_to_eta0(eta0))

    def formula(t: float) -> float:
        return floor + (eta0 - floor) * (1 + math.cos(math.pi * min(t, total) / total)) / 2

    return _schedule("cosine", formula, warmup, eta0=eta0, total_steps=total, floor=floor)


def plateau(
    eta0: float,
    factor: float = 0.5,
    patience: int = 3,
    min_delta: float = 0.0,
    min_eta: float = 0.0,
    *,
    warmup: int = 0,
) -> PlateauSchedule:
    """Reduce on plateau: eta^t = max(eta0 * factor**k, min_eta), k the reductions so far.

    k grows by one when the validation loss has not gone below its best by more than
    ``min_delta`` for ``patience`` evaluations in a row (:meth:`PlateauSchedule.observe`).
    factor in (0, 1); patience an integer >= 1 (3 by default: below early stopping's 5, so
    a smaller step gets its chance before early stopping gives up); min_delta >= 0;
    0 <= min_eta <= eta0. Needs a validation set.
    """
    eta0 = _positive("plateau", "eta0", eta0)
    params = dict(
        eta0=eta0,
        factor=_checked("plateau", "factor", factor, _FRACTION),
        patience=_count("plateau", "patience", patience, 1),
        min_delta=_checked("plateau", "min_delta", min_delta, _NOT_NEGATIVE),
        min_eta=_checked("plateau", "min_eta", min_eta, _up_to_eta0(eta0)),
        warmup=_count("plateau", "warmup", warmup, 0),
    )
    state = {"reductions": 0, "best": None, "bad_evals": 0}

    def formula(t: float) -> float:
        return max(eta0 * params["factor"] ** state["reductions"], params["min_eta"])

    return PlateauSchedule("plateau", MappingProxyType(params), formula, state)


SCHEDULES: dict[str, Callable[..., Schedule]] = {
    f.__name__: f for f in (constant, inverse_time, invscaling, step, exponential, cosine, plateau)
}


def schedule_parameters(name: str) -> tuple[str, ...]:
    """The parameters the schedule ``name`` takes (``warmup`` included); () when ``name`` is
    not a schedule."""
    factory = SCHEDULES.get(name) if isinstance(name, str) else None
    return () if factory is None else tuple(inspect.signature(factory).parameters)


def make_schedule(spec: str | Mapping[str, Any] | Schedule) -> Schedule:
    """Build a schedule from a config entry.

    Parameters
    ----------
    spec : str or mapping or Schedule
        A name in :data:`SCHEDULES` (only enough if no parameter is required), or a mapping
        ``{"name": ..., **params}`` such as ``{"name": "inverse_time", "eta0": 0.05,
        "tau": 20000}``. A Schedule is returned unchanged (a
        :class:`PlateauSchedule` as a fresh copy, its state new).

    Returns
    -------
    Schedule

    Raises
    ------
    ValueError
        For an unknown name or parameter (naming it, the valid choices and the nearest
        one), a missing required parameter, or an invalid value.
    """
    if isinstance(spec, PlateauSchedule):
        return make_schedule(spec.to_dict())  # its own state, not another trainer's
    if isinstance(spec, Schedule):
        return spec
    if isinstance(spec, str):
        name, params = spec, {}
    elif isinstance(spec, Mapping):
        params = dict(spec)
        if "name" not in params:
            raise _bad(f": {spec!r} has no 'name'; choose one of: {', '.join(SCHEDULES)}")
        name = params.pop("name")
    else:
        raise _bad(f" must be a name or a mapping with a 'name', got {type(spec).__name__}")
    if not isinstance(name, str) or name not in SCHEDULES:
        hint = did_you_mean(name, SCHEDULES)
        raise _bad(f": unknown schedule {name!r}{hint}; valid choices: {', '.join(SCHEDULES)}")

    signature = inspect.signature(SCHEDULES[name]).parameters
    for key in params:
        if key not in signature:
            hint = did_you_mean(str(key), signature)
            raise _bad(
                f": {name}: unknown parameter {key!r}{hint};"
                f" valid parameters: {', '.join(signature)}"
            )
    missing = [key for key, p in signature.items() if p.default is p.empty and key not in params]
    if missing:
        raise _bad(
            f": {name}: missing required parameter {', '.join(map(repr, missing))};"
            f" required: {', '.join(k for k, p in signature.items() if p.default is p.empty)}"
        )
    return SCHEDULES[name](**params)
