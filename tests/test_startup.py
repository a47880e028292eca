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
    "onnx", "onnxruntime", "dask", "distributed", "joblib", "threadpoolctl", "tqdm",
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
