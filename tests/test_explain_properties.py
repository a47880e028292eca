"""Property test of the explain page's data on random graphs: what it shows of each vertex
agrees with the passes, and its path sums and its edge terms both make p^j (the notes'
theorem and the backward pass's sum), to the 6 digits shown."""

from __future__ import annotations

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")  # in the test extra: pip install ".[test]"
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import nnclf.graph as F  # noqa: E402
from nnclf.graph import Graph  # noqa: E402
from nnclf.graph.explain import describe  # noqa: E402

FUNCTIONS = [F.add, F.mul, F.tanh, F.sigmoid]


@st.composite
def graphs(draw):
    """A random graph of scalar vertices: 1-3 leaves, then 1-6 vertices of add, mul, tanh and
    sigmoid, each of earlier vertices (a parent may repeat); values in [-2, 2]."""
    g = Graph()
    leaves = draw(st.integers(1, 3))
    values = {}
    for k in range(leaves):
        g.leaf(f"x{k}")
        values[f"x{k}"] = draw(st.floats(-2, 2, allow_nan=False))
    for k in range(draw(st.integers(1, 6))):
        fn = draw(st.sampled_from(FUNCTIONS))
        parents = [draw(st.integers(1, g.n)) for _ in range(fn.arity)]
        g.vertex(f"v{k}", fn, *(g.vertices[p - 1].name for p in parents))
    return g, g.forward(values)


def close(a, b) -> bool:
    return np.allclose(a, b, rtol=2e-5, atol=1e-9)


def sums_to(terms, total) -> bool:
    """Terms shown to 6 significant digits add up to ``total`` within their rounding, which
    scales with the terms, not with their sum (they may cancel)."""
    terms, total = np.asarray(terms, dtype=float), np.asarray(total, dtype=float)
    scale = np.maximum(np.abs(terms).sum(axis=0), np.abs(total))
    return bool(np.all(np.abs(terms.sum(axis=0) - total) <= 2e-5 * scale + 1e-9))


@settings(max_examples=60)
@given(graphs())
def test_what_the_page_shows_makes_p_both_ways(case):
    g, values = case
    d = describe(g, values)
    p = g.backward(values, wrt=[v.name for v in g.vertices])
    assert [(e["j"], e["i"]) for e in d["edges"]] == g.edges
    for v in d["vertices"]:
        assert close(v["u"]["v"], np.ravel(values[v["name"]]))
        assert close(v["p"]["v"], np.ravel(p[v["name"]]))
        paths = d["paths"].get(str(v["i"]))
        if v["i"] == g.n:
            continue
        assert paths["count"] == g.count_paths(v["i"])
        if paths["count"]:
            assert close(paths["sum"]["v"], v["p"]["v"])
        terms = [e["term"]["v"] for e in d["edges"] if e["j"] == v["i"]]
        assert sums_to(terms if terms else [[0.0]], v["p"]["v"])
