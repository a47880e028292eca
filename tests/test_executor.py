"""The compiled passes (nnclf.graph.executor) against the plain graph's forward and backward, and
the generated code: no user text in it, its own namespace, tracebacks that show it."""

import numpy as np
import pytest
from notes_reference import REAL_LEAVES, diamonds, network_leaves, notes_example
from notes_reference import notes_network as network

import nnclf.graph as F
from nnclf.errors import GraphError
from nnclf.graph.executor import Executor
from nnclf.graph.graph import Graph

COMPILED = dict(rtol=1e-12, atol=1e-12)  # executor vs plain graph

TRANSFER_NAMES = sorted(F.TRANSFERS)


# --------------------------------------------------------------------------- compiled executor


@pytest.mark.parametrize("transfer", TRANSFER_NAMES)
def test_compiled_matches_graph_over_random_values_and_shape_changes(transfer):
    g = network(F.get_transfer(transfer))
    ex = g.compile()
    assert isinstance(ex, Executor)
    rng = np.random.default_rng(600)
    for batch in [None, None, 4, 4, 7, None, 1, None]:
        for _ in range(3):
            leaves = network_leaves(rng, batch)
            output = ex.forward(leaves)
            grads = {k: np.copy(v) for k, v in ex.backward().items()}
            values = g.forward(leaves)
            expected = g.backward(values)
            np.testing.assert_allclose(float(output), float(values["o"]), **COMPILED)
            np.testing.assert_allclose(ex.value("h"), values["h"], **COMPILED)
            assert set(grads) == set(expected)
            for name in expected:
                assert np.shape(grads[name]) == np.shape(leaves[name])
                np.testing.assert_allclose(grads[name], expected[name], **COMPILED)


def test_compiled_wrt_subset():
    g = network(F.sigmoid)
    ex = g.compile(wrt=("W", "V"))
    assert g.compile(wrt=("W", "V")) is ex
    leaves = network_leaves(np.random.default_rng(700), batch=3)
    ex.forward(leaves)
    grads = ex.backward()
    assert set(grads) == {"W", "V"}
    expected = g.backward(g.forward(leaves), wrt=("W", "V"))
    for name in ("W", "V"):
        np.testing.assert_allclose(grads[name], expected[name], **COMPILED)


@pytest.mark.parametrize("build", [notes_example, lambda: diamonds(3)], ids=["notes", "diamonds"])
def test_compiled_accumulates_over_shared_parents(build):
    g = build()
    ex = g.compile()
    rng = np.random.default_rng(800)
    for _ in range(10):
        leaves = {v.name: np.array(rng.uniform(0.5, 0.9)) for v in g.leaves}
        output = ex.forward(leaves)
        grads = {k: float(v) for k, v in ex.backward().items()}
        values = g.forward(leaves)
        assert float(output) == pytest.approx(float(values[g.output.name]), rel=1e-12)
        for name, p in g.backward(values).items():
            assert grads[name] == pytest.approx(float(p), rel=1e-12)


def test_compiled_backward_is_linear_in_the_seed():
    g = network(F.tanh)
    ex = g.compile()
    leaves = network_leaves(np.random.default_rng(900), batch=4)
    ex.forward(leaves)
    unit = {k: np.copy(v) for k, v in ex.backward().items()}
    for seed in (-0.1, 2.5, 0.0, 1.0):
        scaled = ex.backward(seed=seed)
        for name in unit:
            np.testing.assert_allclose(scaled[name], seed * unit[name], **COMPILED)


def test_compiled_sees_leaves_updated_in_place():
    g = network(F.tanh)
    ex = g.compile(wrt=("W", "b", "V", "gamma"))
    leaves = network_leaves(np.random.default_rng(1000))
    losses = []
    for _ in range(5):
        losses.append(float(ex.forward(leaves)))
        assert losses[-1] == pytest.approx(float(g.forward(leaves)["o"]), rel=1e-12)
        # One SGD step, written into the very arrays the executor holds.
        for name, step in ex.backward(seed=-0.5).items():
            leaves[name] += step
    assert losses[-1] < losses[0]
    leaves["W"] *= 2.0
    assert float(ex.forward(leaves)) == pytest.approx(float(g.forward(leaves)["o"]), rel=1e-12)


