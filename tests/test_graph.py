"""The computational graph against the notes' worked examples, hand-derived formulas and
central differences computed here: forward, backward in both modes, path sums, display and
error messages (the compiled passes: tests/test_executor.py)."""

import numpy as np
import pytest
from notes_reference import (
    REAL_LEAVES,
    TRANSFER_CLOSED_FORMS,
    central_differences,
    diamonds,
    hand_gradients,
    network_leaves,
    notes_example,
)
from notes_reference import notes_network as network

import nnclf.graph as F
from nnclf.errors import GraphError
from nnclf.graph.gradcheck import gradcheck
from nnclf.graph.graph import Graph

FD_TOL = dict(rtol=1e-6, atol=1e-8)  # analytic vs central differences
SAME = dict(rtol=1e-10, atol=1e-12)  # two analytic ways of computing one number
COMPILED = dict(rtol=1e-12, atol=1e-12)  # executor vs plain graph

TRANSFER_NAMES = sorted(F.TRANSFERS)


# --------------------------------------------------------------------------- helpers


def _real(v):
    return np.asarray(v).dtype.kind == "f"


def numeric_grad(graph, leaf_values, name):
    """du^n/du^j for leaf ``name`` by central differences of ``graph.forward``."""
    values = {
        k: (np.array(v, dtype=float) if _real(v) else np.asarray(v)) for k, v in leaf_values.items()
    }
    return central_differences(lambda: graph.forward(values)[graph.output.name], values[name])


# --------------------------------------------------------------------------- the notes' n = 4 example


def test_notes_example_structure():
    g = notes_example()
    assert (g.n, g.l) == (4, 2)
    assert g.edges == [(1, 3), (2, 3), (2, 4), (3, 4)]
    assert [v.index for v in g.vertices] == [1, 2, 3, 4]
    assert g.parents("u3") == ("u1", "u2")
    assert g.parents("u4") == ("u2", "u3")
    assert g.output.name == "u4"
    assert [v.name for v in g.leaves] == ["u1", "u2"]


def test_notes_example_forward():
    values = notes_example().forward({"u1": 1.0, "u2": 2.0})
    assert float(values["u3"]) == 3.0
    assert float(values["u4"]) == 6.0


@pytest.mark.parametrize("mode", ["vjp", "jacobian"])
def test_notes_example_backward_by_hand(mode):
    g = notes_example()
    values = g.forward({"u1": 1.0, "u2": 2.0})
    grads = g.backward(values, mode=mode)
    # u4 = u2 (u1 + u2): du4/du1 = u2 = 2, du4/du2 = u3 + u2 = 5.
    assert set(grads) == {"u1", "u2"}
    assert float(grads["u1"]) == 2.0
    assert float(grads["u2"]) == 5.0


def test_notes_example_paths_and_path_sum():
    g = notes_example()
    # P(2, 4) as the notes write paths: sequences of edges (j, i).
    assert g.paths("u2") == [[(2, 3), (3, 4)], [(2, 4)]]
    assert g.paths("u1") == [[(1, 3), (3, 4)]]
    assert g.paths(2, 4) == g.paths("u2", "u4") == g.paths("u2")
    values = g.forward({"u1": 1.0, "u2": 2.0})
    # Path sum for u2: D^{2->3} D^{3->4} + D^{2->4} = 1 * u2 + u3 = 2 + 3.
    assert float(g.path_sum(values, "u2")) == 5.0
    assert float(g.path_sum(values, "u1")) == 2.0


def test_notes_example_against_finite_differences_at_random_points():
    g = notes_example()
    rng = np.random.default_rng(0)
    for _ in range(5):
        leaves = {"u1": rng.normal(), "u2": rng.normal()}
        values = g.forward(leaves)
        for mode in ("vjp", "jacobian"):
            grads = g.backward(values, mode=mode)
            for name in leaves:
                np.testing.assert_allclose(grads[name], numeric_grad(g, leaves, name), **FD_TOL)
        np.testing.assert_allclose(
            float(g.backward(values)["u2"]), leaves["u1"] + 2 * leaves["u2"], **SAME
        )


