"""Choosing a CSV's columns: ``data.features``, ``data.drop``, ``data.delimiter`` (tests of
nnclf.data.sources and nnclf.config.settings), a model that keeps its columns' names and finds them again by
name in new data (``nnclf predict`` and ``nnclf evaluate --data``), and every bad input as
one ``nnclf: error:`` line, exit 2, nothing written (the pattern of tests/test_cli.py)."""

import csv
import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import write_file as write

from nnclf.cli import main
from nnclf.config.load import load_config
from nnclf.data.sources import load_dataset, load_features
from nnclf.data.tables import sniff_delimiter
from nnclf.export.trained import TrainedModel

ROOT = Path(__file__).resolve().parent.parent
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def iris_rows():
    with open(ROOT / "data" / "iris.csv", newline="") as f:
        return list(csv.DictReader(f))


def table(columns, rows, delimiter=",") -> str:
    """CSV text of ``columns`` (in that order) of the iris rows, plus an id and a comment."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(columns)
    for i, row in enumerate(rows):
        extra = {"id": f"r{i:03d}", "comment": "looks odd" if i % 7 == 0 else ""}
        writer.writerow([{**row, **extra}[c] for c in columns])
    return out.getvalue()


# ----------------------------------------------------------------------------- choosing columns

MIXED = "id;a;b;note;y\nr1;1.5;2;hello;x\nr2;3;4;;z\nr3;5;6;w;x\n"


def test_drop_leaves_out_the_named_columns(tmp_path):
    ds = load_dataset(write(tmp_path, MIXED), drop=["id", "note"])
    assert ds.feature_names == ("a", "b")
    np.testing.assert_array_equal(ds.X, [[1.5, 2], [3, 4], [5, 6]])
    assert ds.y.tolist() == ["x", "z", "x"]


def test_features_are_taken_in_the_order_given(tmp_path):
    ds = load_dataset(write(tmp_path, MIXED), features=["b", "a"], target="y")
    assert ds.feature_names == ("b", "a")
    np.testing.assert_array_equal(ds.X, [[2, 1.5], [4, 3], [6, 5]])


def test_a_text_column_names_itself_its_line_and_the_fix(tmp_path):
    path = write(tmp_path, MIXED)
    with pytest.raises(ValueError) as e:
        load_dataset(path, categorical="none")
    assert str(e.value) == (
        f"source: {path} column 'id' has non-numeric value 'r1' at line 2; feature columns "
        "must hold finite numbers (fix the row, make the column categorical with "
        "data.categorical: [id] or auto, leave it out with data.drop: [id], or make it the "
        "target)"
    )


@pytest.mark.parametrize(
    "options, message",
    [
        (
            {"features": ["a", "nte"]},
            "features: column 'nte' not in {path} (did you mean 'note'?); "
            "its columns are id, a, b, note, y",
        ),
        (
            {"drop": ["ID"]},
            "drop: column 'ID' not in {path} (did you mean 'id'?); its columns are "
            "id, a, b, note, y",
        ),
        (
            {"features": ["a", "y"]},
            "features: 'y' is the label column (data.target, or the last "
            "column when it is null); remove it from features",
        ),
        (
            {"drop": ["note", "a"], "target": "a"},
            "drop: 'a' is the label column (data.target, or "
            "the last column when it is null); remove it from "
            "drop",
        ),
        ({"features": ["a", "b", "a"]}, "features names 'a' twice; name each column once"),
        (
            {"features": []},
            "features is empty; name at least one column (or null for every column)",
        ),
        (
            {"features": ["a"], "drop": ["id"]},
            "drop cannot be given with features; list the columns "
            "to keep in features, or those to leave out in drop",
        ),
        (
            {"drop": ["id", "a", "b", "note"]},
            "drop: {path} has only the label column 'y' and the "
            "columns in drop; add at least one feature column",
        ),
    ],
)
def test_column_choices_that_cannot_be_met(tmp_path, options, message):
    path = write(tmp_path, MIXED)
    with pytest.raises(ValueError) as e:
        load_dataset(path, **options)
    assert str(e.value) == message.format(path=path)


@pytest.mark.parametrize("key", ["features", "drop"])
def test_only_sources_with_named_columns_take_column_choices(key):
    with pytest.raises(
        ValueError,
        match=rf"^{key}: only CSV and Parquet sources have named "
        rf"columns, but the source is 'sklearn:iris'; "
        rf"remove the {key}$",
    ):
        load_dataset("sklearn:iris", **{key: ["x"]})


# ----------------------------------------------------------------------------- delimiters


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_the_delimiter_is_detected(tmp_path, delimiter):
    rows = iris_rows()[::10]
    path = write(tmp_path, table(FEATURES + ["species"], rows, delimiter))
    assert sniff_delimiter(path) == delimiter
    ds = load_dataset(path)
    assert ds.feature_names == tuple(FEATURES)
    np.testing.assert_array_equal(ds.X, [[float(r[c]) for c in FEATURES] for r in rows])


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a;b,c;y\n1;2,5;x\n3;4,5;z\n", ";"),  # decimal commas: ; splits every line evenly
        ('"a,b";c;y\n1;2;x\n', ";"),  # a quoted comma is no delimiter
        ("a|b|y\n1|2|x\n", ","),  # none of , ; tab: comma, the CSV default
        ("only\n1\n", ","),
        ("a,b;c,y\n1,2;3,x\n", ","),  # ties go to the most fields, then to ,
    ],
)
def test_detection_prefers_the_delimiter_that_splits_every_line_evenly(tmp_path, text, expected):
    assert sniff_delimiter(write(tmp_path, text)) == expected


def test_an_explicit_delimiter_is_used_as_it_is(tmp_path):
    ds = load_dataset(write(tmp_path, "a|b|y\n1|2|x\n3|4|z\n"), delimiter="|")
    assert ds.feature_names == ("a", "b")
    np.testing.assert_array_equal(ds.X, [[1, 2], [3, 4]])


@pytest.mark.parametrize(
    "override, message",
    [
        (
            "data.delimiter='||'",
            "data.delimiter must be one character (not a quote), e.g. ';' or "
            "\"\\t\" for a tab, or null to detect it; got '||'",
        ),
        ("data.delimiter=''", "data.delimiter must be one character (not a quote)"),
        ("data.delimiter=3", "data.delimiter must be one character or null, got 3"),
        ("data.features=a", "data.features must be a list of names or null, got 'a'"),
        ("data.drop={a: 1}", "data.drop must be a list of names or null, got {'a': 1}"),
    ],
)
def test_column_settings_are_checked_with_the_config(tmp_path, override, message):
    with pytest.raises(ValueError) as e:
        load_config(write(tmp_path, "data: {source: sklearn:iris}\n", "c.yaml"), [override])
    assert str(e.value).startswith(message)


def test_column_settings_from_the_command_line(tmp_path):
    cfg = load_config(
        write(tmp_path, "data: {source: sklearn:iris}\n", "c.yaml"),
        ["data.features=[a, b]", 'data.delimiter="\\t"'],
    )
    assert cfg.data.features == ["a", "b"] and cfg.data.delimiter == "\t"


# ----------------------------------------------------------------------------- predict by name


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run trained on semicolon-separated iris with an id and a comment column dropped."""
    ws = tmp_path_factory.mktemp("columns")
    (ws / "train.csv").write_text(
        table(["id", "comment"] + FEATURES + ["species"], iris_rows(), ";")
    )
    (ws / "c.yaml").write_text(
        "data: {source: train.csv, drop: [id, comment]}\n"
        "model: {hidden_units: 5}\ntrain: {epochs: 2}\n"
    )
    assert main(["train", str(ws / "c.yaml"), "--out", str(ws / "run"), "--quiet"]) == 0
    return ws


