"""Benchmark nnclf's SGD against scikit-learn, PyTorch and a hand-written numpy step.

Contract
--------
One process runs every tool on the same data, the same network (one hidden layer of m tanh
units, a softmax output) and the same constant step size eta, times only the training (or
prediction) call, and prints a table::

    case | tool | examples/s | ratio vs sklearn | test accuracy | seconds

Cases (``--cases``, default all):

- ``digits``:    per-example SGD (batch size 1) on scikit-learn's digits, m = 100, eta = 0.01;
- ``synthetic``: the same on ``make_classification`` (50,000 x 100, 10 classes), m = 256;
- ``minibatch``: minibatch SGD (batch size 32) on both problems;
- ``torch-minibatch``: nnclf's minibatch path against the eager PyTorch loop alone, at batch
  sizes 32 and 128, in float64 and in float32 (each tool in the same dtype), on digits
  (m = 100) and on ``wide``, a synthetic problem of MNIST's shape (``make_classification``,
  20,000 x 784, 10 classes; m = 128): the same initial parameters, permutations, eta and
  momentum (``--momentum``), both tools on one thread (or ``--threads N``) and timed in
  alternation for ``--rounds`` rounds; the medians, their ratio, and the largest difference
  between the two tools' final parameters (the same trajectory, up to rounding);
- ``predict``:   ``predict_proba`` on 100,000 rows shaped like digits;
- ``memory``:    the resident memory of a long per-example nnclf run (1,000,000 steps),
  sampled every 1/20 of the run, against the memory right after the data are loaded.

The tools:

- ``nnclf``: ``Trainer(Network(d, m, K, "tanh", seed=0), SGDSettings(...)).fit`` on the numpy
  engine (``scripts/engines_benchmark.py`` measures the numba engine); with
  ``sampling="shuffle"`` (a new permutation every epoch, as scikit-learn and the PyTorch
  loop do) for the comparison, and the notes' own ``sampling="uniform"`` for reference;
- ``sklearn``: ``MLPClassifier(solver="sgd", batch_size=B, learning_rate="constant",
  momentum=0, alpha=0, shuffle=True)``, every ratio is against this row;
- ``torch``: an eager loop (zero_grad, forward, cross-entropy, backward, ``optim.SGD`` step)
  over the same permutations as nnclf; skipped with a note when torch is not installed;
- ``numpy reference``: the forward pass, the gradients and the update of this exact network
  written out by hand, with nnclf's initial parameters and permutations. It is not a tool but
  the floor: how close the graph engine gets to plain numpy. Its final parameters are compared
  with nnclf's (they follow the same trajectory, up to rounding).

Per-example cases use eta = 0.01, minibatch cases eta = 0.1. Every library runs with its own
default threads, or on ``--threads N`` (1 steadies the timings on a busy machine: per-example
SGD is sequential, and competing thread pools make timings erratic); the torch-minibatch
case runs both tools on 1 thread unless ``--threads`` says otherwise. The torch loop
and the numpy reference stop after ``--max-seconds``; their examples/s then comes from the
steps they ran and their accuracy is left out. ``--json PATH`` writes the
table, the machine and the command as JSON; ``--markdown PATH`` writes a table for the README.

Run ``python scripts/benchmark.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import shlex
import statistics
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import sklearn
from scipy.linalg.blas import dger as _dger
from sklearn.datasets import load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_info, threadpool_limits

from nnclf.graph.network import Network
from nnclf.training.trainer import SGDSettings, Trainer

CASES = ("digits", "synthetic", "minibatch", "torch-minibatch", "predict", "memory")
MINIBATCH_ETA = 0.1
VERSUS_BATCH_SIZES = (32, 128)
VERSUS_PROBLEMS = ("digits", "wide")

SKLEARN = "sklearn MLPClassifier"
TARGETS = {
    # the targets: name -> (comparison, bound)
    "digits per-example: nnclf / sklearn": (">=", 8.0),
    "digits per-example: nnclf / torch": (">=", 6.0),
    "digits per-example: accuracy gap (points)": ("<=", 1.0),
    "minibatch 32 (digits): nnclf / sklearn": (">=", 1.5),
    "minibatch 32 (synthetic): nnclf / sklearn": (">=", 1.5),
    "predict_proba: nnclf / sklearn": (">=", 1.0),
    "memory: end / start": ("<=", 1.10),
    **{
        f"minibatch {batch_size} ({problem}, {dtype}): nnclf / torch": (">=", 1.0)
        for problem in VERSUS_PROBLEMS
        for batch_size in VERSUS_BATCH_SIZES
        for dtype in ("float64", "float32")
    },
}

DEFAULTS = {
    # option: (full run, --quick)
    "epochs": (5, 1),
    "synthetic_rows": (50_000, 2_000),
    "synthetic_epochs": (1, 1),
    "minibatch_epochs": (20, 2),
    "predict_rows": (100_000, 5_000),
    "memory_steps": (1_000_000, 20_000),
    "max_seconds": (60.0, 5.0),
    "versus_epochs": (100, 1),
    "wide_rows": (20_000, 1_000),
    "wide_epochs": (2, 1),
    "rounds": (5, 2),
}


# ---------------------------------------------------------------------------- data


@dataclass
class Problem:
    """A standardised train/test split (80/20, stratified, random_state 0)."""

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_hidden: int
    eta: float

    @property
    def n_features(self) -> int:
        return self.X_train.shape[1]

    @property
    def n_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1

    def describe(self) -> str:
        return (
            f"{self.name}: {len(self.X_train)} train / {len(self.X_test)} test rows, "
            f"d = {self.n_features}, K = {self.n_classes}, m = {self.n_hidden}, tanh, "
            f"eta = {self.eta}"
        )


def split_and_scale(name: str, X, y, n_hidden: int, eta: float) -> Problem:
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, stratify=y, random_state=0
    )
    scaler = StandardScaler().fit(X_train)
    return Problem(
        name,
        scaler.transform(X_train),
        y_train.astype(np.intp),
        scaler.transform(X_test),
        y_test.astype(np.intp),
        n_hidden,
        eta,
    )


def digits_problem() -> Problem:
    X, y = load_digits(return_X_y=True)
    return split_and_scale("digits", X, y, n_hidden=100, eta=0.01)


def synthetic_problem(n_rows: int) -> Problem:
    X, y = make_classification(
        n_samples=n_rows,
        n_features=100,
        n_informative=20,
        n_redundant=10,
        n_classes=10,
        random_state=0,
    )
    return split_and_scale("synthetic", X, y, n_hidden=256, eta=0.01)


def epoch_orders(n: int, epochs: int, seed: int = 0) -> list[np.ndarray]:
    """The permutations nnclf's ``sampling="shuffle"`` draws: one per epoch, in turn, from
    ``numpy.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    return [rng.permutation(n) for _ in range(epochs)]


