"""The notes' statements for every vertex, not only the leaves, against hand computation and
central differences of f-bar computed here.

- p^i for any i (the correctness theorem "for all p^i"): p^z, p^h, ... on the network;
- P(j, k) and the path-sum theorem for any j and any non-leaf k, counted before enumerated;
- f-bar^k, the global function, and the notes' definition p^j = d f-bar^n / du^j;
- leaves cast to the graph's dtype in every pass (integer leaves, float32 graphs).
"""

import numpy as np
import pytest
from notes_reference import (
    REAL_LEAVES,
    TRANSFER_CLOSED_FORMS,
    central_differences,
    diamonds,
    network_leaves,
    notes_example,
)
from notes_reference import notes_network as network

import nnclf.graph as F
from nnclf.errors import GraphError
from nnclf.graph.gradcheck import gradcheck
from nnclf.graph.graph import Graph
from nnclf.graph.network import Network

FD_TOL = dict(rtol=1e-6, atol=1e-8)
SAME = dict(rtol=1e-10, atol=1e-12)


def _softmax(L):
    E = np.exp(L - np.max(L, axis=-1, keepdims=True))
    return E / np.sum(E, axis=-1, keepdims=True)


def _by_hand(leaves, transfer):
    """z, g'(z), softmax(l) and p^l = (softmax(l) - e_y) / B, p^h = p^l V, p^z = p^h * g'(z)
    for one example or a batch (the loss is the mean over the rows)."""
    g, dg = TRANSFER_CLOSED_FORMS[transfer]
    W, x, b, V, gamma, y = (leaves[k] for k in ("W", "x", "b", "V", "gamma", "y"))
    z = x @ W.T + b
    P = _softmax(g(z) @ V.T + gamma)
    rows = 1 if np.ndim(x) == 1 else len(x)
    p_l = (P - np.eye(P.shape[-1])[y]) / rows
    p_h = p_l @ V  # V^T (softmax(l) - e_y)
    return {"z": z, "dg": dg(z), "P": P, "l": p_l, "h": p_h, "z_p": p_h * dg(z)}


# --------------------------------------------------------------------------- p^i for any i


@pytest.mark.parametrize("transfer", sorted(TRANSFER_CLOSED_FORMS))
@pytest.mark.parametrize("batch", [None, 4], ids=["single", "batch"])
def test_p_of_inner_vertices_by_hand(transfer, batch):
    g = network(F.get_transfer(transfer))
    leaves = network_leaves(np.random.default_rng(10), batch)
    hand = _by_hand(leaves, transfer)
    values = g.forward(leaves)
    # p^q = -e_y (divided by B for the mean over a batch), p^o = 1.
    rows = 1 if batch is None else batch
    p_q = np.zeros((rows, values["q"].shape[-1]))
    p_q[np.arange(rows), np.atleast_1d(leaves["y"])] = -1.0 / rows
    expected = {
        "h": hand["h"],
        "z": hand["z_p"],
        "l": hand["l"],
        "q": p_q.reshape(values["q"].shape),
        "o": 1.0,
    }
    ex = g.compile(wrt=["z", "h", "l", "q", "o", "W"])
    ex.forward(leaves)
    results = {
        "vjp": g.backward(values, wrt=["z", "h", "l", "q", "o", "W"]),
        "jacobian": g.backward(values, mode="jacobian", wrt=["z", "h", "l", "q", "o", "W"]),
        "compiled": ex.backward(),
    }
    for mode, p in results.items():
        assert list(p) == ["z", "h", "l", "q", "o", "W"]
        for name, value in expected.items():
            assert np.shape(p[name]) == np.shape(values[name]), (mode, name)
            np.testing.assert_allclose(p[name], value, **SAME, err_msg=f"{mode} p^{name}")


