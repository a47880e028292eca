"""The preparation of a table's columns: imputation and one-hot coding, learned on the
training part, stored as JSON, applied the same way wherever the model predicts.

Contract
--------
:meth:`Preparation.fit` learns, from the training part's raw columns (a
:class:`~nnclf.data.frame.Frame`, or a float64 matrix with NaN where values are missing):

- for each numeric column, the median of its values (0 when none is there) to fill its
  missing values, and whether it had any: then one 0/1 input ``<column>_missing`` follows
  it (scikit-learn's ``SimpleImputer(strategy="median", add_indicator=True,
  keep_empty_features=True)``);
- for each text (categorical) column, its categories in sorted order with the missing
  value (None) last as a category of its own when it occurs, those seen fewer than
  ``min_frequency`` times folded into one "other" input placed last (scikit-learn's
  ``OneHotEncoder(handle_unknown="ignore", min_frequency=...)``).

:meth:`Preparation.transform` gives the network's raw inputs, float64 of shape (n,
:attr:`width`), in column order: a numeric column's value (filled) and its indicator, a
categorical column's one-hot inputs. A category never seen in training gives zeros in its
column's inputs (:meth:`unseen` counts them, to warn); a missing value in a column that had
none in training is filled the same way (numeric) or gives zeros (categorical). With
``missing="error"`` a missing value is a :class:`~nnclf.errors.DataError` naming the column
and row. :attr:`numeric_inputs` marks the inputs that standardisation applies to (one-hot
and indicator inputs stay 0/1). :meth:`to_dict` and :meth:`from_dict` are the model file's
JSON (no pickle); :meth:`describe` is the lines ``nnclf train`` and ``nnclf info`` show.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from nnclf.data.frame import Frame, text_column
from nnclf.data.npyfolder import Rows
from nnclf.data.preprocessing import Standardizer
from nnclf.errors import DataError

__all__ = [
    "Preparation",
    "NumericColumn",
    "CategoricalColumn",
    "MISSING_POLICIES",
    "prepared",
    "as_frame",
    "check_complete",
]

MISSING_POLICIES = ("impute", "error")


@dataclass(frozen=True)
class NumericColumn:
    """A numeric column: ``fill`` replaces its missing values; ``indicator``: it had some in
    training, so a 0/1 input ``<name>_missing`` follows it. ``missing``: how many it had."""

    name: str
    fill: float
    indicator: bool = False
    missing: int = 0

    @property
    def inputs(self) -> list[str]:
        return [self.name] + ([f"{self.name}_missing"] if self.indicator else [])


@dataclass(frozen=True)
class CategoricalColumn:
    """A categorical column: one input per category of ``categories`` (text; None is the
    missing value, a category of its own), then one for all of ``other`` (those seen fewer
    than ``min_frequency`` times) when there are any. ``missing``: how many values were
    missing in training."""

    name: str
    categories: list = field(default_factory=list)
    other: list = field(default_factory=list)
    missing: int = 0

    @property
    def inputs(self) -> list[str]:
        names = [f"{self.name}={'<missing>' if c is None else c}" for c in self.categories]
        return names + ([f"{self.name}=<other>"] if self.other else [])

    def codes(self, values: np.ndarray) -> np.ndarray:
        """The input each value switches on (0..len(inputs)-1), or -1 for none (unseen)."""
        lookup = {c: k for k, c in enumerate(self.categories)}
        lookup.update({c: len(self.categories) for c in self.other})
        return np.fromiter((lookup.get(v, -1) for v in values), dtype=np.intp, count=len(values))


@dataclass(frozen=True)
class Preparation:
    """Imputation and one-hot coding of raw columns, learned by :meth:`fit`."""

    columns: tuple
    missing: str = "impute"

    # ------------------------------------------------------------------ learning

    @classmethod
    def fit(cls, X, names=None, *, min_frequency: int = 1, missing: str = "impute") -> Preparation:
        """Learn the preparation of the raw columns ``X`` (a Frame, or a matrix whose
        columns are ``names``) of the training part. See the module's contract."""
        frame = as_frame(X, names)
        if len(frame) == 0:
            raise DataError("the training part has no rows to learn the preparation from")
        if missing == "error":
            check_complete(frame)
        columns = []
        for name, values in frame.columns.items():
            if frame.is_text(name):
                columns.append(_fit_categorical(name, values, min_frequency))
            else:
                columns.append(_fit_numeric(name, values, missing == "impute"))
        return cls(tuple(columns), missing)

    # ------------------------------------------------------------------ applying

    @property
    def names(self) -> tuple[str, ...]:
        """The raw columns, in order."""
        return tuple(c.name for c in self.columns)

    @property
    def categorical(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if isinstance(c, CategoricalColumn))

    @property
    def input_names(self) -> tuple[str, ...]:
        """The network's raw inputs, in order (see the module's contract)."""
        return tuple(name for c in self.columns for name in c.inputs)

    @property
    def width(self) -> int:
        return len(self.input_names)

    @property
    def numeric_inputs(self) -> np.ndarray:
        """A bool mask over the inputs: True for a numeric column's value."""
        mask = []
        for c in self.columns:
            mask += [isinstance(c, NumericColumn)] + [False] * (len(c.inputs) - 1)
        return np.array(mask, dtype=bool)

    @property
    def trivial(self) -> bool:
        """True when the inputs are the columns themselves (numbers, no indicator)."""
        return all(isinstance(c, NumericColumn) and not c.indicator for c in self.columns)

    def transform(self, X) -> np.ndarray:
        """The network's raw inputs for raw columns ``X`` (a Frame with these columns by
        name, or a matrix of these columns in order): float64 of shape (n, width).

        A float64 matrix without missing values under a :attr:`trivial` preparation is its
        own inputs: it is returned as it is, not copied."""
        if self.trivial and isinstance(X, np.ndarray) and X.dtype == np.float64:
            if X.ndim == 2 and X.shape[1] == len(self.columns) and not np.isnan(X).any():
                return X
        frame = self.frame_of(X)
        if self.missing == "error":
            check_complete(frame)
        out = np.zeros((len(frame), self.width), dtype=np.float64)
        k = 0
        for column in self.columns:
            values = frame.columns[column.name]
            if isinstance(column, NumericColumn):
                values = _as_numbers(values, column.name)
                gaps = np.isnan(values)
                out[:, k] = np.where(gaps, column.fill, values)
                if column.indicator:
                    out[:, k + 1] = gaps
            else:
                codes = column.codes(_as_text(values))
                rows = np.flatnonzero(codes >= 0)
                out[rows, k + codes[rows]] = 1.0
            k += len(column.inputs)
        return out

    def unseen(self, X) -> dict[str, tuple[int, list[str]]]:
        """Per categorical column with values never seen in training (missing values
        aside): (how many, the first five distinct ones)."""
        frame = self.frame_of(X)
        found = {}
        for column in self.columns:
            if not isinstance(column, CategoricalColumn):
                continue
            values = _as_text(frame.columns[column.name])
            codes = column.codes(values)
            new = [v for v, c in zip(values.tolist(), codes.tolist()) if c < 0 and v is not None]
            if new:
                found[column.name] = (len(new), list(dict.fromkeys(new))[:5])
        return found

    def frame_of(self, X) -> Frame:
        """``X`` as a Frame of this preparation's columns (checked by name or width)."""
        if isinstance(X, Frame):
            absent = [name for name in self.names if name not in X.columns]
            if absent:
                raise DataError(
                    f"the data has no column {', '.join(map(repr, absent[:5]))}; give the "
                    f"columns the model was trained on ({', '.join(self.names[:8])}"
                    f"{', ...' if len(self.names) > 8 else ''})"
                )
            return X
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != len(self.columns):
            raise DataError(
                f"the data has {X.shape[-1] if X.ndim else 0} features but the model was "
                f"trained on {len(self.columns)}; give data with the training features"
            )
        return as_frame(X, self.names, text=self.categorical)

    # ------------------------------------------------------------------ storing

    def to_dict(self) -> dict:
        """The learned state as JSON-ready data (see :meth:`from_dict`)."""
        columns = []
        for c in self.columns:
            if isinstance(c, NumericColumn):
                columns.append(
                    {
                        "name": c.name,
                        "kind": "numeric",
                        "fill": float(c.fill),
                        "indicator": c.indicator,
                        "missing": c.missing,
                    }
                )
            else:
                columns.append(
                    {
                        "name": c.name,
                        "kind": "categorical",
                        "categories": list(c.categories),
                        "other": list(c.other),
                        "missing": c.missing,
                    }
                )
        return {"missing": self.missing, "columns": columns}

    @classmethod
    def from_dict(cls, d: dict) -> Preparation:
        """Rebuild a Preparation from :meth:`to_dict`; a ValueError says what is wrong."""
        if not isinstance(d, dict) or not isinstance(d.get("columns"), list):
            raise ValueError("it must be a mapping with a list 'columns'")
        if d.get("missing", "impute") not in MISSING_POLICIES:
            raise ValueError(f"its 'missing' must be one of {', '.join(MISSING_POLICIES)}")
        return cls(tuple(_column_of(c) for c in d["columns"]), d.get("missing", "impute"))

    def describe(self) -> list[str]:
        """What the preparation does, in a few short lines (empty when it does nothing)."""
        lines = []
        cats = [c for c in self.columns if isinstance(c, CategoricalColumn)]
        if cats:
            parts = [f"{c.name} ({_categories(c)})" for c in cats]
            lines.append("categorical: " + ", ".join(parts))
        numeric = [c for c in self.columns if c.missing and isinstance(c, NumericColumn)]
        if numeric:
            lines.append(
                "missing values filled with the training median, flagged by <column>_missing: "
                + ", ".join(f"{c.name} ({c.missing})" for c in numeric)
            )
        own = [c for c in cats if c.missing]
        if own:
            lines.append(
                "missing values as a category of their own: "
                + ", ".join(f"{c.name} ({c.missing})" for c in own)
            )
        return lines


