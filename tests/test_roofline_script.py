"""Smoke test of scripts/roofline.py: with tiny sizes it measures every engine in both dtypes
and prints each ratio with both of its figures. Nothing here asserts a timing."""

import importlib.util
import re
from pathlib import Path

import pytest

pytest.importorskip("numba")

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "roofline.py"


def _script():
    spec = importlib.util.spec_from_file_location("roofline", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_roofline_measures_every_engine_and_prints_both_figures_of_each_ratio(capsys):
    roofline = _script()
    table = roofline.main(["--quick", "--rounds", "1"])
    out = capsys.readouterr().out
    engines = {"numpy", "compiled", "fused"}
    assert set(table) == {(t, 20, 6, e) for t in ("float64", "float32") for e in engines}
    assert all(rate > 0 for rate in table.values())
    for dtype in ("float64", "float32"):
        peak = re.search(rf"one core's peak, {dtype}: ([0-9.]+) GFLOP/s", out)
        assert peak and float(peak.group(1)) > 0
    # "a / b = r": both figures, and r is their quotient as printed.
    ratios = re.findall(r"([0-9,]+) / ([0-9,]+) = ([0-9.]+)", out)
    assert len(ratios) == 3
    for a, b, r in ratios:
        a, b = (float(v.replace(",", "")) for v in (a, b))
        assert float(r) == pytest.approx(a / b, abs=0.006)


def test_flops_count_the_products_of_both_layers():
    # W x and the rank-one update of W: 2 m d each; V h, the VJP of h and V's update: 2 K m each.
    assert _script().flops(64, 100) == 2 * 6400 * 2 + 2 * 1000 * 3
