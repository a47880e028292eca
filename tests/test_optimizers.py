"""Optimizer parts and the running average against the update formulas written out by hand."""

import math

import numpy as np
import pytest
from notes_reference import hand_gradients

from nnclf.config.settings import SGDSettings
from nnclf.graph.network import PARAMS, Network
from nnclf.training.optimizers import (
    Optimizer,
    RunningAverage,
    adagrad,
    adam,
    clip_by_global_norm,
    l2_decay,
    make_optimizer,
    momentum,
    sgd,
)


def arrays(seed):
    rng = np.random.default_rng(seed)
    return {
        "W": rng.normal(size=(3, 2)),
        "b": rng.normal(size=3),
        "V": rng.normal(size=(2, 3)),
        "gamma": rng.normal(size=2),
    }


def copy(d):
    return {k: v.copy() for k, v in d.items()}


def test_plain_sgd_subtracts_eta_times_the_gradient():
    params, grads = arrays(0), arrays(1)
    start = copy(params)
    opt = Optimizer((), sgd())
    state = opt.init(params)
    assert state == {}
    opt.update(grads, 0.1, params, state)
    for k in PARAMS:
        np.testing.assert_allclose(params[k], start[k] - 0.1 * grads[k], rtol=1e-15)


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_two_steps_by_hand(nesterov):
    params, g1, g2 = arrays(0), arrays(1), arrays(2)
    start = copy(params)
    opt = Optimizer((), momentum(0.9, nesterov))
    state = opt.init(params)
    assert all(np.all(v == 0) for v in state["velocity"].values())
    opt.update(g1, 0.1, params, state)
    opt.update(g2, 0.2, params, state)
    for k in PARAMS:
        v1 = -0.1 * g1[k]
        v2 = 0.9 * v1 - 0.2 * g2[k]
        if nesterov:
            expected = start[k] + (0.9 * v1 - 0.1 * g1[k]) + (0.9 * v2 - 0.2 * g2[k])
        else:
            expected = start[k] + v1 + v2
        np.testing.assert_allclose(params[k], expected, rtol=1e-12)
        np.testing.assert_allclose(state["velocity"][k], v2, rtol=1e-12)


def test_clipping_rescales_to_the_global_norm_and_leaves_small_gradients_alone():
    grads = arrays(1)
    norm = math.sqrt(sum(np.sum(g**2) for g in grads.values()))
    clipped = clip_by_global_norm(norm / 4)(grads, {})
    for k in PARAMS:
        np.testing.assert_allclose(clipped[k], grads[k] / 4, rtol=1e-12)
    assert clip_by_global_norm(norm * 2)(grads, {}) is grads


def test_l2_decays_w_and_v_only_and_never_writes_into_the_gradients():
    params, grads = arrays(0), arrays(1)
    before = copy(grads)
    decayed = l2_decay(0.5)(grads, params)
    for k in PARAMS:
        extra = 0.5 * params[k] if k in ("W", "V") else 0.0
        np.testing.assert_array_equal(decayed[k], before[k] + extra)
        np.testing.assert_array_equal(grads[k], before[k])  # the executor's buffers


@pytest.mark.parametrize(
    "options, fused",
    [
        ({}, True),
        ({"momentum": 0.5}, False),
        ({"l2": 0.1}, False),
        ({"clip_norm": 1.0}, False),
    ],
)
def test_only_plain_sgd_takes_the_fused_path(options, fused):
    assert make_optimizer(SGDSettings(**options)).fused is fused


def test_the_fused_step_is_the_plain_update_of_the_hand_gradient():
    # executor.backward(-eta, into=params) against theta - eta * (hand-derived gradient),
    # and against the same optimizer taking the unfused path (an identity transform).
    net = Network(2, 3, 2, seed=0)
    x, y = np.array([[0.3, -1.2]]), np.array([1])
    _, g, _ = hand_gradients(net.params, x, y)
    expected = {k: net.params[k] - 0.1 * g[k] for k in PARAMS}
    for opt in (Optimizer((), sgd()), Optimizer((lambda grads, params: grads,), sgd())):
        params = {k: v.copy() for k, v in Network(2, 3, 2, seed=0).params.items()}
        net.params = params
        ex = net.executor()
        ex.forward(net.leaf_values(x, y))
        opt.stepper(params, opt.init(params))(ex, 0.1)
        for k in PARAMS:
            np.testing.assert_allclose(params[k], expected[k], rtol=1e-12, atol=1e-15)


def test_make_optimizer_chains_clipping_then_l2():
    opt = make_optimizer(SGDSettings(clip_norm=1.0, l2=0.1, momentum=0.5, nesterov=True))
    params, grads = arrays(0), {k: 100 * v for k, v in arrays(1).items()}
    start = copy(params)
    opt.update(grads, 0.1, params, opt.init(params))
    norm = math.sqrt(sum(np.sum(g**2) for g in grads.values()))
    for k in PARAMS:
        step = grads[k] / norm + (0.1 * start[k] if k in ("W", "V") else 0.0)
        v = -0.1 * step
        np.testing.assert_allclose(params[k], start[k] + 0.5 * v - 0.1 * step, rtol=1e-12)


# ---------------------------------------------------------------------- Adagrad and Adam