# --------------------------------------------------------------------------- chain rule, user functions


def _square(kind):
    forward = lambda z: z * z  # noqa: E731
    jac = [lambda ans, z: np.diag(np.ravel(2 * z))]
    vjp = [lambda g, ans, z: g * 2 * z]
    return F.LocalFunction(
        "square",
        forward,
        jacobians=jac if kind in ("both", "jacobians") else None,
        vjps=vjp if kind in ("both", "vjps") else None,
    )


def _cube(kind):
    forward = lambda x: x**3  # noqa: E731
    jac = [lambda ans, x: np.diag(np.ravel(3 * x**2))]
    vjp = [lambda g, ans, x: g * 3 * x**2]
    return F.LocalFunction(
        "cube",
        forward,
        jacobians=jac if kind in ("both", "jacobians") else None,
        vjps=vjp if kind in ("both", "vjps") else None,
    )


KINDS = ["both", "jacobians", "vjps"]


@pytest.mark.parametrize("square_kind", KINDS)
@pytest.mark.parametrize("cube_kind", KINDS)
@pytest.mark.parametrize("mode", ["vjp", "jacobian"])
def test_notes_chain_rule_example_gives_192(square_kind, cube_kind, mode):
    # h(x) = f(g(x)), f(z) = z^2, g(x) = x^3; at x = 2: z = 8, h = 64, dh/dx = 12 * 16 = 192.
    g = Graph()
    x = g.leaf("x")
    z = g.vertex("z", _cube(cube_kind), x)
    g.vertex("h", _square(square_kind), z)
    values = g.forward({"x": 2.0})
    assert float(values["z"]) == 8.0
    assert float(values["h"]) == 64.0
    assert float(g.backward(values, mode=mode)["x"]) == pytest.approx(192.0, rel=1e-14)
    assert float(g.path_sum(values, "x")) == pytest.approx(192.0, rel=1e-14)


# --------------------------------------------------------------------------- the notes' network


def test_network_structure():
    g = network(F.tanh)
    assert (g.n, g.l) == (11, 6)
    # W=1, x=2, b=3, V=4, gamma=5, y=6, z=7, h=8, l=9, q=10, o=11.
    assert g.edges == [
        (1, 7),
        (2, 7),
        (3, 7),
        (7, 8),
        (4, 9),
        (8, 9),
        (5, 9),
        (9, 10),
        (10, 11),
        (6, 11),
    ]
    assert g.paths("W") == [[(1, 7), (7, 8), (8, 9), (9, 10), (10, 11)]]
    assert g.paths("V") == [[(4, 9), (9, 10), (10, 11)]]


@pytest.mark.parametrize("transfer", TRANSFER_NAMES)
def test_network_single_example_all_ways_agree(transfer):
    g = network(F.get_transfer(transfer))
    leaves = network_leaves(np.random.default_rng(100))
    values = g.forward(leaves)
    by_vjp = g.backward(values, mode="vjp")
    by_jacobian = g.backward(values, mode="jacobian")
    assert set(by_vjp) == set(by_jacobian) == set(leaves)
    for name in REAL_LEAVES:
        assert by_vjp[name].shape == leaves[name].shape
        np.testing.assert_allclose(by_jacobian[name], by_vjp[name], **SAME)
        np.testing.assert_allclose(g.path_sum(values, name), by_vjp[name], **SAME)
        np.testing.assert_allclose(by_vjp[name], numeric_grad(g, leaves, name), **FD_TOL)
    # o is piecewise constant in the class index.
    assert float(by_vjp["y"]) == 0.0 and float(by_jacobian["y"]) == 0.0


@pytest.mark.parametrize("transfer", sorted(TRANSFER_CLOSED_FORMS))
@pytest.mark.parametrize("batch", [None, 5], ids=["single", "batch"])
def test_network_matches_hand_derived_gradients(transfer, batch):
    g = network(F.get_transfer(transfer))
    leaves = network_leaves(np.random.default_rng(200), batch)
    values = g.forward(leaves)
    loss, expected, _ = hand_gradients(leaves, leaves["x"], leaves["y"], transfer, with_x=True)
    assert float(values["o"]) == pytest.approx(loss, rel=1e-12)
    for mode in ("vjp", "jacobian"):
        grads = g.backward(values, mode=mode)
        for name in REAL_LEAVES:
            np.testing.assert_allclose(grads[name], expected[name], **SAME)


