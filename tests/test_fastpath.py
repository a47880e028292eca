"""The compiled executor changes no number: it agrees with the plain evaluation of the graph.

The reference here is Graph.forward / Graph.backward (fresh arrays, no buffers, no in-place
updates) driving a hand-written SGD loop that draws its examples the way the trainer's
contract says (one epoch of indices at a time from numpy.random.default_rng(seed)).
"""

from functools import partial

import numpy as np
import pytest
from conftest import random_problem

import nnclf.graph as F
from nnclf.errors import GraphError
from nnclf.graph.graph import Graph
from nnclf.graph.network import PARAMS, Network
from nnclf.training.trainer import SGDSettings, Trainer

STEPS = 300
TOL = dict(rtol=0, atol=1e-12)


_data = partial(random_problem, n=40, d=5, every_class=True)


def _reference_sgd(net, X, y, steps, eta, batch_size, momentum, seed):
    """theta <- theta - eta g (or v <- mu v - eta g; theta <- theta + v), with g from the
    plain backward pass of the graph."""
    params = {k: v.copy() for k, v in net.params.items()}
    velocity = {k: np.zeros_like(v) for k, v in params.items()}
    rng = np.random.default_rng(seed)
    n = len(X)
    per_epoch = -(-n // batch_size)
    t = 0
    while t < steps:
        order = rng.integers(0, n, size=per_epoch * batch_size)
        for k in range(per_epoch):
            if t == steps:
                break
            rows = order[k * batch_size : (k + 1) * batch_size]
            x, target = (X[rows[0]], y[rows[0]]) if batch_size == 1 else (X[rows], y[rows])
            values = net.graph.forward({**params, "x": x, "y": target})
            grads = net.graph.backward(values, wrt=PARAMS)
            for name in PARAMS:
                if momentum:
                    velocity[name] = momentum * velocity[name] - eta * grads[name]
                    params[name] = params[name] + velocity[name]
                else:
                    params[name] = params[name] - eta * grads[name]
            t += 1
    return params


@pytest.mark.parametrize("transfer", sorted(F.TRANSFERS))
@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("batch_size", [1, 4])
def test_trainer_matches_plain_graph_evaluation(transfer, momentum, batch_size):
    X, y = _data()
    eta = 0.05
    net = Network(5, 6, 3, transfer=transfer, seed=1)
    expected = _reference_sgd(net, X, y, STEPS, eta, batch_size, momentum, seed=7)
    settings = SGDSettings(
        steps=STEPS,
        batch_size=batch_size,
        momentum=momentum,
        schedule={"name": "constant", "eta0": eta},
    )
    Trainer(net, settings, seed=7, progress="none").fit(X, y)
    for name in PARAMS:
        np.testing.assert_allclose(net.params[name], expected[name], **TOL)


@pytest.mark.parametrize("transfer", sorted(F.TRANSFERS))
def test_executor_gradients_equal_plain_backward(transfer):
    X, y = _data(seed=3)
    net = Network(5, 6, 3, transfer=transfer, seed=2)
    ex = net.executor()
    for x, target in [(X[0], y[0]), (X[:7], y[:7]), (X[1], y[1]), (X[:3], y[:3])]:
        leaves = net.leaf_values(x, target)
        o = ex.forward(leaves)
        fast = ex.backward()
        values = net.graph.forward(leaves)
        plain = net.graph.backward(values, wrt=PARAMS)
        assert o == pytest.approx(values["o"], rel=0, abs=1e-12)
        for name in PARAMS:
            np.testing.assert_allclose(fast[name], plain[name], **TOL)


@pytest.mark.parametrize("batched", [False, True])
def test_backward_into_adds_seed_times_gradient(batched):
    X, y = _data(seed=4)
    net = Network(5, 6, 3, seed=3)
    x, target = (X[:6], y[:6]) if batched else (X[2], y[2])
    values = net.graph.forward(net.leaf_values(x, target))
    grads = net.graph.backward(values, wrt=PARAMS)
    before = {k: v.copy() for k, v in net.params.items()}
    ex = net.executor()
    ex.forward(net.leaf_values(x, target))
    returned = ex.backward(-0.3, into=net.params)
    assert returned is net.params
    for name in PARAMS:
        np.testing.assert_allclose(net.params[name], before[name] - 0.3 * grads[name], **TOL)


def test_backward_into_waits_when_a_later_step_reads_the_leaf():
    # o = -(a * b)_y: do/da reads b and do/db reads a, so neither may change before both
    # products are formed.
    g = Graph()
    a, b, y = g.leaf("a"), g.leaf("b"), g.leaf("y")
    c = g.vertex("c", F.mul, a, b)
    g.vertex("o", F.neg_pick, c, y)
    A, B = np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0])
    ex = g.compile(wrt=("a", "b"))
    ex.forward({"a": A, "b": B, "y": np.int64(1)})
    ex.backward(0.5, into={"a": A, "b": B})
    # do/da_1 = -b_1 = -5, do/db_1 = -a_1 = -2, both at the old values.
    np.testing.assert_array_equal(A, [1.0, 2.0 - 2.5, 3.0])
    np.testing.assert_array_equal(B, [4.0, 5.0 - 1.0, 6.0])
    assert "(later)" in ex.source()


