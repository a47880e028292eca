"""Datasets: where the examples come from, read and checked.

Contract
--------
``load_dataset(source, ...) -> Dataset`` is the one edge where raw data enters nnclf.
A :class:`Dataset` holds a float64 design matrix ``X`` of shape (n, d), raw labels ``y``
of shape (n,) (strings or integers, exactly as the source has them), the d feature names,
and, when the source ships its own test set, ``X_test`` and ``y_test``. Everything past
this module may assume those invariants: X is 2-D and finite, ``len(X) == len(y)``, and
there are at least two classes.

Accepted sources
    ``sklearn:iris``, ``sklearn:digits``, ``sklearn:wine``, ``sklearn:breast_cancer``
        scikit-learn's bundled copies; nothing is downloaded.
    ``path/to/file.csv``
        a header row, then one row per example; the label column is ``target``
        (default: the last column); the features are the columns ``features`` names (in
        that order), else every other column but those ``drop`` names, and must be numeric.
        Fields are split at ``delimiter``: by default the one of ``,`` ``;`` and tab that
        splits the first lines evenly (see :func:`nnclf.data.tables.sniff_delimiter`).
    ``path/to/file.parquet``
        a Parquet table (read with pyarrow, the ``nnclf[parquet]`` extra), its columns
        chosen as a CSV's.
    ``path/to/file.npz``
        arrays ``X`` and ``y``; optionally ``X_test``, ``y_test`` and ``feature_names``.
    ``synthetic``
        :func:`sklearn.datasets.make_classification`.
    ``path/to/folder``
        ``X.npy`` and ``y.npy`` (optionally ``X_test.npy``, ``y_test.npy``), memory-mapped
        (:mod:`nnclf.data.npyfolder`): X and X_test are then :class:`~nnclf.data.npyfolder.Rows`, read
        a row or a chunk at a time, not float64 arrays.

Every user error is a one-line :class:`~nnclf.errors.DataError` named after the argument at
fault (``source: file 'x.csv' not found``); the caller says where the argument came from
(``data.source``, ``--data``). :func:`load_features` reads the inputs of a prediction and
lines their columns up with a trained model's feature names (:func:`read_inputs`, which
also keeps columns as read): by name when the source names
all of them, in order when it names none of them, and an error naming the missing ones when
it names some. A dataset's contents are identified by :mod:`nnclf.data.fingerprints`, so that a
run can tell when its data file changed. Every file and folder is read through
:func:`nnclf.data.tables.open_table`; the split and the standardisation are in :mod:`nnclf.data.preprocessing`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnclf.base.suggest import closest
from nnclf.data.bundled import BUNDLED, load_bundled
from nnclf.data.checks import bad as _bad
from nnclf.data.checks import file_problem
from nnclf.data.frame import Frame
from nnclf.data.npyfolder import is_folder
from nnclf.data.settings import DataConfig
from nnclf.data.tables import (
    ARRAY_KINDS,
    Table,
    open_table,
    shown,
)
from nnclf.errors import DataError

__all__ = [
    "Dataset",
    "SKLEARN_DATASETS",
    "load_dataset",
    "load_features",
    "read_inputs",
    "Inputs",
    "label_text",
]

SKLEARN_DATASETS = BUNDLED

_FORMS = (
    "'sklearn:<name>' (" + ", ".join(SKLEARN_DATASETS) + "), "
    "a path ending in .csv, .parquet or .npz, a folder holding X.npy and y.npy, or 'synthetic'"
)


@dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled dataset, validated.

    Attributes
    ----------
    X : ndarray of shape (n, d), float64
        Finite feature values, one row per example.
    y : ndarray of shape (n,)
        Raw labels, strings or integers as in the source; at least two distinct values.
    feature_names : tuple of str, length d
    X_test : ndarray of shape (m, d) or None
        The source's own test set, when it has one (``.npz`` with ``X_test``/``y_test``).
    y_test : ndarray of shape (m,) or None
    source : str
        The ``source`` string the dataset was loaded from.
    """

    X: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    source: str = ""


# ----------------------------------------------------------------------------- loading


