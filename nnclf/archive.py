"""Files written whole or not at all, and the one archive format: arrays plus JSON in an .npz.

Contract
--------
- :func:`atomic_write` (and :func:`atomic_write_text`) write through a temporary file in the
  same directory, fsync it and rename it into place: a reader sees the old file or the
  complete new one, never half of one.
- An *archive* is a numpy ``.npz`` holding named float (or int) arrays and one entry, named by
  the caller, that is a JSON object stored as a numpy unicode string (uint8 UTF-8 bytes are
  read too). Model files (:mod:`nnclf.modelfile`) and checkpoints (:mod:`nnclf.sgd`) are
  archives. :func:`write_archive` writes one atomically; :func:`read_archive` opens it with
  ``allow_pickle=False``, so reading never runs code, and turns every problem into one error
  of the caller's class that names the file.
"""

from __future__ import annotations

import json
import os
import pathlib
import uuid
import zipfile
import zlib
from typing import Callable

import numpy as np

from .errors import NnclfError

__all__ = ["atomic_write", "atomic_write_text", "write_archive", "read_archive", "to_json"]

NOT_NPZ = "is truncated or not an npz file (re-save it or check the path)"


def atomic_write(path, write_fn: Callable) -> pathlib.Path:
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


def atomic_write_text(path, text: str, encoding: str = "utf-8") -> pathlib.Path:
    """Write the string `text` to `path` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda f: f.write(text.encode(encoding)))


def write_archive(path, arrays: dict, meta: dict, *, meta_key: str) -> pathlib.Path:
    """Write ``arrays`` and the JSON object ``meta`` (under ``meta_key``) atomically."""
    text = json.dumps(meta, ensure_ascii=False)
    payload = {meta_key: np.array(text), **arrays}
    return atomic_write(path, lambda f: np.savez(f, **payload))


def read_archive(path, *, meta_key: str, kind: str,
                 error: Callable[[str], NnclfError]) -> tuple[dict[str, np.ndarray], dict]:
    """Read an archive written by :func:`write_archive`.

    Parameters
    ----------
    path : str or os.PathLike
    meta_key : str
        The name of the JSON entry.
    kind : str
        What the file should be, for messages ("an nnclf model").
    error : callable
        ``error(problem)`` builds the exception to raise (it names the file).

    Returns
    -------
    arrays : dict of str to ndarray
        Every entry but the JSON one, as read.
    meta : dict
        The decoded JSON object.
    """
    if not os.path.exists(path):
        raise error("not found")
    if os.path.isdir(path):
        raise error("is a directory, not a file (pass the .npz file)")
    try:
        npz = np.load(path, allow_pickle=False)
    except OSError as exc:
        raise error(f"cannot be read ({exc.strerror or exc})") from None
    except (ValueError, EOFError, zipfile.BadZipFile):  # a pickle, random bytes or a cut zip
        raise error(NOT_NPZ) from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise error(f"is a single .npy array, not {kind}")
    with npz:
        if meta_key not in npz.files:
            raise error(f"is not {kind} (missing {meta_key!r})")
        arrays = {name: _read_entry(npz, name, error) for name in npz.files}
    return arrays, _decode_json(arrays.pop(meta_key), meta_key, kind, error)


def _read_entry(npz, name: str, error) -> np.ndarray:
    try:
        return npz[name]
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise error("contains object arrays; refusing to load") from None
        raise error(NOT_NPZ) from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error):
        raise error(NOT_NPZ) from None


def _decode_json(entry: np.ndarray, meta_key: str, kind: str, error) -> dict:
    if entry.dtype.kind == "U" and entry.ndim == 0:
        text = str(entry[()])
    elif entry.dtype == np.uint8 and entry.ndim == 1:
        text = entry.tobytes().decode("utf-8", errors="replace")
    else:
        raise error(f"is not {kind} ({meta_key!r} is not a JSON string)")
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"has corrupt {meta_key} ({exc}); re-save it") from None
    if not isinstance(meta, dict):
        raise error(f"is not {kind} ({meta_key!r} is not a JSON object)")
    return meta


def to_json(value, where: str):
    """``value`` with numpy values made plain Python; TypeError naming ``where`` if JSON
    cannot hold it."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [to_json(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise TypeError(f"{where} has key {key!r}, which is not a string; use string keys")
        return {str(k): to_json(v, f"{where}[{str(k)!r}]") for k, v in value.items()}
    raise TypeError(f"{where} has type {type(value).__name__}, which JSON cannot store; "
                    "convert it to a list, str, number, bool or None")