# ---------------------------------------------------------------------------- results


@dataclass
class Row:
    """One line of the table. ``examples_per_second`` is rows per second for prediction."""

    case: str
    tool: str
    examples_per_second: float
    seconds: float
    examples: int
    test_accuracy: float | None = None
    ratio_vs_sklearn: float | None = None
    note: str = ""


@dataclass
class Timed:
    seconds: float
    examples: int
    completed: bool = True


def best_of(repeat: int, run):
    """Call ``run()`` ``repeat`` times; keep the result with the highest examples/s."""
    results = [run() for _ in range(max(1, repeat))]
    return max(results, key=lambda r: r[0].examples / r[0].seconds)


def accuracy(predicted, y) -> float:
    return float(np.mean(np.asarray(predicted) == y))


# ---------------------------------------------------------------------------- nnclf


def nnclf_settings(problem: Problem, epochs: int, batch_size: int, sampling: str) -> SGDSettings:
    # The numpy engine: this script measures it against the other tools; the numba engine
    # has its own script, scripts/engines_benchmark.py.
    return SGDSettings(
        epochs=epochs,
        batch_size=batch_size,
        sampling=sampling,
        engine="numpy",
        schedule={"name": "constant", "eta0": problem.eta},
    )


def fit_nnclf(problem: Problem, epochs: int, batch_size: int, sampling: str):
    """(Timed, Network): ``Trainer.fit`` alone is timed."""
    net = Network(problem.n_features, problem.n_hidden, problem.n_classes, "tanh", seed=0)
    trainer = Trainer(
        net, nnclf_settings(problem, epochs, batch_size, sampling), seed=0, progress="none"
    )
    start = time.perf_counter()
    result = trainer.fit(problem.X_train, problem.y_train)
    seconds = time.perf_counter() - start
    # A shuffled epoch visits every row once (its last batch may be short); uniform sampling
    # draws full batches.
    examples = epochs * len(problem.X_train) if sampling == "shuffle" else result.steps * batch_size
    return Timed(seconds, examples), net


# ---------------------------------------------------------------------------- scikit-learn


def fit_sklearn(problem: Problem, epochs: int, batch_size: int):
    """(Timed, MLPClassifier): the same network, constant eta, no momentum, no penalty,
    no early stopping; ``fit`` alone is timed."""
    clf = MLPClassifier(
        hidden_layer_sizes=(problem.n_hidden,),
        activation="tanh",
        solver="sgd",
        batch_size=batch_size,
        learning_rate="constant",
        learning_rate_init=problem.eta,
        momentum=0.0,
        nesterovs_momentum=False,
        alpha=0.0,
        max_iter=epochs,
        shuffle=True,
        random_state=0,
        tol=0.0,
        n_iter_no_change=epochs + 1,
        early_stopping=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        clf.fit(problem.X_train, problem.y_train)
        seconds = time.perf_counter() - start
    return Timed(seconds, clf.n_iter_ * len(problem.X_train)), clf


# ---------------------------------------------------------------------------- PyTorch


def torch_or_none(disabled: bool):
    """The torch module, or None when it is disabled or not installed."""
    if disabled:
        return None
    try:
        import torch
    except ImportError:
        return None
    return torch


def fit_torch(
    torch,
    problem: Problem,
    epochs: int,
    batch_size: int,
    max_seconds: float,
    dtype: str,
    momentum: float = 0.0,
    init: dict | None = None,
):
    """(Timed, model): an eager PyTorch loop over nnclf's permutations, one optimizer step
    (``optim.SGD``, with ``momentum``) per minibatch; stops after ``max_seconds``. The
    model starts from torch's own initialisation, or from ``init`` (W, b, V, gamma)."""
    torch.manual_seed(0)
    tdtype = getattr(torch, dtype)
    nn = torch.nn
    d, m, K = problem.n_features, problem.n_hidden, problem.n_classes
    model = nn.Sequential(nn.Linear(d, m), nn.Tanh(), nn.Linear(m, K)).to(tdtype)
    if init is not None:
        with torch.no_grad():
            for param, name in zip(model.parameters(), ("W", "b", "V", "gamma")):
                param.copy_(torch.from_numpy(init[name]))
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=problem.eta, momentum=momentum)
    X = torch.from_numpy(problem.X_train).to(tdtype)
    y = torch.from_numpy(problem.y_train).long()
    n = len(X)
    orders = [torch.from_numpy(o) for o in epoch_orders(n, epochs)]
    done = 0
    start = time.perf_counter()
    deadline = start + max_seconds
    for order in orders:
        X_epoch, y_epoch = X[order], y[order]
        for s in range(0, n, batch_size):
            optimizer.zero_grad()
            loss = loss_fn(model(X_epoch[s : s + batch_size]), y_epoch[s : s + batch_size])
            loss.backward()
            optimizer.step()
            done += len(y_epoch[s : s + batch_size])
            if time.perf_counter() > deadline:
                return Timed(time.perf_counter() - start, done, completed=False), model
    return Timed(time.perf_counter() - start, done), model


