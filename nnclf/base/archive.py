"""Files written whole or not at all, and the one archive format: arrays plus JSON in an .npz.

Contract
--------
- Files are written whole or not at all by :mod:`nnclf.base.outputs` (its rules apply).
- An *archive* is a numpy ``.npz`` holding named float (or int) arrays and one entry, named by
  the caller, that is a JSON object stored as a numpy unicode string (uint8 UTF-8 bytes are
  read too). Model files (:mod:`nnclf.export.modelfile`) and checkpoints (:mod:`nnclf.training.trainer`) are
  archives. :func:`write_archive` writes one atomically; :func:`read_archive` opens it with
  ``allow_pickle=False``, so reading never runs code, and turns every problem into one error
  of the caller's class that names the file. :func:`read_arrays` reads any ``.npz`` the same
  way (the data files of :mod:`nnclf.data.tables`).
"""

from __future__ import annotations

import json
import os
import pathlib
import zipfile
import zlib
from collections.abc import Callable

import numpy as np

from nnclf.base import outputs
from nnclf.errors import NnclfError

__all__ = [
    "write_archive",
    "read_archive",
    "read_arrays",
    "to_json",
]

NOT_NPZ = "is truncated or not an npz file (re-save it or check the path)"


def write_archive(path, arrays: dict, meta: dict, *, meta_key: str) -> pathlib.Path:
    """Write ``arrays`` and the JSON object ``meta`` (under ``meta_key``) atomically."""
    text = json.dumps(meta, ensure_ascii=False)
    payload = {meta_key: np.array(text), **arrays}
    return outputs.atomic_write(path, lambda f: np.savez(f, **payload))


def read_archive(
    path, *, meta_key: str, kind: str, error: Callable[[str], NnclfError]
) -> tuple[dict[str, np.ndarray], dict]:
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
    arrays = read_arrays(path, kind=kind, error=error, required=meta_key)
    return arrays, _decode_json(arrays.pop(meta_key), meta_key, kind, error)


def read_arrays(
    path,
    *,
    kind: str,
    error: Callable[[str], NnclfError],
    required: str | None = None,
    hint: str = "",
) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` at ``path``, opened with ``allow_pickle=False``.

    A file that is missing, a directory, unreadable, not a zip of .npy arrays (random bytes,
    a pickle, a single ``np.save`` array, a truncated or corrupt zip), or holds object
    arrays raises ``error(problem)``; so does one without the array ``required``. ``hint``
    (how to save the file right) ends the problem of a single array or object arrays.
    """
    hint = f"; {hint}" if hint else ""
    if not os.path.exists(path):
        raise error("not found")
    if os.path.isdir(path):
        raise error("is a directory, not a file (pass the .npz file)")
    try:
        npz = np.load(path, allow_pickle=False)
    except OSError as exc:
        raise error(f"cannot be read ({exc.strerror or exc})") from None
    except (ValueError, EOFError, zipfile.BadZipFile, NotImplementedError, RuntimeError):
        # A pickle, random bytes, a cut zip, or a damaged header naming a zip version or
        # method that zipfile lacks, or marking a member encrypted (zipfile's RuntimeError).
        raise error(NOT_NPZ) from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise error(f"is a single .npy array, not {kind}{hint}")
    with npz:
        if required is not None and required not in npz.files:
            raise error(f"is not {kind} (missing {required!r})")
        return {name: _read_entry(npz, name, error, hint) for name in npz.files}


def _read_entry(npz, name: str, error, hint: str = "") -> np.ndarray:
    try:
        value = npz[name]
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise error(f"contains object arrays; refusing to load{hint}") from None
        raise error(NOT_NPZ) from None
    except (
        OSError,
        EOFError,
        zipfile.BadZipFile,
        zlib.error,
        NotImplementedError,
        RuntimeError,
    ):  # RuntimeError: zipfile, on a member whose header says encrypted
        raise error(NOT_NPZ) from None  # NotImplementedError: a zip method numpy cannot read
    except MemoryError:  # a header that declares an enormous array
        raise error(f"declares an array ({name!r}) too large to load; {NOT_NPZ}") from None
    if not isinstance(value, np.ndarray):  # numpy hands back the bytes of a non-.npy member
        raise error(f"holds {name!r}, which is not a numpy array; {NOT_NPZ}")
    return value


class _LongInteger(Exception):
    """An integer in JSON text longer than any nnclf writes (its digit count)."""


def _json_int(text: str) -> int:
    # nnclf writes integers of at most 39 digits (a generator's 128-bit state); Python
    # refuses to read one of more than 4300, with a traceback.
    if len(text.lstrip("-")) > 1000:
        raise _LongInteger(len(text.lstrip("-")))
    return int(text)


def _decode_json(entry: np.ndarray, meta_key: str, kind: str, error) -> dict:
    if entry.dtype.kind == "U" and entry.ndim == 0:
        text = str(entry[()])
    elif entry.dtype == np.uint8 and entry.ndim == 1:
        text = entry.tobytes().decode("utf-8", errors="replace")
    else:
        raise error(f"is not {kind} ({meta_key!r} is not a JSON string)")
    try:
        meta = json.loads(text, parse_int=_json_int)
    except json.JSONDecodeError as exc:
        raise error(f"has corrupt {meta_key} ({exc}); re-save it") from None
    except _LongInteger as exc:
        raise error(
            f"has an integer of {exc} digits in its {meta_key}; the file was edited or "
            "damaged: use the file nnclf wrote"
        ) from None
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
    raise TypeError(
        f"{where} has type {type(value).__name__}, which JSON cannot store; "
        "convert it to a list, str, number, bool or None"
    )
