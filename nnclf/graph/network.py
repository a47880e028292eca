"""The notes' feedforward network as a computational graph, and its deeper versions.

Contract
--------
``Network(n_features=d, n_hidden=m, n_classes=K, transfer="tanh")`` builds the notes' graph

    leaves  W (m, d), x (d,), b (m,), V (K, m), gamma (K,), y
    z = Wx + b          (affine)
    h = g(z)            (the transfer function)
    l = Vh + gamma      (affine)
    q = LS(l)           (log-softmax)
    o = -q_y            (neg_pick)

so that p(y | x) = softmax(V g(Wx + b) + gamma)_y and o = -log p(y | x). ``n_hidden`` may
also be a sequence of layer sizes (m_1, ..., m_L); with L >= 2 hidden layers the graph is

    z1 = W1 x + b1, h1 = g1(z1), z2 = W2 h1 + b2, h2 = g2(z2), ..., l = V h_L + gamma

with the same local functions (affine, the transfers, log-softmax, neg_pick) and the same
q and o. One layer, given as ``100`` or ``[100]``, is always the notes' network with the
notes' names (W, b, z, h). ``transfer`` is one name for every layer or one name per layer.
Every derivative comes from backpropagation through the graph (``net.graph``); nothing here
differentiates by hand. ``net.params`` holds the parameter arrays by name, in
``net.param_names`` order (W1, b1, W2, b2, ..., V, gamma: the order SGD updates them);
changing them (in place or by assignment) changes the network. ``x`` may be one example (d,) with an integer ``y``, or a
batch (B, d) with ``y`` of shape (B,), for which o is the mean loss over the batch.
``dtype`` (float64 by default) is the graph's floating dtype and that of the parameters.
"""

from __future__ import annotations

import os

import numpy as np

from nnclf.base.memory import aligned
from nnclf.base.rules import integer
from nnclf.errors import ConfigError, DataError
from nnclf.graph.functions import LocalFunction, affine
from nnclf.graph.graph import Graph
from nnclf.graph.softmax import log_softmax, neg_pick
from nnclf.graph.transfers import get_transfer

__all__ = [
    "Network",
    "PARAMS",
    "INITS",
    "MAX_LAYERS",
    "layer_sizes",
    "layer_transfers",
    "param_names",
    "layers_of",
    "init_params",
    "memory_needed",
    "physical_memory",
    "check_fits_in_memory",
]

PARAMS = ("W", "b", "V", "gamma")
"""The trainable leaves of the notes' one-hidden-layer network, in the order SGD updates them."""

MAX_LAYERS = 10
"""The most hidden layers a network may have."""

INITS = ("xavier", "he", "normal")

PREDICT_CHUNK = 8192
"""Rows per forward pass in prediction: bounds memory on large inputs."""


def layer_sizes(n_hidden) -> tuple[int, ...]:
    """(m_1, ..., m_L) from an int m (one layer) or a sequence of layer sizes."""
    if isinstance(n_hidden, (list, tuple)):
        if not 1 <= len(n_hidden) <= MAX_LAYERS:
            raise ConfigError(
                f"n_hidden must list 1 to {MAX_LAYERS} layer sizes, got {list(n_hidden)!r}"
            )
        return tuple(_positive_int(f"n_hidden[{k}]", m) for k, m in enumerate(n_hidden))
    return (_positive_int("n_hidden", n_hidden),)


def layer_transfers(transfer, n_layers: int) -> tuple[str, ...]:
    """One transfer name per hidden layer, from one name (every layer) or a list of them."""
    if isinstance(transfer, str):
        return (transfer,) * n_layers
    names = tuple(transfer)
    if len(names) != n_layers:
        raise ConfigError(
            f"transfer lists {len(names)} functions but there "
            f"{'is 1 hidden layer' if n_layers == 1 else f'are {n_layers} hidden layers'}"
            "; give one name per layer, or one name for all"
        )
    return names


