"""Training from a folder source larger than memory: private memory and speed against memory.

Writes a folder holding X.npy (float32, ``--gigabytes`` of it, ``--features`` columns; labels
from a random linear map of the features, so there is something to learn) and y.npy in a
temporary directory under ``--dir``, reads it once so that its pages are cached, then for
each engine runs, in alternating rounds, one child process of each kind:

- ``folder``: ``nnclf train`` of the folder (nnclf.runs.run.train: loading, the chunked
  statistics, ``--steps`` SGD steps, metrics of every split, the run's files); its private
  memory is the peak of RssAnon in /proc/self/status, sampled every 5 ms by a thread of the
  child (a spike shorter than that can be missed), less the RssAnon after the imports;
- ``memory``: the same training rows (the same splits) copied into memory and standardised
  into a float64 array, as an in-memory source is trained, and the same trainer on them.

The speed of each is steps / (seconds of Trainer.fit); the ratio folder / memory is the
ratio of the medians over the rounds. Children run BLAS on one thread (a shared machine's
BLAS threads otherwise make the numpy engine's times swing by 2x either way), and report
their major page faults (pages read from disk: 0 means X.npy stayed in the page cache). The folder is deleted at the end (``--keep`` keeps it).

    python scripts/bigdata_benchmark.py [--gigabytes 4] [--features 784] [--hidden 100]
        [--steps 300000] [--rounds 2] [--engines numpy numba] [--dir /tmp] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CLASSES = 10

CHILD = r"""
import json, sys, threading, time
args = json.loads(sys.argv[1])

def rss_anon():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
peak = [0]
def sample():
    while True:
        peak[0] = max(peak[0], rss_anon())
        time.sleep(0.005)

import numpy as np
from nnclf.runs import run
from nnclf.config.load import config_from_dict
from nnclf.training.trainer import Trainer
start = rss_anon()
threading.Thread(target=sample, daemon=True).start()
cfg = config_from_dict(args["config"])
if args["kind"] == "folder":
    outcome = run.train(cfg, args["out"], quiet=True)
    seconds, steps = outcome.seconds, outcome.steps
else:
    splits = run.load_splits(cfg)
    model = run.build_model(cfg, splits)
    rows = splits.X_train
    X = np.empty(rows.shape)
    for s in range(0, len(X), 65536):  # a float64 standardised copy, as model.prepare makes
        X[s:s + 65536] = model.prepare(rows.array[rows.index[s:s + 65536]])
    trainer = Trainer(model.network, cfg.train, seed=cfg.seed, progress="none")
    began = time.perf_counter()
    trainer.fit(X, model.encode(splits.y_train))
    seconds, steps = time.perf_counter() - began, trainer.t
import resource
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": seconds, "steps": steps, "rss_anon_start": start,
                  "rss_anon_peak": max(peak[0], rss_anon()), "major_faults": usage.ru_majflt}))
