"""Tests for nnclf.data.preprocessing: the stratified, seeded split and the standardiser, against
hand formulas and scikit-learn's own splitter."""

from pathlib import Path

import numpy as np
import pytest

from nnclf.data.preprocessing import Standardizer, stratified_rows, train_test_split_stratified
from nnclf.data.sources import load_dataset

DATA = Path(__file__).resolve().parent.parent / "data"


# ----------------------------------------------------------------------------- split


def test_stratified_split_keeps_proportions_and_is_deterministic():
    y = np.array([0] * 60 + [1] * 30 + [2] * 10)
    X = np.arange(100, dtype=float).reshape(-1, 1)
    X_a, X_b, y_a, y_b = train_test_split_stratified(X, y, 0.2, seed=7)
    assert X_a.shape == (80, 1) and X_b.shape == (20, 1)
    np.testing.assert_array_equal(np.bincount(y_b), [12, 6, 2])
    np.testing.assert_array_equal(np.bincount(y_a), [48, 24, 8])
    # rows stay with their labels and nothing is lost or duplicated
    np.testing.assert_array_equal(y[X_b[:, 0].astype(int)], y_b)
    assert sorted(np.concatenate([X_a, X_b])[:, 0]) == list(range(100))
    again = train_test_split_stratified(X, y, 0.2, seed=7)
    for a, b in zip((X_a, X_b, y_a, y_b), again):
        np.testing.assert_array_equal(a, b)
    other = train_test_split_stratified(X, y, 0.2, seed=8)
    assert not np.array_equal(X_b, other[1])


def test_split_fraction_zero_gives_empty_second_part():
    X, y = np.ones((5, 3)), np.array([0, 1, 0, 1, 1])
    X_a, X_b, y_a, y_b = train_test_split_stratified(X, y, 0, seed=0)
    assert X_a.shape == (5, 3) and X_b.shape == (0, 3) and y_b.shape == (0,)


def test_split_accepts_numpy_fraction():
    y = np.array([0, 1] * 5)
    _, X_b, _, y_b = train_test_split_stratified(np.zeros((10, 1)), y, np.float32(0.2), seed=0)
    assert sorted(y_b) == [0, 1]


def test_split_falls_back_to_unstratified_for_singleton_class():
    y = np.array([0] * 9 + [1])
    X_a, X_b, y_a, y_b = train_test_split_stratified(np.zeros((10, 2)), y, 0.3, seed=0)
    assert len(y_a) == 7 and len(y_b) == 3


def test_split_keeps_all_four_xor_points():
    ds = load_dataset(str(DATA / "xor.csv"))
    _, X_b, _, _ = train_test_split_stratified(ds.X, ds.y, 0.2, seed=0)
    assert len(np.unique(X_b, axis=0)) == 4


@pytest.mark.parametrize("fraction", [-0.1, 1, 1.5, "0.2"])
def test_split_rejects_bad_fraction(fraction):
    with pytest.raises(ValueError, match=r"fraction must be a number in \[0, 1\)"):
        train_test_split_stratified(np.zeros((4, 1)), np.array([0, 1, 0, 1]), fraction, seed=0)


def test_split_rejects_fraction_leaving_no_training_data():
    with pytest.raises(ValueError, match=r"leaves none for training"):
        train_test_split_stratified(np.zeros((4, 1)), np.array([0, 1, 0, 1]), 0.9, seed=0)


def largest_remainder(counts, m):
    """Each class's share of m rows by the largest-remainder rule, worked out in fractions
    (an independent statement of the allocation stratified_rows documents)."""
    from fractions import Fraction

    n = sum(counts)
    ideal = [Fraction(c * m, n) for c in counts]
    take = [int(q) for q in ideal]
    order = sorted(range(len(counts)), key=lambda k: (-(ideal[k] - take[k]), k))
    for k in order[: m - sum(take)]:
        take[k] += 1
    return take


@pytest.mark.parametrize("seed", range(40))
def test_each_class_gives_its_largest_remainder_share_drawn_within_the_class(seed):
    rng = np.random.default_rng(seed)
    K = int(rng.integers(2, 7))
    counts = rng.integers(2, 40, size=K)
    y = rng.permutation(np.repeat(np.arange(K), counts))
    fraction = float(rng.uniform(0.05, 0.5))
    m = int(np.ceil(fraction * len(y)))
    if min(m, len(y) - m) < K:
        return
    X = np.arange(len(y))
    X_a, X_b, y_a, y_b = train_test_split_stratified(X, y, fraction, seed=seed)
    assert np.bincount(y_b, minlength=K).tolist() == largest_remainder(counts.tolist(), m)
    # each part keeps the rows' order, with their labels, and the two parts are a partition
    assert (np.diff(X_a) > 0).all() and (np.diff(X_b) > 0).all()
    np.testing.assert_array_equal(y[X_a], y_a)
    np.testing.assert_array_equal(y[X_b], y_b)
    np.testing.assert_array_equal(np.sort(np.concatenate([X_a, X_b])), X)


