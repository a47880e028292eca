"""Tests for nnclf.config.load: defaults, the documented names, round trips, overrides, and the
text of every error a config can produce."""

import dataclasses
import textwrap
from pathlib import Path

import pytest
import yaml

from nnclf.config.load import (
    Config,
    DataConfig,
    ModelConfig,
    OutputConfig,
    config_from_dict,
    config_to_dict,
    dump_config,
    load_config,
)
from nnclf.errors import ConfigError
from nnclf.graph import TRANSFERS
from nnclf.training.trainer import EarlyStopping, SGDSettings

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"

ISSUE_EXAMPLE = """\
seed: 0
data:
  source: sklearn:digits        # sklearn:iris|digits|wine|breast_cancer, a .csv, a .npz, or synthetic
  target: label                 # CSV only: the label column (default: the last column)
  test_fraction: 0.2
  validation_fraction: 0.1
  standardize: true
model:
  hidden_units: 100             # m
  transfer: tanh                # g
  init: xavier
train:
  epochs: 20                    # or steps: T
  batch_size: 1
  sampling: uniform
  schedule: {name: inverse_time, eta0: 0.05, tau: 20000}
  momentum: 0.0
  l2: 0.0
  eval_every: null
  early_stopping: {metric: val_loss, patience: 5, min_delta: 0.0, restore_best: true}
output:
  dir: runs/digits
"""


