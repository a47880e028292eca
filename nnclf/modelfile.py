"""Model files: the parameters W, b, V, gamma and their metadata in one ``.npz``.

Contract
--------
A model file is a numpy ``.npz`` archive holding four float arrays ``W`` (m, d),
``b`` (m,), ``V`` (K, m), ``gamma`` (K,) and one entry ``metadata``: a JSON object
stored as a numpy unicode string (uint8 UTF-8 bytes are accepted too), never a pickle.
The metadata always carries ``format`` ("nnclf-model"), ``format_version`` and
``nnclf_version``; callers add ``classes``, ``feature_names``, ``standardizer``,
``transfer``, ``config`` or anything else that JSON can hold.

- :func:`save_model` validates before writing and writes atomically: a crash never
  leaves a half-written model, and an existing file is replaced only by a complete one.
- :func:`load_model` opens files with ``allow_pickle=False``, so loading can never run
  code, and turns every problem into one :class:`ModelFileError` line naming the file.
- :func:`atomic_write` and :func:`atomic_write_text` give the same guarantee to any
  other file (json, csv, yaml).
"""

import json
import os
import pathlib
import uuid
import zipfile
import zlib

import numpy as np

import nnclf

FORMAT = "nnclf-model"
FORMAT_VERSION = 1
PARAM_NAMES = ("W", "b", "V", "gamma")
_NOT_NPZ = "is truncated or not an npz file (re-save the model or check the path)"


class ModelFileError(ValueError):
    """A model file cannot be written or read; the message names the file and the fix."""


