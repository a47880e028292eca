"""NNClassifier: scikit-learn's own estimator checks, and the conventions users rely on."""

import json
import pickle
import subprocess
import sys

import joblib
import numpy as np
import pandas as pd
import pytest
from notes_reference import hand_gradients
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import load_digits, load_iris
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator, parametrize_with_checks

import nnclf
from nnclf import NNClassifier
from nnclf.data.preprocessing import Standardizer
from nnclf.estimator.params import expected_failed_checks
from nnclf.export.trained import TrainedModel
from nnclf.graph.network import Network
from nnclf.training.trainer import DivergenceError, SGDSettings, Trainer

SMALL = dict(hidden_units=8, epochs=3, random_state=0)
"""Quick settings for tests that are about behaviour, not accuracy."""


@pytest.fixture
def array_api_check_enabled(monkeypatch):
    # scikit-learn skips check_array_api_input (fit and predict with array API dispatch on
    # and NumPy inputs) unless SCIPY_ARRAY_API is set; set it so that no check is skipped.
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")


# ----------------------------------------------------------------------------- sklearn checks


def test_check_estimator_passes_every_check_with_the_defaults(array_api_check_enabled):
    results = check_estimator(
        NNClassifier(),
        on_skip=None,
        on_fail=None,
        expected_failed_checks=expected_failed_checks(NNClassifier()),
    )
    not_passed = [
        (r["check_name"], r["status"], r["exception"]) for r in results if r["status"] != "passed"
    ]
    # Only the checks listed as failing by design, and each of them does fail.
    assert {(name, status) for name, status, _ in not_passed} == {
        (name, "xfail") for name in expected_failed_checks(NNClassifier())
    }
    assert len(results) >= 50


# Every other code path: minibatches, shuffling, momentum, weight decay, early stopping,
# a schedule with its own parameters, other transfer functions, a fixed number of steps.
@parametrize_with_checks(
    [
        NNClassifier(
            hidden_units=20,
            transfer="relu",
            init="he",
            schedule="step",
            schedule_params={"factor": 0.5, "every": 2000},
            batch_size=4,
            sampling="shuffle",
            momentum=0.9,
            l2=1e-4,
            early_stopping=True,
            validation_fraction=0.2,
            patience=3,
        ),
        NNClassifier(
            hidden_units=5,
            transfer="sigmoid",
            init="normal",
            steps=700,
            schedule="constant",
            eta0=0.2,
        ),
    ],
    expected_failed_checks=expected_failed_checks,
)
def test_sklearn_estimator_check(estimator, check, array_api_check_enabled):
    check(estimator)


# ----------------------------------------------------------------------------- composition


def test_works_in_pipeline_grid_search_and_cross_val_score(iris):
    X, y = load_iris(return_X_y=True)
    pipe = Pipeline([("scale", StandardScaler()), ("clf", NNClassifier(**SMALL))])
    assert cross_val_score(pipe, X, y, cv=3).mean() > 0.85
    grid = {"clf__hidden_units": [3, 10], "clf__schedule": ["constant", "inverse_time"]}
    search = GridSearchCV(pipe, grid, cv=3, n_jobs=2).fit(X, y)
    assert search.best_score_ > 0.85
    assert search.predict(X).shape == y.shape


def test_clone_copies_the_parameters_and_not_the_fit(iris):
    X, y = iris
    clf = NNClassifier(schedule="step", schedule_params={"factor": 0.5, "every": 100}, **SMALL).fit(
        X, y
    )
    copy = clone(clf)
    assert copy.get_params() == clf.get_params()
    assert not hasattr(copy, "classes_") and not hasattr(copy, "network_")
    assert_array_equal(copy.fit(X, y).predict_proba(X), clf.predict_proba(X))


@pytest.mark.parametrize(
    "dumps, loads", [(pickle.dumps, pickle.loads), (None, None)], ids=["pickle", "joblib"]
)
def test_pickled_estimator_predicts_and_continues_identically(iris, tmp_path, dumps, loads):
    X, y = iris
    clf = NNClassifier(momentum=0.5, warm_start=True, **SMALL).fit(X, y)
    if dumps is None:
        joblib.dump(clf, tmp_path / "clf.joblib")
        copy = joblib.load(tmp_path / "clf.joblib")
    else:
        copy = loads(dumps(clf))
    assert copy.network_ is not clf.network_
    assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))
    # The trainer's state (step counter, sampler, momentum) survives the round trip.
    clf.fit(X, y)
    copy.fit(X, y)
    assert copy.t_ == clf.t_ == 2 * 3 * len(X)
    assert_array_equal(copy.W_, clf.W_)


