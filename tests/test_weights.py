"""Sample and class weights: what nnclf.training.weights documents, checked against independent
references (scikit-learn's compute_class_weight, binomial counts, a plain-numpy replay of
weighted SGD, duplicated rows)."""

import numpy as np
import pytest
from notes_reference import hand_gradients
from sklearn.utils.class_weight import compute_class_weight

from nnclf.config.load import config_from_dict, load_config
from nnclf.config.settings import SGDSettings
from nnclf.errors import ConfigError, DataError
from nnclf.graph.network import PARAMS, Network
from nnclf.runs import run
from nnclf.training.sampler import Sampler
from nnclf.training.trainer import Trainer
from nnclf.training.weights import check_class_weight, class_weights, example_weights

D, M, K = 4, 6, 3


def toy(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, D))
    return X, np.argmax(X @ rng.normal(size=(D, K)), axis=1)


# ----------------------------------------------------------------------------- class weights


def test_balanced_is_sklearns_compute_class_weight():
    y = np.array([0] * 6 + [1] * 3 + [2] * 1)
    expected = compute_class_weight("balanced", classes=np.arange(3), y=y)
    np.testing.assert_allclose(class_weights("balanced", y, np.array(["a", "b", "c"])), expected)
    # n / (K n_k), written out.
    np.testing.assert_allclose(expected, [10 / (3 * 6), 10 / (3 * 3), 10 / (3 * 1)])
    np.testing.assert_allclose(example_weights(y, np.arange(3), "balanced"), expected[y])


def test_a_mapping_names_labels_and_the_rest_weigh_one():
    classes = np.array(["cat", "dog", "eel"])
    y = np.array([0, 1, 2, 1])
    w = example_weights(y, classes, {"dog": 3, "eel": 0.5})
    np.testing.assert_array_equal(w, [1.0, 3.0, 0.5, 3.0])


def test_a_key_matches_a_label_by_its_text_too():
    # YAML's 3: and '3': both name the label 3; a config keeps keys as text.
    classes = np.array([1, 3, 5])
    assert list(class_weights({3: 2.0}, np.array([0]), classes)) == [1, 2, 1]
    assert list(class_weights({"3": 2.0}, np.array([0]), classes)) == [1, 2, 1]
    assert SGDSettings(class_weight={3: 2}).class_weight == {"3": 2.0}


def test_sample_and_class_weights_multiply():
    y = np.array([0, 1, 1])
    w = example_weights(y, np.array([0, 1]), {1: 2.0}, sample_weight=[0.5, 1.0, 3.0])
    np.testing.assert_array_equal(w, [0.5, 2.0, 6.0])
    assert example_weights(y, np.array([0, 1])) is None


@pytest.mark.parametrize(
    "class_weight, sample_weight, error, message",
    [
        (
            {"bird": 2},
            None,
            ConfigError,
            "class_weight: unknown label 'bird'; the data's labels are 'cat', 'dog'",
        ),
        (
            {"cat": -1},
            None,
            ConfigError,
            "class_weight: the weight of label 'cat' must be a finite number >= 0, got -1",
        ),
        ({"cat": float("nan")}, None, ConfigError, "class_weight: the weight of label 'cat' must"),
        (
            "balance",
            None,
            ConfigError,
            "class_weight must be null, balanced or a mapping {label: weight}, got 'balance'",
        ),
        (
            {"cat": 0, "dog": 0},
            None,
            ConfigError,
            "class_weight gives every training example weight 0",
        ),
        (
            None,
            [1, 2],
            DataError,
            "sample_weight must have shape (3,), one weight per example, got shape (2,)",
        ),
        (None, [1, -2, 1], DataError, "sample_weight must be finite and >= 0"),
        (None, [0, 0, 0], DataError, "sample_weight is zero for every example; give some example"),
        ({"cat": 0}, [0, 1, 1], ConfigError, "class_weight gives every training example weight 0"),
    ],
)
def test_bad_weights_are_named(class_weight, sample_weight, error, message):
    with pytest.raises(error) as e:
        example_weights(
            np.array([0, 0, 1])
            if sample_weight is None or len(sample_weight) != 3
            else np.array([0, 0, 0]),
            np.array(["cat", "dog"]),
            class_weight,
            sample_weight,
        )
    assert str(e.value).startswith(message)


def test_a_label_that_is_neither_text_nor_number_is_refused():
    with pytest.raises(ConfigError, match=r"class_weight: label \(1, 2\) must be a string"):
        check_class_weight({(1, 2): 1.0})


# ----------------------------------------------------------------------------- the sampler


def counts_of(sampler, n, draws):
    """Counts of each index over whole epochs of ``draws`` picks (batch size = draws)."""
    counts, t = np.zeros(n, dtype=int), 0
    for _ in range(10):
        _, picks = sampler.epoch(t, n)
        counts += np.bincount(np.concatenate(picks), minlength=n)
        t += len(picks)
        sampler.next_epoch(t)
    return counts


