"""The fingerprint of a run's data: what identifies its contents, to refuse changed data.

Contract
--------
:func:`fingerprint` of a :class:`~nnclf.data.sources.Dataset` is ``{"source", "rows", "sha256"}``;
two loads of the same data give the same one, and :func:`data_changed` says in words what
differs between two. A run records its data's fingerprint (metrics.json, the model file) so
that ``nnclf evaluate`` and ``--resume`` refuse a test split re-created from changed data.
"""

from __future__ import annotations

import hashlib

import numpy as np

from nnclf.data.frame import Frame
from nnclf.data.npyfolder import Rows
from nnclf.data.npyfolder import fingerprint as folder_fingerprint

__all__ = ["fingerprint", "data_changed"]


def fingerprint(ds) -> dict:
    """What identifies the contents of ``ds``: ``{"source", "rows", "sha256"}``, the digest
    of X, y, X_test and y_test (dtypes, shapes and values, in order).

    Two loads of the same data give the same fingerprint; any change to a value, the order
    of the rows, or their number gives another (see :func:`data_changed`). A folder source
    is fingerprinted without reading all of a large X (:func:`nnclf.data.npyfolder.fingerprint`).
    """
    if isinstance(ds.X, Rows):
        rows = len(ds.X) + (len(ds.X_test) if ds.X_test is not None else 0)
        return folder_fingerprint(ds.source.strip(), ds.source, rows)
    digest = hashlib.sha256()
    for a in (ds.X, ds.y, ds.X_test, ds.y_test):
        if a is None:
            digest.update(b"none;")
            continue
        if isinstance(a, Frame):
            _frame_digest(digest, a)
            continue
        a = np.ascontiguousarray(a)
        digest.update(f"{a.dtype.str}{a.shape};".encode())
        digest.update(a if a.dtype != object else a.tobytes())  # (its buffer: no copy)
    rows = len(ds.X) + (len(ds.X_test) if ds.X_test is not None else 0)
    return {"source": ds.source, "rows": int(rows), "sha256": digest.hexdigest()}


def _frame_digest(digest, frame: Frame) -> None:
    """Feed a Frame's names, kinds and values to ``digest``."""
    digest.update(f"frame{frame.shape};".encode())
    for name, values in frame.columns.items():
        digest.update(f"{name!r}:{values.dtype.str};".encode())
        if frame.is_text(name):
            cells = ("\x00" if v is None else v.replace("\x1f", "\x1f\x1f") for v in values)
            digest.update("\x1f".join(cells).encode("utf-8", "surrogatepass"))
        else:
            digest.update(np.ascontiguousarray(values).tobytes())


def data_changed(before: dict, now: dict, source: str) -> str | None:
    """What changed in ``source`` between two fingerprints, in words; None if nothing."""
    if before.get("sha256") == now.get("sha256"):
        return None
    rows = before.get("rows")
    how = (
        f"{rows} rows then, {now['rows']} now"
        if rows != now["rows"]
        else f"the same {rows} rows, but other values or another order"
    )
    return f"the data {source} has changed since the run was trained ({how})"
