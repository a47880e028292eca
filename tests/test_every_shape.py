"""Every built-in local function at every shape it takes, in every way the graph differentiates.

The notes' examples are scalar (d_i = 1), so each function is tried on 0-d values where it
applies, and at shapes (1,), (d,) and batched, through ``backward`` in both modes,
``path_sum``, the compiled executor and ``global_function``. The references are written here:
each function's value and Jacobian in closed form, and central differences of f-bar.
"""

import numpy as np
import pytest
from conftest import away_from_zero
from notes_reference import TRANSFER_CLOSED_FORMS, central_differences

import nnclf.graph as F
from nnclf.graph.graph import Graph

FD_TOL = dict(rtol=1e-6, atol=1e-8)  # analytic vs central differences
SAME = dict(rtol=1e-12, atol=1e-12)  # analytic vs closed form
D, B = 3, 2  # a vector's length, a batch's rows


# --------------------------------------------------------------------------- closed forms


def _elementwise_case(value, derivatives):
    """(value, [Jacobian per argument]) for an elementwise f: diagonal Jacobians."""
    return value, [np.diag(np.ravel(d).astype(float)) for d in derivatives]


def _add(a, b):
    return _elementwise_case(a + b, [np.ones(np.shape(a)), np.ones(np.shape(b))])


def _mul(a, b):
    return _elementwise_case(a * b, [b, a])


def _transfer(name):
    g, dg = TRANSFER_CLOSED_FORMS[name]
    return lambda z: _elementwise_case(g(z), [dg(z)])


def _affine(W, x, b):
    """u_{r,i} = sum_j W_ij x_rj + b_i, and its Jacobians, by loops over the entries."""
    X = np.atleast_2d(x)
    rows, (m, d) = X.shape[0], W.shape
    u = np.zeros((rows, m))
    JW, Jx, Jb = (
        np.zeros((rows * m, m * d)),
        np.zeros((rows * m, rows * d)),
        np.zeros((rows * m, m)),
    )
    for r in range(rows):
        for i in range(m):
            u[r, i] = b[i] + sum(W[i, j] * X[r, j] for j in range(d))
            Jb[r * m + i, i] = 1.0
            for j in range(d):
                JW[r * m + i, i * d + j] = X[r, j]
                Jx[r * m + i, r * d + j] = W[i, j]
    return u.reshape(np.shape(x)[:-1] + (m,)), [JW, Jx, Jb]


def _log_softmax(l):
    """The notes: LS_k(l) = l_k - log sum_k' exp(l_k'), [dLS/dl]_{k,k'} = [[k = k']] - softmax_k'."""
    L = np.atleast_2d(l)
    rows, K = L.shape
    q = np.zeros(L.shape)
    J = np.zeros((rows * K, rows * K))
    for r in range(rows):
        total = sum(np.exp(L[r, k]) for k in range(K))
        q[r] = [L[r, k] - np.log(total) for k in range(K)]
        J[r * K : (r + 1) * K, r * K : (r + 1) * K] = np.eye(K) - np.exp(L[r])[None, :] / total
    return q.reshape(np.shape(l)), [J]


def _neg_pick(q, y):
    """o = -q_y, the mean over the rows of a batch: do/dq = -onehot(y) / B."""
    Q, Y = np.atleast_2d(q), np.atleast_1d(y)
    rows = Q.shape[0]
    J = np.zeros(Q.shape)
    J[np.arange(rows), Y] = -1.0 / rows
    return -np.mean(Q[np.arange(rows), Y]), [J.reshape(1, -1), None]


# --------------------------------------------------------------------------- the cases

SHAPES = {"0-d": (), "(1,)": (1,), "(d,)": (D,), "batch": (B, D)}


def _cases():
    rng = np.random.default_rng(20240610)
    cases = []
    for label, shape in SHAPES.items():
        cases.append(
            (f"add {label}", F.add, _add, (rng.normal(size=shape), rng.normal(size=shape)))
        )
        cases.append(
            (f"mul {label}", F.mul, _mul, (rng.normal(size=shape), rng.normal(size=shape)))
        )
        for name in sorted(TRANSFER_CLOSED_FORMS):
            cases.append(
                (
                    f"{name} {label}",
                    F.get_transfer(name),
                    _transfer(name),
                    (away_from_zero(rng, shape),),
                )
            )
    # affine, log_softmax and neg_pick take vectors or batches, not 0-d values.
    for label, x_shape, m in [("(1,)", (1,), 1), ("(d,)", (D,), 2), ("batch", (B, D), 2)]:
        W, b = rng.normal(size=(m, x_shape[-1])), rng.normal(size=m)
        cases.append((f"affine {label}", F.affine, _affine, (W, rng.normal(size=x_shape), b)))
    for label, shape in [("(1,)", (1,)), ("(d,)", (D,)), ("batch", (B, D))]:
        cases.append(
            (f"log_softmax {label}", F.log_softmax, _log_softmax, (rng.normal(size=shape),))
        )
        y = np.int64(rng.integers(shape[-1])) if len(shape) == 1 else rng.integers(D, size=B)
        cases.append((f"neg_pick {label}", F.neg_pick, _neg_pick, (rng.normal(size=shape), y)))
    return cases


