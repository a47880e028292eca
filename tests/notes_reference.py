"""What the tests compare nnclf against, written from the notes without nnclf's help.

- :data:`TRANSFER_CLOSED_FORMS`: each transfer function g and its derivative g', in closed
  form (no scipy, no reuse of h = g(z));
- :func:`notes_network`: the notes' graph z = Wx + b, h = g(z), l = Vh + gamma, q = LS(l),
  o = -q_y, built vertex by vertex;
- :func:`hand_gradients`: the network's loss and its hand-derived gradients.
"""

import numpy as np

from nnclf import functions as F
from nnclf.graph import Graph


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


def hand_gradients(params, X, y, transfer="tanh"):
    """(loss, grads, P) for a batch X (B, d), y (B,) (or one example x, y).

    loss is the mean of -log softmax(V g(Wx + b) + gamma)_y over the rows; the gradients are
    the notes' derivation by hand, averaged over the rows:
    dgamma = p - onehot(y), dV = (p - onehot) h^T, db = (V^T (p - onehot)) * g'(z), dW = db x^T.
    """
    g, dg = TRANSFER_CLOSED_FORMS[transfer]
    W, b, V, gamma = (params[k] for k in ("W", "b", "V", "gamma"))
    X, y = np.atleast_2d(X), np.atleast_1d(y)
    B = len(X)
    Z = X @ W.T + b
    H = g(Z)
    L = H @ V.T + gamma
    E = np.exp(L - L.max(axis=1, keepdims=True))
    P = E / E.sum(axis=1, keepdims=True)
    delta = P - np.eye(P.shape[1])[y]                 # p - onehot(y), one row per example
    dZ = (delta @ V) * dg(Z)                          # (V^T (p - onehot)) * g'(z)
    grads = {"W": dZ.T @ X / B, "b": dZ.mean(axis=0), "V": delta.T @ H / B,
             "gamma": delta.mean(axis=0)}
    return float(-np.mean(np.log(P[np.arange(B), y]))), grads, P
