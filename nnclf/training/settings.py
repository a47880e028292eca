"""The settings of an SGD run: :class:`SGDSettings` and :class:`EarlyStopping`, with their rules.

Contract
--------
The ``train`` section of a config, declared here beside the trainer that reads it, with the
rules of :mod:`nnclf.base.rules`. ``optimizer`` and ``schedule`` are a name or a mapping
{name, ...}, checked and kept with every parameter filled in by
:func:`nnclf.training.optimizers.optimizer_spec` and
:func:`nnclf.training.schedules.make_schedule`. Checks across fields (epochs or steps,
Nesterov needs momentum, momentum only with the sgd optimizer) follow each table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from nnclf.base.rules import Rule, boolean, check, choice, fail, instance, integer, number
from nnclf.training.optimizers import optimizer_spec
from nnclf.training.schedules import Schedule, make_schedule
from nnclf.training.weights import check_class_weight

__all__ = ["SGDSettings", "EarlyStopping", "SAMPLING", "ENGINES", "METRICS", "DEFAULT_SCHEDULE"]

SAMPLING = ("uniform", "shuffle")
ENGINES = ("auto", "numpy", "numba")
"""Engines that run the SGD steps (see :mod:`nnclf.training.engine`)."""
METRICS = {"val_loss": "min", "val_accuracy": "max", "train_loss": "min"}
"""Early-stopping metrics and whether smaller or larger is better."""


@dataclass(frozen=True)
class EarlyStopping:
    """Stop when ``metric`` has not improved by more than ``min_delta`` for ``patience``
    evaluations in a row; with ``restore_best``, end with the best parameters seen."""

    metric: str = "val_loss"
    patience: int = 5
    min_delta: float = 0.0
    restore_best: bool = True

    RULES: ClassVar[dict[str, Rule]] = {
        "metric": choice(METRICS.keys(), "metric"),
        "patience": integer(1),
        "min_delta": number(0),
        "restore_best": boolean(),
    }

    def __post_init__(self):
        check(self)


DEFAULT_SCHEDULE = {"name": "inverse_time", "eta0": 0.05, "tau": 20000}
"""eta^t = eta0 / (1 + t / tau): the default step size."""


@dataclass(frozen=True)
class _FlagOrInteger(Rule):
    """A rule that also takes true and false (``train.average``)."""

    def _fits(self, value) -> bool:
        return isinstance(value, (bool, np.bool_)) or super()._fits(value)


@dataclass(frozen=True)
class SGDSettings:
    """Everything that defines an SGD run; validated when made.

    ``steps`` is T; without it, T = ``epochs`` * (steps per epoch), where an epoch is
    ceil(n / batch_size) steps. ``schedule`` is a name-and-parameters mapping (see
    :func:`nnclf.training.schedules.make_schedule`), kept with every parameter filled in, or a
    :class:`~nnclf.training.schedules.Schedule`. ``eval_every`` defaults to once per epoch.
    ``engine`` chooses what runs the steps (``auto``, ``numpy``, ``numba``; see
    :mod:`nnclf.training.engine`): the same steps, with results equal to rounding. ``optimizer`` is
    ``sgd`` (with ``momentum``, ``nesterov``), ``adagrad`` or ``adam``, a name or a mapping
    kept with every parameter filled in (:data:`nnclf.training.optimizers.OPTIMIZERS`). ``average``:
    false, or the model is the running average of the parameters from step 1 (true) or from
    the step it gives on (Polyak-Ruppert; see :mod:`nnclf.training.optimizers`). ``class_weight``
    (null, ``balanced`` or {label: weight}, its labels kept as text) weighs the examples
    SGD draws (:mod:`nnclf.training.weights`); the run layer computes the weights from the data.
    """

    epochs: int | None = 20
    steps: int | None = None
    batch_size: int = 1
    sampling: str = "uniform"
    schedule: Mapping | Schedule = field(default_factory=lambda: dict(DEFAULT_SCHEDULE))
    momentum: float = 0.0
    nesterov: bool = False
    l2: float = 0.0
    clip_norm: float | None = None
    eval_every: int | None = None
    early_stopping: EarlyStopping | None = None
    engine: str = "auto"
    optimizer: str | Mapping = field(default_factory=lambda: {"name": "sgd"})
    average: bool | int = False
    class_weight: str | Mapping | None = None

    RULES: ClassVar[dict[str, Rule]] = {
        "epochs": integer(1, optional=True),
        "steps": integer(1, optional=True),
        "batch_size": integer(1),
        "sampling": choice(SAMPLING, "sampling"),
        "momentum": number(0, 1),
        "nesterov": boolean(),
        # Weight decay past 1 shrinks W and V faster than any loss gradient moves them
        # (with l2 * eta >= 2 the step itself diverges): never a setting anyone wants.
        "l2": number(0, 1, closed="both"),
        "clip_norm": number(0, closed="neither", optional=True),
        "eval_every": integer(1, optional=True),
        "early_stopping": instance(EarlyStopping, optional=True),
        "engine": choice(ENGINES, "engine"),
        # A name or a mapping, made the mapping with every parameter filled in (and its
        # parameters checked, by optimizer_spec) before this table is.
        "optimizer": instance(dict),
        "average": _FlagOrInteger(
            "integer", 1, says="false, true or an integer >= 1 (the step to average from)"
        ),
        "class_weight": Rule(
            "instance",
            cls=(str, Mapping),
            optional=True,
            says="null, balanced or a mapping {label: weight}",
        ),
    }

    def __post_init__(self):
        object.__setattr__(self, "optimizer", optimizer_spec(self.optimizer))
        check(self)
        # Labels as text: a checkpoint's and a model file's JSON has only text keys.
        object.__setattr__(
            self, "class_weight", check_class_weight(self.class_weight, text_keys=True)
        )
        if self.class_weight is not None and self.sampling == "shuffle":
            fail(
                "class_weight",
                " needs sampling: uniform (a weight sets how often an "
                "example is drawn; shuffle visits every example once an epoch)",
            )
        if self.steps is None and self.epochs is None:
            fail("epochs", " or steps must be given (how long to train)")
        # Plain bool and int: the settings are written to JSON in every checkpoint.
        average = self.average
        object.__setattr__(
            self,
            "average",
            bool(average) if isinstance(average, (bool, np.bool_)) else int(average),
        )
        name = self.optimizer["name"]
        for setting, value in (("momentum", self.momentum), ("nesterov", self.nesterov)):
            if name != "sgd" and value:
                shown = "true" if value is True else value
                off = 0 if setting == "momentum" else "false"
                fail(
                    setting,
                    f" is {shown}, which only optimizer sgd uses, but optimizer is "
                    f"{name}; set {setting} to {off} or use optimizer sgd",
                )
        if self.nesterov and self.momentum == 0:
            fail("nesterov", " needs momentum > 0")
        if not isinstance(self.schedule, Schedule):
            # Kept with every parameter filled in, so that equal settings compare equal and a
            # saved config shows everything.
            object.__setattr__(self, "schedule", make_schedule(self.schedule).to_dict())
        if self.steps is not None:
            self.check_length(self.steps)

    def check_length(self, T: int) -> None:
        """A ConfigError if the schedule's warm-up is longer than training (T steps): the
        step size would never reach eta0."""
        warmup = self.make_schedule().params.get("warmup", 0)
        if warmup > T:
            name = "steps" if self.steps is not None else "epochs"
            fail(
                "schedule.warmup",
                f" is {warmup} steps but training is {T} steps; make "
                f"warmup at most {T} or train longer (train.{name})",
            )

    def check_average(self, T: int) -> None:
        """A ConfigError if averaging starts after step T, the last: nothing would be
        averaged. For a run whose last step is known (not one of ``partial_fit``'s)."""
        start = self.average_start
        if start is not None and start > T:
            name = "steps" if self.steps is not None else "epochs"
            fail(
                "average",
                f" starts at step {start} but training is {T} steps, so nothing would be "
                f"averaged; make average at most {T} (or true, from step 1) or train longer "
                f"(more {name})",
            )

    def make_schedule(self) -> Schedule:
        return make_schedule(self.schedule)

    @property
    def average_start(self) -> int | None:
        """The first step averaged (1 for ``average: true``), or None without averaging."""
        return None if self.average is False else int(self.average)

    def steps_per_epoch(self, n: int) -> int:
        return -(-n // self.batch_size)

    def total_steps(self, n: int) -> int:
        """T for a training set of n examples; a ConfigError if the warm-up is longer."""
        T = self.steps if self.steps is not None else self.epochs * self.steps_per_epoch(n)
        self.check_length(T)
        return T
