"""NNClassifier's parameters <-> an nnclf config: the one mapping between them.

Contract
--------
:class:`nnclf.NNClassifier` takes the ``model`` and ``train`` settings of a config as flat
keyword parameters, with the same names and defaults (:data:`DEFAULTS`, read from
:mod:`nnclf.config.settings`), except:

- ``schedule`` (a name), ``eta0`` and ``schedule_params`` (the schedule's other parameters)
  for the config's ``train.schedule`` mapping {name, eta0, ...}; parameters left out come
  from :data:`nnclf.config.settings.DEFAULT_SCHEDULE` when the name is its name;
- ``optimizer`` (a name) and ``optimizer_params`` (its parameters, e.g. ``{"beta1": 0.8}``)
  for the config's ``train.optimizer`` mapping {name, ...}; parameters left out take their
  defaults (:data:`nnclf.training.optimizers.OPTIMIZERS`);
- ``early_stopping`` (a bool) and ``patience`` for ``train.early_stopping`` (null or
  {metric: val_loss, patience, ...});
- ``validation_fraction`` and ``standardize`` for ``data.validation_fraction`` and
  ``data.standardize`` (:func:`validation_split` holds the fraction out), ``missing`` and
  ``min_frequency`` for ``data.missing`` and ``data.min_frequency``,
  ``categorical_features`` for ``data.categorical`` ("from_dtype" is "auto", None is
  "none"; :func:`categorical_mask` resolves it against the columns of X), and
  ``random_state`` for ``seed`` (and the seeds of :func:`draw_seeds`);
- ``class_weight`` (``train.class_weight``, whose labels the estimator keeps as given) and
  ``callbacks`` (no setting) stay with the estimator, which computes the weights itself;
  a model file records callbacks as None.

:func:`to_config` maps parameters to a :class:`~nnclf.config.settings.Config` (what the estimator
trains with); :func:`params_from_record` maps a model file's ``config`` back to parameters,
whether the file was written by :meth:`NNClassifier.save` (the parameters by name,
:func:`params_record`) or by ``nnclf train`` (a whole config).
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    StrOptions,
    validate_parameter_constraints,
)

from nnclf.base.rules import PerLayer, Rule, boolean, choice, number
from nnclf.base.suggest import did_you_mean
from nnclf.config.settings import (
    DEFAULT_SCHEDULE,
    Config,
    DataConfig,
    EarlyStopping,
    ModelConfig,
    SGDSettings,
)
from nnclf.data.preprocessing import train_test_split_stratified
from nnclf.errors import ConfigError, DataError
from nnclf.training.optimizers import OPTIMIZERS, optimizer_spec
from nnclf.training.schedules import SCHEDULES, make_schedule
from nnclf.training.weights import check_class_weight

__all__ = [
    "DEFAULTS",
    "RULES",
    "CONSTRAINTS",
    "expected_failed_checks",
    "schedule_spec",
    "optimizer_settings",
    "to_config",
    "draw_seeds",
    "validation_split",
    "categorical_mask",
    "check_callbacks",
    "check_same_network",
    "params_record",
    "params_from_record",
]

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
    "optimizer": _TRAIN.optimizer["name"],
    "optimizer_params": None,
    "average": _TRAIN.average,
    "early_stopping": _TRAIN.early_stopping is not None,
    "validation_fraction": _DATA.validation_fraction,
    "standardize": _DATA.standardize,
    "categorical_features": "from_dtype",
    "missing": _DATA.missing,
    "min_frequency": _DATA.min_frequency,
    "patience": _STOP.patience,
    "random_state": None,
    "verbose": False,
    "warm_start": False,
    "engine": _TRAIN.engine,
    "class_weight": _TRAIN.class_weight,
    "callbacks": None,
}
"""Every estimator parameter and its default: the config's, read from the settings (but
``random_state``, which is scikit-learn's None where a config's ``seed`` is 0)."""

RULES: dict[str, Rule] = {
    **{name: ModelConfig.RULES[name] for name in ("hidden_units", "transfer", "init", "dtype")},
    "eta0": number(0, closed="neither"),
    "schedule": choice(SCHEDULES.keys(), "schedule"),
    "schedule_params": Rule("instance", cls=dict, optional=True),
    **{
        name: SGDSettings.RULES[name]
        for name in ("epochs", "steps", "batch_size", "sampling", "momentum", "l2", "average")
    },
    "optimizer": choice(OPTIMIZERS.keys(), "optimizer"),
    "optimizer_params": Rule("instance", cls=dict, optional=True),
    "early_stopping": boolean(),
    # Unlike data.validation_fraction, 0 is not allowed: the estimator holds data out only
    # for early stopping, which needs some.
    "validation_fraction": number(0, 1, closed="neither"),
    "standardize": DataConfig.RULES["standardize"],
    "categorical_features": Rule(
        "custom",
        optional=True,
        test=lambda value: _selection_kind(value) is not None,
        says="'from_dtype', None, or a list of column names, of column indices, or of "
        "booleans (a mask, one per column)",
    ),
    "missing": DataConfig.RULES["missing"],
    "min_frequency": DataConfig.RULES["min_frequency"],
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
    # The rule takes false and true too, which scikit-learn's integer interval does not.
    "average": ["boolean", Interval(Integral, 1, None, closed="left")],
    # The rule checks what an array-like holds (names, indices or booleans, not a mix).
    "categorical_features": [StrOptions({"from_dtype"}), "array-like", None],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
    "class_weight": [StrOptions({"balanced"}), dict, None],
    "callbacks": [list, tuple, None],
}
"""NNClassifier's ``_parameter_constraints``, derived from :data:`RULES`."""