def test_inner_vertices_by_number_are_the_same_as_by_name():
    g = network(F.tanh)
    values = g.forward(network_leaves(np.random.default_rng(11)))
    by_name = g.backward(values, wrt=["z", "h"])
    by_number = g.backward(values, wrt=[7, 8])
    assert list(by_number) == ["z", "h"]
    for name in by_name:
        np.testing.assert_array_equal(by_number[name], by_name[name])
    np.testing.assert_array_equal(g.backward(values, wrt=1)["W"], g.backward(values)["W"])


def test_p_of_an_inner_vertex_is_du_n_du_i_with_u_i_a_free_input():
    # Cut the notes' example at u3: u4 = u2 * u3 as a function of a free u3 has
    # du4/du3 = u2; the pass gives p^3 = p^4 J^{3->4} = u2.
    g = notes_example()
    values = g.forward({"u1": 1.5, "u2": -0.5})
    for mode in ("vjp", "jacobian"):
        p = g.backward(values, mode=mode, wrt=["u3", "u4", "u2"])
        assert float(p["u3"]) == -0.5
        assert float(p["u4"]) == 1.0
        assert float(p["u2"]) == 1.5 + 2 * -0.5  # u3 + u2


def test_a_vertex_with_no_path_to_the_output_has_p_zero():
    g = Graph()
    a, b = g.leaf("a"), g.leaf("b")
    g.vertex("dead", F.tanh, a)
    g.vertex("o", F.mul, b, b)
    values = g.forward({"a": np.ones(2), "b": 3.0})
    ex = g.compile(wrt=["dead", "a"])
    ex.forward({"a": np.ones(2), "b": 3.0})
    for p in (
        g.backward(values, wrt=["dead", "a"]),
        g.backward(values, "jacobian", ["dead", "a"]),
        ex.backward(),
    ):
        np.testing.assert_array_equal(p["dead"], [0.0, 0.0])
        np.testing.assert_array_equal(p["a"], [0.0, 0.0])


# --------------------------------------------------------------------------- paths P(j, k)


def test_paths_between_any_vertices_of_the_notes_example():
    g = notes_example()
    # E = {(1,3), (2,3), (2,4), (3,4)}
    assert g.paths(2, 4) == [[(2, 3), (3, 4)], [(2, 4)]]
    assert g.paths(1, 3) == [[(1, 3)]]
    assert g.paths("u2", "u3") == [[(2, 3)]]
    assert g.paths(3) == [[(3, 4)]]
    assert g.paths(1, 4) == [[(1, 3), (3, 4)]]
    assert g.paths(4) == [] and g.paths(3, 3) == []  # j == k: no path of one edge or more
    assert g.paths(4, 3) == []  # edges go from j to i > j only
    assert [g.count_paths(j) for j in (1, 2, 3, 4)] == [1, 2, 1, 0]
    assert g.count_paths(2, 3) == 1


def test_path_sum_between_inner_vertices_by_the_chain_rule():
    transfer = "tanh"
    g = network(F.get_transfer(transfer))
    leaves = network_leaves(np.random.default_rng(12))
    values = g.forward(leaves)
    W, x, V = leaves["W"], leaves["x"], leaves["V"]
    dg = TRANSFER_CLOSED_FORMS[transfer][1](x @ W.T + leaves["b"])
    m, d = W.shape
    # dh/dz = diag(g'(z)); dl/dh = V; dl/dz = V diag(g'(z)): all (d_k, d_j).
    np.testing.assert_allclose(g.path_sum(values, "z", "h"), np.diag(dg), **SAME)
    np.testing.assert_allclose(g.path_sum(values, "h", "l"), V, **SAME)
    np.testing.assert_allclose(g.path_sum(values, "z", "l"), V * dg[None, :], **SAME)
    # dz/dW: [i, (i', j)] = [[i = i']] x_j, then dh/dW = diag(g'(z)) dz/dW.
    dz_dW = np.zeros((m, m * d))
    for i in range(m):
        dz_dW[i, i * d : (i + 1) * d] = x
    np.testing.assert_allclose(g.path_sum(values, "W", "h"), dg[:, None] * dz_dW, **SAME)
    np.testing.assert_allclose(g.path_sum(values, 1, 8), g.path_sum(values, "W", "h"), **SAME)
    # No path from V to h, and j == k: zero matrices of shape (d_k, d_j).
    np.testing.assert_array_equal(g.path_sum(values, "V", "h"), np.zeros((m, V.size)))
    np.testing.assert_array_equal(g.path_sum(values, "h", "h"), np.zeros((m, m)))