def write(tmp_path, text, name="c.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def error_of(tmp_path, text, overrides=()):
    with pytest.raises(ValueError) as info:
        load_config(write(tmp_path, text), overrides)
    message = str(info.value)
    assert "\n" not in message
    return message


# ----------------------------------------------------------------------------- defaults, names


def test_empty_file_gives_every_default(tmp_path):
    cfg = load_config(write(tmp_path, ""))
    assert cfg == Config()
    assert cfg.data == DataConfig() and cfg.model == ModelConfig() and cfg.output == OutputConfig()
    assert cfg.data.source == "sklearn:digits" and cfg.model.hidden_units == 100
    assert cfg.train.epochs == 20 and cfg.train.batch_size == 1 and cfg.train.sampling == "uniform"
    assert cfg.train.schedule == {"name": "inverse_time", "eta0": 0.05, "tau": 20000.0, "warmup": 0}
    assert cfg.train.early_stopping is None


def test_the_issue_example_is_the_contract_for_the_names(tmp_path):
    cfg = load_config(write(tmp_path, ISSUE_EXAMPLE))
    assert isinstance(cfg.train, SGDSettings)
    assert cfg.data.target == "label" and cfg.output.dir == "runs/digits"
    assert cfg.train.early_stopping == EarlyStopping("val_loss", 5, 0.0, True)
    assert cfg.train.schedule["tau"] == 20000


def test_three_line_config(tmp_path):
    cfg = load_config(write(tmp_path, "model: {hidden_units: 7}\ntrain: {epochs: 2}\nseed: 3\n"))
    assert (cfg.model.hidden_units, cfg.train.epochs, cfg.seed) == (7, 2, 3)
    assert cfg.model.transfer == "tanh"


def test_config_is_frozen():
    cfg = Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.model.hidden_units = 3


def test_reference_yaml_shows_every_option_at_its_default():
    raw = yaml.safe_load((CONFIGS / "reference.yaml").read_text())
    resolved = config_to_dict(Config())
    assert set(raw) == set(resolved)
    for section in ("data", "model", "train", "output"):
        assert set(raw[section]) == set(resolved[section]), section
    assert load_config(CONFIGS / "reference.yaml") == Config()
    text = (CONFIGS / "reference.yaml").read_text()
    option_lines = [
        line
        for line in text.splitlines()
        if ":" in line and not line.lstrip().startswith("#") and not line.rstrip().endswith(":")
    ]  # section headers need none
    assert all("#" in line for line in option_lines), "every option has a comment"


@pytest.mark.parametrize("name", ["digits", "iris", "xor", "reference"])
def test_bundled_configs_load_from_the_repository_root(name, monkeypatch):
    monkeypatch.chdir(ROOT)
    cfg = load_config(CONFIGS / f"{name}.yaml")
    if cfg.data.source.endswith(".csv"):
        assert Path(cfg.data.source).is_absolute() and Path(cfg.data.source).is_file()


# ----------------------------------------------------------------------------- round trips


def test_resolved_dict_round_trips(tmp_path):
    cfg = load_config(write(tmp_path, ISSUE_EXAMPLE), ["train.steps=50", "train.epochs=null"])
    d = config_to_dict(cfg)
    assert config_from_dict(d) == cfg
    assert d["train"]["early_stopping"] == {
        "metric": "val_loss",
        "patience": 5,
        "min_delta": 0.0,
        "restore_best": True,
    }
    assert d["train"]["steps"] == 50 and d["train"]["epochs"] is None
    assert load_config(write(tmp_path, dump_config(cfg, "a header"), "resolved.yaml")) == cfg


def test_resolved_dict_fills_every_default():
    d = config_to_dict(Config())
    assert d["data"] == {
        "source": "sklearn:digits",
        "target": None,
        "test_fraction": 0.2,
        "validation_fraction": 0.1,
        "standardize": True,
        "n_samples": 1000,
        "n_features": 20,
        "n_classes": 3,
        "n_informative": None,
        "encoding": "utf-8",
        "delimiter": None,
        "features": None,
        "drop": None,
        "categorical": "auto",
        "missing": "impute",
        "min_frequency": 1,
    }
    assert set(d["train"]) == {f.name for f in dataclasses.fields(SGDSettings)}
    yaml.safe_dump(d)  # plain data only


def test_schedule_is_stored_with_all_its_parameters(tmp_path):
    cfg = load_config(write(tmp_path, "train: {schedule: {name: constant, eta0: 0.1}}"))
    assert cfg.train.schedule == {"name": "constant", "eta0": 0.1, "warmup": 0}
    assert (
        Config(train=SGDSettings(schedule={"name": "constant", "eta0": 0.1})).train.schedule
        == cfg.train.schedule
    )


def test_steps_instead_of_epochs(tmp_path):
    cfg = load_config(write(tmp_path, "train: {steps: 500}"))
    assert cfg.train.steps == 500 and cfg.train.epochs is None
    assert cfg.train.total_steps(10) == 500


def test_early_stopping_true_means_its_defaults(tmp_path):
    assert (
        load_config(write(tmp_path, "train: {early_stopping: true}")).train.early_stopping
        == EarlyStopping()
    )
    assert (
        load_config(write(tmp_path, "train: {early_stopping: false}")).train.early_stopping is None
    )


def test_exponent_without_a_dot_is_a_number(tmp_path):
    cfg = load_config(write(tmp_path, "train: {schedule: {name: constant, eta0: 1e-3}, l2: 5E-4}"))
    assert cfg.train.schedule["eta0"] == 1e-3 and cfg.train.l2 == 5e-4


# ----------------------------------------------------------------------------- data paths


def test_relative_data_path_from_cwd_first_then_beside_the_config(tmp_path, monkeypatch):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "d.csv").write_text("a,y\n1,0\n2,1\n")
    (tmp_path / "d.csv").write_text("a,y\n1,0\n2,1\n")
    path = write(tmp_path / "configs", "data: {source: d.csv}")
    monkeypatch.chdir(tmp_path)
    assert load_config(path).data.source == str(tmp_path / "d.csv")
    (tmp_path / "d.csv").unlink()
    assert load_config(path).data.source == str(tmp_path / "configs" / "d.csv")


def test_missing_data_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    message = error_of(tmp_path, "data: {source: nowhere.csv}")
    assert message == "data.source: file 'nowhere.csv' not found; check the path"


def test_non_file_sources_are_kept(tmp_path):
    for source in ("sklearn:iris", "synthetic"):
        assert load_config(write(tmp_path, f"data: {{source: '{source}'}}")).data.source == source


# ----------------------------------------------------------------------------- errors


def test_missing_config_file(tmp_path):
    with pytest.raises(ValueError, match=r"config file '.*nope.yaml' not found; check the path"):
        load_config(tmp_path / "nope.yaml")


def test_yaml_syntax_error_names_line_and_column(tmp_path):
    message = error_of(tmp_path, "data:\n  source: x\n train: [\n")
    assert "c.yaml line 3, column 2: YAML syntax error" in message


def test_duplicate_key_is_an_error(tmp_path):
    message = error_of(tmp_path, "train:\n  epochs: 2\n  epochs: 3\n")
    assert message.endswith("c.yaml line 3, column 3: key 'epochs' is given twice; keep one")


