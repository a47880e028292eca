"""Arrays whose data start on a cache line: the parameters and buffers an SGD step streams.

Contract
--------
:func:`aligned` copies an array (in C order, in a given dtype) into memory that starts at a
multiple of :data:`ALIGNMENT` bytes; :func:`aligned_zeros` and :func:`aligned_zeros_like`
give zeros so placed. The values are those of ``numpy.array(a, dtype)``,
``numpy.zeros(shape, dtype)`` and ``numpy.zeros_like(a)``; only where they lie differs. numpy's allocator leaves a large array 16 bytes past a page boundary or on
another 16-byte step, which varies from process to process, and a 512 x 64 weight matrix
that starts 16 bytes into a cache line took a compiled float64 step 10 to 15% longer than
one that starts on it, on a 2-core AMD EPYC with AVX-512 (``docs/performance.md``), where
every 64-byte vector load across a line boundary touches two lines.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ALIGNMENT", "aligned", "aligned_zeros", "aligned_zeros_like"]

ALIGNMENT = 64
"""Bytes: a cache line, and the width of an AVX-512 register."""


def _placed(shape: tuple, dtype) -> np.ndarray:
    """An uninitialised C-ordered array of ``shape`` and ``dtype`` starting on ALIGNMENT."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    buffer = np.empty(size + ALIGNMENT, dtype=np.uint8)
    start = -buffer.ctypes.data % ALIGNMENT
    return buffer[start : start + size].view(dtype).reshape(shape)


def aligned(a, dtype=None) -> np.ndarray:
    """A copy of ``a`` in ``dtype`` (default: its own) starting on ALIGNMENT bytes."""
    a = np.asarray(a)
    out = _placed(a.shape, a.dtype if dtype is None else dtype)
    out[...] = a
    return out


def aligned_zeros(shape, dtype=np.float64) -> np.ndarray:
    """Zeros of ``shape`` and ``dtype`` starting on ALIGNMENT bytes."""
    out = _placed((shape,) if isinstance(shape, int) else tuple(shape), dtype)
    out[...] = 0
    return out


def aligned_zeros_like(a) -> np.ndarray:
    """Zeros of ``a``'s shape and dtype starting on ALIGNMENT bytes."""
    return aligned_zeros(np.shape(a), np.asarray(a).dtype)