def assert_binomial(counts, p, sds=5.0):
    """Each count within ``sds`` binomial standard deviations of N p (deterministic here: the
    seed is fixed; a correct sampler is this far off with probability < 1e-5)."""
    N = counts.sum()
    sd = np.sqrt(N * p * (1 - p))
    assert np.all(np.abs(counts - N * p) <= sds * sd + 1e-12), (counts, N * p)


def test_weighted_draws_follow_the_probabilities_and_never_draw_weight_zero():
    w = np.array([0.0, 1.0, 2.0, 3.0, 0.0, 4.0, 0.0])
    sampler = Sampler("uniform", 5000, seed=11)  # one step of 5000 picks per epoch
    sampler.weigh(w, len(w))
    counts = counts_of(sampler, len(w), 5000)
    assert counts.sum() == 50000
    assert counts[[0, 4, 6]].tolist() == [0, 0, 0]
    assert_binomial(counts, w / w.sum())
    chi2 = np.sum((counts[w > 0] - 50000 * w[w > 0] / 10) ** 2 / (50000 * w[w > 0] / 10))
    assert chi2 < 16.3  # chi-square, 3 degrees of freedom: P(> 16.3) = 0.001


def test_weight_two_draws_like_a_duplicated_row():
    weighted = Sampler("uniform", 4000, seed=5)
    weighted.weigh(np.array([1.0, 2.0, 1.0]), 3)
    duplicated = Sampler("uniform", 4000, seed=6)  # rows a, b, b, c, unweighted
    row_of = np.array([0, 1, 1, 2])
    a = counts_of(weighted, 3, 4000)
    b = np.bincount(row_of[np.repeat(np.arange(4), counts_of(duplicated, 4, 4000))], minlength=3)
    for counts in (a, b):
        assert_binomial(counts, np.array([0.25, 0.5, 0.25]))


def test_the_draw_is_the_documented_inverse_cdf_from_the_one_generator():
    w = np.array([2.0, 0.0, 1.0, 5.0, 0.0])
    sampler = Sampler("uniform", 3, seed=9)
    sampler.weigh(w, 5)
    _, picks = sampler.epoch(0, 5)
    rng = np.random.default_rng(9)
    cum = np.cumsum(w)
    expected = np.searchsorted(cum, rng.random(2 * 3) * cum[-1], side="right")
    np.testing.assert_array_equal(np.concatenate(picks), expected)


@pytest.mark.parametrize("weights", [None, np.ones(7), np.full(7, 2.5)])
def test_no_weights_or_equal_weights_draw_exactly_as_unweighted(weights):
    sampler = Sampler("uniform", 1, seed=3)
    sampler.weigh(weights, 7)
    assert sampler.epoch(0, 7)[1] == np.random.default_rng(3).integers(0, 7, size=7).tolist()


def test_unequal_weights_with_shuffle_are_refused_naming_both_settings():
    sampler = Sampler("shuffle", 1, seed=0)
    sampler.weigh(np.ones(4), 4)  # equal weights: a permutation still fits
    with pytest.raises(
        ConfigError,
        match="sampling is shuffle, which visits every example "
        "once an epoch and leaves no place for a weight",
    ):
        sampler.weigh(np.array([1.0, 2.0, 1.0, 1.0]), 4)
    with pytest.raises(ConfigError, match="class_weight needs sampling: uniform"):
        SGDSettings(class_weight="balanced", sampling="shuffle")


# ----------------------------------------------------------------------------- the trainer


def fit(sample_weight, engine="numpy", steps=90, batch_size=2, X=None, y=None):
    if X is None:
        X, y = toy()
    net = Network(D, M, K, seed=1)
    settings = SGDSettings(
        steps=steps,
        batch_size=batch_size,
        engine=engine,
        schedule={"name": "constant", "eta0": 0.1},
    )
    trainer = Trainer(net, settings, seed=4, progress="none")
    trainer.fit(X, y, sample_weight=sample_weight)
    return net.params


