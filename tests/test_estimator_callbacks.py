"""NNClassifier's callbacks, sample and class weights and plateau schedule: what its
docstring says about them, checked against the trainer's own records, scikit-learn's clone and
estimator checks, and hand-made expectations."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import parametrize_with_checks

from nnclf import NNClassifier
from nnclf.errors import ConfigError
from nnclf.estimator.params import expected_failed_checks

SMALL = dict(hidden_units=8, epochs=4, random_state=0)
LOG = []


def log_to_module_list(history):
    """A module-level callback: pickles by name; every clone logs into LOG."""
    LOG.append(dict(history[-1]))


class LogToModuleList:
    """A module-level callback object; its repr names it, without a memory address, so that
    the test ids sklearn's checks are collected under are the same in every process."""

    def __call__(self, history):
        log_to_module_list(history)

    def __repr__(self):
        return "LogToModuleList()"


class Recorder:
    """A callable object with state: clone copies it."""

    def __init__(self):
        self.rows = []

    def __call__(self, history):
        self.rows.append(dict(history[-1]))


class StopAt:
    def __init__(self, step):
        self.step = step

    def __call__(self, history):
        return history[-1]["step"] >= self.step


# ----------------------------------------------------------------------------- callbacks


def test_a_callback_sees_every_evaluation_row_of_the_history(iris):
    X, y = iris
    recorder = Recorder()
    clf = NNClassifier(callbacks=[recorder], early_stopping=True, **SMALL).fit(X, y)
    history = clf._trainer.history
    assert len(recorder.rows) == len(history) == 4
    assert recorder.rows == history
    assert [row["train_loss"] for row in recorder.rows] == clf.loss_curve_
    clf.partial_fit(X, y)  # partial_fit calls them too: one more evaluation
    assert len(recorder.rows) == 5 and recorder.rows[-1] == clf._trainer.history[-1]


def test_a_callback_that_returns_true_stops_training(iris):
    X, y = iris
    full = NNClassifier(**SMALL).fit(X, y)
    stopped = NNClassifier(callbacks=[StopAt(151)], **SMALL).fit(X, y)
    per_epoch = len(X)  # batch size 1: an epoch is n steps, one evaluation each
    assert full.t_ == 4 * per_epoch
    assert stopped.t_ == 2 * per_epoch  # the first evaluation at step >= 151 is the 2nd
    assert len(stopped.loss_curve_) == 2


def test_clone_keeps_a_function_and_copies_a_callable_object(iris):
    X, y = iris
    recorder = Recorder()
    clf = NNClassifier(callbacks=[log_to_module_list, recorder], **SMALL)
    copy = clone(clf)
    assert copy.callbacks[0] is log_to_module_list
    assert copy.callbacks[1] is not recorder and isinstance(copy.callbacks[1], Recorder)
    LOG.clear()
    copy.fit(X, y)
    assert len(LOG) == 4 and recorder.rows == []  # the copy's recorder has the rows
    assert len(copy.callbacks[1].rows) == 4


def test_grid_search_clones_log_into_a_shared_list_through_a_function(iris):
    X, y = iris
    LOG.clear()
    search = GridSearchCV(
        NNClassifier(callbacks=[log_to_module_list], **SMALL), {"hidden_units": [3, 5]}, cv=2
    ).fit(X, y)
    # 2 settings x 2 folds + the refit, 4 evaluations each.
    assert len(LOG) == (2 * 2 + 1) * 4
    assert search.best_estimator_.callbacks == [log_to_module_list]


def test_get_set_params_round_trip_and_bad_callbacks_are_named(iris):
    clf = NNClassifier(callbacks=[log_to_module_list], class_weight={0: 2.0})
    params = clf.get_params()
    assert params["callbacks"] == [log_to_module_list] and params["class_weight"] == {0: 2.0}
    other = NNClassifier().set_params(**params)
    assert other.get_params() == params
    with pytest.raises(ConfigError, match="callbacks.1. is 3, which is not callable"):
        NNClassifier(callbacks=[log_to_module_list, 3], **SMALL).fit(*iris)


def test_pickling_keeps_a_module_level_callback_and_refuses_a_lambda(iris):
    X, y = iris
    clf = NNClassifier(callbacks=[log_to_module_list], **SMALL).fit(X, y)
    again = pickle.loads(pickle.dumps(clf))
    assert again.callbacks == [log_to_module_list]
    assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    with pytest.raises((pickle.PicklingError, AttributeError), match="lambda"):
        pickle.dumps(NNClassifier(callbacks=[lambda history: None]))