_BY_DESIGN = {
    "check_sample_weight_equivalence_on_dense_data": "a weight changes how often an example is drawn, so fitting with integer weights "
    "and fitting on repeated rows use different random draws: equal in expectation only",
}
_SHUFFLE = dict.fromkeys(
    (
        "check_sample_weights_not_overwritten",
        "check_sample_weight_equivalence_on_dense_data",
        "check_classifiers_one_label_sample_weights",
        "check_class_weight_classifiers",
    ),
    "sampling='shuffle' refuses unequal weights: a permutation visits every example once",
)
_NO_PARTIAL_FIT = dict.fromkeys(
    (
        "check_fit_score_takes_y",
        "check_n_features_in_after_fitting",
        "check_estimators_partial_fit_n_features",
    ),
    "partial_fit refuses schedule='plateau' (no validation set) and class_weight='balanced' "
    "(it would count one batch's classes)",
)


def expected_failed_checks(estimator) -> dict[str, str]:
    """The scikit-learn estimator checks ``estimator`` (an NNClassifier) fails by design,
    each with its reason.

    Pass it to scikit-learn, which (from version 1.6) takes expected failures there rather
    than from an estimator's tags: ``check_estimator(clf, expected_failed_checks=
    expected_failed_checks(clf))`` or ``parametrize_with_checks([...],
    expected_failed_checks=expected_failed_checks)``.
    """
    params = estimator.get_params()
    failing = dict(_BY_DESIGN)
    if params["schedule"] == "plateau" or params["class_weight"] == "balanced":
        failing.update(_NO_PARTIAL_FIT)
    if params["sampling"] == "shuffle":
        failing.update(_SHUFFLE)
    return failing


_SCHEDULE_KEYS = ("name", "eta0")
_SEED_MAX = np.iinfo(np.int32).max


def schedule_spec(schedule: str, eta0: float, schedule_params: Mapping | None) -> dict:
    """The ``train.schedule`` mapping of these parameters, checked now.

    Raises
    ------
    ConfigError
        Naming the three parameters, for a schedule :func:`~nnclf.training.schedules.make_schedule`
        refuses or a ``schedule_params`` that repeats ``name`` or ``eta0``.
    """
    own = dict(schedule_params or {})
    for key, where in zip(_SCHEDULE_KEYS, ("schedule", "eta0")):
        if key in own:
            raise ConfigError(
                f"schedule_params: {key!r} is set by the {where} parameter; "
                "remove it from schedule_params"
            )
    defaults = DEFAULT_SCHEDULE if schedule == DEFAULT_SCHEDULE["name"] else {}
    spec = {**defaults, "name": schedule, "eta0": eta0, **own}
    try:
        make_schedule(spec)
    except ConfigError as e:  # e.problem follows the name "schedule": ": step: ..."
        raise ConfigError(
            f"{e.problem} (schedule_params holds the schedule's parameters besides eta0)",
            name=f"schedule={schedule!r} with eta0={eta0!r} "
            f"and schedule_params={schedule_params!r}",
        ) from None
    return spec


