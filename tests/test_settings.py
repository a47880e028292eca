"""Tests for nnclf.config.settings: one rule table per settings dataclass, one check, named errors."""

import dataclasses
import math

import numpy as np
import pytest

import nnclf.graph as F
from nnclf.base.rules import as_dict, boolean, choice, integer, number, text
from nnclf.config.settings import (
    Config,
    DataConfig,
    EarlyStopping,
    ModelConfig,
    OutputConfig,
    SGDSettings,
    TrackConfig,
)
from nnclf.errors import ConfigError

SECTIONS = (DataConfig, ModelConfig, SGDSettings, EarlyStopping, OutputConfig, TrackConfig, Config)


@pytest.mark.parametrize("cls", SECTIONS)
def test_every_field_has_exactly_one_rule(cls):
    assert set(cls.RULES) == {f.name for f in dataclasses.fields(cls)} - {"schedule"}


@pytest.mark.parametrize("cls", SECTIONS)
def test_the_defaults_pass_their_own_rules(cls):
    cls()


@pytest.mark.parametrize(
    "rule, valid, invalid, says",
    [
        (integer(1), [1, 7, np.int64(3)], [0, -2, 2.5, True, "3", None], "an integer >= 1"),
        (integer(1, optional=True), [None, 4], [0], "an integer >= 1 or null"),
        (integer(0, 10), [0, 9], [10, -1], "an integer in [0, 10)"),
        (
            number(0, 1),
            [0, 0.5, np.float32(0.25)],
            [1, -0.1, math.nan, False],
            "a number in [0, 1)",
        ),
        (number(0, closed="neither"), [1e-9, 3], [0, -1, math.inf], "a number > 0"),
        (number(0, 1, closed="both"), [0, 1], [1.01], "a number in [0, 1]"),
        (number(0), [0, 2.5], [-1e-12, math.inf, math.nan], "a number >= 0"),
        (boolean(), [True, False, np.bool_(True)], [0, 1, "yes", None], "true or false"),
        (text("a directory path"), ["runs/x"], ["", "  ", 3, None], "a directory path"),
    ],
)
def test_rules_accept_exactly_their_range(rule, valid, invalid, says):
    # The ranges are spelled out by hand here, independently of the rule's own code.
    assert rule.describe() == says
    for value in valid:
        assert rule.problem(value) is None, value
    for value in invalid:
        assert rule.problem(value) == f" must be {says}, got {value!r}", value


def test_a_choice_names_the_unknown_value_and_suggests_the_nearest():
    rule = choice(("uniform", "shuffle"), "sampling")
    assert rule.problem("shuffle") is None
    assert rule.problem("shufle") == (
        ": unknown sampling 'shufle' (did you mean 'shuffle'?); choose one of uniform, shuffle"
    )
    assert rule.problem(["uniform"]) == " must be a string, got ['uniform']"


def test_the_transfer_rule_sees_functions_registered_later():
    name = "test_settings_cube"
    assert ModelConfig.RULES["transfer"].problem(name) is not None
    F.register_transfer(
        F.elementwise(
            name,
            lambda z, out=None: np.power(z, 3, out=out),
            lambda z, h, out=None: np.multiply(3 * z, z, out=out),
        )
    )
    try:
        assert ModelConfig(transfer=name).transfer == name
    finally:
        del F.TRANSFERS[name]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(batch_size=0), "batch_size must be an integer >= 1, got 0"),
        (dict(momentum=1.5), "momentum must be a number in [0, 1), got 1.5"),
        (dict(momentum=-0.1), "momentum must be a number in [0, 1), got -0.1"),
        (
            dict(sampling="random"),
            "sampling: unknown sampling 'random'; choose one of uniform, shuffle",
        ),
        (dict(epochs=0), "epochs must be an integer >= 1 or null, got 0"),
        (dict(steps=-1), "steps must be an integer >= 1 or null, got -1"),
        (dict(epochs=None, steps=None), "epochs or steps must be given (how long to train)"),
        (dict(nesterov=True), "nesterov needs momentum > 0"),
        (dict(l2=-1.0), "l2 must be a number in [0, 1], got -1.0"),
        (dict(l2=math.inf), "l2 must be a number in [0, 1], got inf"),
        (dict(l2=1e300), "l2 must be a number in [0, 1], got 1e+300"),
        (dict(l2=1.0000001), "l2 must be a number in [0, 1], got 1.0000001"),
        (dict(clip_norm=-1.5), "clip_norm must be a number > 0 or null, got -1.5"),
        (dict(clip_norm=math.inf), "clip_norm must be a number > 0 or null, got inf"),
        (
            dict(steps=10, epochs=None, schedule={"name": "constant", "eta0": 0.1, "warmup": 11}),
            "schedule.warmup is 11 steps but training is 10 steps; make warmup at most 10 or train "
            "longer (train.steps)",
        ),
        (dict(clip_norm=0), "clip_norm must be a number > 0 or null, got 0"),
        (dict(eval_every=0), "eval_every must be an integer >= 1 or null, got 0"),
        (
            dict(early_stopping={"metric": "val_loss"}),
            "early_stopping must be an EarlyStopping or null, got {'metric': 'val_loss'}",
        ),
        (
            dict(schedule={"name": "constnt", "eta0": 0.1}),
            "schedule: unknown schedule 'constnt' "
            "(did you mean 'constant'?); valid choices: constant, inverse_time, invscaling, step, "
            "exponential, cosine, plateau",
        ),
        (
            dict(schedule={"name": "constant", "eta0": -1}),
            "schedule: constant: eta0 must be > 0, got -1",
        ),
        (
            dict(schedule={"name": "inverse_time", "eta0": 0.1}),
            "schedule: inverse_time: missing required parameter 'tau'; required: eta0, tau",
        ),
    ],
)
def test_bad_sgd_settings_name_their_own_field(kwargs, message):
    with pytest.raises(ConfigError) as caught:
        SGDSettings(**kwargs)
    assert str(caught.value) == message
    assert str(caught.value.within("train")) == "train." + message


