"""What the first result costs: which heavy packages ``nnclf --help``, ``nnclf train
configs/iris.yaml`` and the quick start import (a list, never a time: the times are
measured by scripts/startup_benchmark.py), and the digits read without scikit-learn against
scikit-learn's own loader."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nnclf.data import bundled

ROOT = Path(__file__).resolve().parent.parent

HEAVY = {
    "sklearn", "scipy", "pandas", "pyarrow", "matplotlib", "numba", "llvmlite", "torch",
    "onnx", "onnxruntime", "dask", "distributed", "joblib", "tqdm",
}  # fmt: skip

SCRIPT = """
import json, sys
sys.argv = {argv!r}
from nnclf.cli import main
try:
    main()
except SystemExit as e:
    code = e.code
print("\\nMODULES" + json.dumps(sorted({{m.split(".")[0] for m in sys.modules}})))
"""


def imported(argv: list[str], cwd: Path) -> set[str]:
    """The top-level packages (not the standard library's) a command imports."""
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(argv=["nnclf", *argv])],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )
    assert "MODULES" in done.stdout, done.stderr
    names = json.loads(done.stdout.rsplit("MODULES", 1)[1])
    return {n for n in names if n not in sys.stdlib_module_names and not n.startswith("_")}


@pytest.mark.slow
def test_help_imports_nothing_but_nnclf(tmp_path):
    assert imported(["--help"], tmp_path) == {"nnclf"}


@pytest.mark.slow
@pytest.mark.parametrize("config", ["iris.yaml", "digits.yaml"])
def test_training_a_small_config_imports_no_heavy_package(config, tmp_path):
    argv = ["train", str(ROOT / "configs" / config), "--out", str(tmp_path / "run"), "--quiet"]
    packages = imported(argv, tmp_path)
    assert (tmp_path / "run" / "model.npz").is_file()
    assert packages & HEAVY == set()
    assert {"nnclf", "numpy", "yaml"} <= packages


def test_the_digits_read_without_scikit_learn_are_scikit_learns():
    from sklearn.datasets import load_digits

    X, y, names = bundled.load_bundled("digits")
    reference = load_digits()
    np.testing.assert_array_equal(X, reference.data)
    assert X.dtype == np.float64
    np.testing.assert_array_equal(y, reference.target)
    assert list(names) == list(reference.feature_names)


@pytest.mark.parametrize("broken", ["missing", "short", "not numbers"])
def test_without_the_digits_file_as_expected_scikit_learn_loads_them(broken, tmp_path, monkeypatch):
    import gzip

    from sklearn.datasets import load_digits

    path = tmp_path / "digits.csv.gz"
    if broken == "short":
        with gzip.open(path, "wt") as f:
            f.write("1,2,3\n")
    elif broken == "not numbers":
        path.write_bytes(b"not a gzip file")
    monkeypatch.setattr(bundled, "digits_file", lambda: path if path.exists() else None)
    X, y, _ = bundled.load_bundled("digits")
    np.testing.assert_array_equal(X, load_digits().data)
    np.testing.assert_array_equal(y, load_digits().target)


# ----------------------------------------------------------------------------- around the steps


def test_a_run_prepares_each_part_once_and_scores_it_from_those_inputs(tmp_path, monkeypatch):
    from nnclf.config.load import config_from_dict
    from nnclf.data.preprocessing import Standardizer
    from nnclf.export.trained import TrainedModel
    from nnclf.runs import run
    from nnclf.runs.metrics import evaluate

    calls = []
    transform = Standardizer.transform
    monkeypatch.setattr(
        Standardizer, "transform", lambda self, X: calls.append(len(X)) or transform(self, X)
    )
    cfg = config_from_dict(
        {
            "data": {"source": str(ROOT / "data" / "iris.csv"), "target": "species"},
            "model": {"hidden_units": 4},
            "train": {"epochs": 2},
        }
    )
    run.train(cfg, tmp_path / "run", quiet=True)
    # train, validation and test: 108, 12 and 30 rows, each standardised once
    assert sorted(calls) == [12, 30, 108]
    monkeypatch.undo()
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    model = TrainedModel.load(tmp_path / "run" / "model.npz")
    splits = run.load_splits(cfg)
    again = evaluate(model, splits.X_test, splits.y_test)  # from the raw rows
    assert metrics["test"]["confusion_matrix"] == again["confusion_matrix"]
    assert metrics["test"]["log_loss"] == pytest.approx(again["log_loss"], rel=1e-12)


@pytest.mark.parametrize("seed", range(30))
def test_the_median_is_numpys(seed):
    from nnclf.data.preparation import median

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    values = rng.choice([rng.normal(size=n), rng.integers(-2, 3, size=n).astype(float)])
    assert median(values) == np.median(values)


@pytest.mark.slow
def test_the_startup_benchmark_runs(load_script, capsys):
    assert load_script("startup_benchmark").main(["--rounds", "1"]) == 0
    out = capsys.readouterr().out
    assert "nnclf train configs/iris.yaml" in out and "x numpy" in out


@pytest.mark.slow
def test_the_around_the_steps_benchmark_runs(load_script, capsys):
    script = load_script("around_steps_benchmark")
    assert script.main(["--rows", "2000", "--features", "5", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    assert "around the steps / read_csv" in out and "metrics" in out