def test_the_model_keeps_the_chosen_columns(run):
    model = TrainedModel.load(run / "run" / "model.npz")
    assert model.feature_names == tuple(FEATURES)
    assert model.config["data"]["drop"] == ["id", "comment"]


def test_predict_picks_the_models_columns_by_name_in_any_order(run, tmp_path, capsys):
    rows = iris_rows()
    shuffled = [
        "comment",
        "petal_width",
        "species",
        "sepal_width",
        "id",
        "petal_length",
        "sepal_length",
    ]
    (tmp_path / "new.csv").write_text(table(shuffled, rows))
    out = tmp_path / "p.csv"
    assert (
        main(["predict", str(run / "run"), "--data", str(tmp_path / "new.csv"), "--out", str(out)])
        == 0
    )
    model = TrainedModel.load(run / "run" / "model.npz")
    X = np.array([[float(r[c]) for c in FEATURES] for r in rows])
    expected = model.classes[np.argmax(model.predict_proba(X), axis=1)]
    with open(out, newline="") as f:
        assert [r["label"] for r in csv.DictReader(f)] == expected.tolist()
    X_read, y, names = load_features(str(tmp_path / "new.csv"), FEATURES, target="species")
    np.testing.assert_array_equal(X_read, X)
    assert names == tuple(FEATURES) and y.tolist() == [r["species"] for r in rows]


def test_evaluate_reads_extra_columns_by_name(run, tmp_path, capsys):
    (tmp_path / "new.csv").write_text(
        table(["id"] + FEATURES[::-1] + ["species", "comment"], iris_rows())
    )
    assert (
        main(
            [
                "evaluate",
                str(run / "run"),
                "--data",
                str(tmp_path / "new.csv"),
                "--target",
                "species",
            ]
        )
        == 0
    )
    assert "150 examples of" in capsys.readouterr().out


def test_evaluate_finds_the_label_column_of_new_data_in_the_training_delimiter(
    run, tmp_path, capsys
):
    """The run was trained on ';' with the label in the last column (data.target null): new
    data with the features and the label, also ';'-separated, needs no --target."""
    (tmp_path / "new.csv").write_text(table(FEATURES[::-1] + ["species"], iris_rows(), ";"))
    assert main(["evaluate", str(run / "run"), "--data", str(tmp_path / "new.csv")]) == 0
    assert "150 examples of" in capsys.readouterr().out


