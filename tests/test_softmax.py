"""nnclf.graph.softmax: LS, the log-softmax, against the notes' closed form of its Jacobian, and
o = -q_y against hand computation."""

import numpy as np
import pytest

import nnclf.graph as F

# Two analytic computations of the same number (Jacobian vs VJP).
EXACT = dict(rtol=1e-12, atol=1e-14)


def test_neg_pick_forward_single_and_batch_mean():
    q = np.array([-0.1, -2.0, -3.5, -0.7])
    assert F.neg_pick.forward(q, np.int64(2)) == pytest.approx(3.5)
    Q = np.array([[-1.0, -2.0, -3.0], [-4.0, -5.0, -6.0]])
    assert F.neg_pick.forward(Q, np.array([2, 0])) == pytest.approx((3.0 + 4.0) / 2)


def test_neg_pick_gradient_by_hand_and_none_through_the_class_index():
    Q, y = np.zeros((2, 3)), np.array([2, 0])
    ans = F.neg_pick.forward(Q, y)
    # do/dQ_{r,k} = -[[k = y_r]] / B
    expected = np.array([[0.0, 0.0, -0.5], [-0.5, 0.0, 0.0]])
    np.testing.assert_array_equal(F.neg_pick.vjp(0, 1.0, ans, Q, y), expected)
    np.testing.assert_array_equal(F.neg_pick.jacobian(0, ans, Q, y), expected.reshape(1, -1))
    assert F.neg_pick.differentiable == (True, False)
    np.testing.assert_array_equal(F.neg_pick.jacobian(1, ans, Q, y), np.zeros((1, 2)))
    np.testing.assert_array_equal(F.neg_pick.vjp(1, 1.0, ans, Q, y), np.zeros(2))


# --------------------------------------------------------------------------- log-softmax


def _log_softmax_jacobian_closed_form(l):
    """The notes: [dLS(l)/dl]_{k,k'} = [[k = k']] - exp(l_k') / sum_k'' exp(l_k'')."""
    K = len(l)
    denominator = sum(np.exp(l[k2]) for k2 in range(K))
    J = np.zeros((K, K))
    for k in range(K):
        for k1 in range(K):
            J[k, k1] = (1.0 if k == k1 else 0.0) - np.exp(l[k1]) / denominator
    return J


def test_log_softmax_forward_closed_form():
    l = np.array([0.3, -1.2, 2.0, 0.0])
    expected = [l[k] - np.log(sum(np.exp(l[k2]) for k2 in range(4))) for k in range(4)]
    np.testing.assert_allclose(F.log_softmax.forward(l), expected, **EXACT)
    # exp(LS(l)) is a distribution.
    assert np.exp(F.log_softmax.forward(l)).sum() == pytest.approx(1.0, rel=1e-14)


def test_log_softmax_jacobian_is_the_notes_closed_form():
    l = np.random.default_rng(5).normal(size=5)
    q = F.log_softmax.forward(l)
    np.testing.assert_allclose(
        F.log_softmax.jacobian(0, q, l), _log_softmax_jacobian_closed_form(l), **EXACT
    )


def test_log_softmax_batch_jacobian_is_block_diagonal_closed_form():
    L = np.random.default_rng(6).normal(size=(3, 4))
    Q = F.log_softmax.forward(L)
    expected = np.zeros((12, 12))
    for r in range(3):
        expected[r * 4 : (r + 1) * 4, r * 4 : (r + 1) * 4] = _log_softmax_jacobian_closed_form(L[r])
    np.testing.assert_allclose(F.log_softmax.jacobian(0, Q, L), expected, **EXACT)


def test_log_softmax_is_stable_for_large_logits():
    l = np.array([1000.0, 0.0, -1000.0])
    q = F.log_softmax.forward(l)
    assert np.all(np.isfinite(q))
    # softmax(l) = (1, e^-1000, e^-2000) to double precision, so LS(l) = l - 1000.
    np.testing.assert_allclose(q, [0.0, -1000.0, -2000.0], rtol=1e-15, atol=1e-15)
    J = F.log_softmax.jacobian(0, q, l)
    assert np.all(np.isfinite(J))
    np.testing.assert_allclose(J, [[0.0, 0.0, 0.0], [-1.0, 1.0, 0.0], [-1.0, 0.0, 1.0]], atol=1e-15)
    g = np.array([0.5, -1.0, 2.0])
    vjp = F.log_softmax.vjp(0, g, q, l)
    assert np.all(np.isfinite(vjp))
    np.testing.assert_allclose(vjp, g - g.sum() * np.array([1.0, 0.0, 0.0]), atol=1e-15)
    # Same in a batch, and through the loss.
    L = np.stack([l, l[::-1]])
    Q = F.log_softmax.forward(L)
    assert np.all(np.isfinite(Q))
    assert F.neg_pick.forward(Q, np.array([0, 0])) == pytest.approx(1000.0)
