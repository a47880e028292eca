"""``nnclf report``: a run directory as one self-contained HTML page.

Contract
--------
:func:`run_page` reads a run's files (history.csv, metrics.json, config.yaml, and the model
card of :mod:`nnclf.runs.card`) and writes a page (template ``templates/report.html``, package
data: inline script and style, the data as JSON in the page, nothing fetched): the learning
curves (loss and validation accuracy against the step t, eta^t on its own axis), the scores of
each split, the confusion matrix and per-class scores, the model card with the data
preparation, and the training settings. The same template draws a sweep's page
(:mod:`nnclf.sweeps.page`, through :func:`write_report`). The page goes to ``--out``, else to
``report.html`` inside the directory (rewritten each time, as ``nnclf plot`` rewrites its PNGs).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nnclf.base.outputs import check_output
from nnclf.base.pages import embed, template, write_page
from nnclf.errors import RunError
from nnclf.runs.card import model_card
from nnclf.runs.report import _read_history, _read_run_file, require_run_files, run_metrics
from nnclf.runs.runfiles import CONFIG, HISTORY, METRICS

__all__ = ["PAGE", "run_page", "write_report", "page_path"]

PAGE = "report.html"


def page_path(directory: Path, out, force: bool) -> Path:
    """The page's path: ``out`` checked by the rules of every ``--out``, else
    ``directory/report.html``."""
    if out is None:
        return directory / PAGE
    return check_output(
        str(out), force=force, example=PAGE, stdout="the page is a file", reads=(directory,)
    )


def write_report(data: dict, path: Path) -> Path:
    """Write the report page of ``data`` (``kind`` "run" or "sweep") to ``path``, atomically."""
    return write_page(path, embed(template("nnclf.runs", PAGE), data))


def _clean(value):
    """``value`` (parsed JSON) with every non-finite number as None, for strict JSON."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _finite(values) -> list:
    """Numbers for JSON: NaN and infinities (an evaluation without validation) as null."""
    return [float(v) if np.isfinite(v) else None for v in values]


def run_data(run_dir: Path) -> dict:
    """What the page shows of a run, from its files."""
    require_run_files(
        run_dir,
        (HISTORY, METRICS, CONFIG),
        ", so not a finished nnclf run",
        "give a run directory of nnclf train, or a sweep directory",
    )
    history = _read_run_file(run_dir / HISTORY, _read_history)
    metrics = run_metrics(run_dir)
    return {
        "kind": "run",
        "title": f"run {run_dir.name}",
        "history": {k: _finite(v) for k, v in history.items()},
        "metrics": _clean(metrics),
        "card": _clean(model_card(run_dir)),
        "config": (run_dir / CONFIG).read_text(encoding="utf-8"),
    }


def run_page(run_dir, out=None, force: bool = False) -> Path:
    """Write the report page of ``run_dir``; returns the path written."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(
            f"{run_dir}: not a directory; give a run directory of nnclf train or a sweep "
            "directory of nnclf sweep"
        )
    path = page_path(run_dir, out, force)
    return write_report(run_data(run_dir), path)