def test_unfitted_estimator_pickles():
    copy = pickle.loads(pickle.dumps(NNClassifier(hidden_units=7)))
    assert copy.get_params()["hidden_units"] == 7


# ----------------------------------------------------------------------------- randomness


def test_same_random_state_same_model_different_random_state_different_weights(iris):
    X, y = iris
    a = NNClassifier(**SMALL).fit(X, y)
    b = NNClassifier(**SMALL).fit(X, y)
    c = NNClassifier(**dict(SMALL, random_state=1)).fit(X, y)
    assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert_array_equal(a.W_, b.W_)
    assert not np.allclose(a.W_, c.W_)


# ----------------------------------------------------------------------------- accuracy


def test_digits_with_default_parameters_in_a_scaling_pipeline():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, stratify=y, random_state=0
    )
    pipe = Pipeline([("scale", StandardScaler()), ("clf", NNClassifier(random_state=0))])
    assert pipe.fit(X_train, y_train).score(X_test, y_test) >= 0.96


# ----------------------------------------------------------------------------- labels


def test_string_labels_multiclass(iris):
    X, y = iris
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = NNClassifier(**SMALL).fit(X, names)
    assert_array_equal(clf.classes_, ["setosa", "versicolor", "virginica"])
    assert set(clf.predict(X)) <= set(clf.classes_)
    assert (clf.predict(X) == names).mean() > 0.8
    assert_array_equal(clf.predict(X), clf.classes_[clf.predict_proba(X).argmax(axis=1)])


def test_binary_problem_is_a_two_class_softmax(iris):
    X, y = iris
    keep = y < 2
    labels = np.where(y[keep] == 1, "yes", "no")
    clf = NNClassifier(**SMALL).fit(X[keep], labels)
    assert clf.V_.shape == (2, 8) and clf.gamma_.shape == (2,)
    proba = clf.predict_proba(X[keep])
    assert proba.shape == (keep.sum(), 2)
    assert_allclose(proba.sum(axis=1), 1.0)
    assert_allclose(clf.predict_log_proba(X[keep]), np.log(proba))
    assert clf.score(X[keep], labels) == 1.0


def test_the_parameters_are_the_networks(iris):
    X, y = iris
    clf = NNClassifier(**SMALL).fit(X, y)
    assert clf.W_.shape == (8, 4) and clf.b_.shape == (8,)
    assert clf.V_.shape == (3, 8) and clf.gamma_.shape == (3,)
    for name in ("W", "b", "V", "gamma"):
        assert getattr(clf, f"{name}_") is clf.network_.params[name]


def test_regression_target_is_a_clear_error(iris):
    X, _ = iris
    with pytest.raises(ValueError, match="Unknown label type: continuous.*regression target"):
        NNClassifier().fit(X, np.linspace(0, 1, len(X)))


def test_multilabel_target_is_a_clear_error(iris):
    X, y = iris
    with pytest.raises(ValueError, match=r"several labels per example .*MultiOutputClassifier"):
        NNClassifier().fit(X, np.c_[y == 1, y == 2].astype(int))


def test_one_class_is_a_clear_error(iris):
    X, _ = iris
    with pytest.raises(ValueError, match="y has only one class .* needs at least two"):
        NNClassifier().fit(X, np.ones(len(X)))


# ----------------------------------------------------------------------------- parameters


def test_parameter_errors_name_the_parameter_and_the_valid_range(iris):
    X, y = iris
    with pytest.raises(
        ValueError,
        match=r"The 'hidden_units' parameter of NNClassifier must "
        r"be an int in the range \[1, inf\), an instance of "
        r"'list' or an instance of 'tuple'\. Got 0 instead",
    ):
        NNClassifier(hidden_units=0).fit(X, y)
    with pytest.raises(ValueError, match=r"The 'momentum' parameter .* range \[0\.0, 1\.0\)"):
        NNClassifier(momentum=1.0).fit(X, y)
    with pytest.raises(ValueError, match="The 'transfer' parameter .* among .*'tanh'"):
        NNClassifier(transfer="tahn").fit(X, y)


