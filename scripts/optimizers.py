"""Test accuracy, test log-loss and training time on digits (configs/digits.yaml: 100 tanh units, 10
epochs, batch 1) for plain SGD, Adagrad, Adam and averaged SGD, on each engine.

Each variant is ``nnclf train configs/digits.yaml`` with a few ``--set`` overrides (below),
run through :func:`nnclf.runs.run.train` into a temporary directory; the time is the trainer's
own (metrics.json ``seconds``), the median of the rounds, the numba engine's step compiled
before the first round. Rounds alternate between the variants, so that a busy machine slows
them alike. Step sizes are each optimizer's usual default, not tuned here: SGD the notes'
default schedule, Adagrad a constant 0.01, Adam a constant 0.001 (Kingma and Ba's).

    python scripts/optimizers.py [--rounds 3] [--seeds 0 1 2 3 4] [--engines numpy numba]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from nnclf.config.load import load_config
from nnclf.runs import run

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "digits.yaml"

VARIANTS = {
    "sgd": [],
    "adagrad": ["train.optimizer=adagrad", "train.schedule={name: constant, eta0: 0.01}"],
    "adam": ["train.optimizer=adam", "train.schedule={name: constant, eta0: 0.001}"],
    "averaged sgd": ["train.average=true"],
    "averaged sgd from epoch 5": ["train.average=5173"],  # after 4 epochs of 1293 steps
    "adam, averaged": [
        "train.optimizer=adam",
        "train.schedule={name: constant, eta0: 0.001}",
        "train.average=true",
    ],
}


def one_run(overrides: list[str], engine: str, seed: int, where: Path) -> tuple[tuple, float]:
    """((test accuracy, test log-loss), seconds) of one run."""
    cfg = load_config(CONFIG, [*overrides, f"train.engine={engine}", f"seed={seed}"])
    test = (outcome := run.train(cfg, where, quiet=True, force=True)).metrics["test"]
    return (test["accuracy"], test["log_loss"]), outcome.metrics["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--engines", nargs="+", default=["numpy", "numba"])
    args = parser.parse_args()
    accuracy: dict = {}
    seconds: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp) / "run"
        for name, overrides in VARIANTS.items():  # compiles each numba step once
            if "numba" in args.engines:
                one_run(overrides + ["train.steps=10", "train.epochs=null"], "numba", 0, where)
        for r in range(args.rounds):
            for engine in args.engines:
                for name, overrides in VARIANTS.items():
                    for seed in args.seeds:
                        acc, secs = one_run(overrides, engine, seed, where)
                        accuracy.setdefault((name, engine), {})[seed] = acc
                        seconds.setdefault((name, engine), []).append(secs)
    seeds = ", ".join(map(str, args.seeds))
    print(
        f"digits: test accuracy and log-loss (mean over seeds {seeds}), seconds of training "
        f"(median of {args.rounds} rounds x {len(args.seeds)} seeds)"
    )
    print(
        f"{'variant':26s} {'engine':6s} {'accuracy':>8s} {'min..max':>13s} {'log-loss':>8s} "
        f"{'seconds':>7s}"
    )
    for (name, engine), by_seed in accuracy.items():
        acc = [by_seed[s][0] for s in args.seeds]
        loss = statistics.mean(by_seed[s][1] for s in args.seeds)
        print(
            f"{name:26s} {engine:6s} {statistics.mean(acc):8.4f} {min(acc):.4f}..{max(acc):.4f} "
            f"{loss:8.4f} {statistics.median(seconds[name, engine]):7.2f}"
        )


if __name__ == "__main__":
    main()
