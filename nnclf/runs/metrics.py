"""How well a trained model classifies labelled data: scikit-learn's metrics in one dict.

Contract
--------
:func:`evaluate` takes a :class:`~nnclf.export.trained.TrainedModel`, raw features and labels, and
returns plain data (JSON-ready): accuracy, mean log-loss, macro F1, per-class precision,
recall, F1 and support, and the confusion matrix, every class of the model in its order. A
label the model never saw is a :class:`~nnclf.errors.DataError`. This is what
``metrics.json`` holds per split and what ``nnclf evaluate --json`` prints. The rows of a
folder source (:class:`~nnclf.data.npyfolder.Rows`) are scored a chunk at a time, never holding
more than one chunk's features and probabilities; the log-loss is then a sum over chunks,
equal to the in-memory figure to rounding, and every other figure is the same.
:func:`no_better_than_chance` says when such a report shows a model that learned nothing.
"""

from __future__ import annotations

import math

import numpy as np

from nnclf.data.npyfolder import Rows, probabilities

__all__ = ["evaluate", "scores", "log_loss_sum", "no_better_than_chance"]


def evaluate(model, X, y, prepared: bool = False) -> dict:
    """Accuracy, balanced accuracy, log-loss, macro F1, per-class scores and confusion matrix
    of ``model`` (every example counts once: training weights do not enter evaluation).

    The figures are scikit-learn's (``accuracy_score``, ``balanced_accuracy_score``,
    ``log_loss``, ``f1_score(average="macro", zero_division=0)``,
    ``precision_recall_fscore_support`` and ``confusion_matrix`` with every class of the
    model as ``labels``), computed here from the confusion matrix so that a run need not
    import scikit-learn; the tests hold them to scikit-learn's.

    Parameters
    ----------
    model : TrainedModel
    X : array-like or Rows of shape (n, d)
        Raw (unstandardised) features, or with ``prepared`` the network's inputs
        (``model.prepare(X)``, an array), scored as they are.
    y : array-like of shape (n,)
        Labels, each one of ``model.classes``.

    Returns
    -------
    dict
        ``accuracy``, ``balanced_accuracy`` (the mean of the per-class recalls, over the
        classes present in y), ``log_loss`` (mean of -log p(y|x)), ``macro_f1``,
        ``per_class`` (a list, in class order, of ``{label, precision, recall, f1,
        support}``), ``confusion_matrix``
        (K x K nested lists; rows: true class, columns: predicted) and ``n_samples``.
    """
    K = len(model.classes)
    y_true = model.encode(y)
    if prepared:
        proba = model.network.predict_proba(X)
        y_pred, loss = np.argmax(proba, axis=1), log_loss_sum(y_true, proba) / max(len(X), 1)
    else:
        y_pred, loss = _predicted_and_loss(model, X, y_true)
    return scores(y_true, y_pred, K, loss, model.classes.tolist())


def scores(y_true, y_pred, K: int, loss: float, labels: list) -> dict:
    """:func:`evaluate`'s dict from encoded true and predicted classes (0..K-1), the mean
    log-loss and the K class labels."""
    n = len(y_true)
    C = np.bincount(np.asarray(y_true) * K + np.asarray(y_pred), minlength=K * K).reshape(K, K)
    tp, support, predicted = np.diag(C), C.sum(axis=1), C.sum(axis=0)
    precision = _ratio(tp, predicted)
    recall = _ratio(tp, support)
    f1 = _ratio(2 * tp, support + predicted)
    present = support > 0
    return {
        "accuracy": float(tp.sum() / n) if n else 0.0,
        "balanced_accuracy": float(recall[present].mean()) if present.any() else 0.0,
        "log_loss": float(loss),
        "macro_f1": float(f1.mean()),
        "per_class": [
            {
                "label": c,
                "precision": float(p),
                "recall": float(r),
                "f1": float(f),
                "support": int(s),
            }
            for c, p, r, f, s in zip(labels, precision, recall, f1, support)
        ],
        "confusion_matrix": C.tolist(),
        "n_samples": int(n),
    }


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b elementwise, 0 where b is 0 (scikit-learn's ``zero_division=0``)."""
    out = np.zeros(len(a))
    np.divide(a, b, out=out, where=b > 0)
    return out


def log_loss_sum(y_true: np.ndarray, proba: np.ndarray) -> float:
    """The sum over rows of -log p(y|x), each probability clipped to [eps, 1 - eps] (eps of
    its dtype) as scikit-learn's ``log_loss`` clips them, and summed in float64 (scikit-learn
    sums float32 probabilities in float32: the two agree to float32's rounding)."""
    eps = np.finfo(proba.dtype).eps
    picked = np.clip(proba[np.arange(len(y_true)), y_true], eps, 1 - eps)
    return float(-np.log(picked.astype(np.float64)).sum())


def _predicted_and_loss(model, X, y_true) -> tuple[np.ndarray, float]:
    """The predicted classes (encoded) of ``X`` and the mean log-loss on ``y_true``, one
    chunk at a time for :class:`Rows` (never more than a chunk's probabilities held)."""
    if not isinstance(X, Rows):
        proba = model.predict_proba(X)
        n = max(len(y_true), 1)
        return np.argmax(proba, axis=1), log_loss_sum(y_true, proba) / n
    y_pred = np.empty(len(X), dtype=np.intp)
    total, start = 0.0, 0
    for proba in probabilities(model, X):  # the chunks predict's CSV is written from
        stop = start + len(proba)
        y_pred[start:stop] = np.argmax(proba, axis=1)
        total += log_loss_sum(y_true[start:stop], proba)
        start = stop
    return y_pred, total / max(len(X), 1)


def no_better_than_chance(report: dict) -> str | None:
    """Why a report of :func:`evaluate` is no better than chance, or None if it is.

    Chance is the better of two models that ignore x: p(k | x) = 1/K for every class, whose
    log-loss is log K, and always answering the most common class, whose accuracy is that
    class's share of the examples. A log-loss of at least log K, or an accuracy of at most
    that share, is no better.
    """
    K, n = len(report["per_class"]), report["n_samples"]
    if K < 2 or n == 0:
        return None
    if report["log_loss"] >= math.log(K):
        return (
            f"log-loss {report['log_loss']:.4f} is no better than chance (log {K} = "
            f"{math.log(K):.4f}, the log-loss of p = 1/{K} for every class)"
        )
    majority = max(c["support"] for c in report["per_class"]) / n
    if report["accuracy"] <= majority:
        return (
            f"accuracy {report['accuracy']:.4f} is no better than always answering its "
            f"most common class ({majority:.4f})"
        )
    return None
