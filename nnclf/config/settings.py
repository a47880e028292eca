"""Every setting of a run: its type, its range and its default, declared once.

Contract
--------
Each section of a config is a frozen dataclass: :class:`DataConfig`, :class:`ModelConfig`,
:class:`SGDSettings` (with :class:`EarlyStopping`), :class:`OutputConfig`, and :class:`Config`,
the whole. Beside its fields, each has one table ``RULES`` that gives every field's type and
range as a :class:`Rule`; :func:`check` validates an instance against its table when it is
made. A wrong value is a :class:`~nnclf.errors.ConfigError` named after the field
(``epochs must be an integer >= 1, got 0``); :mod:`nnclf.config.load` adds the section once
(``train.epochs must be ...``), and :class:`nnclf.NNClassifier` derives its parameter
constraints from the same rules.

Checks across fields (epochs or steps, Nesterov needs momentum, momentum only with the sgd
optimizer, a validation metric needs a validation split) are the dataclasses' own, right
after the table. ``train.optimizer`` and ``train.schedule`` are a name or a mapping {name, ...},
checked and kept with every parameter filled in by :func:`nnclf.training.optimizers.optimizer_spec`
and :func:`nnclf.training.schedules.make_schedule`.
"""

from __future__ import annotations

import codecs
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Collection, Mapping

import numpy as np

from nnclf.errors import ConfigError
from nnclf.graph.transfers import TRANSFERS
from nnclf.graph.network import INITS, MAX_LAYERS
from nnclf.training.schedules import Schedule, make_schedule
from nnclf.training.optimizers import optimizer_spec
from nnclf.base.suggest import did_you_mean
from nnclf.training.weights import check_class_weight

__all__ = ["Rule", "PerLayer", "integer", "number", "boolean", "choice", "text", "instance", "check", "as_dict",
           "Config", "DataConfig", "ModelConfig", "OutputConfig", "SGDSettings", "EarlyStopping",
           "SAMPLING", "ENGINES", "DTYPES", "METRICS", "SECTIONS", "TOP_KEYS", "DEFAULT_SCHEDULE"]

SAMPLING = ("uniform", "shuffle")
ENGINES = ("auto", "numpy", "numba")
DTYPES = ("float64", "float32")
"""The floating dtypes a network's parameters and passes may use."""
"""Engines that run the SGD steps (see :mod:`nnclf.training.engine`)."""
METRICS = {"val_loss": "min", "val_accuracy": "max", "train_loss": "min"}
"""Early-stopping metrics and whether smaller or larger is better."""


# ----------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class Rule:
    """The type and range of one setting.

    ``kind`` is ``"integer"``, ``"number"`` (finite), ``"boolean"``, ``"choice"`` (a string
    among ``choices``, a live collection, so that a transfer function registered later
    counts), ``"text"`` (a non-empty string) or ``"instance"`` (of ``cls``). ``low`` and
    ``high`` bound numbers; ``closed`` says which bounds are allowed ("left", "right", "both",
    "neither"). ``optional`` allows None (YAML's null). ``says`` replaces the generated
    description of the valid values in messages.
    """

    kind: str
    low: float | None = None
    high: float | None = None
    closed: str = "left"
    choices: Collection[str] = ()
    noun: str = "value"
    optional: bool = False
    cls: type | None = None
    says: str = ""

    def describe(self) -> str:
        """The valid values in words: ``an integer >= 1``, ``a number in [0, 1)``."""
        if self.says:
            return self.says
        cls = getattr(self.cls, "__name__", "")
        what = {"integer": "an integer", "number": "a number", "boolean": "true or false",
                "choice": "a string", "text": "a non-empty string",
                "instance": f"{'an' if cls[:1] in 'AEIOU' else 'a'} {cls}"}[self.kind]
        if self.low is not None and self.high is not None:
            left = "[" if self.closed in ("left", "both") else "("
            right = "]" if self.closed in ("right", "both") else ")"
            what += f" in {left}{self.low:g}, {self.high:g}{right}"
        elif self.low is not None:
            what += f" {'>=' if self.closed in ('left', 'both') else '>'} {self.low:g}"
        elif self.high is not None:
            what += f" {'<=' if self.closed in ('right', 'both') else '<'} {self.high:g}"
        return what + (" or null" if self.optional else "")

    def problem(self, value) -> str | None:
        """None when ``value`` is valid; else the message after the setting's name."""
        if value is None and self.optional:
            return None
        if self.kind == "choice" and isinstance(value, str) and value not in self.choices:
            return (f": unknown {self.noun} {value!r}{did_you_mean(value, self.choices)}; "
                    f"choose one of {', '.join(self.choices)}")
        if not self._fits(value):
            return f" must be {self.describe()}, got {value!r}"
        return None

    def _fits(self, value) -> bool:
        if self.kind in ("integer", "number"):
            kinds = (int, np.integer) if self.kind == "integer" else (int, float, np.integer, np.floating)
            return (isinstance(value, kinds) and not isinstance(value, bool)
                    and math.isfinite(value) and self._in_range(value))
        if self.kind == "boolean":
            return isinstance(value, (bool, np.bool_))
        if self.kind == "instance":
            return isinstance(value, self.cls)
        return isinstance(value, str) and (self.kind == "choice" or value.strip() != "")

    def _in_range(self, value) -> bool:
        low_ok = self.low is None or (value >= self.low if self.closed in ("left", "both")
                                      else value > self.low)
        high_ok = self.high is None or (value <= self.high if self.closed in ("right", "both")
                                        else value < self.high)
        return low_ok and high_ok


