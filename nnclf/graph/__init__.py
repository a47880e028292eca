"""The notes' computational graph: vertices, local functions, forward and backward passes.

Contract
--------
Everything of the notes' sections 1 to 3 lives here, and nothing of data, training or files:

- :mod:`~nnclf.graph.functions`  local functions f^i with their Jacobians J^{j->i} and VJPs
- :mod:`~nnclf.graph.transfers`  the transfer functions g, by name
- :mod:`~nnclf.graph.softmax`    q = LS(l) and o = -q_y
- :mod:`~nnclf.graph.graph`      vertices 1..n, leaves 1..l, forward, backward, path sums
- :mod:`~nnclf.graph.executor`   the same passes planned once and run many times
- :mod:`~nnclf.graph.gradcheck`  backpropagation against central finite differences
- :mod:`~nnclf.graph.network`    the network z = Wx + b, h = g(z), l = Vh + gamma, q, o
- :mod:`~nnclf.graph.explain`    a graph on one example as an interactive HTML page

Imports go only to :mod:`nnclf.base` and :mod:`nnclf.errors`. The package's face holds the
vocabulary a reader of the notes builds graphs with, each name from the module that defines it::

    from nnclf.graph import Graph, add, mul, tanh, log_softmax, neg_pick
"""

from nnclf.graph.functions import (
    FLOAT,
    Compiled,
    LocalFunction,
    add,
    affine,
    exp_nonpositive,
    expm1_nonnegative,
    mul,
    reorders_sums,
)
from nnclf.graph.graph import Graph
from nnclf.graph.network import Network
from nnclf.graph.softmax import log_softmax, neg_pick
from nnclf.graph.transfers import (
    TRANSFERS,
    elementwise,
    get_transfer,
    identity,
    register_transfer,
    relu,
    sigmoid,
    softplus,
    tanh,
)

__all__ = [
    "LocalFunction",
    "Compiled",
    "FLOAT",
    "reorders_sums",
    "exp_nonpositive",
    "expm1_nonnegative",
    "add",
    "mul",
    "affine",
    "log_softmax",
    "neg_pick",
    "TRANSFERS",
    "elementwise",
    "get_transfer",
    "register_transfer",
    "tanh",
    "sigmoid",
    "relu",
    "identity",
    "softplus",
    "Graph",
    "Network",
]
