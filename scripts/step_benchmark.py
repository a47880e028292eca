"""One package against another, step for step: (a) a compiled SGD step (numba engine) and
(b) an epoch of the numpy engine (digits, m hidden units, ``--hidden``, default 100, in
``--dtype``, default float64), each timed in a fresh process per variant, the variants
alternating (A, B, A, B, ...), each figure the median of the rounds; the ratio is after's
time over before's (below 1: after is faster).

``--before`` and ``--after`` name a git commit of this repository (exported with
``git archive`` into a temporary folder) or a folder holding an ``nnclf`` package; by
default the commit this branch left ``main`` at, against this checkout. The numba compile
(or its load from a cache) happens before the timing, in each process.

    python scripts/step_benchmark.py [--before COMMIT|DIR] [--after COMMIT|DIR]
                                     [--rounds 5] [--quick] [--hidden 100] [--dtype float64]
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

ROOT = Path(__file__).resolve().parents[1]

CASES = {"numba_step": "s per compiled SGD step", "numpy_epoch": "s per numpy-engine epoch"}


def measure(quick: bool, hidden: int = 100, dtype: str = "float64") -> dict[str, float]:
    """Seconds per compiled step and per numpy-engine epoch of the nnclf on sys.path
    (digits, m = ``hidden``, plain SGD, batch 1, constant eta, in ``dtype``)."""
    import time

    import numpy as np
    from sklearn.datasets import load_digits

    from nnclf.graph.network import Network
    from nnclf.training.trainer import SGDSettings, Trainer

    X, y = load_digits(return_X_y=True)
    X = np.ascontiguousarray((X - X.mean(0)) / (X.std(0) + 1e-9), dtype=dtype)
    schedule = {"name": "constant", "eta0": 0.01}

    def fit(engine, **size):
        net = Network(X.shape[1], hidden, 10, seed=0, dtype=dtype)
        settings = SGDSettings(engine=engine, schedule=schedule, **size)
        trainer = Trainer(net, settings, seed=0, progress="none")
        start = time.perf_counter()
        trainer.fit(X, y)
        return time.perf_counter() - start

    fit("numba", steps=100)  # compile, or load from the cache, outside the timing
    steps = 5_000 if quick else int(min(1e6, 2e4 * 1000 / hidden))
    epochs = 1 if quick else 3
    return {
        "numba_step": fit("numba", steps=steps) / steps,
        "numpy_epoch": fit("numpy", epochs=epochs) / epochs,
    }


def _import_from_path() -> None:
    """Import nnclf from the folder on PYTHONPATH, even where an editable install's finder
    (which comes before the path in ``sys.meta_path``) would give the checkout's."""
    sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in _module_of(f)]
    import nnclf

    wanted = os.environ.get("PYTHONPATH", "").split(os.pathsep)[0]
    if wanted and not Path(nnclf.__file__).resolve().is_relative_to(Path(wanted).resolve()):
        raise SystemExit(f"step_benchmark: nnclf came from {nnclf.__file__}, not {wanted}")


def _module_of(finder) -> str:
    return getattr(finder, "__module__", None) or type(finder).__module__


def package_root(ref: str, scratch: Path) -> Path:
    """The folder holding the ``nnclf`` of ``ref`` (a folder, or a commit to export)."""
    if (Path(ref) / "nnclf").is_dir():
        return Path(ref).resolve()
    out = scratch / ref.replace("/", "_")
    out.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "nnclf"], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive.stdout, check=True)
    return out


def run_variant(root: Path, cache: Path, quick: bool, size: list[str]) -> dict[str, float]:
    """:func:`measure` in a new process importing nnclf from ``root``."""
    env = dict(os.environ, PYTHONPATH=str(root), NNCLF_CACHE_DIR=str(cache))
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", *size]
    done = subprocess.run(
        command + (["--quick"] if quick else []), env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"step_benchmark: the run from {root} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def summary(rounds: dict[str, list[dict]]) -> dict[str, dict[str, float]]:
    """Per case: the median of each variant's rounds, their ratio after / before, and the
    median, lowest and highest of the rounds' own ratios (each round's two runs were
    neighbours in time, so their ratio is the least disturbed by a busy machine)."""
    table = {}
    for case in CASES:
        before = statistics.median(r[case] for r in rounds["before"])
        after = statistics.median(r[case] for r in rounds["after"])
        paired = [a[case] / b[case] for a, b in zip(rounds["after"], rounds["before"])]
        table[case] = {
            "before": before,
            "after": after,
            "ratio": after / before,
            "paired": statistics.median(paired),
            "lowest": min(paired),
            "highest": max(paired),
        }
    return table


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=None, help="a commit or folder (default: merge-base)")
    parser.add_argument("--after", default=str(ROOT))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="fewer steps (a smoke test)")
    parser.add_argument("--hidden", type=int, default=100, help="hidden units m")
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _import_from_path()
        print(json.dumps(measure(args.quick, args.hidden, args.dtype)))
        return {}
    size = ["--hidden", str(args.hidden), "--dtype", args.dtype]
    before = (
        args.before
        or subprocess.run(
            ["git", "-C", str(ROOT), "merge-base", "HEAD", "main"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    with tempfile.TemporaryDirectory(prefix="nnclf-bench-") as scratch:
        scratch = Path(scratch)
        roots = {
            "before": package_root(before, scratch / "before"),
            "after": package_root(args.after, scratch / "after"),
        }
        rounds: dict[str, list] = {"before": [], "after": []}
        for r in range(args.rounds):
            # Alternate which goes first, so that neither always follows the other.
            for name in ("before", "after") if r % 2 == 0 else ("after", "before"):
                rounds[name].append(
                    run_variant(roots[name], scratch / f"cache-{name}", args.quick, size)
                )
    table = summary(rounds)
    print(
        f"before: {before}   after: {args.after}   rounds: {args.rounds} (medians)   "
        f"m = {args.hidden}, {args.dtype}"
    )
    print(
        "| case | before | after | after / before | per round: median (lowest - highest) |"
        "\n|---|---:|---:|---:|---:|"
    )
    for case, row in table.items():
        print(
            f"| {CASES[case]} | {row['before']:.3e} | {row['after']:.3e} | {row['ratio']:.3f} "
            f"| {row['paired']:.3f} ({row['lowest']:.3f} - {row['highest']:.3f}) |"
        )
    return table


if __name__ == "__main__":
    main()
