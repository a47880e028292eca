"""Per-example SGD (batch 1, tanh, float64, constant step size), examples/s, in one process:
nnclf's numba engine, nnclf's numpy engine, scikit-learn's MLPClassifier(solver="sgd",
batch_size=1), and a hand-fused numba kernel of the same network and update (fastmath; the
machine's limit, written here and never in the package). Rounds alternate between the tools
and each figure is the median of the rounds, so that a noisy shared machine hits all alike.

    python scripts/engines_benchmark.py [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
from numba import njit
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from nnclf.config.settings import SGDSettings
from nnclf.graph.network import Network
from nnclf.training.trainer import Trainer

ETA = 0.01


@njit(fastmath=True, cache=True)
def fused_epochs(W, b, V, gamma, X, y, picks, eta):
    """The same network and plain SGD step, every derivative written out by hand."""
    m, d = W.shape
    K = V.shape[0]
    z = np.empty(m)
    h = np.empty(m)
    q = np.empty(K)
    dh = np.empty(m)
    for i in picks:
        x = X[i]
        for j in range(m):
            s = b[j]
            for k in range(d):
                s += W[j, k] * x[k]
            h[j] = np.tanh(s)
        top = -1e300
        for c in range(K):
            s = gamma[c]
            for j in range(m):
                s += V[c, j] * h[j]
            q[c] = s
            top = max(top, s)
        total = 0.0
        for c in range(K):
            q[c] = np.exp(q[c] - top)
            total += q[c]
        dh[:] = 0.0
        for c in range(K):
            g = q[c] / total - (1.0 if c == y[i] else 0.0)
            for j in range(m):
                dh[j] += g * V[c, j]
                V[c, j] -= eta * g * h[j]
            gamma[c] -= eta * g
        for j in range(m):
            g = dh[j] * (1.0 - h[j] * h[j])
            for k in range(d):
                W[j, k] -= eta * g * x[k]
            b[j] -= eta * g
    return z


def _data(name, n=1500):
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        X = (X - X.mean(0)) / (X.std(0) + 1e-9)
        return X, y
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 784)), rng.integers(0, 10, n)


def _nnclf(engine, X, y, m, steps):
    net = Network(X.shape[1], m, 10, seed=0)
    settings = SGDSettings(steps=steps, engine=engine, schedule={"name": "constant", "eta0": ETA})
    trainer = Trainer(net, settings, seed=0, progress="none")
    start = time.perf_counter()
    trainer.fit(X, y)
    return steps / (time.perf_counter() - start)


def _sklearn(X, y, m, steps):
    clf = MLPClassifier(
        (m,),
        activation="tanh",
        solver="sgd",
        batch_size=1,
        alpha=0.0,
        momentum=0.0,
        learning_rate_init=ETA,
        max_iter=1,
        shuffle=True,
        random_state=0,
    )
    rows = min(len(X), steps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        clf.fit(X[:rows], y[:rows])
    return rows / (time.perf_counter() - start)


def _fused(X, y, m, steps):
    net = Network(X.shape[1], m, 10, seed=0)
    p = {k: v.copy() for k, v in net.params.items()}
    picks = np.random.default_rng(0).integers(0, len(X), steps)
    fused_epochs(p["W"], p["b"], p["V"], p["gamma"], X, y, picks[:10], ETA)  # compile
    start = time.perf_counter()
    fused_epochs(p["W"], p["b"], p["V"], p["gamma"], X, y, picks, ETA)
    return steps / (time.perf_counter() - start)


CASES = [("digits", 32), ("digits", 100), ("digits", 512), ("random", 128), ("random", 512)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="fewer steps (a smoke test)")
    args = parser.parse_args(argv)
    print(
        "| data, hidden units m | nnclf numba | nnclf numpy | sklearn bs=1 | fused numba kernel "
        "| numba / sklearn | numba / kernel | numpy / sklearn |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for data, m in CASES:
        X, y = _data(data)
        X = np.ascontiguousarray(X, dtype=float)
        work = m * X.shape[1]
        steps = 2000 if args.quick else int(min(2e6, 6e9 / work))
        _nnclf("numba", X, y, m, 100)  # compile or load from the cache outside the timing
        tools = {
            "numba": lambda: _nnclf("numba", X, y, m, steps),
            "numpy": lambda: _nnclf("numpy", X, y, m, max(steps // 10, 1000)),
            "sklearn": lambda: _sklearn(X, y, m, max(steps // 40, 500)),
            "kernel": lambda: _fused(X, y, m, steps),
        }
        rates = {name: [] for name in tools}
        for _ in range(args.rounds):
            for name, run in tools.items():
                rates[name].append(run())
        r = {name: statistics.median(v) for name, v in rates.items()}
        print(
            f"| {data} d={X.shape[1]}, m={m} | {r['numba']:,.0f} | {r['numpy']:,.0f} | "
            f"{r['sklearn']:,.0f} | {r['kernel']:,.0f} | {r['numba'] / r['sklearn']:.1f}x | "
            f"{r['numba'] / r['kernel']:.2f} | {r['numpy'] / r['sklearn']:.1f}x |",
            flush=True,
        )


if __name__ == "__main__":
    main()