def test_the_shares_differ_from_scikit_learns_stratified_split_by_at_most_one_row():
    from sklearn.model_selection import train_test_split

    rng = np.random.default_rng(3)
    for _ in range(30):
        y = rng.integers(0, 5, size=int(rng.integers(40, 300)))
        if np.bincount(y).min() < 2:
            continue
        m = int(np.ceil(0.25 * len(y)))
        ours = train_test_split_stratified(np.arange(len(y)), y, 0.25, seed=1)[3]
        theirs = train_test_split(y, test_size=m, random_state=1, stratify=y)[1]
        diff = np.bincount(ours, minlength=5) - np.bincount(theirs, minlength=5)
        assert np.abs(diff).max() <= 1 and diff.sum() == 0


def test_the_draw_within_a_class_is_uniform():
    # Every row of a class is held out equally often over seeds: 1,000 draws of 3 of 6.
    codes = np.array([0] * 6 + [1] * 6)
    seen = np.zeros(12)
    for seed in range(1000):
        seen[stratified_rows(codes, 6, seed)] += 1
    assert seen.sum() == 6000
    # Each row is held out with probability 1/2: 500 of 1,000, sd 15.8; 5 sd apart is a bug.
    assert np.abs(seen - 500).max() < 80


def test_the_sklearn_method_is_scikit_learns_train_test_split():
    from sklearn.model_selection import train_test_split

    y = np.array([0] * 60 + [1] * 30 + [2] * 10)
    X = np.arange(200.0).reshape(100, 2)
    ours = train_test_split_stratified(X, y, 0.2, seed=7, method="sklearn")
    theirs = train_test_split(X, y, test_size=20, random_state=7, stratify=y)
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)


def test_an_unknown_split_method_is_named():
    with pytest.raises(ValueError, match=r"unknown split method 'other'"):
        train_test_split_stratified(np.zeros((4, 1)), np.array([0, 1, 0, 1]), 0.5, 0, "other")


# ----------------------------------------------------------------------------- Standardizer


def test_standardizer_matches_hand_formula_and_handles_constant_column():
    X = np.array([[1.0, 5.0, 2.0], [3.0, 5.0, 4.0], [5.0, 5.0, 9.0]])
    s = Standardizer().fit(X)
    np.testing.assert_allclose(s.mean_, X.mean(axis=0))
    np.testing.assert_allclose(s.scale_, [X[:, 0].std(), 1.0, X[:, 2].std()])
    Z = s.transform(X)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(Z[:, [0, 2]].std(axis=0), 1)
    np.testing.assert_array_equal(Z[:, 1], 0)
    assert np.isfinite(Z).all()


def test_standardizer_round_trips_through_json():
    import json

    rng = np.random.default_rng(1)
    X = rng.normal(3, 2, size=(20, 4))
    s = Standardizer().fit(X)
    d = json.loads(json.dumps(s.to_dict()))
    assert set(d) == {"mean", "scale"} and all(isinstance(v, float) for v in d["mean"])
    t = Standardizer.from_dict(d)
    np.testing.assert_array_equal(t.transform(X), s.transform(X))


def test_standardizer_errors():
    with pytest.raises(ValueError, match=r"not fitted.*call fit"):
        Standardizer().transform(np.ones((2, 2)))
    s = Standardizer().fit(np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"expected X of shape \(n, 2\), got \(3, 3\)"):
        s.transform(np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"keys 'mean' and 'scale'"):
        Standardizer.from_dict({"mean": [0.0]})
    with pytest.raises(ValueError, match=r"equal length"):
        Standardizer.from_dict({"mean": [0.0], "scale": [1.0, 2.0]})


# ----------------------------------------------------------------------------- memory-mapped rows


def test_split_of_rows_splits_their_row_numbers_as_the_rows_themselves():
    from nnclf.data.npyfolder import Rows

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((90, 3)), np.repeat([0, 1, 2], 30)
    parts = train_test_split_stratified(Rows(X), y, 0.3, seed=5)
    expected = train_test_split_stratified(X, y, 0.3, seed=5)
    assert all(isinstance(p, Rows) and p.array is X for p in parts[:2])
    for got, want in zip((np.asarray(parts[0]), np.asarray(parts[1]), *parts[2:]), expected):
        np.testing.assert_array_equal(got, want)
    # a second split (validation from the rest) is of the first part's rows, as in memory
    again = train_test_split_stratified(parts[0], parts[2], 0.25, seed=5)
    want = train_test_split_stratified(expected[0], expected[2], 0.25, seed=5)
    np.testing.assert_array_equal(np.asarray(again[1]), want[1])


def test_standardizer_of_rows_is_fitted_chunk_by_chunk(monkeypatch):
    from nnclf.data import npyfolder
    from nnclf.data.npyfolder import Rows

    rng = np.random.default_rng(1)
    X = rng.standard_normal((500, 4)) * [1, 10, 1e-3, 0] + [0, 1e7, -3, 5]
    index = rng.permutation(500)[:400]
    whole = Standardizer().fit(X[index])
    one_chunk = Standardizer().fit(Rows(X, index))
    np.testing.assert_array_equal(one_chunk.mean_, whole.mean_)  # one chunk: bit for bit
    np.testing.assert_array_equal(one_chunk.scale_, whole.scale_)
    monkeypatch.setattr(npyfolder, "CHUNK_BYTES", 8 * 4 * 9)  # chunks of 9 rows
    many = Standardizer().fit(Rows(X, index))
    np.testing.assert_allclose(many.mean_, X[index].mean(axis=0), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(
        many.scale_, np.where(X[index].std(axis=0) > 0, X[index].std(axis=0), 1), rtol=1e-9
    )
    assert many.scale_[3] == 1.0  # the constant column