"""


def write_folder(folder: Path, gigabytes: float, d: int, seed: int = 0) -> int:
    """X.npy (n, d) float32 of about ``gigabytes`` and y.npy (n,), written block by block."""
    n = int(gigabytes * 2**30) // (4 * d)
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((d, CLASSES)) / np.sqrt(d)
    X = np.lib.format.open_memmap(folder / "X.npy", mode="w+", dtype=np.float32, shape=(n, d))
    y = np.empty(n, dtype=np.int64)
    block = max(1, (64 << 20) // (4 * d))
    for s in range(0, n, block):
        x = rng.standard_normal((min(block, n - s), d)).astype(np.float32) * 2 + 1
        X[s : s + len(x)] = x
        y[s : s + len(x)] = np.argmax(
            (x - 1) @ A + 0.5 * rng.standard_normal((len(x), CLASSES)), axis=1
        )
    X.flush()
    del X
    np.save(folder / "y.npy", y)
    return n


def read_through(path: Path) -> None:
    """Read a file once, so that its pages are in the page cache."""
    with open(path, "rb") as f:
        while f.read(64 << 20):
            pass


def child(kind: str, config: dict, out: Path) -> dict:
    args = json.dumps({"kind": kind, "config": config, "out": str(out)})
    # BLAS on one thread in both kinds of child: on a shared machine BLAS's threads wait on
    # each other's cores, which swamps the difference measured here (as nnclf.training.engine says).
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    done = subprocess.run(
        [sys.executable, "-c", CHILD, args], capture_output=True, text=True, env=env
    )
    if done.returncode != 0:
        raise SystemExit(f"{kind} child failed:\n{done.stderr}")
    shutil.rmtree(out, ignore_errors=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def config(folder: Path, engine: str, hidden: int, steps: int) -> dict:
    return {
        "seed": 0,
        "data": {"source": str(folder), "test_fraction": 0.1, "validation_fraction": 0.0},
        "model": {"hidden_units": hidden},
        "train": {"steps": steps, "engine": engine, "schedule": {"name": "constant", "eta0": 0.01}},
    }


def measure(folder: Path, engines, hidden: int, steps: int, rounds: int) -> list[dict]:
    """One row per engine: medians over the rounds of each kind's steps/s and memory."""
    rows = []
    for engine in engines:
        cfg = config(folder, engine, hidden, steps)
        child("folder", dict(cfg, train=dict(cfg["train"], steps=1000)), folder / "warm")
        runs = {"folder": [], "memory": []}
        for _ in range(rounds):
            for kind in runs:  # alternating, so that a noisy machine hits both alike
                runs[kind].append(child(kind, cfg, folder / "run"))
        speed = {
            k: statistics.median(r["steps"] / r["seconds"] for r in v) for k, v in runs.items()
        }
        rows.append(
            {
                "engine": engine,
                "folder_steps_per_s": speed["folder"],
                "memory_steps_per_s": speed["memory"],
                "ratio": speed["folder"] / speed["memory"],
                "folder_rss_anon_peak_mb": max(r["rss_anon_peak"] for r in runs["folder"]) / 2**20,
                "folder_rss_anon_growth_mb": max(
                    r["rss_anon_peak"] - r["rss_anon_start"] for r in runs["folder"]
                )
                / 2**20,
                "memory_rss_anon_peak_mb": max(r["rss_anon_peak"] for r in runs["memory"]) / 2**20,
                # Pages read from disk, not from the page cache: 0 when the file stayed cached.
                "folder_major_faults": max(r["major_faults"] for r in runs["folder"]),
            }
        )
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gigabytes", type=float, default=4.0)
    parser.add_argument("--features", type=int, default=784)
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--steps", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--engines", nargs="+", default=["numpy", "numba"], choices=["numpy", "numba"]
    )
    parser.add_argument("--dir", default=tempfile.gettempdir())
    parser.add_argument("--keep", action="store_true", help="keep the folder written")
    parser.add_argument("--folder", help="use this folder (X.npy, y.npy) instead of writing one")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    need = args.gigabytes * 2**30 * 1.1
    if shutil.disk_usage(args.dir).free < need:
        raise SystemExit(
            f"{args.dir} has less than {need / 2**30:.1f} GB free; use --dir "
            "or a smaller --gigabytes"
        )
    given = Path(args.folder) if args.folder else None
    folder = given or Path(tempfile.mkdtemp(prefix="nnclf-bigdata-", dir=args.dir))
    try:
        if given is None:
            write_folder(folder, args.gigabytes, args.features)
        read_through(folder / "X.npy")
        X = np.load(folder / "X.npy", mmap_mode="r")
        (n, d), gigabytes, dtype = X.shape, X.nbytes / 2**30, X.dtype.name
        rows = measure(folder, args.engines, args.hidden, args.steps, args.rounds)
    finally:
        if not args.keep and given is None:
            shutil.rmtree(folder, ignore_errors=True)
    info = {
        "X_npy_gigabytes": gigabytes,
        "rows": n,
        "features": d,
        "hidden": args.hidden,
        "steps": args.steps,
        "rounds": args.rounds,
        "results": rows,
        "folder": str(folder) if args.keep or given else None,
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(
        f"X.npy: {gigabytes:.2f} GB {dtype}, {n} rows x {d} features; m = {args.hidden}, "
        f"{args.steps} steps, median of {args.rounds} rounds"
    )
    print(
        f"{'engine':<8}{'folder steps/s':>16}{'memory steps/s':>16}{'ratio':>8}"
        f"{'folder RssAnon peak':>21}{'(growth)':>10}{'memory RssAnon peak':>21}"
        f"{'major faults':>14}"
    )
    for r in rows:
        print(
            f"{r['engine']:<8}{r['folder_steps_per_s']:>16,.0f}{r['memory_steps_per_s']:>16,.0f}"
            f"{r['ratio']:>8.2f}{r['folder_rss_anon_peak_mb']:>18,.0f} MB"
            f"{r['folder_rss_anon_growth_mb']:>7,.0f} MB{r['memory_rss_anon_peak_mb']:>18,.0f} MB"
            f"{r['folder_major_faults']:>14,}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
