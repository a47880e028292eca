"""What the tests compare nnclf against, written from the notes without nnclf's help.

- :data:`TRANSFER_CLOSED_FORMS`: each transfer function g and its derivative g', in closed
  form (no scipy, no reuse of h = g(z));
- :func:`notes_network`: the notes' graph z = Wx + b, h = g(z), l = Vh + gamma, q = LS(l),
  o = -q_y, built vertex by vertex;
- :func:`hand_gradients`: the network's loss and its hand-derived gradients;
- :func:`central_differences`: derivatives by central finite differences, the one helper every
  test uses (written here rather than taken from ``nnclf.graph.gradcheck``, which is tested too).

``conftest.py`` puts this directory on ``sys.path``, so test modules import it by name.
"""

import numpy as np

import nnclf.graph as F
from nnclf.graph.graph import Graph

EPS = 1e-6
"""The step of :func:`central_differences`: in float64 its results are good to about 1e-9."""


def central_differences(f, x, eps=EPS):
    """df/dx by central differences: (f(x + eps e_c) - f(x - eps e_c)) / (2 eps) per entry c.

    Parameters
    ----------
    f : callable
        ``f()`` computes the function from the current contents of ``x`` (a scalar or an
        array of any shape).
    x : float ndarray
        Perturbed in place, one entry at a time, and restored.

    Returns
    -------
    ndarray of shape ``np.shape(f()) + x.shape``
        For a scalar f, the gradient shaped like x; reshaped to (d_f, d_x), the Jacobian.
    """
    columns = []
    for idx in np.ndindex(x.shape):
        saved = x[idx]
        x[idx] = saved + eps
        up = np.array(f(), dtype=float)
        x[idx] = saved - eps
        down = np.array(f(), dtype=float)
        x[idx] = saved
        columns.append((up - down) / (2 * eps))
    return np.stack(columns, axis=-1).reshape(np.shape(columns[0]) + x.shape)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


TRANSFER_CLOSED_FORMS = {
    "tanh": (np.tanh, lambda z: 1.0 / np.cosh(z) ** 2),
    "sigmoid": (_sigmoid, lambda z: np.exp(-z) / (1.0 + np.exp(-z)) ** 2),
    "relu": (lambda z: np.where(z > 0, z, 0.0), lambda z: np.where(z > 0, 1.0, 0.0)),
    "identity": (lambda z: np.array(z, dtype=float), lambda z: np.ones_like(z)),
    "softplus": (lambda z: np.log1p(np.exp(z)), _sigmoid),
}


def notes_network(transfer):
    """The notes' network: z = Wx + b, h = g(z), l = Vh + gamma, q = LS(l), o = -q_y."""
    g = Graph()
    for name in ("W", "x", "b", "V", "gamma", "y"):
        g.leaf(name)
    g.vertex("z", F.affine, "W", "x", "b")
    g.vertex("h", transfer, "z")
    g.vertex("l", F.affine, "V", "h", "gamma")
    g.vertex("q", F.log_softmax, "l")
    g.vertex("o", F.neg_pick, "q", "y")
    return g


def hand_gradients(params, X, y, transfer="tanh", with_x=False):
    """(loss, grads, P) for a batch X (B, d), y (B,) (or one example x, y).

    loss is the mean of -log softmax(V g(Wx + b) + gamma)_y over the rows; the gradients are
    the notes' derivation by hand, averaged over the rows:
    dgamma = p - onehot(y), dV = (p - onehot) h^T, db = (V^T (p - onehot)) * g'(z), dW = db x^T;
    with ``with_x``, also dx = W^T db, shaped like X (a row per example, not averaged).
    """
    g, dg = TRANSFER_CLOSED_FORMS[transfer]
    W, b, V, gamma = (params[k] for k in ("W", "b", "V", "gamma"))
    X2, y = np.atleast_2d(X), np.atleast_1d(y)
    B = len(X2)
    Z = X2 @ W.T + b
    H = g(Z)
    L = H @ V.T + gamma
    E = np.exp(L - L.max(axis=1, keepdims=True))
    P = E / E.sum(axis=1, keepdims=True)
    delta = P - np.eye(P.shape[1])[y]  # p - onehot(y), one row per example
    dZ = (delta @ V) * dg(Z)  # (V^T (p - onehot)) * g'(z)
    grads = {
        "W": dZ.T @ X2 / B,
        "b": dZ.mean(axis=0),
        "V": delta.T @ H / B,
        "gamma": delta.mean(axis=0),
    }
    if with_x:
        # The loss is the mean over the rows, so each row's dx carries a factor 1/B.
        grads["x"] = (dZ @ W / B).reshape(np.shape(X))
    return float(-np.mean(np.log(P[np.arange(B), y]))), grads, P


# The notes' network at d = 3, m = 4, K = 3, with random leaf values.
D, M, K = 3, 4, 3
REAL_LEAVES = ("W", "x", "b", "V", "gamma")


def network_leaves(rng, batch=None):
    """Leaf values with d = 3, m = 4, K = 3; z is kept away from relu's kink."""
    x_shape = (D,) if batch is None else (batch, D)
    for _ in range(100):
        leaves = {
            "W": rng.normal(size=(M, D)),
            "x": rng.normal(size=x_shape),
            "b": rng.normal(size=M),
            "V": rng.normal(size=(K, M)),
            "gamma": rng.normal(size=K),
            "y": (np.int64(rng.integers(K)) if batch is None else rng.integers(K, size=batch)),
        }
        z = leaves["x"] @ leaves["W"].T + leaves["b"]
        if np.min(np.abs(z)) > 1e-3:
            return leaves
    raise AssertionError("could not draw z away from 0")


def notes_example():
    """n = 4, l = 2, E = {(1,3), (2,3), (2,4), (3,4)}, f^3 = u1 + u2, f^4 = u2 * u3."""
    g = Graph()
    u1, u2 = g.leaf("u1"), g.leaf("u2")
    u3 = g.vertex("u3", F.add, u1, u2)
    g.vertex("u4", F.mul, u2, u3)
    return g


def diamonds(k):
    """u -> (a = u*u, b = u+u) -> c = a*b, k times in series: c_t = 2 c_{t-1}^3."""
    g = Graph()
    prev = g.leaf("u")
    for t in range(1, k + 1):
        a = g.vertex(f"a{t}", F.mul, prev, prev)
        b = g.vertex(f"b{t}", F.add, prev, prev)
        prev = g.vertex(f"c{t}", F.mul, a, b)
    return g
