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
        (default: the last column) and every other column must be numeric.
    ``path/to/file.npz``
        arrays ``X`` and ``y``; optionally ``X_test``, ``y_test`` and ``feature_names``.
    ``synthetic``
        :func:`sklearn.datasets.make_classification`.
    ``path/to/folder``
        ``X.npy`` and ``y.npy`` (optionally ``X_test.npy``, ``y_test.npy``), memory-mapped
        (:mod:`nnclf.npyfolder`): X and X_test are then :class:`~nnclf.npyfolder.Rows`, read
        a row or a chunk at a time, not float64 arrays.

Every user error is a one-line :class:`~nnclf.errors.DataError` named after the argument at
fault (``source: file 'x.csv' not found``); the caller says where the argument came from
(``data.source``, ``--data``). :func:`load_features` reads the inputs of a prediction and
lines their columns up with a trained model's feature names: by name when the source names
all of them, in order when it names none of them, and an error naming the missing ones when
it names some. :func:`fingerprint` identifies a dataset's contents, so that a run can tell
when its data file changed (:func:`data_changed`). The files themselves are read in
:mod:`nnclf.datafiles`; the split and the standardisation are in :mod:`nnclf.preprocessing`.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn import datasets as _skdatasets

from .datafiles import (bad as _bad, file_problem, is_numeric_column, parse_labels,
                        parse_numeric, read_csv, read_npz, shown)
from .errors import DataError
from .npyfolder import Rows, is_folder, open_folder
from .npyfolder import fingerprint as folder_fingerprint
from .settings import DataConfig
from .suggest import closest

__all__ = [
    "Dataset",
    "SKLEARN_DATASETS",
    "load_dataset",
    "load_features",
    "fingerprint",
    "data_changed",
    "label_text",
]

SKLEARN_DATASETS = {
    "iris": _skdatasets.load_iris,
    "digits": _skdatasets.load_digits,
    "wine": _skdatasets.load_wine,
    "breast_cancer": _skdatasets.load_breast_cancer,
}

_FORMS = (
    "'sklearn:<name>' (" + ", ".join(SKLEARN_DATASETS) + "), "
    "a path ending in .csv or .npz, a folder holding X.npy and y.npy, or 'synthetic'"
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
) -> Dataset:
    """Load a labelled dataset from ``source``.

    Parameters
    ----------
    source : str
        ``"sklearn:<name>"``, a path ending in ``.csv`` or ``.npz``, or ``"synthetic"``.
    target : str, optional
        CSV only: the label column. Default: the last column.
    n_samples, n_features, n_classes, n_informative, seed : int
        ``synthetic`` only: passed to :func:`sklearn.datasets.make_classification`
        (``seed`` as ``random_state``). ``n_informative`` defaults to the fewest
        informative features that can separate ``n_classes`` classes, at least 2.
    encoding : str
        CSV only: the file's text encoding (UTF-8 by default, with or without a BOM).

    Returns
    -------
    Dataset
        ``X`` of shape (n, d) float64, ``y`` of shape (n,).

    Raises
    ------
    DataError
        One line naming the argument at fault, what is wrong and how to fix it.
    """
    kind, arg = _source_kind(source)
    if target is not None and kind != "csv":
        raise _bad(f": only CSV sources have named columns, but the source is '{source}'; "
                   "remove the target", name="target")
    if kind == "sklearn":
        X, y, names = _load_sklearn(arg)
        ds = Dataset(X, y, names, source=source)
    elif kind == "synthetic":
        ds = _make_synthetic(n_samples, n_features, n_classes, n_informative, seed)
    elif kind == "csv":
        ds = _load_csv_dataset(arg, target, encoding, source)
    elif kind == "folder":
        ds = Dataset(*open_folder(arg), source=source)
    else:
        X, y, names, X_test, y_test = read_npz(arg, require_y=True)
        ds = Dataset(X, y, names or _numbered(X.shape[1]), X_test, y_test, source=source)
    _check_labels(ds.y, ds.source, "target" if kind == "csv" else "source")
    return ds


def _load_csv_dataset(path: str, target: str | None, encoding: str, source: str) -> Dataset:
    header, rows, lines = read_csv(path, require_header=True, encoding=encoding)
    label_col = _target_column(header, target, path)
    feature_cols = [j for j in range(len(header)) if j != label_col]
    if not feature_cols:
        raise DataError(f": {path} has only the label column {shown(header[label_col])}; "
                        "add at least one feature column", name="source")
    X = parse_numeric(header, rows, lines, feature_cols, path)
    y = parse_labels(header[label_col], [r[label_col] for r in rows], lines, path)
    return Dataset(X, y, tuple(header[j] for j in feature_cols), source=source)


