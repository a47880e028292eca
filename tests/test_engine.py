"""The engine choice and its fallbacks (these run without numba too), and the compiled
kernels read as plain Python against the numpy forms."""

import sys
from functools import partial

import numpy as np
import pytest
from conftest import random_problem

import nnclf.graph as F
from nnclf.config.settings import SGDSettings
from nnclf.errors import ConfigError
from nnclf.graph.graph import Graph
from nnclf.graph.network import Network
from nnclf.graph.transfers import TRANSFERS, elementwise
from nnclf.training.compiled import CompiledSteps, Update, missing_compiled_form
from nnclf.training.engine import AUTO_MIN_STEPS, choose_engine, one_blas_thread
from nnclf.training.trainer import Trainer

_data = partial(random_problem, n=60, d=5)


def _trainer(engine, transfer="tanh", steps=50, progress="none"):
    net = Network(5, 4, 3, transfer=transfer, seed=1)
    return Trainer(net, SGDSettings(steps=steps, engine=engine), seed=2, progress=progress)


@pytest.fixture
def no_numba(monkeypatch):
    """numba made unimportable, as on an install without the extra."""
    monkeypatch.setitem(sys.modules, "numba", None)


def test_engine_is_a_setting_with_a_rule():
    assert SGDSettings().engine == "auto"
    with pytest.raises(ConfigError, match="engine: unknown engine 'numbaa'.*numba"):
        SGDSettings(engine="numbaa")


def test_numpy_engine_is_what_was_asked():
    net = Network(5, 4, 3)
    choice = choose_engine("numpy", net.graph, 10**9)
    assert (choice.name, str(choice)) == ("numpy", "engine: numpy (train.engine is numpy)")


def test_auto_without_numba_uses_numpy_and_says_why(no_numba, capsys):
    X, y = _data()
    trainer = _trainer("auto", progress="bar")
    trainer.fit(X, y)
    assert trainer.engine.name == "numpy"
    err = capsys.readouterr().err
    assert err.splitlines()[0] == (
        'engine: numpy (numba is not installed; pip install "nnclf[fast]" for the compiled engine)'
    )


def test_engine_numba_without_numba_is_one_clear_error(no_numba):
    X, y = _data()
    with pytest.raises(ConfigError) as e:
        _trainer("numba").fit(X, y)
    assert str(e.value) == (
        "train.engine is numba, but numba is not installed; "
        'pip install "nnclf[fast]", or use engine auto or numpy'
    )


@pytest.fixture
def user_transfer():
    fn = elementwise("my_tanh", np.tanh, lambda z, h, out=None: 1.0 - h * h)
    TRANSFERS[fn.name] = fn
    yield fn
    del TRANSFERS[fn.name]


def test_a_function_without_compiled_form_keeps_auto_on_numpy(user_transfer):
    X, y = _data()
    trainer = _trainer("auto", transfer="my_tanh")
    trainer.fit(X, y)
    assert trainer.engine.name == "numpy"
    assert trainer.engine.reason == "the local function 'my_tanh' has no compiled form"
    assert missing_compiled_form(trainer.network.graph) is user_transfer


def test_engine_numba_with_a_function_without_compiled_form_is_an_error(user_transfer):
    pytest.importorskip("numba")
    X, y = _data()
    with pytest.raises(
        ConfigError,
        match="train.engine is numba, but the local function 'my_tanh' has no compiled form",
    ):
        _trainer("numba", transfer="my_tanh").fit(X, y)


def test_auto_keeps_short_runs_on_numpy_and_takes_numba_for_long_ones():
    version = pytest.importorskip("numba").__version__
    net = Network(5, 4, 3)
    short = choose_engine("auto", net.graph, AUTO_MIN_STEPS - 1)
    assert short.name == "numpy"
    assert short.reason == (
        f"a short run of {AUTO_MIN_STEPS - 1} steps: compiling would take "
        "longer; train.engine: numba compiles it anyway, and caches it"
    )
    assert (
        str(choose_engine("auto", net.graph, AUTO_MIN_STEPS)) == f"engine: numba (numba {version})"
    )


def test_auto_keeps_minibatches_on_numpy_and_numba_still_forces_them():
    version = pytest.importorskip("numba").__version__
    net = Network(5, 4, 3)
    batch = choose_engine("auto", net.graph, AUTO_MIN_STEPS, batch_size=32)
    assert (batch.name, batch.reason) == (
        "numpy",
        "minibatches of 32 run faster on numpy's "
        "BLAS; train.engine: numba uses the compiled engine "
        "anyway",
    )
    assert choose_engine("auto", net.graph, AUTO_MIN_STEPS, batch_size=1).name == "numba"
    assert (
        str(choose_engine("numba", net.graph, 10, batch_size=32))
        == f"engine: numba (numba {version})"
    )


def test_generated_source_names_only_vertex_numbers():
    # Vertex names that would be code if they were ever pasted into the source.
    g = Graph()
    W, x, b = g.leaf("__import__('os')"), g.leaf("x; raise"), g.leaf("b\n")
    V, gamma, y = g.leaf("V!"), g.leaf("gamma?"), g.leaf("y$")
    h = g.vertex("h = 1", F.tanh, g.vertex("z'", F.affine, W, x, b))
    l = g.vertex("l%", F.affine, V, h, gamma)
    g.vertex("o@", F.neg_pick, g.vertex("q#", F.log_softmax, l), y)
    params = {name: np.zeros(2) for name in (W.name, b.name, V.name, gamma.name)}
    source = CompiledSteps(g, params, (x.name, y.name), Update()).source
    for vertex in g.vertices:
        assert vertex.name not in source
    for name in ("tanh", "affine", "softmax", "import", "raise"):
        assert name not in source
    assert "f7(u1, u2, u3, u7)" in source and "v11_10_0(p11, u11, u10, u6, p10)" in source
    # Adam and averaging add state arrays and kernels, named by vertex numbers and by nnclf.
    state = tuple({name: np.zeros(2) for name in params} for _ in range(2))
    update = Update(optimizer="adam", beta1=0.9, beta2=0.999, epsilon=1e-8, average=True)
    source = CompiledSteps(
        g,
        params,
        (x.name, y.name),
        update,
        state,
        np.zeros(1),
        {name: np.zeros(2) for name in params},
    ).source
    for vertex in g.vertices:
        assert vertex.name not in source
    assert "adam(u1, p1, s1_0, s1_1, eta, beta1, beta2, epsilon, c1, c2)" in source
    assert "average(avg5, u5, rate)" in source