def test_path_sum_through_two_diamonds_by_the_chain_rule():
    # c_t = a_t b_t with a_t = c_{t-1}^2, b_t = 2 c_{t-1}: dc_t/dc_{t-1} = 2 c b + 2 a = 6 c^2.
    g = diamonds(2)
    u = 0.8
    values = g.forward({"u": u})
    c1 = 2 * u**3
    assert float(values["c1"]) == pytest.approx(c1, rel=1e-15)
    # P(c1, c2) = (c1 -> a2 -> c2), (c1 -> b2 -> c2): D^{a2->c2} D^{c1->a2} + D^{b2->c2} D^{c1->b2}
    assert g.paths("c1", "c2") == [[(4, 5), (5, 7)], [(4, 6), (6, 7)]]
    by_hand = values["b2"] * (2 * c1) + values["a2"] * 2.0
    # c2 is the output (d_n = 1): the sum is shaped like u^j, here a scalar.
    assert float(g.path_sum(values, "c1", "c2")) == pytest.approx(by_hand, rel=1e-14)
    assert float(g.path_sum(values, "u", "c1")[0, 0]) == pytest.approx(6 * u**2, rel=1e-14)
    assert float(g.path_sum(values, "u")) == pytest.approx(6 * u**2 * 6 * c1**2, rel=1e-14)


def test_forty_diamonds_are_counted_not_enumerated():
    g = diamonds(40)
    assert (g.n, g.l) == (121, 1)
    assert g.count_paths("u") == 2**40 == 1099511627776
    assert g.count_paths("u", "c20") == 2**20
    assert g.count_paths("c39") == 2
    values = g.forward({"u": 0.5})
    message = (
        r"path_sum: 1099511627776 directed paths from vertex 1 \(u\) to vertex 121 \(c40\), "
        r"more than limit=100000; use backward\(\), which gives the same number in one "
        r"pass, or raise limit"
    )
    with pytest.raises(GraphError, match=message):
        g.path_sum(values, "u")
    with pytest.raises(
        GraphError, match=r"paths: 1099511627776 directed paths from vertex 1 \(u\)"
    ):
        g.paths("u")
    # To a k other than the output, backward() is no way round: the message says so.
    with pytest.raises(
        GraphError,
        match=r"path_sum: 1048576 directed paths from vertex 1 \(u\) to "
        r"vertex 61 \(c20\), more than limit=100000; raise limit$",
    ):
        g.path_sum(values, "u", "c20")
    # gradcheck's path_sum mode meets the same limit.
    with pytest.raises(GraphError, match="path_sum: 1099511627776 directed paths"):
        gradcheck(g, {"u": 0.5}, mode="path_sum")


def test_the_limit_is_a_parameter():
    g = diamonds(4)
    values = g.forward({"u": 0.6})
    with pytest.raises(GraphError, match="16 directed paths .* more than limit=15"):
        g.path_sum(values, "u", limit=15)
    with pytest.raises(GraphError, match="16 directed paths .* more than limit=15"):
        g.paths("u", limit=15)
    assert len(g.paths("u", limit=16)) == 16
    np.testing.assert_allclose(g.path_sum(values, "u", limit=16), g.backward(values)["u"], **SAME)


# --------------------------------------------------------------------------- f-bar^k


def test_global_function_of_the_notes_example():
    g = notes_example()
    f4, f3 = g.global_function("u4"), g.global_function(3)
    assert f4.__name__ == "fbar^4" and f3.__name__ == "fbar^3"
    assert repr(f4) == "<global function fbar^4: u^4 (u4) of the leaves u1, u2>"
    # u4 = u2 (u1 + u2)
    assert float(f4({"u1": 1.0, "u2": 2.0})) == 6.0
    assert float(f4({"u1": -1.0, "u2": 3.0})) == 6.0
    assert float(f3({"u1": -1.0, "u2": 3.0})) == 2.0


