"""The network against an independent numpy implementation of the notes' formulas.

p(y | x) = softmax(V g(Wx + b) + gamma)_y and L = -log p(y | x) are written out here in plain
numpy, with the derivatives derived by hand:

    dL/dgamma = p - onehot(y)
    dL/dV     = (p - onehot(y)) h^T
    dL/db     = (V^T (p - onehot(y))) * g'(z)
    dL/dW     = dL/db x^T

(means over the rows of a batch). The network computes all of these by backpropagation through
its graph; the tests also compare it with central finite differences computed here.
"""

import tracemalloc

import numpy as np
import pytest
from notes_reference import TRANSFER_CLOSED_FORMS, central_differences, hand_gradients

import nnclf.graph as F
import nnclf.graph.network
from nnclf.errors import ConfigError
from nnclf.graph.gradcheck import gradcheck
from nnclf.graph.network import INITS, PARAMS, Network, init_params, memory_needed, physical_memory

D, M, K = 4, 5, 3


def reference(params, X, y, transfer):
    """Loss, probabilities and hand-derived gradients for a batch X (B, d), y (B,)."""
    loss, grads, P = hand_gradients(params, X, y, transfer)
    return loss, P, grads


def finite_differences(net, x, y):
    """Central differences of the network's own loss in every parameter entry."""
    return {
        name: central_differences(lambda: net.loss_and_gradients(x, y)[0], net.params[name])
        for name in PARAMS
    }


def example(batch, seed=0):
    rng = np.random.default_rng(seed)
    if batch:
        return rng.normal(size=(6, D)), rng.integers(0, K, size=6)
    return rng.normal(size=D), int(rng.integers(0, K))


def perturbed_network(transfer, seed=0):
    """A network whose biases are non-zero too, so every term of the formulas matters."""
    net = Network(D, M, K, transfer, seed=seed)
    rng = np.random.default_rng(seed + 100)
    net.params["b"][...] = rng.normal(scale=0.5, size=M)
    net.params["gamma"][...] = rng.normal(scale=0.5, size=K)
    net.params["V"] *= 2.0
    return net


def test_every_transfer_has_a_reference_formula_here():
    missing = set(F.TRANSFERS) - set(TRANSFER_CLOSED_FORMS)
    assert not missing, f"add g and g' for {sorted(missing)} to TRANSFER_CLOSED_FORMS"


# --- the graph ------------------------------------------------------------------------------


def test_graph_has_the_notes_leaves_vertices_and_edges():
    g = Network(D, M, K).graph
    assert [(v.index, v.name) for v in g.leaves] == [
        (1, "W"),
        (2, "x"),
        (3, "b"),
        (4, "V"),
        (5, "gamma"),
        (6, "y"),
    ]
    assert [(v.index, v.name) for v in g.vertices[6:]] == [
        (7, "z"),
        (8, "h"),
        (9, "l"),
        (10, "q"),
        (11, "o"),
    ]
    assert (g.n, g.l) == (11, 6)
    assert g.output.name == "o"
    # z = Wx + b, h = g(z), l = Vh + gamma, q = LS(l), o = -q_y
    assert g.parents("z") == ("W", "x", "b")
    assert g.parents("h") == ("z",)
    assert g.parents("l") == ("V", "h", "gamma")
    assert g.parents("q") == ("l",)
    assert g.parents("o") == ("q", "y")
    assert sorted(g.edges) == sorted(
        [(1, 7), (2, 7), (3, 7), (7, 8), (4, 9), (8, 9), (5, 9), (9, 10), (10, 11), (6, 11)]
    )
    assert g["z"].fn is F.affine and g["l"].fn is F.affine
    assert g["h"].fn is F.TRANSFERS["tanh"]
    assert g["q"].fn is F.log_softmax and g["o"].fn is F.neg_pick


@pytest.mark.parametrize("transfer", sorted(F.TRANSFERS))
def test_graph_uses_the_chosen_transfer(transfer):
    assert Network(D, M, K, transfer).graph["h"].fn is F.TRANSFERS[transfer]