@pytest.mark.parametrize("transfer", TRANSFER_NAMES)
def test_network_batch_mean_loss_all_ways_agree(transfer):
    g = network(F.get_transfer(transfer))
    leaves = network_leaves(np.random.default_rng(300), batch=5)
    values = g.forward(leaves)
    # o is the mean of the per-example losses.
    per_example = [
        float(g.forward({**leaves, "x": leaves["x"][r], "y": leaves["y"][r]})["o"])
        for r in range(5)
    ]
    assert float(values["o"]) == pytest.approx(np.mean(per_example), rel=1e-12)
    by_vjp = g.backward(values, mode="vjp")
    by_jacobian = g.backward(values, mode="jacobian")
    for name in REAL_LEAVES:
        assert by_vjp[name].shape == leaves[name].shape
        np.testing.assert_allclose(by_jacobian[name], by_vjp[name], **SAME)
        np.testing.assert_allclose(g.path_sum(values, name), by_vjp[name], **SAME)
        np.testing.assert_allclose(by_vjp[name], numeric_grad(g, leaves, name), **FD_TOL)
    np.testing.assert_array_equal(by_vjp["y"], np.zeros(5))


def test_network_wrt_subset_gives_the_same_numbers():
    g = network(F.tanh)
    values = g.forward(network_leaves(np.random.default_rng(400)))
    full = g.backward(values)
    for mode in ("vjp", "jacobian"):
        only_V = g.backward(values, mode=mode, wrt="V")
        assert set(only_V) == {"V"}
        np.testing.assert_allclose(only_V["V"], full["V"], **SAME)
        some = g.backward(values, mode=mode, wrt=["gamma", "W"])
        assert list(some) == ["gamma", "W"]
        np.testing.assert_allclose(some["W"], full["W"], **SAME)


# --------------------------------------------------------------------------- many paths


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_diamonds_in_series_have_2_to_the_k_paths(k):
    g = diamonds(k)
    paths = g.paths("u")
    assert len(paths) == 2**k == g.count_paths("u")
    assert len({tuple(p) for p in paths}) == 2**k
    assert all(p[0][0] == 1 and p[-1][1] == g.n for p in paths)
    # each path is a chain of edges of E: (a, b) then (b, c)
    assert all(set(p) <= set(g.edges) for p in paths)
    assert all(e[1] == f[0] for p in paths for e, f in zip(p, p[1:]))


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_diamonds_path_sum_equals_backward_equals_closed_form(k):
    g = diamonds(k)
    u = 0.7
    values = g.forward({"u": u})
    # Closed form: c_t = 2 c_{t-1}^3 and dc_t/dc_{t-1} = 6 c_{t-1}^2.
    c, derivative = u, 1.0
    for _ in range(k):
        derivative *= 6 * c**2
        c = 2 * c**3
    assert float(values[g.output.name]) == pytest.approx(c, rel=1e-14)
    by_vjp = float(g.backward(values)["u"])
    by_jacobian = float(g.backward(values, mode="jacobian")["u"])
    by_paths = float(g.path_sum(values, "u"))
    assert by_vjp == pytest.approx(derivative, rel=1e-12)
    assert by_jacobian == pytest.approx(derivative, rel=1e-12)
    assert by_paths == pytest.approx(derivative, rel=1e-12)
    assert by_vjp == pytest.approx(float(numeric_grad(g, {"u": u}, "u")), rel=1e-6)


# --------------------------------------------------------------------------- same parent twice


@pytest.mark.parametrize("mode", ["vjp", "jacobian"])
def test_same_parent_twice_scalar(mode):
    g = Graph()
    u = g.leaf("u")
    g.vertex("s", F.mul, u, u)
    assert g.parents("s") == ("u", "u")
    assert g.edges == [(1, 2)]
    assert g.paths("u") == [[(1, 2)]]
    values = g.forward({"u": 3.0})
    assert float(values["s"]) == 9.0
    assert float(g.backward(values, mode=mode)["u"]) == 6.0
    assert float(g.path_sum(values, "u")) == 6.0


