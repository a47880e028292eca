"""MLflow, read back through MLflow itself: a run's parameters, metric histories (equal to
history.csv), tags, artifacts and status; resumed, interrupted, failed and unreachable runs;
a sweep's parent run and its children; the estimator's three lines. One SQLite store per
module (creating one takes seconds)."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

mlflow = pytest.importorskip("mlflow")
pytest.importorskip("sqlalchemy")
pytest.importorskip("alembic")

from mlflow import MlflowClient  # noqa: E402

from nnclf.cli import main  # noqa: E402
from nnclf.config.load import load_config  # noqa: E402
from nnclf.errors import ConfigError, DivergenceError  # noqa: E402
from nnclf.runs import run  # noqa: E402

IRIS = """
data: {source: "sklearn:iris"}
model: {hidden_units: 4}
train: {epochs: 3}
"""
HISTORY_METRICS = ("train_loss", "val_loss", "val_accuracy", "eta", "epoch")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A tracking URI on a SQLite file, shared by the module's tests."""
    folder = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    MlflowClient(uri).search_experiments()  # creates the tables once
    return uri


@pytest.fixture(autouse=True)
def elsewhere(tmp_path, monkeypatch):
    """MLflow's fluent API keeps artifacts in ./mlruns: never in the checkout."""
    monkeypatch.chdir(tmp_path)


def config(tmp_path, store, experiment, *sets, text=IRIS):
    path = tmp_path / f"{experiment}.yaml"
    path.write_text(text)
    return load_config(path, [f"track.mlflow={store}", *sets])


def runs_of(store, experiment):
    client = MlflowClient(store)
    found = client.get_experiment_by_name(experiment)
    return [] if found is None else client.search_runs([found.experiment_id])


def history(run_dir: Path) -> list[dict]:
    with open(run_dir / "history.csv") as f:
        return list(csv.DictReader(f))


def test_a_run_logs_its_config_metrics_tags_and_files(tmp_path, store):
    outcome = run.train(config(tmp_path, store, "logged"), tmp_path / "run", quiet=True)
    (logged,) = runs_of(store, "logged")
    info, data = logged.info, logged.data
    assert info.status == "FINISHED" and info.run_name == "run"
    assert json.loads((tmp_path / "run" / "tracking.json").read_text()) == {
        "mlflow_run_id": info.run_id
    }
    assert data.params["model.hidden_units"] == "4"
    assert data.params["train.schedule.name"] == "inverse_time"
    assert data.params["track.experiment"] == "logged"
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert data.tags["nnclf.engine"] == metrics["engine"]
    assert data.tags["nnclf.data.sha256"] == metrics["data"]["sha256"]
    assert data.tags["nnclf.version"] == __import__("nnclf").__version__
    for part in ("train", "validation", "test"):
        assert data.metrics[f"{part}_accuracy"] == metrics[part]["accuracy"]
        assert data.metrics[f"{part}_log_loss"] == metrics[part]["log_loss"]
    rows = history(outcome.run_dir)
    client = MlflowClient(store)
    for name in HISTORY_METRICS:
        logged_values = [(m.step, m.value) for m in client.get_metric_history(info.run_id, name)]
        assert sorted(logged_values) == [(int(r["step"]), float(r[name])) for r in rows]
    files = {a.path for a in client.list_artifacts(info.run_id)}
    store_folder = Path(store.removeprefix("sqlite:///")).parent
    assert (
        Path(client.get_experiment(info.experiment_id).artifact_location.removeprefix("file://"))
        == store_folder / "mlruns"
    )  # beside the store, not where nnclf was started
    assert {"config.yaml", "metrics.json", "history.csv", "model.npz"} <= files
    if __import__("importlib").util.find_spec("onnx") is not None:
        assert "model.onnx" in files


def test_an_interrupted_run_ends_killed_and_resuming_continues_the_same_run(tmp_path, store):
    cfg = config(tmp_path, store, "resumed")
    stopped = run.train(cfg, tmp_path / "run", quiet=True, stop_after=150)
    assert stopped.status == "interrupted"
    (killed,) = runs_of(store, "resumed")
    assert killed.info.status == "KILLED"
    outcome = run.resume(stopped.run_dir, quiet=True)
    assert outcome.status == "finished"
    (resumed,) = runs_of(store, "resumed")
    assert resumed.info.run_id == killed.info.run_id and resumed.info.status == "FINISHED"
    steps = [m.step for m in MlflowClient(store).get_metric_history(resumed.info.run_id, "eta")]
    assert sorted(steps) == [int(r["step"]) for r in history(outcome.run_dir)]


