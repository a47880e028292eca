"""Classes of silently wrong results, each checked at its root: non-finite model files, NaN
scores in the plateau schedule and early stopping, averaging past the last step, weights
near the float maximum, a changed dtype under warm_start, and labels beyond int64."""

import json
import math

import numpy as np
import pytest
from sklearn.datasets import load_iris

from nnclf import NNClassifier
from nnclf.config.settings import EarlyStopping
from nnclf.errors import ConfigError, ModelFileError
from nnclf.export.modelfile import load_model, save_model
from nnclf.export.trained import TrainedModel
from nnclf.training.sampler import Sampler
from nnclf.training.schedules import plateau
from nnclf.training.settings import SGDSettings
from nnclf.training.stopping import EarlyStopper

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

NAN = float("nan")


def iris():
    return load_iris(return_X_y=True)


# ----------------------------------------------------------------------------- model files


def small_params(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "W": rng.normal(size=(3, 2)),
        "b": rng.normal(size=3),
        "V": rng.normal(size=(2, 3)),
        "gamma": rng.normal(size=2),
    }


def write_hostile(path, params):
    """A model file with the given arrays, written as a foreign program might (no checks)."""
    meta = {"format": "nnclf-model", "format_version": 1, "nnclf_version": "0", "classes": [0, 1]}
    with open(path, "wb") as f:
        np.savez(f, metadata=np.array(json.dumps(meta)), **params)


@settings(max_examples=30, deadline=None)
@given(
    name=st.sampled_from(["W", "b", "V", "gamma"]),
    where=st.integers(0, 5),
    value=st.sampled_from([NAN, math.inf, -math.inf]),
)
def test_a_model_file_with_any_non_finite_parameter_is_refused(
    tmp_path_factory, name, where, value
):
    params = small_params()
    flat = params[name].reshape(-1)
    flat[where % flat.size] = value
    path = tmp_path_factory.mktemp("m") / "model.npz"
    write_hostile(path, params)
    with pytest.raises(ModelFileError) as e:
        load_model(path)
    assert str(e.value) == (
        f"model file '{path}': parameter {name!r} holds 1 NaN or infinite value(s); such a "
        "model predicts nan probabilities: retrain it (a lower eta or gradient clipping "
        "keeps training finite)"
    )
    with pytest.raises(ModelFileError, match="NaN or infinite"):
        save_model(tmp_path_factory.mktemp("s") / "m.npz", params, {})


def test_a_finite_model_file_still_loads(tmp_path):
    write_hostile(tmp_path / "m.npz", small_params())
    params, _ = load_model(tmp_path / "m.npz")
    np.testing.assert_array_equal(params["V"], small_params()["V"])


# ----------------------------------------------------------------------------- NaN scores


def plateau_by_hand(losses, patience, factor=0.5, eta0=1.0):
    """The plateau rule replayed: a NaN is a bad evaluation and never the best."""
    best, bad, k, etas = None, 0, 0, []
    for loss in losses:
        if loss == loss and (best is None or loss < best):
            best, bad = loss, 0
        else:
            bad += 1
            if bad == patience:
                bad, k = 0, k + 1
        etas.append(eta0 * factor**k)
    return etas


def test_a_nan_first_loss_is_not_the_best_so_a_falling_loss_never_cuts_eta():
    s = plateau(1.0, factor=0.5, patience=2)
    etas = []
    for loss in [NAN, 5.0, 4.0, 3.0, 2.0, 1.0, 0.5]:
        s.observe(loss)
        etas.append(s(1))
    assert etas == [1.0] * 7
    assert s.state_dict() == {"reductions": 0, "best": 0.5, "bad_evals": 0}


@settings(max_examples=60, deadline=None)
@given(
    losses=st.lists(st.one_of(st.just(NAN), st.floats(0, 10)), min_size=1, max_size=25),
    patience=st.integers(1, 4),
)
def test_plateau_with_nans_anywhere_matches_a_replay(losses, patience):
    s = plateau(1.0, factor=0.5, patience=patience, min_eta=0.0)
    etas = []
    for loss in losses:
        s.observe(loss)
        etas.append(s(1))
    assert etas == plateau_by_hand(losses, patience)
    assert s.state["best"] is None or not math.isnan(s.state["best"])