def optimizer_settings(optimizer: str, optimizer_params: Mapping | None) -> dict:
    """The ``train.optimizer`` mapping of these parameters, checked now.

    Raises
    ------
    ConfigError
        Naming ``optimizer_params`` (or the entry of it) at fault.
    """
    own = dict(optimizer_params or {})
    if "name" in own:
        raise ConfigError(
            "optimizer_params: 'name' is set by the optimizer parameter; "
            "remove it from optimizer_params"
        )
    try:
        return optimizer_spec({**own, "name": optimizer})
    except ConfigError as e:  # named "optimizer" or "optimizer.<parameter>"
        _, dot, key = e.name.partition(".")
        raise ConfigError(
            e.problem, name=f"optimizer_params[{key!r}]" if dot else "optimizer_params"
        ) from None


def to_config(params: Mapping, steps: int | None = None, partial: bool = False) -> Config:
    """The config the estimator's parameters describe.

    Parameters
    ----------
    params : mapping
        ``NNClassifier.get_params()``.
    steps : int, optional
        T, in place of the parameters' ``epochs`` and ``steps`` (the estimator counts its
        own steps when it continues a fit).
    partial : bool
        For ``partial_fit``, which refuses ``class_weight="balanced"`` (it would count the
        classes of one batch) and ``schedule="plateau"`` (it has no validation set).
    """
    _check_params(params, partial)
    length = (
        {"epochs": None, "steps": steps}
        if steps is not None
        else {"epochs": params["epochs"], "steps": params["steps"]}
    )
    train = SGDSettings(
        **length,
        batch_size=params["batch_size"],
        sampling=params["sampling"],
        schedule=schedule_spec(params["schedule"], params["eta0"], params["schedule_params"]),
        momentum=params["momentum"],
        l2=params["l2"],
        optimizer=optimizer_settings(params["optimizer"], params["optimizer_params"]),
        average=params["average"],
        early_stopping=(
            EarlyStopping(patience=params["patience"]) if params["early_stopping"] else None
        ),
        engine=params["engine"],
    )
    seed = params["random_state"]
    return Config(
        seed=int(seed) if isinstance(seed, Integral) else 0,
        data=DataConfig(
            validation_fraction=params["validation_fraction"],
            standardize=params["standardize"],
            categorical=_data_categorical(params["categorical_features"]),
            missing=params["missing"],
            min_frequency=params["min_frequency"],
        ),
        model=ModelConfig(
            params["hidden_units"], params["transfer"], params["init"], dtype=params["dtype"]
        ),
        train=train,
    )


def _check_params(params: Mapping, partial: bool) -> None:
    """Refuse what scikit-learn's constraints cannot: the rules' own checks, the settings
    ``partial_fit`` cannot honour, and a fit of no length."""
    for name, rule in RULES.items():  # what scikit-learn's constraints cannot say (no bools)
        problem = rule.problem(params[name])
        if problem is not None:
            raise ConfigError(problem, name=name)
    if partial and params["class_weight"] == "balanced":
        raise ConfigError(
            "partial_fit: class_weight='balanced' would count the classes of "
            "this batch only; pass compute_class_weight('balanced', classes="
            "classes, y=y_all) as a dict, or use fit"
        )
    if partial and params["schedule"] == "plateau":
        raise ConfigError(
            "partial_fit: schedule='plateau' needs a validation loss, which "
            "partial_fit does not hold out; use fit or another schedule"
        )
    if params["epochs"] is None and params["steps"] is None:
        raise ConfigError(
            "epochs and steps are both None; give epochs (passes over the "
            "data) or steps (SGD updates) to say how long to train"
        )