@pytest.mark.parametrize(
    "cls, kwargs, message",
    [
        (
            EarlyStopping,
            dict(metric="accuracy"),
            "metric: unknown metric 'accuracy' (did you mean "
            "'val_accuracy'?); "
            "choose one of val_loss, val_accuracy, train_loss",
        ),
        (EarlyStopping, dict(patience=0), "patience must be an integer >= 1, got 0"),
        (EarlyStopping, dict(min_delta=-1), "min_delta must be a number >= 0, got -1"),
        (DataConfig, dict(test_fraction=1), "test_fraction must be a number in [0, 1), got 1"),
        (DataConfig, dict(n_classes=1), "n_classes must be an integer >= 2, got 1"),
        (
            DataConfig,
            dict(encoding="utf-9"),
            "encoding: unknown text encoding 'utf-9'; give one "
            "Python knows, e.g. utf-8, latin-1 or cp1252",
        ),
        (
            DataConfig,
            dict(encoding=""),
            "encoding must be a text encoding such as utf-8 or latin-1, got ''",
        ),
        (
            DataConfig,
            dict(target=""),
            "target must be a column name (or null for the last column), got ''",
        ),
        (
            ModelConfig,
            dict(init="glorot"),
            "init: unknown initialisation 'glorot'; choose one of xavier, he, normal",
        ),
        (ModelConfig, dict(init_scale=0.0), "init_scale must be a number in (0, 100], got 0.0"),
        (
            ModelConfig,
            dict(init_scale=1e300),
            "init_scale must be a number in (0, 100], got 1e+300",
        ),
        (ModelConfig, dict(init_scale=100.5), "init_scale must be a number in (0, 100], got 100.5"),
        (Config, dict(seed=2**32), "seed must be an integer in [0, 2**32), got 4294967296"),
        (
            Config,
            dict(
                train=SGDSettings(early_stopping=EarlyStopping()),
                data=DataConfig(validation_fraction=0),
            ),
            "train.early_stopping.metric is val_loss, which needs a validation set; set "
            "data.validation_fraction > 0 or use metric: train_loss",
        ),
    ],
)
def test_bad_sections_name_their_own_field(cls, kwargs, message):
    with pytest.raises(ConfigError) as caught:
        cls(**kwargs)
    assert str(caught.value) == message


def test_the_schedule_is_kept_with_every_parameter_filled_in():
    settings = SGDSettings(schedule={"name": "constant", "eta0": 0.1})
    assert settings.schedule == {"name": "constant", "eta0": 0.1, "warmup": 0}
    assert settings == SGDSettings(schedule={"name": "constant", "eta0": 0.1, "warmup": 0})


def test_as_dict_is_plain_data_that_rebuilds_the_same_settings():
    settings = SGDSettings(early_stopping=EarlyStopping(patience=2), momentum=0.5)
    d = as_dict(settings)
    assert d["early_stopping"] == {
        "metric": "val_loss",
        "patience": 2,
        "min_delta": 0.0,
        "restore_best": True,
    }
    assert d["schedule"] == {"name": "inverse_time", "eta0": 0.05, "tau": 20000.0, "warmup": 0}
    rebuilt = SGDSettings(**{**d, "early_stopping": EarlyStopping(**d["early_stopping"])})
    assert rebuilt == settings


@pytest.mark.parametrize("l2", [0.0, 1e-4, 0.5, 1.0])
def test_honest_l2_values_are_kept(l2):
    assert SGDSettings(l2=l2).l2 == l2


@pytest.mark.parametrize("warmup, steps", [(0, 1), (10, 10), (5, 10)])
def test_a_warmup_as_long_as_training_is_allowed(warmup, steps):
    settings = SGDSettings(
        steps=steps, epochs=None, schedule={"name": "constant", "eta0": 0.1, "warmup": warmup}
    )
    settings.check_length(steps)


@pytest.mark.parametrize("warmup, T", [(11, 10), (2, 1), (10**9, 5)])
def test_a_warmup_longer_than_T_from_epochs_is_named_when_T_is_known(warmup, T):
    settings = SGDSettings(epochs=1, schedule={"name": "constant", "eta0": 0.1, "warmup": warmup})
    with pytest.raises(
        ConfigError,
        match=rf"^schedule.warmup is {warmup} steps but training is "
        rf"{T} steps; make warmup at most {T} or train longer \(train.epochs\)$",
    ):
        settings.check_length(T)