def test_same_parent_twice_vector():
    g = Graph()
    u, y = g.leaf("u"), g.leaf("y")
    s = g.vertex("s", F.mul, u, u)
    q = g.vertex("q", F.log_softmax, s)
    g.vertex("o", F.neg_pick, q, y)
    assert g.edges == [(1, 3), (3, 4), (4, 5), (2, 5)]
    leaves = {"u": np.array([0.5, -1.0, 0.3]), "y": np.int64(2)}
    values = g.forward(leaves)
    s_value = leaves["u"] ** 2
    p = np.exp(s_value) / np.exp(s_value).sum()
    expected = (p - np.eye(3)[2]) * 2 * leaves["u"]
    for mode in ("vjp", "jacobian"):
        np.testing.assert_allclose(g.backward(values, mode=mode)["u"], expected, **SAME)
    np.testing.assert_allclose(g.path_sum(values, "u"), expected, **SAME)
    np.testing.assert_allclose(numeric_grad(g, leaves, "u"), expected, **FD_TOL)


# --------------------------------------------------------------------------- idempotence


@pytest.mark.parametrize("mode", ["vjp", "jacobian"])
def test_backward_is_idempotent(mode):
    g = network(F.tanh)
    leaves = network_leaves(np.random.default_rng(500))
    saved = {k: np.copy(v) for k, v in leaves.items()}
    values = g.forward(leaves)
    first = g.backward(values, mode=mode)
    second = g.backward(values, mode=mode)
    for name in leaves:
        np.testing.assert_array_equal(first[name], second[name])
        assert first[name] is not second[name]
        assert not np.shares_memory(first[name], second[name])
        assert not np.shares_memory(first[name], values[name])
    # Mutating a returned gradient affects neither the next call nor the values.
    expected_W = second["W"].copy()
    for name in leaves:
        first[name][...] = 123.0
        second[name][...] = -7.0
    third = g.backward(values, mode=mode)
    np.testing.assert_array_equal(third["W"], expected_W)
    for name in leaves:
        np.testing.assert_array_equal(leaves[name], saved[name])


def test_backward_does_not_accumulate_across_calls_on_shared_parents():
    g = notes_example()
    values = g.forward({"u1": 1.0, "u2": 2.0})
    for _ in range(3):
        grads = g.backward(values)
        assert (float(grads["u1"]), float(grads["u2"])) == (2.0, 5.0)


# --------------------------------------------------------------------------- leaves and numbering


def test_unused_leaf_has_zero_gradient_and_no_paths():
    g = Graph()
    a = g.leaf("a")
    g.leaf("unused")
    g.vertex("s", F.mul, a, a)
    values = g.forward({"a": np.array(1.5), "unused": np.array([1.0, 2.0])})
    assert g.paths("unused") == []
    for mode in ("vjp", "jacobian"):
        np.testing.assert_array_equal(g.backward(values, mode=mode)["unused"], [0.0, 0.0])
    np.testing.assert_array_equal(g.path_sum(values, "unused"), [0.0, 0.0])


def test_leaves_are_numbered_first_even_when_added_later():
    g = Graph()
    a = g.leaf("a")
    s = g.vertex("s", F.tanh, a)
    b = g.leaf("b")
    g.vertex("o", F.mul, s, b)
    assert [(v.name, v.index) for v in g.vertices] == [("a", 1), ("b", 2), ("s", 3), ("o", 4)]
    assert g.edges == [(1, 3), (3, 4), (2, 4)]
    assert (a.index, b.index, s.index) == (1, 2, 3)
    # The summary and the DOT text number them so too, parents by number.
    rows = [line.split() for line in g.summary().splitlines()[1:]]
    assert [r[:3] for r in rows] == [
        ["1", "a", "leaf"],
        ["2", "b", "leaf"],
        ["3", "s", "tanh"],
        ["4", "o", "mul"],
    ]
    assert rows[3][3:] == ["3,", "2"]
    dot = g.to_dot()
    assert 'v2 [label="2: b"' in dot and 'v4 [label="4: o = mul(s, b)"' in dot
    assert "v2 -> v4;" in dot and "v3 -> v4;" in dot
    # Vertices by number are the same vertices.
    assert [g.vertex_of(i) for i in (1, 2, 3, 4)] == g.vertices


