"""Deeper feedforward networks: model.hidden_units [m_1, ..., m_L] on the same graph module.

Each test checks against something written here without nnclf's help: the graph the notes'
construction gives for L layers, a plain-numpy backpropagation of the deep network
(:func:`deep_hand_gradients`), central finite differences, a replay of the initialisation,
one SGD step with l2 by hand, and the other engine.
"""

import json
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from conftest import random_problem
from notes_reference import TRANSFER_CLOSED_FORMS, central_differences, notes_network

import nnclf.graph as F
from nnclf import NNClassifier
from nnclf.cli import main
from nnclf.config.load import config_from_dict
from nnclf.config.settings import ModelConfig, SGDSettings
from nnclf.errors import ConfigError, ModelFileError
from nnclf.export.modelfile import load_model, save_model
from nnclf.export.trained import TrainedModel
from nnclf.graph.network import Network, init_params, memory_needed
from nnclf.training.trainer import Trainer

# ----------------------------------------------------------------------------- the reference


def deep_hand_gradients(params, X, y, transfers):
    """(loss, grads): the mean of -log softmax(l)_y over the rows of X and its gradients,
    by the textbook backward recursion for a network with len(transfers) hidden layers:
    delta_l = p - onehot(y), dV = delta_l h_L^T, delta_L = (V^T delta_l) * g_L'(z_L),
    delta_k = (W_{k+1}^T delta_{k+1}) * g_k'(z_k), dW_k = delta_k h_{k-1}^T, db_k = delta_k."""
    L = len(transfers)
    names = [("W", "b")] if L == 1 else [(f"W{k}", f"b{k}") for k in range(1, L + 1)]
    X2, y = np.atleast_2d(X), np.atleast_1d(y)
    B = len(X2)
    hs, zs = [X2], []
    for (w, b), t in zip(names, transfers):
        zs.append(hs[-1] @ params[w].T + params[b])
        hs.append(TRANSFER_CLOSED_FORMS[t][0](zs[-1]))
    logits = hs[-1] @ params["V"].T + params["gamma"]
    E = np.exp(logits - logits.max(axis=1, keepdims=True))
    P = E / E.sum(axis=1, keepdims=True)
    delta = P - np.eye(P.shape[1])[y]
    grads = {"V": delta.T @ hs[-1] / B, "gamma": delta.mean(axis=0)}
    upstream = params["V"]
    for k in reversed(range(L)):
        delta = (delta @ upstream) * TRANSFER_CLOSED_FORMS[transfers[k]][1](zs[k])
        w, b = names[k]
        grads[w], grads[b] = delta.T @ hs[k] / B, delta.mean(axis=0)
        upstream = params[w]
    return float(-np.mean(np.log(P[np.arange(B), y]))), grads


def _away_from_kinks(net, X, rng):
    """Redraw the parameters until no z is within 1e-3 of relu's kink (finite differences
    across it would not be a derivative)."""
    for _ in range(100):
        net.params = {k: rng.normal(size=v.shape) for k, v in net.params.items()}
        values = net.graph.forward(net.leaf_values(X, np.zeros(len(X), dtype=np.intp)))
        z = [values[f"z{k}"] for k in range(1, len(net.layers) + 1)]
        if min(np.min(np.abs(v)) for v in z) > 1e-3:
            return
    raise AssertionError("could not draw z away from 0")


# ----------------------------------------------------------------------------- the graph