def test_schedule_params_errors(iris):
    X, y = iris
    with pytest.raises(
        ValueError,
        match="schedule='step'.*missing required parameter 'factor', 'every'.*schedule_params",
    ):
        NNClassifier(schedule="step").fit(X, y)
    with pytest.raises(ValueError, match="unknown parameter 'tua' \\(did you mean 'tau'\\?\\)"):
        NNClassifier(schedule_params={"tua": 100}).fit(X, y)
    with pytest.raises(ValueError, match="'eta0' is set by the eta0 parameter"):
        NNClassifier(schedule_params={"eta0": 0.1}).fit(X, y)
    with pytest.raises(ValueError, match="epochs and steps are both None"):
        NNClassifier(epochs=None).fit(X, y)


def test_schedule_params_fill_in_the_defaults_and_reach_the_trainer(iris):
    X, y = iris
    clf = NNClassifier(schedule_params={"warmup": 10}, **SMALL).fit(X, y)
    schedule = clf._trainer.schedule.to_dict()
    assert schedule == {"name": "inverse_time", "eta0": 0.05, "tau": 20000.0, "warmup": 10}
    assert clf.schedule_params == {"warmup": 10}  # the parameter itself is left as given


def test_steps_overrides_epochs(iris):
    X, y = iris
    clf = NNClassifier(hidden_units=4, epochs=50, steps=200, random_state=0).fit(X, y)
    assert clf.t_ == 200
    assert clf.n_iter_ == 2  # one full epoch of 150 steps and a part of another
    assert len(clf.loss_curve_) == 2


def test_minibatches_count_steps_not_examples(iris):
    X, y = iris
    clf = NNClassifier(hidden_units=4, epochs=2, batch_size=32, random_state=0).fit(X, y)
    assert clf.t_ == 2 * 5  # ceil(150 / 32) steps per epoch
    assert clf.n_iter_ == 2


def test_early_stopping_holds_out_a_validation_set(iris):
    X, y = iris
    clf = NNClassifier(
        hidden_units=8, epochs=200, early_stopping=True, patience=3, random_state=0
    ).fit(X, y)
    assert clf.n_iter_ < 200  # stopped early
    assert len(clf.validation_scores_) == len(clf.loss_curve_) == clf.n_iter_
    assert clf.t_ == clf.n_iter_ * 135  # 10% of the 150 examples held out
    assert all(0 <= s <= 1 for s in clf.validation_scores_)
    without = NNClassifier(**SMALL).fit(X, y)
    assert without.validation_scores_ is None
    assert without.best_loss_ == min(without.loss_curve_)


def test_early_stopping_on_too_little_data_names_validation_fraction():
    X = np.arange(6.0).reshape(3, 2)
    with pytest.raises(ValueError, match="validation_fraction .*leaves none for training"):
        NNClassifier(early_stopping=True, validation_fraction=0.9).fit(X, [0, 1, 0])


def test_divergence_is_reported_with_the_step_size(iris):
    X, y = iris
    clf = NNClassifier(
        hidden_units=8, transfer="identity", eta0=10.0, schedule="constant", random_state=0
    )
    with pytest.raises(DivergenceError, match="diverged at step .*eta0, now 10.0"):
        clf.fit(100 * X, y)


def test_verbose_shows_the_trainers_progress_bar(iris, capsys):
    X, y = iris
    NNClassifier(**SMALL).fit(X, y)
    assert capsys.readouterr().err == ""
    NNClassifier(verbose=True, **SMALL).fit(X, y)
    assert "step" in capsys.readouterr().err


# ----------------------------------------------------------------------------- continuing


def test_partial_fit_needs_the_classes_on_the_first_call(iris):
    X, y = iris
    with pytest.raises(ValueError, match=r"partial_fit: pass classes=\.\.\. .* first call"):
        NNClassifier().partial_fit(X, y)