def test_parents_may_be_given_by_name():
    g = Graph()
    g.leaf("u1")
    g.leaf("u2")
    g.vertex("u3", F.add, "u1", "u2")
    g.vertex("u4", F.mul, "u2", "u3")
    assert g.edges == notes_example().edges


# --------------------------------------------------------------------------- output of shape (1,)


def _scalar_regression():
    """o = V tanh(z) + c with V of shape (1, 2): the output has d_n = 1 but shape (1,)."""
    g = Graph()
    z, V, c = g.leaf("z"), g.leaf("V"), g.leaf("c")
    h = g.vertex("h", F.tanh, z)
    g.vertex("o", F.affine, V, h, c)
    leaves = {"z": np.array([0.3, 0.4]), "V": np.array([[1.0, 2.0]]), "c": np.array([0.5])}
    return g, leaves


def test_output_of_shape_1_jacobian_mode_and_path_sum():
    g, leaves = _scalar_regression()
    values = g.forward(leaves)
    expected = {
        "z": np.array([1.0, 2.0]) / np.cosh(leaves["z"]) ** 2,
        "V": np.tanh(leaves["z"]).reshape(1, 2),
        "c": np.array([1.0]),
    }
    grads = g.backward(values, mode="jacobian")
    for name in leaves:
        np.testing.assert_allclose(grads[name], expected[name], **SAME)
        np.testing.assert_allclose(g.path_sum(values, name), expected[name], **SAME)


def test_output_of_shape_1_vjp_mode_compiled_and_gradcheck():
    # d_n = 1 with shape (1,): p^n = 1 must take the output's shape in every path.
    g, leaves = _scalar_regression()
    values = g.forward(leaves)
    by_jacobian = g.backward(values, mode="jacobian")
    by_vjp = g.backward(values, mode="vjp")
    ex = g.compile()
    ex.forward(leaves)
    compiled = ex.backward()
    for name in leaves:
        np.testing.assert_allclose(by_vjp[name], by_jacobian[name], **SAME)
        np.testing.assert_allclose(compiled[name], by_jacobian[name], **SAME)
    assert gradcheck(g, leaves).ok


# --------------------------------------------------------------------------- display


def test_to_dot_lists_every_vertex_and_edge():
    g = network(F.tanh)
    dot = g.to_dot()
    assert dot.startswith("digraph")
    for v in g.vertices:
        assert f"v{v.index} [" in dot
        assert f"{v.index}: {v.name}" in dot
    for j, i in g.edges:
        assert f"v{j} -> v{i};" in dot
    assert dot.count("->") == len(g.edges)
    assert "7: z = affine(W, x, b)" in dot
    assert "d = " not in dot


def test_to_dot_shows_dimensions_given_values():
    g = network(F.tanh)
    values = g.forward(network_leaves(np.random.default_rng(1300)))
    dot = g.to_dot(values)
    assert "1: W\\nd = 12, shape (4, 3)" in dot
    assert "2: x\\nd = 3, shape (3,)" in dot
    assert "8: h = tanh(z)\\nd = 4, shape (4,)" in dot
    assert "11: o = neg_pick(q, y)\\nd = 1, shape ()" in dot


def test_summary_has_a_row_per_vertex():
    g = network(F.tanh)
    values = g.forward(network_leaves(np.random.default_rng(1400)))
    lines = g.summary(values).splitlines()
    assert len(lines) == 1 + g.n
    assert lines[0].split()[:3] == ["i", "name", "f^i"]
    for v, line in zip(g.vertices, lines[1:]):
        fields = line.split()
        assert fields[:3] == [str(v.index), v.name, "leaf" if v.is_leaf else v.fn.name]
    assert "(4, 3)" in lines[1]
    assert lines[7].split()[:4] == ["7", "z", "affine", "1,"]  # parents 1, 2, 3
    assert len(notes_example().summary().splitlines()) == 5


