"""The ``track`` section: its rules, its overrides, what it leaves alone, and the one line a
missing extra gives (no MLflow or tensorboardX needed here)."""

import sys
from pathlib import Path

import pytest

from nnclf.cli import main
from nnclf.config.load import config_to_dict, load_config
from nnclf.config.settings import TrackConfig
from nnclf.errors import ConfigError
from nnclf.tracking.tracker import RunTracker, flatten

IRIS = """
data: {source: "sklearn:iris"}
model: {hidden_units: 4}
train: {epochs: 2}
"""


def write(tmp_path: Path, text: str, name: str = "penguins.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_tracking_is_off_by_default_and_connects_nothing():
    assert TrackConfig() == TrackConfig(mlflow=None, experiment=None, tensorboard=False)
    assert not TrackConfig().on and not TrackConfig(mlflow=False).on
    assert RunTracker.connect(TrackConfig()) is None


def test_the_experiment_is_named_after_the_config_file_and_paths_are_made_absolute(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    config = write(tmp_path, IRIS + "track: {mlflow: sqlite:///m.db, tensorboard: tb}\n")
    track = load_config(config).track
    assert track.experiment == "penguins"
    assert track.mlflow == f"sqlite:///{tmp_path / 'm.db'}"  # four slashes: absolute
    assert track.tensorboard == str(tmp_path / "tb")
    named = load_config(config, ["track.experiment=mine", "track.mlflow=true"]).track
    assert (named.experiment, named.mlflow) == ("mine", True)
    assert load_config(config, ["track.mlflow=false"]).track.experiment is None


@pytest.mark.parametrize(
    "override, message",
    [
        ("track.mlfow=true", "track.mlfow: unknown key; did you mean track.mlflow?"),
        ("track.mlflow=3", "track.mlflow must be a tracking URI (e.g. sqlite:///mlflow.db)"),
        ("track.tensorboard=''", "track.tensorboard must be true (RUN_DIR/tensorboard)"),
        ("track.experiment=''", "track.experiment must be an experiment name"),
    ],
)
def test_a_wrong_track_setting_is_one_line(tmp_path, override, message):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, IRIS), [override])
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_tracking_changes_neither_the_numbers_nor_the_data_fingerprint(tmp_path):
    from nnclf.runs.run import load_splits

    plain = load_config(write(tmp_path, IRIS))
    tracked = load_config(write(tmp_path, IRIS), ["track.mlflow=sqlite:///x.db"])
    assert load_splits(plain).fingerprint == load_splits(tracked).fingerprint
    assert config_to_dict(plain)["train"] == config_to_dict(tracked)["train"]


def test_flatten_gives_dotted_keys():
    nested = {"seed": 0, "train": {"schedule": {"eta0": 0.1}, "early_stopping": None}, "e": {}}
    assert flatten(nested) == {
        "seed": 0,
        "train.schedule.eta0": 0.1,
        "train.early_stopping": None,
        "e": {},
    }


@pytest.mark.parametrize(
    "module, key, extra",
    [("mlflow", "mlflow", "mlflow"), ("tensorboardX", "tensorboard", "tensorboard")],
)
def test_without_the_extra_a_tracked_run_is_one_line_before_training(
    tmp_path, monkeypatch, capsys, module, key, extra
):
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    config = write(tmp_path, IRIS)
    out = tmp_path / "run"
    code = main(["train", str(config), "--out", str(out), "--set", f"track.{key}=true"])
    err = capsys.readouterr().err
    assert code == 2 and not out.exists()
    assert err.count("\n") == 1 and err.startswith(f"nnclf: error: track.{key}: logging to")
    assert f'pip install "nnclf[{extra}]"' in err
