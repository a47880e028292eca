"""The SGD trainer against an independent replay of the notes' algorithm.

The replay below draws the example indices from ``numpy.random.default_rng(seed)`` the way the
trainer documents it (one epoch at a time: ``rng.integers(0, n, size=steps_per_epoch *
batch_size)`` for uniform sampling, ``rng.permutation(n)`` for shuffle), computes every
gradient from hand-derived numpy formulas (no backpropagation through the graph) and applies

    theta <- theta - eta^t dL/dtheta

(with the momentum, l2 and clipping variants written out here too). The trainer's parameters
must match it to ~1e-10.
"""

import math
import os
import signal

import numpy as np
import pytest
from notes_reference import hand_gradients
from sklearn.datasets import load_digits, load_iris
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from nnclf.errors import CheckpointError
from nnclf.graph.network import PARAMS, Network
from nnclf.training.trainer import (
    DivergenceError,
    EarlyStopping,
    SGDSettings,
    Trainer,
    load_checkpoint,
    save_checkpoint,
)

D, M, K = 4, 6, 3
HISTORY_KEYS = {"step", "epoch", "eta", "train_loss", "val_loss", "val_accuracy"}


def replay(
    params,
    X,
    y,
    T,
    seed,
    eta,
    batch_size=1,
    sampling="uniform",
    momentum=0.0,
    nesterov=False,
    l2=0.0,
    clip_norm=None,
    transfer="tanh",
    on_step=None,
):
    """The trainer's algorithm, written out independently. Returns (params, per-step losses)."""
    params = {k: np.array(v, dtype=float) for k, v in params.items()}
    velocity = {k: np.zeros_like(v) for k, v in params.items()}
    rng = np.random.default_rng(seed)
    n, B = len(X), batch_size
    steps_per_epoch = -(-n // B)
    losses = []
    t = 0
    while t < T:
        order = (
            rng.integers(0, n, size=steps_per_epoch * B)
            if sampling == "uniform"
            else rng.permutation(n)
        )
        for k in range(steps_per_epoch):
            if t == T:
                break
            t += 1
            rows = order[k * B : (k + 1) * B]
            loss, g, _ = hand_gradients(params, X[rows], y[rows], transfer)
            losses.append(loss)
            if clip_norm is not None:
                norm = math.sqrt(sum(np.sum(v**2) for v in g.values()))
                if norm > clip_norm:
                    g = {k: v * (clip_norm / norm) for k, v in g.items()}
            e = eta(t)
            for name in PARAMS:
                step = g[name] + (l2 * params[name] if name in ("W", "V") else 0.0)
                if momentum == 0:
                    params[name] = params[name] - e * step
                else:
                    velocity[name] = momentum * velocity[name] - e * step
                    if nesterov:
                        params[name] = params[name] + momentum * velocity[name] - e * step
                    else:
                        params[name] = params[name] + velocity[name]
            if on_step is not None:
                on_step(t, params)
    return params, losses


def toy_data(n=30, seed=0, n_val=0):
    """A learnable 3-class problem: the label is the argmax of a fixed linear map."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(D, K))
    X = rng.normal(size=(n + n_val, D))
    y = np.argmax(X @ A + 0.3 * rng.normal(size=(n + n_val, K)), axis=1)
    if n_val:
        return X[:n], y[:n], X[n:], y[n:]
    return X, y


def params_of(net):
    return {k: v.copy() for k, v in net.params.items()}


def assert_params_close(actual, expected, tol=1e-10):
    for name in PARAMS:
        np.testing.assert_allclose(actual[name], expected[name], rtol=tol, atol=tol, err_msg=name)


def same_number(a, b):
    return a == b or (
        isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
    )


def assert_same_history(a, b):
    assert len(a) == len(b)
    for row_a, row_b in zip(a, b):
        assert row_a.keys() == row_b.keys()
        for key in row_a:
            assert same_number(row_a[key], row_b[key]), (key, row_a, row_b)


def train(settings, X, y, X_val=None, y_val=None, net_seed=0, seed=0, transfer="tanh", **kw):
    net = Network(D, M, K, transfer, seed=net_seed)
    trainer = Trainer(net, settings, seed=seed, progress="none", **kw)
    result = trainer.fit(X, y, X_val, y_val)
    return net, trainer, result


# --- the notes' algorithm, replayed ---------------------------------------------------------

SCHEDULES = {
    # name: (spec, the formula eta^t written out by hand)
    "default": (None, lambda t: 0.05 / (1 + t / 20000)),
    "constant": ({"name": "constant", "eta0": 0.1}, lambda t: 0.1),
    "inverse_time": (
        {"name": "inverse_time", "eta0": 0.2, "tau": 50},
        lambda t: 0.2 / (1 + t / 50),
    ),
    "invscaling": ({"name": "invscaling", "eta0": 0.3, "power": 0.5}, lambda t: 0.3 / math.sqrt(t)),
    "step": (
        {"name": "step", "eta0": 0.2, "factor": 0.5, "every": 40},
        lambda t: 0.2 * 0.5 ** math.floor(t / 40),
    ),
    "exponential": (
        {"name": "exponential", "eta0": 0.2, "rate": 0.99, "every": 2},
        lambda t: 0.2 * 0.99 ** (t / 2),
    ),
    "cosine": (
        {"name": "cosine", "eta0": 0.2, "total_steps": 150, "floor": 0.01},
        lambda t: 0.01 + 0.19 * (1 + math.cos(math.pi * min(t, 150) / 150)) / 2,
    ),
    "warmup": ({"name": "constant", "eta0": 0.2, "warmup": 45}, lambda t: 0.2 * min(1.0, t / 45)),
}


def _settings(schedule_spec, **kw):
    if schedule_spec is not None:
        kw["schedule"] = schedule_spec
    return SGDSettings(**kw)


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_plain_sgd_is_the_notes_algorithm(name):
    spec, formula = SCHEDULES[name]
    X, y = toy_data()
    settings = _settings(spec, steps=200, eval_every=7)
    net0 = Network(D, M, K, seed=3)
    start = params_of(net0)
    trainer = Trainer(net0, settings, seed=5, progress="none")
    result = trainer.fit(X, y)
    expected, losses = replay(start, X, y, T=200, seed=5, eta=formula)
    assert result.steps == trainer.t == 200
    assert_params_close(net0.params, expected)
    # the parameters really moved, so the comparison means something
    assert max(np.abs(net0.params[k] - start[k]).max() for k in PARAMS) > 0.05
    # the history's eta column is eta^t at the recorded steps
    assert [row["step"] for row in result.history] == list(range(7, 200, 7)) + [200]
    for row in result.history:
        assert row["eta"] == pytest.approx(formula(row["step"]), rel=1e-12)


REPLAYED_VARIANTS = {
    "shuffle": dict(sampling="shuffle"),
    "minibatch_uniform": dict(batch_size=4),
    "minibatch_shuffle": dict(batch_size=4, sampling="shuffle"),  # 30 = 7 * 4 + 2
    "momentum": dict(momentum=0.9),
    "nesterov": dict(momentum=0.5, nesterov=True),
    "l2": dict(l2=0.05),
    "clip": dict(clip_norm=0.3),
    "everything": dict(batch_size=3, sampling="shuffle", momentum=0.8, l2=0.01, clip_norm=0.5),
}


@pytest.mark.parametrize("name", list(REPLAYED_VARIANTS))
def test_variants_are_replayed_exactly(name):
    options = REPLAYED_VARIANTS[name]
    X, y = toy_data()
    T = 240
    settings = SGDSettings(
        steps=T, schedule={"name": "inverse_time", "eta0": 0.1, "tau": 100}, **options
    )
    net = Network(D, M, K, seed=1)
    start = params_of(net)
    Trainer(net, settings, seed=2, progress="none").fit(X, y)
    expected, _ = replay(start, X, y, T=T, seed=2, eta=lambda t: 0.1 / (1 + t / 100), **options)
    assert_params_close(net.params, expected)
    assert max(np.abs(net.params[k] - start[k]).max() for k in PARAMS) > 0.05


def test_the_variants_make_a_difference():
    # Guards the replays above: each option changes the numbers, so matching them tests it.
    X, y = toy_data()
    base = Network(D, M, K, seed=1)
    start = params_of(base)
    plain, _ = replay(start, X, y, T=240, seed=2, eta=lambda t: 0.1)
    for options in REPLAYED_VARIANTS.values():
        other, _ = replay(start, X, y, T=240, seed=2, eta=lambda t: 0.1, **options)
        assert not np.allclose(other["W"], plain["W"], rtol=1e-6, atol=1e-6), options


def test_l2_does_not_decay_the_biases():
    # Start from large biases, so that decaying them too would change the numbers a lot.
    X, y = toy_data()
    settings = SGDSettings(steps=60, l2=0.5, schedule={"name": "constant", "eta0": 0.1})
    net = Network(D, M, K, seed=1)
    net.params["b"][...] = 2.0
    net.params["gamma"][...] = [1.0, -1.0, 3.0]
    start = params_of(net)
    Trainer(net, settings, seed=0, progress="none").fit(X, y)
    expected, _ = replay(start, X, y, T=60, seed=0, eta=lambda t: 0.1, l2=0.5)
    assert_params_close(net.params, expected)
    # decaying b too would shrink it by about (1 - eta * l2)^60 = 0.95^60 ~ 0.05
    assert np.abs(net.params["b"]).mean() > 1.5


def test_relu_replay():
    X, y = toy_data()
    net = Network(D, M, K, "relu", seed=0)
    start = params_of(net)
    Trainer(
        net,
        SGDSettings(steps=150, schedule={"name": "constant", "eta0": 0.1}),
        seed=0,
        progress="none",
    ).fit(X, y)
    expected, _ = replay(start, X, y, T=150, seed=0, eta=lambda t: 0.1, transfer="relu")
    assert_params_close(net.params, expected)


def test_clipping_bounds_every_step():
    X, y = toy_data()
    eta, clip = 0.5, 1e-4
    net = Network(D, M, K, seed=0)
    trainer = Trainer(
        net,
        SGDSettings(steps=25, clip_norm=clip, schedule={"name": "constant", "eta0": eta}),
        seed=0,
        progress="none",
    )
    for _ in range(25):
        before = params_of(net)
        trainer.fit(X, y, max_steps=1)
        change = math.sqrt(sum(np.sum((net.params[k] - before[k]) ** 2) for k in PARAMS))
        assert change <= eta * clip * (1 + 1e-9)
        # the gradients here are far larger than 1e-4, so the step is exactly eta * clip_norm
        assert change == pytest.approx(eta * clip, rel=1e-9)
    assert trainer.t == 25


# --- history --------------------------------------------------------------------------------


def test_history_has_one_row_per_epoch_by_default():
    X, y, Xv, yv = toy_data(n_val=12)
    _, _, result = train(SGDSettings(epochs=3), X, y, Xv, yv)
    assert [set(r) for r in result.history] == [HISTORY_KEYS] * 3
    assert [r["step"] for r in result.history] == [30, 60, 90]
    assert [r["epoch"] for r in result.history] == [1.0, 2.0, 3.0]
    _, _, result = train(SGDSettings(epochs=3, batch_size=4), X, y, Xv, yv)
    assert [r["step"] for r in result.history] == [8, 16, 24]  # ceil(30 / 4) = 8
    assert [r["epoch"] for r in result.history] == [1.0, 2.0, 3.0]


def test_eval_every_is_honoured_across_epochs():
    X, y = toy_data()
    _, _, result = train(SGDSettings(epochs=2, eval_every=7), X, y)
    assert [r["step"] for r in result.history] == [7, 14, 21, 28, 35, 42, 49, 56, 60]
    assert [r["epoch"] for r in result.history] == pytest.approx(
        [s / 30 for s in (7, 14, 21, 28, 35, 42, 49, 56, 60)]
    )
    assert all(math.isnan(r["val_loss"]) and math.isnan(r["val_accuracy"]) for r in result.history)


@pytest.mark.parametrize("batch_size", [1, 4])
def test_history_losses_match_an_independent_replay(batch_size):
    X, y, Xv, yv = toy_data(n=20, n_val=15)
    eval_every = 6
    T = 40
    settings = SGDSettings(
        steps=T,
        eval_every=eval_every,
        batch_size=batch_size,
        schedule={"name": "constant", "eta0": 0.2},
    )
    net = Network(D, M, K, seed=0)
    start = params_of(net)
    result = Trainer(net, settings, seed=1, progress="none").fit(X, y, Xv, yv)
    at_eval = {}

    def keep(t, params):
        if t % eval_every == 0 or t == T:
            at_eval[t] = {k: v.copy() for k, v in params.items()}

    _, losses = replay(
        start, X, y, T=T, seed=1, eta=lambda t: 0.2, batch_size=batch_size, on_step=keep
    )
    steps = [r["step"] for r in result.history]
    assert steps == sorted(at_eval) == [6, 12, 18, 24, 30, 36, 40]
    previous = 0
    for row in result.history:
        t = row["step"]
        # train_loss: the mean loss of the steps since the previous evaluation
        assert row["train_loss"] == pytest.approx(np.mean(losses[previous:t]), rel=1e-9)
        val_loss, _, P = hand_gradients(at_eval[t], Xv, yv)
        assert row["val_loss"] == pytest.approx(val_loss, rel=1e-9)
        assert row["val_accuracy"] == np.mean(np.argmax(P, axis=1) == yv)
        assert row["eta"] == 0.2
        previous = t


# --- resuming -------------------------------------------------------------------------------

RESUME_CASES = {
    "uniform_b1": (dict(epochs=4, schedule={"name": "constant", "eta0": 0.1}), [13, 30, 47]),
    "shuffle_b1": (dict(epochs=4, sampling="shuffle"), [13, 30, 47]),
    "uniform_b4_momentum": (
        dict(epochs=4, batch_size=4, momentum=0.9, schedule={"name": "constant", "eta0": 0.05}),
        [5, 8, 11],
    ),
    "shuffle_b4_nesterov": (
        dict(
            epochs=4,
            batch_size=4,
            sampling="shuffle",
            momentum=0.9,
            nesterov=True,
            schedule={"name": "constant", "eta0": 0.05},
        ),
        [5, 8, 11],
    ),
    "early_stopping": (
        dict(
            epochs=6,
            eval_every=10,
            l2=0.01,
            clip_norm=1.0,
            schedule={"name": "constant", "eta0": 0.3},
            early_stopping=EarlyStopping(patience=3),
        ),
        [13, 30, 47],
    ),
    "shuffle_b4_early_stopping": (
        dict(
            epochs=6,
            batch_size=4,
            sampling="shuffle",
            eval_every=3,
            early_stopping=EarlyStopping("val_accuracy", patience=4),
        ),
        [5, 8, 11],
    ),
}


@pytest.mark.parametrize("name", list(RESUME_CASES))
def test_stop_save_restore_finish_is_bit_identical(name, tmp_path):
    options, stops = RESUME_CASES[name]
    settings = SGDSettings(**options)
    X, y, Xv, yv = toy_data(n_val=10)
    full_net, _, full = train(settings, X, y, Xv, yv, net_seed=0, seed=7)
    for k in stops:
        assert k < full.steps
        first_trainer = Trainer(Network(D, M, K, seed=0), settings, seed=7, progress="none")
        result = first_trainer.fit(X, y, Xv, yv, max_steps=k)
        assert result.steps == k and result.stopped == "completed"
        path = tmp_path / f"ckpt_{k}.npz"
        save_checkpoint(path, first_trainer)
        fresh_net = Network(D, M, K, seed=99)  # a different initialisation
        fresh = Trainer(fresh_net, settings, seed=7, progress="none")
        fresh.load_state_dict(*load_checkpoint(path))
        assert fresh.t == k
        finished = fresh.fit(X, y, Xv, yv)
        for p in PARAMS:
            assert np.array_equal(fresh_net.params[p], full_net.params[p]), (k, p)
        assert_same_history(finished.history, full.history)
        assert (finished.steps, finished.stopped, finished.best_step) == (
            full.steps,
            full.stopped,
            full.best_step,
        )


def test_early_stopping_case_really_stops_early():
    # Makes the early-stopping resume cases above meaningful.
    options, _ = RESUME_CASES["early_stopping"]
    X, y, Xv, yv = toy_data(n_val=10)
    _, _, result = train(SGDSettings(**options), X, y, Xv, yv, seed=7)
    assert result.stopped == "early_stopping"


def test_resuming_in_pieces_in_the_same_trainer_is_bit_identical():
    settings = SGDSettings(epochs=3, batch_size=4, sampling="shuffle", momentum=0.5, eval_every=5)
    X, y = toy_data()
    full_net, _, full = train(settings, X, y, seed=3)
    net = Network(D, M, K, seed=0)
    trainer = Trainer(net, settings, seed=3, progress="none")
    for _ in range(10):
        result = trainer.fit(X, y, max_steps=3)
    assert result.steps == 24 and result.stopped == "completed"
    for p in PARAMS:
        assert np.array_equal(net.params[p], full_net.params[p])
    assert_same_history(result.history, full.history)


def test_chained_checkpoints(tmp_path):
    settings = SGDSettings(epochs=3, momentum=0.9, schedule={"name": "constant", "eta0": 0.02})
    X, y = toy_data()
    full_net, _, full = train(settings, X, y, seed=4)
    trainer = Trainer(Network(D, M, K, seed=0), settings, seed=4, progress="none")
    for i, k in enumerate([7, 31, 20]):
        trainer.fit(X, y, max_steps=k)
        save_checkpoint(tmp_path / "c.npz", trainer)
        trainer = Trainer(Network(D, M, K, seed=50 + i), settings, seed=4, progress="none")
        trainer.load_state_dict(*load_checkpoint(tmp_path / "c.npz"))
    result = trainer.fit(X, y)
    assert result.steps == 90
    for p in PARAMS:
        assert np.array_equal(trainer.network.params[p], full_net.params[p])
    assert_same_history(result.history, full.history)


def test_missing_or_corrupt_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"checkpoint '.*nothing.npz': not found"):
        load_checkpoint(tmp_path / "nothing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(
        CheckpointError, match=r"checkpoint '.*bad.npz': is truncated or not an npz"
    ):
        load_checkpoint(bad)


def test_interrupt_stops_between_steps_and_the_run_can_continue():
    # Ctrl-C: the handler only sets a flag, read before the next step.
    settings = SGDSettings(epochs=3, eval_every=10)
    X, y = toy_data()
    full_net, _, full = train(settings, X, y, seed=2)

    def press_ctrl_c(history):
        if len(history) == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return False

    net = Network(D, M, K, seed=0)
    trainer = Trainer(net, settings, seed=2, progress="none", callbacks=(press_ctrl_c,))
    result = trainer.fit(X, y)
    assert result.stopped == "interrupted" and trainer.interrupted
    assert result.steps == 20
    trainer.callbacks = ()
    result = trainer.fit(X, y)
    assert result.stopped == "completed" and not trainer.interrupted
    for p in PARAMS:
        assert np.array_equal(net.params[p], full_net.params[p])
    assert_same_history(result.history, full.history)


# --- determinism ----------------------------------------------------------------------------


@pytest.mark.parametrize("sampling", ["uniform", "shuffle"])
def test_same_seed_same_numbers_different_seed_different(sampling):
    settings = SGDSettings(epochs=2, sampling=sampling)
    X, y = toy_data()
    a, _, ra = train(settings, X, y, seed=0)
    b, _, rb = train(settings, X, y, seed=0)
    c, _, rc = train(settings, X, y, seed=1)
    for p in PARAMS:
        assert np.array_equal(a.params[p], b.params[p])
    assert_same_history(ra.history, rb.history)
    assert not np.array_equal(a.params["W"], c.params["W"])
    assert ra.history[0]["train_loss"] != rc.history[0]["train_loss"]


# --- divergence -----------------------------------------------------------------------------


@pytest.mark.parametrize("transfer, eta0", [("relu", 1e30), ("identity", 1e30)])
def test_divergence_names_the_step_and_keeps_finite_params(transfer, eta0):
    X, y = toy_data()
    settings = SGDSettings(epochs=5, eval_every=5, schedule={"name": "constant", "eta0": eta0})
    net = Network(D, M, K, transfer, seed=0)
    trainer = Trainer(net, settings, seed=0, progress="none")
    with pytest.raises(
        DivergenceError,
        match=r"training diverged at step (\d+).*"
        r"Try a smaller step size \(schedule eta0, now 1e\+30\)",
    ) as e:
        trainer.fit(X, y)
    assert f"step {trainer.t + 1}:" in str(e.value)
    assert isinstance(e.value, ValueError)
    assert all(np.all(np.isfinite(p)) for p in net.params.values())


def test_divergence_with_identity_transfer():
    X, y = toy_data()
    net = Network(D, M, K, "identity", seed=0)
    trainer = Trainer(
        net,
        SGDSettings(epochs=5, schedule={"name": "constant", "eta0": 1e6}),
        seed=0,
        progress="none",
    )
    with pytest.raises(
        DivergenceError, match=r"training diverged at step \d+: the loss is (nan|inf)"
    ):
        trainer.fit(X, y)
    assert all(np.all(np.isfinite(p)) for p in net.params.values())


def test_divergence_before_the_first_evaluation_leaves_finite_params():
    # The parameters overflow before the first evaluation: the trainer goes back to the
    # finite copy it keeps from the start of fit.
    X, y = toy_data()
    net = Network(D, M, K, "tanh", seed=0)
    trainer = Trainer(
        net,
        SGDSettings(epochs=5, schedule={"name": "constant", "eta0": 1e200}),
        seed=0,
        progress="none",
    )
    with pytest.raises(DivergenceError, match=r"training diverged at step \d+"):
        trainer.fit(X, y)
    assert all(np.all(np.isfinite(p)) for p in net.params.values())


def test_fit_never_returns_non_finite_params_silently():
    # An update that overflows on the last step has no next loss to reveal it: fit checks
    # the parameters before it returns.
    X, y = toy_data()
    net = Network(D, M, K, "tanh", seed=0)
    trainer = Trainer(
        net,
        SGDSettings(steps=2, schedule={"name": "constant", "eta0": 1e200}),
        seed=0,
        progress="none",
    )
    with pytest.raises(DivergenceError, match="training diverged at step 2: .*infinite or NaN"):
        trainer.fit(X, y)
    assert all(np.all(np.isfinite(p)) for p in net.params.values())


# --- early stopping -------------------------------------------------------------------------


def noisy_validation():
    """A training set the network can overfit and a validation set with unrelated labels, so
    that the validation loss soon goes up."""
    X, y = toy_data(n=12, seed=1)
    rng = np.random.default_rng(9)
    Xv = rng.normal(size=(30, D))
    yv = rng.integers(0, K, size=30)
    return X, y, Xv, yv


def test_early_stopping_stops_with_patience_and_restores_the_best():
    X, y, Xv, yv = noisy_validation()
    patience = 3
    settings = SGDSettings(
        epochs=200,
        eval_every=6,
        schedule={"name": "constant", "eta0": 0.5},
        early_stopping=EarlyStopping("val_loss", patience=patience),
    )
    snapshots = {}

    def snapshot(history):
        snapshots[history[-1]["step"]] = params_of(net)

    net = Network(D, M, K, seed=0)
    trainer = Trainer(net, settings, seed=0, progress="none", callbacks=(snapshot,))
    result = trainer.fit(X, y, Xv, yv)
    assert result.stopped == "early_stopping"
    assert result.steps < 200 * 12
    val = [r["val_loss"] for r in result.history]
    best = int(np.argmin(val))
    assert len(val) - 1 - best == patience  # stopped `patience` evals after the best
    assert all(v >= val[best] for v in val[best + 1 :])
    assert all(min(val[:i]) <= val[i] for i in range(best + 1, len(val)))
    assert result.best_step == result.history[best]["step"] == trainer.best_step
    for p in PARAMS:
        np.testing.assert_array_equal(net.params[p], snapshots[result.best_step][p])
    assert trainer.network.loss(Xv, yv) == pytest.approx(val[best], rel=1e-12)


def test_without_restore_best_the_last_params_stay():
    X, y, Xv, yv = noisy_validation()
    common = dict(epochs=200, eval_every=6, schedule={"name": "constant", "eta0": 0.5})
    keep, _, r1 = train(
        SGDSettings(**common, early_stopping=EarlyStopping(patience=3)), X, y, Xv, yv
    )
    last, _, r2 = train(
        SGDSettings(**common, early_stopping=EarlyStopping(patience=3, restore_best=False)),
        X,
        y,
        Xv,
        yv,
    )
    assert r1.steps == r2.steps and r2.stopped == "early_stopping"
    assert last.loss(Xv, yv) == pytest.approx(r2.history[-1]["val_loss"], rel=1e-12)
    assert keep.loss(Xv, yv) < last.loss(Xv, yv)


def test_min_delta_counts_small_improvements_as_none():
    X, y, Xv, yv = toy_data(n_val=10)
    snapshots = {}

    def snapshot(history):
        snapshots[history[-1]["step"]] = params_of(net)

    net = Network(D, M, K, seed=0)
    settings = SGDSettings(
        epochs=20,
        schedule={"name": "constant", "eta0": 0.1},
        early_stopping=EarlyStopping("train_loss", patience=2, min_delta=1e9),
    )
    result = Trainer(net, settings, progress="none", callbacks=(snapshot,)).fit(X, y, Xv, yv)
    # nothing improves by 1e9: the first evaluation stays the best, two more and it stops
    assert result.stopped == "early_stopping"
    assert [r["step"] for r in result.history] == [30, 60, 90]
    assert result.best_step == 30
    for p in PARAMS:
        np.testing.assert_array_equal(net.params[p], snapshots[30][p])


def test_train_loss_metric_needs_no_validation_set():
    X, y = toy_data()
    settings = SGDSettings(epochs=3, early_stopping=EarlyStopping("train_loss", patience=5))
    _, _, result = train(settings, X, y)
    assert result.stopped == "completed" and len(result.history) == 3


@pytest.mark.parametrize("metric", ["val_loss", "val_accuracy"])
def test_validation_metric_without_validation_set_is_a_clear_error(metric):
    X, y = toy_data()
    settings = SGDSettings(epochs=3, early_stopping=EarlyStopping(metric))
    with pytest.raises(
        ValueError,
        match=rf"^early_stopping.metric is {metric}, which needs a "
        r"validation set; give X_val and y_val, or use metric "
        r"train_loss$",
    ):
        train(settings, X, y)


# --- callbacks ------------------------------------------------------------------------------


def test_a_callback_returning_true_stops_training():
    X, y = toy_data()
    seen = []

    def stop_at_second(history):
        seen.append((history, len(history), dict(history[-1])))
        return len(history) == 2

    net = Network(D, M, K, seed=0)
    trainer = Trainer(net, SGDSettings(epochs=5), progress="none", callbacks=(stop_at_second,))
    result = trainer.fit(X, y)
    assert result.stopped == "callback"
    assert result.steps == trainer.t == 60
    assert [n for _, n, _ in seen] == [1, 2]
    assert all(h is trainer.history for h, _, _ in seen)
    assert [row["step"] for _, _, row in seen] == [30, 60]
    assert len(result.history) == 2


def test_callbacks_see_every_evaluation_even_the_one_that_stops_early():
    # "callback(history) at every evaluation", the one that triggers early stopping included.
    X, y, Xv, yv = noisy_validation()
    seen = []
    settings = SGDSettings(
        epochs=200,
        eval_every=6,
        schedule={"name": "constant", "eta0": 0.5},
        early_stopping=EarlyStopping("val_loss", patience=3),
    )
    net = Network(D, M, K, seed=0)
    result = Trainer(
        net, settings, progress="none", callbacks=(lambda h: seen.append(len(h)),)
    ).fit(X, y, Xv, yv)
    assert result.stopped == "early_stopping"
    assert seen == list(range(1, len(result.history) + 1))


# --- settings (their types and ranges: tests/test_settings.py) ---------------------------


def test_steps_take_precedence_over_epochs():
    s = SGDSettings(epochs=5, steps=17, batch_size=4)
    assert s.steps_per_epoch(30) == 8
    assert s.total_steps(30) == 17
    assert SGDSettings(epochs=5, batch_size=4).total_steps(30) == 40
    X, y = toy_data()
    _, _, result = train(s, X, y)
    assert result.steps == 17 and result.history[-1]["step"] == 17


def test_bad_progress_and_empty_data_are_named():
    with pytest.raises(ValueError, match=r"progress must be 'auto', 'bar', 'lines' or 'none'"):
        Trainer(Network(D, M, K), progress="loud")
    trainer = Trainer(Network(D, M, K), progress="none")
    with pytest.raises(ValueError, match=r"X must be a non-empty \(n, d\) array"):
        trainer.fit(np.zeros((0, D)), np.zeros(0, dtype=int))


# --- quality on bundled data ----------------------------------------------------------------


def split_and_scale(X, y):
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, stratify=y, random_state=0
    )
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


def test_digits_accuracy():
    X_train, X_test, y_train, y_test = split_and_scale(*load_digits(return_X_y=True))
    net = Network(64, 100, 10, "tanh", seed=0)
    result = Trainer(net, SGDSettings(epochs=10), seed=0, progress="none").fit(X_train, y_train)
    assert result.steps == 10 * len(X_train)
    assert np.mean(net.predict(X_test) == y_test) >= 0.96


def test_iris_accuracy():
    X_train, X_test, y_train, y_test = split_and_scale(*load_iris(return_X_y=True))
    net = Network(4, 10, 3, "tanh", seed=0)
    Trainer(net, SGDSettings(epochs=100), seed=0, progress="none").fit(X_train, y_train)
    assert np.mean(net.predict(X_test) == y_test) >= 0.93


def test_xor_with_four_hidden_units():
    X4 = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y4 = np.array([0, 1, 1, 0])
    net = Network(2, 4, 2, "tanh", seed=0)
    settings = SGDSettings(epochs=50, schedule={"name": "constant", "eta0": 0.3})
    Trainer(net, settings, seed=0, progress="none").fit(np.tile(X4, (10, 1)), np.tile(y4, 10))
    np.testing.assert_array_equal(net.predict(X4), y4)
    assert net.loss(X4, y4) < 0.2


def test_checkpoint_from_other_settings_or_shapes_is_refused():
    X, y = toy_data()
    plain = SGDSettings(epochs=2, schedule={"name": "constant", "eta0": 0.1})
    trainer = Trainer(Network(D, M, K, seed=0), plain, seed=0, progress="none")
    trainer.fit(X, y, max_steps=5)
    arrays, state = trainer.state_dict()
    with_momentum = SGDSettings(epochs=2, momentum=0.9, schedule={"name": "constant", "eta0": 0.1})
    with pytest.raises(
        ValueError, match=r"checkpoint: it was written with train.momentum = 0.0, not 0.9"
    ):
        Trainer(Network(D, M, K, seed=0), with_momentum, progress="none").load_state_dict(
            arrays, state
        )
    with pytest.raises(ValueError, match=r"checkpoint: parameter W has shape \(%d, %d\)" % (M, D)):
        Trainer(Network(D, M + 1, K, seed=0), plain, progress="none").load_state_dict(arrays, state)


def test_state_saved_by_a_callback_at_an_epoch_boundary_resumes_exactly():
    # A callback runs at the evaluation that ends an epoch; the state it sees must already
    # point the sampler at the next epoch.
    X, y = toy_data()
    settings = SGDSettings(epochs=4, schedule={"name": "constant", "eta0": 0.1})
    full = Network(D, M, K, seed=0)
    Trainer(full, settings, seed=5, progress="none").fit(X, y)

    saved = []
    net = Network(D, M, K, seed=0)
    trainer = Trainer(
        net,
        settings,
        seed=5,
        progress="none",
        callbacks=(lambda h: saved.append(trainer.state_dict()) or len(h) == 2,),
    )
    trainer.fit(X, y)
    arrays, state = saved[1]
    arrays = {k: v.copy() for k, v in arrays.items()}
    resumed = Network(D, M, K, seed=9)
    again = Trainer(resumed, settings, seed=5, progress="none")
    again.load_state_dict(arrays, state)
    again.fit(X, y)
    for name in PARAMS:
        np.testing.assert_array_equal(resumed.params[name], full.params[name])


# --- extending and rebuilding a trainer -----------------------------------------------------


@pytest.mark.parametrize(
    "options", [dict(), dict(momentum=0.9, batch_size=4), dict(sampling="shuffle", l2=0.01)]
)
def test_extend_continues_exactly_as_one_longer_run(options):
    X, y = toy_data()
    constant = {"name": "constant", "eta0": 0.1}
    longer, _, _ = train(SGDSettings(steps=100, schedule=constant, **options), X, y, seed=3)
    net = Network(D, M, K, seed=0)
    trainer = Trainer(
        net, SGDSettings(steps=37, schedule=constant, **options), seed=3, progress="none"
    )
    trainer.fit(X, y)
    assert trainer.extend(63) == 100
    result = trainer.fit(X, y)
    assert result.steps == 100 and trainer.settings.steps == 100
    for p in PARAMS:
        assert np.array_equal(net.params[p], longer.params[p]), p


def test_extend_under_new_settings_starts_momentum_from_zero():
    # 30 plain steps, then 30 with momentum: the replay's velocity is zero at step 31.
    X, y = toy_data()
    net = Network(D, M, K, seed=0)
    start = params_of(net)
    constant = {"name": "constant", "eta0": 0.1}
    trainer = Trainer(net, SGDSettings(steps=30, schedule=constant), seed=2, progress="none")
    trainer.fit(X, y)
    middle, _ = replay(start, X, y, T=30, seed=2, eta=lambda t: 0.1)
    assert_params_close(net.params, middle)
    trainer.extend(30, SGDSettings(epochs=1, momentum=0.5, schedule=constant))
    assert all(np.all(v == 0) for v in trainer.opt_state["velocity"].values())
    trainer.fit(X, y)
    # The second epoch (steps 31..60) draws from the generator where the first left it.
    full_momentum, _ = replay(start, X, y, T=60, seed=2, eta=lambda t: 0.1, momentum=0.5)
    expected = _second_epoch_with_momentum(middle, X, y, seed=2)
    assert_params_close(net.params, expected)
    assert not np.allclose(net.params["W"], full_momentum["W"])


def _second_epoch_with_momentum(params, X, y, seed):
    rng = np.random.default_rng(seed)
    rng.integers(0, len(X), size=len(X))  # the first epoch
    velocity = {k: np.zeros_like(v) for k, v in params.items()}
    params = {k: v.copy() for k, v in params.items()}
    for i in rng.integers(0, len(X), size=len(X)):
        _, g, _ = hand_gradients(params, X[[i]], y[[i]])
        for k in PARAMS:
            velocity[k] = 0.5 * velocity[k] - 0.1 * g[k]
            params[k] = params[k] + velocity[k]
    return params


def test_extend_restarts_early_stopping_and_refuses_a_bad_length():
    X, y, Xv, yv = toy_data(n_val=10)
    settings = SGDSettings(epochs=2, early_stopping=EarlyStopping(patience=50))
    net, trainer, _ = train(settings, X, y, Xv, yv)
    assert trainer.best_step is not None and trainer.best_params is not None
    trainer.extend(5)
    assert trainer.best_step is None and trainer.best_params is None
    for bad in (0, 2.5, True):
        with pytest.raises(
            ValueError, match=rf"extend: steps must be an integer >= 1, got {bad!r}"
        ):
            trainer.extend(bad)


def test_from_state_rebuilds_a_trainer_that_continues_bit_identically():
    settings = SGDSettings(
        epochs=3,
        batch_size=4,
        sampling="shuffle",
        momentum=0.5,
        early_stopping=EarlyStopping("train_loss", patience=9),
    )
    X, y = toy_data()
    full_net, _, full = train(settings, X, y, seed=3)
    first = Trainer(Network(D, M, K, seed=0), settings, seed=3, progress="none")
    first.fit(X, y, max_steps=11)
    again = Trainer.from_state(Network(D, M, K, seed=8), *first.state_dict())
    assert again.settings == settings and again.seed == 3 and again.t == 11
    result = again.fit(X, y)
    for p in PARAMS:
        assert np.array_equal(again.network.params[p], full_net.params[p])
    assert_same_history(result.history, full.history)


def test_a_checkpoint_without_epoch_start_still_resumes_exactly(tmp_path):
    # Files written before the sampler kept its epoch start: the epoch grid is derived.
    settings = SGDSettings(epochs=3, schedule={"name": "constant", "eta0": 0.1})
    X, y = toy_data()
    full_net, _, _ = train(settings, X, y, seed=1)
    first = Trainer(Network(D, M, K, seed=0), settings, seed=1, progress="none")
    first.fit(X, y, max_steps=47)
    arrays, state = first.state_dict()
    state = {k: v for k, v in state.items() if k != "epoch_start"}
    again = Trainer(Network(D, M, K, seed=5), settings, seed=1, progress="none")
    again.load_state_dict(arrays, state)
    again.fit(X, y)
    for p in PARAMS:
        assert np.array_equal(again.network.params[p], full_net.params[p])


def test_a_checkpoint_missing_an_optimizer_array_is_named():
    X, y = toy_data()
    settings = SGDSettings(epochs=1, momentum=0.5)
    _, trainer, _ = train(settings, X, y)
    arrays, state = trainer.state_dict()
    del arrays["velocity_V"]
    with pytest.raises(CheckpointError, match="checkpoint: no array 'velocity_V'"):
        Trainer(Network(D, M, K), settings, progress="none").load_state_dict(arrays, state)


# --- reduce on plateau ----------------------------------------------------------------------

PLATEAU = {"name": "plateau", "eta0": 0.3, "factor": 0.5, "patience": 2, "min_delta": 0.0}


def plateau_etas(val_losses, eta0=0.3, factor=0.5, patience=2, min_delta=0.0):
    """The eta of each history row under reduce-on-plateau, by the rule written out here."""
    best, bad, k, etas = math.inf, 0, 0, []
    for loss in val_losses:
        etas.append(eta0 * factor**k)
        if loss < best - min_delta:
            best, bad = loss, 0
        else:
            bad += 1
            if bad == patience:
                bad, k = 0, k + 1
    return etas


def test_plateau_history_rows_show_eta_dropping_after_patience_bad_evaluations():
    X, y, Xv, yv = toy_data(n_val=10, seed=3)
    settings = SGDSettings(epochs=30, eval_every=5, schedule=PLATEAU)
    _, trainer, result = train(settings, X, y, Xv, yv)
    etas = [row["eta"] for row in result.history]
    assert etas == plateau_etas([row["val_loss"] for row in result.history])
    assert etas[-1] < etas[0]  # at least one reduction happened
    # min_delta large: every evaluation after the first is bad, so eta halves every 2.
    settings = SGDSettings(epochs=2, eval_every=5, schedule=dict(PLATEAU, min_delta=10.0))
    _, _, result = train(settings, X, y, Xv, yv)
    assert [r["eta"] for r in result.history][:6] == [0.3, 0.3, 0.3, 0.15, 0.15, 0.075]


def test_plateau_resumes_bit_identically_across_a_reduction(tmp_path):
    X, y, Xv, yv = toy_data(n_val=10, seed=3)
    settings = SGDSettings(epochs=30, eval_every=5, schedule=PLATEAU)
    full_net, _, full = train(settings, X, y, Xv, yv, seed=2)
    etas = [row["eta"] for row in full.history]
    first_drop = 5 * next(i for i, e in enumerate(etas) if e < etas[0])
    for cut in (first_drop - 7, first_drop + 3):  # before and after the first reduction
        first = Trainer(Network(D, M, K, seed=0), settings, seed=2, progress="none")
        first.fit(X, y, Xv, yv, max_steps=cut)
        save_checkpoint(tmp_path / "c.npz", first)
        again = Trainer(Network(D, M, K, seed=9), settings, seed=2, progress="none")
        again.load_state_dict(*load_checkpoint(tmp_path / "c.npz"))
        result = again.fit(X, y, Xv, yv)
        for p in PARAMS:
            assert np.array_equal(again.network.params[p], full_net.params[p]), (cut, p)
        assert_same_history(result.history, full.history)


def test_plateau_without_a_validation_set_is_named():
    X, y = toy_data()
    with pytest.raises(
        ValueError,
        match="schedule is plateau, driven by the validation loss; "
        "give X_val and y_val, or choose another schedule",
    ):
        train(SGDSettings(epochs=1, schedule=PLATEAU), X, y)


def test_plateau_engines_agree():
    pytest.importorskip("numba")
    X, y, Xv, yv = toy_data(n=200, n_val=20, seed=3)
    params = []
    for engine in ("numba", "numpy"):
        settings = SGDSettings(epochs=8, eval_every=50, engine=engine, schedule=PLATEAU)
        net, trainer, result = train(settings, X, y, Xv, yv)
        assert trainer.engine.name == engine
        params.append(net.params)
        etas = [row["eta"] for row in result.history]
    assert etas[-1] < etas[0]
    for p in PARAMS:
        np.testing.assert_allclose(params[0][p], params[1][p], rtol=1e-8, atol=1e-10)
