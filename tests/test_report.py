"""nnclf.runs.report: the texts the commands print (checked against the
examples of docs/commands.md, written by hand), gradcheck's verdict, the run files plot reads, the
evaluation data (refused when the run's data changed) and the note when columns are matched
by position."""

import json
from pathlib import Path

import numpy as np
import pytest

from nnclf.config.load import config_from_dict
from nnclf.errors import DataError, RunError
from nnclf.graph.gradcheck import GradcheckReport, LeafCheck
from nnclf.runs import report
from nnclf.runs.run import RunOutcome

# ----------------------------------------------------------------------------- the commands' texts


def _scores(n, accuracy, log_loss, macro_f1):
    return {"n_samples": n, "accuracy": accuracy, "log_loss": log_loss, "macro_f1": macro_f1}


# nnclf train configs/digits.yaml, as docs/commands.md and docs/getting-started.md show it
README_TRAIN = """\
finished 12930 steps in 0.3 s
             examples  accuracy  log-loss  macro F1
train            1293    1.0000    0.0032    1.0000
validation        144    0.9514    0.2116    0.9513
test              360    0.9750    0.0934    0.9752
run: runs/digits (config.yaml, model.npz, history.csv, metrics.json, checkpoint.npz)
next: nnclf evaluate runs/digits"""


def test_training_summary_is_the_readme_text():
    metrics = {
        "train": _scores(1293, 1.0, 0.0032, 1.0),
        "validation": _scores(144, 0.9514, 0.2116, 0.9513),
        "test": _scores(360, 0.975, 0.0934, 0.9752),
        "best_step": None,
    }
    outcome = RunOutcome(Path("runs/digits"), "finished", 12930, 12930, "completed", 0.31, metrics)
    assert report.format_training(outcome) == README_TRAIN


def test_training_summary_of_an_early_stopped_resumed_run_without_validation():
    metrics = {
        "train": _scores(120, 0.95, 0.356, 0.95),
        "validation": None,
        "test": _scores(30, 0.9333, 0.3447, 0.9327),
        "best_step": 200,
    }
    outcome = RunOutcome(Path("r"), "finished", 240, 1000, "early_stopping", 2.04, metrics)
    assert report.format_training(outcome, resumed=True).splitlines()[:4] == [
        "resumed and finished 240 steps in 2.0 s, early stopping (best step 200)",
        "             examples  accuracy  log-loss  macro F1",
        "train             120    0.9500    0.3560    0.9500",
        "test               30    0.9333    0.3447    0.9327",
    ]


# nnclf evaluate runs/iris, as docs/commands.md shows it
README_EVALUATE = """\
model             runs/iris/model.npz
data              the run's test split: 30 examples of data/iris.csv
accuracy          0.9667
balanced accuracy 0.9667
log-loss          0.0504
macro F1          0.9666

class       precision  recall     f1  support
setosa          1.000   1.000  1.000       10
versicolor      0.909   1.000  0.952       10
virginica       1.000   0.900  0.947       10

confusion matrix (rows: true class, columns: predicted class)
            setosa  versicolor  virginica
setosa          10           0          0
versicolor       0          10          0
virginica        0           1          9"""