def load_dataset(
    source: str,
    *,
    target: str | None = None,
    n_samples: int = 1000,
    n_features: int = 20,
    n_classes: int = 3,
    n_informative: int | None = None,
    seed: int = 0,
    encoding: str = "utf-8",
    delimiter: str | None = None,
    features: list[str] | None = None,
    drop: list[str] | None = None,
    categorical="auto",
    missing: str = "impute",
) -> Dataset:
    """Load a labelled dataset from ``source``.

    Parameters
    ----------
    source : str
        ``"sklearn:<name>"``, a path ending in ``.csv``, ``.parquet`` or ``.npz``, or
        ``"synthetic"``.
    target : str, optional
        CSV and Parquet only: the label column. Default: the last column.
    features, drop : list of str, optional
        CSV and Parquet only: the feature columns, in this order; or the columns to leave
        out. Default: every column but the label column.
    n_samples, n_features, n_classes, n_informative, seed : int
        ``synthetic`` only: passed to :func:`sklearn.datasets.make_classification`
        (``seed`` as ``random_state``). ``n_informative`` defaults to the fewest
        informative features that can separate ``n_classes`` classes, at least 2.
    encoding, delimiter : str
        CSV only: the text encoding (default UTF-8, BOM or not); the delimiter (detected).
    categorical, missing : str or list of str
        As ``data.categorical`` ("auto", "none" or a list of CSV or Parquet columns read as
        text) and ``data.missing`` ("impute": missing values read as NaN or None, for the
        model's preparation to fill; "error": the first one is an error naming its line).

    Returns
    -------
    Dataset
        ``X`` of shape (n, d): float64 (NaN where missing), or a
        :class:`~nnclf.data.frame.Frame` when some columns are categorical; ``y`` (n,).
        Bad input is a one-line DataError naming the argument at fault and the fix.
    """
    kind, arg = _source_kind(source)
    listed = categorical if isinstance(categorical, list) else None
    columns = _named_columns(
        kind, source, target=target, features=features, drop=drop, categorical=listed
    )
    how = _reading(categorical, missing)
    if kind == "sklearn":
        ds = Dataset(*_load_sklearn(arg), source=source)
    elif kind == "synthetic":
        ds = _make_synthetic(n_samples, n_features, n_classes, n_informative, seed)
    else:
        ds = _load_table_dataset(arg, columns, encoding, delimiter, source, how)
    _check_labels(ds.y, ds.source, "target" if kind in ("csv", "parquet") else "source")
    return ds


def _named_columns(kind: str, source: str, **columns) -> dict:
    """``columns`` (target, features, drop), when ``source`` has named columns to choose."""
    for key, value in columns.items():
        if value is not None and kind not in ("csv", "parquet"):
            raise _bad(
                f": only CSV and Parquet sources have named columns, but the source is "
                f"'{source}'; remove the {key}",
                name=key,
            )
    return columns


def _reading(categorical, missing) -> dict:
    """How :meth:`~nnclf.data.tables.Table.read` reads for these settings (text is named)."""
    if missing not in ("impute", "error"):
        raise _bad(f" must be 'impute' or 'error', got {missing!r}", name="missing")
    if categorical not in ("auto", "none") and not isinstance(categorical, list):
        raise _bad(
            f" must be 'auto', 'none' or a list of column names, got {categorical!r}",
            name="categorical",
        )
    return {
        "auto": categorical == "auto",
        "text": categorical if isinstance(categorical, list) else [],
        "missing": missing == "impute",
    }


def _load_table_dataset(
    path: str, columns: dict, encoding: str, delimiter, source: str, how: dict
) -> Dataset:
    table = open_table(path, encoding=encoding, delimiter=delimiter, require_labels=True)
    columns = dict(columns)
    listed = columns.pop("categorical")
    if table.kind in ARRAY_KINDS:  # every column, and the label array
        label_col, feature_cols = "y", list(range(table.width))
    else:
        label_col, feature_cols = _choose_columns(list(table.names), path, **columns)
    text = _text_positions(table, listed or [], feature_cols)
    read = table.read(feature_cols, label_col, text=text, auto=how["auto"], missing=how["missing"])
    test = table.test_part(missing=how["missing"])
    return Dataset(
        read.X,
        read.y,
        tuple(table.column_names(feature_cols)),
        None if test is None else test.X,
        None if test is None else test.y,
        source=source,
    )


def _text_positions(table: Table, listed: list, feature_cols: list) -> list[int]:
    """The positions of the feature columns ``listed`` as categorical."""
    features = table.column_names(feature_cols)
    for k, name in enumerate(listed):
        if not isinstance(name, str) or name in listed[:k]:
            raise _bad(f" must name each column once, as text; got {name!r}", name="categorical")
        if name not in features:
            close = closest(name, features)
            hint = f" (did you mean {shown(close)}?)" if close else ""
            raise _bad(
                f": {shown(name)} is not a feature column of {table.path}{hint}; its "
                f"feature columns are {_names(features, 20)}",
                name="categorical",
            )
    return [feature_cols[features.index(name)] for name in listed]