def test_partial_fit_runs_one_epoch_per_call_and_continues_t(iris):
    X, y = iris
    clf = NNClassifier(hidden_units=8, random_state=0)
    clf.partial_fit(X[:60], y[:60], classes=[0, 1, 2])
    assert (clf.t_, clf.n_iter_, len(clf.loss_curve_)) == (60, 1, 1)
    clf.partial_fit(X[60:], y[60:])
    assert (clf.t_, clf.n_iter_, len(clf.loss_curve_)) == (150, 2, 2)
    assert [row["step"] for row in clf._trainer.history] == [60, 150]
    with pytest.raises(
        ValueError,
        match=r"label 7 was never seen in training; the model knows "
        r"0, 1, 2; the classes are fixed by the first fit",
    ):
        clf.partial_fit(X[:5], [7] * 5)
    with pytest.raises(ValueError, match="differs from the classes of earlier calls"):
        clf.partial_fit(X, y, classes=[0, 1])
    assert clf.t_ == 150  # failed calls change nothing


def test_partial_fit_on_the_same_data_is_fit_one_epoch_at_a_time(iris):
    X, y = iris
    whole = NNClassifier(hidden_units=8, epochs=3, random_state=0).fit(X, y)
    parts = NNClassifier(hidden_units=8, random_state=0)
    for _ in range(3):
        parts.partial_fit(X, y, classes=np.unique(y))
    assert parts.t_ == whole.t_ == 3 * len(X)
    assert_array_equal(parts.W_, whole.W_)
    assert_array_equal(parts.loss_curve_, whole.loss_curve_)


def test_partial_fit_on_uneven_batches_gives_each_call_one_whole_epoch(iris):
    # Replayed by hand: the seeds as the estimator draws them (initial weights, sampler),
    # then one epoch of uniform picks over each call's own batch, from one generator.
    X, y = iris
    clf = NNClassifier(
        hidden_units=8, schedule="constant", eta0=0.1, standardize=False, random_state=0
    )
    init_seed, sgd_seed, _ = np.random.RandomState(0).randint(np.iinfo(np.int32).max, size=3)
    params = Network(4, 8, 3, seed=int(init_seed)).params
    rng = np.random.default_rng(int(sgd_seed))
    for rows in (slice(0, 60), slice(60, 150)):
        clf.partial_fit(X[rows], y[rows], classes=[0, 1, 2])
        Xb, yb = X[rows], y[rows]
        for i in rng.integers(0, len(Xb), size=len(Xb)):
            _, g, _ = hand_gradients(params, Xb[[i]], yb[[i]])
            params = {k: params[k] - 0.1 * g[k] for k in params}
    assert clf.t_ == 150
    for name in ("W", "b", "V", "gamma"):
        assert_allclose(getattr(clf, f"{name}_"), params[name], rtol=1e-10, atol=1e-12)


def test_partial_fit_continues_a_fit(iris):
    X, y = iris
    clf = NNClassifier(**SMALL).fit(X, y)
    clf.partial_fit(X, y)
    assert clf.t_ == 4 * len(X)
    assert clf.n_iter_ == 4


def test_warm_start_continues_where_the_last_fit_stopped(iris):
    X, y = iris
    once = NNClassifier(hidden_units=8, epochs=4, random_state=0).fit(X, y)
    twice = NNClassifier(hidden_units=8, epochs=2, random_state=0, warm_start=True)
    twice.fit(X, y)
    assert twice.t_ == 2 * len(X)
    twice.fit(X, y)
    assert twice.t_ == once.t_ == 4 * len(X)
    assert twice.n_iter_ == 4
    assert_array_equal(twice.W_, once.W_)
    assert_array_equal(twice.loss_curve_, once.loss_curve_)


def test_without_warm_start_fit_starts_afresh(iris):
    X, y = iris
    clf = NNClassifier(**SMALL).fit(X, y)
    first = clf.W_.copy()
    clf.fit(X, y)
    assert clf.t_ == 3 * len(X)
    assert_array_equal(clf.W_, first)


def test_warm_start_refuses_a_different_network(iris):
    X, y = iris
    clf = NNClassifier(warm_start=True, **SMALL).fit(X, y)
    clf.set_params(hidden_units=4)
    with pytest.raises(ValueError, match="hidden_units is 4 but the fitted network has 8"):
        clf.fit(X, y)