def test_backward_into_same_leaf_twice():
    # o = -(a * a)_y: do/da_y = -2 a_y, from two argument positions.
    g = Graph()
    a, y = g.leaf("a"), g.leaf("y")
    c = g.vertex("c", F.mul, a, a)
    g.vertex("o", F.neg_pick, c, y)
    A = np.array([1.0, 3.0])
    ex = g.compile(wrt=("a",))
    ex.forward({"a": A, "y": np.int64(1)})
    ex.backward(0.25, into={"a": A})
    np.testing.assert_array_equal(A, [1.0, 3.0 - 0.25 * 6.0])


def test_backward_into_rejects_a_leaf_not_differentiated():
    net = Network(3, 2, 2)
    ex = net.executor()
    ex.forward(net.leaf_values(np.zeros(3), np.int64(0)))
    with pytest.raises(GraphError, match="into names 'x'"):
        ex.backward(1.0, into={"x": np.zeros(3)})


def test_source_shows_one_line_per_vertex_and_edge():
    net = Network(3, 2, 2)
    ex = net.executor()
    with pytest.raises(GraphError, match="run forward first"):
        ex.source()
    ex.forward(net.leaf_values(np.zeros(3), np.int64(0)))
    text = ex.source()
    # Numbered as in the notes: leaves W, x, b, V, gamma, y are 1..6; z, h, l, q, o are 7..11.
    for vertex in [
        "u^7 = f^7(u^1, u^2, u^3)",
        "u^8 = f^8(u^7)",
        "u^9 = f^9(u^4, u^8, u^5)",
        "u^10 = f^10(u^9)",
        "u^11 = f^11(u^10, u^6)",
    ]:
        assert f"  # {vertex}\n" in text
    # Eight backward steps: o->q, q->l, l->V, l->h, l->gamma, h->z, z->W, z->b (never x, y).
    assert text.count("J^{") == 8
    assert "J^{2->7}" not in text  # x is not differentiated


def test_memory_does_not_grow_with_steps():
    # Buffers are reused: after warm-up, further steps allocate nothing that stays alive.
    import tracemalloc

    X, y = _data(n=50)
    net = Network(5, 8, 3, seed=0)
    settings = SGDSettings(steps=4000, eval_every=4000, schedule={"name": "constant", "eta0": 0.01})
    trainer = Trainer(net, settings, seed=0, progress="none")
    trainer.fit(X, y, max_steps=500)
    tracemalloc.start()
    # (a second warm-up, traced: whatever the first fit of this process made once, such as
    # a module imported lazily, is made before the count starts, whichever tests ran before)
    trainer.fit(X, y, max_steps=500)
    start, _ = tracemalloc.get_traced_memory()
    trainer.fit(X, y, max_steps=3000)
    end, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert end - start < 10_000  # 3000 steps; a leak of even 8 bytes a step would show
