"""The notes' feedforward network as a computational graph.

Contract
--------
``Network(n_features=d, n_hidden=m, n_classes=K, transfer="tanh")`` builds the graph

    leaves  W (m, d), x (d,), b (m,), V (K, m), gamma (K,), y
    z = Wx + b          (affine)
    h = g(z)            (the transfer function)
    l = Vh + gamma      (affine)
    q = LS(l)           (log-softmax)
    o = -q_y            (neg_pick)

so that p(y | x) = softmax(V g(Wx + b) + gamma)_y and o = -log p(y | x). Every derivative comes
from backpropagation through that graph (``net.graph``); nothing here differentiates by hand.
``net.params`` holds the four parameter arrays by name; changing them (in place or by
assignment) changes the network. ``x`` may be one example (d,) with an integer ``y``, or a
batch (B, d) with ``y`` of shape (B,), for which o is the mean loss over the batch.
``dtype`` (float64 by default) is the graph's floating dtype and that of the parameters.
"""

from __future__ import annotations

import os

import numpy as np

from . import functions as F
from .errors import ConfigError, DataError
from .graph import Graph

__all__ = ["Network", "PARAMS", "INITS", "init_params", "memory_needed", "physical_memory",
           "check_fits_in_memory"]

PARAMS = ("W", "b", "V", "gamma")
"""The trainable leaves, in the order the notes' SGD updates them."""

INITS = ("xavier", "he", "normal")

PREDICT_CHUNK = 8192
"""Rows per forward pass in prediction: bounds memory on large inputs."""


def init_params(n_features: int, n_hidden: int, n_classes: int, init: str = "xavier",
                scale: float = 0.01, seed=0) -> dict[str, np.ndarray]:
    """Initial W, b, V, gamma: biases zero, weights by ``init``.

    - ``xavier``: Glorot uniform, U(-a, a) with a = sqrt(6 / (fan_in + fan_out));
    - ``he``: N(0, 2 / fan_in);
    - ``normal``: N(0, scale^2).

    ``seed`` is an int or a ``numpy.random.Generator``.
    """
    if init not in INITS:
        raise ConfigError(f": unknown initialisation {init!r}; choose one of {', '.join(INITS)}",
                          name="init")
    if not scale > 0:
        raise ConfigError(f" must be > 0, got {scale!r}", name="scale")
    rng = np.random.default_rng(seed)

    def weights(fan_out: int, fan_in: int) -> np.ndarray:
        if init == "xavier":
            a = np.sqrt(6.0 / (fan_in + fan_out))
            return rng.uniform(-a, a, size=(fan_out, fan_in))
        if init == "he":
            return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_out, fan_in))
        return rng.normal(0.0, scale, size=(fan_out, fan_in))

    W = weights(n_hidden, n_features)
    V = weights(n_classes, n_hidden)
    return {"W": W, "b": np.zeros(n_hidden), "V": V, "gamma": np.zeros(n_classes)}


COPIES = 4
"""Parameter-sized arrays training holds at once: the parameters, their gradients, the
optimizer's velocity or early stopping's best parameters, and the float64 draw of the
initialisation."""


def physical_memory() -> int | None:
    """The machine's physical memory in bytes, or None where the system does not say."""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return pages * size if pages > 0 and size > 0 else None


def memory_needed(n_features: int, n_hidden: int, n_classes: int, dtype=np.float64,
                  batch_size: int = 1) -> int:
    """Bytes a network of these sizes needs to train, about: :data:`COPIES` copies of W, b, V,
    gamma (in float64, the widest) and one step's buffers for a batch (z, h, l, q and their
    gradients)."""
    params = n_hidden * (n_features + 1) + n_classes * (n_hidden + 1)
    buffers = 2 * batch_size * (n_features + 2 * n_hidden + 2 * n_classes)
    return COPIES * params * 8 + buffers * np.dtype(dtype).itemsize