CASES = _cases()
IDS = [c[0] for c in CASES]


def weighted_sum(c):
    """o = <c, f> for fixed weights c: a scalar output, with p^f = c."""
    return F.LocalFunction(
        "weighted_sum",
        lambda f: float(np.sum(c * f)),
        jacobians=[lambda ans, f: c.reshape(1, -1)],
        vjps=[lambda g, ans, f, out=None: np.multiply(g, c, out=out)],
    )


def _graph(fn, args, rng):
    """Leaves a1, a2, ... for the arguments, f = fn(a1, ...), and a scalar output: f itself
    when it is a scalar (0-d), else o = <c, f> with random c. Returns (graph, leaves, c)."""
    g = Graph()
    names = [g.leaf(f"a{k}").name for k in range(1, len(args) + 1)]
    g.vertex("f", fn, *names)
    leaves = dict(zip(names, args))
    f_shape = np.shape(fn.forward(*args))
    c = np.ones(f_shape)
    if f_shape != ():
        c = rng.normal(size=f_shape)
        g.vertex("o", weighted_sum(c), "f")
    return g, leaves, c


def _real_positions(fn, args):
    return [
        k for k, a in enumerate(args) if fn.differentiable[k] and np.asarray(a).dtype.kind == "f"
    ]


# --------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("label, fn, closed, args", CASES, ids=IDS)
def test_forward_and_the_jacobian_to_f_by_path_sum_and_central_differences(label, fn, closed, args):
    g, leaves, _ = _graph(fn, args, np.random.default_rng(1))
    value, jacobians = closed(*args)
    values = g.forward(leaves)
    np.testing.assert_allclose(values["f"], value, **SAME)
    assert np.shape(values["f"]) == np.shape(value)
    fbar = g.global_function("f")
    for k in _real_positions(fn, args):
        name = f"a{k + 1}"
        # P(j, f) is the single edge (j, f): path_sum gives J^{j->f} as a (d_f, d_j) matrix,
        # or shaped like u^j when f is the output (d_n = 1), as p^j is.
        by_paths = g.path_sum(values, name, "f")
        is_output = g.output.name == "f"
        assert by_paths.shape == (
            np.shape(args[k]) if is_output else (np.size(value), np.size(args[k]))
        )
        by_paths = by_paths.reshape(np.size(value), np.size(args[k]))
        np.testing.assert_allclose(by_paths, jacobians[k], **SAME)
        x = {
            n: np.array(v, dtype=float) if n != "a2" or fn is not F.neg_pick else v
            for n, v in leaves.items()
        }
        numeric = central_differences(lambda: fbar(x), x[name])
        np.testing.assert_allclose(by_paths, numeric.reshape(by_paths.shape), **FD_TOL)


@pytest.mark.parametrize("label, fn, closed, args", CASES, ids=IDS)
def test_every_mode_gives_c_times_the_jacobian(label, fn, closed, args):
    g, leaves, c = _graph(fn, args, np.random.default_rng(2))
    _, jacobians = closed(*args)
    values = g.forward(leaves)
    positions = _real_positions(fn, args)
    names = [f"a{k + 1}" for k in positions]
    ex = g.compile(wrt=names + ["f"])
    ex.forward(leaves)
    compiled = ex.backward()
    results = {
        "vjp": g.backward(values, mode="vjp", wrt=names + ["f"]),
        "jacobian": g.backward(values, mode="jacobian", wrt=names + ["f"]),
        "path_sum": {n: g.path_sum(values, n) for n in names},
        "compiled": compiled,
    }
    for mode, p in results.items():
        for k, name in zip(positions, names):
            expected = (np.ravel(c) @ jacobians[k]).reshape(np.shape(args[k]))
            assert np.shape(p[name]) == np.shape(args[k]), mode
            assert np.asarray(p[name]).dtype == np.float64, mode
            np.testing.assert_allclose(p[name], expected, **SAME, err_msg=f"{mode} p^{name}")
        if mode != "path_sum":
            # p^f = du^n/du^f = c: the output's weights (1 when f is the output itself).
            np.testing.assert_allclose(p["f"], c, **SAME, err_msg=f"{mode} p^f")


@pytest.mark.parametrize("transfer", sorted(TRANSFER_CLOSED_FORMS))
def test_the_issue_example_a_0d_leaf_through_a_transfer_function(transfer):
    # g = Graph(); x = g.leaf("x"); g.vertex("h", F.tanh, x); g.backward(g.forward({"x": 0.5}))
    g = Graph()
    x = g.leaf("x")
    g.vertex("h", F.get_transfer(transfer), x)
    values = g.forward({"x": 0.5})
    _, dg = TRANSFER_CLOSED_FORMS[transfer]
    for mode in ("vjp", "jacobian"):
        p = g.backward(values, mode=mode)["x"]
        assert p.shape == () and p.dtype == np.float64
        assert float(p) == pytest.approx(dg(0.5), rel=1e-12)
    assert float(g.path_sum(values, "x")) == pytest.approx(dg(0.5), rel=1e-12)
    ex = g.compile()
    ex.forward({"x": 0.5})
    assert float(ex.backward()["x"]) == pytest.approx(dg(0.5), rel=1e-12)