# --------------------------------------------------------------------------- errors


def test_duplicate_and_empty_names():
    g = notes_example()
    with pytest.raises(GraphError, match="vertex name 'u3' is already used in this graph"):
        g.leaf("u3")
    with pytest.raises(GraphError, match="vertex name 'u1' is already used"):
        g.vertex("u1", F.add, "u1", "u2")
    with pytest.raises(GraphError, match="a vertex name must be a non-empty string"):
        g.leaf("")


def test_unknown_vertex_lookup_lists_the_names():
    with pytest.raises(KeyError, match="no vertex named 'u9'; vertices are u1, u2, u3, u4"):
        notes_example()["u9"]


def test_parent_from_another_graph():
    g, other = Graph(), Graph()
    a, stranger = g.leaf("a"), other.leaf("b")
    with pytest.raises(GraphError, match="vertex 's': parent 2 'b' belongs to another graph"):
        g.vertex("s", F.add, a, stranger)


def test_parent_name_that_does_not_exist():
    g = Graph()
    g.leaf("a")
    with pytest.raises(GraphError, match="vertex 's': parent 2 'nope' does not exist"):
        g.vertex("s", F.add, "a", "nope")


def test_wrong_number_of_parents():
    g = Graph()
    a = g.leaf("a")
    with pytest.raises(GraphError, match="vertex 's': add takes 2 parents, got 1"):
        g.vertex("s", F.add, a)
    with pytest.raises(GraphError, match="vertex 't': tanh takes 1 parents, got 2"):
        g.vertex("t", F.tanh, a, a)


def test_vertex_needs_a_local_function():
    g = Graph()
    a = g.leaf("a")
    with pytest.raises(TypeError, match="vertex 's': .* is not a LocalFunction"):
        g.vertex("s", np.tanh, a)


def test_forward_missing_and_unknown_leaf_values():
    g = notes_example()
    with pytest.raises(GraphError, match="forward: no value for leaf 'u2'"):
        g.forward({"u1": 1.0})
    with pytest.raises(
        GraphError, match="forward: 'u5' is not a leaf of this graph; leaves are u1, u2"
    ):
        g.forward({"u1": 1.0, "u2": 2.0, "u5": 3.0})
    with pytest.raises(GraphError, match="forward: 'u3' is not a leaf of this graph"):
        g.forward({"u1": 1.0, "u2": 2.0, "u3": 3.0})


def test_shape_that_does_not_fit_names_the_vertex_and_shapes():
    g = network(F.tanh)
    leaves = network_leaves(np.random.default_rng(1500))
    with pytest.raises(
        GraphError,
        match=r"vertex 'z' = affine\(W, x, b\): argument 2 has shape "
        r"\(5,\) but the matrix has shape \(4, 3\)",
    ):
        g.forward({**leaves, "x": np.ones(5)})
    with pytest.raises(
        GraphError,
        match=r"vertex 'l' = affine\(V, h, gamma\): argument 3 has "
        r"shape \(2,\)",
    ):
        g.forward({**leaves, "gamma": np.ones(2)})
    with pytest.raises(
        GraphError,
        match=r"vertex 'o' = neg_pick\(q, y\): argument 2 holds class "
        r"indices outside 0..2",
    ):
        g.forward({**leaves, "y": np.int64(3)})
    with pytest.raises(
        GraphError,
        match=r"vertex 'u3' = add\(u1, u2\): add needs arguments of one "
        r"shape, got \(2,\) and \(3,\)",
    ):
        notes_example().forward({"u1": np.ones(2), "u2": np.ones(3)})