@pytest.mark.parametrize("transfer", sorted(TRANSFER_CLOSED_FORMS))
def test_p_j_is_the_partial_derivative_of_fbar_n(transfer):
    # The notes' definition: p^j = d fbar^n / du^j at u^1..u^l, by central differences.
    g = network(F.get_transfer(transfer))
    leaves = network_leaves(np.random.default_rng(13), batch=3)
    fbar = g.global_function(g.output.name)
    grads = g.backward(g.forward(leaves))
    for name in REAL_LEAVES:
        numeric = central_differences(lambda: fbar(leaves), leaves[name])
        np.testing.assert_allclose(grads[name], numeric, **FD_TOL)


def test_fbar_of_an_inner_vertex_and_the_path_sum_to_it():
    g = network(F.sigmoid)
    leaves = network_leaves(np.random.default_rng(14))
    values = g.forward(leaves)
    fbar_h = g.global_function("h")
    assert fbar_h.leaves == ("W", "x", "b")
    assert repr(fbar_h) == "<global function fbar^8: u^8 (h) of the leaves W, x, b>"
    only_needed = {k: leaves[k] for k in ("W", "x", "b")}
    np.testing.assert_array_equal(fbar_h(only_needed), values["h"])
    np.testing.assert_array_equal(fbar_h(leaves), values["h"])  # other leaves are ignored
    for name in ("W", "x", "b"):
        numeric = central_differences(lambda: fbar_h(leaves), leaves[name])
        np.testing.assert_allclose(
            g.path_sum(values, name, "h"), numeric.reshape(values["h"].size, -1), **FD_TOL
        )
    with pytest.raises(GraphError, match="fbar\\^8: no value for leaf 'x'"):
        fbar_h({"W": leaves["W"], "b": leaves["b"]})


# --------------------------------------------------------------------------- the graph's dtype


def _mul_graph():
    g = Graph()
    g.vertex("u3", F.mul, g.leaf("u1"), g.leaf("u2"))
    return g


@pytest.mark.parametrize(
    "u1, u2",
    [
        (np.int8(100), np.uint8(200)),
        (100, 200),
        (np.array([100], np.int8), np.array([200], np.uint8)),
    ],
    ids=["int8 scalars", "Python ints", "int8 arrays"],
)
def test_integer_leaves_are_cast_before_anything_overflows(u1, u2):
    g = _mul_graph()
    values = g.forward({"u1": u1, "u2": u2})
    assert values["u1"].dtype == values["u2"].dtype == np.float64
    np.testing.assert_array_equal(values["u3"], np.full(np.shape(u1), 20000.0))
    assert np.asarray(values["u3"]).dtype == np.float64
    ex = g.compile()
    compiled = ex.forward({"u1": u1, "u2": u2})
    assert np.asarray(compiled).dtype == np.float64
    np.testing.assert_array_equal(compiled, np.full(np.shape(u1), 20000.0))
    np.testing.assert_array_equal(ex.backward()["u1"], np.full(np.shape(u1), 200.0))
    fbar = g.global_function("u3")
    np.testing.assert_array_equal(fbar({"u1": u1, "u2": u2}), np.full(np.shape(u1), 20000.0))
    assert gradcheck(g, {"u1": u1, "u2": u2}).ok


def test_integer_leaves_give_what_float_leaves_give_in_every_path():
    g = notes_example()
    ints, floats = {"u1": 1, "u2": 2}, {"u1": 1.0, "u2": 2.0}
    a, b = g.forward(ints), g.forward(floats)
    for name in ("u1", "u2", "u3", "u4"):
        assert np.asarray(a[name]).dtype == np.float64
        assert float(a[name]) == float(b[name])
    assert g.backward(a) == g.backward(b)
    assert float(g.compile().forward(ints)) == 6.0
    assert np.asarray(g.compile().forward(ints)).dtype == np.float64