@pytest.mark.parametrize(
    "update, slots, fused",
    [
        (Update(), 0, True),
        (Update(momentum=0.5), 1, False),
        (Update(l2=0.1), 0, False),
        (Update(optimizer="adagrad", epsilon=1e-8), 1, False),
        (Update(optimizer="adam", beta1=0.9, beta2=0.999, epsilon=1e-8), 2, False),
        (Update(average=True), 0, True),
    ],
)
def test_the_update_knows_its_state_and_whether_it_fuses(update, slots, fused):
    # Averaging reads the parameters after the fused update: it never stops the fusing.
    assert (update.slots, update.fused) == (slots, fused)


# ------------------------------------------------------------------ kernels as plain Python


def _kernel_forward(fn, *args):
    shape = np.shape(fn.forward(*args))
    out = np.zeros(shape or (1,))
    fn.compiled.forward(*args, out)
    return out.reshape(shape)


@pytest.mark.parametrize("name", sorted(["tanh", "sigmoid", "relu", "identity", "softplus"]))
def test_transfer_kernels_match_their_numpy_forms(name):
    fn = TRANSFERS[name]
    z = np.linspace(-30, 30, 24).reshape(4, 6)
    h = fn.forward(z)
    assert np.allclose(_kernel_forward(fn, z), h, rtol=1e-14, atol=0)
    p = np.cos(z)
    out = np.empty_like(z)
    fn.compiled.vjps[0](p, h, z, out)
    assert np.allclose(out, fn.vjp(0, p, h, z), rtol=1e-13, atol=1e-300)


def test_tanh_kernel_is_tanh_to_a_few_units_in_the_last_place():
    # The kernel computes e / (e + 2), e = expm1(2|z|) from its own polynomial, with the sign
    # of z, and +-1 beyond |z| = 20.
    z = np.array(
        [
            [
                0.0,
                -0.0,
                1e-300,
                -1e-12,
                3e-8,
                0.25,
                -0.7,
                1.5,
                9.0,
                -18.9,
                19.5,
                20.0,
                20.5,
                -700.0,
                np.inf,
                -np.inf,
            ]
        ]
    )
    out = np.empty_like(z)
    TRANSFERS["tanh"].compiled.forward(z, out)
    np.testing.assert_array_max_ulp(out, np.tanh(z), maxulp=4)
    assert np.array_equal(np.signbit(out), np.signbit(z))
    TRANSFERS["tanh"].compiled.forward(np.array([np.nan]), out[:, :1].ravel())
    assert np.isnan(out[0, 0])


@pytest.mark.parametrize("shape", [(3, 7), (20, 30)])  # below and above 512: BLAS for a batch
@pytest.mark.parametrize("batch", [1, 2])
def test_affine_log_softmax_neg_pick_kernels_match_numpy(shape, batch):
    rng = np.random.default_rng(0)
    m, d = shape
    W, x, b = rng.normal(size=(m, d)), rng.normal(size=(batch, d)), rng.normal(size=m)
    u = F.affine.forward(W, x, b)
    assert np.allclose(_kernel_forward(F.affine, W, x, b), u, rtol=1e-14)
    g = rng.normal(size=(batch, m))
    for k, arg in enumerate((W, x, b)):
        out = np.empty_like(arg)
        F.affine.compiled.vjps[k](g, u, W, x, b, out)
        assert np.allclose(out, F.affine.vjp(k, g, u, W, x, b), rtol=1e-13)
    target = W.copy()
    F.affine.compiled.accumulators[0](target, -0.5, g, u, W, x, b)
    assert np.allclose(target, W - 0.5 * F.affine.vjp(0, g, u, W, x, b), rtol=1e-13)
    q = F.log_softmax.forward(u)
    assert np.allclose(_kernel_forward(F.log_softmax, u), q, rtol=1e-14)
    out = np.empty_like(u)
    F.log_softmax.compiled.vjps[0](g, q, u, out)
    assert np.allclose(out, F.log_softmax.vjp(0, g, q, u), rtol=1e-13)
    y = np.array([2, 0])[:batch]
    o = np.zeros(1)
    F.neg_pick.compiled.forward(q, y, o)
    assert o[0] == pytest.approx(F.neg_pick.forward(q, y), rel=1e-15)
    F.neg_pick.compiled.vjps[0](np.ones(1), o, q, y, out)
    assert np.array_equal(out, F.neg_pick.vjp(0, 1.0, o[0], q, y))


def test_the_compiled_loop_runs_blas_on_one_thread_and_restores_it():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = [
        lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"
    ]
    with one_blas_thread():
        inside = [
            lib["num_threads"]
            for lib in threadpoolctl.threadpool_info()
            if lib["user_api"] == "blas"
        ]
    after = [
        lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"
    ]
    assert inside and set(inside) == {1}
    assert after == before