def test_compiled_errors():
    g = network(F.tanh)
    ex = g.compile()
    with pytest.raises(GraphError, match="backward: run forward first"):
        ex.backward()
    leaves = network_leaves(np.random.default_rng(1100))
    del leaves["y"]
    with pytest.raises(GraphError, match="forward: no value for leaf 'y'"):
        ex.forward(leaves)
    with pytest.raises(
        GraphError,
        match="compile: no vertex named 'zz'; vertices are W, x, b, V, gamma, y, z, h, l, q, o",
    ):
        g.compile(wrt=["W", "zz"])
    with pytest.raises(GraphError, match=r"compile: no vertex 12; vertices are numbered 1\.\.11"):
        g.compile(wrt=[1, 12])
    ex = g.compile(wrt=["W", "z"])
    ex.forward(network_leaves(np.random.default_rng(1100)))
    with pytest.raises(
        GraphError,
        match="backward: into names 'z', which is not a leaf; into adds "
        "p\\^j into the arrays of leaves only",
    ):
        ex.backward(1.0, into={"z": np.zeros(4)})
    with pytest.raises(
        GraphError,
        match="backward: into names 'V', which is not among the "
        r"vertices this executor differentiates \(W, z\)",
    ):
        ex.backward(1.0, into={"V": np.zeros((3, 4))})


def test_compiled_accepts_the_same_leaf_values_as_graph_forward():
    g = network(F.tanh)
    leaves = network_leaves(np.random.default_rng(1200))
    as_lists = {k: (v.tolist() if np.ndim(v) else v) for k, v in leaves.items()}
    expected = float(g.forward(as_lists)["o"])
    assert float(g.compile().forward(as_lists)) == pytest.approx(expected, rel=1e-12)


# --------------------------------------------------------------------------- generated code

# Each payload keeps the generated code valid Python if pasted into a comment: it ends that
# comment with a newline, runs one indented statement, and comments out the rest of the line.
PAYLOADS = {
    "os.system": "\n    import os; os.system('echo pwned')  #",
    "global flag": "\n    __import__('sys').nnclf_pwned = True  #",
}


def hostile_network(payload):
    """The notes' network with the payload appended to every vertex and function name."""
    g = Graph()
    W, x, b, V, gamma, y = (g.leaf(name + payload) for name in ("W", "x", "b", "V", "gamma", "y"))
    tanh = F.elementwise(
        "tanh" + payload,
        np.tanh,
        lambda z, h, out=None: np.subtract(1.0, np.multiply(h, h, out=out), out=out),
    )
    z = g.vertex("z" + payload, F.affine, W, x, b)
    h = g.vertex("h" + payload, tanh, z)
    l_ = g.vertex("l" + payload, F.affine, V, h, gamma)
    q = g.vertex("q" + payload, F.log_softmax, l_)
    g.vertex("o" + payload, F.neg_pick, q, y)
    return g


@pytest.mark.parametrize("payload", list(PAYLOADS.values()), ids=list(PAYLOADS))
def test_hostile_names_never_run_as_code(payload, monkeypatch):
    import os
    import sys

    ran = []
    monkeypatch.setattr(os, "system", lambda command: ran.append(command) or 0)
    monkeypatch.setattr(sys, "nnclf_pwned", False, raising=False)
    g = hostile_network(payload)
    leaves = {name + payload: v for name, v in network_leaves(np.random.default_rng(1300)).items()}
    expected = g.backward(g.forward(leaves), wrt=[n + payload for n in REAL_LEAVES])
    ex = g.compile(wrt=[n + payload for n in REAL_LEAVES])
    for run in ("forward", "backward", "backward into"):
        ex.forward(leaves)
        if run == "backward":
            grads = ex.backward()
            for name in expected:
                np.testing.assert_allclose(grads[name], expected[name], **COMPILED)
        elif run == "backward into":
            sums = {name: np.zeros_like(value) for name, value in expected.items()}
            ex.backward(1.0, into=sums)
            for name in expected:
                np.testing.assert_allclose(sums[name], expected[name], **COMPILED)
        assert ran == [] and sys.nnclf_pwned is False, f"the payload ran in {run}"
    assert payload.strip() not in ex.source()


