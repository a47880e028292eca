"""The two preprocessing steps of a run: a stratified, seeded split and standardisation.

Contract
--------
:func:`train_test_split_stratified` splits off a seeded random share of the examples,
stratified by class when that is possible; :class:`Standardizer` maps each feature to
(x - mean) / scale with statistics fitted on the training part only, and stores them as
plain lists for a model file's JSON metadata.

Both take the memory-mapped rows of a folder source (:class:`~nnclf.data.npyfolder.Rows`) as well
as arrays: the split then splits the row numbers (the same rows an in-memory copy of the
array would give to each part), and the statistics are gathered chunk by chunk
(:func:`nnclf.data.npyfolder.mean_and_scale`).

Neither imports scikit-learn (which takes half a second to import): the split is drawn with
:class:`numpy.random.Generator` (``method="nnclf"``, :data:`SPLIT_METHOD`); runs made before
it, which record no split method, are re-split by scikit-learn's ``train_test_split``
(``method="sklearn"``), so that evaluating or resuming them sees the rows they held out.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from nnclf.data.frame import Frame
from nnclf.data.npyfolder import Rows, mean_and_scale
from nnclf.errors import DataError

__all__ = [
    "train_test_split_stratified",
    "split_rows",
    "take_rows",
    "stratified_rows",
    "Standardizer",
    "SPLIT_METHOD",
    "SPLIT_METHODS",
]

SPLIT_METHOD = "nnclf"
"""How runs split their data now: what a run records beside its data's fingerprint."""

SPLIT_METHODS = ("nnclf", "sklearn")
"""Every split a run may record: ``sklearn`` is the draw of nnclf 0.1 and 0.2."""


