"""nnclf.base.rules: one Rule per setting, parameter and file field, checked by one function.

Independent references: the messages and ranges written out by hand here; the config loader
and the estimator's scikit-learn constraints, which must agree with the Rule of each setting
on every value (a property test).
"""

from __future__ import annotations

import numpy as np
import pytest

from nnclf.base.rules import FIELD_KINDS, Rule, check_fields, integer, number, shown
from nnclf.config.load import config_from_dict
from nnclf.config.settings import DataConfig, ModelConfig, SGDSettings
from nnclf.errors import ConfigError
from nnclf.estimator import params as estimator_params
from nnclf.graph.network import Network
from nnclf.training.optimizers import optimizer_spec
from nnclf.training.schedules import make_schedule

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

# ----------------------------------------------------------------------------- the Rule


@pytest.mark.parametrize(
    "rule, value, problem",
    [
        (integer(1), 0, " must be an integer >= 1, got 0"),
        (integer(1), 2**63, " must be an integer >= 1, got 9223372036854775808"),
        (integer(1), 10**400, " must be an integer >= 1, got an integer of about 401 digits"),
        (number(0, 1), 10**400, " must be a number in [0, 1), got an integer of about 401 digits"),
        (number(0), float("nan"), " must be a number >= 0, got nan"),
        (number(0, closed="neither", stepwise=True), 0, " must be > 0, got 0"),
        (
            number(0, stepwise=True),
            "2e4",
            " must be a number, got '2e4' (text, since it is in "
            "quotes; write the number without them)",
        ),
        (number(0, stepwise=True), float("inf"), " must be finite, got inf"),
        (integer(1, stepwise=True), 2.5, " must be an integer >= 1, got 2.5"),
        (
            Rule("integer", 0, strict=True),
            np.int64(3),
            " must be an integer >= 0, got np.int64(3)"
            if np.__version__ >= "2"
            else " must be an integer >= 0, got 3",
        ),
        (Rule("integer", 0, strict=True), True, " must be an integer >= 0, got True"),
    ],
)
def test_a_rule_words_what_is_wrong(rule, value, problem):
    assert rule.problem(value) == problem


def test_stepwise_integers_take_whole_floats():
    assert integer(1, stepwise=True).problem(1e3) is None
    assert (
        make_schedule({"name": "step", "eta0": 0.1, "factor": 0.5, "every": 1e3}).params["every"]
        == 1000
    )


def test_shown_cuts_long_values_and_huge_integers():
    assert shown("x" * 100) == repr("x" * 100)[:57] + "..."
    assert shown(10**5000) == "an integer of about 5001 digits"
    assert shown(-(10**70)) == "an integer of about 71 digits"


def test_file_fields_are_rules():
    assert all(isinstance(rule, Rule) for rule in FIELD_KINDS.values())
    assert FIELD_KINDS["int>=0"].problem(2**63) is not None  # beyond int64
    assert FIELD_KINDS["labels"].problem([10**400, 1]) is not None  # no OverflowError
    assert FIELD_KINDS["float"].problem(float("nan")) is None  # a loss may be NaN
    assert FIELD_KINDS["sizes"].problem([]) is not None


def test_check_fields_names_the_field_and_shows_a_huge_value_briefly():
    with pytest.raises(ValueError) as info:
        check_fields({"t": 10**400}, {"t": "int>=0"}, ValueError)
    assert str(info.value) == (
        "its 't' is an integer of about 401 digits, not an integer >= 0; "
        "the file was edited or damaged: use the file nnclf wrote"
    )


def test_optimizer_and_network_use_rules():
    with pytest.raises(ConfigError, match=r"^optimizer.beta1 must be a number in \[0, 1\), got 1$"):
        optimizer_spec({"name": "adam", "beta1": 1})
    with pytest.raises(
        ConfigError,
        match="^optimizer.epsilon must be a number > 0, got an integer of about 401 digits$",
    ):
        optimizer_spec({"name": "adam", "epsilon": 10**400})
    with pytest.raises(ConfigError, match=r"^n_features must be a positive integer, got True$"):
        Network(True, 3, 2)


# ----------------------------------------------------------------------------- one rule, three checkers

# (section, setting) whose Rule must decide alone: no other setting of the default config
# constrains them (epochs and steps, momentum and nesterov, ... do, and are tested elsewhere).
SETTINGS_CHECKED = [
    ("model", "hidden_units", ModelConfig.RULES),
    ("model", "init", ModelConfig.RULES),
    ("model", "init_scale", ModelConfig.RULES),
    ("model", "dtype", ModelConfig.RULES),
    ("train", "epochs", SGDSettings.RULES),
    ("train", "batch_size", SGDSettings.RULES),
    ("train", "sampling", SGDSettings.RULES),
    ("train", "momentum", SGDSettings.RULES),
    ("train", "l2", SGDSettings.RULES),
    ("train", "clip_norm", SGDSettings.RULES),
    ("train", "eval_every", SGDSettings.RULES),
    ("train", "engine", SGDSettings.RULES),
    ("data", "test_fraction", DataConfig.RULES),
    ("data", "standardize", DataConfig.RULES),
]