def torch_accuracy(torch, model, problem: Problem) -> float:
    dtype = next(model.parameters()).dtype
    with torch.no_grad():
        logits = model(torch.from_numpy(problem.X_test).to(dtype))
    return accuracy(logits.argmax(dim=1).numpy(), problem.y_test)


def torch_params(model) -> dict[str, np.ndarray]:
    """The model's parameters under nnclf's names (W, b, V, gamma), as float64 arrays."""
    values = [p.detach().double().numpy() for p in model.parameters()]
    return dict(zip(("W", "b", "V", "gamma"), values))


# ---------------------------------------------------------------------------- numpy reference


def fit_numpy_reference(problem: Problem, epochs: int, max_seconds: float):
    """(Timed, params): REFERENCE ONLY, not part of nnclf. The notes' per-example SGD for
    this one network, differentiated by hand, with nnclf's initial parameters and order:

        z = Wx + b, h = tanh z, l = Vh + gamma, p = softmax(l)
        dL/dl = p - onehot(y), dL/dh = V^T dL/dl, dL/dz = dL/dh * (1 - h^2)
        V -= eta dL/dl h^T, gamma -= eta dL/dl, W -= eta dL/dz x^T, b -= eta dL/dz

    Buffers are allocated once, -eta is folded into dL/dl before it is propagated, and the
    two rank-one updates are single BLAS calls (dger) on the parameters: the leanest numpy
    step of this network we know how to write, so it is the floor the graph engine is
    measured against.
    """
    params = Network(problem.n_features, problem.n_hidden, problem.n_classes, "tanh", seed=0).params
    W, b, V, gamma = (params[k] for k in ("W", "b", "V", "gamma"))
    # dger updates a Fortran-ordered matrix in place; W.T and V.T are the parameters' own
    # memory seen that way.
    W_f, V_f = W.T, V.T
    X, y = problem.X_train, problem.y_train.tolist()
    eta = problem.eta
    h, dz, tmp = np.empty(len(b)), np.empty(len(b)), np.empty(len(b))
    p = np.empty(len(gamma))
    done = 0
    start = time.perf_counter()
    deadline = start + max_seconds
    for order in epoch_orders(len(X), epochs):
        for i in order.tolist():
            x = X[i]
            np.dot(W, x, out=h)  # z = Wx + b
            h += b
            np.tanh(h, out=h)  # h = tanh z
            np.dot(V, h, out=p)  # l = Vh + gamma
            p += gamma
            p -= p.max()
            np.exp(p, out=p)
            p *= -eta / p.sum()  # -eta softmax(l)
            p[y[i]] += eta  # -eta dL/dl = -eta (p - onehot(y))
            np.dot(p, V, out=dz)  # -eta dL/dh
            np.multiply(h, h, out=tmp)
            np.subtract(1.0, tmp, out=tmp)
            dz *= tmp  # -eta dL/dz
            _dger(1.0, h, p, a=V_f, overwrite_a=True)  # V += (-eta dL/dl) h^T
            gamma += p
            _dger(1.0, x, dz, a=W_f, overwrite_a=True)  # W += (-eta dL/dz) x^T
            b += dz
            done += 1
            if not done & 255 and time.perf_counter() > deadline:
                return Timed(time.perf_counter() - start, done, completed=False), params
    return Timed(time.perf_counter() - start, done), params


def numpy_predict(params: dict, X) -> np.ndarray:
    """argmax_k of l = V tanh(Wx + b) + gamma for every row of X."""
    h = np.tanh(X @ params["W"].T + params["b"])
    return np.argmax(h @ params["V"].T + params["gamma"], axis=1)


# ---------------------------------------------------------------------------- cases


@dataclass
class Options:
    cases: tuple[str, ...]
    epochs: int
    synthetic_rows: int
    synthetic_epochs: int
    minibatch_epochs: int
    batch_size: int
    predict_rows: int
    memory_steps: int
    max_seconds: float
    repeat: int
    torch_dtype: str
    no_torch: bool
    threads: int
    versus_epochs: int
    wide_rows: int
    wide_epochs: int
    rounds: int
    momentum: float
    notes: list[str] = field(default_factory=list)


def warm_up(problem: Problem, batch_size: int, opts: Options, torch) -> None:
    """One untimed epoch of every tool on 64 rows, so that no timing includes a first-call
    cost (lazy imports, code paths run once) that a longer run would not pay again."""
    small = replace(problem, X_train=problem.X_train[:64], y_train=problem.y_train[:64])
    fit_sklearn(small, 1, batch_size)
    fit_nnclf(small, 1, batch_size, "shuffle")
    if torch is not None:
        fit_torch(torch, small, 1, batch_size, opts.max_seconds, opts.torch_dtype)
    if batch_size == 1:
        fit_numpy_reference(small, 1, opts.max_seconds)


