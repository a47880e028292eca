"""The whole configuration: the ``model`` and ``output`` sections, and :class:`Config`.

Contract
--------
Each section of a config is a frozen dataclass, declared with the rules of
:mod:`nnclf.base.rules` by the layer that reads it: :class:`~nnclf.data.settings.DataConfig`
(``data``), :class:`~nnclf.training.settings.SGDSettings` with
:class:`~nnclf.training.settings.EarlyStopping` (``train``), and here :class:`ModelConfig`
(``model``), :class:`OutputConfig` (``output``), :class:`TrackConfig` (``track``: where a run
is logged, read by :mod:`nnclf.tracking`) and :class:`Config`, the whole, which checks
what spans sections (a validation metric or the plateau schedule needs a validation split).
A wrong value is a :class:`~nnclf.errors.ConfigError` named after the field; :mod:`nnclf.config.load`
adds the section once (``train.epochs must be ...``). This module is the config's one face:
every section class is importable from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from nnclf.base.rules import (
    PerLayer,
    Rule,
    as_dict,
    check,
    choice,
    fail,
    instance,
    integer,
    number,
    text,
)
from nnclf.data.settings import DataConfig
from nnclf.graph.network import INITS, MAX_LAYERS
from nnclf.graph.transfers import TRANSFERS
from nnclf.training.settings import (
    DEFAULT_SCHEDULE,
    ENGINES,
    METRICS,
    SAMPLING,
    EarlyStopping,
    SGDSettings,
)

__all__ = [
    "Config",
    "DataConfig",
    "ModelConfig",
    "OutputConfig",
    "TrackConfig",
    "SGDSettings",
    "EarlyStopping",
    "SAMPLING",
    "ENGINES",
    "DTYPES",
    "METRICS",
    "SECTIONS",
    "TOP_KEYS",
    "DEFAULT_SCHEDULE",
    "Rule",
    "as_dict",
]

DTYPES = ("float64", "float32")
"""The floating dtypes a network's parameters and passes may use."""


@dataclass(frozen=True)
class ModelConfig:
    """The network p(y|x) = softmax(V g(Wx + b) + gamma): m hidden units, g, initialisation,
    and the floating dtype of its parameters and passes (float64, or float32: half the
    memory, fewer digits, and on the compiled engine about twice the examples per second).
    The two engines agree to rounding: in float64 to 1e-8 of the parameters' scale after
    1,000 steps; in float32 to 1e-5 of it (measured up to 5e-6 at eta 0.01, with plain SGD,
    momentum 0.9, Nesterov or Adam), about as far as either float32 run is from float64.

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
        "hidden_units": PerLayer("integer", low=1, most=MAX_LAYERS),
        "transfer": PerLayer(
            "choice", choices=TRANSFERS.keys(), noun="transfer function", most=MAX_LAYERS
        ),
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
            fail(
                "transfer",
                f" lists {len(self.transfer)} functions but hidden_units has "
                f"{len(self.layers)} layer{'s' if len(self.layers) > 1 else ''}; "
                "give one name per hidden layer, or one name for all",
            )

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


def _uri_or_switch(value) -> bool:
    return isinstance(value, bool) or (isinstance(value, str) and bool(value.strip()))


@dataclass(frozen=True)
class TrackConfig:
    """Where a run is logged besides its run directory (:mod:`nnclf.tracking`).

    ``mlflow``: a tracking URI (``sqlite:///mlflow.db``, ``http://host:5000``), true for
    MLflow's default (``MLFLOW_TRACKING_URI``, else ./mlruns), false or null for none.
    ``experiment``: the MLflow experiment (null: the config file's name, without .yaml).
    ``tensorboard``: true for RUN_DIR/tensorboard, a directory DIR (the run in DIR/RUN_NAME),
    or false. Tracking never
    changes what is trained: a run's numbers are the same with or without it.
    """

    mlflow: str | bool | None = None
    experiment: str | None = None
    tensorboard: str | bool = False

    RULES: ClassVar[dict[str, Rule]] = {
        "mlflow": Rule(
            "custom",
            test=_uri_or_switch,
            optional=True,
            says="a tracking URI (e.g. sqlite:///mlflow.db), true (MLflow's default) or false",
        ),
        "experiment": text("an experiment name", optional=True),
        "tensorboard": Rule(
            "custom", test=_uri_or_switch, says="true (RUN_DIR/tensorboard), a directory or false"
        ),
    }

    def __post_init__(self):
        check(self)

    @property
    def on(self) -> bool:
        """Whether the run is logged anywhere."""
        return self.mlflow not in (None, False) or self.tensorboard is not False


SECTIONS = {
    "data": DataConfig,
    "model": ModelConfig,
    "train": SGDSettings,
    "output": OutputConfig,
    "track": TrackConfig,
}
TOP_KEYS = ("seed", *SECTIONS)


@dataclass(frozen=True)
class Config:
    """A whole, validated configuration."""

    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: SGDSettings = field(default_factory=SGDSettings)
    output: OutputConfig = field(default_factory=OutputConfig)
    track: TrackConfig = field(default_factory=TrackConfig)

    RULES: ClassVar[dict[str, Rule]] = {
        # numpy and scikit-learn both accept seeds in [0, 2**32).
        "seed": integer(0, 2**32, says="an integer in [0, 2**32)"),
        **{name: instance(cls) for name, cls in SECTIONS.items()},
    }

    def __post_init__(self):
        check(self)
        rule = self.train.early_stopping
        if (
            rule is not None
            and rule.metric.startswith("val_")
            and self.data.validation_fraction == 0
        ):
            fail(
                "train.early_stopping.metric",
                f" is {rule.metric}, which needs a validation set; set "
                "data.validation_fraction > 0 or use metric: train_loss",
            )
        if self.train.make_schedule().name == "plateau" and self.data.validation_fraction == 0:
            fail(
                "train.schedule",
                ": plateau is driven by the validation loss, which needs "
                "a validation set; set data.validation_fraction > 0 or choose another schedule",
            )