def test_a_saved_model_records_no_callbacks_and_text_labels(iris, tmp_path):
    X, y = iris
    clf = NNClassifier(callbacks=[log_to_module_list], class_weight={2: 3.0}, **SMALL).fit(X, y)
    loaded = NNClassifier.load(clf.save(tmp_path / "m.npz"))
    assert loaded.callbacks is None and loaded.class_weight == {"2": 3.0}
    assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


# ----------------------------------------------------------------------------- weights


def test_sample_weight_ones_is_the_same_model_as_none(iris):
    X, y = iris
    plain = NNClassifier(**SMALL).fit(X, y)
    ones = NNClassifier(**SMALL).fit(X, y, sample_weight=np.ones(len(y)))
    assert_array_equal(ones.predict_proba(X), plain.predict_proba(X))


def test_class_weight_and_sample_weight_multiply_and_zero_weights_never_train(iris):
    X, y = iris
    # Only class 0 and 1 examples are drawn: nothing pushes class 2 up, so p(2 | x) falls.
    zero_two = NNClassifier(class_weight={2: 0.0}, **SMALL).fit(X, y)
    also = NNClassifier(**SMALL).fit(X, y, sample_weight=(y != 2).astype(float))
    assert_array_equal(zero_two.predict_proba(X), also.predict_proba(X))
    assert zero_two.predict_proba(X)[:, 2].max() < 0.2


def test_balanced_raises_minority_recall_and_partial_fit_refuses_it():
    X, y = make_classification(
        n_samples=600,
        n_features=6,
        n_informative=3,
        weights=[0.9, 0.1],
        class_sep=0.5,
        random_state=0,
    )
    recall = [
        np.mean(
            NNClassifier(hidden_units=8, epochs=10, random_state=0, class_weight=cw)
            .fit(X, y)
            .predict(X)[y == 1]
            == 1
        )
        for cw in (None, "balanced")
    ]
    assert recall[1] > recall[0] + 0.15, recall
    with pytest.raises(
        ConfigError,
        match="partial_fit: class_weight='balanced' would count the classes of this batch only",
    ):
        NNClassifier(class_weight="balanced").partial_fit(X, y, classes=[0, 1])


def test_partial_fit_takes_sample_weights_and_bad_ones_are_named(iris):
    X, y = iris
    clf = NNClassifier(**SMALL).partial_fit(
        X, y, classes=[0, 1, 2], sample_weight=np.arange(len(y)) % 3
    )
    assert clf.t_ == len(X)
    with pytest.raises(ValueError, match="sample_weight"):
        clf.partial_fit(X, y, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="class_weight: unknown label 7"):
        NNClassifier(class_weight={7: 1.0}, **SMALL).fit(X, y)
    with pytest.raises(ValueError, match="sampling is shuffle"):
        NNClassifier(sampling="shuffle", **SMALL).fit(X, y, sample_weight=np.arange(len(y)))


# ----------------------------------------------------------------------------- plateau


def test_plateau_holds_out_validation_data_and_reduces_eta(iris):
    X, y = iris
    clf = NNClassifier(
        schedule="plateau", eta0=0.2, schedule_params={"patience": 1, "min_delta": 10.0}, **SMALL
    ).fit(X, y)
    history = clf._trainer.history
    assert all(np.isfinite(row["val_loss"]) for row in history)  # a validation split
    assert [row["eta"] for row in history] == [0.2, 0.2, 0.1, 0.05]
    with pytest.raises(ConfigError, match="partial_fit: schedule='plateau' needs a validation"):
        NNClassifier(schedule="plateau").partial_fit(X, y, classes=[0, 1, 2])


def test_plateau_warm_start_goes_on_with_its_reductions(iris):
    X, y = iris
    params = dict(
        schedule="plateau",
        eta0=0.2,
        schedule_params={"patience": 1, "min_delta": 10.0},
        warm_start=True,
        **SMALL,
    )
    clf = NNClassifier(**params).fit(X, y)
    clf.fit(X, y)
    assert [row["eta"] for row in clf._trainer.history][4:] == [0.025, 0.0125, 0.00625, 0.003125]


# ----------------------------------------------------------------------------- sklearn checks


# (A class_weight mapping names labels of one data set; sklearn's checks use many label sets.)
@parametrize_with_checks(
    [
        NNClassifier(
            hidden_units=6, steps=600, schedule="plateau", eta0=0.1, callbacks=[LogToModuleList()]
        ),
        NNClassifier(hidden_units=6, steps=600, class_weight="balanced"),
    ],
    expected_failed_checks=expected_failed_checks,
)
def test_sklearn_checks_with_weights_plateau_and_callbacks(estimator, check, monkeypatch):
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")  # so that no check is skipped
    check(estimator)