# ----------------------------------------------------------------------------- model files


def test_save_load_round_trip_predicts_identically(iris, tmp_path):
    X, y = iris
    names = np.array(["a", "b", "c"])[y]
    clf = NNClassifier(schedule="constant", eta0=0.1, **SMALL).fit(X, names)
    path = clf.save(tmp_path / "model.npz")
    loaded = NNClassifier.load(path)
    assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    assert_array_equal(loaded.predict(X), clf.predict(X))
    assert_array_equal(loaded.classes_, clf.classes_)
    assert loaded.get_params() == clf.get_params()
    assert loaded.n_features_in_ == 4 and not hasattr(loaded, "feature_names_in_")
    # The file is the CLI's: TrainedModel (what `nnclf predict` uses) reads it the same.
    model = TrainedModel.load(path)
    assert_array_equal(model.predict(X), clf.predict(X))
    assert_array_equal(model.predict_proba(X), clf.predict_proba(X))


def test_a_loaded_model_can_be_trained_further(iris, tmp_path):
    X, y = iris
    clf = NNClassifier(**SMALL).fit(X, y)
    loaded = NNClassifier.load(clf.save(tmp_path / "model.npz"))
    loaded.partial_fit(X, y)
    assert loaded.t_ == len(X)  # the file has no trainer state: t starts again
    assert not np.array_equal(loaded.W_, clf.W_)


def cli_style_model(X, y, path):
    """A model file as `nnclf train` writes one: a network trained on standardised
    features, the standardiser, the feature names and the resolved config."""
    std = Standardizer().fit(X)
    net = Network(X.shape[1], 6, 3, transfer="sigmoid", seed=1)
    Trainer(
        net,
        SGDSettings(epochs=3, schedule={"name": "constant", "eta0": 0.1}),
        seed=2,
        progress="none",
    ).fit(std.transform(X), y)
    config = {
        "data": {"source": "sklearn:iris", "validation_fraction": 0.2},
        "model": {"hidden_units": 6, "transfer": "sigmoid", "init": "xavier"},
        "train": {
            "epochs": 3,
            "batch_size": 1,
            "schedule": {"name": "constant", "eta0": 0.1},
            "early_stopping": {"metric": "val_loss", "patience": 2},
        },
    }
    model = TrainedModel(
        net,
        np.array(["setosa", "versicolor", "virginica"]),
        feature_names=("sl", "sw", "pl", "pw"),
        standardizer=std,
        config=config,
    )
    model.save(path)
    return model


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_a_file_written_like_nnclf_train_loads_and_predicts_the_same(tmp_path):
    X, y = load_iris(return_X_y=True)
    path = tmp_path / "model.npz"
    cli_style_model(X, y, path)
    model = TrainedModel.load(path)
    clf = NNClassifier.load(path)
    assert clf.standardizer_ is not None
    assert_array_equal(clf.predict(X), model.predict(X))
    assert_array_equal(clf.predict_proba(X), model.predict_proba(X))
    assert_array_equal(clf.feature_names_in_, ["sl", "sw", "pl", "pw"])
    assert (
        clf.get_params()
        == NNClassifier(
            hidden_units=6,
            transfer="sigmoid",
            init="xavier",
            epochs=3,
            batch_size=1,
            schedule="constant",
            eta0=0.1,
            schedule_params={},
            early_stopping=True,
            patience=2,
            validation_fraction=0.2,
        ).get_params()
    )  # and random_state=None: the config has no seed
    # Training further keeps feeding the network standardised features.
    clf.partial_fit(X, model.classes[y])
    assert clf.score(X, model.classes[y]) > 0.7


def test_dataframe_feature_names_are_kept_and_saved(iris, tmp_path):
    X, y = iris
    frame = pd.DataFrame(X, columns=["sl", "sw", "pl", "pw"])
    clf = NNClassifier(**SMALL).fit(frame, y)
    assert_array_equal(clf.feature_names_in_, ["sl", "sw", "pl", "pw"])
    loaded = NNClassifier.load(clf.save(tmp_path / "model.npz"))
    assert_array_equal(loaded.feature_names_in_, clf.feature_names_in_)
    assert_array_equal(loaded.predict(frame), clf.predict(frame))
    with pytest.raises(ValueError, match="feature names should match"):
        loaded.predict(frame[["sw", "sl", "pl", "pw"]])


