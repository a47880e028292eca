"""Every setting of a run: its type, its range and its default, in frozen dataclasses.

Contract
--------
The sections of a config are dataclasses checked when made: :class:`DataConfig`,
:class:`ModelConfig`, :class:`SGDSettings` (with :class:`EarlyStopping`), :class:`OutputConfig`,
and :class:`Config`, the whole. :mod:`nnclf.config` builds them from YAML;
:class:`nnclf.sgd.Trainer` and :class:`nnclf.NNClassifier` take them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from .errors import ConfigError
from .functions import TRANSFERS
from .model import INITS
from .schedules import Schedule, make_schedule
from .suggest import did_you_mean

__all__ = ["Config", "DataConfig", "ModelConfig", "OutputConfig", "SGDSettings", "EarlyStopping",
           "SAMPLING", "METRICS", "SECTIONS", "TOP_KEYS", "DEFAULT_SCHEDULE"]

def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _fraction(key: str, value) -> None:
    _check(_is_number(value) and 0 <= value < 1,
           f"{key} must be a number in [0, 1), got {value!r}")


SAMPLING = ("uniform", "shuffle")
METRICS = {"val_loss": "min", "val_accuracy": "max", "train_loss": "min"}


@dataclass(frozen=True)
class EarlyStopping:
    """Stop when ``metric`` has not improved by more than ``min_delta`` for ``patience``
    evaluations in a row; with ``restore_best``, end with the best parameters seen."""

    metric: str = "val_loss"
    patience: int = 5
    min_delta: float = 0.0
    restore_best: bool = True

    def __post_init__(self):
        _check(self.metric in METRICS,
               f"train.early_stopping.metric: unknown metric {self.metric!r}; "
               f"choose one of {', '.join(METRICS)}")
        _check(_is_int(self.patience) and self.patience >= 1,
               f"train.early_stopping.patience must be an integer >= 1, got {self.patience!r}")
        _check(_is_number(self.min_delta) and self.min_delta >= 0,
               f"train.early_stopping.min_delta must be a number >= 0, got {self.min_delta!r}")
        _check(isinstance(self.restore_best, bool),
               f"train.early_stopping.restore_best must be true or false, got {self.restore_best!r}")


@dataclass(frozen=True)
class SGDSettings:
    """Everything that defines an SGD run; validated when made.

    ``steps`` is T; without it, T = ``epochs`` * (steps per epoch), where an epoch is
    ceil(n / batch_size) steps. ``schedule`` is a name-and-parameters mapping (see
    :func:`nnclf.schedules.make_schedule`) or a :class:`~nnclf.schedules.Schedule`.
    ``eval_every`` defaults to once per epoch.
    """

    epochs: int | None = 20
    steps: int | None = None
    batch_size: int = 1
    sampling: str = "uniform"
    schedule: Mapping | Schedule = field(
        default_factory=lambda: {"name": "inverse_time", "eta0": 0.05, "tau": 20000})
    momentum: float = 0.0
    nesterov: bool = False
    l2: float = 0.0
    clip_norm: float | None = None
    eval_every: int | None = None
    early_stopping: EarlyStopping | None = None

    def __post_init__(self):
        _check(self.steps is not None or self.epochs is not None,
               "train: give epochs or steps (how long to train)")
        if self.steps is not None:
            _check(_is_int(self.steps) and self.steps >= 1,
                   f"train.steps must be an integer >= 1, got {self.steps!r}")
        if self.epochs is not None:
            _check(_is_int(self.epochs) and self.epochs >= 1,
                   f"train.epochs must be an integer >= 1, got {self.epochs!r}")
        _check(_is_int(self.batch_size) and self.batch_size >= 1,
               f"train.batch_size must be an integer >= 1, got {self.batch_size!r}")
        _check(self.sampling in SAMPLING,
               f"train.sampling: unknown sampling {self.sampling!r}; choose one of {', '.join(SAMPLING)}")
        _check(_is_number(self.momentum) and 0 <= self.momentum < 1,
               f"train.momentum must be in [0, 1), got {self.momentum!r}")
        _check(isinstance(self.nesterov, bool),
               f"train.nesterov must be true or false, got {self.nesterov!r}")
        _check(not self.nesterov or self.momentum > 0,
               "train.nesterov needs momentum > 0")
        _check(_is_number(self.l2) and self.l2 >= 0, f"train.l2 must be >= 0, got {self.l2!r}")
        if self.clip_norm is not None:
            _check(_is_number(self.clip_norm) and self.clip_norm > 0,
                   f"train.clip_norm must be > 0, got {self.clip_norm!r}")
        if self.eval_every is not None:
            _check(_is_int(self.eval_every) and self.eval_every >= 1,
                   f"train.eval_every must be an integer >= 1 (steps), got {self.eval_every!r}")
        if self.early_stopping is not None:
            _check(isinstance(self.early_stopping, EarlyStopping),
                   "train.early_stopping must be an EarlyStopping")
        make_schedule(self.schedule)

    def make_schedule(self) -> Schedule:
        return make_schedule(self.schedule)

    def steps_per_epoch(self, n: int) -> int:
        return -(-n // self.batch_size)

    def total_steps(self, n: int) -> int:
        """T for a training set of n examples."""
        return self.steps if self.steps is not None else self.epochs * self.steps_per_epoch(n)


def _schedule(spec) -> dict:
    """The schedule with every parameter filled in (warm-up included)."""
    try:
        return make_schedule(spec).to_dict()
    except (ValueError, TypeError) as e:
        message = str(e)
        if message.startswith("schedule "):
            message = message[len("schedule "):]
        raise ConfigError(f"train.schedule: {message}") from None


@dataclass(frozen=True)
class DataConfig:
    """Where the examples come from and how they are split and scaled.

    ``validation_fraction`` is a share of the training part (what is left after the test
    split). ``n_samples``, ``n_features``, ``n_classes`` and ``n_informative`` are read only
    by ``source: synthetic``.
    """

    source: str = "sklearn:digits"
    target: str | None = None
    test_fraction: float = 0.2
    validation_fraction: float = 0.1
    standardize: bool = True
    n_samples: int = 1000
    n_features: int = 20
    n_classes: int = 3
    n_informative: int | None = None

    def __post_init__(self):
        _check(isinstance(self.source, str) and self.source.strip() != "",
               "data.source must be 'sklearn:<name>', a .csv or .npz path, or 'synthetic'; "
               f"got {self.source!r}")
        _check(self.target is None or (isinstance(self.target, str) and self.target != ""),
               f"data.target must be a column name (or null for the last column), got {self.target!r}")
        _fraction("data.test_fraction", self.test_fraction)
        _fraction("data.validation_fraction", self.validation_fraction)
        _check(isinstance(self.standardize, bool),
               f"data.standardize must be true or false, got {self.standardize!r}")
        for key, low in (("n_samples", 2), ("n_features", 1), ("n_classes", 2)):
            value = getattr(self, key)
            _check(_is_int(value) and value >= low,
                   f"data.{key} must be an integer >= {low}, got {value!r}")
        _check(self.n_informative is None or (_is_int(self.n_informative) and self.n_informative >= 1),
               f"data.n_informative must be an integer >= 1 or null, got {self.n_informative!r}")


@dataclass(frozen=True)
class ModelConfig:
    """The network p(y|x) = softmax(V g(Wx + b) + gamma): m hidden units, g, initialisation."""

    hidden_units: int = 100
    transfer: str = "tanh"
    init: str = "xavier"
    init_scale: float = 0.01

    def __post_init__(self):
        _check(_is_int(self.hidden_units) and self.hidden_units >= 1,
               f"model.hidden_units must be an integer >= 1, got {self.hidden_units!r}")
        _check(self.transfer in TRANSFERS,
               f"model.transfer: unknown transfer function {self.transfer!r}"
               f"{did_you_mean(self.transfer, TRANSFERS)}; choose one of {', '.join(TRANSFERS)}")
        _check(self.init in INITS,
               f"model.init: unknown initialisation {self.init!r}"
               f"{did_you_mean(self.init, INITS)}; choose one of {', '.join(INITS)}")
        _check(_is_number(self.init_scale) and 0 < self.init_scale < math.inf,
               f"model.init_scale must be a number > 0, got {self.init_scale!r}")


@dataclass(frozen=True)
class OutputConfig:
    """Where ``nnclf train`` writes its run directory."""

    dir: str = "runs/run"

    def __post_init__(self):
        _check(isinstance(self.dir, str) and self.dir.strip() != "",
               f"output.dir must be a directory path, got {self.dir!r}")


@dataclass(frozen=True)
class Config:
    """A whole, validated configuration."""

    seed: int = 0
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    train: SGDSettings = dataclasses.field(default_factory=SGDSettings)
    output: OutputConfig = dataclasses.field(default_factory=OutputConfig)

    def __post_init__(self):
        # numpy and scikit-learn both accept seeds in [0, 2**32).
        _check(_is_int(self.seed) and 0 <= self.seed < 2**32,
               f"seed must be an integer in [0, 2**32), got {self.seed!r}")
        for name, cls in SECTIONS.items():
            _check(isinstance(getattr(self, name), cls), f"Config.{name} must be a {cls.__name__}")
        rule = self.train.early_stopping
        _check(rule is None or not rule.metric.startswith("val_") or self.data.validation_fraction > 0,
               f"train.early_stopping.metric is {rule.metric if rule else ''}, which needs a "
               "validation set; set data.validation_fraction > 0 or use metric: train_loss")
        # The schedule is kept with every parameter filled in, so that equal configs compare
        # equal and the saved config.yaml shows everything.
        schedule = _schedule(self.train.schedule)
        if schedule != self.train.schedule:
            object.__setattr__(self, "train", dataclasses.replace(self.train, schedule=schedule))


SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": SGDSettings, "output": OutputConfig}
TOP_KEYS = ("seed", *SECTIONS)
DEFAULT_SCHEDULE = SGDSettings().schedule