def test_params_have_the_notes_shapes():
    net = Network(7, 5, 3)
    assert list(net.params) == ["W", "b", "V", "gamma"]
    assert {k: v.shape for k, v in net.params.items()} == {
        "W": (5, 7),
        "b": (5,),
        "V": (3, 5),
        "gamma": (3,),
    }
    assert all(v.dtype == np.float64 for v in net.params.values())
    assert PARAMS == ("W", "b", "V", "gamma")


def test_writing_params_in_place_changes_the_outputs():
    net = Network(D, M, K, seed=0)
    X, y = example(batch=True)
    before = net.predict_proba(X)
    net.params["W"][...] = np.random.default_rng(5).normal(size=(M, D))
    net.params["gamma"] += np.array([3.0, 0.0, -3.0])
    after = net.predict_proba(X)
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, reference(net.params, X, y, "tanh")[1], rtol=1e-12)
    loss, grads = net.loss_and_gradients(X, y)
    ref_loss, _, ref_grads = reference(net.params, X, y, "tanh")
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    np.testing.assert_allclose(grads["W"], ref_grads["W"], rtol=1e-9, atol=1e-13)


def test_assigning_new_param_arrays_changes_the_outputs():
    net = Network(D, M, K, seed=0)
    X, y = example(batch=True)
    before = net.predict_proba(X)
    first_loss = net.loss_and_gradients(X, y)[0]  # the compiled graph exists now
    rng = np.random.default_rng(7)
    new = {
        "W": rng.normal(size=(M, D)),
        "b": rng.normal(size=M),
        "V": rng.normal(size=(K, M)),
        "gamma": rng.normal(size=K),
    }
    for name, value in new.items():
        net.params[name] = value.copy()
    ref_loss, ref_p, ref_grads = reference(new, X, y, "tanh")
    after = net.predict_proba(X)
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, ref_p, rtol=1e-12)
    loss, grads = net.loss_and_gradients(X, y)
    assert loss != first_loss
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    for name in PARAMS:
        np.testing.assert_allclose(grads[name], ref_grads[name], rtol=1e-9, atol=1e-13)
    assert net.loss(X, y) == pytest.approx(ref_loss, rel=1e-12)


def test_from_params_copies_the_given_arrays():
    rng = np.random.default_rng(3)
    params = {
        "W": rng.normal(size=(M, D)),
        "b": rng.normal(size=M),
        "V": rng.normal(size=(K, M)),
        "gamma": rng.normal(size=K),
    }
    net = Network.from_params(params, transfer="relu")
    assert (net.n_features, net.n_hidden, net.n_classes, net.transfer) == (D, M, K, "relu")
    X, y = example(batch=True)
    np.testing.assert_allclose(net.predict_proba(X), reference(params, X, y, "relu")[1], rtol=1e-12)
    net.params["W"] += 1.0
    assert not np.shares_memory(net.params["W"], params["W"])
    assert not np.allclose(net.params["W"], params["W"])


# --- loss and gradients ---------------------------------------------------------------------


@pytest.mark.parametrize("batch", [False, True], ids=["single", "batch"])
@pytest.mark.parametrize("transfer", sorted(F.TRANSFERS))
def test_loss_is_minus_log_softmax_of_the_true_label(transfer, batch):
    net = perturbed_network(transfer)
    x, y = example(batch)
    loss, _ = net.loss_and_gradients(x, y)
    assert isinstance(loss, float)
    # -log softmax(V g(Wx + b) + gamma)_y, written out directly
    g = TRANSFER_CLOSED_FORMS[transfer][0]
    W, b, V, gamma = (net.params[k] for k in PARAMS)
    X, Y = np.atleast_2d(x), np.atleast_1d(y)
    logits = g(X @ W.T + b) @ V.T + gamma
    expected = np.mean([np.log(np.sum(np.exp(r))) - r[c] for r, c in zip(logits, Y)])
    assert loss == pytest.approx(expected, rel=1e-12)
    assert net.loss(X, Y) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("batch", [False, True], ids=["single", "batch"])
@pytest.mark.parametrize("transfer", sorted(F.TRANSFERS))
def test_gradients_equal_finite_differences(transfer, batch):
    net = perturbed_network(transfer)
    x, y = example(batch)
    _, grads = net.loss_and_gradients(x, y)
    numeric = finite_differences(net, x, y)
    assert set(grads) == set(PARAMS)
    for name in PARAMS:
        assert grads[name].shape == net.params[name].shape
        np.testing.assert_allclose(
            grads[name], numeric[name], rtol=1e-5, atol=1e-8, err_msg=f"dL/d{name}"
        )