def integer(low=None, high=None, closed="left", **kw) -> Rule:
    return Rule("integer", low, high, closed, **kw)


def number(low=None, high=None, closed="left", **kw) -> Rule:
    return Rule("number", low, high, closed, **kw)


def boolean() -> Rule:
    return Rule("boolean")


def choice(choices: Collection[str], noun: str) -> Rule:
    return Rule("choice", choices=choices, noun=noun)


def text(says: str, optional: bool = False) -> Rule:
    return Rule("text", says=says, optional=optional)


def instance(cls: type, optional: bool = False) -> Rule:
    return Rule("instance", cls=cls, optional=optional)


def check(settings) -> None:
    """Check every field of a settings dataclass against its ``RULES`` table.

    Raises
    ------
    ConfigError
        Named after the first field at fault.
    """
    for name, rule in settings.RULES.items():
        problem = rule.problem(getattr(settings, name))
        if problem is not None:
            raise ConfigError(problem, name=name)


def _fail(name: str, problem: str) -> None:
    raise ConfigError(problem, name=name)


# ----------------------------------------------------------------------------- sections


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
        "average": _FlagOrInteger("integer", 1, says="false, true or an integer >= 1 (the "
                                                     "step to average from)"),
        "class_weight": Rule("instance", cls=(str, Mapping), optional=True,
                             says="null, balanced or a mapping {label: weight}"),
    }

    def __post_init__(self):
        object.__setattr__(self, "optimizer", optimizer_spec(self.optimizer))
        check(self)
        # Labels as text: a checkpoint's and a model file's JSON has only text keys.
        object.__setattr__(self, "class_weight",
                           check_class_weight(self.class_weight, text_keys=True))
        if self.class_weight is not None and self.sampling == "shuffle":
            _fail("class_weight", " needs sampling: uniform (a weight sets how often an "
                  "example is drawn; shuffle visits every example once an epoch)")
        if self.steps is None and self.epochs is None:
            _fail("epochs", " or steps must be given (how long to train)")
        # Plain bool and int: the settings are written to JSON in every checkpoint.
        average = self.average
        object.__setattr__(self, "average", bool(average) if isinstance(average, (bool, np.bool_))
                           else int(average))
        name = self.optimizer["name"]
        for setting, value in (("momentum", self.momentum), ("nesterov", self.nesterov)):
            if name != "sgd" and value:
                shown = "true" if value is True else value
                off = 0 if setting == "momentum" else "false"
                _fail(setting, f" is {shown}, which only optimizer sgd uses, but optimizer is "
                               f"{name}; set {setting} to {off} or use optimizer sgd")
        if self.nesterov and self.momentum == 0:
            _fail("nesterov", " needs momentum > 0")
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
            _fail("schedule.warmup", f" is {warmup} steps but training is {T} steps; make "
                  f"warmup at most {T} or train longer (train.{name})")

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


