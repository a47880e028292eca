"""exp and expm1 of the compiled kernels (nnclf.graph.functions) against numpy's, read as plain
Python (the compiled engine's tests run them jitted, in float64 and float32)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nnclf.graph.functions import exp_nonpositive, expm1_nonnegative


@given(st.floats(min_value=-708.0, max_value=0.0))
def test_exp_is_numpys_to_two_units_in_the_last_place(x):
    np.testing.assert_array_max_ulp(exp_nonpositive(np.float64(x)), np.exp(x), maxulp=2)


@given(st.floats(min_value=0.0, max_value=40.0))
def test_expm1_is_numpys_to_two_units_in_the_last_place(y):
    np.testing.assert_array_max_ulp(expm1_nonnegative(np.float64(y)), np.expm1(y), maxulp=2)


@pytest.mark.parametrize(
    "x, expected", [(0.0, 1.0), (-0.0, 1.0), (-708.5, 0.0), (-np.inf, 0.0), (-1e-300, 1.0)]
)
def test_exp_at_the_edges(x, expected):
    assert exp_nonpositive(np.float64(x)) == expected


def test_nan_stays_nan():
    assert np.isnan(exp_nonpositive(np.float64(np.nan)))
    assert np.isnan(expm1_nonnegative(np.float64(np.nan)))
