"""nnclf: feedforward softmax classifiers trained by SGD on an explicit computational graph.

The package follows Michael Collins' notes *Computational Graphs, and Backpropagation*, one
module per idea (README.md, "From the notes to the code", has the whole map):

- :mod:`nnclf.graph.functions`  local functions f^i with their Jacobians J^{j->i} and VJPs
- :mod:`nnclf.graph.transfers`  the transfer functions g
- :mod:`nnclf.graph.graph`      the computational graph, forward pass, backward pass, path sums
- :mod:`nnclf.graph.executor`   the same passes compiled once, for training
- :mod:`nnclf.graph.gradcheck`  central finite differences against backpropagation
- :mod:`nnclf.graph.network`      the network z = Wx + b, h = g(z), l = Vh + gamma, q = LS(l), o = -q_y
- :mod:`nnclf.training.schedules`  step sizes eta^t
- :mod:`nnclf.training.trainer`        the notes' stochastic gradient descent, with its parts
  :mod:`~nnclf.training.sampler`, :mod:`~nnclf.training.optimizers`, :mod:`~nnclf.training.stopping`
- :mod:`nnclf.config.settings`   every setting's type and range; :mod:`nnclf.config.load` reads them from YAML
- :mod:`nnclf.errors`     the errors nnclf raises on purpose
- :class:`nnclf.NNClassifier`, the scikit-learn estimator
- :mod:`nnclf.export.onnx` the trained network as an ONNX graph (``nnclf export``)
"""

from nnclf.base.version import __version__

__all__ = ["NNClassifier", "__version__"]


def __getattr__(name):
    # Lazy, so that ``import nnclf`` stays cheap for code that never needs scikit-learn.
    if name == "NNClassifier":
        from nnclf.estimator.classifier import NNClassifier

        return NNClassifier
    raise AttributeError(f"module 'nnclf' has no attribute {name!r}")
