"""Early stopping: when to stop because a score has stopped improving.

Contract
--------
An :class:`EarlyStopper` is fed one score per evaluation through :meth:`EarlyStopper.update`.
A score is an improvement when it beats the best so far by more than ``min_delta`` (lower
is better for losses, higher for accuracy: :data:`nnclf.training.settings.METRICS`); the first
finite score always is, a NaN never. ``update`` returns True once ``patience`` evaluations in a row have brought no
improvement. Keeping the best parameters is the trainer's job: it asks
:attr:`EarlyStopper.improved` after each update.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from nnclf.training.settings import METRICS, EarlyStopping

__all__ = ["EarlyStopper"]


class EarlyStopper:
    """The state of one early-stopping rule.

    Parameters
    ----------
    rule : EarlyStopping
        The metric's name (for its direction), ``patience`` and ``min_delta``.

    Attributes
    ----------
    best_score : float or None
    best_step : int or None
        The step of the best score.
    bad_evals : int
        Evaluations since the last improvement.
    improved : bool
        Whether the last update was an improvement.
    """

    def __init__(self, rule: EarlyStopping):
        self.rule = rule
        self.lower_is_better = METRICS[rule.metric] == "min"
        self.best_score: float | None = None
        self.best_step: int | None = None
        self.bad_evals = 0
        self.improved = False

    def update(self, score: float, step: int) -> bool:
        """Record the score of the evaluation at ``step``; True when training should stop."""
        delta = self.rule.min_delta
        best = self.best_score
        # A NaN score is never an improvement (nor the best, which every later score
        # would then fail to beat).
        self.improved = not math.isnan(score) and (
            best is None or (score < best - delta if self.lower_is_better else score > best + delta)
        )
        if self.improved:
            self.best_score, self.best_step, self.bad_evals = score, step, 0
            return False
        self.bad_evals += 1
        return self.bad_evals >= self.rule.patience

    def state_dict(self) -> dict:
        return {
            "best_score": self.best_score,
            "best_step": self.best_step,
            "bad_evals": self.bad_evals,
        }

    def load_state_dict(self, state: Mapping) -> None:
        best = state["best_score"]
        # A NaN best (a checkpoint of an older nnclf) is no best at all.
        self.best_score = None if best is None or math.isnan(best) else best
        self.best_step = state["best_step"]
        self.bad_evals = int(state["bad_evals"])