def test_unknown_vertex_in_path_sum_and_paths():
    g = notes_example()
    values = g.forward({"u1": 1.0, "u2": 2.0})
    with pytest.raises(
        GraphError, match="path_sum: no vertex named 'u7'; vertices are u1, u2, u3, u4"
    ):
        g.path_sum(values, "u7")
    with pytest.raises(GraphError, match=r"path_sum: no vertex 5; vertices are numbered 1\.\.4"):
        g.path_sum(values, 5)
    with pytest.raises(GraphError, match="paths: no vertex named 'u7'"):
        g.paths("u7")
    with pytest.raises(GraphError, match="count_paths: no vertex 0; vertices are numbered 1..4"):
        g.count_paths(0)
    with pytest.raises(
        TypeError,
        match=r"paths: name a vertex by its name \(str\) or number i "
        r"\(int\), got True",
    ):
        g.paths(True)


def test_k_must_be_a_non_leaf_vertex():
    g = notes_example()
    values = g.forward({"u1": 1.0, "u2": 2.0})
    message = (
        r"k must be a non-leaf vertex \(the notes' k in l\+1\.\.n = 3\.\.4\); "
        r"vertex 2 \(u2\) is a leaf"
    )
    with pytest.raises(GraphError, match="path_sum: " + message):
        g.path_sum(values, "u1", "u2")
    with pytest.raises(GraphError, match="paths: " + message):
        g.paths(1, 2)
    with pytest.raises(GraphError, match="count_paths: " + message):
        g.count_paths(1, 2)
    with pytest.raises(GraphError, match="global_function: " + message):
        g.global_function("u2")


def test_backward_errors():
    g = notes_example()
    values = g.forward({"u1": 1.0, "u2": 2.0})
    with pytest.raises(
        GraphError, match="backward: unknown mode 'jacobians'; use 'vjp' or 'jacobian'"
    ):
        g.backward(values, mode="jacobians")
    with pytest.raises(
        GraphError, match="backward: no vertex named 'u5'; vertices are u1, u2, u3, u4"
    ):
        g.backward(values, wrt="u5")
    with pytest.raises(GraphError, match=r"backward: no vertex 5; vertices are numbered 1\.\.4"):
        g.backward(values, wrt=[1, 5])
    with pytest.raises(
        GraphError,
        match="backward: no value for vertex 'u3'; pass the dict that "
        r"forward\(\) returned",
    ):
        g.backward({"u1": 1.0, "u2": 2.0})


def test_an_empty_batch_is_a_graph_error_naming_the_vertex():
    g = network(F.tanh)
    leaves = network_leaves(np.random.default_rng(1600), batch=2)
    empty = {**leaves, "x": np.zeros((0, 3)), "y": np.zeros(0, dtype=np.int64)}
    with pytest.raises(
        GraphError,
        match=r"vertex 'o' = neg_pick\(q, y\): argument 1 is an empty "
        r"batch, shape \(0, 3\)",
    ):
        g.forward(empty)
    with pytest.raises(GraphError, match="argument 1 is an empty batch"):
        g.compile().forward(empty)
    with pytest.raises(
        GraphError,
        match=r"vertex 'o' = neg_pick\(q, y\): argument 2 must be an "
        "integer class index, got dtype bool",
    ):
        g.forward({**leaves, "y": np.array([True, False])})


def test_backward_needs_a_scalar_output():
    g = Graph()
    a, b = g.leaf("a"), g.leaf("b")
    g.vertex("s", F.add, a, b)
    values = g.forward({"a": np.ones(2), "b": np.ones(2)})
    with pytest.raises(
        GraphError,
        match=r"backward: the output 's' has shape \(2,\); "
        r"backpropagation needs a scalar output \(d_n = 1\)",
    ):
        g.backward(values)
    with pytest.raises(GraphError, match="needs a scalar output"):
        g.backward(values, mode="jacobian")
    with pytest.raises(GraphError, match="path_sum: the output 's' has shape"):
        g.path_sum(values, "a")


def test_graph_without_vertices_has_no_output():
    g = Graph()
    g.leaf("a")
    with pytest.raises(GraphError, match="the graph has no non-leaf vertex yet"):
        g.output


def test_local_function_with_neither_jacobians_nor_vjps():
    with pytest.raises(
        GraphError, match="local function 'mystery': give its Jacobians, its VJPs, or both"
    ):
        F.LocalFunction("mystery", lambda x: x)
