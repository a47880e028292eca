"""Time to first result: the wall time of a command as a user meets it, against the wall
time of ``python -c "import numpy"`` on the same machine, the two run alternately in fresh
processes; each figure is the median of the rounds, and the ratio is the command's median
over numpy's.

The commands are ``nnclf --help``, ``nnclf train configs/iris.yaml`` (a CSV) and the quick
start ``nnclf train configs/digits.yaml`` (scikit-learn's digits), each training into a
new temporary folder. The targets are a ratio of at most 4 for iris and 8 for the digits.
nnclf's modules are compiled to bytecode first, as ``pip install`` leaves them: where
``PYTHONDONTWRITEBYTECODE`` is set, an editable install would otherwise compile every module
from source in every run (about 70 ms more on a 2-core EPYC).

    python scripts/startup_benchmark.py [--rounds 7] [--json]
"""

from __future__ import annotations

import argparse
import compileall
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BASELINE = [sys.executable, "-c", "import numpy"]
COMMANDS = {
    "nnclf --help": ["--help"],
    "nnclf train configs/iris.yaml": ["train", str(ROOT / "configs" / "iris.yaml")],
    "nnclf train configs/digits.yaml": ["train", str(ROOT / "configs" / "digits.yaml")],
}
TARGETS = {"nnclf train configs/iris.yaml": 4.0, "nnclf train configs/digits.yaml": 8.0}


def wall(argv: list[str], out: Path | None = None) -> float:
    """Seconds for one run of ``argv`` (with ``--out out`` and ``--quiet`` when training)."""
    if out is not None:
        argv = argv + ["--out", str(out), "--quiet"]
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def measure(rounds: int) -> dict:
    """Median seconds of the baseline and of every command, alternating in each round."""
    import nnclf

    compileall.compile_dir(Path(nnclf.__file__).parent, quiet=1)  # (written whatever the flag)
    times: dict[str, list[float]] = {"python -c 'import numpy'": []}
    times.update({name: [] for name in COMMANDS})
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds + 1):  # round 0 warms the file cache and is not counted
            for k, (name, args) in enumerate(COMMANDS.items()):
                base = wall(BASELINE)
                argv = [sys.executable, "-m", "nnclf", *args]
                out = Path(tmp) / f"run-{r}-{k}" if args[0] == "train" else None
                t = wall(argv, out)
                if r:
                    times["python -c 'import numpy'"].append(base)
                    times[name].append(t)
    return {name: statistics.median(ts) for name, ts in times.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    medians = measure(args.rounds)
    base = medians["python -c 'import numpy'"]
    rows = {
        name: {"seconds": s, "ratio": s / base, "target": TARGETS.get(name)}
        for name, s in medians.items()
    }
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'command':36s} {'median s':>9s} {'x numpy':>8s} {'target':>7s}")
    for name, row in rows.items():
        target = f"<= {row['target']:g}" if row["target"] else ""
        print(f"{name:36s} {row['seconds']:9.3f} {row['ratio']:8.2f} {target:>7s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