# ----------------------------------------------------------------------------- helpers


def prepared(X, names, data, error_prefix: str = ""):
    """(preparation, standardizer) of a model trained on the raw columns X named ``names``,
    with the settings ``data`` (a :class:`~nnclf.data.settings.DataConfig`): the
    preparation (None for a folder's rows, which are numbers without missing values and
    never read whole) and, when ``data.standardize``, the standardisation of its numeric
    inputs, both learned from X."""
    if isinstance(X, Rows):
        return None, Standardizer().fit(X) if data.standardize else None
    try:
        preparation = Preparation.fit(
            X, names, min_frequency=data.min_frequency, missing=data.missing
        )
    except DataError as e:
        raise DataError(f"{error_prefix}{e}") from None
    if not data.standardize:
        return preparation, None
    inputs = preparation.transform(X)
    return preparation, Standardizer().fit(inputs, numeric=preparation.numeric_inputs)


def as_frame(X, names=None, text=()) -> Frame:
    """``X`` as a Frame: itself, or a matrix's columns named ``names`` (x0, x1, ... if None),
    those in ``text`` as text columns."""
    if isinstance(X, Frame):
        return X
    X = np.asarray(X)
    if X.ndim != 2:
        raise DataError(f"expected a 2-D table of features, got shape {X.shape}")
    names = tuple(f"x{j}" for j in range(X.shape[1])) if names is None else tuple(names)
    return Frame.of_matrix(X, names, text=set(text))


