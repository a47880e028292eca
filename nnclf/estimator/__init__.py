"""The scikit-learn estimator: :class:`NNClassifier`, the notes' network as a classifier.

Contract
--------
- :mod:`~nnclf.estimator.classifier`  NNClassifier: fit, partial_fit, predict, scikit-learn's way
- :mod:`~nnclf.estimator.params`      its parameters <-> an nnclf config, one mapping
- :mod:`~nnclf.estimator.fitted`      its fitted half: prediction, fitted attributes, persistence

The same machinery as the command line, below it: graph, data, training, config, export.
"""

from nnclf.estimator.classifier import NNClassifier

__all__ = ["NNClassifier"]
