"""Alias of :mod:`nnclf.export.trained` for one release (to be removed in 0.4).

Pickles of :class:`nnclf.NNClassifier` made by nnclf 0.2 name ``nnclf.trained.TrainedModel``;
this module makes that name the class of today, so they still unpickle.
"""

import sys

import nnclf.export.trained

sys.modules[__name__] = nnclf.export.trained