def test_two_layers_build_the_notes_construction_twice():
    net = Network(4, [5, 3], 3, transfer=["tanh", "relu"])
    g = net.graph
    assert [v.name for v in g.leaves] == ["W1", "x", "b1", "W2", "b2", "V", "gamma", "y"]
    assert [v.name for v in g.vertices] == [
        "W1",
        "x",
        "b1",
        "W2",
        "b2",
        "V",
        "gamma",
        "y",
        "z1",
        "h1",
        "z2",
        "h2",
        "l",
        "q",
        "o",
    ]
    assert (g.l, g.n) == (8, 15)
    parents = {v.name: g.parents(v.name) for v in g.vertices[g.l :]}
    assert parents == {
        "z1": ("W1", "x", "b1"),
        "h1": ("z1",),
        "z2": ("W2", "h1", "b2"),
        "h2": ("z2",),
        "l": ("V", "h2", "gamma"),
        "q": ("l",),
        "o": ("q", "y"),
    }
    assert [v.fn for v in g.vertices[g.l :]] == [
        F.affine,
        F.tanh,
        F.affine,
        F.relu,
        F.affine,
        F.log_softmax,
        F.neg_pick,
    ]
    # E as the notes number it: (j, i) for every parent j of i.
    assert g.edges == [
        (1, 9),
        (2, 9),
        (3, 9),
        (9, 10),
        (4, 11),
        (10, 11),
        (5, 11),
        (11, 12),
        (6, 13),
        (12, 13),
        (7, 13),
        (13, 14),
        (14, 15),
        (8, 15),
    ]
    assert net.param_names == ("W1", "b1", "W2", "b2", "V", "gamma")
    assert list(net.params) == list(net.param_names)
    assert {k: v.shape for k, v in net.params.items()} == {
        "W1": (5, 4),
        "b1": (5,),
        "W2": (3, 5),
        "b2": (3,),
        "V": (3, 3),
        "gamma": (3,),
    }
    assert (net.layers, net.n_hidden, net.transfers, net.transfer) == (
        (5, 3),
        (5, 3),
        ("tanh", "relu"),
        ["tanh", "relu"],
    )


def test_three_layers_name_every_layer():
    net = Network(2, (4, 3, 2), 2)
    assert net.param_names == ("W1", "b1", "W2", "b2", "W3", "b3", "V", "gamma")
    assert [v.name for v in net.graph.vertices[net.graph.l :]] == [
        "z1",
        "h1",
        "z2",
        "h2",
        "z3",
        "h3",
        "l",
        "q",
        "o",
    ]
    assert net.transfer == "tanh" and net.transfers == ("tanh",) * 3


@pytest.mark.parametrize("n_hidden", [4, [4], (4,)])
def test_one_layer_in_any_spelling_is_the_notes_network(n_hidden):
    net = Network(3, n_hidden, 3, seed=7)
    notes = notes_network(F.tanh)
    assert [(v.name, v.fn, net.graph.parents(v.name)) for v in net.graph.vertices] == [
        (v.name, v.fn, notes.parents(v.name)) for v in notes.vertices
    ]
    assert net.graph.edges == notes.edges
    assert net.param_names == ("W", "b", "V", "gamma") and net.n_hidden == 4
    reference = Network(3, 4, 3, seed=7)
    for k in net.params:
        np.testing.assert_array_equal(net.params[k], reference.params[k])


# ----------------------------------------------------------------------------- initialisation


@pytest.mark.parametrize("init", ["xavier", "he", "normal"])
def test_each_layer_is_drawn_by_its_own_fan_in_and_out_from_one_generator(init):
    d, sizes, K, seed = 6, (5, 4, 3), 2, 11
    params = init_params(d, list(sizes), K, init, 0.3, seed)
    rng = np.random.default_rng(seed)
    expected = {}
    for k, (fan_out, fan_in) in enumerate(zip((*sizes, K), (d, *sizes))):
        if init == "xavier":
            a = np.sqrt(6.0 / (fan_in + fan_out))
            W = rng.uniform(-a, a, size=(fan_out, fan_in))
        elif init == "he":
            W = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_out, fan_in))
        else:
            W = rng.normal(0.0, 0.3, size=(fan_out, fan_in))
        name = "V" if k == len(sizes) else f"W{k + 1}"
        expected[name] = W
        expected["gamma" if name == "V" else f"b{k + 1}"] = np.zeros(fan_out)
    assert list(params) == ["W1", "b1", "W2", "b2", "W3", "b3", "V", "gamma"]
    for name in expected:
        np.testing.assert_array_equal(params[name], expected[name])
    again = Network(d, sizes, K, init=init, init_scale=0.3, seed=seed)
    for name in expected:
        np.testing.assert_array_equal(again.params[name], expected[name])