def test_evaluate_report_is_the_readme_text():
    per_class = [
        {"label": "setosa", "precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 10},
        {"label": "versicolor", "precision": 10 / 11, "recall": 1.0, "f1": 20 / 21, "support": 10},
        {"label": "virginica", "precision": 1.0, "recall": 0.9, "f1": 18 / 19, "support": 10},
    ]
    scores = {
        "accuracy": 29 / 30,
        "balanced_accuracy": (1 + 1 + 0.9) / 3,
        "log_loss": 0.0504,
        "macro_f1": 0.9666,
        "per_class": per_class,
        "confusion_matrix": [[10, 0, 0], [0, 10, 0], [0, 1, 9]],
        "n_samples": 30,
    }
    heading = [
        ("model", "runs/iris/model.npz"),
        ("data", "the run's test split: 30 examples of data/iris.csv"),
    ]
    assert report.format_report(scores, heading) == README_EVALUATE


# ----------------------------------------------------------------------------- gradcheck


CFG = config_from_dict({"data": {"source": "sklearn:iris"}, "model": {"hidden_units": 2}})


def test_gradcheck_agrees_and_its_table_lines_up():
    text, ok = report.gradcheck(CFG, n_examples=1)
    lines = text.splitlines()
    assert ok and lines[-1] == "all agree"
    assert lines[0] == (
        "gradcheck: 1 training examples of sklearn:iris, network d=4 m=2 K=3 "
        "(tanh), each mode against central finite differences"
    )
    header, rows = lines[1], lines[2:-1]
    assert len(rows) == 3 * 4  # three modes, four parameters
    # right-aligned numbers end where their heading ends
    for heading in ("entries", "max abs err", "max rel err"):
        end = header.index(heading) + len(heading)
        assert all(row[end - 1] != " " and row[end] == " " for row in rows), heading


def test_gradcheck_reports_the_worst_example_and_a_disagreement(monkeypatch):
    errors = iter([(1e-9, True), (2e-3, False)])

    def fake_modes(graph, values, wrt):
        abs_err, ok = next(errors)
        return {"vjp": GradcheckReport([LeafCheck("W", abs_err, 10 * abs_err, ok, 8)])}

    monkeypatch.setattr("nnclf.graph.gradcheck.gradcheck_modes", fake_modes)
    text, ok = report.gradcheck(CFG, n_examples=2)
    assert not ok
    assert text.splitlines()[1:] == [
        "mode  param  entries  max abs err  max rel err  ok",
        "vjp   W            8    2.000e-03    2.000e-02  NO",
        "DISAGREEMENT: backpropagation and finite differences differ (see 'NO' rows)",
    ]


# ----------------------------------------------------------------------------- plot's run files


def _run_dir(tmp_path, history, metrics='{"classes": ["a", "b"], "test": null}'):
    (tmp_path / "history.csv").write_text(history)
    (tmp_path / "metrics.json").write_text(metrics)
    return tmp_path


@pytest.mark.parametrize(
    "history, metrics, why",
    [
        (
            "step,epoch,eta,train_loss,val_loss,val_accuracy\n1,0.1,0.1,oops,nan,nan\n",
            None,
            "history.csv: not as nnclf train writes it (could not convert string to float: 'oops')",
        ),
        (
            "step,eta,train_loss\n1,0.1,0.5\n",
            None,
            "history.csv: not as nnclf train writes it (no column 'val_loss')",
        ),
        (
            "step,epoch,eta,train_loss,val_loss,val_accuracy\n",
            "[1, 2]",
            "metrics.json: not as nnclf train writes it (no classes)",
        ),
    ],
)
def test_plot_names_a_run_file_it_cannot_read(history, metrics, why, tmp_path):
    run = _run_dir(tmp_path, history, *([metrics] if metrics else []))
    with pytest.raises(RunError) as e:
        report.plot(run)
    assert str(e.value) == f"{run}/{why}; train the run again or restore the file"
    assert sorted(p.name for p in run.iterdir()) == ["history.csv", "metrics.json"]


@pytest.mark.filterwarnings("error")  # no legend without curves
def test_plot_of_a_run_without_evaluations_draws_empty_curves(tmp_path):
    pytest.importorskip("matplotlib")
    run = _run_dir(tmp_path, "step,epoch,eta,train_loss,val_loss,val_accuracy\n")
    assert report.plot(run) == [run / "learning_curves.png"]
    assert (run / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"


def test_history_is_read_back_as_written(tmp_path):
    run = _run_dir(
        tmp_path,
        "step,epoch,eta,train_loss,val_loss,val_accuracy\n"
        "10,0.5,0.1,0.7,nan,nan\n20,1.0,0.05,0.3,0.4,0.75\n",
    )
    history = report._read_history(run / "history.csv")
    assert list(history) == ["step", "epoch", "eta", "train_loss", "val_loss", "val_accuracy"]
    assert history["step"].tolist() == [10, 20]
    assert np.isnan(history["val_loss"][0]) and history["val_accuracy"][1] == 0.75


# ----------------------------------------------------------------------------- evaluate, predict


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory):
    """A finished run on a CSV copy of iris: (its directory, the CSV)."""
    from sklearn.datasets import load_iris

    from nnclf.runs import run

    root = tmp_path_factory.mktemp("csv_run")
    frame = load_iris(as_frame=True).frame
    frame.columns = ["a", "b", "c", "d", "target"]
    frame.to_csv(root / "iris.csv", index=False)
    cfg = config_from_dict(
        {
            "data": {"source": str(root / "iris.csv")},
            "model": {"hidden_units": 3},
            "train": {"epochs": 1},
        }
    )
    run.train(cfg, root / "run", quiet=True)
    return root / "run", root / "iris.csv"


def test_evaluate_refuses_a_test_split_of_data_that_changed_since_training(csv_run, tmp_path):
    from nnclf.runs.run import open_model

    run_dir, data = csv_run
    model, _, _ = open_model(run_dir)
    X, y, what = report.evaluation_data(model, run_dir, None)
    assert len(X) == 30 and what.startswith("the run's test split: 30 examples of")
    original = data.read_text()
    lines = original.splitlines(keepends=True)
    try:
        data.write_text(lines[0] + "".join(reversed(lines[1:])))  # the same rows, reordered
        with pytest.raises(DataError) as e:
            report.evaluation_data(model, run_dir, None)
        assert str(e.value) == (
            f"the data {data} has changed since the run was trained (the same 150 rows, but "
            "other values or another order), so its test split re-created now would not be the "
            "one held out in training (it could hold training rows); evaluate on data of your "
            "choice with --data SOURCE"
        )
        X, y, _ = report.evaluation_data(model, run_dir, str(data))  # --data: as asked
        assert len(X) == 150
    finally:
        data.write_text(original)


def test_a_model_file_alone_refuses_a_test_split_of_data_that_changed(csv_run, tmp_path):
    # The model file carries the fingerprint too, so evaluating it without its run directory
    # (as nnclf evaluate run/model.npz does) is checked the same way.
    from nnclf.runs.run import open_model

    run_dir, data = csv_run
    model, _, found_dir = open_model(run_dir / "model.npz")
    assert found_dir is None and model.data is not None
    assert len(report.evaluation_data(model, None, None)[0]) == 30
    original = data.read_text()
    try:
        data.write_text(original + original.splitlines(keepends=True)[1])  # one row added
        with pytest.raises(DataError, match=r"has changed since the run was trained .*--data"):
            report.evaluation_data(model, None, None)
    finally:
        data.write_text(original)


def test_a_run_of_nnclf_0_1_without_a_fingerprint_is_evaluated_as_before(csv_run, tmp_path):
    import shutil

    from nnclf.runs.run import open_model

    run_dir = Path(shutil.copytree(csv_run[0], tmp_path / "old"))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    del metrics["data"]
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    model, _, _ = open_model(run_dir)
    assert len(report.evaluation_data(model, run_dir, None)[0]) == 30


def test_a_run_of_nnclf_0_2_is_re_split_as_scikit_learn_split_it(csv_run, tmp_path):
    # Runs made before nnclf drew its own split record no split method with their data: their
    # test split is re-created by scikit-learn's train_test_split, the rows they held out.
    import shutil

    from sklearn.model_selection import train_test_split

    from nnclf.runs.run import open_model

    run_dir, data = csv_run
    assert json.loads((run_dir / "metrics.json").read_text())["data"]["split"] == "nnclf"
    old = Path(shutil.copytree(run_dir, tmp_path / "old"))
    metrics = json.loads((old / "metrics.json").read_text())
    del metrics["data"]["split"]
    (old / "metrics.json").write_text(json.dumps(metrics))
    model, _, _ = open_model(old)
    X_old, y_old, _ = report.evaluation_data(model, old, None)
    table = np.genfromtxt(data, delimiter=",", skip_header=1)
    seed = config_from_dict({"data": {"source": str(data)}}).seed
    _, X_test, _, y_test = train_test_split(
        table[:, :4], table[:, 4].astype(int), test_size=30, random_state=seed, stratify=table[:, 4]
    )
    np.testing.assert_array_equal(X_old, X_test)
    np.testing.assert_array_equal(y_old, y_test)
    X_new, _, _ = report.evaluation_data(model, run_dir, None)
    assert len(X_new) == 30 and not np.array_equal(X_new, X_old)


@pytest.mark.parametrize(
    "header, note",
    [
        ("a,b,c,d", None),  # by name
        ("d,c,b,a", None),  # by name, another order
        (
            "p,q,r,s",
            "has none of the model's feature names, so its columns (p, q, r, s) are taken "
            "in order as a, b, c, d",
        ),
        (None, "has no header, so its columns are taken in order as a, b, c, d"),
    ],
)
def test_predict_says_when_it_takes_columns_in_order(header, note, csv_run, tmp_path):
    from nnclf.runs.run import open_model

    model, _, _ = open_model(csv_run[0])
    rows = "5.1,3.5,1.4,0.2\n6.2,2.9,4.3,1.3\n"
    path = tmp_path / "new.csv"
    path.write_text((header + "\n" if header else "") + rows)
    notes = []
    text = report.predict(model, str(path), notify=notes.append)
    assert notes == ([] if note is None else [f"{path} {note}"])
    assert text.count("\n") == 3


def test_predict_refuses_a_header_with_some_of_the_features(csv_run, tmp_path):
    from nnclf.runs.run import open_model

    model, _, _ = open_model(csv_run[0])
    path = tmp_path / "new.csv"
    path.write_text("a,b,c,dd\n1,2,3,4\n")
    with pytest.raises(
        DataError,
        match=rf"^--data: {path} has 3 of the model's 4 features but "
        r"no column named d \(its other columns: dd\)",
    ):
        report.predict(model, str(path))