def test_ctrl_c_outside_the_steps_ends_the_run_killed(tmp_path, store, monkeypatch):
    from nnclf.training.trainer import Trainer

    def interrupted(self, *args, **kwargs):  # Ctrl-C where the trainer does not catch it
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "fit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run.train(config(tmp_path, store, "ctrl-c"), tmp_path / "run", quiet=True)
    (killed,) = runs_of(store, "ctrl-c")
    assert killed.info.status == "KILLED" and not (tmp_path / "run").exists()


def test_a_diverged_run_ends_failed_and_leaves_no_run_directory(tmp_path, store):
    cfg = config(
        tmp_path,
        store,
        "diverged",
        "data.standardize=false",
        "model.transfer=identity",
        "train.schedule={name: constant, eta0: 10.0}",
    )
    with pytest.raises(DivergenceError):
        run.train(cfg, tmp_path / "run", quiet=True)
    (failed,) = runs_of(store, "diverged")
    assert failed.info.status == "FAILED" and not (tmp_path / "run").exists()


def test_a_store_that_stops_answering_does_not_stop_the_run(tmp_path, store, monkeypatch):
    from nnclf.tracking import mlflowrun

    calls = []

    def down(self, values, step):
        calls.append(step)
        raise ConnectionError("the server went away")

    monkeypatch.setattr(mlflowrun.MlflowRun, "metrics", down)
    notes = []
    cfg = config(tmp_path, store, "down")
    outcome = run.train(cfg, tmp_path / "run", quiet=True, notify=notes.append)
    assert outcome.status == "finished" and (outcome.run_dir / "model.npz").is_file()
    assert len(calls) == 1  # no more logging after the first failure
    assert notes == ["MLflow: logging stopped (the server went away); training goes on"]


def test_a_run_the_store_refuses_to_start_leaves_nothing(tmp_path, store, monkeypatch):
    from nnclf.tracking import mlflowrun

    def refused(*args, **kwargs):
        raise RuntimeError("database is locked")

    monkeypatch.setattr(mlflowrun.MlflowRun, "start", refused)
    with pytest.raises(ConfigError) as e:
        run.train(config(tmp_path, store, "refused"), tmp_path / "run", quiet=True)
    assert str(e.value) == (
        "track.mlflow: cannot start an MLflow run (database is locked); check the tracking "
        "store and try again (no run directory was changed)"
    )
    assert list(tmp_path.iterdir()) == [tmp_path / "refused.yaml"]


def test_an_unreachable_server_is_one_line_before_anything_is_written(tmp_path, capsys):
    path = tmp_path / "iris.yaml"
    path.write_text(IRIS)
    argv = ["train", str(path), "--out", str(tmp_path / "run")]
    code = main([*argv, "--set", "track.mlflow=http://127.0.0.1:1"])
    err = capsys.readouterr().err
    assert code == 2 and not (tmp_path / "run").exists()
    assert err == (
        "nnclf: error: track.mlflow: cannot reach the MLflow tracking store "
        "http://127.0.0.1:1 (connection refused); start the server or fix track.mlflow "
        "(nothing was written)\n"
    )
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ  # put back as it was


def test_a_sweep_with_an_unreachable_server_makes_no_sweep_directory(tmp_path, capsys):
    (tmp_path / "base.yaml").write_text(IRIS + "track: {mlflow: 'http://127.0.0.1:1'}\n")
    (tmp_path / "sweep.yaml").write_text("base: base.yaml\ngrid: {seed: [0, 1]}\n")
    code = main(["sweep", str(tmp_path / "sweep.yaml"), "--out", str(tmp_path / "s")])
    err = capsys.readouterr().err
    assert code == 2 and not (tmp_path / "s").exists()
    assert err.startswith("nnclf: error: track.mlflow: cannot reach") and err.count("\n") == 1