def test_source_holds_no_vertex_or_function_name():
    g = Graph()
    leaves = [g.leaf(name) for name in ("WEIGHTS", "INPUT", "BIAS", "CLASS")]
    square = F.LocalFunction("SQUARE", lambda a: a * a, vjps=[lambda g_, ans, a: 2 * g_ * a])
    s = g.vertex("HIDDEN", F.affine, *leaves[:3])
    t = g.vertex("SQUARED", square, s)
    u = g.vertex("LOGPROB", F.log_softmax, t)
    g.vertex("LOSS", F.neg_pick, u, leaves[3])
    ex = g.compile(wrt=["WEIGHTS", "BIAS"])
    values = {
        "WEIGHTS": np.ones((3, 2)),
        "INPUT": np.ones(2),
        "BIAS": np.zeros(3),
        "CLASS": np.int64(1),
    }
    ex.forward(values)
    ex.backward(-0.1, into={"WEIGHTS": values["WEIGHTS"], "BIAS": values["BIAS"]})
    text = ex.source()
    for name in [v.name for v in g.vertices] + ["affine", "SQUARE", "log_softmax", "neg_pick"]:
        assert name not in text
    # The notes' numbers, 1-based: leaves 1..4, then z = u^5, ..., o = u^8.
    assert "u[5] = f5(u[1], u[2], u[3], out=o5)  # u^5 = f^5(u^1, u^2, u^3)" in text
    assert "p[7] = v8_7_1(p[8], u[8], u[7], u[4], out=b8_7_1)  # p^7 = p^8 J^{7->8}" in text
    assert "# t[1] (p^3) += p^5 J^{3->5}" in text


def _raising_graph():
    """u^2 = f^2(u^1), whose forward fails on negative input: the compiled pass meets it."""

    def forward(a):
        if np.any(a < 0):
            raise RuntimeError("a negative entry")
        return 2.0 * a

    g = Graph()
    g.vertex("o", F.LocalFunction("double", forward, vjps=[lambda p, ans, a: 2.0 * p]), g.leaf("a"))
    return g


def test_a_traceback_through_generated_code_shows_its_lines():
    import traceback

    ex = _raising_graph().compile()
    ex.forward({"a": np.array(1.0)})
    with pytest.raises(RuntimeError, match="a negative entry") as info:
        ex.forward({"a": np.array(-1.0)})
    text = "".join(traceback.format_exception(info.value))
    assert 'File "<nnclf executor pass ' in text
    assert "u[2] = f2(u[1], out=None)  # u^2 = f^2(u^1)" in text


def test_each_pass_has_its_own_namespace_and_file_name_while_it_lives():
    import gc
    import linecache

    g = _raising_graph()
    ex = g.compile()
    ex.forward({"a": np.array(1.0)})
    ex.backward(1.0, into={"a": np.zeros(())})
    passes = [ex._plan.forward, ex._plan.backward, *ex._plan.into.values()]
    assert len({id(f.__globals__) for f in passes}) == 3
    files = {f.__code__.co_filename for f in passes}
    assert len(files) == 3 and all(linecache.getline(name, 1).startswith("def ") for name in files)
    del g, ex, passes
    gc.collect()
    _raising_graph().compile().forward({"a": np.array(1.0)})  # the next pass built
    assert not files & set(linecache.cache)  # dropped after the code, so nothing piles up
