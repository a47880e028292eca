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

Imports go only to :mod:`nnclf.base` and :mod:`nnclf.errors`.
"""