@dataclass(frozen=True, eq=False)
class Inputs:
    """The inputs of a prediction, lined up with a model's features (:func:`read_inputs`).

    Attributes
    ----------
    X : ndarray of shape (n, d), float64 (or :class:`~nnclf.data.npyfolder.Rows`)
    y : ndarray of shape (n,) or None
        Labels when the source has them, else None.
    names : tuple of str, length d
        The names of the columns used, as the source spells them.
    kept : dict of str to list of str
        The columns asked for with ``keep``, each cell as read.
    headerless : bool
        True for a CSV without a header (its columns are taken in order).
    """

    X: np.ndarray
    y: np.ndarray | None
    names: tuple[str, ...]
    kept: dict
    headerless: bool = False


def load_features(
    source: str,
    feature_names: tuple[str, ...] | list[str] | None = None,
    target: str | None = None,
    encoding: str = "utf-8",
    delimiter: str | None = None,
) -> tuple[np.ndarray, np.ndarray | None, tuple[str, ...]]:
    """``X, y, names`` of :func:`read_inputs` (which see), keeping no column."""
    inputs = read_inputs(source, feature_names, target, encoding, delimiter)
    return inputs.X, inputs.y, inputs.names


def read_inputs(
    source: str,
    feature_names=None,
    target: str | None = None,
    encoding: str = "utf-8",
    delimiter: str | None = None,
    keep=(),
    *,
    text=(),
    missing: bool = False,
) -> Inputs:
    """Read the inputs of a prediction, lined up with a model's feature names.

    For a CSV or Parquet table, columns are matched to ``feature_names`` by name when all
    of the names appear in the header (extra columns are ignored, order follows
    ``feature_names``); otherwise, when the number of numeric columns other than the label
    column equals ``len(feature_names)``, those columns are used in file order. A CSV whose
    first row is all numbers is read as headerless and used positionally. The label column
    is ``target``; without it, the one column that is not a feature, if any.

    Parameters
    ----------
    source : str
        A path ending in ``.csv``, ``.parquet`` or ``.npz``, a folder, or ``"sklearn:<name>"``.
    feature_names : sequence of str, length d, optional
        The model's training feature names. Default: take every column.
    target : str, optional
        Name of a label column; when present in the table it is returned as ``y``.
    encoding, delimiter, keep : str, str, sequence of str
        CSV: the text encoding; the delimiter (default: detected). CSV and Parquet: the
        columns to return as read (``Inputs.kept``).
    text, missing : collection of str, bool
        The model's categorical columns, read as text (X is then a Frame); whether missing
        values are read as such (NaN, None) for the model to fill, not as an error.
    A source that cannot be read, or columns that do not fit, is a ``DataError``."""
    kind, arg = _source_kind(source)
    expected = None if feature_names is None else tuple(str(n) for n in feature_names)
    if kind == "synthetic":
        raise DataError(
            ": 'synthetic' has no fixed features to predict on; give a path "
            "ending in .csv or .npz, or 'sklearn:<name>'",
            name="source",
        )
    if keep and kind not in ("csv", "parquet"):
        raise _bad(
            f": only CSV and Parquet sources have named columns to keep, but the source is "
            f"'{source}'; remove --keep",
            name="keep",
        )
    if kind == "sklearn":
        X, y, names = _load_sklearn(arg)
    else:
        table = open_table(arg, encoding=encoding, delimiter=delimiter, require_header=False)
        if table.kind not in ARRAY_KINDS:
            return _table_inputs(table, expected, target, list(keep), set(text), missing)
        read = table.read(
            range(table.width), "y", missing=missing
        )  # all of X (a folder's: mapped), y
        X, y, names = read.X, read.y, table.names
    return _array_inputs(X, y, names, expected, source)


def _array_inputs(X, y, names, expected, source: str) -> Inputs:
    """The columns of X (named ``names``, or None) that the model ``expected``: by name
    when ``names`` has them, else all of them in order, as many as it expects."""
    cols = _by_name(names, expected, source) if names and expected else None
    if cols is not None:
        return Inputs(X[:, cols], y, tuple(names[j] for j in cols), {})
    if expected is not None and X.shape[1] != len(expected):
        raise DataError(
            f": {source} has {X.shape[1]} features but the model expects "
            f"{len(expected)} ({_names(expected)})",
            name="source",
        )
    return Inputs(X, y, tuple(names or _numbered(X.shape[1])), {})


