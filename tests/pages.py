"""Helpers of the browser tests (tests/test_explain.py, tests/test_report_page.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
"""Screenshots of the pages the browser tests open (ignored by git), to look at."""


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot as tests/artifacts/NAME.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def shown(page, selector: str) -> np.ndarray:
    """The numbers an array view shows (its table cells, or the heat map's hover numbers),
    shaped as the view says."""
    box = page.locator(selector).first
    shape = json.loads(box.get_attribute("data-shape"))
    cells = box.locator("td.num").all_inner_texts()
    values = [float(c) for c in cells] if cells else json.loads(box.get_attribute("data-values"))
    return np.array(values, dtype=float).reshape(shape)


def to_digits(a, digits: int = 6) -> np.ndarray:
    """``a`` rounded to ``digits`` significant digits, as the pages show numbers."""
    return np.vectorize(lambda x: float(f"{x:.{digits}g}"))(np.asarray(a, dtype=float))
