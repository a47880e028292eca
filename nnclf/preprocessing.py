"""Alias of :mod:`nnclf.data.preprocessing` for one release (to be removed in 0.4).

Pickles of :class:`nnclf.NNClassifier` made by nnclf 0.2 name ``nnclf.preprocessing.Standardizer``;
this module makes that name the class of today, so they still unpickle.
"""

import sys

import nnclf.data.preprocessing

sys.modules[__name__] = nnclf.data.preprocessing
