"""Smoke tests of scripts/benchmark.py: it runs with tiny settings, with and without torch,
and writes JSON of the documented shape. Nothing here asserts a timing."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "benchmark.py"

# Runs the script as __main__ with `import torch` failing, as on a machine without torch.
# (A finder rather than sys.modules["torch"] = None, which scipy and scikit-learn take for
# an imported torch.)
WITHOUT_TORCH = """
import importlib.abc, runpy, sys

class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "torch":
            raise ModuleNotFoundError("No module named 'torch'", name="torch")
        return None

sys.meta_path.insert(0, NoTorch())
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""

TOOLS_WITHOUT_TORCH = {
    "sklearn MLPClassifier",
    "nnclf (shuffle)",
    "nnclf (uniform, the notes')",
    "numpy reference (hand-written)",
}


def run_script(*args, torch=False):
    command = (
        [sys.executable, str(SCRIPT)]
        if torch
        else [sys.executable, "-c", WITHOUT_TORCH, str(SCRIPT)]
    )
    return subprocess.run(command + list(args), capture_output=True, text=True, timeout=600)


def check_row(row):
    assert row["examples_per_second"] > 0
    assert row["seconds"] > 0
    assert row["examples"] > 0
    assert row["ratio_vs_sklearn"] > 0
    assert row["test_accuracy"] is None or 0 <= row["test_accuracy"] <= 1


@pytest.mark.slow
def test_digits_quick_without_torch_writes_the_table_as_json(tmp_path):
    out = tmp_path / "bench.json"
    done = run_script("--cases", "digits", "--epochs", "1", "--quick", "--json", str(out))
    assert done.returncode == 0, done.stderr
    assert "examples/s" in done.stdout and "vs sklearn" in done.stdout

    result = json.loads(out.read_text())
    assert {
        "date",
        "command",
        "machine",
        "settings",
        "results",
        "memory",
        "targets",
        "notes",
        "total_seconds",
    } <= set(result)
    assert "--quick" in result["command"]
    assert result["machine"]["cores"] >= 1
    assert result["machine"]["torch"] is None
    assert result["settings"]["epochs"] == 1
    assert result["memory"] is None

    rows = result["results"]
    assert {r["tool"] for r in rows} == TOOLS_WITHOUT_TORCH
    assert {r["case"] for r in rows} == {"digits, batch 1, 1 epoch"}
    for row in rows:
        check_row(row)
        assert row["test_accuracy"] > 0.5
    sklearn_row = next(r for r in rows if r["tool"] == "sklearn MLPClassifier")
    assert sklearn_row["ratio_vs_sklearn"] == pytest.approx(1.0)
    assert any("torch: skipped (not installed" in note for note in result["notes"])
    assert "digits per-example: nnclf / sklearn" in result["targets"]


@pytest.mark.slow
def test_every_case_runs_quick(tmp_path):
    out, md = tmp_path / "bench.json", tmp_path / "bench.md"
    done = run_script("--quick", "--no-torch", "--json", str(out), "--markdown", str(md))
    assert done.returncode == 0, done.stderr

    result = json.loads(out.read_text())
    cases = {r["case"] for r in result["results"]}
    assert any(c.startswith("synthetic, batch 1,") for c in cases)
    assert any(c.startswith("digits, batch 32,") for c in cases)
    assert any(c.startswith("synthetic, batch 32,") for c in cases)
    predict = [r for r in result["results"] if r["case"].startswith("predict_proba")]
    assert {r["tool"] for r in predict} == {"sklearn MLPClassifier", "nnclf"}
    for row in result["results"]:
        check_row(row)

    memory = result["memory"]
    assert memory["steps"] == 20_000
    for key in (
        "rss_start_mb",
        "rss_peak_mb",
        "rss_end_mb",
        "end_vs_start",
        "peak_vs_start",
        "examples_per_second",
        "seconds",
    ):
        assert memory[key] > 0
    assert memory["rss_samples_mb"]
    assert any("torch: skipped (--no-torch)" in note for note in result["notes"])
    versus = result["versus_torch"]
    assert len(versus) == 8  # digits and wide, batch 32 and 128, float64 and float32
    for line in versus:
        assert line["nnclf_examples_per_second"] > 0
        assert line["torch_examples_per_second"] is None and line["ratio"] is None

    text = md.read_text()
    assert "| case | tool | examples/s |" in text
    assert result["command"] in text


