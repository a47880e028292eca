"""NNClassifier's parameters <-> an nnclf config: the one mapping between them.

Contract
--------
:class:`nnclf.NNClassifier` takes the ``model`` and ``train`` settings of a config as flat
keyword parameters, with the same names and defaults (:data:`DEFAULTS`, read from
:mod:`nnclf.settings`), except:

- ``schedule`` (a name), ``eta0`` and ``schedule_params`` (the schedule's other parameters)
  for the config's ``train.schedule`` mapping {name, eta0, ...}; parameters left out come
  from :data:`nnclf.settings.DEFAULT_SCHEDULE` when the name is its name;
- ``early_stopping`` (a bool) and ``patience`` for ``train.early_stopping`` (null or
  {metric: val_loss, patience, ...});
- ``validation_fraction`` and ``standardize`` for ``data.validation_fraction`` and
  ``data.standardize``, and ``random_state`` for ``seed``.

:func:`to_config` maps parameters to a :class:`~nnclf.settings.Config` (what the estimator
trains with); :func:`params_from_record` maps a model file's ``config`` back to parameters,
whether the file was written by :meth:`NNClassifier.save` (the parameters by name,
:func:`params_record`) or by ``nnclf train`` (a whole config).
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from numbers import Integral, Real


from sklearn.utils._param_validation import (InvalidParameterError, Interval, StrOptions,
                                             validate_parameter_constraints)

from .errors import ConfigError
from .schedules import SCHEDULES, make_schedule
from .settings import (DEFAULT_SCHEDULE, Config, DataConfig, EarlyStopping, ModelConfig,
                       PerLayer, Rule, SGDSettings, boolean, choice, number)

__all__ = ["DEFAULTS", "RULES", "CONSTRAINTS", "schedule_spec", "to_config",
           "check_same_network", "params_record", "params_from_record"]

_MODEL, _TRAIN, _DATA, _STOP = ModelConfig(), SGDSettings(), DataConfig(), EarlyStopping()

DEFAULTS = {
    "hidden_units": _MODEL.hidden_units,
    "transfer": _MODEL.transfer,
    "init": _MODEL.init,
    "dtype": _MODEL.dtype,
    "eta0": DEFAULT_SCHEDULE["eta0"],
    "schedule": DEFAULT_SCHEDULE["name"],
    "schedule_params": None,
    "epochs": _TRAIN.epochs,
    "steps": _TRAIN.steps,
    "batch_size": _TRAIN.batch_size,
    "sampling": _TRAIN.sampling,
    "momentum": _TRAIN.momentum,
    "l2": _TRAIN.l2,
    "early_stopping": _TRAIN.early_stopping is not None,
    "validation_fraction": _DATA.validation_fraction,
    "standardize": _DATA.standardize,
    "patience": _STOP.patience,
    "random_state": None,
    "verbose": False,
    "warm_start": False,
    "engine": _TRAIN.engine,
}
"""Every estimator parameter and its default: the config's, read from the settings (but
``random_state``, which is scikit-learn's None where a config's ``seed`` is 0)."""

RULES: dict[str, Rule] = {
    **{name: ModelConfig.RULES[name] for name in ("hidden_units", "transfer", "init", "dtype")},
    "eta0": number(0, closed="neither"),
    "schedule": choice(SCHEDULES.keys(), "schedule"),
    "schedule_params": Rule("instance", cls=dict, optional=True),
    **{name: SGDSettings.RULES[name]
       for name in ("epochs", "steps", "batch_size", "sampling", "momentum", "l2")},
    "early_stopping": boolean(),
    # Unlike data.validation_fraction, 0 is not allowed: the estimator holds data out only
    # for early stopping, which needs some.
    "validation_fraction": number(0, 1, closed="neither"),
    "standardize": DataConfig.RULES["standardize"],
    "patience": EarlyStopping.RULES["patience"],
    "warm_start": boolean(),
    "engine": SGDSettings.RULES["engine"],
}
"""The type and range of every parameter that is a setting: the settings' own rules."""


def _constraint(rule: Rule) -> list:
    """One settings rule as scikit-learn's parameter constraint list."""
    kinds = {"integer": Integral, "number": Real}
    if rule.kind in kinds:
        found = [Interval(kinds[rule.kind], rule.low, rule.high, closed=rule.closed)]
    elif rule.kind == "choice":
        # A dict's keys stay a live view (a transfer registered later counts).
        options = rule.choices if isinstance(rule.choices, AbstractSet) else set(rule.choices)
        found = [StrOptions(options)]
    elif rule.kind == "boolean":
        found = ["boolean"]
    else:
        found = [rule.cls]
    if isinstance(rule, PerLayer):  # its elements are checked when the config is made
        found += [list, tuple]
    return found + ([None] if rule.optional else [])


CONSTRAINTS = {
    **{name: _constraint(rule) for name, rule in RULES.items()},
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}
"""NNClassifier's ``_parameter_constraints``, derived from :data:`RULES`."""

_SCHEDULE_KEYS = ("name", "eta0")