def load_features(
    source: str,
    feature_names: tuple[str, ...] | list[str] | None = None,
    target: str | None = None,
    encoding: str = "utf-8",
) -> tuple[np.ndarray, np.ndarray | None, tuple[str, ...]]:
    """Load the inputs of a prediction, lined up with a model's feature names.

    For a CSV, columns are matched to ``feature_names`` by name when all of the names
    appear in the header (extra columns are ignored, order follows ``feature_names``);
    otherwise, when the number of numeric columns other than ``target`` equals
    ``len(feature_names)``, those columns are used in file order. A CSV whose first row
    is all numbers is read as headerless and used positionally.

    Parameters
    ----------
    source : str
        A path ending in ``.csv`` or ``.npz``, or ``"sklearn:<name>"``.
    feature_names : sequence of str, length d, optional
        The model's training feature names. Default: take every column.
    target : str, optional
        Name of a label column; when present in the CSV it is returned as ``y``.
    encoding : str
        CSV only: the file's text encoding.

    Returns
    -------
    X : ndarray of shape (n, d), float64
    y : ndarray of shape (n,) or None
        Labels when the source has them, else None.
    names : tuple of str, length d
        The names of the columns used, as the source spells them.

    Raises
    ------
    ValueError
        When the source cannot be read or its columns do not fit ``feature_names``.
    """
    kind, arg = _source_kind(source)
    expected = None if feature_names is None else tuple(str(n) for n in feature_names)
    if kind == "synthetic":
        raise DataError(": 'synthetic' has no fixed features to predict on; give a path "
                        "ending in .csv or .npz, or 'sklearn:<name>'", name="source")
    if kind == "csv":
        return _load_csv_features(arg, expected, target, encoding)
    if kind == "sklearn":
        X, y, names = _load_sklearn(arg)
    elif kind == "folder":
        X, y, names = open_folder(arg, require_y=False)[:3]
        names = None  # a folder's columns have no names: they are taken in order
    else:
        X, y, names, _, _ = read_npz(arg, require_y=False)
    cols = _by_name(names, expected, source) if names and expected else None
    if cols is not None:
        return X[:, cols], y, tuple(names[j] for j in cols)
    if expected is not None and X.shape[1] != len(expected):
        raise DataError(f": {source} has {X.shape[1]} features but the model expects "
                        f"{len(expected)} ({_names(expected)})", name="source")
    return X, y, tuple(names or _numbered(X.shape[1]))


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
    raise _bad(f": {where} has {len(expected) - len(missing)} of the model's {len(expected)} "
               f"features but no column named {_names(missing)}{hint}; name its columns as in "
               "training")


def _source_kind(source: str) -> tuple[str, str]:
    """Split ``source`` into its form and argument; check that files exist."""
    if not isinstance(source, str) or not source.strip():
        raise DataError(f" must be {_FORMS}, got {source!r}", name="source")
    source = source.strip()
    if source.startswith("sklearn:"):
        return "sklearn", source[len("sklearn:"):]
    if source == "synthetic":
        return "synthetic", ""
    suffix = Path(source).suffix.lower()
    if suffix not in (".csv", ".npz") and is_folder(source):
        return "folder", source
    if suffix not in (".csv", ".npz"):
        raise DataError(f": cannot read '{source}'; use {_FORMS}", name="source")
    problem = file_problem(source)
    if problem is not None:
        raise DataError(f": file '{source}' {problem}", name="source")
    return suffix[1:], source


