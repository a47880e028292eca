"""The compiled engine against the numpy engine: the same steps, to rounding."""

from functools import partial

import numpy as np
import pytest
from conftest import random_problem

from nnclf.config.settings import SGDSettings
from nnclf.errors import DivergenceError
from nnclf.graph.network import Network
from nnclf.training.trainer import Trainer

pytest.importorskip("numba")

BUILT_IN = ("tanh", "sigmoid", "relu", "identity", "softplus")

# Each kind of compiled step (a transfer function, an update rule, a dtype) costs a compile of
# several seconds on a clean machine. Every kind is tested in the full run; the quick run
# (-m "not slow") keeps a few kinds that between them reach every part of the generated step:
# tanh with plain SGD and with momentum, clipping with momentum, Adam with clipping and l2,
# averaging with Nesterov, float32. Another transfer function changes only its own kernel,
# which each transfer's plain-SGD case covers; the update rules are tested with tanh.


def cases(all_cases, quick):
    """``all_cases`` as pytest params, those not in ``quick`` marked slow."""
    return [
        pytest.param(*case, marks=() if case in quick else pytest.mark.slow) for case in all_cases
    ]


_data = partial(random_problem, n=200, d=8)


def _train(engine, transfer="tanh", steps=1000, max_steps=None, trainer=None, **settings):
    X, y = _data()
    if trainer is None:
        net = Network(8, 6, 3, transfer=transfer, seed=1)
        schedule = settings.pop("schedule", {"name": "inverse_time", "eta0": 0.05, "tau": 500})
        trainer = Trainer(
            net,
            SGDSettings(steps=steps, engine=engine, schedule=schedule, **settings),
            seed=3,
            progress="none",
        )
    trainer.fit(X, y, max_steps=max_steps)
    assert trainer.engine.name == engine
    return trainer


def _assert_close(a, b, rtol):
    for name in a:
        scale = np.max(np.abs(b[name])) or 1.0
        assert np.max(np.abs(a[name] - b[name])) <= rtol * scale, name


@pytest.mark.parametrize(
    "transfer, momentum, batch_size, sampling",
    cases(
        [
            (transfer, momentum, batch_size, sampling)
            for transfer in BUILT_IN
            for momentum in (0.0, 0.9)
            for batch_size in (1, 16)
            for sampling in ("uniform", "shuffle")
            if transfer == "tanh" or (momentum, batch_size, sampling) == (0.0, 1, "uniform")
        ],
        quick={("tanh", 0.0, 1, "uniform"), ("tanh", 0.9, 16, "shuffle")},
    ),
)
def test_engines_agree_after_1000_steps(transfer, momentum, batch_size, sampling):
    kw = dict(transfer=transfer, momentum=momentum, batch_size=batch_size, sampling=sampling)
    fast, slow = _train("numba", **kw), _train("numpy", **kw)
    _assert_close(fast.network.params, slow.network.params, 1e-8)
    assert fast.history[-1]["train_loss"] == pytest.approx(slow.history[-1]["train_loss"], rel=1e-8)


@pytest.mark.parametrize("batch_size", [1, 16])
def test_engines_agree_when_the_compiled_affine_calls_blas(batch_size):
    # W is 40 x 16 here: at 512 entries and more a batch's compiled x W^T is a BLAS product,
    # as in the numpy engine; one example's W x is the compiled loop whose sums the compiler
    # may reorder (as BLAS does, in another order), and so is V h at either batch size.
    X, y = _data(d=40)
    params = []
    for engine in ("numba", "numpy"):
        net = Network(40, 16, 3, seed=1)
        settings = SGDSettings(
            steps=1000,
            engine=engine,
            batch_size=batch_size,
            schedule={"name": "constant", "eta0": 0.02},
        )
        Trainer(net, settings, seed=3, progress="none").fit(X, y)
        params.append(net.params)
    _assert_close(*params, 1e-8)


L2_CLIP_NESTEROV = [
    dict(l2=1e-3),
    dict(clip_norm=0.5),
    dict(momentum=0.8, nesterov=True, l2=1e-4),
    dict(clip_norm=0.3, momentum=0.5, batch_size=7, sampling="shuffle"),
    dict(schedule={"name": "cosine", "eta0": 0.1, "total_steps": 800, "warmup": 50}),
    dict(schedule={"name": "step", "eta0": 0.1, "factor": 0.5, "every": 300}),
]


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param(extra, marks=() if i >= 3 else pytest.mark.slow, id=f"extra{i}")
        for i, extra in enumerate(L2_CLIP_NESTEROV)
    ],
)
def test_engines_agree_with_l2_clipping_nesterov_and_schedules(extra):
    fast, slow = _train("numba", **dict(extra)), _train("numpy", **dict(extra))
    _assert_close(fast.network.params, slow.network.params, 1e-8)


def test_same_seed_is_bit_identical_and_resume_is_bit_identical():
    one, two = _train("numba", momentum=0.9), _train("numba", momentum=0.9)
    for name in one.network.params:
        assert np.array_equal(one.network.params[name], two.network.params[name])
    half = _train("numba", momentum=0.9, max_steps=437)
    arrays, state = half.state_dict()
    arrays = {k: v.copy() for k, v in arrays.items()}
    resumed = Trainer.from_state(Network(8, 6, 3, seed=99), arrays, state)
    _train("numba", trainer=resumed)
    for name in one.network.params:
        assert np.array_equal(one.network.params[name], resumed.network.params[name])
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in one.history]


