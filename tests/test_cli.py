"""End-to-end tests of the ``nnclf`` command, run through the real console script on tiny data:
every command, resuming after an interruption, and every bad input (one line, exit code 2,
nothing written, earlier runs untouched)."""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from nnclf import __version__
from nnclf.cli import main
from nnclf.config.load import Config, config_to_dict, load_config
from nnclf.export.trained import TrainedModel

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
RUN_FILES = {"config.yaml", "model.npz", "history.csv", "metrics.json", "checkpoint.npz"}
CLASSES = ["setosa", "versicolor", "virginica"]
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]

TINY = """\
seed: 0
data: {source: iris.csv, target: species}
model: {hidden_units: 5}
train: {epochs: 3}
output: {dir: runs/iris}
"""


def _console_script() -> list[str]:
    script = Path(sys.executable).with_name("nnclf")
    if script.exists():
        return [str(script)]
    found = shutil.which("nnclf")
    return [found] if found else [sys.executable, "-m", "nnclf"]


NNCLF = _console_script()


def nnclf(*args, cwd, timeout=180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*NNCLF, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def workspace(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    shutil.copy(DATA / "iris.csv", path / "iris.csv")
    (path / "tiny.yaml").write_text(TINY)
    return path


def snapshot(path: Path) -> dict:
    """Every file and directory under path (hidden ones too), with size and mtime."""
    out = {}
    for p in sorted(path.rglob("*")):
        st = p.lstat()
        out[str(p.relative_to(path))] = (
            p.is_dir(),
            st.st_size if p.is_file() else 0,
            st.st_mtime_ns,
        )
    return out


def params(model_file) -> dict:
    with np.load(model_file, allow_pickle=False) as z:
        return {k: z[k] for k in ("W", "b", "V", "gamma")}


def assert_same_params(a, b):
    pa, pb = params(a), params(b)
    for k in pa:
        assert np.array_equal(pa[k], pb[k]), k


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A workspace with one finished run of the tiny config: (workspace, run directory, result)."""
    ws = workspace(tmp_path_factory.mktemp("trained"))
    result = nnclf("train", "tiny.yaml", "--quiet", cwd=ws)
    assert result.returncode == 0, result.stderr
    return ws, ws / "runs" / "iris", result


# ----------------------------------------------------------------------------- train


@pytest.mark.slow
def test_train_writes_a_complete_run_directory(trained):
    ws, run, result = trained
    assert result.stderr == ""
    assert {p.name for p in run.iterdir()} == RUN_FILES
    assert [p.name for p in (ws / "runs").iterdir()] == ["iris"]  # no partial directory left
    assert "finished 324 steps" in result.stdout
    assert "test" in result.stdout and "run: runs/iris" in result.stdout

    saved = yaml.safe_load((run / "config.yaml").read_text())
    defaults = config_to_dict(Config())
    assert {k: set(v) if isinstance(v, dict) else v for k, v in saved.items() if k != "seed"} == {
        k: set(v) for k, v in defaults.items() if k != "seed"
    }  # every default filled in
    assert saved["data"]["source"] == str(ws / "iris.csv")
    assert saved["output"]["dir"] == "runs/iris"
    assert saved["train"]["schedule"] == {
        "name": "inverse_time",
        "eta0": 0.05,
        "tau": 20000.0,
        "warmup": 0,
    }
    assert load_config(run / "config.yaml").model.hidden_units == 5

    history = pd.read_csv(run / "history.csv")
    assert list(history.columns) == [
        "step",
        "epoch",
        "eta",
        "train_loss",
        "val_loss",
        "val_accuracy",
    ]
    assert list(history["step"]) == [108, 216, 324]

    metrics = json.loads((run / "metrics.json").read_text())
    assert [metrics[p]["n_samples"] for p in ("train", "validation", "test")] == [108, 12, 30]
    assert metrics["classes"] == CLASSES and metrics["steps"] == 324
    for part in ("train", "validation", "test"):
        assert 0 <= metrics[part]["accuracy"] <= 1 and metrics[part]["log_loss"] > 0

    model = TrainedModel.load(run / "model.npz")
    assert list(model.classes) == CLASSES and list(model.feature_names) == FEATURES
    assert model.standardizer is not None and model.network.n_hidden == 5
    assert model.config["data"]["source"] == str(ws / "iris.csv")


@pytest.mark.slow
def test_output_directory_taken_goes_to_the_next_free_name_and_force_replaces(tmp_path):
    ws = workspace(tmp_path)
    assert nnclf("train", "tiny.yaml", "--quiet", cwd=ws).returncode == 0
    before = snapshot(ws / "runs" / "iris")
    second = nnclf("train", "tiny.yaml", "--quiet", cwd=ws)
    assert second.returncode == 0
    assert "runs/iris already exists; writing this run to runs/iris-2" in second.stderr
    assert snapshot(ws / "runs" / "iris") == before
    assert (ws / "runs" / "iris-2" / "model.npz").is_file()
    assert (
        yaml.safe_load((ws / "runs/iris-2/config.yaml").read_text())["output"]["dir"]
        == "runs/iris-2"
    )

    forced = nnclf("train", "tiny.yaml", "--quiet", "--force", "--set", "seed=1", cwd=ws)
    assert forced.returncode == 0, forced.stderr
    assert yaml.safe_load((ws / "runs/iris/config.yaml").read_text())["seed"] == 1
    assert sorted(p.name for p in (ws / "runs").iterdir()) == ["iris", "iris-2"]


@pytest.mark.slow
def test_bundled_digits_config_reaches_its_promised_accuracy(tmp_path):
    result = nnclf(
        "train", ROOT / "configs" / "digits.yaml", "--quiet", "--out", tmp_path / "d", cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "d" / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.96
    assert metrics["seconds"] < 30


@pytest.mark.parametrize("name, accuracy", [("iris", 0.9), ("xor", 1.0)])
def test_bundled_csv_configs_train_from_the_repository_root(
    name, accuracy, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(ROOT)
    assert main(["train", f"configs/{name}.yaml", "--quiet", "--out", str(tmp_path / name)]) == 0
    metrics = json.loads((tmp_path / name / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= accuracy


# ----------------------------------------------------------------------------- resume


@pytest.mark.slow
def test_resume_after_interruptions_gives_identical_parameters(tmp_path):
    ws = workspace(tmp_path)
    first = nnclf(
        "train",
        "tiny.yaml",
        "--quiet",
        "--out",
        "a",
        "--set",
        "train.epochs=4",
        "--stop-after-steps",
        "100",
        cwd=ws,
    )
    assert first.returncode == 130
    assert first.stderr == (
        "nnclf: interrupted at step 100 of 432; resume with: nnclf train --resume a\n"
    )
    assert {p.name for p in (ws / "a").iterdir()} == {"config.yaml", "checkpoint.npz"}

    again = nnclf("train", "--resume", "a", "--quiet", "--stop-after-steps", "150", cwd=ws)
    assert again.returncode == 130 and "interrupted at step 250 of 432" in again.stderr
    done = nnclf("train", "--resume", "a", "--quiet", cwd=ws)
    assert done.returncode == 0, done.stderr
    assert "resumed and finished 432 steps" in done.stdout
    assert {p.name for p in (ws / "a").iterdir()} == RUN_FILES

    straight = nnclf(
        "train", "tiny.yaml", "--quiet", "--out", "b", "--set", "train.epochs=4", cwd=ws
    )
    assert straight.returncode == 0
    assert_same_params(ws / "a" / "model.npz", ws / "b" / "model.npz")
    assert (ws / "a/history.csv").read_text() == (ws / "b/history.csv").read_text()
    ma, mb = (json.loads((ws / r / "metrics.json").read_text()) for r in "ab")
    ma.pop("seconds"), mb.pop("seconds")
    assert ma == mb


@pytest.mark.slow
def test_ctrl_c_saves_a_checkpoint_and_the_printed_command_resumes_it(tmp_path):
    ws = workspace(tmp_path)
    long_run = [
        "--set",
        "train.epochs=null",
        "--set",
        "train.steps=40000",
        "--set",
        "train.eval_every=100",
    ]
    proc = subprocess.Popen(
        [*NNCLF, "train", "tiny.yaml", "--out", "a", *long_run],
        cwd=ws,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr.readline().startswith("engine: ")  # said once, first
    first_line = proc.stderr.readline()
    assert first_line.startswith("step 100 ")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.rstrip().endswith("resume with: nnclf train --resume a")
    assert {p.name for p in (ws / "a").iterdir()} == {"config.yaml", "checkpoint.npz"}
    command = err.rstrip().rsplit("resume with: ", 1)[1].split()
    assert command[:3] == ["nnclf", "train", "--resume"]

    resumed = nnclf(*command[1:], "--quiet", cwd=ws)
    assert resumed.returncode == 0, resumed.stderr
    straight = nnclf("train", "tiny.yaml", "--quiet", "--out", "b", *long_run, cwd=ws)
    assert straight.returncode == 0
    assert_same_params(ws / "a" / "model.npz", ws / "b" / "model.npz")


# ----------------------------------------------------------------------------- evaluate, predict


@pytest.mark.slow
def test_evaluate_prints_the_report(trained):
    ws, run, _ = trained
    result = nnclf("evaluate", "runs/iris", cwd=ws)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    for needle in (
        "the run's test split: 30 examples of",
        "accuracy",
        "log-loss",
        "macro F1",
        "precision  recall",
        "confusion matrix (rows: true class",
        *CLASSES,
    ):
        assert needle in text


@pytest.mark.slow
def test_evaluate_json_on_the_runs_test_split(trained):
    ws, run, _ = trained
    result = nnclf("evaluate", "runs/iris", "--json", cwd=ws)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == {
        "accuracy",
        "balanced_accuracy",
        "log_loss",
        "macro_f1",
        "per_class",
        "confusion_matrix",
        "n_samples",
    }
    assert report["n_samples"] == 30
    cm = np.array(report["confusion_matrix"])
    assert cm.shape == (3, 3) and cm.sum() == 30
    assert report["accuracy"] == pytest.approx(np.trace(cm) / 30)
    assert [c["label"] for c in report["per_class"]] == CLASSES
    assert [c["support"] for c in report["per_class"]] == list(cm.sum(axis=1))
    metrics = json.loads((run / "metrics.json").read_text())["test"]
    assert report == metrics


@pytest.mark.slow
def test_evaluate_a_model_file_on_given_data(trained):
    ws, run, _ = trained
    result = nnclf("evaluate", run / "model.npz", "--data", "iris.csv", "--json", cwd=ws)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    frame = pd.read_csv(ws / "iris.csv")
    model = TrainedModel.load(run / "model.npz")
    assert report["n_samples"] == 150
    assert report["accuracy"] == pytest.approx(
        np.mean(model.predict(frame[FEATURES].to_numpy()) == frame["species"].to_numpy())
    )


@pytest.mark.slow
def test_predict_writes_labels_and_probabilities_in_input_order(trained):
    ws, run, _ = trained
    # Columns in another order, the label first and an extra column: matched by name.
    frame = pd.read_csv(ws / "iris.csv")
    shuffled = frame[["species", "petal_width", "sepal_length", "petal_length", "sepal_width"]]
    shuffled.assign(note="x").to_csv(ws / "shuffled.csv", index=False)
    result = nnclf("predict", "runs/iris", "--data", "shuffled.csv", "--out", "preds.csv", cwd=ws)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "nnclf: wrote 150 predictions to preds.csv\n"
    preds = pd.read_csv(ws / "preds.csv")
    assert list(preds.columns) == ["label"] + [f"p_{c}" for c in CLASSES]
    assert len(preds) == 150
    proba = preds[[f"p_{c}" for c in CLASSES]].to_numpy()
    assert np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    model = TrainedModel.load(run / "model.npz")
    expected = model.predict_proba(frame[FEATURES].to_numpy())
    assert np.allclose(proba, expected, rtol=1e-5, atol=1e-7)
    assert list(preds["label"]) == list(np.array(CLASSES)[expected.argmax(axis=1)])


# ----------------------------------------------------------------------------- gradcheck, graph, plot


@pytest.mark.slow
def test_gradcheck_compares_every_mode(trained):
    ws, _, _ = trained
    result = nnclf("gradcheck", "tiny.yaml", "--examples", "2", cwd=ws)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("gradcheck: 2 training examples of iris.csv, network d=4 m=5 K=3")
    rows = [line.split() for line in lines[2:-1]]
    assert {(r[0], r[1]) for r in rows} == {
        (m, p) for m in ("vjp", "jacobian", "path_sum") for p in ("W", "b", "V", "gamma")
    }
    assert all(r[-1] == "yes" for r in rows)
    assert lines[-1] == "all agree"


@pytest.mark.slow
def test_graph_prints_dot_with_dimensions(trained):
    ws, _, _ = trained
    before = snapshot(ws)
    result = nnclf("graph", "tiny.yaml", cwd=ws)
    assert result.returncode == 0, result.stderr
    dot = result.stdout
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    assert "1: W\\nd = 20, shape (5, 4)" in dot
    assert "h = tanh(z)\\nd = 5" in dot and "o = neg_pick(q, y)\\nd = 1" in dot
    assert dot.count("->") == 10
    assert snapshot(ws) == before


@pytest.mark.slow
def test_plot_writes_pngs(trained, tmp_path):
    pytest.importorskip("matplotlib")  # the optional extra nnclf[plot]
    _, run, _ = trained
    copy = shutil.copytree(run, tmp_path / "run")
    result = nnclf("plot", copy, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for name in ("learning_curves.png", "confusion_matrix.png"):
        assert (copy / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_plot_without_matplotlib_says_how_to_get_it(trained, tmp_path):
    _, run, _ = trained
    code = (
        "import sys; sys.modules['matplotlib'] = None; from nnclf.cli import main; "
        f"sys.exit(main(['plot', {str(run)!r}]))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr == (
        'nnclf: error: plotting needs matplotlib; install it with: pip install "nnclf[plot]"\n'
    )
    assert not (run / "learning_curves.png").exists()


@pytest.mark.slow
def test_help_and_version(tmp_path):
    version = nnclf("--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout == f"nnclf {__version__}\n"
    top = nnclf("--help", cwd=tmp_path)
    assert top.returncode == 0
    for command in (
        "train",
        "evaluate",
        "predict",
        "export",
        "info",
        "gradcheck",
        "graph",
        "plot",
        "sweep",
    ):
        assert command in top.stdout
        sub = nnclf(command, "--help", cwd=tmp_path)
        assert sub.returncode == 0 and sub.stdout.startswith(f"usage: nnclf {command}")
    assert "--stop-after-steps" not in nnclf("train", "--help", cwd=tmp_path).stdout


# ----------------------------------------------------------------------------- bad input


def _truncated_model(ws):
    data = (ws / "run" / "model.npz").read_bytes()
    (ws / "broken.npz").write_bytes(data[: len(data) // 2])


def _newer_model(ws):
    with np.load(ws / "run" / "model.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["metadata"]))
    meta["format_version"] = 99
    arrays["metadata"] = np.array(json.dumps(meta))
    np.savez(ws / "newer.npz", **arrays)


def _model_without_config(ws):
    model = TrainedModel.load(ws / "run" / "model.npz")
    model.config = None  # as NNClassifier.save writes it
    model.save(ws / "bare.npz")


def _csv(header, *rows):
    return "\n".join([header, *rows]) + "\n"


def _npz_file(ws, cut=False, y=None):
    y = np.arange(20) % 2 if y is None else y
    np.savez(ws / "d.npz", X=np.ones((len(y), 2)), y=y)
    if cut:
        (ws / "d.npz").write_bytes((ws / "d.npz").read_bytes()[:100])
    (ws / "c.yaml").write_text(_cfg("d.npz"))


def _cfg(source, **extra):
    text = f"data: {{source: {source}}}\nmodel: {{hidden_units: 3}}\ntrain: {{epochs: 1}}\n"
    return text + "".join(f"{k}: {v}\n" for k, v in extra.items())


STRICT_CSV = "data: {source: d.csv, categorical: none, missing: error}\nmodel: {hidden_units: 3}\ntrain: {epochs: 1}\n"
"""A config reading d.csv with text columns and missing values as errors."""

# name: (files to add, arguments, exit code, text the one line must contain)
BAD_INPUTS = {
    "missing config file": (
        {},
        ["train", "nope.yaml"],
        2,
        "config file 'nope.yaml' not found; check the path",
    ),
    "yaml syntax error": (
        {"c.yaml": "data:\n  source: iris.csv\n train: [\n"},
        ["train", "c.yaml"],
        2,
        "c.yaml line 3, column 2: YAML syntax error",
    ),
    "unknown key": (
        {"c.yaml": "train:\n  epoch: 3\n"},
        ["train", "c.yaml"],
        2,
        "train.epoch: unknown key; did you mean train.epochs?",
    ),
    "hidden_units 0": (
        {"c.yaml": "model: {hidden_units: 0}\n"},
        ["train", "c.yaml"],
        2,
        "model.hidden_units must be an integer >= 1, got 0",
    ),
    "eta0 -1": (
        {"c.yaml": "train: {schedule: {name: inverse_time, eta0: -1, tau: 10}}\n"},
        ["train", "c.yaml"],
        2,
        "train.schedule: inverse_time: eta0 must be > 0, got -1",
    ),
    "warmup longer than training": (
        {
            "c.yaml": "data: {source: iris.csv}\ntrain: {epochs: 1, schedule: {name: constant, "
            "eta0: 0.1, warmup: 100000}}\n"
        },
        ["train", "c.yaml"],
        2,
        "train.schedule.warmup is 100000 steps but training is ",
    ),
    "unknown transfer": (
        {"c.yaml": "model: {transfer: foo}\n"},
        ["train", "c.yaml"],
        2,
        "model.transfer: unknown transfer function 'foo'; choose one of tanh, ",
    ),
    "missing data file": (
        {"c.yaml": _cfg("missing.csv")},
        ["train", "c.yaml"],
        2,
        "data.source: file 'missing.csv' not found",
    ),
    "csv empty cell": (
        {"c.yaml": STRICT_CSV, "d.csv": _csv("a,b,y", "1,2,x", "3,,z", "4,5,x")},
        ["train", "c.yaml"],
        2,
        "column 'b' has an empty cell at line 3",
    ),
    "csv nan": (
        {"c.yaml": STRICT_CSV, "d.csv": _csv("a,b,y", "1,2,x", "3,4,z", "nan,5,x")},
        ["train", "c.yaml"],
        2,
        "column 'a' has a missing value 'nan' at line 4",
    ),
    "csv non-numeric": (
        {"c.yaml": STRICT_CSV, "d.csv": _csv("a,b,y", "1,2,x", "3,four,z")},
        ["train", "c.yaml"],
        2,
        "column 'b' has non-numeric value 'four' at line 3",
    ),
    "missing target column": (
        {"c.yaml": "data: {source: iris.csv, target: specie}\n"},
        ["train", "c.yaml"],
        2,
        "data.target: column 'specie' not in",
    ),
    "one class": (
        {"c.yaml": _cfg("d.csv"), "d.csv": _csv("a,y", "1,x", "2,x", "3,x")},
        ["train", "c.yaml"],
        2,
        "only one class",
    ),
    "set unknown path": (
        {},
        ["train", "tiny.yaml", "--set", "train.epoch=3"],
        2,
        "train.epoch: unknown key; did you mean train.epochs? (in --set train.epoch=3)",
    ),
    "set unparsable value": (
        {},
        ["train", "tiny.yaml", "--set", "model.hidden_units=[1,"],
        2,
        "--set model.hidden_units=[1,: cannot parse the value '[1,'",
    ),
    "set without =": (
        {},
        ["train", "tiny.yaml", "--set", "model.hidden_units"],
        2,
        "--set model.hidden_units: expected key.path=value",
    ),
    "out is an earlier run": (
        {},
        ["train", "tiny.yaml", "--out", "run"],
        2,
        "--out run: the directory exists and holds an earlier run",
    ),
    "force on a foreign directory": (
        {"stuff/notes.txt": "mine"},
        ["train", "tiny.yaml", "--out", "stuff", "--force"],
        2,
        "--force replaces only nnclf run directories",
    ),
    "resume a finished run": (
        {},
        ["train", "--resume", "run"],
        2,
        "--resume run: this run already finished at step 324",
    ),
    "resume with a config": (
        {},
        ["train", "tiny.yaml", "--resume", "run"],
        2,
        "train --resume continues a run with its own saved config; drop CONFIG",
    ),
    "evaluate features differ": (
        {"three.csv": _csv("a,b,c,species", "1,2,3,setosa")},
        ["evaluate", "run", "--data", "three.csv"],
        2,
        "--data: three.csv has 3 numeric columns (a, b, c) but the model expects 4 features",
    ),
    "evaluate unseen label": (
        {"rose.csv": _csv(",".join(FEATURES + ["species"]), "1,2,3,4,rose")},
        ["evaluate", "run", "--data", "rose.csv"],
        2,
        "label 'rose' was never seen in training",
    ),
    "evaluate without labels": (
        {"nolabel.csv": _csv(",".join(FEATURES), "1,2,3,4")},
        ["evaluate", "run", "--data", "nolabel.csv"],
        2,
        "has no labels to evaluate against",
    ),
    "predict features differ": (
        {},
        ["predict", "run", "--data", "sklearn:wine", "--out", "p.csv"],
        2,
        "--data: sklearn:wine has 13 features but the model expects 4",
    ),
    "predict out exists": (
        {"p.csv": "keep me\n"},
        ["predict", "run", "--data", "iris.csv", "--out", "p.csv"],
        2,
        "--out p.csv: the file exists",
    ),
    "corrupted model file": (
        _truncated_model,
        ["evaluate", "broken.npz", "--data", "iris.csv"],
        2,
        "model file 'broken.npz': is truncated or not an npz file",
    ),
    "newer model file": (
        _newer_model,
        ["predict", "newer.npz", "--data", "iris.csv", "--out", "p.csv"],
        2,
        "was written by a newer nnclf",
    ),
    "unfinished run": (
        {"half/config.yaml": "seed: 0\n", "half/checkpoint.npz": ""},
        ["evaluate", "half"],
        2,
        "half: the run has not finished (no model.npz)",
    ),
    "train without a config": ({}, ["train"], 2, "train needs a CONFIG file"),
    "resume a missing directory": (
        {},
        ["train", "--resume", "nope"],
        2,
        "--resume nope: no such run directory",
    ),
    "resume a foreign directory": (
        {"stuff/notes.txt": "mine"},
        ["train", "--resume", "stuff"],
        2,
        "--resume stuff: not a resumable run (no config.yaml)",
    ),
    "resume a corrupted checkpoint": (
        {"half/config.yaml": TINY, "half/checkpoint.npz": "junk"},
        ["train", "--resume", "half"],
        2,
        "checkpoint 'half/checkpoint.npz': is truncated or not an npz file",
    ),
    "out is a file": (
        {"taken": "mine"},
        ["train", "tiny.yaml", "--out", "taken"],
        2,
        "output directory 'taken' is a file; choose another --out",
    ),
    "out below a file": (
        {"blocker": "mine"},
        ["train", "tiny.yaml", "--out", "blocker/run"],
        2,
        "cannot create the run directory blocker/run ('blocker' is a file)",
    ),
    "evaluate a foreign directory": (
        {"stuff/notes.txt": "mine"},
        ["evaluate", "stuff"],
        2,
        "stuff: not an nnclf run directory (no model.npz)",
    ),
    "evaluate missing data file": (
        {},
        ["evaluate", "run", "--data", "nope.csv"],
        2,
        "--data: file 'nope.csv' not found",
    ),
    "evaluate a model without its config": (
        _model_without_config,
        ["evaluate", "bare.npz"],
        2,
        "this model file records no nnclf train config",
    ),
    "predict out is a directory": (
        {"pdir/x.txt": "mine"},
        ["predict", "run", "--data", "iris.csv", "--out", "pdir", "--force"],
        2,
        "--out pdir: is a directory",
    ),
    "predict out in a missing directory": (
        {},
        ["predict", "run", "--data", "iris.csv", "--out", "nodir/p.csv"],
        2,
        "--out nodir/p.csv: directory 'nodir' does not exist",
    ),
    "gradcheck zero examples": (
        {},
        ["gradcheck", "tiny.yaml", "--examples", "0"],
        2,
        "gradcheck: argument --examples: expected a positive integer, got '0'",
    ),
    "plot an unfinished run": (
        {"half/config.yaml": TINY, "half/checkpoint.npz": ""},
        ["plot", "half"],
        2,
        "half: no history.csv to plot; resume it with: nnclf train --resume half",
    ),
    "plot a corrupted metrics file": (
        lambda ws: (ws / "run" / "metrics.json").write_text("{"),
        ["plot", "run"],
        2,
        "run/metrics.json: not as nnclf train writes it",
    ),
    "unknown command": (
        {},
        ["trian"],
        2,
        "nnclf: error: unknown command 'trian'; did you mean "
        "train? the commands are train, evaluate, predict, "
        "export, info, gradcheck, graph, plot, explain, report, sweep, serve "
        "(see nnclf --help)",
    ),
    "unknown command far from any": (
        {},
        ["frobnicate"],
        2,
        "unknown command 'frobnicate'; the commands are train, ",
    ),
    "mistyped option": (
        {},
        ["train", "tiny.yaml", "--forse"],
        2,
        "unrecognized arguments: --forse; did you mean --force?",
    ),
    "mistyped option of predict": (
        {},
        ["predict", "run", "--data", "iris.csv", "--out", "p.csv", "--froce"],
        2,
        "unrecognized arguments: --froce; did you mean --force?",
    ),
    "out is the current directory": (
        {},
        ["train", "tiny.yaml", "--out", "."],
        2,
        "--out .: that is the current directory; a run needs a "
        "directory of its own (e.g. --out runs/",
    ),
    "output.dir is a parent": (
        {},
        ["train", "tiny.yaml", "--set", "output.dir=.."],
        2,
        "output.dir ..: that is a parent of the current directory",
    ),
    "force over files nnclf did not write": (
        {"run/predictions.csv": "mine\n"},
        ["train", "tiny.yaml", "--out", "run", "--force"],
        2,
        "--force: run holds files nnclf did not write (predictions.csv); move them out of the "
        "run directory first (--force never deletes them), or choose another --out",
    ),
    "predict out is a directory without force": (
        {"pdir/x.txt": "mine"},
        ["predict", "run", "--data", "iris.csv", "--out", "pdir"],
        2,
        "--out pdir: is a directory; give the name of the CSV file to write (e.g. --out "
        "pdir/predictions.csv)",
    ),
    "predict out is the current directory": (
        {},
        ["predict", "run", "--data", "iris.csv", "--out", "."],
        2,
        "--out .: is a directory",
    ),
    "predict with some of the feature names": (
        {"part.csv": _csv("sepal_length,sepal_width,petal_length,pw", "1,2,3,4")},
        ["predict", "run", "--data", "part.csv", "--out", "p.csv"],
        2,
        "--data: part.csv has 3 of the model's 4 features but no column named petal_width (its "
        "other columns: pw)",
    ),
    "evaluate with some of the feature names": (
        {"part.csv": _csv("sepal_length,sepal_width,petal_length,pw,species", "1,2,3,4,setosa")},
        ["evaluate", "run", "--data", "part.csv"],
        2,
        "but no column named petal_width",
    ),
    "predict a directory": (
        {"d.csv/x": "mine"},
        ["predict", "run", "--data", "d.csv", "--out", "p.csv"],
        2,
        "--data: file 'd.csv' is a directory, not a data file",
    ),
    "evaluate a symlink loop": (
        lambda ws: (os.symlink("l2.csv", ws / "l1.csv"), os.symlink("l1.csv", ws / "l2.csv")),
        ["evaluate", "run", "--data", "l1.csv"],
        2,
        "--data: file 'l1.csv' is a symbolic link loop",
    ),
    "predict a csv that is not utf-8": (
        lambda ws: (ws / "latin.csv").write_bytes(
            (",".join(FEATURES) + "\n1,2,3,4\n5,6,7,caf\xe9\n").encode("latin-1")
        ),
        ["predict", "run", "--data", "latin.csv", "--out", "p.csv"],
        2,
        "--data: latin.csv is not UTF-8 text (byte 0xe9 on line 3); save it as UTF-8",
    ),
    "train on a truncated npz": (
        lambda ws: _npz_file(ws, cut=True),
        ["train", "c.yaml"],
        2,
        "d.npz is truncated or not an npz file",
    ),
    "train on an np.save file named .npz": (
        lambda ws: (
            np.save(open(ws / "d.npz", "wb"), np.ones((4, 2))),
            (ws / "c.yaml").write_text(_cfg("d.npz")),
        ),
        ["train", "c.yaml"],
        2,
        "d.npz is a single .npy array, not a data .npz",
    ),
    "train on an npz whose y holds nan": (
        lambda ws: _npz_file(ws, y=np.array([0.0, 1.0, np.nan, 1.0] * 5)),
        ["train", "c.yaml"],
        2,
        "d.npz y has a non-finite label (nan) at row 2 (0-based)",
    ),
    "train on a csv cell over the field limit": (
        {"c.yaml": _cfg("d.csv"), "d.csv": _csv("a,y", "1,x", "9" * 140000 + ",z")},
        ["train", "c.yaml"],
        2,
        "d.csv line 3 is not valid CSV (a cell longer than 131072 characters)",
    ),
    "diverged": (
        {},
        [
            "train",
            "tiny.yaml",
            "--out",
            "new/run",
            "--set",
            "model.transfer=identity",
            "--set",
            "data.standardize=false",
            "--set",
            "train.schedule={name: constant, eta0: 1.0e+30}",
        ],
        1,
        "training diverged at step",
    ),
}


def _bad_input_workspace(tmp_path: Path, trained_run: Path, name: str) -> Path:
    files = BAD_INPUTS[name][0]
    ws = workspace(tmp_path / "ws")
    shutil.copytree(trained_run, ws / "run")
    if callable(files):
        files(ws)
    else:
        for rel, text in files.items():
            (ws / rel).parent.mkdir(parents=True, exist_ok=True)
            (ws / rel).write_text(text)
    return ws


def _check_bad_input(name, result, before, after):
    _, _, code, text = BAD_INPUTS[name]
    assert code == 2 or name == "diverged"  # every user error exits 2; divergence exits 1
    assert result.returncode == code, result.stderr
    assert result.stdout == ""
    stderr = result.stderr
    if name == "diverged":  # training started, and line-mode progress said which engine ran it
        engine, stderr = stderr.split("\n", 1)
        assert engine.startswith("engine: numpy ("), result.stderr
    assert stderr.startswith("nnclf: error: ") and stderr.count("\n") == 1, result.stderr
    assert text in result.stderr
    assert "Traceback" not in result.stderr
    assert after == before  # nothing written, nothing half-written, the earlier run untouched


@pytest.mark.slow
@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_gives_one_line_and_writes_nothing(name, trained, tmp_path, monkeypatch, capsys):
    # In-process through nnclf.cli.main, the console script's entry point, so that the whole
    # table runs in seconds; the next test runs a sample of it through the real script.
    ws = _bad_input_workspace(tmp_path, trained[1], name)
    before = snapshot(ws)
    monkeypatch.chdir(ws)
    args = [str(a) for a in BAD_INPUTS[name][1]]
    code = main(args)
    out, err = capsys.readouterr()
    _check_bad_input(name, subprocess.CompletedProcess(args, code, out, err), before, snapshot(ws))


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        "yaml syntax error",
        "csv nan",
        "corrupted model file",
        "unknown command",
        "diverged",
        "train on a truncated npz",
        "force over files nnclf did not write",
        "predict with some of the feature names",
    ],
)
def test_bad_input_through_the_console_script(name, trained, tmp_path):
    ws = _bad_input_workspace(tmp_path, trained[1], name)
    before = snapshot(ws)
    result = nnclf(*BAD_INPUTS[name][1], cwd=ws)
    _check_bad_input(name, result, before, snapshot(ws))


# ----------------------------------------------------------------------------- the edge: bugs, the machine


BUG_LINE = (
    f"nnclf: internal error: this is a bug in nnclf {__version__}; please report it "
    "with the traceback above"
)


def _raise(exc):
    def fail(*args, **kwargs):
        raise exc

    return fail


# name: (the function the command calls, the exception it raises, arguments)
BUGS = {
    "numpy-like ValueError while evaluating": (
        "nnclf.runs.metrics.evaluate",
        ValueError("operands could not be broadcast together with shapes (3,) (4,)"),
        ["evaluate", "run"],
    ),
    "RuntimeError in gradcheck": (
        "nnclf.runs.report.gradcheck",
        RuntimeError("lost the plot"),
        ["gradcheck", "tiny.yaml"],
    ),
    "KeyError while building the model": (
        "nnclf.runs.run.build_model",
        KeyError("W"),
        ["train", "tiny.yaml", "--out", "fresh"],
    ),
}


@pytest.mark.parametrize("name", list(BUGS))
def test_an_unexpected_exception_is_a_bug_with_its_traceback(
    name, trained, tmp_path, monkeypatch, capsys
):
    target, exc, args = BUGS[name]
    ws = workspace(tmp_path / "ws")
    shutil.copytree(trained[1], ws / "run")
    monkeypatch.chdir(ws)
    monkeypatch.setattr(target, _raise(exc))
    before = snapshot(ws)
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    lines = err.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[-2] == f"{type(exc).__name__}: {exc}"
    assert lines[-1] == BUG_LINE
    assert "nnclf: error:" not in err  # a bug is not reported as the user's mistake
    assert snapshot(ws) == before


def _import_interrupted(*args, **kwargs):
    """What a signal does when it arrives while an extension module initialises."""
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt as e:
        raise ImportError("initialization failed") from e


def test_an_interrupt_inside_an_import_is_an_interrupt_not_a_bug(tmp_path, monkeypatch, capsys):
    ws = workspace(tmp_path)
    monkeypatch.chdir(ws)
    monkeypatch.setattr("nnclf.runs.run.build_model", _import_interrupted)
    code = main(["train", "tiny.yaml", "--out", "fresh"])
    out, err = capsys.readouterr()
    assert (code, out, err) == (130, "", "nnclf: interrupted; nothing was written\n")
    assert not (ws / "fresh").exists()


def test_predictions_stream_into_a_file_that_appears_only_when_complete(
    trained, tmp_path, monkeypatch, capsys
):
    """--out is written chunk by chunk (a folder source is never held whole); Ctrl-C after the
    first chunk leaves neither p.csv nor a temporary file."""

    def predict_csv(model, data, notify=None, **options):
        yield "label,p_a\n", 0
        yield "a,1\n", 1
        raise KeyboardInterrupt

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("nnclf.runs.report.predict_csv", predict_csv)
    code = main(
        ["predict", str(trained[1]), "--data", str(trained[0] / "iris.csv"), "--out", "p.csv"]
    )
    assert code == 130 and os.listdir(tmp_path) == []
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    assert (
        main(["predict", str(trained[1]), "--data", str(trained[0] / "iris.csv"), "--out", "p.csv"])
        == 0
    )
    assert capsys.readouterr().err.endswith("nnclf: wrote 150 predictions to p.csv\n")
    assert len((tmp_path / "p.csv").read_text().splitlines()) == 151


@pytest.mark.parametrize(
    "error, message",
    [
        (OSError(28, "No space left on device", "p.csv"), "p.csv: No space left on device"),
        (PermissionError(13, "Permission denied", "p.csv"), "p.csv: Permission denied"),
    ],
)
def test_the_machine_refusing_is_one_line_naming_the_file(
    error, message, trained, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("nnclf.base.outputs.atomic_write", _raise(error))
    code = main(
        ["predict", str(trained[1]), "--data", str(trained[0] / "iris.csv"), "--out", "p.csv"]
    )
    out, err = capsys.readouterr()
    assert (code, out, err) == (2, "", f"nnclf: error: {message}\n")


def test_a_full_disk_at_the_end_names_the_file_and_keeps_the_run(tmp_path, monkeypatch, capsys):
    ws = workspace(tmp_path)
    monkeypatch.chdir(ws)
    monkeypatch.setattr(
        "nnclf.runs.run.save_checkpoint",
        _raise(OSError(28, "No space left on device", "checkpoint.npz")),
    )
    code = main(["train", "tiny.yaml", "--quiet", "--out", "runs/new"])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err == (
        "nnclf: error: cannot write runs/new/checkpoint.npz (No space left on "
        "device); the finished run is in runs/new without it (its model.npz, "
        "history.csv and metrics.json are complete)\n"
    )
    # no staging directory, no lock file: the run and nothing else
    assert sorted(snapshot(ws / "runs")) == [
        "new",
        "new/config.yaml",
        "new/history.csv",
        "new/metrics.json",
        "new/model.npz",
    ]


def test_a_write_that_fails_names_the_file_asked_for_not_its_temporary_file(
    trained, tmp_path, monkeypatch, capsys
):
    import nnclf.base.archive

    monkeypatch.chdir(tmp_path)
    real_fsync = os.fsync
    monkeypatch.setattr(
        nnclf.base.archive.os, "fsync", _raise(OSError(28, "No space left on device"))
    )
    code = main(
        ["predict", str(trained[1]), "--data", str(trained[0] / "iris.csv"), "--out", "p.csv"]
    )
    monkeypatch.setattr(nnclf.base.archive.os, "fsync", real_fsync)
    out, err = capsys.readouterr()
    assert (code, out, err) == (2, "", "nnclf: error: p.csv: No space left on device\n")
    assert list(tmp_path.iterdir()) == []  # and the temporary file is gone


def test_a_run_that_learns_nothing_exits_0_with_one_warning(tmp_path, monkeypatch, capsys):
    ws = workspace(tmp_path)
    monkeypatch.chdir(ws)
    code = main(
        [
            "train",
            "tiny.yaml",
            "--quiet",
            "--out",
            "r",
            "--set",
            "train.schedule={name: constant, eta0: 1000.0}",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0 and out.startswith("finished 324 steps")
    assert err.count("\n") == 1 and err.startswith(
        "nnclf: warning: this run learned little or nothing: its test log-loss "
    )
    assert err.endswith("; try a smaller train.schedule.eta0 (now 1000) or more train.epochs\n")


def test_ctrl_c_outside_training_exits_130(trained, monkeypatch, capsys):
    monkeypatch.chdir(trained[0])
    monkeypatch.setattr("nnclf.runs.report.graph_dot", _raise(KeyboardInterrupt()))
    assert main(["graph", "tiny.yaml"]) == 130
    assert capsys.readouterr().err == "nnclf: interrupted; nothing was written\n"


@pytest.mark.slow
def test_a_latin1_csv_trains_predicts_and_evaluates_with_data_encoding(tmp_path):
    ws = workspace(tmp_path)
    rows = ["a,b,label"] + [
        f"{i % 7},{(i * 3) % 5},{'café' if i % 2 else 'thé'}" for i in range(60)
    ]
    (ws / "l1.csv").write_bytes(("\n".join(rows) + "\n").encode("latin-1"))
    (ws / "c.yaml").write_text(
        "data: {source: l1.csv}\nmodel: {hidden_units: 3}\ntrain: {epochs: 1}\n"
    )
    refused = nnclf("train", "c.yaml", "--quiet", "--out", "r", cwd=ws)
    assert refused.returncode == 2 and not (ws / "r").exists()
    assert refused.stderr.endswith(
        "l1.csv is not UTF-8 text (byte 0xe9 on line 2); save it as "
        "UTF-8, or give the encoding it is in (data.encoding in a "
        "config, e.g. latin-1)\n"
    )
    done = nnclf(
        "train", "c.yaml", "--quiet", "--out", "r", "--set", "data.encoding=latin-1", cwd=ws
    )
    assert done.returncode == 0, done.stderr
    predicted = nnclf("predict", "r", "--data", "l1.csv", "--out", "-", cwd=ws)
    assert predicted.returncode == 0, predicted.stderr
    assert predicted.stdout.splitlines()[0] == "label,p_café,p_thé"
    evaluated = nnclf("evaluate", "r", "--data", "l1.csv", "--json", cwd=ws)
    assert evaluated.returncode == 0 and json.loads(evaluated.stdout)["n_samples"] == 60
