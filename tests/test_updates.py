"""Each update rule's two renderings (nnclf.training.updates): the numpy form and the
compiled form, run here as plain Python, agree with each other and with the formula written
out by hand."""

import math

import numpy as np
import pytest

from nnclf.training.updates import (
    ADAGRAD,
    ADAM,
    AVERAGE,
    CLIP_SCALE,
    CLIP_SQUARES,
    DECAY,
    MOMENTUM,
    RULES,
    SGD,
)

HYPER = {
    "sgd": (),
    "momentum": (0.9, True),
    "adagrad": (1e-8,),
    "adam": (0.9, 0.999, 1e-8),
}


def arrays(seed, n, shape=(3, 4)):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape) for _ in range(n)]


@pytest.mark.parametrize("name", sorted(RULES))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_two_forms_of_each_rule_agree_over_three_updates(name, seed):
    rule = RULES[name]
    hyper = HYPER[name]
    theta, *state = arrays(seed, 1 + len(rule.slots))
    state = [np.abs(s) for s in state]  # Adagrad's and Adam's second moments are >= 0
    by_numpy = [theta.copy(), *(s.copy() for s in state)]
    by_loops = [theta.copy(), *(s.copy() for s in state)]
    for k, g in enumerate(arrays(seed + 10, 3), start=1):
        scalars = rule.scalars(float(k), *hyper) if rule.scalars is not None else ()
        assert len(scalars) == len(rule.counted)
        rule.numpy(by_numpy[0], g, *by_numpy[1:], 0.1, *hyper, *scalars)
        rule.compiled(by_loops[0], g, *by_loops[1:], 0.1, *hyper, *scalars)
    for a, b in zip(by_numpy, by_loops):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


def test_each_rule_names_its_state_as_checkpoints_do():
    assert RULES == {"sgd": SGD, "momentum": MOMENTUM, "adagrad": ADAGRAD, "adam": ADAM}
    assert [r.slots for r in RULES.values()] == [(), ("velocity",), ("accumulator",), ("m", "v")]
    # Only plain SGD is linear in g with coefficient -eta: it alone may be fused.
    assert [r.fusable for r in RULES.values()] == [True, False, False, False]


def test_adams_scalars_are_its_bias_corrections():
    assert ADAM.scalars(3.0, 0.5, 0.75, 1e-8) == (1 - 0.5**3, 1 - 0.75**3)


def test_sgd_subtracts_eta_g_in_both_forms():
    theta, g = arrays(0, 2)
    for form in (SGD.numpy, SGD.compiled):
        t = theta.copy()
        form(t, g, 0.25)
        np.testing.assert_allclose(t, theta - 0.25 * g, rtol=1e-15)


def test_the_transforms_and_the_average_in_both_forms():
    g, theta, avg = arrays(3, 3)
    decayed = g.copy()
    DECAY.compiled(decayed, 0.5, theta)
    np.testing.assert_allclose(decayed, DECAY.numpy(g, 0.5, theta), rtol=1e-15)
    np.testing.assert_allclose(decayed, g + 0.5 * theta, rtol=1e-15)
    assert math.isclose(CLIP_SQUARES.compiled(g), CLIP_SQUARES.numpy(g), rel_tol=1e-13)
    assert math.isclose(CLIP_SQUARES.numpy(g), float(np.sum(g * g)), rel_tol=1e-13)
    scaled = g.copy()
    CLIP_SCALE.compiled(scaled, 0.3)
    np.testing.assert_array_equal(scaled, CLIP_SCALE.numpy(g, 0.3))
    by_numpy, by_loops = avg.copy(), avg.copy()
    AVERAGE.numpy(by_numpy, theta, 0.25)
    AVERAGE.compiled(by_loops, theta, 0.25)
    np.testing.assert_allclose(by_numpy, by_loops, rtol=1e-15)
    np.testing.assert_allclose(by_numpy, avg + 0.25 * (theta - avg), rtol=1e-15)


@pytest.mark.parametrize(
    "update, rule",
    [
        ({"momentum": 0.5}, MOMENTUM),
        ({"optimizer": "adagrad", "epsilon": 1e-8}, ADAGRAD),
        ({"optimizer": "adam", "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}, ADAM),
        ({"l2": 0.1, "clip_norm": 1.0, "decayed": ("W", "V"), "average": True}, SGD),
    ],
)
def test_both_engines_run_the_same_rule_object(update, rule):
    from nnclf.graph.network import Network
    from nnclf.training.compiled import CompiledSteps, Update
    from nnclf.training.optimizers import make_optimizer
    from nnclf.training.settings import SGDSettings

    net = Network(4, 3, 2, seed=0)
    update = Update(**update)
    state = tuple({k: np.zeros_like(v) for k, v in net.params.items()} for _ in rule.slots)
    average = dict(net.params) if update.average else None
    steps = CompiledSteps(net.graph, net.params, ("x", "y"), update, state, np.zeros(1), average)
    kernels = steps._source.kernels
    assert kernels[rule.name] is rule.compiled
    if update.l2:
        assert kernels["decay"] is DECAY.compiled and kernels["scale"] is CLIP_SCALE.compiled
        assert kernels["average"] is AVERAGE.compiled
    name = {"sgd": "sgd"}.get(update.optimizer, update.optimizer)
    spec = {
        "name": name,
        **{k: getattr(update, k) for k in rule.hyper if k in ("beta1", "beta2", "epsilon")},
    }
    settings = SGDSettings(
        momentum=update.momentum, l2=update.l2, clip_norm=update.clip_norm, optimizer=spec
    )
    assert make_optimizer(settings).rule.rule is rule