def test_top_level_must_be_a_mapping(tmp_path):
    assert "expected a mapping of sections" in error_of(tmp_path, "- 1\n- 2\n")


@pytest.mark.parametrize(
    "text, message",
    [
        ("train: {epoch: 3}", "train.epoch: unknown key; did you mean train.epochs?"),
        ("trian: {}", "trian: unknown key; did you mean train?"),
        (
            "model: {hiden_units: 3}",
            "model.hiden_units: unknown key; did you mean model.hidden_units?",
        ),
        ("data: {test_frac: 0.1}", "data.test_frac: unknown key; did you mean data.test_fraction?"),
        ("output: {directory: x}", "output.directory: unknown key; did you mean output.dir?"),
        (
            "train: {early_stopping: {patiense: 2}}",
            "train.early_stopping.patiense: unknown key; did you mean train.early_stopping.patience?",
        ),
        ("zzz: 1", "zzz: unknown key; valid keys are seed, data, model, train, output, track"),
    ],
)
def test_unknown_keys_suggest_the_nearest(tmp_path, text, message):
    assert error_of(tmp_path, text) == message


@pytest.mark.parametrize(
    "text, message",
    [
        ("model: {hidden_units: 0}", "model.hidden_units must be an integer >= 1, got 0"),
        ("model: {hidden_units: ten}", "model.hidden_units must be an integer >= 1, got 'ten'"),
        ("model: {hidden_units: 2.5}", "model.hidden_units must be an integer >= 1, got 2.5"),
        (
            "train: {schedule: {name: inverse_time, eta0: -1, tau: 10}}",
            "train.schedule: inverse_time: eta0 must be > 0, got -1",
        ),
        (
            "train: {schedule: {name: constant, et0: 1}}",
            "train.schedule: constant: unknown parameter 'et0' (did you mean 'eta0'?); "
            "valid parameters: eta0, warmup",
        ),
        (
            "train: {schedule: constnt}",
            "train.schedule: unknown schedule 'constnt' (did you mean "
            "'constant'?); valid choices: constant, inverse_time, invscaling, step, exponential, cosine, plateau",
        ),
        (
            "model: {transfer: foo}",
            "model.transfer: unknown transfer function 'foo'; choose one of "
            + ", ".join(TRANSFERS),
        ),
        (
            "model: {transfer: [tanh, relu]}",
            "model.transfer lists 2 functions but hidden_units has "
            "1 layer; give one name per hidden layer, or one name for all",
        ),
        (
            "model: {init: xavir}",
            "model.init: unknown initialisation 'xavir' (did you mean 'xavier'?); "
            "choose one of xavier, he, normal",
        ),
        ("data: {test_fraction: 1.5}", "data.test_fraction must be a number in [0, 1), got 1.5"),
        (
            "data: {validation_fraction: -0.1}",
            "data.validation_fraction must be a number in [0, 1), got -0.1",
        ),
        (
            "data: {standardize: yes please}",
            "data.standardize must be true or false, got 'yes please'",
        ),
        (
            "data: {source: 3}",
            "data.source must be 'sklearn:<name>', a .csv or .npz path, or 'synthetic', got 3",
        ),
        ("train: {epochs: 0}", "train.epochs must be an integer >= 1 or null, got 0"),
        ("train: {batch_size: -2}", "train.batch_size must be an integer >= 1, got -2"),
        (
            "train: {sampling: random}",
            "train.sampling: unknown sampling 'random'; choose one of uniform, shuffle",
        ),
        ("train: {momentum: 1}", "train.momentum must be a number in [0, 1), got 1"),
        (
            "train: {epochs: 3, steps: 10}",
            "train: give either epochs or steps, not both; set the "
            "other to null (e.g. --set train.epochs=null)",
        ),
        (
            "train: {early_stopping: {metric: acc}}",
            "train.early_stopping.metric: unknown metric "
            "'acc'; choose one of val_loss, val_accuracy, train_loss",
        ),
        (
            "train: {early_stopping: 5}",
            "train.early_stopping must be a mapping of keys to values "
            "(e.g. {metric: val_loss, patience: 5}), got 5",
        ),
        ("train: 5", "train must be a mapping of keys to values (e.g. {key: value}), got 5"),
        ("seed: -1", "seed must be an integer in [0, 2**32), got -1"),
        ("output: {dir: ''}", "output.dir must be a directory path, got ''"),
    ],
)
def test_wrong_types_and_ranges(tmp_path, text, message):
    assert error_of(tmp_path, text) == message


