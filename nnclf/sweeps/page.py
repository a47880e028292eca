"""``nnclf report`` of a sweep directory: its trials as one self-contained HTML page.

Contract
--------
:func:`sweep_page` reads a sweep directory (trials.json and sweep.csv, checked by
:func:`nnclf.sweeps.sweep.load`) and writes the page of :mod:`nnclf.runs.page`'s template:
the trials' table as sweep.csv holds it (sortable by any column in the page) and the metric of
each finished trial against each swept value. The page goes to ``--out``, else to
``report.html`` inside the sweep directory.
"""

from __future__ import annotations

from pathlib import Path

from nnclf.runs.page import page_path, write_report
from nnclf.sweeps.sweep import SWEEP_CSV, TRIALS, _columns, load

__all__ = ["is_sweep_dir", "sweep_data", "sweep_page"]


def is_sweep_dir(path) -> bool:
    """Whether ``path`` is a sweep directory (it holds trials.json or a sweep.csv)."""
    return any((Path(path) / name).is_file() for name in (TRIALS, SWEEP_CSV))


def sweep_data(sweep_dir: Path) -> dict:
    """What the page shows of a sweep, from its files."""
    sweep, rows = load(sweep_dir)
    columns = _columns(sweep)
    table = [[rows[t.name].get(c, "") for c in columns] for t in sweep.trials if t.name in rows]
    return {
        "kind": "sweep",
        "title": f"sweep {Path(sweep_dir).name}",
        "columns": columns,
        "rows": table,
        "metric": sweep.metric,
        "axes": list(sweep.axes),
        "trials": len(sweep.trials),
    }


def sweep_page(sweep_dir, out=None, force: bool = False) -> Path:
    """Write the report page of ``sweep_dir``; returns the path written."""
    sweep_dir = Path(sweep_dir)
    path = page_path(sweep_dir, out, force)
    return write_report(sweep_data(sweep_dir), path)
