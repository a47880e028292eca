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

Every user error is a one-line :class:`~nnclf.errors.DataError` named after the argument at
fault (``source: file 'x.csv' not found``); the caller says where the argument came from
(``data.source``, ``--data``). :func:`load_features` reads the inputs of a prediction and
lines their columns up with a trained model's feature names. The split and the
standardisation are in :mod:`nnclf.preprocessing`.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn import datasets as _skdatasets

from .errors import DataError
from .settings import DataConfig
from .suggest import closest

__all__ = [
    "Dataset",
    "SKLEARN_DATASETS",
    "load_dataset",
    "load_features",
]

SKLEARN_DATASETS = {
    "iris": _skdatasets.load_iris,
    "digits": _skdatasets.load_digits,
    "wine": _skdatasets.load_wine,
    "breast_cancer": _skdatasets.load_breast_cancer,
}

_FORMS = (
    "'sklearn:<name>' (" + ", ".join(SKLEARN_DATASETS) + "), "
    "a path ending in .csv or .npz, or 'synthetic'"
)


def _bad(problem: str, name: str = "source") -> DataError:
    """A problem with the argument ``name`` of the loading functions (the source, mostly)."""
    return DataError(problem, name=name)


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

    Returns
    -------
    Dataset
        ``X`` of shape (n, d) float64, ``y`` of shape (n,).

    Raises
    ------
    ValueError
        One line naming what is wrong with the source and how to fix it.
    """
    kind, arg = _source_kind(source)
    if target is not None and kind != "csv":
        raise DataError(f": only CSV sources have named columns, but the source is '{source}'; "
                        "remove the target", name="target")
    if kind == "sklearn":
        X, y, names = _load_sklearn(arg)
        ds = Dataset(X, y, names, source=source)
    elif kind == "synthetic":
        ds = _make_synthetic(n_samples, n_features, n_classes, n_informative, seed)
    elif kind == "csv":
        header, rows, lines = _read_csv(arg, require_header=True)
        label_col = _target_column(header, target, arg)
        feature_cols = [j for j in range(len(header)) if j != label_col]
        if not feature_cols:
            raise DataError(f": {arg} has only the label column '{header[label_col]}'; "
                            "add at least one feature column", name="source")
        X = _parse_numeric(header, rows, lines, feature_cols, arg)
        y = _parse_labels(header[label_col], [r[label_col] for r in rows], lines, arg)
        names = tuple(header[j] for j in feature_cols)
        ds = Dataset(X, y, names, source=source)
    else:
        X, y, names, X_test, y_test = _read_npz(arg, require_y=True)
        ds = Dataset(X, y, names, X_test, y_test, source=source)
    _check_labels(ds.y, ds.source, "target" if kind == "csv" else "source")
    return ds


def load_features(
    source: str,
    feature_names: tuple[str, ...] | list[str] | None = None,
    target: str | None = None,
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
        return _load_csv_features(arg, expected, target)
    if kind == "sklearn":
        X, y, names = _load_sklearn(arg)
    else:
        X, y, names, _, _ = _read_npz(arg, require_y=False)
    if expected is not None and X.shape[1] != len(expected):
        raise DataError(f": {source} has {X.shape[1]} features but the model expects "
                        f"{len(expected)} ({_names(expected)})", name="source")
    return X, y, names


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
    if suffix not in (".csv", ".npz"):
        raise DataError(f": cannot read '{source}'; use {_FORMS}", name="source")
    if not Path(source).expanduser().is_file():
        raise DataError(f": file '{source}' not found", name="source")
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


def _read_csv(path: str, *, require_header: bool):
    """Read a CSV into (header, rows, line numbers); header is None if the file has none.

    Blank lines are skipped; ``lines[i]`` is the 1-based line number of ``rows[i]``.
    """
    with open(Path(path).expanduser(), newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        records = [(reader.line_num, row) for row in reader if any(c.strip() for c in row)]
    if not records:
        raise _bad(f": {path} is empty; it needs a header row and data rows")
    first = [c.strip() for c in records[0][1]]
    if all(_is_number(c) for c in first):
        if require_header:
            raise _bad(f": {path} has no header (line {records[0][0]} is all numbers); "
                       "add a first line naming the columns")
        header, body = None, records
    else:
        header, body = first, records[1:]
        for j, name in enumerate(header):
            if not name:
                raise _bad(f": {path} header has an empty name for column {j + 1}; name it")
            if name in header[:j]:
                raise DataError(f": {path} header names column '{name}' twice; rename one",
                                name="source")
    if not body:
        raise DataError(f": {path} has a header but no data rows", name="source")
    width = len(body[0][1]) if header is None else len(header)
    for line, row in body:
        if len(row) != width:
            other = "the header" if header else f"line {body[0][0]}"
            raise _bad(f": {path} line {line} has {len(row)} fields but {other} has {width}; "
                       "fix that row")
    return header, [row for _, row in body], [line for line, _ in body]


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _target_column(header: list[str], target: str | None, path: str) -> int:
    if target is None:
        return len(header) - 1
    if target not in header:
        close = closest(target, header)
        hint = f"; did you mean '{close}'?" if close else ""
        raise _bad(f": column '{target}' not in {path}; columns are {', '.join(header)}{hint}",
                   name="target")
    return header.index(target)


def _parse_numeric(header, rows, lines, cols, path: str, may_be_target: bool = True) -> np.ndarray:
    """Columns ``cols`` of ``rows`` as a float64 array of shape (len(rows), len(cols))."""
    X = np.empty((len(rows), len(cols)), dtype=np.float64)
    for k, j in enumerate(cols):
        cells = [r[j] for r in rows]
        try:
            X[:, k] = np.asarray(cells, dtype=np.float64)
            if np.isfinite(X[:, k]).all():
                continue
        except ValueError:
            pass
        name = header[j] if header else f"{j + 1}"
        for line, cell in zip(lines, cells):
            if not cell.strip():
                problem = "an empty cell"
            elif not _is_number(cell):
                problem = f"non-numeric value '{cell.strip()}'"
            elif not math.isfinite(float(cell)):
                problem = f"non-finite value '{cell.strip()}'"
            else:
                continue
            raise _bad(
                f": {path} column '{name}' has {problem} at line {line}; feature "
                "columns must hold finite numbers (fix the row, or drop the column"
                + (", or make it the target)" if may_be_target else ")")
            )
        raise AssertionError("column failed to parse but no bad cell was found")
    return X


def _parse_labels(name, cells, lines, path) -> np.ndarray:
    """Label cells as an int array when they all are integers, else as strings."""
    labels = [c.strip() for c in cells]
    for line, label in zip(lines, labels):
        if not label:
            raise _bad(f": {path} column '{name}' has an empty label at line {line}; "
                       "fill it or remove the row", name="target")
    try:
        return np.array([int(v) for v in labels], dtype=np.int64)
    except ValueError:
        return np.array(labels, dtype=str)


def _load_csv_features(path, expected, target):
    header, rows, lines = _read_csv(path, require_header=False)
    y = None
    if header is not None and target is not None and target in header:
        label_col = header.index(target)
        y = _parse_labels(target, [r[label_col] for r in rows], lines, path)
    else:
        label_col = None
    names = header or [f"x{j}" for j in range(len(rows[0]))]
    others = [j for j in range(len(names)) if j != label_col]
    if expected is None:
        cols = others
    elif header is not None and set(expected) <= set(header):
        cols = [header.index(n) for n in expected]
    else:
        cols = [j for j in others if _is_numeric_column([r[j] for r in rows])]
        if len(cols) != len(expected):
            found = f"{len(cols)} numeric columns"
            if header is not None:
                found += f" ({_names(names[j] for j in cols)})"
            raise _bad(f": {path} has {found} but the model expects {len(expected)} features "
                       f"({_names(expected)}); give the CSV a header with those column names")
    X = _parse_numeric(names, rows, lines, cols, path, may_be_target=False)
    return X, y, tuple(names[j] for j in cols)


def _is_numeric_column(cells: list[str]) -> bool:
    """True when every non-empty cell is a number (empty cells are reported later)."""
    filled = [c for c in cells if c.strip()]
    return bool(filled) and all(_is_number(c) for c in filled)


def _names(names, limit: int = 8) -> str:
    names = list(names)
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


# ----------------------------------------------------------------------------- npz


def _read_npz(path: str, *, require_y: bool):
    """Read and check ``X``, ``y``, ``feature_names``, ``X_test``, ``y_test`` from an .npz."""
    try:
        with np.load(Path(path).expanduser(), allow_pickle=False) as z:
            arrays = {name: z[name] for name in z.files}
    except ValueError as e:
        if "Object arrays" in str(e):
            raise _bad(f": {path} holds object arrays; save X as numbers and y as ints "
                       "or fixed-width strings (e.g. y.astype(str))") from None
        raise _bad(f": {path} is not a readable .npz file ({e})") from None
    except (OSError, EOFError) as e:
        raise _bad(f": {path} is not a readable .npz file ({e})") from None
    present = ", ".join(arrays) or "none"
    if "X" not in arrays or (require_y and "y" not in arrays):
        missing = "X" if "X" not in arrays else "y"
        raise _bad(f": {path} has no array '{missing}' (arrays: {present}); "
                   "save it with np.savez(path, X=X, y=y)")
    X = _check_matrix(arrays["X"], "X", path)
    y = _check_labels_shape(arrays["y"], "y", len(X), path) if "y" in arrays else None
    d = X.shape[1]
    if "feature_names" in arrays:
        names = tuple(str(n) for n in np.ravel(arrays["feature_names"]))
        if len(names) != d:
            raise _bad(f": {path} has {len(names)} feature_names but X has {d} columns; "
                       "make them match or drop feature_names")
    else:
        names = tuple(f"x{j}" for j in range(d))
    X_test = y_test = None
    if ("X_test" in arrays) != ("y_test" in arrays):
        raise _bad(f": {path} has only one of X_test and y_test; save both or neither")
    if "X_test" in arrays:
        X_test = _check_matrix(arrays["X_test"], "X_test", path)
        if X_test.shape[1] != d:
            raise _bad(f": {path} X_test has {X_test.shape[1]} columns but X has {d}; make them match")
        y_test = _check_labels_shape(arrays["y_test"], "y_test", len(X_test), path)
    return X, y, names, X_test, y_test


def _check_matrix(a: np.ndarray, name: str, path: str) -> np.ndarray:
    if a.ndim != 2:
        raise _bad(f": {path} {name} must be 2-D (n_samples, n_features), got shape {a.shape}; "
                   "reshape it, e.g. X.reshape(len(X), -1)")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise _bad(f": {path} {name} is empty (shape {a.shape})")
    if a.dtype.kind not in "biuf":
        raise _bad(f": {path} {name} must be numeric, got dtype {a.dtype}")
    a = a.astype(np.float64)
    bad = np.argwhere(~np.isfinite(a))
    if len(bad):
        i, j = bad[0]
        raise _bad(f": {path} {name} has a non-finite value ({a[i, j]}) at row {i}, column {j} "
                   "(0-based); remove or impute it")
    return a


def _check_labels_shape(y: np.ndarray, name: str, n: int, path: str) -> np.ndarray:
    if y.ndim != 1:
        raise _bad(f": {path} {name} must be 1-D, got shape {y.shape}; save {name}.ravel()")
    if len(y) != n:
        x_name = "X" if name == "y" else "X_test"
        raise _bad(f": {path} has {n} rows in {x_name} but {len(y)} labels in {name}; "
                   "they must have the same length")
    return y


def _check_labels(y: np.ndarray, source: str, name: str) -> None:
    classes = np.unique(y)
    if len(classes) < 2:
        raise _bad(
            f": {source} has only one class ({np.asarray(classes[0]).item()!r}) in its labels; "
            "a classifier needs at least two (choose another label column or add examples)",
            name=name)
