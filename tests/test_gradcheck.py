"""The gradient checker: it must pass on correct graphs and, above all, fail on wrong ones."""

import numpy as np
import pytest
from notes_reference import notes_example
from notes_reference import notes_network as network

import nnclf.graph as F
from nnclf.errors import GraphError
from nnclf.graph.gradcheck import (
    GradcheckReport,
    LeafCheck,
    check_function,
    gradcheck,
    gradcheck_modes,
    numerical_gradient,
)
from nnclf.graph.graph import Graph

MODES = ["vjp", "jacobian", "path_sum"]
REAL_LEAVES = ["W", "x", "b", "V", "gamma"]


def leaves(seed=0, batch=None):
    rng = np.random.default_rng(seed)
    x_shape = (3,) if batch is None else (batch, 3)
    values = {
        "W": rng.normal(size=(4, 3)),
        "x": rng.normal(size=x_shape),
        "b": rng.normal(size=4),
        "V": rng.normal(size=(3, 4)),
        "gamma": rng.normal(size=3),
        "y": np.int64(1) if batch is None else rng.integers(3, size=batch),
    }
    z = values["x"] @ values["W"].T + values["b"]
    assert np.min(np.abs(z)) > 1e-3, "keep z away from relu's kink"
    return values


def tanh_with(jacobian_factor=1.0, vjp_factor=None):
    """A user-defined tanh whose Jacobian (and VJP, when given) is scaled by a factor."""
    jacobians = [lambda h, z: jacobian_factor * np.diag(np.ravel(1.0 - h * h))]
    vjps = None if vjp_factor is None else [lambda g, h, z: vjp_factor * g * (1.0 - h * h)]
    return F.LocalFunction("my_tanh", np.tanh, jacobians=jacobians, vjps=vjps)


# --------------------------------------------------------------------------- numerical_gradient


def test_numerical_gradient_of_a_closed_form_and_restores_x():
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    saved = x.copy()
    grad = numerical_gradient(lambda: np.sum(x**3), x)
    np.testing.assert_allclose(grad, 3 * saved**2, rtol=1e-8)
    np.testing.assert_array_equal(x, saved)


# --------------------------------------------------------------------------- passes when right


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("transfer", sorted(F.TRANSFERS))
def test_gradcheck_passes_on_the_network(mode, transfer):
    report = gradcheck(network(F.get_transfer(transfer)), leaves(seed=1), mode=mode)
    assert report.ok, str(report)
    assert bool(report)
    # One row per real-valued leaf; the class index y is left out.
    assert [c.name for c in report.checks] == REAL_LEAVES
    assert report["W"].size == 12 and report["gamma"].size == 3
    assert all(c.max_abs_error < 1e-7 for c in report.checks)


@pytest.mark.parametrize("mode", MODES)
def test_gradcheck_passes_on_a_batch(mode):
    report = gradcheck(network(F.tanh), leaves(seed=2, batch=4), mode=mode)
    assert report.ok, str(report)
    assert report["x"].size == 12


def test_gradcheck_on_the_notes_chain_rule_example():
    square = F.LocalFunction(
        "square", lambda z: z * z, jacobians=[lambda ans, z: np.diag(np.ravel(2 * z))]
    )
    cube = F.LocalFunction("cube", lambda x: x**3, vjps=[lambda g, ans, x: g * 3 * x**2])
    g = Graph()
    g.vertex("h", square, g.vertex("z", cube, g.leaf("x")))
    for mode in MODES:
        report = gradcheck(g, {"x": 2.0}, mode=mode)
        assert report.ok
        # 192 = 12 * 16 by the notes; central differences are within ~1e-6 of it.
        assert report["x"].max_abs_error < 1e-5


def test_gradcheck_report_str_mentions_each_leaf():
    report = gradcheck(network(F.tanh), leaves(seed=3))
    text = str(report)
    assert "vjp" in text.splitlines()[0]
    assert len(text.splitlines()) == 2 + len(REAL_LEAVES)
    for name in REAL_LEAVES:
        assert any(line.split()[0] == name and line.endswith("yes") for line in text.splitlines())
    assert "NO" not in text


def test_gradcheck_wrt_checks_only_the_named_leaves():
    report = gradcheck(network(F.tanh), leaves(seed=4), wrt=["V", "b"])
    assert [c.name for c in report.checks] == ["V", "b"]
    assert report.ok
    assert [c.name for c in gradcheck(network(F.tanh), leaves(seed=4), wrt="x").checks] == ["x"]


def test_gradcheck_does_not_modify_the_callers_values():
    values = leaves(seed=5)
    saved = {k: np.copy(v) for k, v in values.items()}
    gradcheck(network(F.tanh), values)
    for name in values:
        np.testing.assert_array_equal(values[name], saved[name])


def test_report_lookup_and_unknown_leaf():
    report = GradcheckReport(
        [LeafCheck("a", 0.0, 0.0, True, 2), LeafCheck("b", 1.0, 0.5, False, 1)]
    )
    assert report["b"].max_abs_error == 1.0
    assert not report.ok and not bool(report)
    with pytest.raises(KeyError):
        report["c"]
    assert GradcheckReport([LeafCheck("a", 0.0, 0.0, True, 2)]).ok


