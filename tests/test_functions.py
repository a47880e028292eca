"""Local functions f^i against closed forms written here and central differences computed here.

Every Jacobian J^{j->i}(A^i) is compared with a finite-difference Jacobian built in this file,
every VJP with g J from those same differences, and both with ``check_function``.
"""

import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import away_from_zero
from notes_reference import TRANSFER_CLOSED_FORMS, central_differences

import nnclf.graph as F
from nnclf.errors import GraphError
from nnclf.graph.gradcheck import check_function

# Central differences in float64 with eps = 1e-6 are good to about 1e-9 here.
FD_TOL = dict(rtol=1e-6, atol=1e-8)
# Two analytic computations of the same number (Jacobian vs VJP).
EXACT = dict(rtol=1e-12, atol=1e-14)


# --------------------------------------------------------------------------- helpers


def _is_real(a):
    return np.asarray(a).dtype.kind == "f"


def _as_args(args):
    return [np.array(a, dtype=float) if _is_real(a) else np.asarray(a) for a in args]


def central_jacobian(fn, args, k):
    """J[r, c] = d f_r / d (args[k])_c by central differences of ``fn.forward``."""
    args = _as_args(args)
    return central_differences(lambda: fn.forward(*args), args[k]).reshape(-1, args[k].size)


def differentiable_positions(fn, args):
    return [k for k, a in enumerate(args) if fn.differentiable[k] and _is_real(a)]


def _cases():
    rng = np.random.default_rng(20240601)
    cases = [
        ("add", F.add, (rng.normal(size=3), rng.normal(size=3))),
        ("add-batch", F.add, (rng.normal(size=(2, 3)), rng.normal(size=(2, 3)))),
        ("mul", F.mul, (rng.normal(size=3), rng.normal(size=3))),
        ("mul-batch", F.mul, (rng.normal(size=(2, 3)), rng.normal(size=(2, 3)))),
        ("affine", F.affine, (rng.normal(size=(2, 3)), rng.normal(size=3), rng.normal(size=2))),
        (
            "affine-batch",
            F.affine,
            (rng.normal(size=(2, 3)), rng.normal(size=(4, 3)), rng.normal(size=2)),
        ),
        ("log_softmax", F.log_softmax, (rng.normal(size=4),)),
        ("log_softmax-batch", F.log_softmax, (rng.normal(size=(3, 4)),)),
        ("neg_pick", F.neg_pick, (rng.normal(size=4), np.int64(2))),
        ("neg_pick-batch", F.neg_pick, (rng.normal(size=(3, 4)), np.array([0, 3, 1]))),
    ]
    for name in sorted(F.TRANSFERS):
        cases.append((name, F.TRANSFERS[name], (away_from_zero(rng, 4),)))
        cases.append((name + "-batch", F.TRANSFERS[name], (away_from_zero(rng, (2, 3)),)))
    return cases


CASES = _cases()
CASE_IDS = [c[0] for c in CASES]


# --------------------------------------------------------------------------- every function


@pytest.mark.parametrize("label, fn, args", CASES, ids=CASE_IDS)
def test_jacobian_matches_central_differences(label, fn, args):
    args = _as_args(args)
    ans = fn.forward(*args)
    positions = differentiable_positions(fn, args)
    assert positions, "every local function has at least one differentiable argument"
    for k in positions:
        J = fn.jacobian(k, ans, *args)
        assert J.shape == (np.size(ans), args[k].size)
        np.testing.assert_allclose(J, central_jacobian(fn, args, k), **FD_TOL)


@pytest.mark.parametrize("label, fn, args", CASES, ids=CASE_IDS)
def test_vjp_is_g_times_jacobian(label, fn, args):
    rng = np.random.default_rng(7)
    args = _as_args(args)
    ans = fn.forward(*args)
    g = rng.normal(size=np.shape(ans))
    for k in differentiable_positions(fn, args):
        vjp = fn.vjp(k, g, ans, *args)
        assert np.shape(vjp) == args[k].shape
        J_fd = central_jacobian(fn, args, k)
        np.testing.assert_allclose(np.ravel(vjp), np.ravel(g) @ J_fd, **FD_TOL)
        np.testing.assert_allclose(np.ravel(vjp), np.ravel(g) @ fn.jacobian(k, ans, *args), **EXACT)