@pytest.mark.parametrize("batch", [False, True], ids=["single", "batch"])
@pytest.mark.parametrize("transfer", sorted(F.TRANSFERS))
def test_gradients_equal_hand_derived_formulas(transfer, batch):
    net = perturbed_network(transfer, seed=1)
    x, y = example(batch, seed=1)
    loss, grads = net.loss_and_gradients(x, y)
    ref_loss, _, ref_grads = reference(net.params, x, y, transfer)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    for name in PARAMS:
        np.testing.assert_allclose(
            grads[name], ref_grads[name], rtol=1e-10, atol=1e-14, err_msg=f"dL/d{name}"
        )


def test_batch_gradient_is_the_mean_of_single_example_gradients():
    net = perturbed_network("sigmoid")
    X, y = example(batch=True)
    loss, grads = net.loss_and_gradients(X, y)
    singles = [net.loss_and_gradients(x_r, int(y_r)) for x_r, y_r in zip(X, y)]
    assert loss == pytest.approx(np.mean([s[0] for s in singles]), rel=1e-12)
    for name in PARAMS:
        np.testing.assert_allclose(
            grads[name], np.mean([s[1][name] for s in singles], axis=0), rtol=1e-10, atol=1e-14
        )


def test_returned_gradients_are_fresh_arrays():
    net = perturbed_network("tanh")
    x, y = example(batch=False)
    _, first = net.loss_and_gradients(x, y)
    kept = {k: v.copy() for k, v in first.items()}
    for g in first.values():
        g[...] = 1e6
    _, second = net.loss_and_gradients(x, y)
    for name in PARAMS:
        np.testing.assert_array_equal(second[name], kept[name])
        assert not np.shares_memory(second[name], first[name])
        assert not np.shares_memory(second[name], net.params[name])
    # and nothing accumulates from call to call
    _, third = net.loss_and_gradients(x, y)
    for name in PARAMS:
        np.testing.assert_array_equal(third[name], kept[name])


def test_gradients_are_zero_where_the_model_is_certain_and_right():
    # With gamma pushing class 1 to probability ~1, p - onehot(1) ~ 0, so every gradient ~ 0.
    net = Network(D, M, K, seed=0)
    net.params["gamma"][...] = [-50.0, 50.0, -50.0]
    loss, grads = net.loss_and_gradients(np.ones(D), 1)
    assert loss < 1e-30
    assert all(np.abs(g).max() < 1e-30 for g in grads.values())


def test_bad_inputs_are_named():
    net = Network(D, M, K)
    with pytest.raises(ValueError, match=r"x has shape \(3,\); expected \(4,\) or \(batch, 4\)"):
        net.loss_and_gradients(np.zeros(3), 0)
    with pytest.raises(ValueError, match=r"y must be an integer class index"):
        net.loss_and_gradients(np.zeros(D), 0.5)
    with pytest.raises(ValueError, match=r"y holds class indices outside 0..2"):
        net.loss_and_gradients(np.zeros((2, D)), np.array([0, 3]))


# --- prediction -----------------------------------------------------------------------------