@settings(max_examples=60, deadline=None)
@given(
    scores=st.lists(st.one_of(st.just(NAN), st.floats(0, 1)), min_size=1, max_size=25),
    metric=st.sampled_from(["val_loss", "val_accuracy"]),
    patience=st.integers(1, 4),
)
def test_early_stopping_with_nans_anywhere_matches_a_replay(scores, metric, patience):
    stopper = EarlyStopper(EarlyStopping(metric, patience=patience))
    sign = 1 if metric == "val_loss" else -1
    best, bad = None, 0
    for step, score in enumerate(scores):
        stop = stopper.update(score, step)
        if score == score and (best is None or sign * score < sign * best):
            best, bad = score, 0
        else:
            bad += 1
        assert (stop, stopper.best_score) == (bad >= patience, best)


def test_a_nan_first_score_does_not_stop_a_falling_loss():
    stopper = EarlyStopper(EarlyStopping("val_loss", patience=2))
    assert [stopper.update(s, i) for i, s in enumerate([NAN, 3.0, 2.0, 1.0])] == [False] * 4
    assert (stopper.best_score, stopper.best_step) == (1.0, 3)


# ----------------------------------------------------------------------------- averaging


def test_averaging_that_starts_after_the_last_step_is_refused():
    with pytest.raises(ConfigError) as e:
        SGDSettings(steps=50, average=51).check_average(50)
    assert str(e.value) == (
        "average starts at step 51 but training is 50 steps, so nothing would be averaged; "
        "make average at most 50 (or true, from step 1) or train longer (more steps)"
    )
    SGDSettings(steps=50, average=50).check_average(50)
    SGDSettings(steps=50, average=True).check_average(1)


def test_the_estimator_refuses_averaging_past_its_last_step_but_partial_fit_goes_on():
    X, y = iris()  # 150 rows, batch 50: 3 steps an epoch
    clf = NNClassifier(hidden_units=3, epochs=2, batch_size=50, average=7, random_state=0)
    with pytest.raises(ConfigError, match="average starts at step 7 but training is 6 steps"):
        clf.fit(X, y)
    clf.set_params(warm_start=True)  # fits that go on: averaging starts in the second
    clf.fit(X, y)
    clf.fit(X, y)
    assert clf._trainer.average.count == 6  # steps 7 to 12
    partial = NNClassifier(hidden_units=3, batch_size=50, average=7, random_state=0)
    for _ in range(3):  # steps 1-3, 4-6, 7-9: averaging starts in the third call
        partial.partial_fit(X, y, classes=[0, 1, 2])
    assert partial._trainer.average.count == 3


# ----------------------------------------------------------------------------- weights


@pytest.mark.parametrize("scale", [1.0, 2.0**1000, 2.0**-1000])
def test_the_draw_depends_only_on_the_ratios_of_the_weights(scale):
    w = np.array([1.0, 0.0, 3.0, 2.0, 2.0])
    a, b = Sampler("uniform", 4, seed=5), Sampler("uniform", 4, seed=5)
    a.weigh(w, 5)
    b.weigh(w * scale, 5)
    assert np.array_equal(a.epoch(0, 5)[1], b.epoch(0, 5)[1])


@pytest.mark.parametrize("big", [1e308, 1.7e308, np.finfo(np.float64).max])
def test_weights_whose_total_overflows_draw_every_example(big):
    sampler = Sampler("uniform", 3000, seed=0)  # one step of 3000 draws
    sampler.weigh(np.array([big, big, big / 2, 0.0]), 4)
    counts = np.bincount(sampler.epoch(0, 4)[1][0], minlength=4)
    # Probabilities 0.4, 0.4, 0.2, 0 (before: every draw on the last example of weight > 0).
    assert counts[3] == 0 and abs(counts[:3] - [1200, 1200, 600]).max() < 150, counts


# ----------------------------------------------------------------------------- warm_start


def test_warm_start_refuses_a_changed_dtype_and_keeps_an_unchanged_one():
    X, y = iris()
    clf = NNClassifier(hidden_units=4, epochs=1, dtype="float32", warm_start=True, random_state=0)
    clf.fit(X, y)
    clf.fit(X, y)
    clf.partial_fit(X, y)
    assert clf.network_.dtype == np.float32 and clf.network_.params["V"].dtype == np.float32
    clf.set_params(dtype="float64")
    with pytest.raises(ConfigError) as e:
        clf.fit(X, y)
    assert str(e.value) == (
        "dtype is 'float64' but the fitted network has 'float32', so training cannot "
        "continue; set warm_start=False (and call fit) to start afresh"
    )
    clf.set_params(warm_start=False)
    assert clf.fit(X, y).network_.dtype == np.float64