@pytest.mark.slow
def test_torch_rows_when_torch_is_installed(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "bench.json"
    done = run_script(
        "--cases", "digits", "--epochs", "1", "--quick", "--json", str(out), torch=True
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    torch_rows = [r for r in result["results"] if r["tool"].startswith("torch")]
    assert len(torch_rows) == 1
    check_row(torch_rows[0])
    assert result["machine"]["torch"]


def check_versus(versus):
    assert [(v["case"].split(",")[0], v["batch_size"], v["dtype"]) for v in versus] == [
        (problem, batch_size, dtype)
        for problem in ("digits", "wide")
        for batch_size in (32, 128)
        for dtype in ("float64", "float32")
    ]
    for v in versus:
        assert v["nnclf_examples_per_second"] > 0 and v["rounds"] == 2
        assert 0 <= v["nnclf_test_accuracy"] <= 1


@pytest.mark.slow
def test_the_torch_minibatch_case_without_torch_times_nnclf_alone(tmp_path):
    out = tmp_path / "bench.json"
    done = run_script("--cases", "torch-minibatch", "--quick", "--json", str(out))
    assert done.returncode == 0, done.stderr
    assert "nnclf against the eager PyTorch loop" in done.stdout
    result = json.loads(out.read_text())
    assert result["results"] == []
    check_versus(result["versus_torch"])
    for v in result["versus_torch"]:
        assert v["torch_examples_per_second"] is None and v["max_param_diff"] is None
    assert not any("nnclf / torch" in name for name in result["targets"])
    assert any("torch: skipped (not installed" in note for note in result["notes"])


@pytest.mark.slow
def test_the_torch_minibatch_case_follows_the_same_trajectory_in_both_tools(tmp_path):
    # The same initial parameters, permutations, step size and momentum: in float64 the two
    # tools' final parameters agree to rounding, which shows that both train the same network
    # the same way (the timings compare like with like).
    pytest.importorskip("torch")
    out = tmp_path / "bench.json"
    done = run_script(
        "--cases",
        "torch-minibatch",
        "--quick",
        "--momentum",
        "0.9",
        "--json",
        str(out),
        torch=True,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    versus = result["versus_torch"]
    check_versus(versus)
    for v in versus:
        assert v["torch_examples_per_second"] > 0
        assert v["ratio"] == pytest.approx(
            v["nnclf_examples_per_second"] / v["torch_examples_per_second"]
        )
        assert v["max_param_diff"] < (1e-12 if v["dtype"] == "float64" else 1e-4)
        assert v["torch_test_accuracy"] == pytest.approx(v["nnclf_test_accuracy"], abs=0.01)
    assert "minibatch 128 (wide, float64): nnclf / torch" in result["targets"]
    assert any("momentum 0.9" in note for note in result["notes"])


@pytest.mark.slow
def test_an_unknown_case_is_one_line_and_exit_2():
    done = run_script("--cases", "digits,digitz")
    assert done.returncode == 2
    assert (
        "unknown case 'digitz'; choose from "
        "digits,synthetic,minibatch,torch-minibatch,predict,memory" in done.stderr
    )
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_the_engines_benchmark_runs_and_prints_one_row_per_case():
    # scripts/engines_benchmark.py needs numba (the fast extra); it is a smoke test of the
    # script's wiring, with tiny step counts: the figures it prints mean nothing here.
    pytest.importorskip("numba")
    script = SCRIPT.parent / "engines_benchmark.py"
    done = subprocess.run(
        [sys.executable, str(script), "--quick", "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr
    rows = [
        line
        for line in done.stdout.splitlines()
        if line.startswith("| digits") or line.startswith("| random")
    ]
    assert len(rows) == 5
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == 8 and all(float(c.replace(",", "").rstrip("x")) > 0 for c in cells[1:])


def test_the_features_script_runs_every_variants_settings(tmp_path, monkeypatch, load_script):
    """Every variant's --set lines are valid settings (each builds a config), and two
    variants train to a table row with a sensible digits accuracy."""
    from nnclf.config.load import load_config

    script = load_script("features")
    for name, sets in script.VARIANTS.items():
        load_config(script.ROOT / "configs" / "digits.yaml", sets)  # raises if one is wrong
    monkeypatch.setattr(
        script,
        "VARIANTS",
        {k: v for k, v in script.VARIANTS.items() if k in ("baseline", "averaged SGD")},
    )
    table = tmp_path / "features.md"
    assert script.main(["--seeds", "1", "--markdown", str(table)]) == 0
    rows = [line.split(" | ") for line in table.read_text().splitlines()[2:4]]
    assert [r[0] for r in rows] == ["| baseline", "| averaged SGD"]
    for r in rows:
        assert float(r[2].split(" ± ")[0]) > 0.9  # test accuracy on digits


# ---------------------------------------------------------------------- step_benchmark.py


def test_step_benchmark_summary_takes_medians_and_the_ratio(load_script):
    script = load_script("step_benchmark")
    rounds = {
        "before": [{"numba_step": 2.0, "numpy_epoch": 4.0}, {"numba_step": 4.0, "numpy_epoch": 8.0}]
        + [{"numba_step": 3.0, "numpy_epoch": 6.0}],
        "after": [{"numba_step": 1.5, "numpy_epoch": 6.0}] * 3,
    }
    table = script.summary(rounds)
    assert table["numba_step"] == {
        "before": 3.0,
        "after": 1.5,
        "ratio": 0.5,
        "paired": 0.5,
        "lowest": 0.375,
        "highest": 0.75,
    }
    # Rounds paired in order: 6/4, 6/8, 6/6.
    assert table["numpy_epoch"]["ratio"] == 1.0
    assert (table["numpy_epoch"]["paired"], table["numpy_epoch"]["lowest"]) == (1.0, 0.75)
    assert table["numpy_epoch"]["highest"] == 1.5


@pytest.mark.slow
def test_step_benchmark_compares_a_commit_with_a_folder(load_script, capsys):
    # The commit this checkout stands on, exported, against the checkout itself.
    script = load_script("step_benchmark")
    table = script.main(["--quick", "--rounds", "1", "--before", "HEAD"])
    assert set(table) == {"numba_step", "numpy_epoch"}
    for row in table.values():
        assert row["before"] > 0 and row["after"] > 0
        assert row["ratio"] == pytest.approx(row["after"] / row["before"])
    out = capsys.readouterr().out
    assert "s per compiled SGD step" in out and "after / before" in out