def draw_seeds(random_state) -> dict[str, int]:
    """Independent integer seeds for the initial weights, the sampler and the split, drawn
    from ``random_state`` (an int, a RandomState or None, as scikit-learn takes it)."""
    rng = check_random_state(random_state)
    init, sgd, split = (int(s) for s in rng.randint(_SEED_MAX, size=3))
    return {"init": init, "sgd": sgd, "split": split}


def validation_split(params: Mapping, X, y, w, seed: int) -> tuple:
    """(X, y, w) to train on and (X_val, y_val), both None when nothing is held out.

    ``validation_fraction`` of the examples (stratified by y, seeded with ``seed``) is held
    out when ``early_stopping`` or ``schedule="plateau"`` needs a validation loss; the
    weights w (or None) follow their examples.
    """
    if not (params["early_stopping"] or params["schedule"] == "plateau"):
        return X, y, w, None, None
    why = "early_stopping=True" if params["early_stopping"] else "schedule='plateau'"
    try:
        rows, val_rows, y, y_val = train_test_split_stratified(
            np.arange(len(y)), y, params["validation_fraction"], seed
        )
    except DataError as e:
        raise e.renamed(f"validation_fraction ({why})") from None
    return X[rows], y, None if w is None else w[rows], X[val_rows], y_val


def _selection_kind(value) -> str | None:
    """What a ``categorical_features`` value is: "from_dtype", "none", "names", "indices",
    "mask" (an empty list selects nothing: "names"), or None when it is none of them."""
    if value is None or (isinstance(value, str) and value == "from_dtype"):
        return "none" if value is None else "from_dtype"
    if not isinstance(value, (list, tuple, np.ndarray)) or np.ndim(value) != 1:
        return None
    items = value.tolist() if isinstance(value, np.ndarray) else list(value)
    kinds = {_item_kind(v) for v in items}
    if not kinds:
        return "names"  # nothing is categorical
    return next(iter(kinds)) if len(kinds) == 1 else None


def _item_kind(v) -> str | None:
    if isinstance(v, (bool, np.bool_)):
        return "mask"
    if isinstance(v, Integral):
        return "indices"
    return "names" if isinstance(v, str) else None


def categorical_mask(categorical_features, names, from_dtype: np.ndarray, named: bool):
    """Which of the columns ``names`` of X ``categorical_features`` declares categorical, as
    a bool array of shape (d,).

    ``from_dtype`` is the answer of "from_dtype" (a DataFrame's category and text columns;
    none for an array); ``named``: X has column names (a DataFrame's), which a list of names
    needs. A name X lacks, an index out of range or a mask of the wrong length is a
    ConfigError naming ``categorical_features``.
    """
    kind, d = _selection_kind(categorical_features), len(names)
    if kind in ("from_dtype", "none"):
        return np.asarray(from_dtype, dtype=bool) if kind == "from_dtype" else np.zeros(d, bool)
    chosen = list(np.asarray(categorical_features).tolist())
    mask = np.zeros(d, dtype=bool)
    if kind == "mask":
        if len(chosen) != d:
            raise ConfigError(
                f" is a mask of {len(chosen)} booleans but X has {d} columns; give one per column",
                name="categorical_features",
            )
        return np.asarray(chosen, dtype=bool)
    if kind == "indices":
        wrong = [j for j in chosen if not 0 <= j < d]
        if wrong:
            raise ConfigError(
                f": column index {wrong[0]} is out of range for X's {d} columns (0 to "
                f"{d - 1}); give indices of columns of X",
                name="categorical_features",
            )
        mask[chosen] = True
        return mask
    return _named_mask(chosen, names, named)


def _named_mask(chosen: list, names, named: bool) -> np.ndarray:
    if chosen and not named:
        raise ConfigError(
            f" names columns ({chosen[0]!r}) but X has no column names; pass a DataFrame, "
            "or give column indices or a boolean mask",
            name="categorical_features",
        )
    lookup = {name: j for j, name in enumerate(names)}
    for name in chosen:
        if name not in lookup:
            shown_names = ", ".join(map(repr, list(names)[:8])) + (
                ", ..." if len(names) > 8 else ""
            )
            raise ConfigError(
                f": X has no column {name!r}{did_you_mean(name, list(names))}; its columns are "
                f"{shown_names}",
                name="categorical_features",
            )
    mask = np.zeros(len(names), dtype=bool)
    mask[[lookup[name] for name in chosen]] = True
    return mask