# ----------------------------------------------------------------------------- labels


BIG = np.array([0, 2**63, 2**64 - 1], dtype=np.uint64)


def test_uint64_labels_round_trip_exactly_through_a_model_file(tmp_path):
    X, y = iris()
    labels = BIG[y]
    clf = NNClassifier(hidden_units=4, epochs=2, random_state=0).fit(X, labels)
    clf.save(tmp_path / "m.npz")
    for loaded in (NNClassifier.load(tmp_path / "m.npz"), TrainedModel.load(tmp_path / "m.npz")):
        classes = loaded.classes_ if hasattr(loaded, "classes_") else loaded.classes
        assert classes.dtype == np.uint64 and classes.tolist() == BIG.tolist()
    predicted = NNClassifier.load(tmp_path / "m.npz").predict(X)
    assert predicted.dtype == np.uint64
    np.testing.assert_array_equal(predicted, clf.predict(X))


def test_labels_of_a_model_file_keep_their_kind():
    from nnclf.export.trained import labels_array

    assert labels_array([-1, 2**63 - 1]).dtype == np.int64
    assert labels_array([1, 2**64 - 1]).dtype == np.uint64
    assert labels_array([-1, 2**64 - 1]).tolist() == [-1, 2**64 - 1]  # object, exact
    assert labels_array(["a", "b"]).tolist() == ["a", "b"]
    assert labels_array([True, False]).dtype == bool


def test_csv_labels_up_to_2_to_the_64_are_unsigned_integers(tmp_path):
    from nnclf.data.sources import load_dataset

    rows = ["a,label"] + [f"{i},{v}" for i, v in enumerate([0, 2**64 - 1, 2**63, 0])]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    y = load_dataset(str(tmp_path / "d.csv"), target="label").y
    assert y.dtype == np.uint64 and y.tolist() == [0, 2**64 - 1, 2**63, 0]
    (tmp_path / "e.csv").write_text("a,label\n1,-1\n2,18446744073709551615\n")
    assert load_dataset(str(tmp_path / "e.csv"), target="label").y.dtype.kind == "U"


# ----------------------------------------------------------------------------- gradcheck


def gradcheck_leaves(seed):
    rng = np.random.default_rng(seed)
    return {
        "W": rng.normal(size=(4, 3)),
        "x": rng.normal(size=3),
        "b": rng.normal(size=4),
        "V": rng.normal(size=(3, 4)),
        "gamma": rng.normal(size=3),
        "y": np.int64(1),
    }


def tanh_scaled(factor):
    """tanh whose Jacobian is scaled by ``factor`` (1: right)."""
    import nnclf.graph as F

    return F.LocalFunction(
        "my_tanh", np.tanh, jacobians=[lambda h, z: factor * np.diag(np.ravel(1.0 - h * h))]
    )


@pytest.mark.parametrize("seed", range(4))
def test_gradcheck_of_a_float32_graph_agrees_when_right_and_fails_when_wrong(seed):
    from notes_reference import notes_network

    from nnclf.graph.gradcheck import gradcheck_modes

    right = notes_network(tanh_scaled(1.0)).astype(np.float32)
    wrong = notes_network(tanh_scaled(1.01)).astype(np.float32)  # 1% off
    assert right.dtype == np.float32 and right.edges == notes_network(tanh_scaled(1.0)).edges
    values = gradcheck_leaves(seed)
    for mode, report in gradcheck_modes(right, values).items():
        assert report.ok, (mode, str(report))
    for mode, report in gradcheck_modes(wrong, values).items():
        assert not report.ok and not report["W"].ok and report["V"].ok, mode
        assert report["W"].max_rel_error == pytest.approx(0.01, rel=0.05)


