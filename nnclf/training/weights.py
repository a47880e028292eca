"""Sample and class weights: how much each training example counts, as one array.

Contract
--------
A weight enters the notes' SGD through the pick, not the step: step t draws example i with
probability w_i / sum_j w_j (:class:`~nnclf.training.sampler.Sampler`), and the update is the notes'
theta <- theta - eta^t dL_i/dtheta unchanged. Weighting an example by 2 is then, in
expectation, the same as repeating its row; an example of weight 0 is never drawn. Equal
weights (all ones included) draw exactly as unweighted SGD does, bit for bit.

This module turns what a user gives into those per-example weights w (shape (n,)):

- a *class weight*, :func:`check_class_weight`: ``None`` (every class 1), ``"balanced"``
  (class k weighs n / (K n_k), scikit-learn's
  :func:`~sklearn.utils.class_weight.compute_class_weight`), or a mapping {label: weight}
  whose labels are the data's own (a label left out weighs 1; a label the data does not have
  is an error naming it and the labels it has). A key is matched to a label by equality, or
  else by its text, so YAML's ``3:`` and ``'3':`` both name the label 3 and a key read back
  from JSON still names its label;
- a *sample weight*, one number per example (:func:`check_sample_weight`);
- their product, :func:`example_weights`: finite, >= 0, not all zero, one per example.

Only training is weighted: validation losses, early stopping and ``nnclf evaluate`` count
every example once.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from nnclf.errors import ConfigError, DataError

__all__ = [
    "BALANCED",
    "check_class_weight",
    "class_weights",
    "check_sample_weight",
    "example_weights",
    "estimator_weights",
    "below_one",
]

BALANCED = "balanced"
_SAYS = "null, balanced or a mapping {label: weight}"


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def label_text(label) -> str:
    """A label as messages show it (as :func:`nnclf.data.sources.label_text`, which imports the
    settings that import this module)."""
    label = _plain(label)
    return repr(label) if isinstance(label, str) else str(label)


def check_class_weight(class_weight: Any, *, text_keys: bool = False) -> None | str | dict:
    """``class_weight`` checked: None, ``"balanced"`` or a plain dict {label: float}.

    Parameters
    ----------
    class_weight : None, "balanced" or mapping
    text_keys : bool
        Give the mapping's labels as text (``{"3": 2.0}`` for ``{3: 2}``), as a config keeps
        them: JSON, which checkpoints and model files are written in, has only text keys.

    Raises
    ------
    ConfigError
        Named ``class_weight``: another value, a label that is not a string or a number,
        or a weight that is not a finite number >= 0.
    """
    if class_weight is None or class_weight == BALANCED:
        return class_weight
    if not isinstance(class_weight, Mapping):
        raise ConfigError(f" must be {_SAYS}, got {class_weight!r}", name="class_weight")
    out = {}
    for label, weight in class_weight.items():
        label, weight = _plain(label), _plain(weight)
        if isinstance(label, bool) or not isinstance(label, (str, numbers.Number)):
            raise ConfigError(
                f": label {label!r} must be a string or a number (a label of the data)",
                name="class_weight",
            )
        if (
            isinstance(weight, bool)
            or not isinstance(weight, numbers.Real)
            or not math.isfinite(weight)
            or weight < 0
        ):
            raise ConfigError(
                f": the weight of label {label_text(label)} must be a finite "
                f"number >= 0, got {weight!r}",
                name="class_weight",
            )
        out[str(label) if text_keys else label] = float(weight)
    return out


def class_weights(class_weight, y: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """The weight of each class, in the order of ``classes``.

    Parameters
    ----------
    class_weight : None, "balanced" or mapping {label: weight}
    y : ndarray of int, shape (n,)
        Class indices 0..K-1 (what "balanced" counts).
    classes : ndarray, shape (K,)
        The labels, ``classes[k]`` for index k (what a mapping's keys name).

    Returns
    -------
    ndarray of float64, shape (K,)
    """
    class_weight = check_class_weight(class_weight)
    K = len(classes)
    if class_weight is None:
        return np.ones(K)
    if class_weight == BALANCED:
        from sklearn.utils.class_weight import compute_class_weight

        present = np.unique(y)
        out = np.ones(K)
        # Over the classes y has (sklearn refuses others): an absent class has no example to
        # weigh, and only ratios matter to the draw.
        out[present] = compute_class_weight(BALANCED, classes=present, y=y)
        return out
    out = np.ones(K)
    for label, weight in class_weight.items():
        out[_class_index(label, classes)] = weight
    return out


def _class_index(label, classes: np.ndarray) -> int:
    plain = [_plain(c) for c in classes]
    same = [k for k, c in enumerate(plain) if type(c) is type(label) and c == label]
    if not same:
        same = [k for k, c in enumerate(plain) if str(c) == str(label)]
    if len(same) != 1:
        known = ", ".join(label_text(c) for c in plain)
        raise ConfigError(
            f": unknown label {label_text(label)}; the data's labels are {known}",
            name="class_weight",
        )
    return same[0]


def check_sample_weight(sample_weight, n: int) -> np.ndarray:
    """``sample_weight`` as a float64 array of shape (n,): finite, >= 0, not all zero.

    Raises
    ------
    DataError
        Named ``sample_weight``, saying what is wrong.
    """
    try:
        w = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(
            " must be an array of numbers, one per example", name="sample_weight"
        ) from None
    if w.shape != (n,):
        raise DataError(
            f" must have shape ({n},), one weight per example, got shape {w.shape}",
            name="sample_weight",
        )
    if not np.isfinite(w).all() or (w < 0).any():
        raise DataError(" must be finite and >= 0", name="sample_weight")
    if not w.any():
        raise DataError(
            " is zero for every example; give some example a weight > 0", name="sample_weight"
        )
    return w


def below_one(w: np.ndarray) -> np.ndarray:
    """w scaled by a power of two so that its largest entry is in [0.5, 1): the same ratios,
    exactly (a sum of n such weights is at most n, where weights near the float maximum
    would sum to inf)."""
    top = w.max(initial=0.0)
    return np.ldexp(w, -int(np.frexp(top)[1])) if top > 0 else w


def example_weights(
    y: np.ndarray, classes: np.ndarray, class_weight=None, sample_weight=None
) -> np.ndarray | None:
    """w_i = class_weight[y_i] * sample_weight_i, the weight SGD draws example i with (times
    a power of two when the product would pass the float maximum: only ratios count).

    Parameters
    ----------
    y : ndarray of int, shape (n,)
        Class indices 0..K-1.
    classes : ndarray, shape (K,)
        The labels of the indices.
    class_weight : None, "balanced" or mapping {label: weight}
    sample_weight : array-like of shape (n,), optional

    Returns
    -------
    ndarray of float64, shape (n,), or None
        None when neither is given: unweighted SGD.

    Raises
    ------
    ConfigError, DataError
        Named ``class_weight`` or ``sample_weight``; also when the product is zero for
        every example.
    """
    if class_weight is None and sample_weight is None:
        return None
    per_class = class_weights(class_weight, y, classes)
    w = per_class[y]
    if sample_weight is not None:
        sample_weight = check_sample_weight(sample_weight, len(y))
        with np.errstate(over="ignore"):
            w = w * sample_weight
        if not np.isfinite(w).all():  # finite factors, an overflowing product: only ratios count
            w = below_one(per_class)[y] * below_one(sample_weight)
    if not w.any():
        raise ConfigError(
            " gives every training example weight 0 (with sample_weight, if "
            "given); give some class a weight > 0",
            name="class_weight",
        )
    return w


def estimator_weights(
    X, y: np.ndarray, classes: np.ndarray, class_weight, sample_weight
) -> np.ndarray | None:
    """:func:`example_weights` for :class:`nnclf.NNClassifier`: ``sample_weight`` checked
    as scikit-learn checks it (its messages, which its estimator checks expect)."""
    if sample_weight is not None:
        from sklearn.utils.validation import _check_sample_weight

        sample_weight = _check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True
        )
    return example_weights(y, classes, class_weight, sample_weight)