def test_a_delimiter_set_for_training_reads_new_data_too(tmp_path, capsys):
    (tmp_path / "train.csv").write_text(table(FEATURES + ["species"], iris_rows(), "|"))
    (tmp_path / "c.yaml").write_text(
        'data: {source: train.csv, delimiter: "|"}\nmodel: {hidden_units: 3}\ntrain: {epochs: 1}\n'
    )
    assert main(["train", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "r"), "--quiet"]) == 0
    (tmp_path / "new.csv").write_text(table(FEATURES[::-1], iris_rows()[:7], "|"))
    assert (
        main(
            [
                "predict",
                str(tmp_path / "r"),
                "--data",
                str(tmp_path / "new.csv"),
                "--out",
                str(tmp_path / "p.csv"),
            ]
        )
        == 0
    )
    assert len((tmp_path / "p.csv").read_text().splitlines()) == 8
    assert main(["evaluate", str(tmp_path / "r"), "--data", str(tmp_path / "train.csv")]) == 0
    assert "150 examples of" in capsys.readouterr().out


# ----------------------------------------------------------------------------- bad input

TRAIN = "data: {{source: {source}{more}}}\nmodel: {{hidden_units: 3}}\ntrain: {{epochs: 1}}\n"

# name: (files, arguments, text the one line must contain)
BAD_INPUTS = {
    "a feature that is not a column": (
        {"c.yaml": TRAIN.format(source="d.csv", more=", features: [a, bb]"), "d.csv": MIXED},
        ["train", "c.yaml"],
        "data.features: column 'bb' not in ",
    ),
    "a dropped column that is not a column": (
        {"c.yaml": TRAIN.format(source="d.csv", more=", drop: [idd]"), "d.csv": MIXED},
        ["train", "c.yaml"],
        "(did you mean 'id'?); its columns are id, a, b, note, y",
    ),
    "the target among the features": (
        {"c.yaml": TRAIN.format(source="d.csv", more=", features: [a, y]"), "d.csv": MIXED},
        ["train", "c.yaml"],
        "data.features: 'y' is the label column",
    ),
    "features and drop": (
        {
            "c.yaml": TRAIN.format(source="d.csv", more=", features: [a], drop: [id]"),
            "d.csv": MIXED,
        },
        ["train", "c.yaml"],
        "data.drop cannot be given with features",
    ),
    "a text column": (
        {"c.yaml": TRAIN.format(source="d.csv", more=", categorical: none"), "d.csv": MIXED},
        ["train", "c.yaml"],
        "column 'id' has non-numeric value 'r1' at line 2; feature "
        "columns must hold finite numbers (fix the row, make the column categorical with "
        "data.categorical: [id] or auto, leave it out with data.drop: [id]",
    ),
    "an unknown delimiter": (
        {"c.yaml": TRAIN.format(source="d.csv", more=", delimiter: tab"), "d.csv": MIXED},
        ["train", "c.yaml"],
        "data.delimiter must be one character",
    ),
    "a wrong delimiter": (
        {"c.yaml": TRAIN.format(source="d.csv", more=", delimiter: ','"), "d.csv": MIXED},
        ["train", "c.yaml"],
        "has one column when split at ',' (its header is 'id;a;b;note;y'), but ';' splits it into 5",
    ),
    "features that are not a list": (
        {"c.yaml": TRAIN.format(source="d.csv", more=""), "d.csv": MIXED},
        ["train", "c.yaml", "--set", "data.features=a"],
        "data.features must be a list of names or null",
    ),
    "mismatched row counts": (
        {
            "c.yaml": TRAIN.format(source="d.csv", more=", drop: [id, note]"),
            "d.csv": MIXED + "r4;7;8;q\n",
        },
        ["train", "c.yaml"],
        "d.csv line 5 has 4 fields but the header has 5; fix that row",
    ),
    "predict on a csv missing a feature": (
        {"new.csv": "sepal_length;petal_length;petal_width;species\n1;2;3;setosa\n"},
        ["predict", "run", "--data", "new.csv", "--out", "p.csv"],
        "--data: new.csv has 3 of the model's 4 features but no column named sepal_width",
    ),
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_gives_one_line_and_writes_nothing(name, run, tmp_path, monkeypatch, capsys):
    files, args, text = BAD_INPUTS[name]
    shutil.copytree(run / "run", tmp_path / "run")
    for rel, content in files.items():
        (tmp_path / rel).write_text(content)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    monkeypatch.chdir(tmp_path)
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith("nnclf: error: ") and err.count("\n") == 1, err
    assert text in err, err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_predict_detects_the_delimiter_of_new_data(run, tmp_path):
    rows = iris_rows()[:5]
    (tmp_path / "new.csv").write_text(table(FEATURES[::-1], rows, "\t"))
    X, y, names = load_features(str(tmp_path / "new.csv"), FEATURES)
    np.testing.assert_array_equal(X, [[float(r[c]) for c in FEATURES] for r in rows])
    assert y is None and names == tuple(FEATURES)