def _data_categorical(categorical_features):
    """``categorical_features`` as a config's ``data.categorical`` says it ("auto" for
    "from_dtype" and for indices or a mask, which only the estimator resolves)."""
    kind = _selection_kind(categorical_features)
    if kind == "names":
        return list(categorical_features)
    return "none" if kind == "none" else "auto"


def _estimator_categorical(categorical):
    """A config's ``data.categorical`` as ``categorical_features`` (see :func:`_data_categorical`)."""
    if isinstance(categorical, str):
        return {"auto": "from_dtype", "none": None}.get(categorical, categorical)
    return categorical


def check_callbacks(callbacks) -> tuple:
    """The ``callbacks`` parameter as a tuple; a ConfigError names one that is not callable."""
    for i, callback in enumerate(callbacks or ()):
        if not callable(callback):
            raise ConfigError(
                f"callbacks[{i}] is {callback!r}, which is not callable; give "
                "functions callback(history)"
            )
    return tuple(callbacks or ())


def check_same_network(hidden_units, transfer, network, dtype="float64") -> None:
    """A ConfigError unless ``hidden_units``, ``transfer`` and ``dtype`` describe
    ``network`` (100 and (100,), "tanh" and ["tanh"] are the same network): a fit that
    continues (warm_start, partial_fit) cannot change them."""
    mine = ModelConfig(hidden_units, transfer, dtype=dtype)
    fitted = np.dtype(network.dtype).name
    for name, given, now, before, shown in (
        ("hidden_units", hidden_units, mine.layers, network.layers, network.n_hidden),
        ("transfer", transfer, mine.transfers, network.transfers, network.transfer),
        ("dtype", dtype, mine.dtype, fitted, fitted),
    ):
        if now != before:
            raise ConfigError(
                f"{name} is {given!r} but the fitted network has {shown!r}, so training "
                "cannot continue; set warm_start=False (and call fit) to start afresh"
            )


def params_record(params: Mapping) -> dict:
    """The parameters as :meth:`NNClassifier.save` records them (JSON-able: a RandomState
    instance becomes None, as do callbacks; class_weight's labels become text)."""
    record = dict(params, callbacks=None)
    if not (record["random_state"] is None or isinstance(record["random_state"], Integral)):
        record["random_state"] = None
    if isinstance(record.get("class_weight"), Mapping):
        record["class_weight"] = check_class_weight(record["class_weight"], text_keys=True)
    if _selection_kind(record.get("categorical_features")) in ("names", "indices", "mask"):
        record["categorical_features"] = np.asarray(record["categorical_features"]).tolist()
    return record


def params_from_record(config, hidden_units, transfer, constraints: Mapping[str, list]) -> dict:
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
        validate_parameter_constraints(
            {name: constraints[name]}, {name: value}, caller_name="NNClassifier"
        )
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
        found.update(
            schedule=schedule["name"],
            schedule_params={k: v for k, v in schedule.items() if k not in _SCHEDULE_KEYS},
        )
        if "eta0" in schedule:
            found["eta0"] = schedule["eta0"]
    elif isinstance(schedule, str):
        found["schedule"] = schedule
    optimizer = found.pop("optimizer", None)
    if isinstance(optimizer, Mapping) and "name" in optimizer:
        found.update(
            optimizer=optimizer["name"],
            optimizer_params={k: v for k, v in optimizer.items() if k != "name"} or None,
        )
    rule = found.pop("early_stopping", None)
    found["early_stopping"] = isinstance(rule, Mapping) or rule is True
    if isinstance(rule, Mapping) and "patience" in rule:
        found["patience"] = rule["patience"]
    for key in ("validation_fraction", "standardize", "missing", "min_frequency"):
        if key in section("data"):
            found[key] = section("data")[key]
    if "categorical" in section("data"):
        found["categorical_features"] = _estimator_categorical(section("data")["categorical"])
    if "seed" in config:
        found["random_state"] = config["seed"]
    return found