def test_memory_estimate_counts_every_layer():
    # parameters: 5*(4+1) + 3*(5+1) + 2*(3+1) = 51; buffers: 2*(4 + 2*8 + 2*2) = 48 per row
    assert memory_needed(4, [5, 3], 2) == 4 * 51 * 8 + 48 * 8
    assert memory_needed(4, 5, 2) == memory_needed(4, [5], 2) == 4 * (25 + 12) * 8 + 2 * 18 * 8


def test_a_deep_network_too_large_is_refused_naming_its_layers(monkeypatch):
    monkeypatch.setattr("nnclf.graph.network.physical_memory", lambda: 2**30)
    with pytest.raises(
        ConfigError,
        match=r"^a network with d=10 inputs, m=\[100000, 100000\] "
        r"hidden units and K=3 classes needs about .* GiB to "
        r"train \(W1..W2, V, their gradients and buffers\)",
    ):
        Network(10, [100000, 100000], 3)


# ----------------------------------------------------------------------------- gradients


CASES = [
    ([5, 4], ["tanh", "sigmoid"]),
    ([4, 3, 5], ["relu", "softplus", "tanh"]),
    ([3, 3], "identity"),
]


@pytest.mark.parametrize("sizes, transfer", CASES)
def test_every_mode_matches_hand_backprop_and_finite_differences(sizes, transfer):
    rng = np.random.default_rng(len(sizes))
    net = Network(4, sizes, 3, transfer=transfer)
    x, y = rng.normal(size=4), np.int64(2)
    _away_from_kinks(net, x[None], rng)
    loss, hand = deep_hand_gradients(net.params, x, y, net.transfers)
    values = net.graph.forward(net.leaf_values(x, y))
    assert float(values["o"]) == pytest.approx(loss, rel=1e-13)
    modes = {
        mode: net.graph.backward(values, mode=mode, wrt=net.param_names)
        for mode in ("vjp", "jacobian")
    }
    modes["path_sum"] = {k: net.graph.path_sum(values, k, "o") for k in net.param_names}

    def o():
        return net.graph.forward(net.leaf_values(x, y))["o"]

    for name in net.param_names:
        numeric = central_differences(o, net.params[name])
        for mode, grads in modes.items():
            np.testing.assert_allclose(
                grads[name], hand[name], rtol=1e-10, atol=1e-12, err_msg=f"{mode} {name}"
            )
            np.testing.assert_allclose(
                grads[name],
                numeric,
                rtol=1e-6,
                atol=1e-8,
                err_msg=f"{mode} {name} vs finite differences",
            )


def test_batch_gradients_are_the_mean_of_the_hand_backprop():
    rng = np.random.default_rng(5)
    net = Network(4, (6, 5, 4), 3, transfer=["tanh", "relu", "sigmoid"])
    X, y = rng.normal(size=(9, 4)), rng.integers(0, 3, 9)
    _away_from_kinks(net, X, rng)
    loss, grads = net.loss_and_gradients(X, y)
    hand_loss, hand = deep_hand_gradients(net.params, X, y, net.transfers)
    assert loss == pytest.approx(hand_loss, rel=1e-13)
    for name in net.param_names:
        np.testing.assert_allclose(grads[name], hand[name], rtol=1e-10, atol=1e-13)
    assert net.loss(X, y) == pytest.approx(hand_loss, rel=1e-13)


def test_per_layer_transfers_are_applied_in_order():
    rng = np.random.default_rng(2)
    net = Network(3, [4, 4], 2, transfer=["relu", "sigmoid"], seed=1)
    X = rng.normal(size=(5, 3))
    p = net.params
    h1 = np.maximum(X @ p["W1"].T + p["b1"], 0)
    h2 = 1 / (1 + np.exp(-(h1 @ p["W2"].T + p["b2"])))
    logits = h2 @ p["V"].T + p["gamma"]
    expected = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(net.predict_log_proba(X), expected, rtol=1e-12)


