"""Data larger than memory: a folder of .npy files, memory-mapped, read a row or a chunk at a time.

Contract
--------
A *folder source* is a directory holding ``X.npy`` (n, d) and ``y.npy`` (n,), and optionally
``X_test.npy`` and ``y_test.npy`` (then the test split is those, not drawn from X).
:func:`open_folder` checks it and opens X (and X_test) memory-mapped (``np.load(...,
mmap_mode="r")``, never ``allow_pickle``); the labels are read into memory (n of them is
small next to n x d features). X must be C-ordered, 2-D, of a float32, float64 or integer
dtype (of either byte order: an X not in the machine's order is read into memory in it), and
finite (checked in chunks when the folder is opened).

:class:`Rows` is what stands for X past that point: some rows of the mapped array (an index
array, not a copy), standardised on the way out with a mean and a scale per feature.
``rows[k]`` (an int, a list or array of ints, or a slice) gathers those rows only, as a new
array; :meth:`Rows.chunks` walks them in blocks of about :data:`CHUNK_BYTES`. Splits are
index arrays into the same map (:func:`nnclf.data.preprocessing.train_test_split_stratified` splits
``Rows.index``), so the training rows of a folder are exactly the rows an in-memory copy of
the same arrays trains on.

:func:`mean_and_scale` gives the standardisation's statistics in one pass over the chunks
(scikit-learn's ``StandardScaler.partial_fit``: float64 sums merged chunk by chunk by Chan's
parallel update). Data of one chunk gives bit for bit what ``StandardScaler.fit`` gives, so
training from a small folder gives the very parameters training from the same arrays in
memory gives; more chunks agree to rounding.

:func:`fingerprint` identifies a folder without reading all of a large X: every file's name,
size, dtype and shape, and its bytes when it holds at most :data:`WHOLE_HASH_BYTES`; a larger
file contributes its modification time and :data:`SAMPLED_BLOCKS` blocks of 64 KiB spread
evenly over it (first and last included), about 16 MB read whatever its size. So a changed
value in a large X is found when it lies in a sampled block or when the file's modification
time changed (any ordinary write changes it); copying such a folder elsewhere (a new
modification time) reads as changed data.

Every user error is a one-line :class:`~nnclf.errors.DataError` named ``source``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from nnclf.data.checks import bad, check_label_array, file_problem

__all__ = [
    "Rows",
    "open_folder",
    "is_folder",
    "mean_and_scale",
    "fingerprint",
    "log_proba",
    "probabilities",
    "prepare",
    "checked_xy",
    "CHUNK_BYTES",
]

CHUNK_BYTES = 8 << 20
"""About how many bytes of float64 features one chunk of rows holds (evaluation, statistics)."""

WHOLE_HASH_BYTES = 64 << 20
SAMPLED_BLOCKS = 256
_BLOCK = 64 << 10
_FILES = ("X.npy", "y.npy", "X_test.npy", "y_test.npy")


class Rows:
    """Rows ``index`` of a 2-D (memory-mapped) array, each gathered as (x - mean) / scale.

    Parameters
    ----------
    array : ndarray of shape (N, d)
        C-ordered; read, never written.
    index : ndarray of int64, shape (n,)
        The rows, in order: row k of this view is ``array[index[k]]``.
    mean, scale : ndarray of shape (d,), float64, optional
        The standardisation (default: none, i.e. mean 0 and scale 1, which is exact).
    dtype : numpy dtype
        Of the rows given out (the network's).
    """

    def __init__(self, array, index=None, mean=None, scale=None, dtype=np.float64):
        self.array = array
        self.index = (
            np.arange(len(array), dtype=np.int64)
            if index is None
            else np.asarray(index, dtype=np.int64)
        )
        d = array.shape[1]
        self.mean = np.zeros(d) if mean is None else np.asarray(mean, dtype=np.float64)
        self.scale = np.ones(d) if scale is None else np.asarray(scale, dtype=np.float64)
        self.dtype = np.dtype(dtype)

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.index), self.array.shape[1])

    ndim = 2

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, k) -> np.ndarray:
        """The rows k (int: shape (d,); ints or a slice: shape (len, d)), standardised."""
        # float64 first: (x - mean) / scale exactly as on an in-memory float64 copy of X,
        # in place (a chunk is then one float64 copy of its rows).
        out = self.array[self.index[k]].astype(np.float64)
        out -= self.mean
        out /= self.scale
        return out.astype(self.dtype, copy=False)

    def __array__(self, dtype=None, copy=None):
        # Correct for any caller, but every row at once: nnclf's own code uses chunks().
        out = self[:]
        return out if dtype is None else out.astype(dtype, copy=False)

    def take(self, index) -> Rows:
        """The rows ``index`` of this view (positions in it), as a view of the same array."""
        return Rows(
            self.array,
            self.index[np.asarray(index, dtype=np.int64)],
            self.mean,
            self.scale,
            self.dtype,
        )

    def standardized(self, mean, scale, dtype=np.float64) -> Rows:
        """The same rows, given out as (x - mean) / scale in ``dtype``."""
        return Rows(self.array, self.index, mean, scale, dtype)

    def chunk_rows(self) -> int:
        return max(1, CHUNK_BYTES // (8 * self.shape[1]))

    def chunks(self, rows: int | None = None):
        """Yield (start, block) over the rows in order, each block of at most ``rows`` rows
        (default :meth:`chunk_rows`), standardised."""
        rows = rows or self.chunk_rows()
        for start in range(0, len(self), rows):
            yield start, self[start : start + rows]


# ----------------------------------------------------------------------------- opening


def is_folder(source: str) -> bool:
    """Whether ``source`` names a directory (a folder source)."""
    return (
        isinstance(source, str)
        and bool(source.strip())
        and Path(source.strip()).expanduser().is_dir()
    )


def open_folder(path: str, require_y: bool = True):
    """``X`` (:class:`Rows` of all of X.npy), ``y`` (None when there is no y.npy and not
    ``require_y``), the feature names, ``X_test`` (Rows, or None) and ``y_test`` of a folder
    source, checked.

    Raises
    ------
    DataError
        Named ``source``: a missing X.npy or y.npy, X_test.npy without y_test.npy (or the
        reverse), an unreadable or object-dtype file, X not 2-D, C-ordered, numeric and
        finite, labels not 1-D or not as many as X's rows, X_test of another width.
    """
    folder = Path(path).expanduser()
    present = {name for name in _FILES if os.path.lexists(folder / name)}
    for name in sorted(present, key=_FILES.index):
        _check_file(folder / name, name, path)
    for needed in ("X.npy", "y.npy") if require_y else ("X.npy",):
        if needed not in present:
            raise bad(
                f": folder {path} has no {needed}; a folder source holds X.npy "
                "(n, d) and y.npy (n,), optionally X_test.npy and y_test.npy"
            )
    if ("X_test.npy" in present) != ("y_test.npy" in present):
        have, lacks = (
            ("X_test.npy", "y_test.npy")
            if "X_test.npy" in present
            else ("y_test.npy", "X_test.npy")
        )
        raise bad(f": folder {path} has {have} but no {lacks}; give both or neither")
    X = _matrix(folder, "X", path)
    y = (
        check_label_array(_array(folder, "y", path), "y", len(X), f"folder {path}")
        if "y.npy" in present
        else None
    )
    X_test = y_test = None
    if "X_test.npy" in present:
        X_test = _matrix(folder, "X_test", path)
        if X_test.shape[1] != X.shape[1]:
            raise bad(
                f": folder {path}: X_test.npy has {X_test.shape[1]} columns but X.npy "
                f"has {X.shape[1]}; make them match"
            )
        y_test = check_label_array(
            _array(folder, "y_test", path), "y_test", len(X_test), f"folder {path}"
        )
    names = tuple(f"x{j}" for j in range(X.shape[1]))
    return X, y, names, X_test, y_test


def _check_file(file: Path, name: str, path: str) -> None:
    """A DataError unless ``file`` is a regular file that starts as a .npy file does."""
    problem = file_problem(file)
    if problem is not None:
        if problem.startswith("is a directory"):
            problem = "is a directory, not a .npy file"
        raise bad(
            f": folder {path}: {name} {problem.split(';')[0]}; save the array there with "
            f"np.save('{name}', a)"
        )
    try:
        with open(file, "rb") as f:
            magic = f.read(6)
    except OSError as e:
        raise bad(f": folder {path}: {name} cannot be read ({e.strerror or e})") from None
    if magic != b"\x93NUMPY":
        raise bad(
            f": folder {path}: {name} is not a .npy file (it does not start as one); "
            f"save the array with np.save('{name}', a)"
        )


def _array(folder: Path, name: str, path: str, mmap: bool = False) -> np.ndarray:
    try:
        return np.load(folder / f"{name}.npy", mmap_mode="r" if mmap else None, allow_pickle=False)
    except ValueError as e:
        if "allow_pickle" in str(e) or "object" in str(e).lower():
            raise bad(
                f": folder {path}: {name}.npy holds Python objects (dtype object), "
                "which nnclf never unpickles; save numbers (X) or integers or strings "
                f"(labels), e.g. np.save('{name}.npy', a.astype(str))"
            ) from None
        raise bad(f": folder {path}: {name}.npy is not a readable .npy file ({e})") from None
    except OSError as e:
        raise bad(
            f": folder {path}: {name}.npy cannot be read "
            f"({e.strerror or e}); save it again with np.save"
        ) from None


def _matrix(folder: Path, name: str, path: str) -> Rows:
    a = _array(folder, name, path, mmap=True)
    where = f"folder {path}: {name}.npy"
    if a.ndim != 2:
        raise bad(f": {where} must be 2-D (n_samples, n_features), got shape {a.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise bad(f": {where} is empty (shape {a.shape})")
    if not (a.dtype.kind in "iu" or (a.dtype.kind == "f" and a.dtype.itemsize in (4, 8))):
        raise bad(
            f": {where} must hold float32, float64 or integers, got dtype {a.dtype}; "
            "save it with a.astype(np.float32)"
        )
    if not a.flags.c_contiguous:
        raise bad(
            f": {where} is stored in Fortran order, which makes every row a scattered "
            "read; save it with np.save(path, np.ascontiguousarray(a))"
        )
    a = a.view(np.ndarray)  # the map's buffer, without np.memmap's slow indexing
    if not a.dtype.isnative:  # (e.g. big-endian floats): in memory, in the machine's order
        a = a.astype(a.dtype.newbyteorder("="))
    rows = Rows(a)
    step = rows.chunk_rows()
    for start in range(0, len(a) if a.dtype.kind == "f" else 0, step):
        bad_cells = np.argwhere(~np.isfinite(a[start : start + step]))
        if len(bad_cells):
            i, j = bad_cells[0]
            raise bad(
                f": {where} has a non-finite value ({a[start + i, j]}) at row "
                f"{start + i}, column {j} (0-based); remove or impute it"
            )
    return rows


# ----------------------------------------------------------------------------- statistics


def mean_and_scale(X: Rows) -> tuple[np.ndarray, np.ndarray]:
    """The mean and population standard deviation of each feature of X (a constant
    feature's scale is 1), in one pass over its chunks, as float64 of shape (d,) each."""
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler()
    for _, block in X.chunks():
        scaler.partial_fit(block)
    return scaler.mean_.copy(), scaler.scale_.copy()


def log_proba(network, X) -> np.ndarray:
    """``network.predict_log_proba(X)``, chunk by chunk when X is :class:`Rows`. (n, K)."""
    if not isinstance(X, Rows):
        return network.predict_log_proba(X)
    out = np.empty((len(X), network.n_classes))
    for start, block in X.chunks():
        out[start : start + len(block)] = network.predict_log_proba(block)
    return out


def checked_xy(network, X, y):
    """``network._check_xy(X, y)``, X C-contiguous (X None: nothing to check); for
    :class:`Rows`, their width and the labels are checked without reading a row, and the
    rows are given out in the network's dtype."""
    if X is None:
        return X, y
    if not isinstance(X, Rows):
        X, y = network._check_xy(X, y)
        return np.ascontiguousarray(X), y
    network._check_xy(X[:1], np.asarray(y)[:1])
    # An X of zero strides (no memory) of the right shape, to check the labels against.
    _, y = network._check_xy(np.broadcast_to(np.zeros(X.shape[1], network.dtype), X.shape), y)
    return X.standardized(X.mean, X.scale, network.dtype), y


def probabilities(model, X):
    """Yield p(k | x) of a :class:`~nnclf.export.trained.TrainedModel` for the raw rows of X, a
    chunk at a time when X is :class:`Rows` (else all at once), as arrays (rows, K)."""
    if not isinstance(X, Rows):
        yield model.predict_proba(X)
        return
    for _, block in X.chunks():
        yield model.predict_proba(block)


def prepare(model, X):
    """The network's inputs of raw X for a :class:`~nnclf.export.trained.TrainedModel`: a
    standardised view of Rows (nothing read yet), else ``model.prepare(X)``."""
    if not isinstance(X, Rows):
        return model.prepare(X)
    s = model.standardizer
    if X.shape[1] != model.n_features:
        model.prepare(X[:1])  # its error names both widths
    return X.standardized(
        *((s.mean_, s.scale_) if s is not None else (None, None)), dtype=model.network.dtype
    )


# ----------------------------------------------------------------------------- fingerprint


def fingerprint(path: str, source: str, rows: int) -> dict:
    """``{"source", "rows", "sha256"}`` of a folder source, as :func:`nnclf.data.fingerprints.fingerprint`
    gives for other sources; what is hashed is in the module's docstring."""
    folder = Path(path).expanduser()
    digest = hashlib.sha256(b"npy folder;")
    for name in _FILES:
        file = folder / name
        if not file.is_file():
            digest.update(f"{name}: none;".encode())
            continue
        a = np.load(file, mmap_mode="r", allow_pickle=False)
        size = file.stat().st_size
        digest.update(f"{name}: {a.dtype.str}{a.shape} {size};".encode())
        with open(file, "rb") as f:
            if size <= WHOLE_HASH_BYTES:
                digest.update(f.read())
                continue
            digest.update(f"{os.stat(file).st_mtime_ns};".encode())
            for k in range(SAMPLED_BLOCKS):
                f.seek((size - _BLOCK) * k // (SAMPLED_BLOCKS - 1))
                digest.update(f.read(_BLOCK))
    return {"source": source, "rows": int(rows), "sha256": digest.hexdigest()}
