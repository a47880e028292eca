"""Wall time of ``nnclf sweep`` with --jobs 2 against --jobs 1: 8 trials on the digits
(4 step sizes x 2 seeds, 100 hidden units, 150 epochs: about 4 s each), each sweep the
command a user runs (``python -m nnclf sweep ... --quiet``, process start-up included).
Rounds alternate between the two, so that a noisy shared machine hits both alike; the ratio
is of the medians.
The load average before and after is printed too: on a busy machine the ratio drops.

    python scripts/sweep_benchmark.py [--rounds 2] [--epochs 150] [--engine numpy] [--quick]
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SWEEP = """\
base:
  seed: 0
  data: {{source: sklearn:digits}}
  model: {{hidden_units: 100}}
  train: {{epochs: {epochs}, engine: {engine}}}
grid:
  train.schedule.eta0: {etas}
seeds: [0, 1]
"""


def one_sweep(sweep_file: Path, jobs: int, out: Path) -> float:
    """Seconds of one whole ``nnclf sweep`` run (a fresh process)."""
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
    )
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "nnclf",
            "sweep",
            str(sweep_file),
            "--jobs",
            str(jobs),
            "--out",
            str(out),
            "--quiet",
        ],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def trial_seconds(out: Path) -> float:
    """The trials' own seconds (as each worker timed it), summed from sweep.csv."""
    with open(out / "sweep.csv", newline="") as f:
        return sum(float(row["seconds"]) for row in csv.DictReader(f))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--epochs", type=int, default=150, help="epochs per trial (default 150: about 4 s each)"
    )
    parser.add_argument("--engine", default="numpy", help="train.engine of the trials")
    parser.add_argument("--quick", action="store_true", help="1 round of 1-epoch trials")
    args = parser.parse_args(argv)
    rounds, epochs = (1, 1) if args.quick else (args.rounds, args.epochs)
    etas = [0.005, 0.01, 0.02, 0.05]
    times = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        sweep_file = Path(tmp) / "bench.yaml"
        sweep_file.write_text(SWEEP.format(epochs=epochs, engine=args.engine, etas=etas))
        load_before = os.getloadavg()
        for r in range(rounds):
            for jobs in (1, 2):
                out = Path(tmp) / f"r{r}-j{jobs}"
                seconds = one_sweep(sweep_file, jobs, out)
                times[jobs].append(seconds)
                print(
                    f"round {r + 1}: --jobs {jobs}: {seconds:.2f} s (the trials' own seconds "
                    f"sum to {trial_seconds(out):.2f} s)",
                    flush=True,
                )
        load_after = os.getloadavg()
    one, two = statistics.median(times[1]), statistics.median(times[2])
    print(
        f"8 trials ({len(etas)} step sizes x 2 seeds, digits, {epochs} epochs, "
        f"engine {args.engine}), median of {rounds} rounds on {os.cpu_count()} cores:"
    )
    print(f"  --jobs 1: {one:.2f} s   --jobs 2: {two:.2f} s   speed-up {one / two:.2f}x")
    print(f"  load average (1, 5, 15 min) before {_load(load_before)}, after {_load(load_after)}")


def _load(load) -> str:
    return ", ".join(f"{x:.2f}" for x in load)


if __name__ == "__main__":
    main()
