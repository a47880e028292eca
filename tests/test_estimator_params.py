"""The one mapping between NNClassifier's parameters and an nnclf config."""

import numpy as np
import pytest

from nnclf import NNClassifier
from nnclf.config.load import config_to_dict
from nnclf.config.settings import DEFAULT_SCHEDULE, Config, EarlyStopping, ModelConfig, SGDSettings
from nnclf.estimator.params import (
    DEFAULTS,
    params_from_record,
    params_record,
    schedule_spec,
    to_config,
)

CONSTRAINTS = NNClassifier._parameter_constraints


def test_the_defaults_are_the_estimators_and_the_settings():
    assert NNClassifier().get_params() == DEFAULTS
    assert set(DEFAULTS) == set(CONSTRAINTS)
    cfg = to_config(DEFAULTS)
    assert cfg.model == ModelConfig()
    assert cfg.train == Config().train  # the same schedule, filled in, and everything else
    assert cfg.data.validation_fraction == 0.1 and cfg.seed == 0


def test_the_default_schedule_is_filled_in_from_the_settings_only_for_its_own_name():
    assert schedule_spec("inverse_time", 0.2, None) == {**DEFAULT_SCHEDULE, "eta0": 0.2}
    assert schedule_spec("inverse_time", 0.2, {"tau": 5}) == {
        "name": "inverse_time",
        "eta0": 0.2,
        "tau": 5,
    }
    assert schedule_spec("constant", 0.3, {"warmup": 4}) == {
        "name": "constant",
        "eta0": 0.3,
        "warmup": 4,
    }


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ("step", 0.1, None),
            r"^schedule='step' with eta0=0.1 and schedule_params=None: step: "
            r"missing required parameter 'factor', 'every'",
        ),
        (
            ("constant", 0.1, {"name": "x"}),
            r"schedule_params: 'name' is set by the schedule "
            r"parameter; remove it from schedule_params",
        ),
        (("constant", -1.0, None), r"eta0 must be > 0, got -1.0"),
    ],
)
def test_schedule_errors_name_the_parameters(args, message):
    with pytest.raises(ValueError, match=message):
        schedule_spec(*args)


def test_to_config_maps_every_training_parameter():
    params = dict(
        DEFAULTS,
        hidden_units=7,
        transfer="relu",
        init="he",
        eta0=0.3,
        schedule="step",
        schedule_params={"factor": 0.5, "every": 9},
        epochs=None,
        steps=123,
        batch_size=8,
        sampling="shuffle",
        momentum=0.4,
        l2=0.01,
        early_stopping=True,
        validation_fraction=0.3,
        patience=4,
        random_state=11,
    )
    cfg = to_config(params)
    assert cfg.seed == 11 and cfg.data.validation_fraction == 0.3
    assert cfg.model == ModelConfig(7, "relu", "he")
    assert cfg.train == SGDSettings(
        epochs=None,
        steps=123,
        batch_size=8,
        sampling="shuffle",
        momentum=0.4,
        l2=0.01,
        schedule={"name": "step", "eta0": 0.3, "factor": 0.5, "every": 9, "warmup": 0},
        early_stopping=EarlyStopping(patience=4),
    )
    assert to_config(params, steps=5).train.steps == 5
    with pytest.raises(ValueError, match="epochs and steps are both None"):
        to_config(dict(params, steps=None))


def test_an_nnclf_train_config_maps_back_to_the_same_parameters():
    params = dict(
        DEFAULTS,
        hidden_units=7,
        transfer="sigmoid",
        eta0=0.3,
        schedule="constant",
        schedule_params={"warmup": 3},
        epochs=4,
        batch_size=2,
        momentum=0.4,
        early_stopping=True,
        validation_fraction=0.3,
        patience=4,
        random_state=11,
    )
    record = config_to_dict(to_config(params))  # what `nnclf train` writes in a model file
    back = params_from_record(record, 7, "sigmoid", CONSTRAINTS)
    assert {k: back.get(k, DEFAULTS[k]) for k in DEFAULTS} == params


def test_a_record_saved_by_the_estimator_maps_back_and_drops_invalid_values():
    params = dict(DEFAULTS, epochs=3, random_state=np.random.RandomState(0))
    record = params_record(params)
    assert record["random_state"] is None  # a RandomState is not JSON
    assert params_from_record(record, 100, "tanh", CONSTRAINTS) == dict(params, random_state=None)
    # The network's own size wins; a value the estimator would refuse is left out.
    back = params_from_record(dict(record, momentum=3.0), 5, "relu", CONSTRAINTS)
    assert back["hidden_units"] == 5 and back["transfer"] == "relu" and "momentum" not in back


