"""nnclf.runs.metrics.evaluate against metrics worked out by hand for a network whose outputs are
known in closed form; no_better_than_chance against log K and the majority share."""

import warnings

import numpy as np
import pytest

from nnclf.errors import DataError
from nnclf.export.trained import TrainedModel
from nnclf.graph.network import Network
from nnclf.runs.metrics import evaluate, log_loss_sum, no_better_than_chance, scores

# With identity g, W = [[1]], b = 0, V = [[-1], [0], [1]], gamma = 0 the logits of x are
# l = (-x, 0, x): x < 0 predicts "a", x > 0 predicts "c", and "b" is never predicted.
X = np.array([[-2.0], [-1.0], [1.0], [2.0], [0.5]])
Y = np.array(["a", "b", "c", "c", "b"])


@pytest.fixture
def model():
    net = Network.from_params(
        {"W": [[1.0]], "b": [0.0], "V": [[-1.0], [0.0], [1.0]], "gamma": [0.0, 0.0, 0.0]},
        transfer="identity",
    )
    return TrainedModel(net, np.array(["a", "b", "c"]))


def test_every_metric_matches_the_hand_computation(model):
    report = evaluate(model, X, Y)
    # predictions a, a, c, c, c against a, b, c, c, b
    assert report["confusion_matrix"] == [[1, 0, 0], [1, 0, 1], [0, 0, 2]]
    assert report["accuracy"] == pytest.approx(3 / 5)
    assert report["n_samples"] == 5
    per_class = {c["label"]: c for c in report["per_class"]}
    assert [c["label"] for c in report["per_class"]] == ["a", "b", "c"]
    assert per_class["a"] == pytest.approx(
        {"label": "a", "precision": 1 / 2, "recall": 1.0, "f1": 2 / 3, "support": 1}
    )
    # "b" is never predicted: its precision is 0/0, reported as 0.
    assert per_class["b"] == pytest.approx(
        {"label": "b", "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}
    )
    assert per_class["c"] == pytest.approx(
        {"label": "c", "precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2}
    )
    assert report["macro_f1"] == pytest.approx((2 / 3 + 0 + 0.8) / 3)
    assert report["balanced_accuracy"] == pytest.approx((1.0 + 0.0 + 1.0) / 3)  # the recalls
    # -log softmax(l)_y with l = (-x, 0, x): log(e^-x + 1 + e^x) - l_y
    x = X[:, 0]
    logits = np.stack([-x, np.zeros_like(x), x], axis=1)
    l_y = logits[np.arange(5), [0, 1, 2, 2, 1]]
    assert report["log_loss"] == pytest.approx(np.mean(np.log(np.exp(-x) + 1 + np.exp(x)) - l_y))


def test_a_class_missing_from_the_labels_keeps_its_row(model):
    report = evaluate(model, X[:2], Y[:2])
    assert report["confusion_matrix"] == [[1, 0, 0], [1, 0, 0], [0, 0, 0]]
    assert [c["support"] for c in report["per_class"]] == [1, 1, 0]


def test_the_report_is_plain_json_data(model):
    import json

    report = evaluate(model, X, Y)
    assert json.loads(json.dumps(report)) == report


def test_a_label_the_model_never_saw_names_it(model):
    with pytest.raises(
        DataError,
        match=r"label 'z' was never seen in training; "
        r"the model knows a, b, c",
    ):
        evaluate(model, X[:2], np.array(["a", "z"]))


def _report(log_loss, accuracy, supports):
    return {
        "log_loss": log_loss,
        "accuracy": accuracy,
        "n_samples": sum(supports),
        "per_class": [{"support": s} for s in supports],
    }


@pytest.mark.parametrize(
    "log_loss, accuracy, supports, verdict",
    [
        (np.log(3), 0.9, [10, 10, 10], "log-loss 1.0986 is no better than chance (log 3 = 1.0986"),
        (12.0, 1.0, [5, 5], "log-loss 12.0000 is no better than chance (log 2 = 0.6931"),
        (
            0.5,
            0.9,
            [90, 10],
            "accuracy 0.9000 is no better than always answering its most common class (0.9000)",
        ),
        (0.5, 0.0, [1, 1, 1, 1], "accuracy 0.0000 is no better"),
        (np.log(3) - 1e-9, 0.34, [10, 10, 10], None),  # just better than both
        (0.1, 0.91, [90, 10], None),
    ],
)
def test_no_better_than_chance_compares_with_log_k_and_the_majority_share(
    log_loss, accuracy, supports, verdict
):
    got = no_better_than_chance(_report(log_loss, accuracy, supports))
    assert got == verdict if verdict is None else got.startswith(verdict)


def test_a_report_of_the_hand_network_is_better_than_chance(model):
    # log-loss 0.656 < log 3, accuracy 3/5 > 2/5 (the share of "b" and of "c")
    assert no_better_than_chance(evaluate(model, X, Y)) is None
    worse = evaluate(model, X, np.array(["c", "c", "a", "a", "a"]))  # every prediction wrong
    assert no_better_than_chance(worse).startswith("log-loss")


# ----------------------------------------------------------------------------- against scikit-learn


@pytest.mark.parametrize("seed", range(25))
def test_every_figure_equals_scikit_learns(seed):
    from sklearn import metrics

    rng = np.random.default_rng(seed)
    K = int(rng.integers(2, 6))
    n = int(rng.integers(1, 60))
    # some classes absent from the truth, some never predicted
    y_true = rng.integers(0, max(1, K - int(rng.integers(0, 2))), size=n)
    y_pred = rng.integers(int(rng.integers(0, 2)), K, size=n)
    labels = list(range(K))
    got = scores(y_true, y_pred, K, 0.5, [f"c{k}" for k in labels])
    assert got["accuracy"] == pytest.approx(metrics.accuracy_score(y_true, y_pred), abs=1e-15)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (a class predicted but absent from the truth)
        balanced = metrics.balanced_accuracy_score(y_true, y_pred)
    assert got["balanced_accuracy"] == pytest.approx(balanced, abs=1e-15)
    f1 = metrics.f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    assert got["macro_f1"] == pytest.approx(f1, abs=1e-15)
    p, r, f, s = metrics.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    for row, pk, rk, fk, sk in zip(got["per_class"], p, r, f, s):
        assert (row["precision"], row["recall"], row["f1"]) == pytest.approx(
            (pk, rk, fk), abs=1e-15
        )
        assert row["support"] == sk
    C = metrics.confusion_matrix(y_true, y_pred, labels=labels)
    assert got["confusion_matrix"] == C.tolist()
    assert got["n_samples"] == n


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_log_loss_equals_scikit_learns_clipping_included(dtype):
    from sklearn.metrics import log_loss

    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(4), size=50).astype(dtype)
    proba[:5] = np.eye(4, dtype=dtype)[[0, 1, 2, 3, 0]]  # certain: p = 1 and p = 0 clipped
    y = rng.integers(0, 4, size=50)
    y[:5] = [1, 1, 2, 3, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (float32 rows sum to 1 only to float32 rounding)
        expected = log_loss(y, proba, labels=[0, 1, 2, 3])
    # float32: scikit-learn sums in float32, nnclf in float64; they agree to float32 rounding.
    rel = 1e-12 if dtype == np.float64 else 1e-6
    assert log_loss_sum(y, proba) / len(y) == pytest.approx(expected, rel=rel)