# ----------------------------------------------------------------------------- --set


def test_overrides_parse_values_as_yaml(tmp_path):
    path = write(tmp_path, ISSUE_EXAMPLE)
    cfg = load_config(
        path,
        [
            "train.epochs=3",
            "model.transfer=relu",
            "data.standardize=false",
            "train.eval_every=null",
            "data.source=sklearn:iris",
            "train.l2=1e-4",
            "seed=7",
            "train.schedule={name: constant, eta0: 0.01}",
        ],
    )
    assert (cfg.train.epochs, cfg.model.transfer, cfg.data.standardize, cfg.seed) == (
        3,
        "relu",
        False,
        7,
    )
    assert cfg.data.source == "sklearn:iris" and cfg.train.l2 == 1e-4
    assert cfg.train.schedule == {"name": "constant", "eta0": 0.01, "warmup": 0}


def test_override_one_schedule_parameter(tmp_path):
    assert load_config(write(tmp_path, ""), ["train.schedule.eta0=0.2"]).train.schedule == {
        "name": "inverse_time",
        "eta0": 0.2,
        "tau": 20000.0,
        "warmup": 0,
    }
    cfg = load_config(write(tmp_path, "train: {schedule: constant}"), ["train.schedule.eta0=0.3"])
    assert cfg.train.schedule == {"name": "constant", "eta0": 0.3, "warmup": 0}


def test_override_one_optimizer_parameter(tmp_path):
    cfg = load_config(write(tmp_path, "train: {optimizer: adam}"), ["train.optimizer.beta1=0.8"])
    assert cfg.train.optimizer == {"name": "adam", "beta1": 0.8, "beta2": 0.999, "epsilon": 1e-8}
    cfg = load_config(
        write(tmp_path, ""), ["train.optimizer=adagrad", "train.optimizer.epsilon=1e-6"]
    )
    assert cfg.train.optimizer == {"name": "adagrad", "epsilon": 1e-6}
    with pytest.raises(
        ConfigError,
        match=r"^train\.optimizer: sgd has no parameter 'beta1'; "
        r"it has none$",
    ):
        load_config(write(tmp_path, ""), ["train.optimizer.beta1=0.8"])


def test_override_turns_early_stopping_on(tmp_path):
    cfg = load_config(write(tmp_path, ""), ["train.early_stopping.patience=2"])
    assert cfg.train.early_stopping == EarlyStopping(patience=2)


def test_overrides_apply_in_order(tmp_path):
    cfg = load_config(write(tmp_path, ""), ["train.epochs=3", "train.epochs=4"])
    assert cfg.train.epochs == 4


@pytest.mark.parametrize(
    "item, message",
    [
        (
            "train.epoch=3",
            "train.epoch: unknown key; did you mean train.epochs? (in --set train.epoch=3)",
        ),
        (
            "modle.hidden_units=3",
            "modle: unknown key; did you mean model? (in --set modle.hidden_units=3)",
        ),
        (
            "train.early_stopping.patiense=3",
            "train.early_stopping.patiense: unknown key; did you "
            "mean train.early_stopping.patience? (in --set train.early_stopping.patiense=3)",
        ),
        (
            "model.hidden_units.x=3",
            "--set model.hidden_units.x=3: model.hidden_units has no sub-key 'x'",
        ),
        ("seed.x=1", "--set seed.x=1: seed has no sub-keys; use --set seed=VALUE"),
        (
            "model.hidden_units",
            "--set model.hidden_units: expected key.path=value, e.g. --set train.epochs=5",
        ),
        ("=3", "--set =3: expected key.path=value, e.g. --set train.epochs=5"),
        ("model.hidden_units=[1,", "--set model.hidden_units=[1,: cannot parse the value '[1,'"),
        ("model.hidden_units=0", "model.hidden_units must be an integer >= 1, got 0"),
    ],
)
def test_bad_overrides(tmp_path, item, message):
    assert error_of(tmp_path, "", [item]).startswith(message)