VALUES = st.one_of(
    st.integers(-3, 300),
    st.integers(2**62, 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(0, 1.5),
    st.booleans(),
    st.none(),
    st.sampled_from(["uniform", "shuffle", "xavier", "float32", "numpy", "tanh", "", "5"]),
    st.lists(st.integers(0, 5), max_size=3),
)


@given(which=st.sampled_from(SETTINGS_CHECKED), value=VALUES)
def test_the_loader_agrees_with_the_rule(which, value):
    section, name, rules = which
    if name == "epochs" and value is None:
        return  # epochs or steps must be given: a check across settings
    problem = rules[name].problem(value)
    raw = {section: {name: value}}
    if problem is None:
        config_from_dict(raw)
    else:
        with pytest.raises(ConfigError) as info:
            config_from_dict(raw)
        assert str(info.value).startswith(f"{section}.{name}")


@given(name=st.sampled_from(sorted(set(estimator_params.RULES) - {"eta0"})), value=VALUES)
def test_the_estimator_agrees_with_the_rule(name, value):
    from nnclf import NNClassifier

    rule = estimator_params.RULES[name]
    if name in ("epochs", "steps") and value is None:
        return  # one of the two must be given: a check across parameters
    clf = NNClassifier(**{name: value})
    params = clf.get_params()
    if name == "steps" and value is not None:
        params["epochs"] = None
    if name in ("schedule_params", "optimizer_params"):
        return  # their entries are the schedule's and the optimizer's rules
    try:
        clf._validate_params()
        estimator_params.to_config(params)
    except ValueError as e:
        assert rule.problem(value) is not None, f"{name}={value!r} refused: {e}"
        assert name in str(e)
    else:
        assert rule.problem(value) is None, f"{name}={value!r} accepted"


# ----------------------------------------------------------------------------- schedule names


def test_a_new_schedule_name_keeps_the_parameters_it_takes(tmp_path):
    from nnclf.config.load import load_config

    path = tmp_path / "c.yaml"
    path.write_text("train: {schedule: {name: inverse_time, eta0: 0.2, tau: 50, warmup: 3}}\n")
    notes = []
    cfg = load_config(path, ["train.schedule.name=constant"], notify=notes.append)
    assert cfg.train.schedule == {"name": "constant", "eta0": 0.2, "warmup": 3}
    assert notes == [
        "--set train.schedule.name=constant: constant takes no tau, so it was dropped; "
        "kept eta0, warmup"
    ]
    notes.clear()
    cfg = load_config(path, ["train.schedule.name=inverse_time"], notify=notes.append)
    assert cfg.train.schedule["tau"] == 50 and notes == []
    cfg = load_config(
        path,
        ["train.schedule.name=step", "train.schedule.factor=0.5", "train.schedule.every=10"],
    )
    assert cfg.train.schedule == {
        "name": "step",
        "eta0": 0.2,
        "factor": 0.5,
        "every": 10,
        "warmup": 3,
    }
    with pytest.raises(ConfigError, match="unknown schedule 'constnt'"):
        load_config(path, ["train.schedule.name=constnt"])


# ----------------------------------------------------------------------------- the command line


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["graph", "{config}", "--set", "train.epochs=1" + "0" * 400],
            "nnclf: error: train.epochs must be an integer >= 1 or null, got an integer of about 401 "
            "digits\n",
        ),
        (
            ["info", "{model}"],
            "nnclf: error: model file '{model}': has an integer of 5001 digits in its "
            "metadata; the file was edited or damaged: use the file nnclf wrote\n",
        ),
        (
            ["sweep", "{sweep}", "--out", "{tmp}/out"],
            "nnclf: error: {sweep}: random.train.l2: uniform high must be a finite number in "
            "[-1e300, 1e300], got inf\n",
        ),
    ],
)
def test_no_traceback_but_one_line_and_exit_2(tmp_path, args, message):
    import subprocess

    from nnclf.export.trained import TrainedModel

    config = tmp_path / "c.yaml"
    config.write_text("model: {hidden_units: 3}\n")
    model = TrainedModel(Network(3, 4, 2, seed=1), np.array([10, 20])).save(tmp_path / "m.npz")
    with np.load(model) as z:
        arrays = {k: z[k] for k in z.files}
    text = str(arrays.pop("metadata")).replace(
        '"classes": [10, 20]', f'"classes": [1{"0" * 5000}, 2]'
    )
    np.savez(model, **arrays, metadata=np.array(text))
    sweep = tmp_path / "s.yaml"
    sweep.write_text(f"base: {config}\nrandom: {{n: 2, train.l2: {{uniform: [0.01, .inf]}}}}\n")
    where = {"config": config, "model": model, "sweep": sweep, "tmp": tmp_path}
    done = subprocess.run(
        ["nnclf", *(a.format(**where) for a in args)], capture_output=True, text=True
    )
    assert (done.returncode, done.stdout, done.stderr) == (2, "", message.format(**where))