def test_divergence_stops_and_is_reported_as_in_the_numpy_engine():
    kw = dict(transfer="identity", schedule={"name": "constant", "eta0": 1e3}, momentum=0.99)
    messages = []
    for engine in ("numba", "numpy"):
        with pytest.raises(DivergenceError) as e:
            _train(engine, **kw)
        messages.append(str(e.value))
    assert messages[0] == messages[1]
    assert messages[0].startswith("training diverged at step")


def _train32(engine, transfer, **settings):
    X, y = _data()
    net = Network(8, 6, 3, transfer=transfer, seed=1, dtype=np.float32)
    settings = SGDSettings(
        steps=1000, engine=engine, schedule={"name": "constant", "eta0": 0.01}, **settings
    )
    trainer = Trainer(net, settings, seed=3, progress="none")
    trainer.fit(X, y)
    assert all(p.dtype == np.float32 for p in net.params.values())
    return net.params


@pytest.mark.parametrize(
    "transfer, momentum",
    [
        pytest.param("tanh", {}, id="tanh"),
        pytest.param("softplus", {"momentum": 0.9, "nesterov": True}, id="softplus-nesterov"),
        pytest.param("relu", {"momentum": 0.9}, id="relu-momentum", marks=pytest.mark.slow),
    ],
)
def test_float32_engines_agree_to_single_precision(transfer, momentum):
    # The documented bound (nnclf.config.settings.ModelConfig): 1e-5 of the parameters'
    # scale after 1,000 steps at eta 0.01. Measured: 0.5e-6 to 1.0e-6 with plain SGD, up to
    # 4.7e-6 with momentum 0.9, Nesterov or Adam (float32 rounding, 6e-8 per operation,
    # accumulated; each engine's float32 run is as far from the float64 run as the other's).
    # With a large step and momentum the training itself is chaotic, and float32 runs drift
    # from float64 runs just as fast on either engine.
    fast, slow = _train32("numba", transfer, **momentum), _train32("numpy", transfer, **momentum)
    _assert_close(fast, slow, 1e-5)


ADAPTIVE = [
    dict(optimizer="adagrad"),
    dict(optimizer={"name": "adam", "beta1": 0.8, "beta2": 0.99}, clip_norm=0.3, l2=1e-3),
    dict(average=True),
    dict(average=400, momentum=0.9, nesterov=True),
    dict(average=50, optimizer="adam"),
]


@pytest.mark.parametrize(
    "extra, batch_size, sampling",
    [
        pytest.param(
            extra,
            batch_size,
            sampling,
            id=f"extra{i}-{batch_size}-{sampling}",
            marks=() if (i, batch_size) in ((1, 16), (3, 1)) else pytest.mark.slow,
        )
        for i, extra in enumerate(ADAPTIVE)
        for batch_size in (1, 16)
        for sampling in ("uniform", "shuffle")
    ],
)
def test_engines_agree_with_adaptive_optimizers_and_averaging(extra, batch_size, sampling):
    kw = dict(
        extra, batch_size=batch_size, sampling=sampling, schedule={"name": "constant", "eta0": 0.01}
    )
    fast, slow = _train("numba", **dict(kw)), _train("numpy", **dict(kw))
    _assert_close(fast.network.params, slow.network.params, 1e-8)
    for name, value in slow.opt_state.items():
        _assert_close(fast.opt_state[name], value, 1e-8)
    if slow.average is not None:
        assert fast.average.count == slow.average.count
        _assert_close(fast.average.iterate, slow.average.iterate, 1e-8)


@pytest.mark.slow
@pytest.mark.parametrize("transfer", BUILT_IN)
def test_float32_engines_agree_with_adam_and_averaging(transfer):
    params = []
    for engine in ("numba", "numpy"):
        net = Network(8, 6, 3, transfer=transfer, seed=1, dtype=np.float32)
        settings = SGDSettings(
            steps=1000,
            engine=engine,
            optimizer="adam",
            average=300,
            schedule={"name": "constant", "eta0": 0.001},
        )
        Trainer(net, settings, seed=3, progress="none").fit(*_data())
        assert all(p.dtype == np.float32 for p in net.params.values())
        params.append(net.params)
    _assert_close(*params, 1e-5)


@pytest.mark.slow  # it compiles afresh every time
def test_a_float32_step_computes_in_float32():
    # Read from the step's LLVM IR, compiled afresh (numba cannot inspect cached code): a
    # float64 constant, eta or state would show as conversions (fpext) and double arithmetic
    # in every kernel; the only double arithmetic left is the loss sum's one addition.
    import re

    import numba

    from nnclf.training.compiled import CompiledSteps, Update

    net = Network(8, 6, 3, seed=1, dtype=np.float32)
    velocity = {name: np.zeros_like(p) for name, p in net.params.items()}
    steps = CompiledSteps(net.graph, net.params, ("x", "y"), Update(momentum=0.9), (velocity,))
    X, y = _data()
    data = (X.astype(np.float32), np.ascontiguousarray(y, dtype=np.intp))
    steps.run(data, np.zeros((2, 1), np.intp), np.full(2, 0.01), 0.0)
    steps._run = numba.njit(error_model="numpy")(steps._run.py_func)
    steps.run(data, np.ones((2, 1), np.intp), np.full(2, 0.01), 0.0)
    ir = "".join(steps._run.inspect_llvm().values())
    assert "float" in ir
    assert len(re.findall(r"= f(?:add|sub|mul|div) (?:[a-z]+ )*double", ir)) == 1
