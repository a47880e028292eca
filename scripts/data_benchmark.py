"""Reading a numeric CSV: nnclf's loader against pandas.read_csv, time and peak memory.

Writes a CSV of ``--rows`` rows and ``--cols`` columns (``--cols - 1`` float features as
Python writes them, 17 significant digits, and an integer label) into a temporary
directory, then reads it in a fresh subprocess per tool and round:

    pandas.read_csv         the whole file into a DataFrame
    nnclf                   nnclf.data.sources.load_dataset (pandas' C reader in chunks)
    nnclf without pandas    the same with ``import pandas`` failing (numpy.loadtxt in chunks)
    nnclf careful reader    the cell-by-cell reader alone (nnclf 0.1's; with --careful)

Each child first imports numpy, pandas (when it may) and nnclf.data.sources, so that every tool
starts from the same memory. Time is the wall-clock time of the read alone; peak memory
is the child's peak resident set size (``ru_maxrss``, which counts every page numpy,
pandas and the C readers touch, not only what tracemalloc sees) and its rise over the
resident size right before the read. Rounds alternate between the tools and each figure is
the median over the rounds, so that a noisy shared machine hits all alike.

    python scripts/data_benchmark.py [--rows 200000] [--cols 50] [--rounds 5] [--careful]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import resource, sys, time
tool, path = sys.argv[1], sys.argv[2]
if tool != "pandas.read_csv" and tool != "nnclf":
    sys.modules["pandas"] = None  # import pandas fails: nnclf's fallback reader
import numpy
try:
    import pandas
except ImportError:
    pandas = None
from nnclf.data import sources as data
from nnclf.data import tables as datafiles
if tool == "nnclf careful reader":
    datafiles._fast_columns = lambda *args: None
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
if tool == "pandas.read_csv":
    shape = pandas.read_csv(path).shape
else:
    ds = data.load_dataset(path)
    shape = (len(ds.X), ds.X.shape[1] + 1)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(seconds, peak / 1024, (peak - before) / 1024, *shape)
"""


def write_csv(path: Path, rows: int, cols: int, seed: int = 0) -> None:
    """``rows`` rows of ``cols - 1`` normal floats (repr: 17 digits) and a label in 0..2."""
    rng = np.random.default_rng(seed)
    with open(path, "w") as f:
        f.write(",".join([f"x{j}" for j in range(cols - 1)] + ["label"]) + "\n")
        for start in range(0, rows, 10_000):
            X = rng.normal(size=(min(10_000, rows - start), cols - 1)).tolist()
            y = rng.integers(0, 3, size=len(X)).tolist()
            f.write("".join(",".join(map(repr, x)) + f",{c}\n" for x, c in zip(X, y)))


def measure(tool: str, path: Path) -> dict:
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]),
    )
    out = subprocess.run(
        [sys.executable, "-c", CHILD, tool, str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout.split()
    seconds, peak, rise, rows, cols = map(float, out)
    return {"seconds": seconds, "peak_mb": peak, "rise_mb": rise, "shape": (int(rows), int(cols))}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--cols", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--careful",
        action="store_true",
        help="also time the careful cell-by-cell reader (slow, memory-hungry)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    tools = ["pandas.read_csv", "nnclf", "nnclf without pandas"]
    tools += ["nnclf careful reader"] if args.careful else []
    runs: dict[str, list[dict]] = {tool: [] for tool in tools}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "numeric.csv"
        write_csv(path, args.rows, args.cols)
        size = path.stat().st_size
        for _ in range(args.rounds):
            for tool in tools:
                runs[tool].append(measure(tool, path))
    base = {
        key: statistics.median(r[key] for r in runs["pandas.read_csv"])
        for key in ("seconds", "peak_mb", "rise_mb")
    }
    rows = []
    for tool, results in runs.items():
        assert all(r["shape"] == (args.rows, args.cols) for r in results), (tool, results)
        row = {
            "tool": tool,
            **{
                key: statistics.median(r[key] for r in results)
                for key in ("seconds", "peak_mb", "rise_mb")
            },
        }
        row.update({f"{key}_ratio": row[key] / base[key] for key in base})
        rows.append(row)
    if args.json:
        print(
            json.dumps(
                {
                    "rows": args.rows,
                    "cols": args.cols,
                    "bytes": size,
                    "rounds": args.rounds,
                    "results": rows,
                },
                indent=2,
            )
        )
        return {"results": rows}
    print(
        f"{args.rows} x {args.cols} numeric CSV, {size / 1e6:.0f} MB; median of "
        f"{args.rounds} rounds, each in a fresh process; ratios to pandas.read_csv"
    )
    print(f"{'tool':<22} {'seconds':>8} {'x':>6} {'peak MB':>8} {'x':>6} {'rise MB':>8} {'x':>6}")
    for r in rows:
        print(
            f"{r['tool']:<22} {r['seconds']:>8.2f} {r['seconds_ratio']:>6.2f} "
            f"{r['peak_mb']:>8.0f} {r['peak_mb_ratio']:>6.2f} "
            f"{r['rise_mb']:>8.0f} {r['rise_mb_ratio']:>6.2f}"
        )
    return {"results": rows}


if __name__ == "__main__":
    main()