def test_the_label_leaf_stays_integer():
    g = network(F.tanh)
    assert g.real_leaves == ("W", "x", "b", "V", "gamma")
    leaves = network_leaves(np.random.default_rng(15), batch=3)
    leaves["x"] = np.arange(9).reshape(3, 3)  # an integer input is cast
    values = g.forward(leaves)
    assert values["y"].dtype == leaves["y"].dtype and values["x"].dtype == np.float64
    ex = g.compile()
    ex.forward(leaves)
    assert ex.value("y").dtype == leaves["y"].dtype and ex.value("x").dtype == np.float64
    assert float(ex.forward(leaves)) == pytest.approx(float(values["o"]), rel=1e-12)


def test_a_float32_graph_agrees_with_float64_within_float32_precision():
    leaves = network_leaves(np.random.default_rng(16), batch=5)
    g64, g32 = network(F.tanh), Graph(dtype=np.float32)
    for v in g64.vertices:
        if v.is_leaf:
            g32.leaf(v.name)
        else:
            g32.vertex(v.name, v.fn, *(p.name for p in v.parents))
    assert g32.dtype == np.float32
    values64, values32 = g64.forward(leaves), g32.forward(leaves)
    assert values32["W"].dtype == values32["h"].dtype == np.float32
    expected = g64.backward(values64)
    F32 = dict(rtol=1e-4, atol=1e-5)
    ex = g32.compile(wrt=["W", "b", "V", "gamma", "h"])
    np.testing.assert_allclose(float(ex.forward(leaves)), float(values64["o"]), **F32)
    assert ex.value("h").dtype == np.float32
    compiled = ex.backward()
    for name in ("W", "b", "V", "gamma"):
        p32 = g32.backward(values32)[name]
        assert p32.dtype == compiled[name].dtype == np.float32
        np.testing.assert_allclose(p32, expected[name], **F32)
        np.testing.assert_allclose(compiled[name], expected[name], **F32)
    np.testing.assert_allclose(compiled["h"], g64.backward(values64, wrt="h")["h"], **F32)
    # The in-place SGD step into float32 parameters, on one example (where a float64-only
    # BLAS rank-one update would update a converted copy and leave W as it was).
    one = {**leaves, "x": leaves["x"][0], "y": leaves["y"][0]}
    expected = g64.backward(g64.forward(one))
    params = {k: np.array(leaves[k], dtype=np.float32) for k in ("W", "b", "V", "gamma")}
    before = {k: v.copy() for k, v in params.items()}
    ex.forward({**one, **params})
    ex.backward(-0.5, into=params)
    for name in params:
        np.testing.assert_allclose(params[name], before[name] - 0.5 * expected[name], **F32)


def test_network_passes_its_dtype_on():
    net = Network(3, 4, 3, dtype=np.float32)
    assert net.graph.dtype == np.float32
    assert all(v.dtype == np.float32 for v in net.params.values())
    assert Network.from_params(net.params).params["W"].dtype == np.float64
    loss, grads = net.loss_and_gradients(np.ones(3), 1)
    reference = Network.from_params(net.params).loss_and_gradients(np.ones(3), 1)
    assert loss == pytest.approx(reference[0], rel=1e-5)
    for name in grads:
        np.testing.assert_allclose(grads[name], reference[1][name], rtol=1e-4, atol=1e-6)


def test_dtype_must_be_floating():
    with pytest.raises(
        GraphError, match="dtype must be a floating dtype such as float64, got int64"
    ):
        Graph(dtype=np.int64)
    with pytest.raises(GraphError, match="dtype must be a numpy floating dtype, got 'nonsense'"):
        Graph(dtype="nonsense")


def test_a_leaf_that_holds_no_number():
    with pytest.raises(
        GraphError, match="forward: leaf 'u1' must hold real numbers, got str 'abc'"
    ):
        notes_example().forward({"u1": "abc", "u2": 1.0})