def schedule_spec(schedule: str, eta0: float, schedule_params: Mapping | None) -> dict:
    """The ``train.schedule`` mapping of these parameters, checked now.

    Raises
    ------
    ConfigError
        Naming the three parameters, for a schedule :func:`~nnclf.schedules.make_schedule`
        refuses or a ``schedule_params`` that repeats ``name`` or ``eta0``.
    """
    own = dict(schedule_params or {})
    for key, where in zip(_SCHEDULE_KEYS, ("schedule", "eta0")):
        if key in own:
            raise ConfigError(f"schedule_params: {key!r} is set by the {where} parameter; "
                              "remove it from schedule_params")
    defaults = DEFAULT_SCHEDULE if schedule == DEFAULT_SCHEDULE["name"] else {}
    spec = {**defaults, "name": schedule, "eta0": eta0, **own}
    try:
        make_schedule(spec)
    except ConfigError as e:  # e.problem follows the name "schedule": ": step: ..."
        raise ConfigError(f"{e.problem} (schedule_params holds the schedule's parameters "
                          "besides eta0)", name=f"schedule={schedule!r} with eta0={eta0!r} "
                          f"and schedule_params={schedule_params!r}") from None
    return spec


def to_config(params: Mapping, steps: int | None = None) -> Config:
    """The config the estimator's parameters describe.

    Parameters
    ----------
    params : mapping
        ``NNClassifier.get_params()``.
    steps : int, optional
        T, in place of the parameters' ``epochs`` and ``steps`` (the estimator counts its
        own steps when it continues a fit).
    """
    if params["epochs"] is None and params["steps"] is None:
        raise ConfigError("epochs and steps are both None; give epochs (passes over the "
                          "data) or steps (SGD updates) to say how long to train")
    length = ({"epochs": None, "steps": steps} if steps is not None
              else {"epochs": params["epochs"], "steps": params["steps"]})
    train = SGDSettings(
        **length, batch_size=params["batch_size"], sampling=params["sampling"],
        schedule=schedule_spec(params["schedule"], params["eta0"], params["schedule_params"]),
        momentum=params["momentum"], l2=params["l2"],
        early_stopping=(EarlyStopping(patience=params["patience"])
                        if params["early_stopping"] else None),
        engine=params["engine"],
    )
    seed = params["random_state"]
    return Config(
        seed=int(seed) if isinstance(seed, Integral) else 0,
        data=DataConfig(validation_fraction=params["validation_fraction"],
                        standardize=params["standardize"]),
        model=ModelConfig(params["hidden_units"], params["transfer"], params["init"],
                          dtype=params["dtype"]),
        train=train,
    )


def check_same_network(hidden_units, transfer, network) -> None:
    """A ConfigError unless ``hidden_units`` and ``transfer`` describe ``network``'s layers
    (100 and (100,), "tanh" and ["tanh"] are the same network): a fit that continues
    (warm_start, partial_fit) cannot change them."""
    mine = ModelConfig(hidden_units, transfer)
    for name, given, now, before, shown in (
            ("hidden_units", hidden_units, mine.layers, network.layers, network.n_hidden),
            ("transfer", transfer, mine.transfers, network.transfers, network.transfer)):
        if now != before:
            raise ConfigError(
                f"{name} is {given!r} but the fitted network has {shown!r}, so training "
                "cannot continue; set warm_start=False (and call fit) to start afresh")


def params_record(params: Mapping) -> dict:
    """The parameters as :meth:`NNClassifier.save` records them (JSON-able: a RandomState
    instance becomes None)."""
    record = dict(params)
    if not (record["random_state"] is None or isinstance(record["random_state"], Integral)):
        record["random_state"] = None
    return record


def params_from_record(config, hidden_units, transfer,
                       constraints: Mapping[str, list]) -> dict:
    """The estimator parameters a model file's ``config`` records (only the valid ones).

    ``hidden_units`` and ``transfer`` are the network's own; ``constraints`` is the
    estimator's scikit-learn table of valid values, by parameter.
    """
    config = config if isinstance(config, Mapping) else {}
    by_name = bool(config) and set(config) <= set(DEFAULTS)
    found = dict(config) if by_name else _params_from_run_config(config)
    found.update(hidden_units=hidden_units, transfer=transfer)
    return {k: v for k, v in found.items() if k in constraints and _is_valid(constraints, k, v)}


def _is_valid(constraints: Mapping[str, list], name: str, value) -> bool:
    try:
        validate_parameter_constraints({name: constraints[name]}, {name: value},
                                       caller_name="NNClassifier")
    except InvalidParameterError:
        return False
    return True


def _params_from_run_config(config: Mapping) -> dict:
    """Parameters from the config of an ``nnclf train`` run (see the module docstring)."""
    def section(name) -> Mapping:
        part = config.get(name)
        return part if isinstance(part, Mapping) else {}

    found = {**section("model"), **section("train")}
    schedule = found.pop("schedule", None)
    if isinstance(schedule, Mapping) and "name" in schedule:
        found.update(schedule=schedule["name"],
                     schedule_params={k: v for k, v in schedule.items() if k not in _SCHEDULE_KEYS})
        if "eta0" in schedule:
            found["eta0"] = schedule["eta0"]
    elif isinstance(schedule, str):
        found["schedule"] = schedule
    rule = found.pop("early_stopping", None)
    found["early_stopping"] = isinstance(rule, Mapping) or rule is True
    if isinstance(rule, Mapping) and "patience" in rule:
        found["patience"] = rule["patience"]
    for key in ("validation_fraction", "standardize"):
        if key in section("data"):
            found[key] = section("data")[key]
    if "seed" in config:
        found["random_state"] = config["seed"]
    return found