def test_adagrad_two_steps_by_hand():
    params, g1, g2 = arrays(0), arrays(1), arrays(2)
    start = copy(params)
    opt = Optimizer((), adagrad(1e-8))
    state = opt.init(params)
    assert set(state) == {"accumulator"}
    opt.update(g1, 0.1, params, state)
    opt.update(g2, 0.2, params, state)
    for k in PARAMS:
        G1, G2 = g1[k] ** 2, g1[k] ** 2 + g2[k] ** 2
        expected = (
            start[k] - 0.1 * g1[k] / (np.sqrt(G1) + 1e-8) - 0.2 * g2[k] / (np.sqrt(G2) + 1e-8)
        )
        np.testing.assert_allclose(params[k], expected, rtol=1e-12)
        np.testing.assert_allclose(state["accumulator"][k], G2, rtol=1e-15)


def test_adams_first_step_moves_every_entry_by_about_eta():
    # With k = 1 the bias corrections undo (1 - beta): mhat = g, vhat = g*g, so the step is
    # eta g / (|g| + epsilon), eta times the sign of g up to epsilon (Kingma and Ba, 2.1).
    params, grads = arrays(0), arrays(1)
    start = copy(params)
    opt = Optimizer((), adam(0.9, 0.999, 1e-8))
    state = opt.init(params)
    opt.update(grads, 0.01, params, state)
    for k in PARAMS:
        sign = grads[k] / (np.abs(grads[k]) + 1e-8)
        np.testing.assert_allclose(params[k], start[k] - 0.01 * sign, rtol=1e-12)
        np.testing.assert_allclose(state["m"][k], 0.1 * grads[k], rtol=1e-15)
        np.testing.assert_allclose(state["v"][k], 0.001 * grads[k] ** 2, rtol=1e-12)
    assert state["count"]["k"].tolist() == [1.0]


def test_adams_second_step_by_hand():
    params, g1, g2 = arrays(0), arrays(1), arrays(2)
    start = copy(params)
    opt = Optimizer((), adam(0.5, 0.75, 1e-3))
    state = opt.init(params)
    opt.update(g1, 0.1, params, state)
    opt.update(g2, 0.1, params, state)
    for k in PARAMS:
        m2 = 0.5 * 0.5 * g1[k] + 0.5 * g2[k]
        v2 = 0.75 * 0.25 * g1[k] ** 2 + 0.25 * g2[k] ** 2
        step2 = 0.1 * (m2 / 0.75) / (np.sqrt(v2 / (1 - 0.75**2)) + 1e-3)
        step1 = 0.1 * g1[k] / (np.abs(g1[k]) + 1e-3)
        np.testing.assert_allclose(params[k], start[k] - step1 - step2, rtol=1e-12)


@pytest.mark.parametrize(
    "spec, rule_state",
    [
        ("adagrad", {"accumulator"}),
        ({"name": "adam", "beta1": 0.5}, {"m", "v", "count"}),
        ("sgd", set()),
    ],
)
def test_make_optimizer_takes_the_named_rule_and_never_fuses_it(spec, rule_state):
    opt = make_optimizer(SGDSettings(optimizer=spec))
    assert set(opt.init(arrays(0))) == rule_state
    assert opt.fused is (spec == "sgd")


# ---------------------------------------------------------------------- averaging


def test_the_running_average_is_the_mean_from_its_start():
    params = arrays(0)
    average = RunningAverage(params, start=3)
    seen = []
    for t in range(1, 8):
        params = arrays(t)
        average.update(params, t)
        if t >= 3:
            seen.append(params)
    assert average.count == 5
    for k in PARAMS:
        np.testing.assert_allclose(
            average.values[k], np.mean([p[k] for p in seen], axis=0), rtol=1e-13, atol=1e-15
        )


def test_the_rates_for_the_compiled_engine_are_the_updates_own():
    average = RunningAverage(arrays(0), start=4)
    average.count = 0
    assert average.rates(1, 8).tolist() == [0, 0, 0, 1, 1 / 2, 1 / 3, 1 / 4]
    average.advance(1, 8)
    assert average.count == 4
    assert average.rates(8, 10).tolist() == [1 / 5, 1 / 6]
    average.advance(8, 10)
    assert average.count == 6


def test_show_keeps_the_iterate_and_put_back_returns_it():
    params = arrays(0)
    iterate = copy(params)
    average = RunningAverage(params, start=1)
    average.show(params)  # not started: nothing to show
    assert average.iterate is None
    average.update(arrays(5), 1)
    average.show(params)
    for k in PARAMS:
        np.testing.assert_array_equal(params[k], arrays(5)[k])
        np.testing.assert_array_equal(average.iterate[k], iterate[k])
    with average.shown(params):  # already shown: stays shown
        pass
    np.testing.assert_array_equal(params["W"], arrays(5)["W"])
    average.put_back(params)
    assert average.iterate is None
    np.testing.assert_array_equal(params["W"], iterate["W"])


def test_averaging_goes_on_or_stops_with_the_settings():
    params = arrays(0)
    assert RunningAverage.going_on(None, params, None) is None
    fresh = RunningAverage.going_on(None, params, 5)
    assert (fresh.start, fresh.count) == (5, 0)
    fresh.update(arrays(1), 5)
    fresh.show(params)
    kept = RunningAverage.going_on(fresh, params, 2)
    assert kept is fresh and (kept.start, kept.count, kept.iterate) == (2, 1, None)
    np.testing.assert_array_equal(params["W"], arrays(0)["W"])  # the iterate, put back
    assert RunningAverage.going_on(kept, params, None) is None
