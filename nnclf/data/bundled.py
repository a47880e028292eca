"""scikit-learn's small bundled data sets, read without importing scikit-learn.

Contract
--------
:func:`load_bundled` gives ``(X, y, feature names)`` of ``sklearn:<name>`` for the names in
:data:`BUNDLED`. The digits, the quick start's data, are read straight from the file
scikit-learn ships them in (``sklearn/datasets/data/digits.csv.gz``: 1,797 rows of 64 pixel
values and the digit), which takes a few hundredths of a second where importing
scikit-learn takes half a second; the result is what ``sklearn.datasets.load_digits()``
gives (the tests hold it to that). When that file is missing or not as expected (another
scikit-learn release), and for the other names, scikit-learn's own loader is used.
"""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np

__all__ = ["BUNDLED", "load_bundled", "digits_file"]

BUNDLED = ("iris", "digits", "wine", "breast_cancer")
"""The names ``sklearn:<name>`` may take."""

_DIGITS_SHAPE = (1797, 65)


def digits_file() -> Path | None:
    """The path of scikit-learn's ``digits.csv.gz``, found without importing scikit-learn;
    None when scikit-learn or the file is not there."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            return path
    return None


def _digits() -> tuple[np.ndarray, np.ndarray, tuple[str, ...]] | None:
    """The digits from scikit-learn's file, or None when it cannot be read as expected."""
    path = digits_file()
    if path is None:
        return None
    try:
        with gzip.open(path, "rb") as f:
            data = np.loadtxt(f, delimiter=",", dtype=np.float64)
    except (OSError, ValueError, EOFError):
        return None
    if data.shape != _DIGITS_SHAPE or not np.array_equal(data, np.round(data)):
        return None
    names = tuple(f"pixel_{r}_{c}" for r in range(8) for c in range(8))
    return data[:, :-1], data[:, -1].astype(int), names


def load_bundled(name: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """``(X, y, feature names)`` of ``sklearn:<name>``, ``name`` one of :data:`BUNDLED`: X
    as float64, y as scikit-learn gives it, names ``x0``, ``x1``, ... where it gives none."""
    if name == "digits":
        fast = _digits()
        if fast is not None:
            return fast
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    X = np.asarray(bunch.data, dtype=np.float64)
    names = getattr(bunch, "feature_names", None)
    if names is None or len(names) != X.shape[1]:
        names = [f"x{j}" for j in range(X.shape[1])]
    return X, np.asarray(bunch.target), tuple(str(n) for n in names)
