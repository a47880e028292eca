"""Data files: CSV and ``.npz`` read cell by cell, and every way they can be wrong named.

Contract
--------
:func:`file_problem` says why a path cannot be read as a data file (missing, a directory, a
FIFO or device, a symbolic link loop, unreadable). :func:`read_csv` reads a UTF-8 CSV into
its header, rows and line numbers; :func:`parse_numeric` and :func:`parse_labels` turn
columns into a finite float64 matrix and labels (int64 when every label is an integer, else
strings). :func:`read_npz` reads ``X``, ``y``, ``feature_names``, ``X_test``, ``y_test``
from an ``.npz`` (never running code, whatever the file holds) and checks them: X finite
numbers, labels integers, booleans, strings (UTF-8 bytes become strings) or finite floats.

Whatever the bytes of a file, these functions return checked arrays or raise
:class:`~nnclf.errors.DataError` about the argument ``source``, naming the file, the line or
row, and the fix; nothing else escapes (``tests/test_data_properties.py`` tries that).
:mod:`nnclf.data` builds datasets on them.
"""

from __future__ import annotations

import codecs
import csv
import errno
import math
import os
import stat
from pathlib import Path

import numpy as np

from .archive import read_arrays
from .errors import DataError

__all__ = ["file_problem", "shown", "read_csv", "text_encoding", "parse_numeric", "parse_labels",
           "is_number", "is_numeric_column", "read_npz"]


def bad(problem: str, name: str = "source") -> DataError:
    """A problem with the argument ``name`` of the loading functions (the source, mostly)."""
    return DataError(problem, name=name)


def shown(text, limit: int = 40) -> str:
    """Text from a file as a message quotes it: ``'abc'``; escaped (``'a\\nb'``) when it has
    characters that are not printable, so that a message stays one line; cut at ``limit``."""
    text = str(text)
    cut = text[:limit] + ("..." if len(text) > limit else "")
    return f"'{cut}'" if cut.isprintable() else repr(cut)


def file_problem(path) -> str | None:
    """Why ``path`` cannot be read as a data file ("not found", "is a directory, ...", ...),
    or None when it is a readable regular file (symbolic links followed)."""
    try:
        mode = os.stat(Path(path).expanduser()).st_mode
    except FileNotFoundError:
        return ("is a symbolic link to a file that does not exist"
                if os.path.islink(Path(path).expanduser()) else "not found")
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "is a symbolic link loop; point it at the data file"
        return f"cannot be read ({e.strerror or e})"
    if stat.S_ISDIR(mode):
        return "is a directory, not a data file; give the file inside it"
    if not stat.S_ISREG(mode):
        return ("is not a regular file (a FIFO, socket or device); save the data to a file "
                "first")
    return None


# ----------------------------------------------------------------------------- CSV


def read_csv(path: str, *, require_header: bool, encoding: str = "utf-8"):
    """Read a CSV in ``encoding`` into (header, rows, line numbers); header is None if the
    file has none.

    Blank lines are skipped; ``lines[i]`` is the 1-based line number of ``rows[i]``.
    """
    reader = None
    try:
        with open(Path(path).expanduser(), newline="", encoding=text_encoding(encoding)) as f:
            reader = csv.reader(f)
            records = [(reader.line_num, row) for row in reader if any(c.strip() for c in row)]
    except UnicodeDecodeError:
        shown_as = "UTF-8" if codecs.lookup(encoding).name == "utf-8" else encoding
        raise bad(f": {path} is not {shown_as} text ({_first_bad_byte(path, encoding)}); save it "
                  "as UTF-8, or give the encoding it is in (data.encoding in a config, e.g. "
                  "latin-1)") from None
    except csv.Error as e:
        line = reader.line_num if reader is not None else 1
        problem = (f"a cell longer than {csv.field_size_limit()} characters"
                   if "field limit" in str(e) else str(e))
        raise bad(f": {path} line {line} is not valid CSV ({problem}); fix that line, or "
                  "check that the file is the CSV you meant") from None
    except OSError as e:
        raise bad(f": {path} cannot be read ({e.strerror or e})") from None
    return _table(path, records, require_header)


def text_encoding(encoding: str) -> str:
    """The codec to open a CSV in ``encoding`` with."""
    # utf-8-sig reads UTF-8 and drops a byte-order mark, which spreadsheets like to write.
    return "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding


def _first_bad_byte(path: str, encoding: str = "utf-8") -> str:
    raw = Path(path).expanduser().read_bytes()
    try:
        raw.decode(encoding)
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        return f"byte 0x{raw[e.start]:02x} on line {line}"
    return f"a byte that is not {encoding}"


def _table(path: str, records: list, require_header: bool):
    if not records:
        raise bad(f": {path} is empty; it needs a header row and data rows")
    first = [c.strip() for c in records[0][1]]
    if all(is_number(c) for c in first):
        if require_header:
            raise bad(f": {path} has no header (line {records[0][0]} is all numbers); "
                      "add a first line naming the columns")
        header, body = None, records
    else:
        header, body = first, records[1:]
        for j, name in enumerate(header):
            if not name:
                raise bad(f": {path} header has an empty name for column {j + 1}; name it")
            if name in header[:j]:
                raise bad(f": {path} header names column {shown(name)} twice; rename one")
    if not body:
        raise bad(f": {path} has a header but no data rows")
    width = len(body[0][1]) if header is None else len(header)
    for line, row in body:
        if len(row) != width:
            other = "the header" if header else f"line {body[0][0]}"
            raise bad(f": {path} line {line} has {len(row)} fields but {other} has {width}; "
                      "fix that row")
    return header, [row for _, row in body], [line for line, _ in body]