def param_names(n_layers: int) -> tuple[str, ...]:
    """The trainable leaves in update order: W, b, V, gamma for one hidden layer (the
    notes' names); W1, b1, W2, b2, ..., V, gamma for more."""
    if n_layers == 1:
        return PARAMS
    return (*(f"{p}{k}" for k in range(1, n_layers + 1) for p in "Wb"), "V", "gamma")


def layers_of(params) -> int:
    """How many hidden layers the parameter names describe: 1 with a ``W``, else the number
    of consecutive W1, W2, ... (0 when there is neither)."""
    if "W" in params:
        return 1
    n = 0
    while f"W{n + 1}" in params:
        n += 1
    return n


def init_params(
    n_features: int, n_hidden, n_classes: int, init: str = "xavier", scale: float = 0.01, seed=0
) -> dict[str, np.ndarray]:
    """Initial parameters (see :func:`param_names`): biases zero, weights by ``init``.

    - ``xavier``: Glorot uniform, U(-a, a) with a = sqrt(6 / (fan_in + fan_out));
    - ``he``: N(0, 2 / fan_in);
    - ``normal``: N(0, scale^2).

    ``n_hidden`` is m or (m_1, ..., m_L); each weight matrix is drawn with its own fan-in and
    fan-out, in update order (W1, W2, ..., V), from one generator. ``seed`` is an int or a
    ``numpy.random.Generator``.
    """
    if init not in INITS:
        raise ConfigError(
            f": unknown initialisation {init!r}; choose one of {', '.join(INITS)}", name="init"
        )
    if not scale > 0:
        raise ConfigError(f" must be > 0, got {scale!r}", name="scale")
    sizes = layer_sizes(n_hidden)
    rng = np.random.default_rng(seed)

    def weights(fan_out: int, fan_in: int) -> np.ndarray:
        if init == "xavier":
            a = np.sqrt(6.0 / (fan_in + fan_out))
            return rng.uniform(-a, a, size=(fan_out, fan_in))
        if init == "he":
            return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_out, fan_in))
        return rng.normal(0.0, scale, size=(fan_out, fan_in))

    names = iter(param_names(len(sizes)))
    params, fan_in = {}, n_features
    for m in (*sizes, n_classes):
        params[next(names)] = weights(m, fan_in)
        params[next(names)] = np.zeros(m)
        fan_in = m
    return params


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


def memory_needed(
    n_features: int, n_hidden, n_classes: int, dtype=np.float64, batch_size: int = 1
) -> int:
    """Bytes a network of these sizes needs to train, about: :data:`COPIES` copies of every
    weight matrix and bias (in float64, the widest) and one step's buffers for a batch (every
    z, h, l, q and their gradients). ``n_hidden`` is m or (m_1, ..., m_L)."""
    sizes = layer_sizes(n_hidden)
    fan_in = (n_features, *sizes)
    params = sum(m * (f + 1) for m, f in zip((*sizes, n_classes), fan_in))
    buffers = 2 * batch_size * (n_features + 2 * sum(sizes) + 2 * n_classes)
    return COPIES * params * 8 + buffers * np.dtype(dtype).itemsize


def _gib(n: int) -> str:
    return f"{n / 2**30:.3g} GiB"


def _described(n_features: int, n_hidden, n_classes: int) -> str:
    sizes = layer_sizes(n_hidden)
    m = sizes[0] if len(sizes) == 1 else list(sizes)
    return f"a network with d={n_features} inputs, m={m} hidden units and K={n_classes} classes"


def check_fits_in_memory(n_features: int, n_hidden, n_classes: int, dtype=np.float64) -> None:
    """A ConfigError, before anything is allocated, if training such a network would need
    more memory than the machine has."""
    need, have = memory_needed(n_features, n_hidden, n_classes, dtype), physical_memory()
    if have is not None and need > have:
        L = len(layer_sizes(n_hidden))
        weights = "W, V" if L == 1 else f"W1..W{L}, V"
        raise ConfigError(
            f"{_described(n_features, n_hidden, n_classes)} needs about {_gib(need)} to train "
            f"({weights}, their gradients and buffers) but this machine has {_gib(have)}; "
            "use fewer hidden units"
        )


