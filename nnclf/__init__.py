"""nnclf: feedforward softmax classifiers trained by SGD on an explicit computational graph.

The package follows Michael Collins' notes *Computational Graphs, and Backpropagation*. Its
subpackages are layers, each importing only those below it (import-linter checks this):

- :mod:`nnclf.cli`        the ``nnclf`` command
- :mod:`nnclf.estimator`  :class:`NNClassifier`, the scikit-learn estimator
- :mod:`nnclf.sweeps`     many runs of one config, locally or on a Dask cluster
- :mod:`nnclf.runs`       run directories: train, resume, evaluate, report
- :mod:`nnclf.export`     a trained model as a model file or an ONNX graph
- :mod:`nnclf.config`     a YAML config in, frozen dataclasses out
- :mod:`nnclf.training`   the notes' SGD: sampler, step sizes eta^t, update rules, engines
- :mod:`nnclf.data`       where the examples come from, read, checked, split and scaled
- :mod:`nnclf.graph`      the notes' graph: local functions, forward and backward, the network
- :mod:`nnclf.base`       atomic files, rules, tables, suggestions
- :mod:`nnclf.errors`     the errors nnclf raises on purpose
"""

from nnclf.base.version import __version__

__all__ = ["NNClassifier", "__version__"]


def __getattr__(name):
    # Lazy, so that ``import nnclf`` stays cheap for code that never needs scikit-learn.
    if name == "NNClassifier":
        from nnclf.estimator.classifier import NNClassifier

        return NNClassifier
    raise AttributeError(f"module 'nnclf' has no attribute {name!r}")