def test_exported_from_the_package():
    assert nnclf.NNClassifier is NNClassifier
    assert "NNClassifier" in nnclf.__all__


# ----------------------------------------------------------------------------- the CLI


def nnclf_command(*args, cwd):
    done = subprocess.run(
        [sys.executable, "-m", "nnclf", *map(str, args)], cwd=cwd, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def iris_csv(tmp_path):
    """data/iris.csv as a pandas frame and a CSV file: four named features, string labels."""
    iris = load_iris()
    frame = pd.DataFrame(
        iris.data, columns=["sepal_length", "sepal_width", "petal_length", "petal_width"]
    )
    frame["species"] = iris.target_names[iris.target]
    frame.to_csv(tmp_path / "iris.csv", index=False)
    return frame.drop(columns="species"), frame["species"].to_numpy()


def read_predictions(path):
    table = pd.read_csv(path)
    return table["label"].to_numpy(), table.drop(columns="label").to_numpy()


@pytest.mark.slow
def test_a_model_from_nnclf_train_loads_and_predicts_as_nnclf_predict(tmp_path, iris_csv):
    X, _ = iris_csv
    (tmp_path / "tiny.yaml").write_text(
        "seed: 3\n"
        "data: {source: iris.csv, target: species}\n"
        "model: {hidden_units: 6, transfer: sigmoid}\n"
        "train: {epochs: 3, schedule: {name: constant, eta0: 0.1}, early_stopping: {patience: 2}}\n"
    )
    nnclf_command("train", "tiny.yaml", "--out", "run", "--quiet", cwd=tmp_path)
    nnclf_command("predict", "run", "--data", "iris.csv", "--out", "pred.csv", cwd=tmp_path)
    labels, proba = read_predictions(tmp_path / "pred.csv")

    clf = NNClassifier.load(tmp_path / "run" / "model.npz")
    assert clf.standardizer_ is not None  # the run standardised its inputs
    assert_array_equal(clf.predict(X), labels)
    assert_allclose(clf.predict_proba(X), proba, rtol=1e-5)  # the CSV keeps 6 digits
    params = clf.get_params()
    assert {
        k: params[k]
        for k in (
            "hidden_units",
            "transfer",
            "epochs",
            "schedule",
            "eta0",
            "early_stopping",
            "patience",
            "random_state",
        )
    } == {
        "hidden_units": 6,
        "transfer": "sigmoid",
        "epochs": 3,
        "schedule": "constant",
        "eta0": 0.1,
        "early_stopping": True,
        "patience": 2,
        "random_state": 3,
    }


@pytest.mark.slow
def test_nnclf_predict_and_evaluate_accept_a_model_saved_from_python(tmp_path, iris_csv):
    X, species = iris_csv
    clf = NNClassifier(**SMALL).fit(X, species)
    clf.save(tmp_path / "model.npz")
    nnclf_command("predict", "model.npz", "--data", "iris.csv", "--out", "pred.csv", cwd=tmp_path)
    labels, proba = read_predictions(tmp_path / "pred.csv")
    assert_array_equal(labels, clf.predict(X))
    assert_allclose(proba, clf.predict_proba(X), rtol=1e-5, atol=1e-12)
    report = json.loads(
        nnclf_command("evaluate", "model.npz", "--data", "iris.csv", "--json", cwd=tmp_path)
    )
    assert report["accuracy"] == pytest.approx(clf.score(X, species))


# ----------------------------------------------------------------------------- standardisation


def test_standardize_is_the_clis_default_and_fitted_on_the_training_data(iris):
    X, y = iris
    clf = NNClassifier(hidden_units=6, epochs=2, random_state=0).fit(X, y)
    assert clf.get_params()["standardize"] is True
    reference = StandardScaler().fit(X)  # an independent implementation
    assert_allclose(clf.standardizer_.mean_, reference.mean_, rtol=1e-12)
    assert_allclose(clf.standardizer_.scale_, reference.scale_, rtol=1e-12)
    # predict_proba is the network on (x - mean) / std.
    assert_allclose(
        clf.predict_proba(X[:5]),
        clf.network_.predict_proba((X[:5] - reference.mean_) / reference.scale_),
    )


def test_standardize_false_keeps_raw_inputs(iris):
    X, y = iris
    clf = NNClassifier(hidden_units=6, epochs=1, standardize=False, random_state=0).fit(X, y)
    assert clf.standardizer_ is None
    assert_allclose(clf.predict_proba(X[:5]), clf.network_.predict_proba(X[:5]))


def test_standardize_matters_on_raw_digits():
    # The case: with defaults on raw digits (pixel values 0..16) the estimator got
    # 21%; standardised as the CLI does, it learns.
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, random_state=0, stratify=y
    )
    clf = NNClassifier(epochs=3, random_state=0).fit(X_train, y_train)
    assert clf.score(X_test, y_test) > 0.9


