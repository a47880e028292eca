"""Arrays on a cache line (nnclf.base.memory): the values numpy gives, 64-byte aligned, and
the parameters, optimizer state and compiled buffers a step streams placed so."""

import numpy as np
import pytest

from nnclf.base.memory import ALIGNMENT, aligned, aligned_zeros, aligned_zeros_like
from nnclf.graph.network import Network
from nnclf.training.optimizers import Rule
from nnclf.training.updates import RULES


def _on_a_line(a: np.ndarray) -> bool:
    return a.ctypes.data % ALIGNMENT == 0 or a.size == 0  # (an empty array holds no data)


@pytest.mark.parametrize("shape", [(0,), (1,), (3,), (7, 5), (512, 64), (2, 3, 4)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.uint8])
def test_an_aligned_copy_holds_the_values_numpy_gives(shape, dtype):
    rng = np.random.default_rng(0)
    a = rng.normal(size=shape) * 100
    got = aligned(a, dtype)
    expected = np.array(a, dtype=dtype)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert got.tobytes() == expected.tobytes() and got.flags.c_contiguous
    assert _on_a_line(got) and got.flags.writeable
    assert not np.shares_memory(got, a)
    zeros = aligned_zeros_like(expected)
    assert zeros.tobytes() == np.zeros_like(expected).tobytes() and _on_a_line(zeros)
    zeros = aligned_zeros(shape, dtype)
    assert zeros.dtype == expected.dtype and zeros.shape == expected.shape
    assert zeros.tobytes() == np.zeros(shape, dtype).tobytes() and _on_a_line(zeros)


def test_an_aligned_copy_of_a_strided_view_is_c_ordered():
    a = np.arange(60.0).reshape(6, 10)[:, ::3]
    got = aligned(a)
    assert np.array_equal(got, a) and got.flags.c_contiguous and _on_a_line(got)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_parameters_and_optimizer_state_start_on_a_cache_line(dtype):
    net = Network(64, [100, 30], 10, seed=0, dtype=dtype)
    rebuilt = Network.from_params(net.params, dtype=dtype)
    for params in (net.params, rebuilt.params):
        assert all(_on_a_line(p) and p.dtype == dtype for p in params.values())
    assert all(np.array_equal(rebuilt.params[k], net.params[k]) for k in net.params)
    state = Rule(RULES["adam"]).init(net.params)
    slots = [a for slot in state.values() for a in slot.values() if a.shape != (1,)]
    assert slots and all(_on_a_line(a) for a in slots)