@pytest.mark.parametrize("label, fn, args", CASES, ids=CASE_IDS)
def test_check_function_passes(label, fn, args):
    report = check_function(fn, *args)
    assert report.ok, str(report)
    # Two rows ("jacobian" and "vjp") per differentiable real-valued argument.
    assert len(report.checks) == 2 * len(differentiable_positions(fn, _as_args(args)))


@pytest.mark.parametrize("label, fn, args", CASES, ids=CASE_IDS)
def test_out_buffers_give_the_same_numbers(label, fn, args):
    """The compiled graph passes preallocated buffers as ``out``; results must not change."""
    rng = np.random.default_rng(11)
    args = _as_args(args)
    ans = fn.forward(*args)
    buf = np.full(np.shape(ans), np.nan)
    np.testing.assert_allclose(fn.forward(*args, out=buf), ans, **EXACT)
    g = rng.normal(size=np.shape(ans))
    for k in differentiable_positions(fn, args):
        expected = fn.vjp(k, g, ans, *args)
        out = np.full(args[k].shape, np.nan)
        result = fn.vjp(k, g, ans, *args, out=out)
        np.testing.assert_allclose(result, expected, **EXACT)
        np.testing.assert_allclose(out, expected, **EXACT)


@pytest.mark.parametrize("label, fn, args", CASES, ids=CASE_IDS)
def test_functions_do_not_modify_their_arguments(label, fn, args):
    args = _as_args(args)
    before = [a.copy() for a in args]
    ans = fn.forward(*args)
    for k in differentiable_positions(fn, args):
        fn.jacobian(k, ans, *args)
        fn.vjp(k, np.ones(np.shape(ans)), ans, *args)
    for a, b in zip(args, before):
        np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------- forward values


def test_add_and_mul_forward():
    a, b = np.array([1.0, -2.0, 3.5]), np.array([4.0, 0.5, -1.0])
    np.testing.assert_array_equal(F.add.forward(a, b), [5.0, -1.5, 2.5])
    np.testing.assert_array_equal(F.mul.forward(a, b), [4.0, -1.0, -3.5])


def test_mul_jacobians_are_diagonals_of_the_other_argument():
    a, b = np.array([1.0, -2.0, 3.5]), np.array([4.0, 0.5, -1.0])
    ans = F.mul.forward(a, b)
    np.testing.assert_array_equal(F.mul.jacobian(0, ans, a, b), np.diag(b))
    np.testing.assert_array_equal(F.mul.jacobian(1, ans, a, b), np.diag(a))
    np.testing.assert_array_equal(F.add.jacobian(0, a + b, a, b), np.eye(3))


def _affine_by_loops(W, x, b):
    m, d = W.shape
    X = np.atleast_2d(x)
    u = np.zeros((X.shape[0], m))
    for r in range(X.shape[0]):
        for i in range(m):
            u[r, i] = b[i] + sum(W[i, j] * X[r, j] for j in range(d))
    return u.reshape(np.shape(x)[:-1] + (m,))


@pytest.mark.parametrize("x_shape", [(3,), (4, 3)], ids=["single", "batch"])
def test_affine_forward_and_jacobians_by_loops(x_shape):
    rng = np.random.default_rng(3)
    W, x, b = rng.normal(size=(2, 3)), rng.normal(size=x_shape), rng.normal(size=2)
    u = F.affine.forward(W, x, b)
    np.testing.assert_allclose(u, _affine_by_loops(W, x, b), **EXACT)

    X = np.atleast_2d(x)
    B, (m, d) = X.shape[0], W.shape
    # Rows: entries (r, i) of u; columns: entries of W (row-major), of x, of b.
    JW, Jx, Jb = np.zeros((B * m, m * d)), np.zeros((B * m, B * d)), np.zeros((B * m, m))
    for r in range(B):
        for i in range(m):
            Jb[r * m + i, i] = 1.0
            for j in range(d):
                JW[r * m + i, i * d + j] = X[r, j]
                Jx[r * m + i, r * d + j] = W[i, j]
    np.testing.assert_array_equal(F.affine.jacobian(0, u, W, x, b), JW)
    np.testing.assert_array_equal(F.affine.jacobian(1, u, W, x, b), Jx)
    np.testing.assert_array_equal(F.affine.jacobian(2, u, W, x, b), Jb)