def test_gradcheck_command_checks_every_parameter_of_a_deep_config(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "deep.yaml").write_text(
        "data: {source: sklearn:iris}\nmodel: {hidden_units: [6, 5, 4], transfer: softplus}\n"
    )
    assert main(["gradcheck", "deep.yaml", "--examples", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(
        "gradcheck: 2 training examples of sklearn:iris, network d=4 "
        "m=[6, 5, 4] K=3 (softplus), each mode"
    )
    rows = [line.split() for line in lines[2:-1]]
    assert [(r[0], r[1]) for r in rows] == [
        (m, p)
        for m in ("vjp", "jacobian", "path_sum")
        for p in ("W1", "b1", "W2", "b2", "W3", "b3", "V", "gamma")
    ]
    assert all(r[-1] == "yes" for r in rows) and lines[-1] == "all agree"


def test_graph_command_shows_the_deeper_graph(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "deep.yaml").write_text(
        "data: {source: sklearn:iris}\nmodel: {hidden_units: [6, 5], transfer: [relu, tanh]}\n"
    )
    assert main(["graph", "deep.yaml"]) == 0
    dot = capsys.readouterr().out
    for label in (
        "1: W1\\nd = 24, shape (6, 4)",
        "9: z1 = affine(W1, x, b1)\\nd = 6",
        "10: h1 = relu(z1)",
        "11: z2 = affine(W2, h1, b2)\\nd = 5",
        "12: h2 = tanh(z2)",
        "13: l = affine(V, h2, gamma)\\nd = 3",
    ):
        assert label in dot
    assert "v10 -> v11;" in dot and "v12 -> v13;" in dot


# ----------------------------------------------------------------------------- training


_data = partial(random_problem, n=120, d=6)


def _train(engine, sizes, **settings):
    X, y = _data()
    net = Network(6, sizes, 3, transfer=["tanh", "relu", "sigmoid"][: len(sizes)], seed=1)
    trainer = Trainer(
        net,
        SGDSettings(
            steps=600,
            engine=engine,
            schedule={"name": "inverse_time", "eta0": 0.05, "tau": 300},
            **settings,
        ),
        seed=3,
        progress="none",
    )
    trainer.fit(X, y)
    assert trainer.engine.name == engine
    return trainer


# Each case compiles a step of its own, so each depth meets the update rules that differ in
# the generated step rather than every pairing: two layers with plain SGD and l2 (the unfused
# path, the very step of the l2 test below), three layers with fused SGD, momentum with l2,
# and Nesterov on minibatches.
@pytest.mark.slow
@pytest.mark.parametrize(
    "sizes, settings",
    [
        ((7, 5), {"l2": 0.01}),
        ((6, 5, 4), {}),
        ((6, 5, 4), {"momentum": 0.9, "l2": 0.01}),
        ((6, 5, 4), {"momentum": 0.5, "nesterov": True, "batch_size": 8}),
    ],
)
def test_both_engines_take_the_same_steps_on_deep_networks(sizes, settings):
    pytest.importorskip("numba")
    fast, slow = _train("numba", sizes, **settings), _train("numpy", sizes, **settings)
    assert list(fast.network.params) == list(slow.network.params)
    for name, value in slow.network.params.items():
        scale = np.max(np.abs(value))
        assert np.max(np.abs(fast.network.params[name] - value)) <= 1e-8 * scale, name
    assert fast.history[-1]["train_loss"] == pytest.approx(slow.history[-1]["train_loss"], rel=1e-8)


@pytest.mark.parametrize("engine", ["numpy", pytest.param("numba", marks=pytest.mark.slow)])
def test_l2_decays_every_weight_matrix_of_a_deep_network_and_no_bias(engine):
    if engine == "numba":
        pytest.importorskip("numba")
    X, y = _data(n=16)
    net = Network(6, (5, 4), 3, transfer=["tanh", "relu"], seed=4)
    net.params = {k: v + 0.1 for k, v in net.params.items()}  # biases non-zero too
    before = {k: v.copy() for k, v in net.params.items()}
    eta, l2 = 0.2, 0.3
    # One step over a batch of all 16 rows: the gradient is the full mean, whatever the order.
    trainer = Trainer(
        net,
        SGDSettings(
            steps=1,
            batch_size=16,
            sampling="shuffle",
            l2=l2,
            schedule={"name": "constant", "eta0": eta},
            engine=engine,
        ),
        seed=0,
        progress="none",
    )
    trainer.fit(X, y)
    _, grads = deep_hand_gradients(before, X, y, ("tanh", "relu"))
    for name, p in before.items():
        decay = l2 * p if p.ndim == 2 else 0.0
        np.testing.assert_allclose(
            net.params[name], p - eta * (grads[name] + decay), rtol=1e-12, atol=1e-14, err_msg=name
        )


def test_a_checkpoint_of_a_deep_network_resumes_bit_identically():
    X, y = _data()
    settings = SGDSettings(steps=200, momentum=0.9, engine="numpy")
    whole = Trainer(Network(6, (5, 4), 3, seed=2), settings, seed=5, progress="none")
    whole.fit(X, y)
    half = Trainer(Network(6, (5, 4), 3, seed=2), settings, seed=5, progress="none")
    half.fit(X, y, max_steps=73)
    resumed = Trainer(Network(6, (5, 4), 3, seed=99), settings, seed=5, progress="none")
    resumed.load_state_dict(*half.state_dict())
    resumed.fit(X, y)
    for name in whole.network.params:
        np.testing.assert_array_equal(resumed.network.params[name], whole.network.params[name])


# ----------------------------------------------------------------------------- the CLI


DEEP_RUN = """\
seed: 0
data: {source: sklearn:iris}
model: {hidden_units: [8, 6], transfer: [tanh, relu]}
train: {epochs: 4}
output: {dir: runs/deep}
"""


def test_a_deep_config_trains_and_its_run_directory_evaluates_and_predicts(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "deep.yaml").write_text(DEEP_RUN)
    assert main(["train", "deep.yaml", "--quiet", "--set", "model.hidden_units=[8,6]"]) == 0
    run = tmp_path / "runs" / "deep"
    model = TrainedModel.load(run / "model.npz")
    assert model.network.layers == (8, 6) and model.network.transfers == ("tanh", "relu")
    assert model.config["model"]["hidden_units"] == [8, 6]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.8
    capsys.readouterr()
    assert main(["evaluate", str(run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == metrics["test"]["accuracy"]
    rows = np.random.default_rng(0).normal(size=(3, 4))
    (tmp_path / "new.csv").write_text("a,b,c,d\n" + "\n".join(",".join(map(str, r)) for r in rows))
    assert main(["predict", str(run / "model.npz"), "--data", "new.csv", "--out", "p.csv"]) == 0
    proba = np.loadtxt(tmp_path / "p.csv", delimiter=",", skiprows=1, usecols=(1, 2, 3))
    np.testing.assert_allclose(proba, model.predict_proba(rows), rtol=1e-5)


def test_the_bundled_two_layer_digits_config_trains_well(tmp_path, monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parent.parent)
    assert main(["train", "configs/digits_deep.yaml", "--quiet", "--out", str(tmp_path / "d")]) == 0
    assert TrainedModel.load(tmp_path / "d" / "model.npz").network.layers == (57, 57)
    assert json.loads((tmp_path / "d" / "metrics.json").read_text())["test"]["accuracy"] >= 0.96


@pytest.mark.parametrize(
    "override, message",
    [
        ("model.hidden_units=[64,0]", "model.hidden_units[1] must be an integer >= 1, got 0"),
        (
            "model.hidden_units=[]",
            "model.hidden_units must list 1 to 10 values (one per hidden layer), got 0: []",
        ),
        (
            "model.hidden_units=[1,1,1,1,1,1,1,1,1,1,1]",
            "model.hidden_units must list 1 to 10 values (one per hidden layer), got 11",
        ),
        ("model.hidden_units=[8, x]", "model.hidden_units[1] must be an integer >= 1, got 'x'"),
        (
            "model.transfer=[tanh, relu, tanh]",
            "model.transfer lists 3 functions but hidden_units "
            "has 2 layers; give one name per hidden layer, or one "
            "name for all",
        ),
        (
            "model.transfer=[tanh, rellu]",
            "model.transfer[1]: unknown transfer function 'rellu' "
            "(did you mean 'relu'?); choose one of ",
        ),
    ],
)
def test_bad_layer_lists_are_one_line_naming_the_key_and_element(
    tmp_path, monkeypatch, capsys, override, message
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "deep.yaml").write_text(DEEP_RUN)
    assert main(["train", "deep.yaml", "--set", override]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"nnclf: error: {message}") and err.count("\n") == 1
    assert not (tmp_path / "runs").exists()


def test_model_config_keeps_lists_and_names_its_layers():
    cfg = config_from_dict({"model": {"hidden_units": [6, 4], "transfer": ["relu", "tanh"]}})
    assert (
        cfg.model == ModelConfig([6, 4], ["relu", "tanh"]) == ModelConfig((6, 4), ("relu", "tanh"))
    )
    assert (cfg.model.layers, cfg.model.transfers) == ((6, 4), ("relu", "tanh"))
    assert ModelConfig([6, 4], "relu").transfers == ("relu", "relu")
    assert (ModelConfig().layers, ModelConfig().transfers) == ((100,), ("tanh",))


# ----------------------------------------------------------------------------- model files


def _deep_model(seed=0):
    net = Network(4, (5, 3), 3, transfer=["relu", "tanh"], seed=seed)
    return TrainedModel(net, np.array(["a", "b", "c"]), feature_names=("p", "q", "r", "s"))


def test_deep_model_files_round_trip_and_predict_identically(tmp_path):
    model = _deep_model()
    model.save(tmp_path / "m.npz")
    params, meta = load_model(tmp_path / "m.npz")
    assert list(params) == ["W1", "b1", "W2", "b2", "V", "gamma"]
    assert (meta["format_version"], meta["layers"], meta["transfer"]) == (
        2,
        [5, 3],
        ["relu", "tanh"],
    )
    back = TrainedModel.load(tmp_path / "m.npz")
    assert back.network.layers == (5, 3) and back.network.transfers == ("relu", "tanh")
    X = np.random.default_rng(1).normal(size=(7, 4))
    np.testing.assert_array_equal(back.predict_proba(X), model.predict_proba(X))


def test_one_layer_files_keep_the_old_format(tmp_path):
    net = Network(4, [5], 3, seed=0)
    TrainedModel(net, np.array([0, 1, 2])).save(tmp_path / "m.npz")
    params, meta = load_model(tmp_path / "m.npz")
    assert list(params) == ["W", "b", "V", "gamma"]
    assert (meta["format_version"], meta["transfer"], meta["layers"]) == (1, "tanh", [5])


def test_a_file_written_before_deep_networks_loads_and_predicts_as_before(tmp_path):
    """A model file exactly as nnclf wrote it before layers existed: W, b, V, gamma, an int
    hidden_units in its config, one transfer name, no 'layers'."""
    rng = np.random.default_rng(3)
    p = {
        "W": rng.normal(size=(5, 4)),
        "b": rng.normal(size=5),
        "V": rng.normal(size=(3, 5)),
        "gamma": rng.normal(size=3),
    }
    meta = {
        "format": "nnclf-model",
        "format_version": 1,
        "nnclf_version": "0.1.0",
        "classes": ["x", "y", "z"],
        "feature_names": None,
        "standardizer": None,
        "transfer": "sigmoid",
        "dtype": "float64",
        "config": {"model": {"hidden_units": 5, "transfer": "sigmoid"}},
        "data": None,
    }
    np.savez(tmp_path / "old.npz", metadata=np.array(json.dumps(meta)), **p)
    model = TrainedModel.load(tmp_path / "old.npz")
    X = rng.normal(size=(6, 4))
    logits = 1 / (1 + np.exp(-(X @ p["W"].T + p["b"]))) @ p["V"].T + p["gamma"]
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.predict_proba(X), expected, rtol=1e-12)
    assert model.network.param_names == ("W", "b", "V", "gamma")
    clf = NNClassifier.load(tmp_path / "old.npz")
    assert (clf.hidden_units, clf.transfer) == (5, "sigmoid")
    np.testing.assert_array_equal(clf.W_, p["W"])


def _rewrite_arrays(path, change):
    with np.load(path) as f:
        arrays = dict(f)
    change(arrays)
    np.savez(path, **arrays)


@pytest.mark.parametrize(
    "change, problem",
    [
        (
            lambda a: a.update(W2=np.zeros((3, 4))),
            r"parameter 'W2' has shape \(3, 4\) but W1 has 5 "
            r"hidden units",
        ),
        (
            lambda a: a.update(b2=np.zeros(4)),
            r"parameter 'b2' has shape \(4,\) but W2 has 3 hidden "
            r"units",
        ),
        (
            lambda a: a.update(V=np.zeros((3, 5))),
            r"parameter 'V' has shape \(3, 5\) but W2 has 3 "
            r"hidden units",
        ),
        (
            lambda a: a.update(gamma=np.zeros(2)),
            r"parameter 'gamma' has shape \(2,\) but V has 3 "
            r"classes",
        ),
        (lambda a: a.pop("b2"), r"is not an nnclf model \(missing parameter 'b2'\)"),
        (lambda a: a.update(W=np.zeros((5, 4))), r"has both 'W' and 'W1'"),
        (lambda a: a.update(W1=np.zeros((5, 4), dtype=int)), r"parameter 'W1' has dtype int64"),
    ],
)
def test_inconsistent_deep_files_are_one_clear_error(tmp_path, change, problem):
    _deep_model().save(tmp_path / "m.npz")
    _rewrite_arrays(tmp_path / "m.npz", change)
    with pytest.raises(ModelFileError, match=r"^model file '.*m\.npz': " + problem):
        TrainedModel.load(tmp_path / "m.npz")


def test_save_model_refuses_a_broken_chain_and_stray_names(tmp_path):
    params = dict(_deep_model().network.params)
    with pytest.raises(
        ModelFileError,
        match=r"unexpected parameter 'U'; expected W1, b1, W2, "
        r"b2, V, gamma",
    ):
        save_model(tmp_path / "m.npz", {**params, "U": params["W2"]}, {})
    with pytest.raises(
        ModelFileError,
        match=r"parameter 'b3' is missing; pass all of W1, b1, "
        r"W2, b2, W3, b3, V, gamma",
    ):
        save_model(tmp_path / "m.npz", {**params, "W3": params["W2"]}, {})
    with pytest.raises(ModelFileError, match=r"has both 'W' and 'W1'"):
        save_model(tmp_path / "m.npz", {**params, "W": params["W1"]}, {})
    with pytest.raises(ModelFileError, match=r"parameter 'b1' is missing; pass all of W1, b1"):
        save_model(tmp_path / "m.npz", {k: v for k, v in params.items() if k != "b1"}, {})
    assert not (tmp_path / "m.npz").exists()


def test_deep_models_pickle():
    import pickle

    model = _deep_model(seed=3)
    back = pickle.loads(pickle.dumps(model))
    X = np.random.default_rng(0).normal(size=(4, 4))
    np.testing.assert_array_equal(back.predict_proba(X), model.predict_proba(X))
    assert back.network.transfers == ("relu", "tanh")


# ----------------------------------------------------------------------------- the estimator


@pytest.fixture(scope="module")
def iris():
    from sklearn.datasets import load_iris

    return load_iris(return_X_y=True)


def test_the_estimator_takes_a_tuple_and_exposes_coefs_and_intercepts(iris, tmp_path):
    X, y = iris
    clf = NNClassifier(
        hidden_units=(8, 6), transfer=("tanh", "relu"), epochs=30, random_state=0
    ).fit(X, y)
    assert clf.score(X, y) > 0.9
    net = clf.network_
    assert net.layers == (8, 6) and net.transfers == ("tanh", "relu")
    assert [c.shape for c in clf.coefs_] == [(8, 4), (6, 8), (3, 6)]
    assert [b.shape for b in clf.intercepts_] == [(8,), (6,), (3,)]
    assert clf.coefs_[1] is net.params["W2"] and clf.intercepts_[-1] is net.params["gamma"]
    assert clf.V_ is net.params["V"]
    with pytest.raises(
        AttributeError,
        match=r"W_: the network has 2 hidden layers "
        r"\(hidden_units=\[8, 6\]\), so there is no single W;"
        r" use coefs_ and intercepts_",
    ):
        clf.W_
    assert not hasattr(clf, "b_")
    clf.save(tmp_path / "m.npz")
    back = NNClassifier.load(tmp_path / "m.npz")
    assert back.get_params()["hidden_units"] in ((8, 6), [8, 6])
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))


def test_one_layer_estimator_coefs_are_w_and_v(iris):
    X, y = iris
    clf = NNClassifier(hidden_units=[5], epochs=2, random_state=0).fit(X, y)
    assert clf.coefs_[0] is clf.W_ and clf.coefs_[1] is clf.V_
    assert clf.intercepts_[0] is clf.b_ and clf.intercepts_[1] is clf.gamma_
    same = NNClassifier(hidden_units=5, epochs=2, random_state=0).fit(X, y)
    np.testing.assert_array_equal(same.W_, clf.W_)


def test_warm_start_refuses_changed_layers_but_not_a_respelling(iris):
    X, y = iris
    clf = NNClassifier(hidden_units=(6, 4), epochs=1, warm_start=True, random_state=0).fit(X, y)
    clf.set_params(hidden_units=[6, 4], transfer=["tanh", "tanh"]).fit(X, y)  # the same network
    clf.set_params(hidden_units=(6, 5))
    with pytest.raises(
        ConfigError,
        match=r"^hidden_units is \(6, 5\) but the fitted network has "
        r"\(6, 4\), so training cannot continue",
    ):
        clf.fit(X, y)
    clf.set_params(hidden_units=(6, 4), transfer=["tanh", "relu"])
    with pytest.raises(
        ConfigError,
        match=r"^transfer is \['tanh', 'relu'\] but the fitted "
        r"network has 'tanh'",
    ):
        clf.partial_fit(X, y)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"hidden_units": (4, 0)}, r"^hidden_units\[1\] must be an integer >= 1, got 0$"),
        ({"hidden_units": ()}, r"^hidden_units must list 1 to 10 values"),
        (
            {"hidden_units": (4, 4), "transfer": ["tanh"] * 3},
            r"^transfer lists 3 functions but hidden_units has 2 layers",
        ),
        ({"hidden_units": "4"}, r"The 'hidden_units' parameter of NNClassifier must be an int"),
    ],
)
def test_the_estimator_names_the_bad_parameter(iris, params, message):
    X, y = iris
    with pytest.raises(ValueError, match=message):
        NNClassifier(**params, epochs=1).fit(X, y)


# ----------------------------------------------------------------------------- scripts/depth.py


def test_depth_script_matches_parameter_counts_and_prints_its_table(capsys, load_script):
    depth = load_script("depth")
    # digits: one layer of 100 is 100*65 + 10*101 = 7510; (57, 57) is 57*65 + 57*58 + 10*58.
    assert depth.parameter_count(64, (100,), 10) == 7510
    assert depth.matched_two_layers(64, 100, 10) == (57, 57)
    assert depth.parameter_count(64, (57, 57), 10) == 57 * 65 + 57 * 58 + 10 * 58
    depth.main(["--quick", "--data", "shells", "--engine", "numpy"])
    lines = capsys.readouterr().out.splitlines()
    assert (
        lines[1]
        == "| data | hidden layers | parameters | test accuracy (mean ± sd) | fit seconds |"
    )
    assert [line.split(" | ")[1:3] for line in lines[3:]] == [["[50]", "703"], ["[20, 20]", "703"]]
