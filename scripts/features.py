"""What each training feature beyond the notes does on a real data set, beside the notes' SGD.

Contract
--------
Every variant is ``configs/digits.yaml`` (scikit-learn's digits, the notes' network with
m = 100 tanh units, 10 epochs of per-example SGD) with a few settings changed, exactly as
``nnclf train configs/digits.yaml --set KEY=VALUE ...`` would run it. Each variant is trained
once per seed (``--seeds``, default 0..4: the seed moves the initialisation, the split and
the picks) through :func:`nnclf.runs.run.train`, on the numpy engine unless ``--engine`` says
otherwise, and the table gives the mean and standard deviation over the seeds of the test
accuracy, the test log-loss and the training seconds::

    variant | settings | test accuracy | test log-loss | seconds

The first row, ``baseline``, is the notes' algorithm; every other row changes only what its
settings column shows. ``--markdown PATH`` also writes the table for the README. Times are
of this machine at this moment (shared, noisy): compare rows of one run, not of two.

Run ``python scripts/features.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

VARIANTS = {
    "baseline": [],
    "two layers [100, 100]": ["model.hidden_units=[100, 100]"],
    "class_weight balanced": ["train.class_weight=balanced"],
    "averaged SGD": ["train.average=true"],
    "averaged from step 5000": ["train.average=5000"],
    "adagrad": ["train.optimizer=adagrad"],
    "adam, eta 0.001": ["train.optimizer=adam", "train.schedule={name: constant, eta0: 0.001}"],
    "plateau schedule": [
        "train.schedule={name: plateau, eta0: 0.05, factor: 0.5, patience: 2}",
        "train.eval_every=1000",
    ],
    "momentum 0.9, eta 0.005": [
        "train.momentum=0.9",
        "train.schedule={name: inverse_time, eta0: 0.005, tau: 20000}",
    ],
}


def run_variant(overrides: list[str], seed: int, engine: str) -> dict:
    """Train configs/digits.yaml with ``overrides`` and this seed; the test metrics."""
    from nnclf.config.load import load_config
    from nnclf.runs.run import train

    sets = [*overrides, f"seed={seed}", f"train.engine={engine}"]
    cfg = load_config(ROOT / "configs" / "digits.yaml", sets)
    with tempfile.TemporaryDirectory() as tmp:
        outcome = train(cfg, Path(tmp) / "run", quiet=True)
    test = outcome.metrics["test"]
    return {
        "accuracy": test["accuracy"],
        "log_loss": test["log_loss"],
        "seconds": outcome.metrics["seconds"],
    }


def _mean_sd(values: list[float], digits: int) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {sd:.{digits}f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default 5)")
    parser.add_argument("--engine", default="numpy", choices=("numpy", "numba", "auto"))
    parser.add_argument("--only", nargs="*", help="variants to run (default all)")
    parser.add_argument("--markdown", help="also write the table to this path")
    args = parser.parse_args(argv)
    names = args.only or list(VARIANTS)
    lines = [
        "| variant | settings (`--set`) | test accuracy | test log-loss | seconds |",
        "|---|---|---|---|---|",
    ]
    print(lines[0], lines[1], sep="\n", flush=True)
    for name in names:
        rows = [run_variant(VARIANTS[name], seed, args.engine) for seed in range(args.seeds)]
        settings = "<br>".join(f"`{s}`" for s in VARIANTS[name]) or "(configs/digits.yaml)"
        line = (
            f"| {name} | {settings} | "
            f"{_mean_sd([r['accuracy'] for r in rows], 4)} | "
            f"{_mean_sd([r['log_loss'] for r in rows], 4)} | "
            f"{_mean_sd([r['seconds'] for r in rows], 2)} |"
        )
        lines.append(line)
        print(line, flush=True)
    note = (
        f"\n{args.seeds} seeds each, engine {args.engine}; python scripts/features.py "
        f"{' '.join(argv if argv is not None else sys.argv[1:])}".rstrip()
    )
    print(note)
    if args.markdown:
        Path(args.markdown).write_text("\n".join(lines) + "\n" + note + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