def test_the_first_partial_fit_fits_the_standardizer_and_later_calls_keep_it(iris):
    X, y = iris
    clf = NNClassifier(hidden_units=6, random_state=0)
    clf.partial_fit(X[::2], y[::2], classes=np.unique(y))
    first = StandardScaler().fit(X[::2])
    assert_allclose(clf.standardizer_.mean_, first.mean_, rtol=1e-12)
    clf.partial_fit(X[1::2] * 10, y[1::2])
    assert_allclose(clf.standardizer_.mean_, first.mean_, rtol=1e-12)
    assert_allclose(clf.standardizer_.scale_, first.scale_, rtol=1e-12)


def test_warm_start_keeps_the_first_fits_standardizer(iris):
    X, y = iris
    clf = NNClassifier(hidden_units=6, epochs=1, warm_start=True, random_state=0).fit(X, y)
    mean = clf.standardizer_.mean_.copy()
    clf.fit(X + 100, y)
    assert_array_equal(clf.standardizer_.mean_, mean)


@pytest.mark.parametrize("standardize", [True, False])
def test_the_model_file_keeps_the_standardisation(tmp_path, iris, standardize):
    X, y = iris
    clf = NNClassifier(hidden_units=6, epochs=1, standardize=standardize, random_state=0)
    clf.fit(X, y).save(tmp_path / "m.npz")
    loaded = NNClassifier.load(tmp_path / "m.npz")
    assert loaded.standardize is standardize
    assert (loaded.standardizer_ is None) is (not standardize)
    assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


@pytest.mark.parametrize(
    "labels",
    [
        np.array([b"a", b"b"] * 10),
        np.array(["2020-01-01", "2021-01-01"] * 10, dtype="datetime64[D]"),
        np.array([1, 2] * 10, dtype="timedelta64[s]"),
    ],
)
def test_labels_a_model_file_cannot_hold_fail_at_fit(labels):
    X = np.random.default_rng(0).normal(size=(20, 3))
    clf = NNClassifier(hidden_units=3, epochs=1)
    # scikit-learn's own check refuses bytes with a TypeError, as its estimators do.
    with pytest.raises((ValueError, TypeError)) as caught:
        clf.fit(X, labels)
    message = str(caught.value)
    assert "\n" not in message
    assert not hasattr(clf, "t_")  # refused before training
    if not ("Unknown label type" in message or "bytes is not supported" in message):
        assert message.startswith("y: labels of dtype ")
        assert "cannot be stored in a model file" in message
        assert message.endswith("give labels as strings or integers")


@pytest.mark.parametrize(
    "label, shown", [("versicolor", "'versicolor'"), (3, "3"), (True, "True"), ("", "''")]
)
def test_one_class_shows_the_label_plainly(label, shown):
    X = np.ones((4, 2))
    y = np.array([label] * 4)
    with pytest.raises(ValueError) as caught:
        NNClassifier().fit(X, y)
    assert "np." not in str(caught.value)
    if "only one class" in str(caught.value):
        assert f"y has only one class ({shown})" in str(caught.value)
    with pytest.raises(
        ValueError, match=r"^classes has only one class \(" + shown.replace(".", r"\.") + r"\)"
    ):
        NNClassifier().partial_fit(X, y, classes=np.array([label]))
