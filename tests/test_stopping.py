"""Early stopping against score sequences worked out by hand."""

import pytest

from nnclf.config.settings import EarlyStopping
from nnclf.training.stopping import EarlyStopper


def feed(stopper, scores):
    """The update results, step 10, 20, ..."""
    return [stopper.update(s, 10 * (i + 1)) for i, s in enumerate(scores)]


def test_a_loss_stops_after_patience_evaluations_without_improvement():
    stopper = EarlyStopper(EarlyStopping("val_loss", patience=2))
    assert feed(stopper, [1.0, 0.8, 0.9, 0.7, 0.75, 0.71]) == [False] * 5 + [True]
    assert (stopper.best_score, stopper.best_step, stopper.bad_evals) == (0.7, 40, 2)
    assert not stopper.improved


def test_accuracy_is_better_when_higher():
    stopper = EarlyStopper(EarlyStopping("val_accuracy", patience=1))
    assert feed(stopper, [0.5, 0.6, 0.55]) == [False, False, True]
    assert stopper.best_score == 0.6 and stopper.best_step == 20


def test_an_improvement_must_exceed_min_delta():
    stopper = EarlyStopper(EarlyStopping("train_loss", patience=3, min_delta=0.1))
    results = feed(stopper, [1.0, 0.95, 0.91, 0.92])
    assert stopper.best_score == 1.0 and results == [False, False, False, True]
    stopper = EarlyStopper(EarlyStopping("train_loss", patience=3, min_delta=0.1))
    feed(stopper, [1.0, 0.89])
    assert stopper.best_score == 0.89 and stopper.improved


def test_state_round_trip():
    stopper = EarlyStopper(EarlyStopping(patience=3))
    feed(stopper, [1.0, 1.1])
    again = EarlyStopper(EarlyStopping(patience=3))
    again.load_state_dict(stopper.state_dict())
    assert again.state_dict() == {"best_score": 1.0, "best_step": 10, "bad_evals": 1}
    assert [again.update(s, 30 + i) for i, s in enumerate([1.2, 1.3])] == [False, True]


@pytest.mark.parametrize("first", [float("inf"), 1e300])
def test_the_first_score_is_always_the_best_so_far(first):
    stopper = EarlyStopper(EarlyStopping())
    assert stopper.update(first, 1) is False and stopper.improved
