"""What every reader of a data file checks: that a path is a file it can read, that labels
are labels a model can keep, and the error it raises about its argument.

Contract
--------
:func:`bad` makes the :class:`~nnclf.errors.DataError` about an argument of the loading
functions (``source`` unless told); :func:`file_problem` says why a path cannot be read as a
data file; :func:`check_label_array` checks an array of labels (integers, booleans, strings,
finite floats; UTF-8 bytes become strings). :mod:`nnclf.data.tables` and
:mod:`nnclf.data.npyfolder` both use them.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import numpy as np

from nnclf.errors import DataError

__all__ = ["bad", "file_problem", "check_label_array"]


def bad(problem: str, name: str = "source") -> DataError:
    """A problem with the argument ``name`` of the loading functions (the source, mostly)."""
    return DataError(problem, name=name)


def file_problem(path) -> str | None:
    """Why ``path`` cannot be read as a data file ("not found", "is a directory, ...", ...),
    or None when it is a readable regular file (symbolic links followed)."""
    try:
        mode = os.stat(Path(path).expanduser()).st_mode
    except FileNotFoundError:
        return (
            "is a symbolic link to a file that does not exist"
            if os.path.islink(Path(path).expanduser())
            else "not found"
        )
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "is a symbolic link loop; point it at the data file"
        return f"cannot be read ({e.strerror or e})"
    if stat.S_ISDIR(mode):
        return "is a directory, not a data file; give the file inside it"
    if not stat.S_ISREG(mode):
        return "is not a regular file (a FIFO, socket or device); save the data to a file first"
    return None


def check_label_array(y: np.ndarray, name: str, n: int, path: str) -> np.ndarray:
    """Labels of shape (n,) that a model file can keep: integers, booleans, strings, finite
    floats; UTF-8 bytes become strings."""
    if y.ndim != 1:
        raise bad(f": {path} {name} must be 1-D, got shape {y.shape}; save {name}.ravel()")
    if len(y) != n:
        x_name = "X" if name == "y" else "X_test"
        raise bad(
            f": {path} has {n} rows in {x_name} but {len(y)} labels in {name}; "
            "they must have the same length"
        )
    if y.dtype.kind == "S":
        try:
            return np.array([v.decode("utf-8") for v in y.tolist()], dtype=str)
        except UnicodeDecodeError:
            raise bad(
                f": {path} {name} holds bytes that are not UTF-8 text; save the labels "
                f"as strings or integers"
            ) from None
    if y.dtype.kind == "f":
        nonfinite = np.flatnonzero(~np.isfinite(y))
        if len(nonfinite):
            i = nonfinite[0]
            raise bad(
                f": {path} {name} has a non-finite label ({y[i]}) at row {i} (0-based); "
                "remove that row, or save the labels as integers or strings"
            )
    elif y.dtype.kind not in "biuU":
        raise bad(
            f": {path} {name} holds {y.dtype} values, which cannot be class labels; "
            f"save them as integers or strings (e.g. {name}.astype(str))"
        )
    return y