def test_a_sweep_is_one_parent_run_with_a_child_per_trial_and_resumes_it(tmp_path, store, capsys):
    (tmp_path / "base.yaml").write_text(IRIS + f"track: {{mlflow: '{store}'}}\n")
    (tmp_path / "sweep.yaml").write_text(
        "base: base.yaml\ngrid:\n  train.schedule.eta0: [0.02, 0.1]\nmetric: val_log_loss\n"
    )
    argv = ["sweep", str(tmp_path / "sweep.yaml"), "--out", str(tmp_path / "s"), "--quiet"]
    assert main([*argv, "--jobs", "1", "--stop-after-trials", "1"]) == 130
    (stopped,) = [r for r in runs_of(store, "base") if "mlflow.parentRunId" not in r.data.tags]
    assert stopped.info.status == "KILLED"
    assert main(["sweep", "--resume", str(tmp_path / "s"), "--jobs", "1", "--quiet"]) == 0
    found = runs_of(store, "base")
    parents = [r for r in found if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in found if "mlflow.parentRunId" in r.data.tags]
    (parent,) = parents
    assert parent.info.status == "FINISHED" and parent.info.run_name == "s"
    assert parent.info.run_id == stopped.info.run_id  # the resumed sweep's run goes on
    assert sorted(r.info.run_name for r in children) == ["trial-0000", "trial-0001"]
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parent.info.run_id}
    assert {r.info.status for r in children} == {"FINISHED"}
    etas = {r.data.params["train.schedule.eta0"] for r in children}
    assert etas == {"0.02", "0.1"}


def test_a_tpe_search_is_one_parent_run_with_a_child_per_trial(tmp_path, store):
    pytest.importorskip("optuna")
    (tmp_path / "searched.yaml").write_text(IRIS + f"track: {{mlflow: '{store}'}}\n")
    (tmp_path / "search.yaml").write_text(
        "base: searched.yaml\nsearch: {method: tpe, trials: 3, pruner: none, seed: 0}\n"
        "random:\n  train.schedule.eta0: {log_uniform: [0.01, 0.3]}\nmetric: val_log_loss\n"
    )
    argv = ["sweep", str(tmp_path / "search.yaml"), "--out", str(tmp_path / "s"), "--quiet"]
    assert main([*argv, "--jobs", "1"]) == 0
    found = runs_of(store, "searched")
    (parent,) = [r for r in found if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in found if "mlflow.parentRunId" in r.data.tags]
    assert parent.info.status == "FINISHED" and parent.info.run_name == "s"
    assert sorted(r.info.run_name for r in children) == ["trial-0000", "trial-0001", "trial-0002"]
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parent.info.run_id}
    with open(tmp_path / "s" / "sweep.csv") as f:
        rows = {row["trial"]: row for row in csv.DictReader(f)}
    for child in children:  # each child logged the eta0 TPE proposed for its trial
        proposed = float(rows[child.info.run_name]["train.schedule.eta0"])
        assert float(child.data.params["train.schedule.eta0"]) == pytest.approx(proposed)


def test_the_estimators_three_lines_log_a_fitted_classifier(tmp_path, store):
    from sklearn.datasets import load_iris

    from nnclf import NNClassifier

    X, y = load_iris(return_X_y=True)
    clf = NNClassifier(hidden_units=4, epochs=2, random_state=0).fit(X, y)
    mlflow.set_tracking_uri(store)
    mlflow.set_experiment("estimator")
    try:
        # The three lines of docs/tracking.md:
        with mlflow.start_run(run_name="nnclf"):
            mlflow.log_params(clf.get_params())
            mlflow.log_metric("train_accuracy", clf.score(X, y))
    finally:
        mlflow.set_tracking_uri(None)
    (logged,) = runs_of(store, "estimator")
    assert logged.data.params["hidden_units"] == "4"
    assert logged.data.metrics["train_accuracy"] == clf.score(X, y)


@pytest.mark.slow
def test_sigterm_ends_the_run_killed(tmp_path, store):
    path = tmp_path / "long.yaml"
    path.write_text(
        'data: {source: "sklearn:iris"}\nmodel: {hidden_units: 4}\n'
        "train: {epochs: 100000, eval_every: 500}\n"
    )
    argv = [sys.executable, "-m", "nnclf", "train", str(path), "--out", str(tmp_path / "run")]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.Popen(
        [*argv, "--quiet", "--set", f"track.mlflow={store}"], env=env, stderr=subprocess.PIPE
    )
    try:
        client, deadline = MlflowClient(store), time.monotonic() + 120
        while time.monotonic() < deadline:  # until the run has logged an evaluation
            found = runs_of(store, "long")
            if found and client.get_metric_history(found[0].info.run_id, "eta"):
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 143
    finally:
        proc.kill()
    (killed,) = runs_of(store, "long")
    assert killed.info.status == "KILLED"
    assert json.loads((tmp_path / "run" / "tracking.json").read_text())["mlflow_run_id"] == (
        killed.info.run_id
    )
