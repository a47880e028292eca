"""How near one core's limit the per-example SGD step runs (batch 1, tanh, constant eta):
one core's peak GFLOP/s (an FMA-bound numba loop), then, for each network size and dtype,
the examples/s, GFLOP/s and fraction of that peak of the numpy engine, the compiled engine
and a hand-fused numba kernel of the same network and update (fastmath: the reference,
written here and never in the package).

Every figure is the median of ``--rounds`` rounds; within a round the engines, in both
dtypes (and, for the peak, the two dtypes), run one after the other in this one process, so that a busy
shared machine slows all alike. Every ratio is printed with both of its figures.

FLOPs per example: 4 m d + 6 K m (W x and the rank-one update of W; V h, the VJP of h and
the update of V, K = 10 classes), the products that dominate; the transfer function and the
softmax are not counted.

    python scripts/roofline.py [--rounds 5] [--quick] [--dtypes float64,float32]
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial

import numpy as np
from numba import njit

from nnclf.config.settings import SGDSettings
from nnclf.graph.network import Network
from nnclf.training.trainer import Trainer

ETA = 0.01
K = 10
CASES = [(64, 32), (64, 100), (64, 512), (784, 128), (784, 512)]
QUICK_CASES = [(20, 6)]
PEAK_CHAINS = 32


def _peak_kernel(F):
    """An FMA-bound loop in F: each entry of x goes through a chain of PEAK_CHAINS
    dependent x * s + t; the loop over entries is vectorised, and the chains of several
    vectors overlap in the core's FMA units."""

    @njit(fastmath=True)
    def peak(x, s, t, repeats):
        for _ in range(repeats):
            for i in range(x.size):
                v = x[i]
                for _ in range(PEAK_CHAINS):
                    v = v * s + t
                x[i] = v

    return peak


def peak_gflops(F, seconds: float = 0.2) -> float:
    """One core's GFLOP/s in F on :func:`_peak_kernel` (2 FLOPs per FMA)."""
    peak = _peak_kernel(F)
    x = np.full(256, 0.5, dtype=F)
    s, t = F(0.999), F(0.0005)
    peak(x, s, t, 1)
    repeats = 1000
    while True:
        start = time.perf_counter()
        peak(x, s, t, repeats)
        took = time.perf_counter() - start
        if took > seconds:
            return 2 * PEAK_CHAINS * x.size * repeats / took / 1e9
        repeats *= 2


def _fused_kernel(F):
    """The network's plain SGD step, every derivative written out by hand, in F."""
    one, zero = F(1.0), F(0.0)

    @njit(fastmath=True)
    def fused(W, b, V, gamma, X, y, picks, eta):
        m, d = W.shape
        n_classes = V.shape[0]
        h = np.empty(m, dtype=W.dtype)
        q = np.empty(n_classes, dtype=W.dtype)
        dh = np.empty(m, dtype=W.dtype)
        for i in picks:
            x = X[i]
            for j in range(m):
                s = b[j]
                for k in range(d):
                    s += W[j, k] * x[k]
                h[j] = np.tanh(s)
            top = F(-np.inf)
            for c in range(n_classes):
                s = gamma[c]
                for j in range(m):
                    s += V[c, j] * h[j]
                q[c] = s
                top = max(top, s)
            total = zero
            for c in range(n_classes):
                q[c] = np.exp(q[c] - top)
                total += q[c]
            dh[:] = zero
            for c in range(n_classes):
                g = q[c] / total - (one if c == y[i] else zero)
                for j in range(m):
                    dh[j] += g * V[c, j]
                    V[c, j] -= eta * g * h[j]
                gamma[c] -= eta * g
            for j in range(m):
                g = dh[j] * (one - h[j] * h[j])
                for k in range(d):
                    W[j, k] -= eta * g * x[k]
                b[j] -= eta * g

    return fused


def data(d: int, dtype: str, n: int = 1500):
    """digits (d = 64, standardised) or n random normal rows of d features; X in dtype."""
    if d == 64:
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        X = (X - X.mean(0)) / (X.std(0) + 1e-9)
    else:
        rng = np.random.default_rng(0)
        X, y = rng.normal(size=(n, d)), rng.integers(0, K, n)
    return np.ascontiguousarray(X, dtype=dtype), np.asarray(y, dtype=np.intp)