_POSITIVE_INT = integer(1, says="a positive integer")


def _positive_int(name: str, value) -> int:
    problem = _POSITIVE_INT.problem(value)
    if problem is not None:
        raise ConfigError(problem, name=name)
    return int(value)


def build_graph(transfer, dtype=np.float64) -> Graph:
    """The notes' graph z = Wx + b, h = g(z), l = Vh + gamma, q = LS(l), o = -q_y.

    ``transfer`` is one local function g (the notes' network) or a sequence (g_1, ..., g_L)
    of them, one per hidden layer: z_k = W_k h_{k-1} + b_k, h_k = g_k(z_k) with h_0 = x, and
    l = V h_L + gamma. Leaves come in the order W1, x, b1, W2, b2, ..., V, gamma, y (W, x,
    b, V, gamma, y for one layer); a single layer keeps the notes' names W, b, z, h.
    """
    transfers = [transfer] if isinstance(transfer, LocalFunction) else list(transfer)
    names = param_names(len(transfers))
    suffix = [""] if len(transfers) == 1 else [str(k) for k in range(1, len(transfers) + 1)]
    g = Graph(dtype=dtype)
    # The notes number the leaves 1..l before any vertex: every leaf comes first.
    W, b = [], []
    for k in range(len(transfers)):
        W.append(g.leaf(names[2 * k]))
        if k == 0:
            h = g.leaf("x")  # the notes' order W, x, b
        b.append(g.leaf(names[2 * k + 1]))
    V, gamma, y = g.leaf("V"), g.leaf("gamma"), g.leaf("y")
    for W_k, b_k, g_k, s in zip(W, b, transfers, suffix):
        z = g.vertex(f"z{s}", affine, W_k, h, b_k)
        h = g.vertex(f"h{s}", g_k, z)
    l = g.vertex("l", affine, V, h, gamma)
    q = g.vertex("q", log_softmax, l)
    g.vertex("o", neg_pick, q, y)
    return g