def _gib(n: int) -> str:
    return f"{n / 2**30:.3g} GiB"


def check_fits_in_memory(n_features: int, n_hidden: int, n_classes: int, dtype=np.float64) -> None:
    """A ConfigError, before anything is allocated, if training such a network would need
    more memory than the machine has."""
    need, have = memory_needed(n_features, n_hidden, n_classes, dtype), physical_memory()
    if have is not None and need > have:
        raise ConfigError(
            f"a network with d={n_features} inputs, m={n_hidden} hidden units and "
            f"K={n_classes} classes needs about {_gib(need)} to train (W, V, their gradients "
            f"and buffers) but this machine has {_gib(have)}; use fewer hidden units")


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def build_graph(transfer: F.LocalFunction, dtype=np.float64) -> Graph:
    """The notes' graph z = Wx + b, h = g(z), l = Vh + gamma, q = LS(l), o = -q_y."""
    g = Graph(dtype=dtype)
    W, x, b = g.leaf("W"), g.leaf("x"), g.leaf("b")
    V, gamma, y = g.leaf("V"), g.leaf("gamma"), g.leaf("y")
    z = g.vertex("z", F.affine, W, x, b)
    h = g.vertex("h", transfer, z)
    l = g.vertex("l", F.affine, V, h, gamma)
    q = g.vertex("q", F.log_softmax, l)
    g.vertex("o", F.neg_pick, q, y)
    return g