def _target(m, d, dtype, order, rng):
    """A (m, d) target of ``dtype``: C-ordered, Fortran-ordered, or a strided view."""
    if order == "view":
        return rng.normal(size=(m, 2 * d)).astype(dtype)[:, ::2]
    return np.asarray(rng.normal(size=(m, d)).astype(dtype), order=order)


@pytest.mark.parametrize("order", ["C", "F", "view"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("B", [None, 1, 5, 300], ids=["single", "B1", "B5", "B300"])
def test_affine_accumulators_add_g_times_the_jacobian_into_the_target(B, dtype, order):
    # The in-place SGD step's forms (one BLAS call into the target where its order and dtype
    # allow, a plain sum otherwise) against the sums written out by loops; the target is
    # changed in place, whatever its layout.
    rng = np.random.default_rng(4)
    m, d = 3, 4
    W, b = rng.normal(size=(m, d)).astype(dtype), rng.normal(size=m).astype(dtype)
    x = rng.normal(size=(d,) if B is None else (B, d)).astype(dtype)
    g = rng.normal(size=(m,) if B is None else (B, m)).astype(dtype)
    X, G = np.atleast_2d(x).astype(float), np.atleast_2d(g).astype(float)
    target_W, target_b = _target(m, d, dtype, order, rng), rng.normal(size=m).astype(dtype)
    want_W = target_W.astype(float).copy()
    for r in range(X.shape[0]):
        for i in range(m):
            for j in range(d):
                want_W[i, j] += G[r, i] * X[r, j]
    want_b = target_b.astype(float) + G.sum(axis=0)
    add_W, add_b = F.affine.accumulate_fn(0), F.affine.accumulate_fn(2)
    add_W(target_W, g, None, W, x, b)
    add_b(target_b, g, None, W, x, b)
    rtol = 1e-13 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(target_W, want_W, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(target_b, want_b, rtol=rtol, atol=rtol)
    assert target_W.dtype == dtype and target_b.dtype == dtype


def test_the_batch_accumulator_of_W_agrees_with_the_product_it_replaces():
    # target += g^T x at the sizes minibatches train with (one BLAS call into the target,
    # no temporary) against numpy's product added to a copy: the same numbers up to rounding
    # (bit for bit where both use the same BLAS).
    rng = np.random.default_rng(5)
    for B, m, d in [(32, 100, 64), (128, 128, 784), (7, 10, 100)]:
        for dtype, tol in ((np.float64, 1e-13), (np.float32, 1e-4)):
            W = rng.normal(size=(m, d)).astype(dtype)
            x, g = rng.normal(size=(B, d)).astype(dtype), rng.normal(size=(B, m)).astype(dtype)
            target = W.copy()
            F.affine.accumulate_fn(0)(target, g, None, W, x, np.zeros(m, dtype))
            np.testing.assert_allclose(target, W + g.T @ x, rtol=tol, atol=tol)


@pytest.mark.parametrize("name", sorted(TRANSFER_CLOSED_FORMS))
def test_transfer_matches_closed_form(name):
    g, dg = TRANSFER_CLOSED_FORMS[name]
    fn = F.get_transfer(name)
    z = np.array([-3.0, -0.7, 0.4, 1.3, 5.0])
    h = fn.forward(z)
    np.testing.assert_allclose(h, g(z), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(fn.jacobian(0, h, z), np.diag(dg(z)), rtol=1e-12, atol=1e-15)
    p = np.array([0.5, -1.0, 2.0, 0.25, -3.0])
    np.testing.assert_allclose(fn.vjp(0, p, h, z), p * dg(z), rtol=1e-12, atol=1e-15)


def test_the_notes_transfer_functions_are_registered():
    assert set(TRANSFER_CLOSED_FORMS) <= set(F.TRANSFERS)
    for name in TRANSFER_CLOSED_FORMS:
        assert F.get_transfer(name) is F.TRANSFERS[name]
        assert F.get_transfer(name).name == name


# --------------------------------------------------------------------------- user functions


def _cube(with_jacobians=True, with_vjps=True):
    return F.LocalFunction(
        "cube",
        lambda x: x**3,
        jacobians=[lambda ans, x: np.diag(np.ravel(3 * x**2))] if with_jacobians else None,
        vjps=[lambda g, ans, x: g * 3 * x**2] if with_vjps else None,
    )


@pytest.mark.parametrize(
    "with_jacobians, with_vjps",
    [(True, True), (True, False), (False, True)],
    ids=["both", "jacobians-only", "vjps-only"],
)
def test_user_function_derives_the_missing_half(with_jacobians, with_vjps):
    cube = _cube(with_jacobians, with_vjps)
    x = np.array([2.0, -1.0, 0.5])
    ans = cube.forward(x)
    np.testing.assert_array_equal(ans, [8.0, -1.0, 0.125])
    # dg/dx = 3 x^2: (12, 3, 0.75) on the diagonal.
    np.testing.assert_allclose(cube.jacobian(0, ans, x), np.diag([12.0, 3.0, 0.75]), **EXACT)
    g = np.array([1.0, 2.0, -4.0])
    np.testing.assert_allclose(cube.vjp(0, g, ans, x), [12.0, 6.0, -3.0], **EXACT)
    assert check_function(cube, x).ok


def test_elementwise_and_register_transfer_make_a_new_transfer(monkeypatch):
    # monkeypatch removes the registry entry again after the test.
    monkeypatch.setitem(F.TRANSFERS, "leaky_test", None)
    leaky = F.register_transfer(
        F.elementwise(
            "leaky_test",
            lambda z, out=None: np.where(z > 0, z, 0.1 * z),
            lambda z, h, out=None: np.where(z > 0, 1.0, 0.1),
        )
    )
    assert F.get_transfer("leaky_test") is leaky
    z = np.array([-2.0, 0.5, 3.0])
    np.testing.assert_allclose(leaky.forward(z), [-0.2, 0.5, 3.0])
    np.testing.assert_allclose(leaky.jacobian(0, leaky.forward(z), z), np.diag([0.1, 1.0, 1.0]))
    assert check_function(leaky, z).ok


# --------------------------------------------------------------------------- errors


def test_local_function_needs_jacobians_or_vjps():
    with pytest.raises(
        GraphError, match="local function 'f': give its Jacobians, its VJPs, or both"
    ):
        F.LocalFunction("f", lambda x: x)


def test_local_function_rejects_inconsistent_declarations():
    with pytest.raises(GraphError, match="2 Jacobians but 1 VJPs"):
        F.LocalFunction("f", lambda a, b: a, jacobians=[None, None], vjps=[None])
    with pytest.raises(GraphError, match="differentiable has 1 entries for 2 arguments"):
        F.LocalFunction("f", lambda a, b: a, vjps=[None, None], differentiable=[True])


def test_check_errors_name_the_problem():
    with pytest.raises(GraphError, match="add takes 2 arguments, got 1"):
        F.add.check(np.ones(3))
    with pytest.raises(
        GraphError, match=r"add needs arguments of one shape, got \(3,\) and \(2,\)"
    ):
        F.add.check(np.ones(3), np.ones(2))
    with pytest.raises(
        GraphError, match=r"argument 1 \(the matrix\) must be 2-D, got shape \(3,\)"
    ):
        F.affine.check(np.ones(3), np.ones(3), np.ones(3))
    with pytest.raises(
        GraphError, match=r"argument 2 has shape \(4,\) but the matrix has shape \(2, 3\)"
    ):
        F.affine.check(np.ones((2, 3)), np.ones(4), np.ones(2))
    with pytest.raises(GraphError, match=r"argument 3 has shape \(3,\) .* expected \(2,\)"):
        F.affine.check(np.ones((2, 3)), np.ones(3), np.ones(3))
    with pytest.raises(GraphError, match=r"must be \(K,\) or \(batch, K\)"):
        F.log_softmax.check(np.ones((2, 2, 2)))
    with pytest.raises(GraphError, match="must be an integer class index"):
        F.neg_pick.check(np.ones(3), np.float64(1.0))
    with pytest.raises(
        GraphError, match="argument 2 must be an integer class index, got dtype bool"
    ):
        F.neg_pick.check(np.ones(3), np.bool_(True))
    with pytest.raises(
        GraphError, match="argument 2 must be an integer class index, got dtype bool"
    ):
        F.neg_pick.check(np.ones((2, 3)), np.array([True, False]))
    with pytest.raises(
        GraphError,
        match=r"argument 1 is an empty batch, shape \(0, 3\); the mean "
        "loss needs at least one row",
    ):
        F.neg_pick.check(np.ones((0, 3)), np.zeros(0, dtype=int))
    with pytest.raises(GraphError, match="class indices outside 0..2"):
        F.neg_pick.check(np.ones(3), np.int64(3))
    with pytest.raises(
        GraphError, match=r"argument 2 has shape \(3,\) but argument 1 has shape \(2, 3\)"
    ):
        F.neg_pick.check(np.ones((2, 3)), np.array([0, 1, 2]))


def test_unknown_transfer_lists_the_valid_names():
    with pytest.raises(GraphError, match=r"unknown transfer function 'tahn'; choose one of .*tanh"):
        F.get_transfer("tahn")


def test_the_graph_package_face_holds_the_same_objects_as_the_modules_that_define_them():
    from nnclf.graph import functions, softmax, transfers

    for module in (functions, transfers, softmax):
        for name in module.__all__:
            assert getattr(F, name) is getattr(module, name)
        assert set(module.__all__) <= set(F.__all__)
    with pytest.raises(AttributeError, match="module 'nnclf.graph' has no attribute 'tahn'"):
        F.tahn


@pytest.mark.slow
@pytest.mark.parametrize(
    "first", ["nnclf.graph.transfers", "nnclf.graph.softmax", "nnclf.graph.functions"]
)
def test_either_module_may_be_imported_first(first):
    # transfers.py builds on functions.py and nnclf.graph imports both: no cycle, any order.
    code = (
        f"import {first}\n"
        "from nnclf.graph import TRANSFERS, tanh\n"
        "from nnclf.graph.transfers import get_transfer\n"
        "from nnclf.graph import log_softmax\n"
        "from nnclf.graph.softmax import neg_pick\n"
        "assert get_transfer('tanh') is tanh and sorted(TRANSFERS)[0] == 'identity'\n"
        "assert log_softmax.name == 'log_softmax' and neg_pick.name == 'neg_pick'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# --------------------------------------------------------------------------- elementwise's dg forms


def _d_softsign(z):
    return 1.0 / (1.0 + np.abs(z)) ** 2


# The derivative of softsign g(z) = z / (1 + |z|), in every form elementwise accepts.
DG_FORMS = {
    "dg(z)": lambda z: _d_softsign(z),
    "dg(z, h)": lambda z, h: (1.0 - np.abs(h)) ** 2,
    "dg(z, out=None)": lambda z, out=None: np.divide(1.0, (1.0 + np.abs(z)) ** 2, out=out),
    "dg(z, h, out=None)": lambda z, h, out=None: np.square(1.0 - np.abs(h), out=out),
    "dg(z, h=None)": lambda z, h=None: _d_softsign(z),
    "dg(z, *rest)": lambda z, *rest: (1.0 - np.abs(rest[0])) ** 2,
    "dg(z, **kw)": lambda z, **kw: _d_softsign(z),
    "def dg(z, /)": eval("lambda z, /: 1.0 / (1.0 + abs(z)) ** 2"),
}


@pytest.mark.parametrize("form", DG_FORMS)
def test_elementwise_takes_dg_in_every_documented_form(monkeypatch, form):
    monkeypatch.setitem(F.TRANSFERS, "softsign_test", None)
    fn = F.register_transfer(
        F.elementwise("softsign_test", lambda z: z / (1 + np.abs(z)), DG_FORMS[form])
    )
    z = np.array([-2.0, -0.5, 0.0, 0.25, 3.0])
    h = fn.forward(z)
    expected = 1 / (1 + np.abs(z)) ** 2  # by hand: d/dz z/(1+|z|) = 1/(1+|z|)^2
    np.testing.assert_allclose(fn.jacobian(0, h, z), np.diag(expected), rtol=1e-12)
    p = np.array([1.0, -2.0, 3.0, 0.5, 4.0])
    np.testing.assert_allclose(fn.vjp(0, p, h, z), p * expected, rtol=1e-12)
    out = np.full(5, np.nan)
    fn.vjp(0, p, h, z, out=out)
    np.testing.assert_allclose(out, p * expected, rtol=1e-12)
    assert check_function(fn, z).ok


def test_the_readme_one_liner_trains(monkeypatch):
    # docs/architecture.md: register_transfer(elementwise("name", g, dg)), dg a function of z alone.
    from nnclf.config.settings import SGDSettings
    from nnclf.graph.network import Network
    from nnclf.training.trainer import Trainer

    monkeypatch.setitem(F.TRANSFERS, "cube_test", None)
    F.register_transfer(F.elementwise("cube_test", lambda z: z**3 / 3 + z, lambda z: z**2 + 1))
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 3)), np.arange(20) % 2
    settings = SGDSettings(epochs=2, engine="numpy", schedule={"name": "constant", "eta0": 0.01})
    trainer = Trainer(Network(3, 4, 2, "cube_test", seed=0), settings, progress="none")
    assert trainer.fit(X, y).stopped == "completed" and trainer.t == 40


@pytest.mark.parametrize(
    "dg, takes",
    [
        (lambda: 1.0, "0 argument(s) (0 required)"),
        (lambda z, h, extra: z, "3 argument(s) (3 required)"),
        (lambda a, b, c, out=None: a, "3 argument(s) (3 required)"),
        (lambda *, z: z, "0 argument(s) (0 required)"),
        (lambda out=None: out, "0 argument(s) (0 required)"),
        (lambda z, h, p, q: z, "4 argument(s) (4 required)"),
    ],
)
def test_a_dg_of_another_signature_is_refused_when_made(dg, takes):
    with pytest.raises(
        GraphError,
        match=r"^elementwise\('bad'\): dg must be called as dg\(z\), "
        r"dg\(z, h\), dg\(z, out=None\) or dg\(z, h, out=None\); got '<lambda>', "
        rf"which takes {re.escape(takes)}$",
    ):
        F.elementwise("bad", np.tanh, dg)


@pytest.mark.parametrize("dg", [None, 1.0, "tanh", np.ones(3)])
def test_a_dg_that_is_not_a_function_is_refused(dg):
    with pytest.raises(
        GraphError, match=r"^elementwise\('bad'\): dg must be a function, as dg\(z\)"
    ):
        F.elementwise("bad", np.tanh, dg)


@pytest.mark.parametrize("g", [lambda: 0, lambda z, h: z, lambda a, b, c: a, None, 3])
def test_a_g_that_cannot_take_z_is_refused(g):
    with pytest.raises(
        GraphError,
        match=r"^elementwise\('bad'\): g must be called as g\(z\) or "
        r"g\(z, out=None\)",
    ):
        F.elementwise("bad", g, lambda z: z)


@pytest.mark.parametrize("g, dg", [(np.sin, np.cos), (np.exp, np.exp)])
def test_a_ufunc_is_a_dg_of_z(g, dg):
    fn = F.elementwise("ufunc_test", g, dg)
    z = np.array([0.3, -1.2])
    np.testing.assert_allclose(fn.vjp(0, np.ones(2), fn.forward(z), z), dg(z))