def _load_sklearn(name: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    if name not in SKLEARN_DATASETS:
        close = closest(name, SKLEARN_DATASETS)
        hint = f"did you mean 'sklearn:{close}'? " if close else ""
        raise DataError(f": unknown scikit-learn dataset '{name}'; {hint}"
                        f"valid names are {', '.join(SKLEARN_DATASETS)}", name="source")
    bunch = SKLEARN_DATASETS[name]()
    X = np.asarray(bunch.data, dtype=np.float64)
    names = getattr(bunch, "feature_names", None)
    if names is None or len(names) != X.shape[1]:
        names = [f"x{j}" for j in range(X.shape[1])]
    return X, np.asarray(bunch.target), tuple(str(n) for n in names)


def _make_synthetic(n_samples, n_features, n_classes, n_informative, seed) -> Dataset:
    sizes = dict(n_samples=n_samples, n_features=n_features, n_classes=n_classes,
                 n_informative=n_informative)
    for name, value in sizes.items():  # their types and ranges are declared with the settings
        problem = DataConfig.RULES[name].problem(value)
        if problem is not None:
            raise _bad(problem, name=name)
    if n_samples < n_classes:
        raise DataError(f": {n_samples} samples cannot cover {n_classes} classes; "
                        "use n_samples >= n_classes", name="n_samples")
    if n_informative is None:
        # make_classification puts each class on a vertex of an n_informative-cube,
        # so it needs 2**n_informative >= n_classes * n_clusters_per_class.
        n_informative = min(n_features, max(2, math.ceil(math.log2(2 * n_classes))))
    if not 1 <= n_informative <= n_features:
        raise DataError(f" must be in [1, n_features={n_features}], got {n_informative!r}",
                        name="n_informative")
    if n_classes > 2**n_informative:
        need = math.ceil(math.log2(n_classes))
        raise DataError(f": {n_informative} informative features cannot separate {n_classes} "
                        f"classes; use n_informative >= {need} (and n_features >= {need})",
                        name="n_informative")
    clusters = 2 if 2 * n_classes <= 2**n_informative else 1
    X, y = _skdatasets.make_classification(
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


def _target_column(header: list[str], target: str | None, path: str) -> int:
    if target is None:
        return len(header) - 1
    if target not in header:
        close = closest(target, header)
        hint = f"; did you mean {shown(close)}?" if close else ""
        raise _bad(f": column {shown(target)} not in {path}; columns are {_names(header, 20)}{hint}",
                   name="target")
    return header.index(target)


def _load_csv_features(path, expected, target, encoding):
    header, rows, lines = read_csv(path, require_header=False, encoding=encoding)
    y = None
    if header is not None and target is not None and target in header:
        label_col = header.index(target)
        y = parse_labels(target, [r[label_col] for r in rows], lines, path)
    else:
        label_col = None
    names = header or list(_numbered(len(rows[0])))
    others = [j for j in range(len(names)) if j != label_col]
    cols = _by_name(header, expected, path) if header and expected is not None else None
    if expected is None:
        cols = others
    elif cols is None:
        cols = [j for j in others if is_numeric_column([r[j] for r in rows])]
        if len(cols) != len(expected):
            found = f"{len(cols)} numeric columns"
            if header is not None:
                found += f" ({_names(names[j] for j in cols)})"
            raise _bad(f": {path} has {found} but the model expects {len(expected)} features "
                       f"({_names(expected)}); give the CSV a header with those column names")
    X = parse_numeric(names, rows, lines, cols, path, may_be_target=False)
    return X, y, tuple(names[j] for j in cols)


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
            name=name)


def label_text(label) -> str:
    """A label as messages show it: ``'versicolor'`` or ``3``, never ``np.str_('versicolor')``."""
    if isinstance(label, np.generic):
        label = label.item()
    return repr(label) if isinstance(label, (str, bytes)) else str(label)


# ----------------------------------------------------------------------------- fingerprints


def fingerprint(ds: Dataset) -> dict:
    """What identifies the contents of ``ds``: ``{"source", "rows", "sha256"}``, the digest
    of X, y, X_test and y_test (dtypes, shapes and values, in order).

    Two loads of the same data give the same fingerprint; any change to a value, the order
    of the rows, or their number gives another (see :func:`data_changed`). A folder source
    is fingerprinted without reading all of a large X (:func:`nnclf.npyfolder.fingerprint`).
    """
    if isinstance(ds.X, Rows):
        rows = len(ds.X) + (len(ds.X_test) if ds.X_test is not None else 0)
        return folder_fingerprint(ds.source.strip(), ds.source, rows)
    digest = hashlib.sha256()
    for a in (ds.X, ds.y, ds.X_test, ds.y_test):
        if a is None:
            digest.update(b"none;")
            continue
        a = np.ascontiguousarray(a)
        digest.update(f"{a.dtype.str}{a.shape};".encode())
        digest.update(a.tobytes())
    rows = len(ds.X) + (len(ds.X_test) if ds.X_test is not None else 0)
    return {"source": ds.source, "rows": int(rows), "sha256": digest.hexdigest()}


def data_changed(before: dict, now: dict, source: str) -> str | None:
    """What changed in ``source`` between two fingerprints, in words; None if nothing."""
    if before.get("sha256") == now.get("sha256"):
        return None
    rows = before.get("rows")
    how = (f"{rows} rows then, {now['rows']} now" if rows != now["rows"] else
           f"the same {rows} rows, but other values or another order")
    return f"the data {source} has changed since the run was trained ({how})"