def is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def is_numeric_column(cells: list[str]) -> bool:
    """True when every non-empty cell is a number (empty cells are reported later)."""
    filled = [c for c in cells if c.strip()]
    return bool(filled) and all(is_number(c) for c in filled)


def parse_numeric(header, rows, lines, cols, path: str, may_be_target: bool = True) -> np.ndarray:
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
            elif not is_number(cell):
                problem = f"non-numeric value {shown(cell.strip())}"
            elif not math.isfinite(float(cell)):
                problem = f"non-finite value {shown(cell.strip())}"
            else:
                continue
            raise bad(
                f": {path} column {shown(name)} has {problem} at line {line}; feature "
                "columns must hold finite numbers (fix the row, or drop the column"
                + (", or make it the target)" if may_be_target else ")")
            )
        raise AssertionError("column failed to parse but no bad cell was found")
    return X


def parse_labels(name, cells, lines, path) -> np.ndarray:
    """Label cells as an int array when they all are (64-bit) integers, else as strings."""
    labels = [c.strip() for c in cells]
    for line, label in zip(lines, labels):
        if not label:
            raise bad(f": {path} column {shown(name)} has an empty label at line {line}; "
                      "fill it or remove the row", name="target")
    try:
        return np.array([int(v) for v in labels], dtype=np.int64)
    except (ValueError, OverflowError):  # OverflowError: an integer beyond 64 bits
        return np.array(labels, dtype=str)


# ----------------------------------------------------------------------------- npz


def read_npz(path: str, *, require_y: bool):
    """``X``, ``y``, ``feature_names`` (None when the file has none), ``X_test``, ``y_test``
    of an .npz, checked."""
    arrays = read_arrays(Path(path).expanduser(), kind="a data .npz",
                         error=lambda problem: bad(f": {path} {problem}"),
                         hint="save X as numbers and y as integers or strings, e.g. "
                              "np.savez(path, X=X, y=y.astype(str))")
    present = ", ".join(arrays) or "none"
    if "X" not in arrays or (require_y and "y" not in arrays):
        missing = "X" if "X" not in arrays else "y"
        raise bad(f": {path} has no array '{missing}' (arrays: {present}); "
                  "save it with np.savez(path, X=X, y=y)")
    X = _check_matrix(arrays["X"], "X", path)
    y = _check_labels(arrays["y"], "y", len(X), path) if "y" in arrays else None
    d = X.shape[1]
    names = None
    if "feature_names" in arrays:
        names = tuple(_text(n) for n in np.ravel(arrays["feature_names"]))
        if len(names) != d:
            raise bad(f": {path} has {len(names)} feature_names but X has {d} columns; "
                      "make them match or drop feature_names")
    X_test = y_test = None
    if ("X_test" in arrays) != ("y_test" in arrays):
        raise bad(f": {path} has only one of X_test and y_test; save both or neither")
    if "X_test" in arrays:
        X_test = _check_matrix(arrays["X_test"], "X_test", path)
        if X_test.shape[1] != d:
            raise bad(f": {path} X_test has {X_test.shape[1]} columns but X has {d}; make them match")
        y_test = _check_labels(arrays["y_test"], "y_test", len(X_test), path)
    return X, y, names, X_test, y_test


def _text(value) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def _check_matrix(a: np.ndarray, name: str, path: str) -> np.ndarray:
    if a.ndim != 2:
        raise bad(f": {path} {name} must be 2-D (n_samples, n_features), got shape {a.shape}; "
                  "reshape it, e.g. X.reshape(len(X), -1)")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise bad(f": {path} {name} is empty (shape {a.shape})")
    if a.dtype.kind not in "biuf":
        raise bad(f": {path} {name} must be numeric, got dtype {a.dtype}")
    a = a.astype(np.float64)
    bad_cells = np.argwhere(~np.isfinite(a))
    if len(bad_cells):
        i, j = bad_cells[0]
        raise bad(f": {path} {name} has a non-finite value ({a[i, j]}) at row {i}, column {j} "
                  "(0-based); remove or impute it")
    return a


def _check_labels(y: np.ndarray, name: str, n: int, path: str) -> np.ndarray:
    """Labels of shape (n,) that a model file can keep: integers, booleans, strings, finite
    floats; UTF-8 bytes become strings."""
    if y.ndim != 1:
        raise bad(f": {path} {name} must be 1-D, got shape {y.shape}; save {name}.ravel()")
    if len(y) != n:
        x_name = "X" if name == "y" else "X_test"
        raise bad(f": {path} has {n} rows in {x_name} but {len(y)} labels in {name}; "
                  "they must have the same length")
    if y.dtype.kind == "S":
        try:
            return np.array([v.decode("utf-8") for v in y.tolist()], dtype=str)
        except UnicodeDecodeError:
            raise bad(f": {path} {name} holds bytes that are not UTF-8 text; save the labels "
                      f"as strings or integers") from None
    if y.dtype.kind == "f":
        nonfinite = np.flatnonzero(~np.isfinite(y))
        if len(nonfinite):
            i = nonfinite[0]
            raise bad(f": {path} {name} has a non-finite label ({y[i]}) at row {i} (0-based); "
                      "remove that row, or save the labels as integers or strings")
    elif y.dtype.kind not in "biuU":
        raise bad(f": {path} {name} holds {y.dtype} values, which cannot be class labels; "
                  f"save them as integers or strings (e.g. {name}.astype(str))")
    return y