def engine_rate(engine: str, X, y, m: int, steps: int, dtype: str) -> float:
    """Examples per second of nnclf's ``engine`` over ``steps`` steps."""
    net = Network(X.shape[1], m, K, seed=0, dtype=dtype)
    settings = SGDSettings(steps=steps, engine=engine, schedule={"name": "constant", "eta0": ETA})
    trainer = Trainer(net, settings, seed=0, progress="none")
    start = time.perf_counter()
    trainer.fit(X, y)
    return steps / (time.perf_counter() - start)


def fused_rate(kernel, X, y, m: int, steps: int, dtype: str) -> float:
    """Examples per second of the hand-fused kernel over ``steps`` steps."""
    net = Network(X.shape[1], m, K, seed=0, dtype=dtype)
    p = {k: v.copy() for k, v in net.params.items()}
    picks = np.random.default_rng(0).integers(0, len(X), steps)
    eta = np.dtype(dtype).type(ETA)
    start = time.perf_counter()
    kernel(p["W"], p["b"], p["V"], p["gamma"], X, y, picks, eta)
    return steps / (time.perf_counter() - start)


def flops(d: int, m: int) -> int:
    return 4 * m * d + 6 * K * m


def measure_case(d: int, m: int, kernels: dict, rounds: int, quick: bool) -> dict:
    """Median examples/s of each engine at (d, m) in each dtype of ``kernels`` (dtype ->
    fused kernel); every round runs every engine in every dtype, one after the other."""
    runs = {}
    for F, kernel in kernels.items():
        X, y = data(d, F, n=200 if quick else 1500)
        steps = 300 if quick else int(min(1e6, 1.5e9 / (m * d)))
        engine_rate("numba", X, y, m, 100, F)  # compile, or load from the cache
        fused_rate(kernel, X, y, m, 10, F)  # compile
        slow = max(steps // 10, 200)
        runs[F.__name__, "numpy"] = partial(engine_rate, "numpy", X, y, m, slow, F)
        runs[F.__name__, "compiled"] = partial(engine_rate, "numba", X, y, m, steps, F)
        runs[F.__name__, "fused"] = partial(fused_rate, kernel, X, y, m, steps, F)
    rates = {key: [] for key in runs}
    for _ in range(rounds):
        for key, run in runs.items():
            rates[key].append(run())
    return {key: statistics.median(v) for key, v in rates.items()}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test)")
    parser.add_argument("--dtypes", default="float64,float32")
    args = parser.parse_args(argv)
    dtypes = [np.dtype(name).type for name in args.dtypes.split(",")]
    peaks: dict = {F: [] for F in dtypes}
    for _ in range(args.rounds):
        for F in dtypes:
            peaks[F].append(peak_gflops(F, 0.02 if args.quick else 0.2))
    peak = {F.__name__: statistics.median(v) for F, v in peaks.items()}
    for name, value in peak.items():
        print(f"one core's peak, {name}: {value:.1f} GFLOP/s (FMA loop)")
    kernels = {F: _fused_kernel(F) for F in dtypes}
    print("\n| dtype | d, m | engine | examples/s | GFLOP/s | of peak |")
    print("|---|---|---|---:|---:|---:|")
    table = {}
    for d, m in QUICK_CASES if args.quick else CASES:
        rates = measure_case(d, m, kernels, args.rounds, args.quick)
        for (name, engine), rate in rates.items():
            gf = rate * flops(d, m) / 1e9
            table[name, d, m, engine] = rate
            print(
                f"| {name} | {d}, {m} | {engine} | {rate:,.0f} | {gf:.2f} | {gf / peak[name]:.3f} |"
            )
        for F in dtypes:
            a, b = rates[F.__name__, "compiled"], rates[F.__name__, "fused"]
            print(
                f"| {F.__name__} | {d}, {m} | compiled / fused | {a:,.0f} / {b:,.0f} = {a / b:.2f} | | |"
            )
        print(flush=True)
    _print_dtype_ratios(table, dtypes, args.quick)
    return table


def _print_dtype_ratios(table: dict, dtypes: list, quick: bool) -> None:
    if len(dtypes) < 2:
        return
    a, b = dtypes[1].__name__, dtypes[0].__name__
    print(f"\ncompiled engine, {a} / {b} (examples/s)")
    for d, m in QUICK_CASES if quick else CASES:
        x, y = table[a, d, m, "compiled"], table[b, d, m, "compiled"]
        print(f"| {d}, {m} | {x:,.0f} / {y:,.0f} = {x / y:.2f} |")


if __name__ == "__main__":
    main()