def _table_inputs(table: Table, expected, target, keep, text: set, missing: bool) -> Inputs:
    header, path = table.names, table.path
    if target is None and header and expected is not None and len(header) == len(expected) + 1:
        others = [name for name in header if name not in expected]
        target = others[0] if len(others) == 1 else None
    label_col = header.index(target) if header and target in header else None
    kept = _kept_columns(table, keep)
    if header is not None and expected is None:
        cols = [j for j in range(len(header)) if j != label_col]
    else:
        cols = _by_name(header, expected, path) if header and expected is not None else None
    if cols is None:  # no column has a feature's name: the numeric ones, in order
        others = [j for j in range(table.width) if j != label_col]
        cols = others if expected is None or text else table.numeric(others)
        if expected is not None and len(cols) != len(expected):
            raise _bad(_not_as_many(table, cols, expected))
    positions = [
        j for k, j in enumerate(cols) if (expected or ())[k : k + 1] and expected[k] in text
    ]
    read = table.read(cols, label_col, kept, may_be_target=False, text=positions, missing=missing)
    X = _renamed(read.X, expected)
    return Inputs(X, read.y, tuple(table.column_names(cols)), read.kept, header is None)


def _renamed(X, expected):
    """A Frame's columns named as the model names them (taken in order or by name)."""
    if isinstance(X, Frame) and expected is not None:
        return Frame(dict(zip(expected, X.columns.values())))
    return X


def _not_as_many(table: Table, cols, expected) -> str:
    if table.kind == "parquet":
        return (
            f": {table.path} has {len(cols)} columns besides the labels but the model "
            f"expects {len(expected)} features ({_names(expected)}); name its columns as "
            "in training"
        )
    found = f"{len(cols)} numeric columns"
    if table.names is not None:
        found += f" ({_names(table.column_names(cols))})"
    return (
        f": {table.path} has {found} but the model expects {len(expected)} features "
        f"({_names(expected)}); give the CSV a header with those column names"
    )


def _kept_columns(table: Table, keep) -> list[int]:
    """The positions of the columns ``keep`` names."""
    for k, name in enumerate(keep):
        if name in keep[:k]:
            raise _bad(f" names {shown(name)} twice; name each column once", name="keep")
        if table.names is None:
            raise _bad(
                f": {table.path} has no header, so it has no column {shown(name)}; add a "
                "header naming the columns",
                name="keep",
            )
        if name not in table.names:
            close = closest(name, table.names)
            hint = f" (did you mean {shown(close)}?)" if close else ""
            raise _bad(
                f": column {shown(name)} not in {table.path}{hint}; its columns are "
                f"{_names(table.names, 20)}",
                name="keep",
            )
    return [table.names.index(name) for name in keep]


def _numbered(d: int) -> tuple[str, ...]:
    return tuple(f"x{j}" for j in range(d))


def _by_name(names, expected, where: str) -> list[int] | None:
    """The position in ``names`` of each of the ``expected`` feature names; None when
    ``names`` holds none of them (the columns are then taken in order). Some but not all of
    them is a DataError naming the missing ones: taking columns in order then would pair a
    feature with the wrong column."""
    names = list(names)
    missing = [n for n in expected if n not in names]
    if not missing:
        return [names.index(n) for n in expected]
    if len(missing) == len(expected):
        return None
    unused = [n for n in names if n not in expected]
    hint = f" (its other columns: {_names(unused)})" if unused else ""
    raise _bad(
        f": {where} has {len(expected) - len(missing)} of the model's {len(expected)} "
        f"features but no column named {_names(missing)}{hint}; name its columns as in "
        "training"
    )


def _source_kind(source: str) -> tuple[str, str]:
    """Split ``source`` into its form and argument; check that files exist."""
    if not isinstance(source, str) or not source.strip():
        raise DataError(f" must be {_FORMS}, got {source!r}", name="source")
    source = source.strip()
    if source.startswith("sklearn:"):
        return "sklearn", source[len("sklearn:") :]
    if source == "synthetic":
        return "synthetic", ""
    suffix = Path(source).suffix.lower()
    if suffix not in (".csv", ".npz", ".parquet") and is_folder(source):
        return "folder", source
    if suffix not in (".csv", ".npz", ".parquet"):
        raise DataError(f": cannot read '{source}'; use {_FORMS}", name="source")
    problem = file_problem(source)
    if problem is not None:
        raise DataError(f": file '{source}' {problem}", name="source")
    return suffix[1:], source