class Network:
    """p(y | x) = softmax(V g(Wx + b) + gamma), as a computational graph.

    Parameters
    ----------
    n_features : int
        d, the input dimension.
    n_hidden : int
        m, the number of hidden units.
    n_classes : int
        K >= 2, the number of labels.
    transfer : str
        The transfer function g: one of ``nnclf.functions.TRANSFERS``.
    init : {"xavier", "he", "normal"}
        Weight initialisation (biases start at zero).
    init_scale : float
        Standard deviation for ``init="normal"``.
    seed : int or numpy.random.Generator
        Seeds the initialisation.
    dtype : floating numpy dtype, default float64
        The graph's dtype (see :class:`~nnclf.graph.Graph`); the parameters are in it.

    Attributes
    ----------
    params : dict
        "W" (m, d), "b" (m,), "V" (K, m), "gamma" (K,).
    graph : Graph
        The computational graph with leaves W, x, b, V, gamma, y and output o.
    """

    def __init__(self, n_features: int, n_hidden: int, n_classes: int, transfer: str = "tanh",
                 init: str = "xavier", init_scale: float = 0.01, seed=0, dtype=np.float64):
        self.n_features = _positive_int("n_features", n_features)
        self.n_hidden = _positive_int("n_hidden", n_hidden)
        self.n_classes = _positive_int("n_classes", n_classes)
        if self.n_classes < 2:
            raise ConfigError(f"n_classes must be at least 2, got {n_classes}")
        self.transfer = transfer
        self.graph = build_graph(F.get_transfer(transfer), dtype)
        self.dtype = self.graph.dtype
        check_fits_in_memory(self.n_features, self.n_hidden, self.n_classes, self.dtype)
        try:
            params = init_params(self.n_features, self.n_hidden, self.n_classes, init,
                                 init_scale, seed)
        except MemoryError:
            raise ConfigError(
                f"a network with d={self.n_features} inputs, m={self.n_hidden} hidden units "
                f"and K={self.n_classes} classes does not fit in memory (it needs about "
                f"{_gib(memory_needed(self.n_features, self.n_hidden, self.n_classes))}); "
                "use fewer hidden units") from None
        self.params = {name: value.astype(self.dtype, copy=False) for name, value in params.items()}

    @classmethod
    def from_params(cls, params: dict, transfer: str = "tanh", dtype=np.float64) -> "Network":
        """A network with the given W, b, V, gamma (copied to ``dtype``)."""
        m, d = np.shape(params["W"])
        K = np.shape(params["V"])[0]
        net = cls(d, m, K, transfer=transfer, dtype=dtype)
        net.params = {name: np.array(params[name], dtype=net.dtype) for name in PARAMS}
        return net

    def __repr__(self) -> str:
        return (f"Network(n_features={self.n_features}, n_hidden={self.n_hidden}, "
                f"n_classes={self.n_classes}, transfer={self.transfer!r})")

    def leaf_values(self, x, y) -> dict:
        """The values of the six leaves W, x, b, V, gamma, y."""
        values = dict(self.params)
        values["x"] = x
        values["y"] = y
        return values

    def executor(self):
        """The graph compiled for gradients with respect to W, b, V, gamma."""
        return self.graph.compile(wrt=PARAMS)

    def _check_xy(self, x, y):
        x = np.asarray(x, dtype=self.dtype)
        y = np.asarray(y)
        if x.ndim not in (1, 2) or x.shape[-1] != self.n_features:
            raise DataError(
                f"x has shape {x.shape}; expected ({self.n_features},) or (batch, {self.n_features})"
            )
        if y.dtype.kind not in "iu" or y.shape != x.shape[:-1]:
            raise DataError(
                f"y must be an integer class index (one per row of x), got shape {y.shape} "
                f"dtype {y.dtype}"
            )
        if y.size and (y.min() < 0 or y.max() >= self.n_classes):
            raise DataError(f"y holds class indices outside 0..{self.n_classes - 1}")
        return x, y

    def loss_and_gradients(self, x, y) -> tuple[float, dict[str, np.ndarray]]:
        """o = -log p(y | x) (the mean over a batch) and do/dW, do/db, do/dV, do/dgamma.

        The gradients are the backward pass of ``self.graph`` (p^j with p^n = 1), returned
        as new arrays keyed like ``params``.
        """
        x, y = self._check_xy(x, y)
        ex = self.executor()
        o = ex.forward(self.leaf_values(x, y))
        return float(o), {name: g.copy() for name, g in ex.backward().items()}

    def loss(self, X, y) -> float:
        """The mean of -log p(y_r | x_r) over the rows of X."""
        X, y = self._check_xy(X, y)
        if X.ndim != 2 or len(X) == 0:
            raise DataError(f"loss needs a non-empty (n, {self.n_features}) array, got shape {X.shape}")
        total = 0.0
        for start in range(0, len(X), PREDICT_CHUNK):
            rows = slice(start, start + PREDICT_CHUNK)
            values = self.graph.forward(self.leaf_values(X[rows], y[rows]))
            total += values["o"] * len(y[rows])
        return total / len(X)

    def predict_log_proba(self, X) -> np.ndarray:
        """log p(k | x) for every row of X: the graph's vertex q. Shape (n, K)."""
        X = np.asarray(X, dtype=self.dtype)
        single = X.ndim == 1
        X2 = np.atleast_2d(X)
        if X2.ndim != 2 or X2.shape[1] != self.n_features:
            raise DataError(f"X has shape {X.shape}; expected (n, {self.n_features})")
        out = np.empty((len(X2), self.n_classes))
        for start in range(0, len(X2), PREDICT_CHUNK):
            rows = X2[start:start + PREDICT_CHUNK]
            # o needs a label; any valid one will do, since only q is read here.
            values = self.graph.forward(self.leaf_values(rows, np.zeros(len(rows), dtype=np.intp)))
            out[start:start + len(rows)] = values["q"]
        return out[0] if single else out

    def predict_proba(self, X) -> np.ndarray:
        """p(k | x) = softmax(V g(Wx + b) + gamma)_k for every row of X. Shape (n, K)."""
        return np.exp(self.predict_log_proba(X))

    def predict(self, X) -> np.ndarray:
        """The most probable class index for every row of X. Shape (n,)."""
        return np.argmax(self.predict_log_proba(X), axis=-1)