@pytest.mark.parametrize("transfer", sorted(F.TRANSFERS))
def test_predict_proba_is_the_softmax(transfer):
    net = perturbed_network(transfer)
    X = np.random.default_rng(2).normal(size=(20, D))
    P = net.predict_proba(X)
    _, ref_p, _ = reference(net.params, X, np.zeros(20, dtype=int), transfer)
    assert P.shape == (20, K)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(P, ref_p, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(net.predict_log_proba(X), np.log(ref_p), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(net.predict(X), np.argmax(ref_p, axis=1))


def test_predict_single_row():
    net = perturbed_network("tanh")
    x = np.random.default_rng(2).normal(size=D)
    _, ref_p, _ = reference(net.params, x, 0, "tanh")
    assert net.predict_proba(x).shape == (K,)
    np.testing.assert_allclose(net.predict_proba(x), ref_p[0], rtol=1e-12)
    assert net.predict(x) == np.argmax(ref_p[0])


def test_predict_log_proba_keeps_tiny_probabilities():
    net = Network(D, M, K, seed=0)
    net.params["gamma"][...] = [0.0, -800.0, 0.0]  # exp(-800) underflows to 0
    log_p = net.predict_log_proba(np.zeros((1, D)))
    assert np.all(np.isfinite(log_p))
    assert log_p[0, 1] == pytest.approx(-800.0 - np.log(2.0), rel=1e-12)


def test_prediction_in_chunks_matches_one_pass(monkeypatch):
    net = perturbed_network("relu")
    rng = np.random.default_rng(4)
    X = rng.normal(size=(23, D))
    y = rng.integers(0, K, size=23)
    ref_loss, ref_p, _ = reference(net.params, X, y, "relu")
    monkeypatch.setattr(nnclf.graph.network, "PREDICT_CHUNK", 5)
    P = net.predict_proba(X)
    np.testing.assert_allclose(P, ref_p, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(net.predict_log_proba(X), np.log(ref_p), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(net.predict(X), np.argmax(ref_p, axis=1))
    assert net.loss(X, y) == pytest.approx(ref_loss, rel=1e-12)


# --- initialisation -------------------------------------------------------------------------


def test_xavier_is_uniform_within_the_glorot_bound_and_biases_are_zero():
    net = Network(300, 200, 10, init="xavier", seed=0)
    W, V = net.params["W"], net.params["V"]
    bound_W, bound_V = np.sqrt(6 / (300 + 200)), np.sqrt(6 / (200 + 10))
    assert np.abs(W).max() <= bound_W
    assert np.abs(V).max() <= bound_V
    assert np.abs(W).max() > 0.99 * bound_W  # the whole interval is used
    # U(-a, a) has mean 0 and variance a^2 / 3
    assert W.mean() == pytest.approx(0.0, abs=0.01 * bound_W)
    assert W.std() == pytest.approx(bound_W / np.sqrt(3), rel=0.01)
    assert np.histogram(W, bins=4, range=(-bound_W, bound_W))[0] == pytest.approx(
        [W.size / 4] * 4, rel=0.05
    )
    np.testing.assert_array_equal(net.params["b"], np.zeros(200))
    np.testing.assert_array_equal(net.params["gamma"], np.zeros(10))


def test_xavier_is_the_default():
    a = Network(D, M, K, seed=3)
    b = Network(D, M, K, init="xavier", seed=3)
    for name in PARAMS:
        np.testing.assert_array_equal(a.params[name], b.params[name])


def test_he_has_std_sqrt_two_over_fan_in():
    net = Network(500, 400, 2, init="he", seed=0)
    assert net.params["W"].std() == pytest.approx(np.sqrt(2 / 500), rel=0.02)
    assert net.params["W"].mean() == pytest.approx(0.0, abs=0.01 * np.sqrt(2 / 500))
    assert net.params["V"].std() == pytest.approx(np.sqrt(2 / 400), rel=0.1)
    np.testing.assert_array_equal(net.params["b"], 0.0)
    np.testing.assert_array_equal(net.params["gamma"], 0.0)


def test_normal_has_the_given_scale():
    net = Network(300, 200, 5, init="normal", init_scale=0.3, seed=0)
    assert net.params["W"].std() == pytest.approx(0.3, rel=0.02)
    assert net.params["V"].std() == pytest.approx(0.3, rel=0.1)
    small = Network(300, 200, 5, init="normal", seed=0)
    assert small.params["W"].std() == pytest.approx(0.01, rel=0.02)  # the default scale
    np.testing.assert_array_equal(net.params["b"], 0.0)


@pytest.mark.parametrize("init", INITS)
def test_same_seed_same_params_different_seed_different(init):
    a = Network(D, M, K, init=init, seed=11)
    b = Network(D, M, K, init=init, seed=11)
    c = Network(D, M, K, init=init, seed=12)
    for name in ("W", "V"):
        np.testing.assert_array_equal(a.params[name], b.params[name])
        assert not np.array_equal(a.params[name], c.params[name])
    from_generator = Network(D, M, K, init=init, seed=np.random.default_rng(11))
    np.testing.assert_array_equal(from_generator.params["W"], a.params["W"])
    direct = init_params(D, M, K, init, 0.01, 11)
    np.testing.assert_array_equal(direct["V"], a.params["V"])


def test_unknown_init_lists_the_choices():
    with pytest.raises(
        ValueError, match=r"unknown initialisation 'glorot'; choose one of xavier, he, normal"
    ):
        Network(D, M, K, init="glorot")


def test_unknown_transfer_lists_the_choices():
    choices = ", ".join(sorted(F.TRANSFERS))
    with pytest.raises(
        ValueError, match=rf"unknown transfer function 'tahn'; choose one of {choices}$"
    ):
        Network(D, M, K, transfer="tahn")


def test_fewer_than_two_classes_is_an_error():
    with pytest.raises(ValueError, match=r"n_classes must be at least 2, got 1"):
        Network(D, M, 1)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_features": 0}, r"n_features must be a positive integer, got 0"),
        ({"n_hidden": 2.5}, r"n_hidden must be a positive integer, got 2.5"),
        ({"n_classes": True}, r"n_classes must be a positive integer, got True"),
    ],
)
def test_bad_sizes_are_named(kwargs, message):
    sizes = dict(n_features=D, n_hidden=M, n_classes=K)
    sizes.update(kwargs)
    with pytest.raises(ValueError, match=message):
        Network(**sizes)


def test_repr():
    assert repr(Network(4, 5, 3, "relu")) == (
        "Network(n_features=4, n_hidden=5, n_classes=3, transfer='relu')"
    )


# --- the graph's own tools on the network ---------------------------------------------------


@pytest.mark.parametrize("batch", [False, True], ids=["single", "batch"])
def test_jacobian_mode_and_path_sum_agree_with_the_formulas(batch):
    net = perturbed_network("tanh")
    x, y = example(batch)
    values = net.graph.forward(net.leaf_values(x, y))
    _, _, ref_grads = reference(net.params, x, y, "tanh")
    jac = net.graph.backward(values, mode="jacobian")
    vjp = net.graph.backward(values, mode="vjp")
    for name in PARAMS:
        np.testing.assert_allclose(jac[name], ref_grads[name], rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(vjp[name], ref_grads[name], rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(
            net.graph.path_sum(values, name), ref_grads[name], rtol=1e-10, atol=1e-14
        )
    # x has a gradient too: dL/dx = W^T dL/dz, per row of a batch (divided by B in the mean)
    g, dg = TRANSFER_CLOSED_FORMS["tanh"]
    X, Y = np.atleast_2d(x), np.atleast_1d(y)
    _, P, _ = reference(net.params, X, Y, "tanh")
    dZ = ((P - np.eye(K)[Y]) @ net.params["V"]) * dg(X @ net.params["W"].T + net.params["b"])
    dX = dZ @ net.params["W"] / len(X)
    np.testing.assert_allclose(jac["x"], dX.reshape(np.shape(x)), rtol=1e-10, atol=1e-14)
    np.testing.assert_array_equal(jac["y"], np.zeros(np.shape(y)))
    # each of the parameters and x has exactly one path to o, a list of edges (j, i)
    assert net.graph.paths("W") == [[(1, 7), (7, 8), (8, 9), (9, 10), (10, 11)]]
    assert net.graph.paths("gamma") == [[(5, 9), (9, 10), (10, 11)]]
    assert net.graph.count_paths("W") == net.graph.count_paths(5) == 1


@pytest.mark.parametrize("mode", ["vjp", "jacobian", "path_sum"])
@pytest.mark.parametrize("transfer", sorted(F.TRANSFERS))
def test_gradcheck_passes_on_the_network_graph(transfer, mode):
    net = perturbed_network(transfer)
    x, y = example(batch=(mode == "vjp"))
    report = gradcheck(net.graph, net.leaf_values(x, y), mode=mode)
    assert report.ok, str(report)
    assert [c.name for c in report.checks] == ["W", "x", "b", "V", "gamma"]
    assert report["W"].size == M * D


def test_gradcheck_catches_a_wrong_derivative():
    # gradcheck is independent of the network: a graph whose backward disagrees fails it.
    wrong = F.LocalFunction("wrong_tanh", np.tanh, vjps=[lambda g, h, z: g * (1.0 + h * h)])
    net = Network(D, M, K)
    from nnclf.graph.network import build_graph

    net.graph = build_graph(wrong)
    report = gradcheck(net.graph, net.leaf_values(*example(batch=False)))
    assert not report.ok
    assert not report["W"].ok and report["gamma"].ok


def test_to_dot_shows_every_vertex_and_edge():
    net = Network(D, M, K)
    dot = net.graph.to_dot()
    assert dot.startswith("digraph")
    for i, name in enumerate(["W", "x", "b", "V", "gamma", "y", "z", "h", "l", "q", "o"], start=1):
        assert f'v{i} [label="{i}: {name}' in dot
    for j, i in net.graph.edges:
        assert f"v{j} -> v{i};" in dot
    assert dot.count("->") == 10
    values = net.graph.forward(net.leaf_values(np.zeros(D), 0))
    assert f"d = {M * D}, shape ({M}, {D})" in net.graph.to_dot(values)


def test_loss_of_nothing_and_negative_init_scale_are_clear_errors():
    net = Network(3, 2, 2)
    with pytest.raises(ValueError, match=r"loss needs a non-empty \(n, 3\) array"):
        net.loss(np.zeros((0, 3)), np.zeros(0, dtype=int))
    with pytest.raises(ValueError, match="^scale must be > 0, got -1$"):
        Network(3, 2, 2, init="normal", init_scale=-1)


# --------------------------------------------------------------------------- memory


def test_memory_needed_counts_by_hand():
    # d=3, m=2, K=2: W 6 + b 2 + V 4 + gamma 2 = 14 parameters, 4 float64 copies = 448 bytes;
    # one step's buffers 2 * (3 + 2*2 + 2*2) = 22 entries of 8 bytes = 176 bytes.
    assert memory_needed(3, 2, 2) == 448 + 176
    assert memory_needed(3, 2, 2, np.float32) == 448 + 88
    assert memory_needed(3, 2, 2, batch_size=10) == 448 + 1760


@pytest.mark.parametrize(
    "d, m, K",
    [
        (64, 10**9, 10),
        (10**6, 10**6, 2),
        (10**8, 10**4, 3),
        (4, 10**12, 2),
        (2, 10, 10**12),
        (10**15, 1, 2),
    ],
)
def test_a_network_too_large_for_the_machine_is_refused_before_allocating(d, m, K):
    have = physical_memory()
    if have is None:
        pytest.skip("this system does not report its memory")
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError) as caught:
            Network(d, m, K)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    need = memory_needed(d, m, K)
    assert str(caught.value) == (
        f"a network with d={d} inputs, m={m} hidden units and K={K} classes needs about "
        f"{need / 2**30:.3g} GiB to train (W, V, their gradients and buffers) but this machine "
        f"has {have / 2**30:.3g} GiB; use fewer hidden units"
    )
    assert peak < 50e6


def test_the_limit_is_the_machines_memory(monkeypatch):
    monkeypatch.setattr(nnclf.graph.network, "physical_memory", lambda: memory_needed(5, 7, 3))
    Network(5, 7, 3)  # exactly what it needs: built
    with pytest.raises(ConfigError, match=r"m=8 hidden units .* but this machine has"):
        Network(5, 8, 3)
    monkeypatch.setattr(nnclf.graph.network, "physical_memory", lambda: None)
    Network(5, 8, 3)  # a system that does not say: no check


def test_an_allocation_that_fails_anyway_is_the_same_error(monkeypatch):
    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(nnclf.graph.network, "init_params", no_memory)
    with pytest.raises(
        ConfigError,
        match=r"^a network with d=5 inputs, m=7 hidden units and K=3 "
        r"classes does not fit in memory \(it needs about .* GiB\); use fewer "
        "hidden units$",
    ):
        Network(5, 7, 3)


@pytest.mark.parametrize("failure", [AttributeError, ValueError, OSError])
def test_physical_memory_is_none_when_the_system_does_not_say(monkeypatch, failure):
    def sysconf(name):
        raise failure(name)

    monkeypatch.setattr(nnclf.graph.network.os, "sysconf", sysconf)
    assert physical_memory() is None