def atomic_write(path, write_fn):
    """Write a file so that readers see either the old content or the complete new one.

    ``write_fn(f)`` writes to a temporary file ``f`` (opened in binary mode) in the same
    directory; the file is fsynced and then moved onto `path` with :func:`os.replace`.
    On any exception the temporary file is removed and the exception re-raised.

    Returns
    -------
    pathlib.Path
        `path`, exactly as given.
    """
    path = pathlib.Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    # os.open with mode 0o666 (unlike mkstemp's 0o600) lets the umask decide permissions.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write_fn(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path, text, encoding="utf-8"):
    """Write the string `text` to `path` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda f: f.write(text.encode(encoding)))


def save_model(path, params, metadata):
    """Validate `params` and `metadata` and write them atomically to the model file `path`.

    Parameters
    ----------
    path : str or os.PathLike
        Destination, kept exactly as given (no ``.npz`` suffix is added).
    params : dict of str to ndarray
        Float arrays ``W`` (m, d), ``b`` (m,), ``V`` (K, m), ``gamma`` (K,).
    metadata : dict
        JSON-serialisable after numpy scalars and arrays become plain Python values.
        ``format``, ``format_version`` and ``nnclf_version`` are set here.

    Returns
    -------
    pathlib.Path
    """
    extra = sorted(set(params) - set(PARAM_NAMES))
    if extra:
        raise _error(path, f"unexpected parameter {extra[0]!r}; expected W, b, V, gamma")
    arrays = _check_params({name: params.get(name) for name in PARAM_NAMES}, path)
    if not isinstance(metadata, dict):
        raise _error(path, f"metadata has type {type(metadata).__name__}; pass a dict")
    try:
        metadata = _to_json(metadata, "metadata")
    except TypeError as exc:
        raise _error(path, str(exc)) from None
    metadata.update(format=FORMAT, format_version=FORMAT_VERSION, nnclf_version=nnclf.__version__)
    text = json.dumps(metadata, ensure_ascii=False)
    try:
        return atomic_write(path, lambda f: np.savez(f, metadata=np.array(text), **arrays))
    except OSError as exc:
        raise _error(path, f"cannot be written ({exc.strerror or exc}); "
                     "check that the directory exists and is writable") from None


def load_model(path):
    """Read a model file written by :func:`save_model`, refusing anything that could run code.

    Parameters
    ----------
    path : str or os.PathLike
        The model file.

    Returns
    -------
    params : dict of str to ndarray
        ``W`` (m, d), ``b`` (m,), ``V`` (K, m), ``gamma`` (K,): float64, C-contiguous, writable.
    metadata : dict
        The decoded JSON metadata.

    Raises
    ------
    ModelFileError
        If the file is missing, not an npz, not an nnclf model, from a newer nnclf,
        inconsistent, or contains object (pickled) arrays.
    """
    if not os.path.exists(path):
        raise _error(path, "not found")
    if os.path.isdir(path):
        raise _error(path, "is a directory, not a file (pass the .npz file)")
    try:
        npz = np.load(path, allow_pickle=False)
    except OSError as exc:
        raise _error(path, f"cannot be read ({exc.strerror or exc})") from None
    except (ValueError, EOFError, zipfile.BadZipFile):  # a pickle, random bytes or a cut zip
        raise _error(path, _NOT_NPZ) from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise _error(path, "is a single .npy array, not an nnclf model")
    with npz:
        if "metadata" not in npz.files:
            raise _error(path, "is not an nnclf model (missing 'metadata')")
        metadata = _decode_metadata(_read_entry(npz, "metadata", path), path)
        for name in PARAM_NAMES:
            if name not in npz.files:
                raise _error(path, f"is not an nnclf model (missing parameter {name!r})")
        params = _check_params({name: _read_entry(npz, name, path) for name in PARAM_NAMES}, path)
    # A copy is always float64, C-contiguous and writable, whatever the file held.
    return {k: np.array(v, dtype=np.float64, order="C") for k, v in params.items()}, metadata


def _error(path, problem):
    return ModelFileError(f"model file '{path}': {problem}")


def _read_entry(npz, name, path):
    try:
        return npz[name]
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise _error(path, "contains object arrays; refusing to load") from None
        raise _error(path, _NOT_NPZ) from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error):
        raise _error(path, _NOT_NPZ) from None


def _decode_metadata(entry, path):
    if entry.dtype.kind == "U" and entry.ndim == 0:
        text = str(entry[()])
    elif entry.dtype == np.uint8 and entry.ndim == 1:
        text = entry.tobytes().decode("utf-8", errors="replace")
    else:
        raise _error(path, "is not an nnclf model ('metadata' is not a JSON string)")
    try:
        metadata = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _error(path, f"has corrupt metadata ({exc}); re-save the model") from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise _error(path, f"is not an nnclf model (metadata format is not {FORMAT!r})")
    version = metadata.get("format_version")
    if type(version) is not int or version < 1:
        raise _error(path, f"has an invalid format_version {version!r}; re-save the model")
    if version > FORMAT_VERSION:
        raise _error(path, f"was written by a newer nnclf (format version {version} > "
                     f"{FORMAT_VERSION}); upgrade nnclf")
    return metadata


def _check_params(params, path):
    """Check dtypes and shapes W (m, d), b (m,), V (K, m), gamma (K,); return ndarrays."""
    arrays = {}
    for name in PARAM_NAMES:
        if params[name] is None:
            raise _error(path, f"parameter {name!r} is missing; pass all of W, b, V, gamma")
        arrays[name] = np.asarray(params[name])
        if not np.issubdtype(arrays[name].dtype, np.floating):
            raise _error(path, f"parameter {name!r} has dtype {arrays[name].dtype}; "
                         "expected a float array")
    W, b, V, gamma = (arrays[name] for name in PARAM_NAMES)
    if W.ndim != 2:
        raise _error(path, f"parameter 'W' has shape {W.shape}; expected (m, d)")
    m = W.shape[0]
    if b.shape != (m,):
        raise _error(path, f"parameter 'b' has shape {b.shape} but W has {m} hidden units")
    if V.ndim != 2 or V.shape[1] != m:
        raise _error(path, f"parameter 'V' has shape {V.shape} but W has {m} hidden units")
    if gamma.shape != (V.shape[0],):
        raise _error(path, f"parameter 'gamma' has shape {gamma.shape} "
                     f"but V has {V.shape[0]} classes")
    return arrays


def _to_json(value, where):
    """Return `value` with numpy values made plain Python; TypeError naming `where` if not."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_to_json(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise TypeError(f"{where} has key {key!r}, which is not a string; use string keys")
        return {str(k): _to_json(v, f"{where}[{str(k)!r}]") for k, v in value.items()}
    raise TypeError(f"{where} has type {type(value).__name__}, which JSON cannot store; "
                    "convert it to a list, str, number, bool or None")