@dataclass(frozen=True)
class DataConfig:
    """Where the examples come from and how they are split and scaled.

    ``validation_fraction`` is a share of the training part (after the test split). ``n_*``
    are read by ``source: synthetic``; ``target``, ``features`` or ``drop`` (column names,
    checked by :mod:`nnclf.data.sources`) by CSV and Parquet; ``encoding``, ``delimiter`` by CSV.
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
    encoding: str = "utf-8"
    delimiter: str | None = None
    features: list[str] | None = None
    drop: list[str] | None = None

    RULES: ClassVar[dict[str, Rule]] = {
        "source": text("'sklearn:<name>', a .csv or .npz path, or 'synthetic'"),
        "target": text("a column name (or null for the last column)", optional=True),
        "test_fraction": number(0, 1),
        "validation_fraction": number(0, 1),
        "standardize": boolean(),
        "n_samples": integer(2),
        "n_features": integer(1),
        "n_classes": integer(2),
        "n_informative": integer(1, optional=True),
        "encoding": text("a text encoding such as utf-8 or latin-1"),
        "delimiter": Rule("instance", cls=str, optional=True, says="one character or null"),
        "features": Rule("instance", cls=list, optional=True, says="a list of names or null"),
        "drop": Rule("instance", cls=list, optional=True, says="a list of names or null"),
    }

    def __post_init__(self):
        check(self)
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            _fail("encoding", f": unknown text encoding {self.encoding!r}; give one Python "
                              "knows, e.g. utf-8, latin-1 or cp1252")
        if self.delimiter is not None and (len(self.delimiter) != 1 or self.delimiter in '"\r\n'):
            _fail("delimiter", " must be one character (not a quote), e.g. ';' or \"\\t\" for a "
                               f"tab, or null to detect it; got {self.delimiter!r}")


@dataclass(frozen=True)
class PerLayer(Rule):
    """A value of the rule's kind for every hidden layer, or a list of them, one per layer
    (1 to ``most``). A wrong single value reads as for the plain rule (``hidden_units must be
    an integer >= 1, got 0``); a wrong element is named by its index (``hidden_units[1] must
    be ...``)."""

    most: int = MAX_LAYERS

    def _element(self) -> Rule:
        return Rule(**{f.name: getattr(self, f.name) for f in dataclasses.fields(Rule)})

    def problem(self, value) -> str | None:
        element = self._element()
        if not isinstance(value, (list, tuple)):
            return element.problem(value)
        if not 1 <= len(value) <= self.most:
            return (f" must list 1 to {self.most} values (one per hidden layer), got "
                    f"{len(value)}: {list(value)!r}")
        for k, item in enumerate(value):
            own = element.problem(item)
            if own is not None:
                return f"[{k}]{own}"
        return None


@dataclass(frozen=True)
class ModelConfig:
    """The network p(y|x) = softmax(V g(Wx + b) + gamma): m hidden units, g, initialisation,
    and the floating dtype of its parameters and passes (float64, or float32: half the
    memory, fewer digits).

    ``hidden_units`` is m (the notes' network) or a list of layer sizes [m_1, ..., m_L] for
    L hidden layers (see :mod:`nnclf.graph.network`); ``transfer`` is one name for every layer or a
    list of one name per layer. Lists (or tuples) are kept as lists.
    """

    hidden_units: int | list[int] = 100
    transfer: str | list[str] = "tanh"
    init: str = "xavier"
    init_scale: float = 0.01
    dtype: str = "float64"

    RULES: ClassVar[dict[str, Rule]] = {
        "hidden_units": PerLayer("integer", low=1),
        "transfer": PerLayer("choice", choices=TRANSFERS.keys(), noun="transfer function"),
        "init": choice(INITS, "initialisation"),
        # A standard deviation past 100 saturates every g and overflows V g(z): never useful.
        "init_scale": number(0, 100, closed="right"),
        "dtype": choice(DTYPES, "dtype"),
    }

    def __post_init__(self):
        check(self)
        for name in ("hidden_units", "transfer"):
            value = getattr(self, name)
            if isinstance(value, tuple):  # kept as YAML and JSON give it back
                object.__setattr__(self, name, list(value))
        if isinstance(self.transfer, list) and len(self.transfer) != len(self.layers):
            _fail("transfer", f" lists {len(self.transfer)} functions but hidden_units has "
                              f"{len(self.layers)} layer{'s' if len(self.layers) > 1 else ''}; "
                              "give one name per hidden layer, or one name for all")

    @property
    def layers(self) -> tuple[int, ...]:
        """(m_1, ..., m_L): the hidden layer sizes."""
        units = self.hidden_units
        return tuple(units) if isinstance(units, list) else (units,)

    @property
    def transfers(self) -> tuple[str, ...]:
        """The transfer function of each hidden layer."""
        g = self.transfer
        return tuple(g) if isinstance(g, list) else (g,) * len(self.layers)


@dataclass(frozen=True)
class OutputConfig:
    """Where ``nnclf train`` writes its run directory."""

    dir: str = "runs/run"

    RULES: ClassVar[dict[str, Rule]] = {"dir": text("a directory path")}

    def __post_init__(self):
        check(self)


SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": SGDSettings, "output": OutputConfig}
TOP_KEYS = ("seed", *SECTIONS)


@dataclass(frozen=True)
class Config:
    """A whole, validated configuration."""

    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: SGDSettings = field(default_factory=SGDSettings)
    output: OutputConfig = field(default_factory=OutputConfig)

    RULES: ClassVar[dict[str, Rule]] = {
        # numpy and scikit-learn both accept seeds in [0, 2**32).
        "seed": integer(0, 2**32, says="an integer in [0, 2**32)"),
        **{name: instance(cls) for name, cls in SECTIONS.items()},
    }

    def __post_init__(self):
        check(self)
        rule = self.train.early_stopping
        if rule is not None and rule.metric.startswith("val_") and self.data.validation_fraction == 0:
            _fail("train.early_stopping.metric",
                  f" is {rule.metric}, which needs a validation set; set "
                  "data.validation_fraction > 0 or use metric: train_loss")
        if self.train.make_schedule().name == "plateau" and self.data.validation_fraction == 0:
            _fail("train.schedule", ": plateau is driven by the validation loss, which needs "
                  "a validation set; set data.validation_fraction > 0 or choose another schedule")


def as_dict(settings) -> dict[str, Any]:
    """A settings dataclass as plain data, sections nested, a schedule as its mapping."""
    out = {}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if isinstance(value, Schedule):
            value = value.to_dict()
        elif dataclasses.is_dataclass(value):
            value = as_dict(value)
        elif isinstance(value, Mapping):
            value = dict(value)
        out[f.name] = value
    return out