def check_complete(frame: Frame) -> None:
    """A DataError naming the first column with a missing value, and its row."""
    for name, values in frame.columns.items():
        gaps = (
            np.fromiter((v is None for v in values), dtype=bool, count=len(values))
            if frame.is_text(name)
            else np.isnan(values)
        )
        if gaps.any():
            raise DataError(
                f"column {name!r} has a missing value at row {int(np.argmax(gaps))} (0-based); "
                "fill it, or let nnclf impute it (missing: impute)"
            )


def _fit_numeric(name: str, values: np.ndarray, impute: bool) -> NumericColumn:
    values = np.array(_as_numbers(values, name))  # (a copy in one block: partitioned below)
    gaps = np.isnan(values)
    filled = values[~gaps] if gaps.any() else values
    gaps = len(values) - len(filled)
    fill = median(filled, overwrite=True) if len(filled) else 0.0
    return NumericColumn(name, fill, indicator=bool(gaps) and impute, missing=gaps)


def median(values: np.ndarray, overwrite: bool = False) -> float:
    """The median of numbers (no NaN), as :func:`numpy.median` gives it, from one partition
    (numpy's makes two; a third of the time on large columns). ``overwrite``: ``values``
    may be partitioned in place rather than copied."""
    k = len(values) // 2
    part = values if overwrite else np.array(values)
    part.partition(k)
    if len(values) % 2:
        return float(part[k])
    return float((part[:k].max() + part[k]) / 2)