def train_test_split_stratified(
    X: np.ndarray, y: np.ndarray, fraction: float, seed: int, method: str = SPLIT_METHOD
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split off a random ``fraction`` of the examples, stratified by class when possible
    (:func:`split_rows` draws the rows; each part is taken from X once).

    Parameters
    ----------
    X : ndarray, Rows or Frame of shape (n, d)
        Rows and Frames are split by their row numbers (the parts an array's split gives).
    y : ndarray of shape (n,)
    fraction, seed, method : as :func:`split_rows` takes them

    Returns
    -------
    X_a, X_b, y_a, y_b : the n - m and m = ceil(fraction * n) examples of each part
    """
    a, b = split_rows(y, fraction, seed, method)
    return take_rows(X, a), take_rows(X, b), take_rows(y, a), take_rows(y, b)


def take_rows(X, rows: np.ndarray):
    """The rows ``rows`` of X (an array, Rows or a Frame); X itself when they are all of its
    rows in order (no copy)."""
    if len(rows) == len(X) and (len(rows) == 0 or (rows[0] == 0 and (np.diff(rows) == 1).all())):
        return X
    if isinstance(X, (Rows, Frame)):
        return X.take(rows)
    return np.take(X, rows, axis=0)


def split_rows(
    y: np.ndarray, fraction: float, seed: int, method: str = SPLIT_METHOD
) -> tuple[np.ndarray, np.ndarray]:
    """The row numbers of the two parts of a random split of the labels ``y``: the second
    part holds m = ceil(fraction * n) rows, stratified by class when every class has at
    least two members and both parts can hold one example of each class (else drawn
    uniformly at random).

    ``fraction``: a number in [0, 1) (0: an empty second part). ``method``: ``nnclf``,
    :func:`stratified_rows` (each part in the order of the rows), or ``sklearn``,
    :func:`sklearn.model_selection.train_test_split` with ``random_state=seed`` (the split of
    runs made by nnclf 0.1 and 0.2).
    """
    is_number = isinstance(fraction, numbers.Real) and not isinstance(fraction, bool)
    if not is_number or not 0 <= fraction < 1:
        raise DataError(f" must be a number in [0, 1), got {fraction!r}", name="fraction")
    n = len(y)
    if fraction == 0:
        return np.arange(n), np.arange(0)
    m = math.ceil(fraction * n)
    if m >= n:
        raise DataError(
            f": {fraction} of {n} examples leaves none for training; "
            "use a smaller fraction or more data",
            name="fraction",
        )
    classes, codes, counts = np.unique(y, return_inverse=True, return_counts=True)
    stratify = counts.min() >= 2 and min(m, n - m) >= len(classes)
    if method == "sklearn":
        from sklearn.model_selection import train_test_split

        a, b = train_test_split(
            np.arange(n), test_size=m, random_state=seed, stratify=y if stratify else None
        )
        return a, b
    if method != "nnclf":
        raise DataError(f": unknown split method {method!r}; use one of {SPLIT_METHODS}")
    held = stratified_rows(codes.reshape(-1) if stratify else np.zeros(n, np.intp), m, seed)
    keep = np.ones(n, dtype=bool)
    keep[held] = False
    return np.flatnonzero(keep), held


def stratified_rows(codes: np.ndarray, m: int, seed: int) -> np.ndarray:
    """The sorted row numbers of ``m`` of the rows, drawn at random within each class.

    ``codes`` holds each row's class as 0..K-1. Class k, with n_k of the n rows, gives
    m n_k / n rows rounded down, and the rows left over go one each to the classes with the
    largest remainders (ties to the smaller k): every class's share is as close to m / n as
    whole rows allow. Within a class the rows are a uniform draw of
    :class:`numpy.random.Generator` seeded with ``seed``.
    """
    codes = np.asarray(codes, dtype=np.intp)
    n = len(codes)
    counts = np.bincount(codes)
    ideal = counts * m
    take = ideal // n
    left = m - int(take.sum())
    if left:
        # Largest remainder first; a stable sort keeps ties in class order.
        order = np.argsort(-(ideal % n), kind="stable")
        take[order[:left]] += 1
    rng = np.random.default_rng(seed)
    by_class = np.argsort(codes, kind="stable")
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    held = [
        rng.choice(by_class[s : s + c], size=t, replace=False)
        for s, c, t in zip(starts, counts, take)
    ]
    return np.sort(np.concatenate(held)) if held else np.zeros(0, np.intp)


def _statistics(X, rows: bool) -> tuple[np.ndarray, np.ndarray]:
    """Mean and scale of each column of X (an array, or Rows when ``rows``)."""
    if rows:
        return mean_and_scale(X)
    mean, scale = X.mean(axis=0), X.std(axis=0)
    # A constant column has scale 1 (it maps to 0), however its mean rounds.
    scale[(scale == 0) | (X == X[:1]).all(axis=0)] = 1.0
    return mean, scale


def _statistics_of_large(X, rows: bool) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_statistics` of X / c, times c, c each column's largest magnitude: the
    same statistics, without the overflow of squaring numbers near 1e300."""
    if rows:
        c = np.zeros(X.shape[1])
        for _, block in X.chunks():
            c = np.maximum(c, np.abs(block).max(axis=0))
        c[c == 0] = 1.0
        mean, scale = mean_and_scale(X.standardized(X.mean, X.scale * c))
    else:
        c = np.abs(X).max(axis=0)
        c[c == 0] = 1.0
        mean, scale = _statistics(X / c, False)
    return mean * c, scale * c


class Standardizer:
    """Per-feature standardisation x -> (x - mean_) / scale_.

    ``scale_`` is the population standard deviation, replaced by 1 for constant columns
    so they map to 0 instead of dividing by zero. The fitted state is stored as plain
    lists by :meth:`to_dict`, for the JSON metadata of a model file.

    Attributes
    ----------
    mean_ : ndarray of shape (d,)
    scale_ : ndarray of shape (d,)
    """

    def fit(self, X: np.ndarray, numeric=None) -> Standardizer:
        """Learn ``mean_`` and ``scale_`` from X of shape (n, d), n >= 1; return self.
        ``numeric``: a bool mask of the columns to standardise (default: all); the others
        (one-hot and indicator inputs) keep mean 0 and scale 1, so they pass unchanged.

        X may be :class:`~nnclf.data.npyfolder.Rows`: the statistics are then gathered chunk by
        chunk, equal to those of the array in memory (bit for bit when it is one chunk).
        Features so large that their sums overflow (near 1e300) are measured divided by
        their largest magnitude, and the statistics multiplied back."""
        rows = isinstance(X, Rows) and len(X)
        if not rows:
            X = np.asarray(X, dtype=np.float64)
            if X.ndim != 2 or len(X) == 0:
                raise DataError(f"Standardizer.fit: expected X of shape (n>=1, d), got {X.shape}")
        with np.errstate(over="ignore", invalid="ignore"):
            self.mean_, self.scale_ = _statistics(X, rows)
            if not (np.isfinite(self.mean_).all() and np.isfinite(self.scale_).all()):
                self.mean_, self.scale_ = _statistics_of_large(X, rows)
        bad = np.flatnonzero(~(np.isfinite(self.mean_) & np.isfinite(self.scale_)))
        if len(bad):
            raise DataError(
                f": feature {bad[0]} (0-based) has values too far apart to standardise "
                "(their spread overflows float64); rescale that column, e.g. divide it by "
                "its largest value",
                name="source",
            )
        if numeric is not None:
            keep = ~np.asarray(numeric, dtype=bool)
            self.mean_[keep], self.scale_[keep] = 0.0, 1.0
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Return (X - mean_) / scale_ for X of shape (n, d), as a new float64 array."""
        if not hasattr(self, "mean_"):
            raise DataError("Standardizer.transform: not fitted; call fit(X) or from_dict(d) first")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.mean_):
            raise DataError(
                f"Standardizer.transform: expected X of shape (n, {len(self.mean_)}), got {X.shape}"
            )
        out = np.subtract(X, self.mean_)  # (one new array, divided in place: the same numbers)
        out /= self.scale_
        return out

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        """``fit(X).transform(X)``."""
        return self.fit(X).transform(X)

    def to_dict(self) -> dict[str, list[float]]:
        """The fitted state as ``{"mean": [...], "scale": [...]}``, JSON-serialisable."""
        if not hasattr(self, "mean_"):
            raise DataError("Standardizer.to_dict: not fitted; call fit(X) first")
        return {"mean": self.mean_.tolist(), "scale": self.scale_.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> Standardizer:
        """Rebuild a fitted Standardizer from the output of :meth:`to_dict`."""
        if not isinstance(d, dict) or not {"mean", "scale"} <= set(d):
            raise DataError(
                "Standardizer.from_dict: expected a dict with keys 'mean' and 'scale', "
                f"got {d!r:.80}"
            )
        mean = np.asarray(d["mean"], dtype=np.float64)
        scale = np.asarray(d["scale"], dtype=np.float64)
        if mean.ndim != 1 or mean.shape != scale.shape or not (scale > 0).all():
            raise DataError(
                "Standardizer.from_dict: 'mean' and 'scale' must be lists of equal length "
                "with every scale > 0"
            )
        self = cls()
        self.mean_, self.scale_ = mean, scale
        return self