@pytest.mark.slow
def test_nnclf_gradcheck_in_float32_says_all_agree(tmp_path):
    import subprocess

    (tmp_path / "c.yaml").write_text(
        "data:\n  source: sklearn:iris\nmodel:\n  hidden_units: 5\n  dtype: float32\n"
    )
    done = subprocess.run(
        ["nnclf", "gradcheck", str(tmp_path / "c.yaml")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "all agree"


# ----------------------------------------------------------------------------- divergence


def diverging_fit():
    from nnclf.graph.network import Network
    from nnclf.training.trainer import Trainer

    X, y = iris()
    settings = SGDSettings(steps=300, schedule={"name": "constant", "eta0": 1e30})
    trainer = Trainer(Network(4, 3, 3, "identity", seed=0), settings, seed=0, progress="none")
    with pytest.raises(Exception) as e:
        trainer.fit(100 * X, y)
    return e.value


def test_the_trainer_says_what_it_kept_and_a_caller_that_keeps_nothing_says_only_that():
    from nnclf.errors import DivergenceError

    e = diverging_fit()
    assert isinstance(e, DivergenceError) and e.kept in str(e)
    assert e.kept.startswith("the parameters ") and ("kept" in e.kept or "restored" in e.kept)
    told = e.keeping("nothing was written")
    assert str(told) == str(e).replace(e.kept, "nothing was written")
    assert "kept" not in str(told) and "restored" not in str(told)
    assert str(told.keeping("nothing was written")) == str(told)  # told once
    assert str(DivergenceError("x").keeping("nothing was written")) == "x; nothing was written"


@pytest.mark.slow
def test_nnclf_train_that_diverges_says_nothing_was_written_and_nothing_else(tmp_path):
    import subprocess

    (tmp_path / "c.yaml").write_text(
        "data:\n  source: sklearn:iris\n  standardize: false\nmodel:\n  hidden_units: 5\n"
        "  transfer: identity\ntrain:\n  schedule: {name: constant, eta0: 1.0e+30}\n"
    )
    done = subprocess.run(
        ["nnclf", "train", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("nnclf: error: training diverged at step ")
    assert "; nothing was written. Try a smaller step size (schedule eta0, now 1e+30)" in last
    assert "kept" not in last and "restored" not in last
    assert not (tmp_path / "run").exists()


# ----------------------------------------------------------------------------- engine


def test_line_progress_says_once_which_engine_runs_and_the_result_records_it(capsys):
    from nnclf.graph.network import Network
    from nnclf.training.trainer import Trainer

    X, y = iris()
    settings = SGDSettings(epochs=3, engine="numpy")
    trainer = Trainer(Network(4, 3, 3, seed=0), settings, seed=0, progress="lines")
    result = trainer.fit(X, y)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "engine: numpy (train.engine is numpy)"
    assert sum(line.startswith("engine:") for line in lines) == 1
    assert [line.split()[:2] for line in lines[1:]] == [["step", str(150 * k)] for k in (1, 2, 3)]
    assert result.engine == "numpy"
    Trainer(Network(4, 3, 3, seed=0), settings, seed=0, progress="none").fit(X, y)
    assert capsys.readouterr().err == ""


def test_the_estimator_records_its_engine():
    X, y = iris()
    clf = NNClassifier(hidden_units=3, epochs=1, engine="numpy", random_state=0)
    assert not hasattr(clf, "engine_")
    assert clf.fit(X, y).engine_ == "numpy"


def test_a_run_records_its_engine_in_metrics_json_and_info_shows_it(tmp_path):
    from nnclf.config.load import config_from_dict
    from nnclf.runs import run
    from nnclf.runs.card import format_card, model_card

    cfg = config_from_dict(
        {"data": {"source": "sklearn:iris"}, "model": {"hidden_units": 3}, "train": {"epochs": 1}}
    )
    outcome = run.train(cfg, tmp_path / "r", quiet=True)
    metrics = json.loads((outcome.run_dir / "metrics.json").read_text())
    assert metrics["engine"] == "numpy"  # auto: a short run stays on numpy
    card = model_card(outcome.run_dir)
    assert card["training"]["run_engine"] == "numpy"
    assert "run_engine" in format_card(card)


# ----------------------------------------------------------------------------- evaluate


def cli(capsys, *args):
    from nnclf.cli import main

    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_evaluate_before_training_says_there_is_no_run_and_how_to_make_one(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    for command in (["evaluate", "runs/iris"], ["predict", "runs/iris", "--data", "x.csv"]):
        code, out, err = cli(
            capsys, *command, *(["--out", "p.csv"] if "predict" in command else [])
        )
        assert (code, out) == (2, "")
        assert err == (
            "nnclf: error: runs/iris: there is no run directory or model file here; train "
            "one with: nnclf train CONFIG --out runs/iris\n"
        )


def test_evaluate_warns_when_the_data_is_the_runs_own_and_only_then(tmp_path, capsys):
    from nnclf.config.load import config_from_dict
    from nnclf.runs import run

    cfg = config_from_dict(
        {"data": {"source": "sklearn:iris"}, "model": {"hidden_units": 3}, "train": {"epochs": 1}}
    )
    outcome = run.train(cfg, tmp_path / "r", quiet=True)
    train_rows = len(run.load_splits(cfg).X_train)
    warning = (
        f"nnclf: warning: --data sklearn:iris is the data this run was trained on (the same "
        f"fingerprint), so {train_rows} of its 150 rows are training rows and the scores "
        "overstate how the model does on new data; leave out --data to score the run's test "
        "split\n"
    )
    for target in (outcome.run_dir, outcome.run_dir / "model.npz"):
        code, out, err = cli(capsys, "evaluate", target, "--data", "sklearn:iris")
        assert code == 0 and err == warning and "accuracy" in out
    code, _, err = cli(capsys, "evaluate", outcome.run_dir)  # its test split: no warning
    assert code == 0 and err == ""
    X, y = iris()
    other = tmp_path / "other.csv"  # the same rows but one: other data
    rows = ["sepal length (cm),sepal width (cm),petal length (cm),petal width (cm),target"]
    rows += [",".join(map(str, [*x, t])) for x, t in zip(X[1:], y[1:])]
    other.write_text("\n".join(rows) + "\n")
    code, _, err = cli(capsys, "evaluate", outcome.run_dir, "--data", other)
    assert code == 0 and "warning" not in err, err


def test_a_nan_best_in_an_older_checkpoint_is_forgotten():
    s = plateau(1.0, patience=1)
    s.load_state_dict({"reductions": 0, "best": NAN, "bad_evals": 0})
    assert s.state["best"] is None and not s.observe(3.0) and s.state["best"] == 3.0
    stopper = EarlyStopper(EarlyStopping("val_loss", patience=1))
    stopper.load_state_dict({"best_score": NAN, "best_step": 10, "bad_evals": 0})
    assert not stopper.update(3.0, 20) and stopper.best_score == 3.0


@pytest.mark.slow
def test_uint64_labels_come_back_exactly_from_nnclf_predict_and_evaluate(tmp_path):
    import subprocess

    X, y = iris()
    labels = BIG[y]
    rows = ["a,b,c,d,label"] + [",".join([*map(str, x), str(v)]) for x, v in zip(X, labels)]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "c.yaml").write_text(
        f"data:\n  source: {tmp_path / 'd.csv'}\n  target: label\nmodel:\n  hidden_units: 5\n"
        "train:\n  epochs: 5\n"
    )

    def nnclf(*args):
        done = subprocess.run(["nnclf", *map(str, args)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    nnclf("train", tmp_path / "c.yaml", "--out", tmp_path / "run")
    nnclf("predict", tmp_path / "run", "--data", tmp_path / "d.csv", "--out", tmp_path / "p.csv")
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert lines[0] == f"label,p_0,p_{2**63},p_{2**64 - 1}"
    assert {line.split(",")[0] for line in lines[1:]} <= {"0", str(2**63), str(2**64 - 1)}
    scores = json.loads(nnclf("evaluate", tmp_path / "run", "--json"))
    assert [c["label"] for c in scores["per_class"]] == [0, 2**63, 2**64 - 1]


def test_class_and_sample_weights_whose_product_overflows_keep_their_ratios():
    from nnclf.training.weights import example_weights

    y = np.array([0, 1, 1, 0])
    w = example_weights(y, np.array([0, 1]), {1: 1e300}, sample_weight=[1.0, 1e10, 2e10, 4.0])
    assert np.isfinite(w).all() and w[2] == 2 * w[1] and w[3] == 4 * w[0]
    assert np.log(w[1]) - np.log(w[0]) == pytest.approx(310 * np.log(10), rel=1e-12)
