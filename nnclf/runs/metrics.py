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
import warnings

import numpy as np

from nnclf.data.npyfolder import Rows, probabilities

__all__ = ["evaluate", "no_better_than_chance"]


def evaluate(model, X, y) -> dict:
    """Accuracy, balanced accuracy, log-loss, macro F1, per-class scores and confusion matrix
    of ``model`` (every example counts once: training weights do not enter evaluation).

    Parameters
    ----------
    model : TrainedModel
    X : array-like or Rows of shape (n, d)
        Raw (unstandardised) features.
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
    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        confusion_matrix,
        f1_score,
        precision_recall_fscore_support,
    )

    # Every class of the model is listed, so a class absent from y still has its row.
    labels = list(range(len(model.classes)))
    y_true = model.encode(y)
    y_pred, loss = _predicted_and_loss(model, X, y_true, labels)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "log_loss": float(loss),
        "macro_f1": float(
            f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
        ),
        "per_class": [
            {
                "label": c,
                "precision": float(p),
                "recall": float(r),
                "f1": float(f),
                "support": int(s),
            }
            for c, p, r, f, s in zip(model.classes.tolist(), precision, recall, f1, support)
        ],
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "n_samples": int(len(y_true)),
    }


def _predicted_and_loss(model, X, y_true, labels) -> tuple[np.ndarray, float]:
    """The predicted classes (encoded) of ``X`` and the mean log-loss on ``y_true``."""
    from sklearn.metrics import log_loss

    with warnings.catch_warnings():
        # A float32 network's probabilities sum to 1 only to float32 rounding, which
        # scikit-learn's check (to sqrt of float64's eps) calls a mistake; they are not one.
        warnings.filterwarnings("ignore", message="The y_prob values do not sum to one")
        if isinstance(X, Rows):
            return _scored_in_chunks(model, X, y_true, labels)
        proba = model.predict_proba(X)
        return np.argmax(proba, axis=1), log_loss(y_true, proba, labels=labels)


def _scored_in_chunks(model, X, y_true: np.ndarray, labels: list) -> tuple[np.ndarray, float]:
    """The predicted class of every row of X and the mean log-loss, one chunk at a time."""
    from sklearn.metrics import log_loss

    y_pred = np.empty(len(X), dtype=np.intp)
    total, start = 0.0, 0
    for proba in probabilities(model, X):  # the chunks predict's CSV is written from
        stop = start + len(proba)
        y_pred[start:stop] = np.argmax(proba, axis=1)
        total += log_loss(y_true[start:stop], proba, labels=labels, normalize=False)
        start = stop
    return y_pred, total / len(X)


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
