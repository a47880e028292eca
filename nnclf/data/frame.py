"""Raw feature columns of mixed kinds: numbers and text, with missing values.

Contract
--------
A :class:`Frame` holds a table's feature columns by name, in order, before anything is
learned from them: a numeric column is float64 of shape (n,) with NaN where a value is
missing; a text column (a categorical column) is an object array of shape (n,) holding
``str`` values and ``None`` where a value is missing. Readers (:mod:`nnclf.data.tables`)
give one when a table has a text column; a table of numbers only stays a float64 matrix
(NaN where missing), which :meth:`Frame.of_matrix` turns into a Frame when needed.

``frame[rows]`` and :meth:`Frame.take` select rows (an int array, a slice); splits
(:func:`nnclf.data.preprocessing.train_test_split_stratified`) split the row numbers.
:data:`MISSING_TEXT` are the cells a file writes for a missing value, and
:func:`category_text` is the one spelling of a category value, so that the same value read
from a CSV, a Parquet file or an array is the same category ("01" and "1" stay two).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

__all__ = ["Frame", "MISSING_TEXT", "is_missing_text", "category_text", "text_column"]

MISSING_TEXT = frozenset({"", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"})
"""Cells that stand for a missing value (after stripping blanks), in CSV files and in the
text columns of any source."""


def is_missing_text(cell: str) -> bool:
    """True when a cell of a file stands for a missing value (:data:`MISSING_TEXT`)."""
    return cell.strip() in MISSING_TEXT


def category_text(value) -> str | None:
    """The category a value stands for, as text; None when it is missing.

    Text is stripped of surrounding blanks (a missing spelling gives None); bytes are read
    as UTF-8; integers and integer-valued floats are written without a decimal point
    (``2007``, ``2007.0`` and ``np.int64(2007)`` are the category ``"2007"``); other floats
    as Python writes them; NaN and None are missing.
    """
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        value = value.strip()
        return None if value in MISSING_TEXT else value
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        value = float(value)
        if math.isnan(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def text_column(values) -> np.ndarray:
    """Any 1-D values as a text column: an object array of str, None where missing."""
    values = values.tolist() if isinstance(values, np.ndarray) else list(values)
    out = np.empty(len(values), dtype=object)
    out[:] = [category_text(v) for v in values]
    return out


@dataclass(frozen=True, eq=False)
class Frame:
    """Feature columns by name: float64 (NaN missing) or text (object, None missing).

    Attributes
    ----------
    columns : dict of str to ndarray of shape (n,)
        In the table's order.
    """

    columns: dict

    def __post_init__(self):
        lengths = {len(v) for v in self.columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"the columns of a Frame differ in length: {sorted(lengths)}")

    @classmethod
    def of_matrix(cls, X: np.ndarray, names, text=()) -> Frame:
        """A Frame of the columns of a 2-D array named ``names``; those named in ``text``
        become text columns (their values as :func:`category_text` writes them)."""
        X = np.asarray(X)
        columns = {}
        for j, name in enumerate(names):
            if name in text or X.dtype.kind not in "biuf":
                columns[name] = text_column(X[:, j]) if name in text else _numbers(X[:, j], name)
            else:
                columns[name] = np.asarray(X[:, j], dtype=np.float64)
        return cls(columns)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.columns)

    def is_text(self, name: str) -> bool:
        return self.columns[name].dtype == object

    @property
    def text_names(self) -> tuple[str, ...]:
        return tuple(name for name in self.columns if self.is_text(name))

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self), len(self.columns))

    @property
    def ndim(self) -> int:
        return 2

    def take(self, rows) -> Frame:
        """The rows ``rows`` (ints, a boolean mask or a slice), as a new Frame."""
        return Frame({name: values[rows] for name, values in self.columns.items()})

    def __getitem__(self, rows) -> Frame:
        if isinstance(rows, (int, np.integer)):
            rows = [rows]
        return self.take(rows)

    def missing_counts(self) -> dict[str, int]:
        """How many values are missing in each column that has any."""
        counts = {}
        for name, values in self.columns.items():
            k = (
                int(sum(v is None for v in values))
                if self.is_text(name)
                else int(np.isnan(values).sum())
            )
            if k:
                counts[name] = k
        return counts


def _numbers(values: np.ndarray, name: str) -> np.ndarray:
    """An object column of numbers (None or NaN where missing) as float64."""
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values.tolist()):
        if v is None:
            out[i] = np.nan
            continue
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            raise ValueError(
                f"column {name!r} holds {v!r} at row {i}, which is not a number; "
                "make it categorical"
            ) from None
    return out