# --------------------------------------------------------------------------- fails when wrong


@pytest.mark.parametrize("mode", MODES)
def test_gradcheck_fails_on_a_jacobian_off_by_a_factor_of_2(mode):
    # Only the Jacobian is given, so the VJP derived from it is wrong too: every mode fails.
    report = gradcheck(network(tanh_with(jacobian_factor=2.0)), leaves(seed=6), mode=mode)
    assert not report.ok
    assert not bool(report)
    # Leaves upstream of h get twice the gradient; V and gamma do not pass through J^{z->h}.
    for name in ("W", "x", "b"):
        assert not report[name].ok
        assert report[name].max_rel_error == pytest.approx(1.0, rel=1e-4)
    for name in ("V", "gamma"):
        assert report[name].ok
    text = str(report)
    for name in REAL_LEAVES:
        assert name in text
    bad_lines = [line for line in text.splitlines() if line.endswith("NO")]
    assert sorted(line.split()[0] for line in bad_lines) == ["W", "b", "x"]


def test_gradcheck_tells_a_wrong_vjp_from_a_right_jacobian():
    g = network(tanh_with(jacobian_factor=1.0, vjp_factor=-1.0))
    values = leaves(seed=7)
    assert not gradcheck(g, values, mode="vjp").ok
    assert not gradcheck(g, values, mode="vjp")["W"].ok
    assert gradcheck(g, values, mode="jacobian").ok
    assert gradcheck(g, values, mode="path_sum").ok


def test_gradcheck_tolerance_decides_a_small_error():
    g = network(tanh_with(jacobian_factor=1.01))
    values = leaves(seed=8)
    assert not gradcheck(g, values).ok  # 1% is above the default rtol = 1e-3
    assert gradcheck(g, values, rtol=0.05).ok


def test_check_function_fails_on_a_wrong_jacobian():
    z = np.array([0.3, -1.2, 0.8])
    report = check_function(tanh_with(jacobian_factor=2.0), z)
    assert not report.ok
    assert not report["arg 1: jacobian"].ok
    # The VJP is derived from the (wrong) Jacobian, so the two agree with each other.
    assert report["arg 1: vjp"].ok
    assert "NO" in str(report)


def test_check_function_fails_on_a_vjp_that_disagrees_with_its_jacobian():
    z = np.array([0.3, -1.2, 0.8])
    report = check_function(tanh_with(jacobian_factor=1.0, vjp_factor=0.5), z)
    assert not report.ok
    assert report["arg 1: jacobian"].ok
    assert not report["arg 1: vjp"].ok


def test_check_function_rows_per_argument_position():
    rng = np.random.default_rng(9)
    report = check_function(
        F.affine, rng.normal(size=(2, 3)), rng.normal(size=3), rng.normal(size=2)
    )
    assert [c.name for c in report.checks] == [
        "arg 1: jacobian",
        "arg 1: vjp",
        "arg 2: jacobian",
        "arg 2: vjp",
        "arg 3: jacobian",
        "arg 3: vjp",
    ]
    assert report.ok
    # The class index of neg_pick is not differentiable: only argument 1 is checked.
    report = check_function(F.neg_pick, rng.normal(size=4), np.int64(3))
    assert [c.name for c in report.checks] == ["arg 1: jacobian", "arg 1: vjp"]
    assert report.ok


def test_check_function_rejects_arguments_that_do_not_fit():
    with pytest.raises(GraphError, match=r"argument 2 has shape \(4,\)"):
        check_function(F.affine, np.ones((2, 3)), np.ones(4), np.ones(2))


def test_gradcheck_checks_leaves_only():
    g = notes_example()
    with pytest.raises(
        GraphError,
        match=r"gradcheck: vertex 3 \(u3\) is not a leaf; finite "
        "differences perturb leaves only",
    ):
        gradcheck(g, {"u1": 1.0, "u2": 2.0}, wrt=["u1", "u3"])
    report = gradcheck(g, {"u1": 1, "u2": 2}, wrt=2)  # by number, integer values cast
    assert report.ok and [c.name for c in report.checks] == ["u2"]


def test_gradcheck_modes_gives_each_mode_its_own_report():
    g = network(F.tanh)
    values = leaves(seed=5)
    together = gradcheck_modes(g, values)
    assert list(together) == MODES
    for mode in MODES:
        alone = gradcheck(g, values, mode=mode)
        assert together[mode].ok and together[mode].what == alone.what
        assert together[mode].checks == alone.checks
    with pytest.raises(
        GraphError, match="gradcheck: unknown mode 'jvp'; use one of vjp, jacobian, path_sum"
    ):
        gradcheck_modes(g, values, modes=("jvp",))


def test_the_report_text_is_one_aligned_table():
    report = GradcheckReport(
        [LeafCheck("W", 1.986e-10, 1.332e-07, True, 40), LeafCheck("gamma", 3e-3, 0.5, False, 3)]
    )
    assert str(report) == (
        "backprop vs finite differences\n"
        "leaf   entries  max abs err  max rel err  ok\n"
        "W           40    1.986e-10    1.332e-07  yes\n"
        "gamma        3    3.000e-03    5.000e-01  NO"
    )
