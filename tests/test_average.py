"""Adagrad, Adam and averaged SGD against a replay written here in plain numpy.

The replay draws the example indices as the sampler documents it (one epoch at a time,
``rng.integers(0, n, size=steps_per_epoch * B)`` from ``default_rng(seed)``), computes the
gradient of the one-hidden-layer tanh network by its hand-derived backward pass (below, not
nnclf's graph), clips and decays it, and applies the update written out from the papers:
Adagrad (Duchi et al. 2011), Adam (Kingma and Ba 2015, Algorithm 1), and the running average
avg_t = avg_{t-1} + (theta_t - avg_{t-1}) / (t - t0 + 1) from step t0 on. Both engines are
compared with it, and checkpoints cut before and after t0 must resume bit-identically.
"""

import importlib.util
import math

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from nnclf import NNClassifier
from nnclf.config.load import config_from_dict
from nnclf.config.settings import ModelConfig, SGDSettings
from nnclf.errors import CheckpointError, ConfigError
from nnclf.estimator.params import expected_failed_checks
from nnclf.export.trained import TrainedModel
from nnclf.graph.network import Network
from nnclf.runs import run
from nnclf.training.trainer import EarlyStopping, Trainer, load_checkpoint, save_checkpoint

D, M, K, N = 4, 6, 3, 30
SEED = 7

NO_NUMBA = pytest.mark.skipif(
    importlib.util.find_spec("numba") is None, reason="numba is not installed"
)
# The case whose compiled step holds every part (Adam, clipping, l2, averaging) runs on numba
# in the quick run; the other cases' steps cost a compile each, so their numba runs are slow.
QUICK_ON_NUMBA = {"adam_clip_l2_averaged", "averaged_adam_clip_l2_minibatch"}


def on_both_engines(names):
    """(name, engine) for every case on numpy and on numba."""
    return [pytest.param(name, "numpy", id=f"{name}-numpy") for name in names] + [
        pytest.param(
            name,
            "numba",
            id=f"{name}-numba",
            marks=[NO_NUMBA] + ([] if name in QUICK_ON_NUMBA else [pytest.mark.slow]),
        )
        for name in names
    ]


def toy_data(n=N, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(D, K))
    X = rng.normal(size=(n, D))
    return X, np.argmax(X @ A + 0.3 * rng.normal(size=(n, K)), axis=1)