class Network:
    """p(y | x) = softmax(V g(Wx + b) + gamma), or its deeper version, as a computational graph.

    Parameters
    ----------
    n_features : int
        d, the input dimension.
    n_hidden : int or sequence of int
        m, the number of hidden units (the notes' network), or (m_1, ..., m_L), the sizes of
        L <= :data:`MAX_LAYERS` hidden layers.
    n_classes : int
        K >= 2, the number of labels.
    transfer : str or sequence of str
        The transfer function g, one of ``nnclf.graph.TRANSFERS``, for every layer; or one
        name per hidden layer.
    init : {"xavier", "he", "normal"}
        Weight initialisation (biases start at zero), each layer by its own fan-in and fan-out.
    init_scale : float
        Standard deviation for ``init="normal"``.
    seed : int or numpy.random.Generator
        Seeds the initialisation.
    dtype : floating numpy dtype, default float64
        The graph's dtype (see :class:`~nnclf.graph.graph.Graph`); the parameters are in it.

    Attributes
    ----------
    layers : tuple of int
        (m_1, ..., m_L), the hidden layer sizes.
    n_hidden : int or tuple of int
        m for one hidden layer, else ``layers``.
    transfers : tuple of str
        The transfer function of each hidden layer.
    transfer : str or list of str
        One name when every layer has the same g, else ``list(transfers)``.
    param_names : tuple of str
        The trainable leaves in update order: ("W", "b", "V", "gamma") for one hidden layer,
        ("W1", "b1", ..., "WL", "bL", "V", "gamma") for L >= 2.
    params : dict
        The arrays by name, in ``param_names`` order: W / W1 (m_1, d), b / b1 (m_1,), Wk
        (m_k, m_{k-1}), bk (m_k,), V (K, m_L), gamma (K,).
    graph : Graph
        The computational graph with the parameters, x and y as leaves and output o.
    """

    def __init__(
        self,
        n_features: int,
        n_hidden,
        n_classes: int,
        transfer="tanh",
        init: str = "xavier",
        init_scale: float = 0.01,
        seed=0,
        dtype=np.float64,
    ):
        self.n_features = _positive_int("n_features", n_features)
        self.layers = layer_sizes(n_hidden)
        self.n_hidden = self.layers[0] if len(self.layers) == 1 else self.layers
        self.n_classes = _positive_int("n_classes", n_classes)
        if self.n_classes < 2:
            raise ConfigError(f"n_classes must be at least 2, got {n_classes}")
        self.transfers = layer_transfers(transfer, len(self.layers))
        self.transfer = self.transfers[0] if len(set(self.transfers)) == 1 else list(self.transfers)
        self.param_names = param_names(len(self.layers))
        self.graph = build_graph([get_transfer(t) for t in self.transfers], dtype)
        self.dtype = self.graph.dtype
        check_fits_in_memory(self.n_features, self.layers, self.n_classes, self.dtype)
        try:
            params = init_params(
                self.n_features, self.layers, self.n_classes, init, init_scale, seed
            )
        except MemoryError:
            need = memory_needed(self.n_features, self.layers, self.n_classes)
            raise ConfigError(
                f"{_described(self.n_features, self.layers, self.n_classes)} does not fit in "
                f"memory (it needs about {_gib(need)}); use fewer hidden units"
            ) from None
        self.params = {name: aligned(value, self.dtype) for name, value in params.items()}

    @classmethod
    def from_params(cls, params: dict, transfer="tanh", dtype=np.float64) -> Network:
        """A network with the given parameters (copied to ``dtype``): W, b, V, gamma, or W1,
        b1, ..., WL, bL, V, gamma; the layer sizes are read from the weight matrices."""
        names = param_names(max(layers_of(params), 1))
        weights = [np.shape(params[n]) for n in names[::2]]
        d, sizes, K = weights[0][1], [w[0] for w in weights[:-1]], weights[-1][0]
        net = cls(d, sizes, K, transfer=transfer, dtype=dtype)
        net.params = {name: aligned(params[name], net.dtype) for name in names}
        return net

    def __repr__(self) -> str:
        n_hidden = self.n_hidden if len(self.layers) == 1 else list(self.layers)
        return (
            f"Network(n_features={self.n_features}, n_hidden={n_hidden}, "
            f"n_classes={self.n_classes}, transfer={self.transfer!r})"
        )

    def leaf_values(self, x, y) -> dict:
        """The values of the leaves: the parameters, x and y."""
        values = dict(self.params)
        values["x"] = x
        values["y"] = y
        return values

    def executor(self):
        """The graph compiled for gradients with respect to the parameters."""
        return self.graph.compile(wrt=self.param_names)

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
        """o = -log p(y | x) (the mean over a batch) and its gradient for every parameter.

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
            raise DataError(
                f"loss needs a non-empty (n, {self.n_features}) array, got shape {X.shape}"
            )
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
            rows = X2[start : start + PREDICT_CHUNK]
            # o needs a label; any valid one will do, since only q is read here.
            values = self.graph.forward(self.leaf_values(rows, np.zeros(len(rows), dtype=np.intp)))
            out[start : start + len(rows)] = values["q"]
        return out[0] if single else out

    def predict_proba(self, X) -> np.ndarray:
        """p(k | x) = softmax(V g(Wx + b) + gamma)_k for every row of X. Shape (n, K)."""
        return np.exp(self.predict_log_proba(X))

    def predict(self, X) -> np.ndarray:
        """The most probable class index for every row of X. Shape (n,)."""
        return np.argmax(self.predict_log_proba(X), axis=-1)
