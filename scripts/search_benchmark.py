"""TPE with median pruning against random search: the best validation log-loss each finds in
the same number of trials (on the digits, or the penguins), and the training steps each spends.

For each seed, two sweeps of the same space (the step size eta0 on a log scale, the hidden
units on a log scale) and the same base config: ``search: {method: random}`` (today's random
sweep, every trial to its end) and ``search: {method: tpe, pruner: median}``, both with that
seed and ``--jobs 1`` (a sequential search, so each is repeatable). Steps are sweep.csv's
``steps`` summed (a pruned trial counts the steps it ran); "steps to random's best" is how
many TPE spent, in trial order, before a finished trial matched the random sweep's best
(of the same seed), or "-" if none did.

    python scripts/search_benchmark.py [--data digits|penguins] [--trials 40] [--seeds 5]
                                       [--epochs 10] [--engine numpy] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nnclf.cli import main as nnclf  # noqa: E402

SWEEP = """\
base:
  seed: 2
  data: {data}
  train: {{epochs: {epochs}, engine: {engine}}}
search: {{method: {method}, trials: {trials}, seed: {seed}{pruner}}}
random:
  train.schedule.eta0: {{log_uniform: [0.0005, 0.5]}}
  model.hidden_units: {{int_log_uniform: [2, 256]}}
metric: val_log_loss
"""


DATA = {
    "digits": "{source: 'sklearn:digits'}",
    "penguins": f"{{source: '{ROOT / 'data' / 'penguins.csv'}', target: species}}",
}


def one_sweep(where: Path, method: str, args, seed: int) -> list[dict]:
    """sweep.csv's rows of one sequential sweep (``method`` random or tpe)."""
    text = SWEEP.format(
        data=DATA[args.data],
        epochs=args.epochs,
        engine=args.engine,
        method=method,
        trials=args.trials,
        seed=seed,
        pruner=", pruner: median" if method == "tpe" else "",
    )
    (where / f"{method}-{seed}.yaml").write_text(text)
    out = where / f"{method}-{seed}"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = nnclf(["sweep", str(where / f"{method}-{seed}.yaml"), "--jobs", "1", "--out",
                      str(out), "--quiet"])  # fmt: skip
    if code != 0:
        raise SystemExit(f"the {method} sweep of seed {seed} failed (exit {code})")
    with open(out / "sweep.csv", newline="") as f:
        return list(csv.DictReader(f))


def best(rows: list[dict]) -> float:
    return min(float(r["val_log_loss"]) for r in rows if r["status"] == "finished")


def steps(rows: list[dict]) -> int:
    return sum(int(r["steps"]) for r in rows if r["steps"])


def steps_to_reach(rows: list[dict], target: float) -> int | None:
    """Steps spent, in trial order, until a finished trial's loss is at most ``target``."""
    spent = 0
    for r in rows:
        spent += int(r["steps"]) if r["steps"] else 0
        if r["status"] == "finished" and float(r["val_log_loss"]) <= target:
            return spent
    return None


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=DATA, default="digits", help="default digits")
    parser.add_argument("--trials", type=int, default=40, help="trials per sweep (default 40)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default 5)")
    parser.add_argument("--epochs", type=int, default=10, help="epochs of a trial (default 10)")
    parser.add_argument("--engine", default="numpy", help="train.engine (default numpy)")
    parser.add_argument("--quick", action="store_true", help="3 trials, 1 seed, 2 epochs")
    args = parser.parse_args(argv)
    if args.quick:
        args.trials, args.seeds, args.epochs = 3, 1, 2
    print(f"{args.data}, {args.trials} trials per sweep, {args.epochs} epochs per trial")
    print(f"{platform.platform()}, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}")
    header = (
        "seed  random best  random steps  tpe best  tpe steps  pruned  tpe steps to random's best"
    )
    print(header)
    table = []
    with tempfile.TemporaryDirectory(prefix="nnclf-search-bench-") as tmp:
        for seed in range(args.seeds):
            rand, tpe = (one_sweep(Path(tmp), m, args, seed) for m in ("random", "tpe"))
            reach = steps_to_reach(tpe, best(rand))
            pruned = sum(r["status"] == "pruned" for r in tpe)
            table.append((best(rand), steps(rand), best(tpe), steps(tpe), reach))
            print(
                f"{seed:>4}  {best(rand):>11.5f}  {steps(rand):>12}  {best(tpe):>8.5f}  "
                f"{steps(tpe):>9}  {pruned:>6}  {'-' if reach is None else reach:>26}"
            )
    rb, rs, tb, ts, _ = (list(col) for col in zip(*table))
    reached = [row[4] for row in table if row[4] is not None]
    print(
        f"mean  {statistics.mean(rb):>11.5f}  {statistics.mean(rs):>12.0f}  "
        f"{statistics.mean(tb):>8.5f}  {statistics.mean(ts):>9.0f}"
    )
    print(
        f"tpe/random: best log-loss {statistics.mean(tb) / statistics.mean(rb):.2f}x, "
        f"steps {sum(ts) / sum(rs):.2f}x; tpe reached random's best in {len(reached)} of "
        f"{len(table)} seeds"
        + (
            f", after {statistics.mean(reached) / statistics.mean(rs):.2f}x random's steps "
            "(mean over those seeds)"
            if reached
            else ""
        )
    )


if __name__ == "__main__":
    main()
