"""``nnclf info``: the model card of a run directory or a model file (nnclf.runs.card.model_card)."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import sklearn

from nnclf import NNClassifier, __version__
from nnclf.cli import main

IRIS = Path(__file__).resolve().parents[1] / "data" / "iris.csv"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    where = tmp_path_factory.mktemp("info")
    (where / "c.yaml").write_text(
        f"seed: 3\ndata: {{source: {IRIS}, target: species}}\n"
        "model: {hidden_units: [6, 5], transfer: relu}\n"
        "train: {epochs: 2, batch_size: 4, optimizer: adam, class_weight: balanced}\n"
    )
    assert main(["train", str(where / "c.yaml"), "--out", str(where / "run"), "--quiet"]) == 0
    return where / "run"


def info(capsys, *args):
    code = main(["info", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_card_of_a_run(run, capsys):
    code, out, err = info(capsys, run, "--json")
    assert code == 0 and err == ""
    card = json.loads(out)
    assert list(card) == [
        "model",
        "run_dir",
        "architecture",
        "training",
        "data",
        "preparation",
        "metrics",
        "versions",
    ]
    assert card["model"] == str(run / "model.npz") and card["run_dir"] == str(run)
    # d = 4 inputs, layers 6 and 5, K = 3: weights and biases counted by hand.
    assert card["architecture"] == {
        "n_features": 4,
        "layers": [6, 5],
        "n_classes": 3,
        "transfers": ["relu", "relu"],
        "parameters": 4 * 6 + 6 + 6 * 5 + 5 + 5 * 3 + 3,
        "dtype": "float64",
    }
    t = card["training"]
    assert (t["from"], t["seed"], t["epochs"], t["batch_size"], t["class_weight"]) == (
        "nnclf train config",
        3,
        2,
        4,
        "balanced",
    )
    assert t["optimizer"]["name"] == "adam" and t["schedule"]["name"] == "inverse_time"
    metrics = json.loads((run / "metrics.json").read_text())
    assert (t["run_steps"], t["run_stopped"]) == (metrics["steps"], "completed")
    d = card["data"]
    assert d["source"] == str(IRIS) and d["rows"] == 150 and len(d["sha256"]) == 64
    assert d["features"] == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert d["standardized"] is True
    assert d["classes"] == [
        {"label": c, "count": 50} for c in ("setosa", "versicolor", "virginica")
    ]
    for part in ("train", "validation", "test"):
        assert card["metrics"][part] == {
            k: metrics[part][k]
            for k in ("n_samples", "accuracy", "balanced_accuracy", "log_loss", "macro_f1")
        }
    assert card["versions"] == {
        "format_version": 2,
        "written_by_nnclf": __version__,
        "nnclf": __version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
    }


def test_the_text_of_a_run(run, capsys):
    code, out, _ = info(capsys, run)
    assert code == 0
    lines = out.splitlines()
    assert lines[:2] == [f"model  {run / 'model.npz'}", f"run    {run}"]
    for line in (
        "architecture",
        "  layers      6, 5",
        "  transfers   relu, relu",
        "  parameters  83",
        "  optimizer",
        "  class_weight    balanced",
        "  classes       setosa (50), versicolor (50), virginica (50)",
        "versions",
        f"  nnclf             {__version__}",
    ):
        assert any(x.startswith(line) for x in lines), line
    test = json.loads((run / "metrics.json").read_text())["test"]
    row = next(x for x in lines if x.startswith("test "))
    assert row.split() == [
        "test",
        str(test["n_samples"]),
        f"{test['accuracy']:.4f}",
        f"{test['balanced_accuracy']:.4f}",
        f"{test['log_loss']:.4f}",
        f"{test['macro_f1']:.4f}",
    ]
    assert "  schedule        inverse_time (eta0=" in out


def test_a_bare_model_file_has_no_metrics_and_no_counts(run, capsys):
    code, out, _ = info(capsys, run / "model.npz", "--json")
    card = json.loads(out)
    assert code == 0 and card["run_dir"] is None and card["metrics"] is None
    assert "run_steps" not in card["training"] and card["training"]["epochs"] == 2
    assert [c["count"] for c in card["data"]["classes"]] == [None, None, None]
    code, text, _ = info(capsys, run / "model.npz")
    assert "metrics" not in text and "  classes       setosa, versicolor, virginica" in text


def test_a_model_saved_by_the_estimator(tmp_path, capsys):
    X = np.random.default_rng(0).normal(size=(40, 3))
    y = np.where(X[:, 0] > 0, 1, 0)
    NNClassifier(hidden_units=4, epochs=1, eta0=0.05).fit(X, y).save(tmp_path / "e.npz")
    code, out, _ = info(capsys, tmp_path / "e.npz", "--json")
    card = json.loads(out)
    assert code == 0 and card["training"]["from"] == "NNClassifier parameters"
    assert card["training"]["eta0"] == 0.05 and "hidden_units" not in card["training"]
    assert card["architecture"]["parameters"] == 3 * 4 + 4 + 4 * 2 + 2
    assert card["data"]["features"] is None and card["data"]["source"] is None
    assert card["versions"]["format_version"] == 1
    code, text, _ = info(capsys, tmp_path / "e.npz")
    assert "  features      null" in text
    # (The keys are aligned to the longest, categorical_features.)
    assert re.search(r"\ntraining\n  from +NNClassifier parameters\n", text)


def test_a_long_list_of_features_is_shortened_in_the_text_only(tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(40, 20)), columns=[f"f{i}" for i in range(20)])
    NNClassifier(hidden_units=3, steps=40).fit(X, np.arange(40) % 2).save(tmp_path / "m.npz")
    code, out, _ = info(capsys, tmp_path / "m.npz")
    assert code == 0 and "  features      f0, f1, f2, f3, ..., f18, f19 (20 in all)\n" in out
    code, out, _ = info(capsys, tmp_path / "m.npz", "--json")
    assert json.loads(out)["data"]["features"] == [f"f{i}" for i in range(20)]


@pytest.mark.parametrize(
    "target, message",
    [
        (
            "nowhere",
            "nnclf: error: nowhere: there is no run directory or model file here; train one "
            "with: nnclf train CONFIG --out nowhere",
        ),
        ("nowhere.npz", "nnclf: error: model file 'nowhere.npz': not found"),
        ("empty", "nnclf: error: empty: not an nnclf run directory (no model.npz)"),
        ("broken.npz", "nnclf: error: model file 'broken.npz'"),
        ("run", "nnclf: error: run/metrics.json: not as nnclf train writes it"),
    ],
)
def test_a_missing_or_corrupt_target_is_one_line_and_exit_2(
    run, tmp_path, monkeypatch, capsys, target, message
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken.npz").write_bytes((run / "model.npz").read_bytes()[:200])
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.npz").write_bytes((run / "model.npz").read_bytes())
    (tmp_path / "run" / "metrics.json").write_text("{")
    code, out, err = info(capsys, target)
    assert (code, out) == (2, "") and err.startswith(message) and err.count("\n") == 1
