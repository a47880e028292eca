"""Everything but the steps: what a run on a large CSV costs around its SGD steps, against
``pandas.read_csv`` of the same file.

A seeded CSV of ``--rows`` x ``--features`` numbers and a 5-class label column is written to
a temporary folder, with a 200-row CSV of the same kind. Each round, alternating, in fresh
processes: ``pandas.read_csv`` of the large file (the read alone, pandas already imported),
``nnclf train`` of one step on the large file, and the same on the small file. The cost
around the steps is the large run's wall time minus the small run's (which holds Python's
start, the imports and the step); each figure is the median of the rounds and the ratio is
that cost over pandas' read. The target is a ratio of at most 2.

A breakdown follows, from one more run in this process with a timer around each phase
(importing pandas, reading, fingerprint, split, preparation and standardisation, metrics,
and the rest: steps and files). The fingerprint is hashed on a thread while the split runs:
its time overlaps the split's, and the rest is what is left of the total after both.

    python scripts/around_steps_benchmark.py [--rows 200000] [--features 50] [--rounds 5]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

READ = "import sys, time, pandas; t = time.perf_counter(); pandas.read_csv(sys.argv[1]); "
READ += "print(time.perf_counter() - t)"

CONFIG = """seed: 0
data:
  source: {source}
  target: label
model:
  hidden_units: 32
train:
  epochs: null
  steps: 1
"""

PHASES = {  # nnclf.runs.run's names of each phase's functions
    "read": ["load_dataset"],
    "fingerprint": ["fingerprint"],
    "split": ["split_rows", "take_rows"],
    "preparation and standardisation": ["prepared", "prepare"],
    "metrics": ["evaluate"],
}


def write_csv(path: Path, n: int, d: int, seed: int = 0) -> None:
    """n rows of d standard normal features (6 decimals) and a label in 0..4."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).round(6)
    y = rng.integers(0, 5, size=n)
    with open(path, "w") as f:
        f.write(",".join([f"f{j}" for j in range(d)] + ["label"]) + "\n")
        np.savetxt(f, np.column_stack([X, y]), delimiter=",", fmt=["%.6f"] * d + ["%d"])


def wall(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def train_argv(config: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "nnclf", "train", str(config), "--out", str(out), "--quiet"]


def measure(folder: Path, rounds: int) -> dict[str, float]:
    """Medians: pandas' read, the large run, the small run, and large minus small."""
    big, small = folder / "big.yaml", folder / "small.yaml"
    times: dict[str, list[float]] = {"read_csv": [], "large run": [], "small run": []}
    for r in range(rounds + 1):  # round 0 warms the file cache and is not counted
        read = subprocess.run(
            [sys.executable, "-c", READ, str(folder / "big.csv")],
            check=True,
            capture_output=True,
            text=True,
        )
        large = wall(train_argv(big, folder / f"big-{r}"))
        little = wall(train_argv(small, folder / f"small-{r}"))
        if r:
            times["read_csv"].append(float(read.stdout))
            times["large run"].append(large)
            times["small run"].append(little)
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    around = [a - b for a, b in zip(times["large run"], times["small run"])]
    medians["around the steps"] = statistics.median(around)
    return medians


def breakdown(config: Path, out: Path) -> dict[str, float]:
    """Seconds of each phase of one run in this process (the rest: steps and files)."""
    from nnclf.config.load import load_config
    from nnclf.runs import run

    start = time.perf_counter()
    try:  # (the baseline's pandas is imported: here it is timed on its own)
        import pandas  # noqa: F401
    except ImportError:
        pass
    importing = time.perf_counter() - start
    spent = dict.fromkeys(PHASES, 0.0)

    def timed(phase, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[phase] += time.perf_counter() - start

        return wrapper

    saved = {}
    for phase, names in PHASES.items():
        for name in names:
            saved[name] = getattr(run, name)
            setattr(run, name, timed(phase, saved[name]))
    try:
        start = time.perf_counter()
        run.train(load_config(config), out, quiet=True)
        total = time.perf_counter() - start
    finally:
        for name, fn in saved.items():
            setattr(run, name, fn)
    spent["steps, files and the rest"] = total - sum(spent.values())
    spent["total (imports done)"] = total
    return {"import pandas": importing, **spent}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_csv(folder / "big.csv", args.rows, args.features)
        write_csv(folder / "small.csv", 200, args.features, seed=1)
        for name in ("big", "small"):
            (folder / f"{name}.yaml").write_text(CONFIG.format(source=folder / f"{name}.csv"))
        medians = measure(folder, args.rounds)
        phases = breakdown(folder / "big.yaml", folder / "in-process")
    print(f"{args.rows} x {args.features} CSV, medians of {args.rounds} rounds")
    for name, seconds in medians.items():
        print(f"  {name:36s} {seconds:7.3f} s")
    ratio = medians["around the steps"] / medians["read_csv"]
    print(f"  {'around the steps / read_csv':36s} {ratio:7.2f}   (target <= 2)")
    print("breakdown of one run in this process:")
    for name, seconds in phases.items():
        print(f"  {name:36s} {seconds:7.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