def test_a_plain_numpy_replay_of_weighted_steps_matches_the_trainer():
    X, y = toy()
    w = np.random.default_rng(2).integers(0, 4, len(X)).astype(float)
    got = fit(w, X=X, y=y)
    params = {k: v.copy() for k, v in Network(D, M, K, seed=1).params.items()}
    rng, n, B, t = np.random.default_rng(4), len(X), 2, 0
    cum = np.cumsum(w)
    while t < 90:
        order = np.searchsorted(cum, rng.random(-(-n // B) * B) * cum[-1], side="right")
        assert w[order].min() > 0
        for k in range(-(-n // B)):
            if t == 90:
                break
            _, g, _ = hand_gradients(
                params, X[order[k * B : (k + 1) * B]], y[order[k * B : (k + 1) * B]], "tanh"
            )
            for name in PARAMS:
                params[name] -= 0.1 * g[name]
            t += 1
    for name in PARAMS:
        np.testing.assert_allclose(got[name], params[name], rtol=1e-10, atol=1e-12)


def test_ones_give_the_same_model_as_no_weights_bit_for_bit():
    plain = fit(None)
    for w in (np.ones(40), np.full(40, 7.0)):
        assert all(np.array_equal(fit(w)[k], plain[k]) for k in PARAMS)
    assert not np.array_equal(fit(np.arange(40.0))["W"], plain["W"])


def test_both_engines_take_the_same_weighted_steps():
    pytest.importorskip("numba")
    w = np.linspace(0, 3, 40)
    fast, slow = fit(w, engine="numba", steps=300), fit(w, engine="numpy", steps=300)
    for name in PARAMS:
        np.testing.assert_allclose(fast[name], slow[name], rtol=1e-9, atol=1e-12)


def test_a_bad_sample_weight_is_named_by_the_trainer():
    with pytest.raises(DataError, match=r"sample_weight must have shape \(40,\)"):
        fit(np.ones(39))


def test_weights_raise_minority_recall_on_an_imbalanced_problem():
    # Measured on the training data (10 epochs): minority recall 0.05 -> 0.56 and balanced
    # accuracy 0.52 -> 0.71 with "balanced" (random_state 1: 0.27 -> 0.73; 2: 0.61 -> 0.93).
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=600,
        n_features=6,
        n_informative=3,
        weights=[0.9, 0.1],
        class_sep=0.5,
        random_state=0,
    )
    recalls = []
    for w in (None, example_weights(y, np.array([0, 1]), "balanced")):
        net = Network(6, 8, 2, seed=0)
        Trainer(net, SGDSettings(epochs=10), seed=0, progress="none").fit(X, y, sample_weight=w)
        pred = np.argmax(net.predict_log_proba(X), axis=1)
        recalls.append(np.mean(pred[y == 1] == 1))
    assert recalls[1] > recalls[0] + 0.15, recalls


# ----------------------------------------------------------------------------- config and runs


IRIS = {
    "seed": 0,
    "data": {"source": "sklearn:iris"},
    "model": {"hidden_units": 3},
    "train": {"epochs": 2, "class_weight": {0: 4.0, 2: 0.5}},
}


def test_class_weight_from_yaml_and_set(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  class_weight: {0: 2, 'b': 1.5}\n")
    assert load_config(path).train.class_weight == {"0": 2.0, "b": 1.5}
    assert load_config(path, ["train.class_weight=balanced"]).train.class_weight == "balanced"
    with pytest.raises(ConfigError, match="train.class_weight needs sampling: uniform"):
        load_config(path, ["train.sampling=shuffle"])


def test_a_run_with_class_weights_resumes_bit_identically(tmp_path):
    cfg = config_from_dict(IRIS)
    half = run.train(cfg, tmp_path / "a", quiet=True, stop_after=70)
    assert half.status == "interrupted"
    run.resume(tmp_path / "a", quiet=True)
    run.train(cfg, tmp_path / "b", quiet=True)
    unweighted = dict(IRIS, train={"epochs": 2})
    run.train(config_from_dict(unweighted), tmp_path / "c", quiet=True)
    a, b, c = (run.open_model(tmp_path / x)[0].network.params for x in "abc")
    assert all(np.array_equal(a[k], b[k]) for k in PARAMS)
    assert not np.array_equal(a["W"], c["W"])  # the weights changed the draws


def test_a_run_names_an_unknown_label_before_writing_anything(tmp_path):
    cfg = config_from_dict(dict(IRIS, train={"class_weight": {7: 1.0}}))
    with pytest.raises(
        ConfigError, match="train.class_weight: unknown label '7'; the data's labels are 0, 1, 2"
    ):
        run.train(cfg, tmp_path / "a", quiet=True)
    assert not (tmp_path / "a").exists()


def test_a_csv_with_text_labels_takes_a_mapping(tmp_path):
    rows = ["x1,x2,animal"] + [f"{i % 7},{i % 3},{'cat' if i % 4 else 'dog'}" for i in range(60)]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    raw = {
        "data": {"source": str(tmp_path / "d.csv")},
        "model": {"hidden_units": 3},
        "train": {"epochs": 1, "class_weight": {"dog": 3}},
    }
    done = run.train(config_from_dict(raw), tmp_path / "run", quiet=True)
    assert done.status == "finished"
    with pytest.raises(
        ConfigError, match="unknown label 'bird'; the data's labels are 'cat', 'dog'"
    ):
        run.train(
            config_from_dict(dict(raw, train={"class_weight": {"bird": 3}})),
            tmp_path / "run2",
            quiet=True,
        )