def _fit_categorical(name: str, values: np.ndarray, min_frequency: int) -> CategoricalColumn:
    counts = Counter(_as_text(values).tolist())
    order = sorted(c for c in counts if c is not None) + ([None] if None in counts else [])
    frequent = [c for c in order if counts[c] >= min_frequency]
    other = [c for c in order if counts[c] < min_frequency]
    return CategoricalColumn(name, frequent, other, missing=counts.get(None, 0))


def _as_numbers(values: np.ndarray, name: str) -> np.ndarray:
    if values.dtype == object:
        raise DataError(
            f"column {name!r} holds text, but the model takes it as numbers; give it numbers "
            "as in training"
        )
    return np.asarray(values, dtype=np.float64)


def _as_text(values: np.ndarray) -> np.ndarray:
    """A column as category text (a numeric column's values written as categories)."""
    if values.dtype == object and all(v is None or type(v) is str for v in values.tolist()):
        return values
    return text_column(values)


def _column_of(d) -> NumericColumn | CategoricalColumn:
    if not isinstance(d, dict) or not isinstance(d.get("name"), str):
        raise ValueError("each of its columns must be a mapping with a 'name'")
    missing = d.get("missing", 0)
    if not isinstance(missing, int) or missing < 0:
        raise ValueError(f"column {d['name']!r}: 'missing' must be a count")
    if d.get("kind") == "numeric":
        fill = d.get("fill")
        if isinstance(fill, bool) or not isinstance(fill, (int, float)) or fill != fill:
            raise ValueError(f"column {d['name']!r}: 'fill' must be a number")
        return NumericColumn(d["name"], float(fill), bool(d.get("indicator", False)), missing)
    if d.get("kind") == "categorical":
        cats, other = d.get("categories"), d.get("other", [])
        for part in (cats, other):
            if not isinstance(part, list) or not all(c is None or isinstance(c, str) for c in part):
                raise ValueError(f"column {d['name']!r}: categories must be lists of text")
        if not cats and not other:
            raise ValueError(f"column {d['name']!r} has no categories")
        return CategoricalColumn(d["name"], list(cats), list(other), missing)
    raise ValueError(f"column {d['name']!r}: 'kind' must be 'numeric' or 'categorical'")


def _categories(c: CategoricalColumn) -> str:
    named = [v for v in c.categories if v is not None]
    text = f"{len(named)} {'category' if len(named) == 1 else 'categories'}"
    if None in c.categories:
        text += " + missing"
    if c.other:
        text += f" + other ({len(c.other)} rare)"
    return text