def train_rows(
    case: str, problem: Problem, epochs: int, batch_size: int, opts: Options, torch
) -> list[Row]:
    """nnclf (shuffle and uniform), sklearn, torch and, for batch size 1, the numpy
    reference, on one problem; ratios against sklearn."""
    warm_up(problem, batch_size, opts, torch)
    rows = []

    def add(tool, timed: Timed, acc, note=""):
        rows.append(
            Row(
                case,
                tool,
                timed.examples / timed.seconds,
                timed.seconds,
                timed.examples,
                acc,
                note=note,
            )
        )

    timed, clf = best_of(opts.repeat, lambda: fit_sklearn(problem, epochs, batch_size))
    add(SKLEARN, timed, clf.score(problem.X_test, problem.y_test))

    timed, net = best_of(opts.repeat, lambda: fit_nnclf(problem, epochs, batch_size, "shuffle"))
    add("nnclf (shuffle)", timed, accuracy(net.predict(problem.X_test), problem.y_test))
    nnclf_params = net.params
    timed, net = best_of(opts.repeat, lambda: fit_nnclf(problem, epochs, batch_size, "uniform"))
    add("nnclf (uniform, the notes')", timed, accuracy(net.predict(problem.X_test), problem.y_test))

    if torch is not None:
        timed, model = best_of(
            opts.repeat,
            lambda: fit_torch(
                torch, problem, epochs, batch_size, opts.max_seconds, opts.torch_dtype
            ),
        )
        if timed.completed:
            add(f"torch eager ({opts.torch_dtype})", timed, torch_accuracy(torch, model, problem))
        else:
            add(
                f"torch eager ({opts.torch_dtype})",
                timed,
                None,
                f"stopped by --max-seconds after {timed.examples} examples",
            )

    if batch_size == 1:
        timed, params = best_of(
            opts.repeat, lambda: fit_numpy_reference(problem, epochs, opts.max_seconds)
        )
        if timed.completed:
            gap = max(float(np.max(np.abs(params[k] - nnclf_params[k]))) for k in params)
            add(
                "numpy reference (hand-written)",
                timed,
                accuracy(numpy_predict(params, problem.X_test), problem.y_test),
                f"same trajectory as nnclf (shuffle): max |param diff| = {gap:.1e}",
            )
        else:
            add(
                "numpy reference (hand-written)",
                timed,
                None,
                f"stopped by --max-seconds after {timed.examples} examples",
            )

    base = rows[0].examples_per_second
    for r in rows:
        r.ratio_vs_sklearn = r.examples_per_second / base
    return rows


def per_example_case(problem: Problem, epochs: int, opts: Options, torch) -> list[Row]:
    case = f"{problem.name}, batch 1, {plural(epochs, 'epoch')}"
    print(f"[benchmark] {case}: {problem.describe()}", file=sys.stderr, flush=True)
    return train_rows(case, problem, epochs, 1, opts, torch)


def minibatch_case(problem: Problem, epochs: int, opts: Options, torch) -> list[Row]:
    problem = replace(problem, eta=MINIBATCH_ETA)
    case = f"{problem.name}, batch {opts.batch_size}, {plural(epochs, 'epoch')}"
    print(f"[benchmark] {case}: {problem.describe()}", file=sys.stderr, flush=True)
    return train_rows(case, problem, epochs, opts.batch_size, opts, torch)


def predict_case(problem: Problem, opts: Options) -> list[Row]:
    """predict_proba of a trained nnclf Network and a trained MLPClassifier (one epoch of
    per-example SGD each) on ``predict_rows`` rows drawn from the problem's features."""
    case = f"predict_proba, {opts.predict_rows} rows ({problem.name}, best of 3)"
    print(f"[benchmark] {case}", file=sys.stderr, flush=True)
    _, net = fit_nnclf(problem, 1, 1, "shuffle")
    _, clf = fit_sklearn(problem, 1, 1)
    X_all = np.vstack([problem.X_train, problem.X_test])
    X = X_all[np.random.default_rng(0).integers(0, len(X_all), size=opts.predict_rows)]
    rows = []
    for tool, predict_proba in ((SKLEARN, clf.predict_proba), ("nnclf", net.predict_proba)):

        def run():
            start = time.perf_counter()
            predict_proba(X)
            return (Timed(time.perf_counter() - start, len(X)),)

        (timed,) = best_of(max(3, opts.repeat), run)
        rows.append(Row(case, tool, timed.examples / timed.seconds, timed.seconds, timed.examples))
    for r in rows:
        r.ratio_vs_sklearn = r.examples_per_second / rows[0].examples_per_second
    return rows


# ---------------------------------------------------------------------------- minibatches against PyTorch


@dataclass
class Versus:
    """One line of the minibatch comparison with PyTorch (medians over the rounds)."""

    case: str
    dtype: str
    batch_size: int
    nnclf_examples_per_second: float
    torch_examples_per_second: float | None
    ratio: float | None  # nnclf / torch
    rounds: int
    examples: int  # per run and tool
    nnclf_test_accuracy: float
    torch_test_accuracy: float | None = None
    max_param_diff: float | None = None  # final parameters, nnclf's against torch's
    note: str = ""


def wide_problem(n_rows: int) -> Problem:
    """A seeded synthetic problem of MNIST's shape: d = 784, K = 10; m = 128."""
    X, y = make_classification(
        n_samples=n_rows,
        n_features=784,
        n_informative=64,
        n_redundant=0,
        n_classes=10,
        n_clusters_per_class=1,
        random_state=0,
    )
    return split_and_scale("wide", X, y, n_hidden=128, eta=MINIBATCH_ETA)


def in_dtype(problem: Problem, dtype: str) -> Problem:
    """The problem with its features in ``dtype``: no timed call converts them."""
    return replace(
        problem, X_train=problem.X_train.astype(dtype), X_test=problem.X_test.astype(dtype)
    )


def fit_nnclf_versus(problem: Problem, epochs: int, batch_size: int, dtype: str, momentum: float):
    """(Timed, Network): nnclf's minibatch SGD (numpy engine, shuffled epochs) in ``dtype``;
    ``Trainer.fit`` alone is timed."""
    net = Network(
        problem.n_features, problem.n_hidden, problem.n_classes, "tanh", seed=0, dtype=dtype
    )
    settings = replace(nnclf_settings(problem, epochs, batch_size, "shuffle"), momentum=momentum)
    trainer = Trainer(net, settings, seed=0, progress="none")
    start = time.perf_counter()
    trainer.fit(problem.X_train, problem.y_train)
    return Timed(time.perf_counter() - start, epochs * len(problem.X_train)), net


