"""One hidden layer against two at (about) the same number of parameters.

For each data set, NNClassifier trains the notes' network (one layer of m units) and a
two-layer network (a, a) whose parameter count is the nearest to the one-layer network's,
with the same transfer function, SGD settings and epochs, on several seeds (each seed draws
its own stratified train/test split, initialisation and SGD order). Prints, per data set and
depth, the test accuracy mean +- sd over the seeds and the mean fit time (after one untimed
fit of each network, which compiles the numba engine's steps).

Data sets:
- ``digits``: scikit-learn's bundled 8x8 digits (1797 x 64, 10 classes);
- ``shells``: points in d = 10 dimensions labelled by which of 3 concentric spherical shells
  (equal-count radius bands) they fall in: a radial, non-linear boundary;
- ``clusters``: ``make_classification`` with 20 informative features, 8 classes, 4 clusters
  per class (a non-linear, multi-modal problem).

    python scripts/depth.py [--seeds 5] [--epochs 30] [--transfer tanh] [--eta0 0.05]
                            [--engine numba] [--data digits shells clusters] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from sklearn.datasets import load_digits, make_classification
from sklearn.model_selection import train_test_split

from nnclf import NNClassifier


def parameter_count(d: int, sizes, K: int) -> int:
    """Weights and biases of a network with hidden layers ``sizes``: sum of (fan_in + 1) * fan_out."""
    fans = (d, *sizes, K)
    return sum((fan_in + 1) * fan_out for fan_in, fan_out in zip(fans, fans[1:]))


def matched_two_layers(d: int, m: int, K: int) -> tuple[int, int]:
    """(a, a) whose parameter count is nearest to one layer of m units."""
    target = parameter_count(d, (m,), K)
    return min(
        ((a, a) for a in range(1, 4 * m)),
        key=lambda sizes: abs(parameter_count(d, sizes, K) - target),
    )


def shells(seed: int = 0, n: int = 3000, d: int = 10, k: int = 3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    radius = np.linalg.norm(X, axis=1)
    y = np.searchsorted(np.quantile(radius, np.linspace(0, 1, k + 1)[1:-1]), radius)
    return X, y


def clusters(seed: int = 0):
    return make_classification(
        n_samples=3000,
        n_features=20,
        n_informative=20,
        n_redundant=0,
        n_classes=8,
        n_clusters_per_class=4,
        class_sep=1.5,
        random_state=seed,
    )


DATA = {
    "digits": (lambda: load_digits(return_X_y=True), 100),
    "shells": (shells, 50),
    "clusters": (clusters, 100),
}
"""name -> (loader, m of the one-layer network)."""


def run(name: str, seeds: int, epochs: int, transfer: str, engine: str, eta0: float) -> list[dict]:
    load, m = DATA[name]
    X, y = load()
    d, K = X.shape[1], len(np.unique(y))
    rows = []
    for sizes in ((m,), matched_two_layers(d, m, K)):
        # Untimed: the first fit of a graph in a process compiles the numba engine's steps.
        NNClassifier(hidden_units=sizes, transfer=transfer, steps=10, engine=engine).fit(
            X[:50], y[:50]
        )
        scores, seconds = [], []
        for seed in range(seeds):
            X_tr, X_te, y_tr, y_te = train_test_split(
                X, y, test_size=0.25, stratify=y, random_state=seed
            )
            clf = NNClassifier(
                hidden_units=sizes,
                transfer=transfer,
                epochs=epochs,
                eta0=eta0,
                engine=engine,
                random_state=seed,
            )
            start = time.perf_counter()
            clf.fit(X_tr, y_tr)
            seconds.append(time.perf_counter() - start)
            scores.append(clf.score(X_te, y_te))
        rows.append(
            {
                "data": name,
                "layers": list(sizes),
                "params": parameter_count(d, sizes, K),
                "mean": statistics.mean(scores),
                "sd": statistics.stdev(scores) if len(scores) > 1 else 0.0,
                "seconds": statistics.mean(seconds),
            }
        )
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--transfer", default="tanh")
    parser.add_argument(
        "--eta0",
        type=float,
        default=0.05,
        help="eta^1 of the default inverse-time schedule (default 0.05)",
    )
    parser.add_argument(
        "--engine",
        default="numba",
        choices=["numba", "numpy"],
        help="one engine for every fit, so that times compare (default numba)",
    )
    parser.add_argument("--data", nargs="+", choices=sorted(DATA), default=list(DATA))
    parser.add_argument("--quick", action="store_true", help="2 seeds, 3 epochs (a smoke test)")
    args = parser.parse_args(argv)
    seeds, epochs = (2, 3) if args.quick else (args.seeds, args.epochs)
    print(
        f"{seeds} seeds, {epochs} epochs, transfer {args.transfer}, plain SGD (inverse-time "
        f"schedule, eta0 {args.eta0:g}), batch 1, engine {args.engine}"
    )
    print("| data | hidden layers | parameters | test accuracy (mean ± sd) | fit seconds |")
    print("|---|---|---|---|---|")
    for name in args.data:
        for row in run(name, seeds, epochs, args.transfer, args.engine, args.eta0):
            print(
                f"| {row['data']} | {row['layers']} | {row['params']} | "
                f"{row['mean']:.4f} ± {row['sd']:.4f} | {row['seconds']:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