def _load_sklearn(name: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    if name not in SKLEARN_DATASETS:
        close = closest(name, SKLEARN_DATASETS)
        hint = f"did you mean 'sklearn:{close}'? " if close else ""
        raise DataError(
            f": unknown scikit-learn dataset '{name}'; {hint}"
            f"valid names are {', '.join(SKLEARN_DATASETS)}",
            name="source",
        )
    return load_bundled(name)


def _make_synthetic(n_samples, n_features, n_classes, n_informative, seed) -> Dataset:
    sizes = dict(
        n_samples=n_samples, n_features=n_features, n_classes=n_classes, n_informative=n_informative
    )
    for name, value in sizes.items():  # their types and ranges are declared with the settings
        problem = DataConfig.RULES[name].problem(value)
        if problem is not None:
            raise _bad(problem, name=name)
    if n_samples < n_classes:
        raise DataError(
            f": {n_samples} samples cannot cover {n_classes} classes; use n_samples >= n_classes",
            name="n_samples",
        )
    if n_informative is None:
        # make_classification puts each class on a vertex of an n_informative-cube,
        # so it needs 2**n_informative >= n_classes * n_clusters_per_class.
        n_informative = min(n_features, max(2, math.ceil(math.log2(2 * n_classes))))
    if not 1 <= n_informative <= n_features:
        raise DataError(
            f" must be in [1, n_features={n_features}], got {n_informative!r}", name="n_informative"
        )
    if n_classes > 2**n_informative:
        need = math.ceil(math.log2(n_classes))
        raise DataError(
            f": {n_informative} informative features cannot separate {n_classes} "
            f"classes; use n_informative >= {need} (and n_features >= {need})",
            name="n_informative",
        )
    clusters = 2 if 2 * n_classes <= 2**n_informative else 1
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=n_samples,
        n_features=n_features,
        n_informative=n_informative,
        n_redundant=min(2, n_features - n_informative),
        n_classes=n_classes,
        n_clusters_per_class=clusters,
        random_state=seed,
    )
    names = tuple(f"x{j}" for j in range(n_features))
    return Dataset(X.astype(np.float64), y, names, source="synthetic")


# ----------------------------------------------------------------------------- CSV


def _choose_columns(header: list[str], path: str, target=None, features=None, drop=None):
    """The position of the label column and those of the feature columns in ``header``:
    ``features`` in their order, else every column but the label and ``drop``."""
    if features is not None and drop is not None:
        raise _bad(
            " cannot be given with features; list the columns to keep in features, or "
            "those to leave out in drop",
            name="drop",
        )
    if features == []:
        raise _bad(
            " is empty; name at least one column (or null for every column)", name="features"
        )
    label_col = _target_column(header, target, path)
    key, listed = ("features", features) if features is not None else ("drop", drop or [])
    for k, name in enumerate(listed):
        if name in listed[:k]:
            raise _bad(f" names {shown(name)} twice; name each column once", name=key)
        if name not in header:
            close = closest(name, header)
            hint = f" (did you mean {shown(close)}?)" if close else ""
            raise _bad(
                f": column {shown(name)} not in {path}{hint}; its columns are {_names(header, 20)}",
                name=key,
            )
        if name == header[label_col]:
            raise _bad(
                f": {shown(name)} is the label column (data.target, or the last column "
                f"when it is null); remove it from {key}",
                name=key,
            )
    cols = (
        [header.index(name) for name in features]
        if features is not None
        else [j for j, name in enumerate(header) if j != label_col and name not in listed]
    )
    if not cols:
        left = " and the columns in drop" if listed else ""
        raise _bad(
            f": {path} has only the label column {shown(header[label_col])}{left}; "
            "add at least one feature column",
            name=key if listed else "source",
        )
    return label_col, cols


def _target_column(header: list[str], target: str | None, path: str) -> int:
    if target is None:
        return len(header) - 1
    if target not in header:
        close = closest(target, header)
        hint = f"; did you mean {shown(close)}?" if close else ""
        raise _bad(
            f": column {shown(target)} not in {path}; columns are {_names(header, 20)}{hint}",
            name="target",
        )
    return header.index(target)


def _names(names, limit: int = 8) -> str:
    names = [n if n.isprintable() else repr(n) for n in names]
    listed = ", ".join(names[:limit])
    return listed + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _check_labels(y: np.ndarray, source: str, name: str) -> None:
    classes = np.unique(y)
    if len(classes) < 2:
        raise _bad(
            f": {source} has only one class ({label_text(classes[0])}) in its labels; "
            "a classifier needs at least two (choose another label column or add examples)",
            name=name,
        )


def label_text(label) -> str:
    """A label as messages show it: ``'versicolor'`` or ``3``, never ``np.str_('versicolor')``."""
    if isinstance(label, np.generic):
        label = label.item()
    return repr(label) if isinstance(label, (str, bytes)) else str(label)