# Values a user might pass, by parameter: each is checked by scikit-learn's validation of the
# derived table and by the settings rule it comes from; the two must agree on every one.
# (Booleans are left out of the numbers: scikit-learn counts True as an integer, the settings
# do not, and to_config then refuses it.)
PROBES = {
    "hidden_units": [1, 100, 0, -3, 2.5, "10", None, np.int64(7)],
    "transfer": ["tanh", "relu", "softplus", "tanhh", "", 3, None],
    "init": ["xavier", "he", "normal", "glorot", None],
    "eta0": [0.1, 1, 0, -0.5, "0.1", None],
    "schedule": ["constant", "cosine", "linear", None, 1],
    "schedule_params": [None, {}, {"tau": 3}, [1], "tau"],
    "epochs": [None, 1, 50, 0, 1.5],
    "steps": [None, 1, 0, -1],
    "batch_size": [1, 32, 0, None, 2.0],
    "sampling": ["uniform", "shuffle", "random", None],
    "momentum": [0, 0.9, 0.999, 1, -0.1, None],
    "l2": [0, 1e-4, -1e-4, None],
    "early_stopping": [True, False, 0, "yes", None],
    "validation_fraction": [0.1, 0.5, 0, 1, None],
    "patience": [1, 5, 0, None, 2.5],
    "warm_start": [True, False, 1, None],
    "missing": ["impute", "error", "drop", None, 1],
    "min_frequency": [1, 5, 0, -1, 2.5, None],
}


@pytest.mark.parametrize("name", sorted(PROBES))
def test_the_estimators_constraints_accept_what_the_settings_rules_accept(name):
    from sklearn.utils._param_validation import (
        InvalidParameterError,
        validate_parameter_constraints,
    )

    from nnclf.estimator.params import RULES

    for value in PROBES[name]:
        try:
            validate_parameter_constraints(
                {name: CONSTRAINTS[name]}, {name: value}, caller_name="NNClassifier"
            )
            sklearn_ok = True
        except InvalidParameterError:
            sklearn_ok = False
        assert sklearn_ok == (RULES[name].problem(value) is None), (name, value)


def test_a_transfer_registered_after_import_is_a_valid_parameter():
    import nnclf.graph as F

    name = "test_params_cube"
    with pytest.raises(ValueError, match="transfer"):
        NNClassifier(transfer=name, epochs=1).fit(np.eye(2), [0, 1])
    F.register_transfer(
        F.elementwise(
            name,
            lambda z, out=None: np.power(z, 3, out=out),
            lambda z, h, out=None: np.multiply(3 * z, z, out=out),
        )
    )
    try:
        X = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [1.0, 1.0]])
        clf = NNClassifier(hidden_units=2, transfer=name, epochs=1, random_state=0)
        assert clf.fit(X, [0, 1, 0, 1]).network_.transfer == name
    finally:
        del F.TRANSFERS[name]


def test_a_validation_split_that_leaves_nothing_names_the_parameter():
    from nnclf.errors import DataError

    X, y = np.arange(8.0).reshape(4, 2), [0, 1, 0, 1]
    with pytest.raises(
        DataError,
        match=r"^validation_fraction \(early_stopping=True\): 0\.9 of 4 "
        r"examples leaves none for training",
    ):
        NNClassifier(early_stopping=True, validation_fraction=0.9, epochs=1).fit(X, y)


@pytest.mark.parametrize(
    "categorical_features, data_categorical, back",
    [
        ("from_dtype", "auto", "from_dtype"),
        (None, "none", None),
        (["island", "year"], ["island", "year"], ["island", "year"]),
        ([0, 3], "auto", "from_dtype"),  # indices only the estimator resolves
    ],
)
def test_the_table_parameters_are_the_data_settings(categorical_features, data_categorical, back):
    params = dict(
        DEFAULTS, categorical_features=categorical_features, missing="error", min_frequency=4
    )
    cfg = to_config(params)
    assert (cfg.data.categorical, cfg.data.missing, cfg.data.min_frequency) == (
        data_categorical,
        "error",
        4,
    )
    found = params_from_record(config_to_dict(cfg), 100, "tanh", CONSTRAINTS)
    assert (found["categorical_features"], found["missing"], found["min_frequency"]) == (
        back,
        "error",
        4,
    )


def test_a_mask_is_recorded_as_a_list():
    mask = np.array([True, False])
    record = params_record(dict(DEFAULTS, categorical_features=mask))
    assert record["categorical_features"] == [True, False]
    assert params_from_record(record, 100, "tanh", CONSTRAINTS)["categorical_features"] == [
        True,
        False,
    ]


@pytest.mark.parametrize(
    "value, valid",
    [
        ("from_dtype", True),
        (None, True),
        ([], True),
        (["a", "b"], True),
        ((0, 2), True),
        (np.array([1, 2]), True),
        (np.array([True, False]), True),
        ([True, 1], False),
        (["a", 0], False),
        ([1.5], False),
        ([[0, 1]], False),
        ("auto", False),
        (3, False),
    ],
)
def test_the_categorical_features_rule(value, valid):
    from nnclf.estimator.params import RULES

    assert (RULES["categorical_features"].problem(value) is None) == valid