def versus_line(
    torch, problem: Problem, epochs: int, batch_size: int, dtype: str, opts: Options
) -> Versus:
    """nnclf and the torch loop on one problem, batch size and dtype: the same initial
    parameters, permutations, eta and momentum; ``opts.rounds`` rounds, the two tools
    alternating (nnclf first in odd rounds, torch first in even ones); medians."""
    problem = in_dtype(problem, dtype)
    init = Network(problem.n_features, problem.n_hidden, problem.n_classes, "tanh", seed=0).params

    def nnclf_run():
        return fit_nnclf_versus(problem, epochs, batch_size, dtype, opts.momentum)

    def torch_run():
        return fit_torch(
            torch, problem, epochs, batch_size, opts.max_seconds, dtype, opts.momentum, init
        )

    small = replace(problem, X_train=problem.X_train[:256], y_train=problem.y_train[:256])
    fit_nnclf_versus(small, 1, batch_size, dtype, opts.momentum)  # warm-up, untimed
    runs = {"nnclf": nnclf_run}
    if torch is not None:
        fit_torch(torch, small, 1, batch_size, opts.max_seconds, dtype, opts.momentum, init)
        runs["torch"] = torch_run
    timed: dict[str, list[Timed]] = {name: [] for name in runs}
    last = {}
    for r in range(opts.rounds):
        for name in runs if r % 2 == 0 else reversed(list(runs)):
            t, last[name] = runs[name]()
            timed[name].append(t)

    def median_rate(name):
        return statistics.median(t.examples / t.seconds for t in timed[name])

    case = f"{problem.name}, batch {batch_size}, {plural(epochs, 'epoch')}"
    line = Versus(
        case,
        dtype,
        batch_size,
        median_rate("nnclf"),
        None,
        None,
        opts.rounds,
        epochs * len(problem.X_train),
        accuracy(last["nnclf"].predict(problem.X_test), problem.y_test),
    )
    if torch is not None:
        line.torch_examples_per_second = median_rate("torch")
        line.ratio = line.nnclf_examples_per_second / line.torch_examples_per_second
        if all(t.completed for t in timed["torch"]):
            line.torch_test_accuracy = torch_accuracy(torch, last["torch"], problem)
            theirs, ours = torch_params(last["torch"]), last["nnclf"].params
            line.max_param_diff = max(float(np.max(np.abs(ours[k] - theirs[k]))) for k in ours)
        else:
            line.note = "torch stopped by --max-seconds"
    return line


def versus_case(digits: Problem, opts: Options, torch) -> list[Versus]:
    """nnclf's minibatch path against the eager PyTorch loop at batch sizes 32 and 128, in
    float64 and float32, on digits and the wide problem; both on ``opts.threads`` threads
    (1 unless --threads says otherwise): BLAS through threadpoolctl, torch through
    ``torch.set_num_threads``."""
    threads = opts.threads or 1
    wide = wide_problem(opts.wide_rows)
    problems = (
        (replace(digits, eta=MINIBATCH_ETA), opts.versus_epochs),
        (wide, opts.wide_epochs),
    )
    before = torch.get_num_threads() if torch is not None else None
    lines = []
    try:
        if torch is not None:
            torch.set_num_threads(threads)
        with threadpool_limits(limits=threads):
            for problem, epochs in problems:
                for batch_size in VERSUS_BATCH_SIZES:
                    for dtype in ("float64", "float32"):
                        print(
                            f"[benchmark] torch-minibatch: {problem.name}, batch {batch_size}, "
                            f"{dtype}",
                            file=sys.stderr,
                            flush=True,
                        )
                        lines.append(versus_line(torch, problem, epochs, batch_size, dtype, opts))
    finally:
        if torch is not None:
            torch.set_num_threads(before)
    opts.notes.append(
        f"torch-minibatch: nnclf and torch on {plural(threads, 'thread')} each, the same "
        f"initial parameters and permutations, eta = {MINIBATCH_ETA}"
        + (f", momentum {opts.momentum:g}" if opts.momentum else ", plain SGD")
        + f"; median examples/s of {plural(opts.rounds, 'round')}, the tools alternating"
    )
    return lines