def gradients(p, X, y):
    """The mean over the rows of d(-log softmax(V tanh(Wx + b) + gamma)_y), by hand."""
    H = np.tanh(X @ p["W"].T + p["b"])
    L = H @ p["V"].T + p["gamma"]
    P = np.exp(L - L.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    delta = (P - np.eye(K)[y]) / len(y)  # dL/dl, one row per example
    dZ = (delta @ p["V"]) * (1 - H**2)  # dL/dz = V^T dL/dl * tanh'(z)
    return {"W": dZ.T @ X, "b": dZ.sum(axis=0), "V": delta.T @ H, "gamma": delta.sum(axis=0)}


def replay(
    params,
    X,
    y,
    T,
    eta,
    optimizer="sgd",
    beta1=0.9,
    beta2=0.999,
    epsilon=1e-8,
    clip_norm=None,
    l2=0.0,
    average=None,
    batch_size=1,
    on_step=None,
    seed=SEED,
):
    """(final iterate, running average or None) after T steps, written out independently."""
    theta = {k: np.array(v, dtype=float) for k, v in params.items()}
    G = {k: np.zeros_like(v) for k, v in theta.items()}  # Adagrad's sum of g*g
    m = {k: np.zeros_like(v) for k, v in theta.items()}  # Adam's moments
    v2 = {k: np.zeros_like(v) for k, v in theta.items()}
    avg = None
    rng = np.random.default_rng(seed)
    B, t = batch_size, 0
    per_epoch = -(-len(X) // B)
    while t < T:
        order = rng.integers(0, len(X), size=per_epoch * B)
        for s in range(min(per_epoch, T - t)):
            t += 1
            rows = order[s * B : (s + 1) * B]
            g = gradients(theta, X[rows], y[rows])
            norm = math.sqrt(sum(np.sum(a * a) for a in g.values()))
            if clip_norm is not None and norm > clip_norm:
                g = {k: a * clip_norm / norm for k, a in g.items()}
            g = {k: a + l2 * theta[k] if k in ("W", "V") else a for k, a in g.items()}
            for k in theta:
                if optimizer == "adagrad":
                    G[k] = G[k] + g[k] ** 2
                    theta[k] = theta[k] - eta * g[k] / (np.sqrt(G[k]) + epsilon)
                elif optimizer == "adam":
                    m[k] = beta1 * m[k] + (1 - beta1) * g[k]
                    v2[k] = beta2 * v2[k] + (1 - beta2) * g[k] ** 2
                    mhat, vhat = m[k] / (1 - beta1**t), v2[k] / (1 - beta2**t)
                    theta[k] = theta[k] - eta * mhat / (np.sqrt(vhat) + epsilon)
                else:
                    theta[k] = theta[k] - eta * g[k]
            if average is not None and t >= average:
                avg = (
                    {k: a.copy() for k, a in theta.items()}
                    if t == average
                    else {k: avg[k] + (theta[k] - avg[k]) / (t - average + 1) for k in theta}
                )
            if on_step is not None:
                on_step(t, theta, avg)
    return theta, avg


CASES = {
    # name: (settings, the replay's arguments)
    "adagrad": (dict(optimizer="adagrad"), dict(optimizer="adagrad")),
    "adam": (
        dict(optimizer={"name": "adam", "beta1": 0.8, "beta2": 0.99}),
        dict(optimizer="adam", beta1=0.8, beta2=0.99),
    ),
    "averaged_sgd": (dict(average=True), dict(average=1)),
    "averaged_from_t0": (dict(average=40), dict(average=40)),
    "adam_clip_l2_averaged": (
        dict(optimizer="adam", clip_norm=0.5, l2=0.01, average=20),
        dict(optimizer="adam", clip_norm=0.5, l2=0.01, average=20),
    ),
}
ETA = 0.05
T = 75  # two and a half epochs of 30


def settings_for(options, engine="numpy", steps=T, batch_size=1, **more):
    return SGDSettings(
        steps=steps,
        engine=engine,
        batch_size=batch_size,
        schedule={"name": "constant", "eta0": ETA},
        **options,
        **more,
    )


def assert_close(actual, expected, tol=1e-10):
    for k in expected:
        np.testing.assert_allclose(actual[k], expected[k], rtol=tol, atol=tol, err_msg=k)


@pytest.mark.parametrize("batch_size", [1, 4])
@pytest.mark.parametrize("name, engine", on_both_engines(CASES))
def test_both_engines_follow_the_replay(name, batch_size, engine):
    options, replayed = CASES[name]
    X, y = toy_data()
    net = Network(D, M, K, seed=0)
    start = {k: v.copy() for k, v in net.params.items()}
    trainer = Trainer(
        net, settings_for(options, engine, batch_size=batch_size), seed=SEED, progress="none"
    )
    trainer.fit(X, y)
    assert trainer.engine.name == engine
    theta, avg = replay(start, X, y, T, ETA, batch_size=batch_size, **replayed)
    if "average" in replayed:
        assert_close(net.params, avg)  # the model is the average ...
        assert_close(trainer.average.iterate, theta)  # ... the iterate is kept
        assert trainer.average.count == T - replayed["average"] + 1
    else:
        assert_close(net.params, theta)
        assert trainer.average is None


def test_adams_count_is_in_its_state_and_the_bias_correction_uses_it():
    X, y = toy_data()
    trainer = Trainer(
        Network(D, M, K, seed=0), settings_for(dict(optimizer="adam")), seed=SEED, progress="none"
    )
    trainer.fit(X, y, max_steps=12)
    assert trainer.opt_state["count"]["k"].tolist() == [12.0]
    arrays, _ = trainer.state_dict()
    assert {"count_k", "m_W", "v_gamma"} <= set(arrays)


def test_an_extend_that_switches_to_adam_starts_its_count_at_one():
    X, y = toy_data()
    net = Network(D, M, K, seed=0)
    trainer = Trainer(net, settings_for({}, steps=20), seed=SEED, progress="none")
    trainer.fit(X, y)
    after_sgd = {k: v.copy() for k, v in net.params.items()}
    trainer.extend(25, settings_for(dict(optimizer="adam"), steps=1))
    trainer.fit(X, y)
    assert trainer.opt_state["count"]["k"].tolist() == [25.0]
    # Steps 21..45 are Adam from the SGD parameters, its k = 1 .. 25, on the same picks.
    rng = np.random.default_rng(SEED)
    order = np.concatenate([rng.integers(0, N, size=N) for _ in range(2)])
    theta = after_sgd
    m = {k: np.zeros_like(v) for k, v in theta.items()}
    v2 = {k: np.zeros_like(v) for k, v in theta.items()}
    for k_adam, i in enumerate(order[20:45], start=1):
        g = gradients(theta, X[[i]], y[[i]])
        for k in theta:
            m[k] = 0.9 * m[k] + 0.1 * g[k]
            v2[k] = 0.999 * v2[k] + 0.001 * g[k] ** 2
            theta[k] = theta[k] - ETA * (m[k] / (1 - 0.9**k_adam)) / (
                np.sqrt(v2[k] / (1 - 0.999**k_adam)) + 1e-8
            )
    assert_close(net.params, theta)


# ------------------------------------------------------------------ checkpoints

# The settings of each case are those of a replay case above, so that the compiled engine
# runs the steps it has already compiled for them (which steps a rule compiles depends on the
# rule, clipping, l2 and averaging, not on their values or on the batch size).
RESUME = {
    "adagrad": (dict(optimizer="adagrad"), [17, 47]),
    "adam": (dict(optimizer="adam"), [17, 47]),
    # Cut before t0 = 40 and after it, both mid-epoch; and right at t0.
    "averaged_from_t0": (dict(average=40), [17, 40, 47]),
    "averaged_adam_clip_l2_minibatch": (
        dict(optimizer="adam", clip_norm=0.5, l2=0.01, average=5, batch_size=4),
        [3, 10],
    ),
}


@pytest.mark.parametrize("name, engine", on_both_engines(RESUME))
def test_stop_save_restore_finish_is_bit_identical(name, engine, tmp_path):
    options, cuts = RESUME[name]
    options = dict(options)
    batch = options.pop("batch_size", 1)
    X, y = toy_data()
    Xv, yv = toy_data(10, seed=1)
    settings = settings_for(options, engine, batch_size=batch, eval_every=10)
    whole = Trainer(Network(D, M, K, seed=0), settings, seed=SEED, progress="none")
    whole.fit(X, y, Xv, yv)
    for cut in cuts:
        first = Trainer(Network(D, M, K, seed=0), settings, seed=SEED, progress="none")
        first.fit(X, y, Xv, yv, max_steps=cut)
        save_checkpoint(tmp_path / "c.npz", first)
        again = Trainer(Network(D, M, K, seed=5), settings, seed=SEED, progress="none")
        again.load_state_dict(*load_checkpoint(tmp_path / "c.npz"))
        again.fit(X, y, Xv, yv)
        for k in whole.network.params:
            assert np.array_equal(again.network.params[k], whole.network.params[k]), (cut, k)
        if whole.average is not None:
            for k in whole.average.iterate:
                assert np.array_equal(again.average.iterate[k], whole.average.iterate[k])
        assert again.history == whole.history


def test_a_finished_averaged_run_saved_and_restored_shows_the_average_and_goes_on(tmp_path):
    X, y = toy_data()
    settings = settings_for(dict(average=10))
    done = Trainer(Network(D, M, K, seed=0), settings, seed=SEED, progress="none")
    done.fit(X, y)
    save_checkpoint(tmp_path / "c.npz", done)
    arrays, state = load_checkpoint(tmp_path / "c.npz")
    assert state["average_count"] == T - 10 + 1
    restored = Trainer.from_state(Network(D, M, K, seed=3), arrays, state)
    for k in done.network.params:  # the network shows the average, the iterate is kept
        assert np.array_equal(restored.network.params[k], done.network.params[k])
        assert np.array_equal(restored.average.iterate[k], done.average.iterate[k])
    # Going on 30 more steps from either is the same as one run of T + 30 steps.
    longer = Trainer(
        Network(D, M, K, seed=0),
        settings_for(dict(average=10), steps=T + 30),
        seed=SEED,
        progress="none",
    )
    longer.fit(X, y)
    for trainer in (done, restored):
        trainer.extend(30)
        trainer.fit(X, y)
        for k in longer.network.params:
            assert np.array_equal(trainer.network.params[k], longer.network.params[k])


def test_a_checkpoint_written_before_optimizer_and_average_existed_resumes(tmp_path):
    X, y = toy_data()
    settings = settings_for({}, momentum=0.5)
    whole = Trainer(Network(D, M, K, seed=0), settings, seed=SEED, progress="none")
    whole.fit(X, y)
    first = Trainer(Network(D, M, K, seed=0), settings, seed=SEED, progress="none")
    first.fit(X, y, max_steps=33)
    arrays, state = first.state_dict()
    old = {k: v for k, v in state["settings"].items() if k not in ("optimizer", "average")}
    state = dict(state, settings=old)
    again = Trainer.from_state(Network(D, M, K, seed=4), arrays, state)
    again.fit(X, y)
    for k in whole.network.params:
        assert np.array_equal(again.network.params[k], whole.network.params[k])
    # ... and its missing settings are the defaults: a run that averages refuses it.
    with pytest.raises(CheckpointError, match=r"written with train.average = False, not True"):
        Trainer(
            Network(D, M, K), settings_for(dict(average=True), momentum=0.5), progress="none"
        ).load_state_dict(arrays, state)


def test_damaged_averaging_state_is_a_checkpoint_error():
    X, y = toy_data()
    trainer = Trainer(
        Network(D, M, K, seed=0), settings_for(dict(average=3)), seed=SEED, progress="none"
    )
    trainer.fit(X, y, max_steps=10)
    arrays, state = trainer.state_dict()
    fresh = Trainer(Network(D, M, K), settings_for(dict(average=3)), progress="none")
    with pytest.raises(
        CheckpointError,
        match="checkpoint: its 'average_count' is -2, not an integer >= 0; the file was edited",
    ):
        fresh.load_state_dict(arrays, dict(state, average_count=-2))
    with pytest.raises(CheckpointError, match="no array 'average_V'"):
        fresh.load_state_dict({k: v for k, v in arrays.items() if k != "average_V"}, state)
    with pytest.raises(
        CheckpointError,
        match=r"array 'average_b' has shape \(2,\), not the "
        r"network's \(6,\)",
    ):
        fresh.load_state_dict(dict(arrays, average_b=np.zeros(2)), state)


# ------------------------------------------------------------------ what the model is


def test_evaluations_and_early_stopping_see_the_average():
    X, y = toy_data()
    Xv, yv = toy_data(12, seed=2)
    settings = settings_for(
        dict(average=25), eval_every=15, early_stopping=EarlyStopping("val_loss", patience=100)
    )
    net = Network(D, M, K, seed=0)
    start = {k: v.copy() for k, v in net.params.items()}
    trainer = Trainer(net, settings, seed=SEED, progress="none")
    trainer.fit(X, y, Xv, yv)
    seen = {}
    replay(
        start,
        X,
        y,
        T,
        ETA,
        average=25,
        on_step=lambda t, theta, avg: seen.__setitem__(
            t, {k: a.copy() for k, a in (avg or theta).items()}
        ),
    )

    def val_loss(p):
        H = np.tanh(Xv @ p["W"].T + p["b"])
        L = H @ p["V"].T + p["gamma"]
        L = L - L.max(axis=1, keepdims=True)
        return float(-np.mean(L[np.arange(len(yv)), yv] - np.log(np.exp(L).sum(axis=1))))

    # Steps 15: the iterate (averaging starts at 25); 30, 45, 60, 75: the average.
    for row in trainer.history:
        assert row["val_loss"] == pytest.approx(val_loss(seen[row["step"]]), rel=1e-9)
    best = min(trainer.history, key=lambda r: r["val_loss"])["step"]
    assert_close(net.params, seen[best])  # restore_best keeps the best average


def test_a_run_that_ends_before_t0_ends_with_its_iterate():
    X, y = toy_data()
    net = Network(D, M, K, seed=0)
    start = {k: v.copy() for k, v in net.params.items()}
    trainer = Trainer(net, settings_for(dict(average=T + 1)), seed=SEED, progress="none")
    trainer.fit(X, y)
    assert not trainer.average.started and trainer.average.iterate is None
    assert_close(net.params, replay(start, X, y, T, ETA)[0])


def test_the_model_file_holds_the_averaged_parameters(tmp_path):
    X, y = toy_data()
    model = TrainedModel.untrained(ModelConfig(hidden_units=M), D, np.arange(K), seed=0)
    start = {k: v.copy() for k, v in model.network.params.items()}
    Trainer(
        model.network, settings_for(dict(optimizer="adam", average=30)), seed=SEED, progress="none"
    ).fit(X, y)
    model.save(tmp_path / "model.npz")
    with np.load(tmp_path / "model.npz") as saved:
        stored = {k: saved[k] for k in start}
    theta, avg = replay(start, X, y, T, ETA, optimizer="adam", average=30)
    assert_close(stored, avg)
    assert not np.allclose(stored["W"], theta["W"])


def test_a_cli_run_saves_the_average_and_resumes_to_it(tmp_path):
    raw = {
        "seed": 0,
        "data": {"source": "sklearn:iris"},
        "model": {"hidden_units": 3},
        "train": {
            "epochs": 2,
            "optimizer": "adam",
            "average": 100,
            "schedule": {"name": "constant", "eta0": 0.01},
        },
    }
    cfg = config_from_dict(raw)
    run.train(cfg, tmp_path / "a", quiet=True)
    half = run.train(cfg, tmp_path / "b", quiet=True, stop_after=150)
    assert half.status == "interrupted"
    run.resume(tmp_path / "b", quiet=True)
    arrays, _ = load_checkpoint(tmp_path / "a" / "checkpoint.npz")
    a, _, _ = run.open_model(tmp_path / "a")
    b, _, _ = run.open_model(tmp_path / "b")
    for k in a.network.params:
        assert np.array_equal(a.network.params[k], arrays[f"average_{k}"])
        assert np.array_equal(a.network.params[k], b.network.params[k])
        assert not np.array_equal(arrays[f"iterate_{k}"], arrays[f"average_{k}"])


# ------------------------------------------------------------------ settings and errors


@pytest.mark.parametrize(
    "value, message",
    [
        (
            {"name": "adam", "beta1": 1.0},
            "train.optimizer.beta1 must be a number in [0, 1), got 1.0",
        ),
        (
            {"name": "adam", "beta2": -0.1},
            "train.optimizer.beta2 must be a number in [0, 1), got -0.1",
        ),
        ({"name": "adagrad", "epsilon": 0}, "train.optimizer.epsilon must be a number > 0, got 0"),
        (
            "adamw",
            "train.optimizer: unknown optimizer 'adamw' (did you mean 'adam'?); choose one "
            "of sgd, adagrad, adam",
        ),
        (
            {"name": "adam", "beta": 0.5},
            "train.optimizer: adam has no parameter 'beta' (did you "
            "mean 'beta2'?); its parameters are beta1, beta2, epsilon",
        ),
        (
            {"beta1": 0.5},
            "train.optimizer must be a name (sgd, adagrad, adam) or a mapping with a "
            "'name', got {'beta1': 0.5}",
        ),
    ],
)
def test_a_bad_optimizer_is_one_line_naming_the_key(value, message):
    with pytest.raises(ConfigError) as e:
        config_from_dict({"train": {"optimizer": value}})
    assert str(e.value) == message


@pytest.mark.parametrize(
    "options, message",
    [
        (
            dict(momentum=0.9),
            "train.momentum is 0.9, which only optimizer sgd uses, but optimizer "
            "is adam; set momentum to 0 or use optimizer sgd",
        ),
        (dict(momentum=0.9, nesterov=True), "train.momentum is 0.9, which only optimizer sgd uses"),
    ],
)
def test_momentum_with_adam_names_both_settings(options, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        config_from_dict({"train": {"optimizer": "adam", **options}})


@pytest.mark.parametrize("value", [0, -1, 1.5, "yes", None])
def test_average_is_false_true_or_a_step_from_one(value):
    with pytest.raises(ConfigError) as e:
        config_from_dict({"train": {"average": value}})
    assert str(e.value) == (
        "train.average must be false, true or an integer >= 1 (the step to "
        f"average from), got {value!r}"
    )


def test_settings_keep_every_optimizer_parameter_and_the_defaults_are_the_notes():
    assert SGDSettings().optimizer == {"name": "sgd"} and SGDSettings().average is False
    assert SGDSettings(optimizer="adam").optimizer == {
        "name": "adam",
        "beta1": 0.9,
        "beta2": 0.999,
        "epsilon": 1e-8,
    }
    assert SGDSettings(optimizer={"name": "adagrad", "epsilon": 1}).optimizer == {
        "name": "adagrad",
        "epsilon": 1.0,
    }
    assert (
        SGDSettings(average=True).average_start,
        SGDSettings(average=7).average_start,
        SGDSettings().average_start,
    ) == (1, 7, None)


# ------------------------------------------------------------------ the estimator


@pytest.fixture(scope="module")
def iris():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    return (X - X.mean(axis=0)) / X.std(axis=0), y


@pytest.mark.parametrize(
    "options",
    [
        dict(average=True),
        dict(average=200, optimizer="adam"),
        dict(optimizer="adagrad", optimizer_params={"epsilon": 1e-6}),
    ],
)
def test_partial_fit_and_warm_start_go_on_from_the_iterate(iris, options):
    X, y = iris
    whole = NNClassifier(hidden_units=5, epochs=3, random_state=0, **options).fit(X, y)
    parts = NNClassifier(hidden_units=5, random_state=0, **options)
    for _ in range(3):
        parts.partial_fit(X, y, classes=np.unique(y))
    warm = NNClassifier(hidden_units=5, epochs=1, random_state=0, warm_start=True, **options)
    for _ in range(3):
        warm.fit(X, y)
    for clf in (parts, warm):
        assert clf.t_ == whole.t_
        for name in ("W_", "b_", "V_", "gamma_"):
            np.testing.assert_array_equal(getattr(clf, name), getattr(whole, name))


def test_the_estimators_averaged_model_is_the_replays_average(iris, tmp_path):
    X, y = iris
    clf = NNClassifier(
        hidden_units=M,
        steps=200,
        schedule="constant",
        eta0=ETA,
        standardize=False,
        average=50,
        random_state=0,
    ).fit(X[:, :D], y)
    init_seed, sgd_seed, _ = np.random.RandomState(0).randint(np.iinfo(np.int32).max, size=3)
    start = Network(D, M, K, seed=int(init_seed)).params
    _, avg = replay(start, X[:, :D], y, 200, ETA, average=50, seed=int(sgd_seed))
    for name in ("W", "b", "V", "gamma"):
        np.testing.assert_allclose(getattr(clf, f"{name}_"), avg[name], rtol=1e-10, atol=1e-12)
    clf.save(tmp_path / "m.npz")
    again = NNClassifier.load(tmp_path / "m.npz")
    assert again.get_params()["average"] == 50
    np.testing.assert_array_equal(again.W_, clf.W_)


@pytest.mark.parametrize(
    "params, message",
    [
        (
            dict(optimizer="adam", optimizer_params={"beta1": 1.0}),
            r"optimizer_params\['beta1'\] must be a number in \[0, 1\), got 1.0",
        ),
        (
            dict(optimizer_params={"beta1": 0.5}),
            r"optimizer_params: sgd has no parameter 'beta1'; it has none",
        ),
        (dict(optimizer="adam", momentum=0.5), r"momentum is 0.5, which only optimizer sgd uses"),
        (dict(average=0), r"The 'average' parameter of NNClassifier must be"),
        (dict(optimizer="adamw"), r"The 'optimizer' parameter of NNClassifier must be"),
    ],
)
def test_the_estimators_bad_optimizer_or_average_is_a_value_error(iris, params, message):
    X, y = iris
    with pytest.raises(ValueError, match=message):
        NNClassifier(hidden_units=3, epochs=1, **params).fit(X, y)


def test_an_estimator_loads_a_cli_runs_optimizer_and_average(tmp_path):
    raw = {
        "data": {"source": "sklearn:iris"},
        "model": {"hidden_units": 3},
        "train": {"epochs": 1, "optimizer": {"name": "adam", "beta1": 0.8}, "average": 30},
    }
    run.train(config_from_dict(raw), tmp_path / "r", quiet=True)
    params = NNClassifier.load(tmp_path / "r" / "model.npz").get_params()
    assert (params["optimizer"], params["optimizer_params"], params["average"]) == (
        "adam",
        {"beta1": 0.8, "beta2": 0.999, "epsilon": 1e-8},
        30,
    )


# Adam with averaging from a later step, and Adagrad with minibatches, through every check
# scikit-learn runs (those failing by design for every NNClassifier are listed as such).
@parametrize_with_checks(
    [
        NNClassifier(
            hidden_units=6, optimizer="adam", eta0=0.01, schedule="constant", average=50, steps=600
        ),
        NNClassifier(
            hidden_units=6,
            optimizer="adagrad",
            optimizer_params={"epsilon": 1e-6},
            batch_size=4,
            average=True,
        ),
    ],
    expected_failed_checks=expected_failed_checks,
)
def test_sklearn_checks_with_adaptive_optimizers_and_averaging(estimator, check):
    check(estimator)