def current_rss() -> int | None:
    """The resident set size of this process in bytes (Linux), or None."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def memory_case(opts: Options) -> dict | None:
    """A per-example nnclf run of ``memory_steps`` steps (the notes' uniform sampling) on
    digits; resident memory right after loading the data, at 20 evaluations and at the end."""
    print(
        f"[benchmark] memory: {opts.memory_steps} per-example steps on digits",
        file=sys.stderr,
        flush=True,
    )
    gc.collect()
    problem = digits_problem()
    start_rss = current_rss()
    if start_rss is None:
        opts.notes.append("memory: skipped, /proc/self/statm is not readable on this system")
        return None
    samples = []

    def sample_rss(history):
        samples.append(current_rss())
        return False

    net = Network(problem.n_features, problem.n_hidden, problem.n_classes, "tanh", seed=0)
    settings = SGDSettings(
        epochs=None,
        steps=opts.memory_steps,
        batch_size=1,
        sampling="uniform",
        engine="numpy",
        schedule={"name": "constant", "eta0": problem.eta},
        eval_every=max(1, opts.memory_steps // 20),
    )
    trainer = Trainer(net, settings, seed=0, progress="none", callbacks=(sample_rss,))
    start = time.perf_counter()
    trainer.fit(problem.X_train, problem.y_train)
    seconds = time.perf_counter() - start
    end_rss = current_rss()
    peak_rss = max(samples + [end_rss])
    mb = 2.0**20
    return {
        "steps": trainer.t,
        "seconds": seconds,
        "examples_per_second": trainer.t / seconds,
        "test_accuracy": accuracy(net.predict(problem.X_test), problem.y_test),
        "rss_start_mb": start_rss / mb,
        "rss_first_sample_mb": samples[0] / mb if samples else None,
        "rss_peak_mb": peak_rss / mb,
        "rss_end_mb": end_rss / mb,
        "end_vs_start": end_rss / start_rss,
        "peak_vs_start": peak_rss / start_rss,
        "rss_samples_mb": [s / mb for s in samples],
    }


# ---------------------------------------------------------------------------- report


def machine_info(torch) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "sklearn": sklearn.__version__,
        "torch": torch.__version__ if torch is not None else None,
        "torch_threads": torch.get_num_threads() if torch is not None else None,
        "blas": [],
    }
    info["blas"] = [
        {
            k: lib.get(k)
            for k in ("internal_api", "prefix", "version", "num_threads", "architecture")
        }
        for lib in threadpool_info()
    ]
    return info


def check_targets(
    rows: list[Row], memory: dict | None, batch_size: int, versus: list[Versus] = ()
) -> dict:
    """The issue's targets that this run measured: name -> {comparison, target, value, met}."""

    def find(case_start, tool_start):
        return next(
            (r for r in rows if r.case.startswith(case_start) and r.tool.startswith(tool_start)),
            None,
        )

    out = {}

    def record(name, value):
        comparison, target = TARGETS[name]
        met = value <= target if comparison == "<=" else value >= target
        out[name] = {"comparison": comparison, "target": target, "value": value, "met": met}

    sk, nn, th = (find("digits, batch 1,", t) for t in (SKLEARN, "nnclf (shuffle)", "torch"))
    if sk and nn:
        record("digits per-example: nnclf / sklearn", nn.ratio_vs_sklearn)
        if sk.test_accuracy is not None and nn.test_accuracy is not None:
            record(
                "digits per-example: accuracy gap (points)",
                100 * abs(nn.test_accuracy - sk.test_accuracy),
            )
    if nn and th:
        record("digits per-example: nnclf / torch", nn.examples_per_second / th.examples_per_second)
    for problem in ("digits", "synthetic"):
        mb = find(f"{problem}, batch {batch_size},", "nnclf (shuffle)")
        if mb and batch_size == 32:
            record(f"minibatch 32 ({problem}): nnclf / sklearn", mb.ratio_vs_sklearn)
    pr = find("predict_proba", "nnclf")
    if pr:
        record("predict_proba: nnclf / sklearn", pr.ratio_vs_sklearn)
    if memory is not None and memory["steps"] >= 1_000_000:
        record("memory: end / start", memory["end_vs_start"])
    for v in versus:
        if v.ratio is not None:
            problem = v.case.split(",")[0]
            record(f"minibatch {v.batch_size} ({problem}, {v.dtype}): nnclf / torch", v.ratio)
    return out


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


def fmt(value, spec: str, missing: str = "-") -> str:
    return missing if value is None else format(value, spec)


def table_lines(rows: list[Row], markdown: bool = False) -> list[str]:
    header = ("case", "tool", "examples/s", "vs sklearn", "test acc", "seconds")
    body = [
        (
            r.case,
            r.tool,
            f"{r.examples_per_second:,.0f}",
            fmt(r.ratio_vs_sklearn, ".2f") + "x",
            fmt(r.test_accuracy, ".4f"),
            f"{r.seconds:.2f}",
        )
        for r in rows
    ]
    return grid(header, body, [r.case for r in rows], 2, markdown)


def versus_lines(versus: list[Versus], markdown: bool = False) -> list[str]:
    """The torch-minibatch table: both tools' median examples/s and their ratio."""
    header = (
        "case",
        "dtype",
        "nnclf examples/s",
        "torch examples/s",
        "nnclf / torch",
        "test acc nnclf",
        "test acc torch",
        "max |param diff|",
    )
    body = [
        (
            v.case,
            v.dtype,
            f"{v.nnclf_examples_per_second:,.0f}",
            fmt(v.torch_examples_per_second, ",.0f"),
            fmt(v.ratio, ".2f") + ("x" if v.ratio is not None else ""),
            f"{v.nnclf_test_accuracy:.4f}",
            fmt(v.torch_test_accuracy, ".4f"),
            fmt(v.max_param_diff, ".1e"),
        )
        for v in versus
    ]
    return grid(header, body, [v.case.split(",")[0] for v in versus], 2, markdown)


def grid(header, body, groups, left: int, markdown: bool) -> list[str]:
    """A table: ``left`` columns aligned left, the rest right; a blank line between groups
    (plain text), or a markdown table."""
    if markdown:
        lines = [
            "| " + " | ".join(header) + " |",
            "|" + "---|" * left + "---:|" * (len(header) - left),
        ]
        return lines + ["| " + " | ".join(b) + " |" for b in body]
    widths = [max(len(x[c]) for x in [header] + body) for c in range(len(header))]
    align = [str.ljust] * left + [str.rjust] * (len(header) - left)
    lines = ["  ".join(a(x, w) for a, x, w in zip(align, header, widths))]
    lines.append("  ".join("-" * w for w in widths))
    prev = None
    for group, b in zip(groups, body):
        if prev is not None and group != prev:
            lines.append("")
        prev = group
        lines.append("  ".join(a(x, w) for a, x, w in zip(align, b, widths)).rstrip())
    return lines


def memory_lines(memory: dict) -> list[str]:
    return [
        f"memory: {memory['steps']:,} per-example steps in {memory['seconds']:.1f} s "
        f"({memory['examples_per_second']:,.0f} steps/s, test acc {memory['test_accuracy']:.4f})",
        f"  resident memory after loading data {memory['rss_start_mb']:.1f} MB, "
        f"peak {memory['rss_peak_mb']:.1f} MB, end {memory['rss_end_mb']:.1f} MB "
        f"(end / start = {memory['end_vs_start']:.3f}, "
        f"peak / start = {memory['peak_vs_start']:.3f})",
    ]


def report(result: dict) -> str:
    m = result["machine"]
    blas = (
        ", ".join(
            " ".join(filter(None, (b["prefix"], b["version"])))
            + f" ({plural(b['num_threads'], 'thread')})"
            for b in m["blas"]
        )
        or "unknown"
    )
    lines = [
        f"nnclf benchmark, {result['date']}",
        f"machine: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable), {m['platform']}",
        f"python {m['python']}, numpy {m['numpy']}, scikit-learn {m['sklearn']}, "
        f"torch {m['torch'] or 'not installed/disabled'}"
        + (f" ({plural(m['torch_threads'], 'thread')})" if m["torch_threads"] else ""),
        f"BLAS: {blas}",
        "threads: "
        + (
            f"{result['settings']['threads']} per library (--threads)"
            if result["settings"]["threads"]
            else "each library's default"
        ),
        f"command: {result['command']}",
        "",
    ]
    if result["results"]:
        lines += table_lines([Row(**r) for r in result["results"]])
    if result["versus_torch"]:
        lines += ["", "minibatches, nnclf against the eager PyTorch loop:", ""]
        lines += versus_lines([Versus(**v) for v in result["versus_torch"]])
    if result["memory"] is not None:
        lines += [""] + memory_lines(result["memory"])
    if result["targets"]:
        lines += ["", "targets:"]
        for name, t in result["targets"].items():
            lines.append(
                f"  {name}: {t['value']:.3g} (target {t['comparison']} {t['target']:g}) "
                f"{'met' if t['met'] else 'NOT met'}"
            )
    notes = [f"{r['case']} / {r['tool']}: {r['note']}" for r in result["results"] if r["note"]]
    notes += [
        f"{v['case']} ({v['dtype']}): {v['note']}" for v in result["versus_torch"] if v["note"]
    ]
    notes += result["notes"]
    if notes:
        lines += ["", "notes:"] + [f"  - {n}" for n in notes]
    lines.append(f"\ntotal time {result['total_seconds']:.1f} s")
    return "\n".join(lines)


def markdown(result: dict) -> str:
    m = result["machine"]
    threads = result["settings"]["threads"]
    lines = [
        f"Measured {result['date']} on {m['cpu']} ({m['cores']} cores, "
        f"{plural(threads, 'thread') + ' per library' if threads else 'default threads'}), "
        f"Python {m['python']}, numpy {m['numpy']}, scikit-learn {m['sklearn']}, "
        f"torch {m['torch'] or 'not installed'}:",
        "",
    ]
    if result["results"]:
        lines += table_lines([Row(**r) for r in result["results"]], markdown=True)
    if result["versus_torch"]:
        lines += ["", "Minibatches, nnclf against the eager PyTorch loop:", ""]
        lines += versus_lines([Versus(**v) for v in result["versus_torch"]], markdown=True)
    if result["memory"] is not None:
        lines += [""] + memory_lines(result["memory"])
    lines += ["", "Reproduce with:", "", "```", result["command"], "```"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- command line


def parse_cases(text: str) -> tuple[str, ...]:
    cases = tuple(c.strip() for c in text.split(",") if c.strip())
    unknown = [c for c in cases if c not in CASES]
    if unknown or not cases:
        raise argparse.ArgumentTypeError(
            f"unknown case {unknown[0]!r}; choose from {','.join(CASES)}"
            if unknown
            else f"no case given; choose from {','.join(CASES)}"
        )
    return cases


def _argument(parse, ok, expected: str):
    """An argparse ``type``: ``parse`` the text, then require ``ok(value)``."""

    def convert(text: str):
        try:
            value = parse(text)
        except ValueError:
            value = None
        if value is None or not ok(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return convert


positive_int = _argument(lambda t: int(t.replace("_", "")), lambda v: v >= 1, "a positive integer")
nonnegative_int = _argument(int, lambda v: v >= 0, "an integer >= 0")
positive_float = _argument(float, lambda v: v > 0, "a positive number")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python scripts/benchmark.py",
        description="nnclf's per-example and minibatch SGD and predict_proba against "
        "scikit-learn's MLPClassifier, an eager PyTorch loop and a hand-written "
        "numpy step, in one process on the same data.",
    )
    full = {k: v[0] for k, v in DEFAULTS.items()}
    quick = {k: v[1] for k, v in DEFAULTS.items()}
    parser.add_argument(
        "--cases",
        type=parse_cases,
        default=CASES,
        help=f"comma-separated cases to run (default all: {','.join(CASES)})",
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"tiny sizes for a smoke test: {quick}"
    )
    parser.add_argument(
        "--epochs",
        type=positive_int,
        help=f"epochs of the digits per-example case (default {full['epochs']})",
    )
    parser.add_argument(
        "--synthetic-rows",
        type=positive_int,
        help=f"rows of the synthetic problem, 80%% used for training "
        f"(default {full['synthetic_rows']})",
    )
    parser.add_argument(
        "--synthetic-epochs",
        type=positive_int,
        help=f"epochs of the synthetic per-example case (default {full['synthetic_epochs']})",
    )
    parser.add_argument(
        "--minibatch-epochs",
        type=positive_int,
        help=f"epochs of the minibatch cases (default {full['minibatch_epochs']} "
        "on digits; the synthetic one runs a tenth of that, at least 1)",
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=32,
        help="batch size of the minibatch cases (default 32)",
    )
    parser.add_argument(
        "--predict-rows",
        type=positive_int,
        help=f"rows given to predict_proba (default {full['predict_rows']})",
    )
    parser.add_argument(
        "--memory-steps",
        type=positive_int,
        help=f"steps of the memory run (default {full['memory_steps']})",
    )
    parser.add_argument(
        "--max-seconds",
        type=positive_float,
        help="time limit for each torch loop and numpy-reference run; a run "
        "that hits it reports examples/s from the steps it made "
        f"(default {full['max_seconds']:g})",
    )
    parser.add_argument(
        "--repeat",
        type=positive_int,
        default=1,
        help="time every training run this many times and keep the fastest (default 1)",
    )
    parser.add_argument(
        "--threads",
        type=nonnegative_int,
        default=0,
        help="threads for BLAS (numpy, scipy) and torch in every case "
        "(default 0: each library's own default; 1 steadies the numbers "
        "on a busy machine, since per-example SGD is sequential)",
    )
    parser.add_argument(
        "--rounds",
        type=positive_int,
        help="rounds of the torch-minibatch case, nnclf and torch alternating; "
        f"each figure is the median (default {full['rounds']})",
    )
    parser.add_argument(
        "--versus-epochs",
        type=positive_int,
        help=f"epochs of the torch-minibatch runs on digits (default {full['versus_epochs']})",
    )
    parser.add_argument(
        "--wide-rows",
        type=positive_int,
        help="rows of the torch-minibatch case's 784-feature problem, 80%% used for "
        f"training (default {full['wide_rows']})",
    )
    parser.add_argument(
        "--wide-epochs",
        type=positive_int,
        help=f"epochs of the torch-minibatch runs on it (default {full['wide_epochs']})",
    )
    parser.add_argument(
        "--momentum",
        type=_argument(float, lambda v: 0 <= v < 1, "a number in [0, 1)"),
        default=0.0,
        help="momentum of both tools' SGD in the torch-minibatch case (default 0: plain SGD)",
    )
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch rows")
    parser.add_argument(
        "--torch-dtype",
        choices=("float32", "float64"),
        default="float32",
        help="dtype of the PyTorch loop (default float32, PyTorch's own; "
        "nnclf, scikit-learn and the numpy reference use float64)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    parser.add_argument(
        "--markdown", metavar="PATH", help="also write a README-ready markdown table here"
    )
    return parser


def options_from_args(args) -> Options:
    pick = 1 if args.quick else 0
    values = {
        k: getattr(args, k) if getattr(args, k) is not None else v[pick]
        for k, v in DEFAULTS.items()
    }
    return Options(
        cases=args.cases,
        batch_size=args.batch_size,
        repeat=args.repeat,
        torch_dtype=args.torch_dtype,
        no_torch=args.no_torch,
        threads=args.threads,
        momentum=args.momentum,
        **values,
    )


def run(opts: Options, command: str) -> dict:
    started = time.perf_counter()
    date = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    # Before torch is imported, so that the baseline is numpy, scikit-learn, nnclf and data.
    memory = memory_case(opts) if "memory" in opts.cases else None
    torch = torch_or_none(opts.no_torch)
    if torch is not None and opts.threads:
        torch.set_num_threads(opts.threads)
    if torch is None:
        opts.notes.append(
            "torch: skipped ("
            + ("--no-torch" if opts.no_torch else "not installed; pip install torch")
            + ")"
        )
    elif set(opts.cases) & {"digits", "synthetic", "minibatch"}:
        threads = plural(torch.get_num_threads(), "thread")
        opts.notes.append(
            f"torch: {opts.torch_dtype}, {threads}; nnclf, scikit-learn and numpy use float64"
        )
    if set(opts.cases) & {"digits", "synthetic", "minibatch"}:
        opts.notes.append(
            "nnclf (shuffle) draws a new permutation every epoch, as scikit-learn and "
            "the torch loop do; nnclf (uniform) picks i uniformly at random at every "
            "step, as in the notes"
        )
    if "minibatch" in opts.cases:
        opts.notes.append(
            f"minibatch cases use eta = {MINIBATCH_ETA} (the mean gradient of "
            f"{opts.batch_size} examples per step)"
        )

    rows: list[Row] = []
    digits = digits_problem()
    if "digits" in opts.cases:
        rows += per_example_case(digits, opts.epochs, opts, torch)
    if "synthetic" in opts.cases or "minibatch" in opts.cases:
        synthetic = synthetic_problem(opts.synthetic_rows)
    if "synthetic" in opts.cases:
        rows += per_example_case(synthetic, opts.synthetic_epochs, opts, torch)
    if "minibatch" in opts.cases:
        rows += minibatch_case(digits, opts.minibatch_epochs, opts, torch)
        rows += minibatch_case(synthetic, max(1, opts.minibatch_epochs // 10), opts, torch)
    if "predict" in opts.cases:
        rows += predict_case(digits, opts)
    versus = versus_case(digits, opts, torch) if "torch-minibatch" in opts.cases else []

    settings = asdict(opts)
    notes = settings.pop("notes")
    return {
        "date": date,
        "command": command,
        "machine": machine_info(torch),
        "settings": settings,
        "results": [asdict(r) for r in rows],
        "versus_torch": [asdict(v) for v in versus],
        "memory": memory,
        "targets": check_targets(rows, memory, opts.batch_size, versus),
        "notes": notes,
        "total_seconds": time.perf_counter() - started,
    }


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    for option, path in (("--json", args.json), ("--markdown", args.markdown)):
        if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            parser.error(f"{option}: the folder of '{path}' does not exist")
    opts = options_from_args(args)
    command = "python scripts/benchmark.py" + (" " + shlex.join(argv) if argv else "")
    if opts.threads:
        with threadpool_limits(limits=opts.threads):
            result = run(opts, command)
    else:
        result = run(opts, command)
    print(report(result))
    for path, text in (
        (args.json, lambda: json.dumps(result, indent=2) + "\n"),
        (args.markdown, lambda: markdown(result)),
    ):
        if path:
            try:
                with open(path, "w") as f:
                    f.write(text())
            except OSError as e:
                print(f"benchmark: cannot write '{path}': {e.strerror}", file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
