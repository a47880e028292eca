"""Parquet sources (nnclf.data.sources, nnclf.data.tables through pyarrow): the same column options
and errors as a CSV, a corrupt file and a missing pyarrow as one error line, and
``nnclf predict/evaluate --data file.parquet``. Skipped when pyarrow is not installed
(``pip install "nnclf[parquet]"``)."""

import sys

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from nnclf.cli import main  # noqa: E402
from nnclf.data.sources import load_dataset, load_features  # noqa: E402
from nnclf.errors import DataError  # noqa: E402
from nnclf.export.trained import TrainedModel  # noqa: E402

RNG = np.random.default_rng(0)
N = 60
A, B = RNG.normal(size=N), RNG.normal(size=N)
LABELS = np.where(A + B > 0, "pos", "neg")


def write(tmp_path, columns: dict, name="d.parquet") -> str:
    path = tmp_path / name
    pq.write_table(pa.table(columns), path)
    return str(path)


def frame(**more) -> dict:
    return {
        "id": [f"r{i}" for i in range(N)],
        "a": A,
        "b": B.astype(np.float32),
        "n": np.arange(N, dtype=np.int16),
        "flag": np.arange(N) % 2 == 0,
        "label": LABELS,
        **more,
    }


def test_a_parquet_table_reads_like_a_csv(tmp_path):
    path = write(tmp_path, frame())
    ds = load_dataset(path, drop=["id"])
    assert ds.feature_names == ("a", "b", "n", "flag")
    expected = np.column_stack([A, B.astype(np.float32), np.arange(N), np.arange(N) % 2 == 0])
    assert ds.X.dtype == np.float64 and np.array_equal(ds.X, expected)
    assert ds.y.tolist() == LABELS.tolist()
    ds = load_dataset(path, features=["b", "a"], target="n")
    np.testing.assert_array_equal(ds.X, np.column_stack([B.astype(np.float32), A]))
    assert ds.y.dtype.kind == "i" and ds.y.tolist() == list(range(N))


@pytest.mark.parametrize(
    "columns, options, message",
    [
        (
            frame(),
            {},
            "source: {path} column 'id' holds string values, not numbers; make it "
            "categorical (data.categorical: auto, or list it), or leave it out with data.drop",
        ),
        (
            frame(),
            {"features": ["a", "bb"]},
            "features: column 'bb' not in {path} (did you mean "
            "'b'?); its columns are id, a, b, n, flag, label",
        ),
        (frame(), {"drop": ["id", "label"]}, "drop: 'label' is the label column"),
        (
            frame(),
            {"target": "lable", "drop": ["id"]},
            "target: column 'lable' not in {path}; "
            "columns are id, a, b, n, flag, label; did "
            "you mean 'label'?",
        ),
        (
            {"a": pa.array([1.0, None, 3.0]), "y": ["x", "z", "x"]},
            {},
            "source: {path} column 'a' has an empty cell at row 1 (0-based); fill it or remove the row",
        ),
        (
            {"a": [1.0, np.nan, 3.0], "y": ["x", "z", "x"]},
            {},
            "source: {path} column 'a' has non-finite value nan at row 1 (0-based); feature columns "
            "must hold finite numbers",
        ),
        (
            {"a": [1.0, 2.0, 3.0], "y": pa.array(["x", None, "z"])},
            {},
            "target: {path} column 'y' has an empty label at row 1 (0-based); fill it or remove the "
            "row",
        ),
        ({"a": [1.0, 2.0], "y": ["x", "x"]}, {}, "has only one class ('x')"),
        (
            {"a": pa.array([], pa.float64()), "y": pa.array([], pa.string())},
            {},
            "source: {path} has no rows",
        ),
    ],
)
def test_parquet_errors_name_the_column_and_the_fix(tmp_path, columns, options, message):
    path = write(tmp_path, columns)
    with pytest.raises(DataError) as e:  # (text columns and missing values as errors)
        load_dataset(path, categorical="none", missing="error", **options)
    assert message.format(path=path) in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("cut", [0, 5, 100, -20])
def test_a_corrupt_parquet_file_is_one_data_error(tmp_path, cut):
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table(frame()), path)
    raw = path.read_bytes()
    path.write_bytes(raw[:cut] if cut >= 0 else raw[:cut] + b"\x00" * 20)
    with pytest.raises(
        DataError,
        match=r"^source: .*d\.parquet is not a readable Parquet file "
        r"\(.*\); check that it is the file you meant",
    ):
        load_dataset(str(path), drop=["id"])


def test_without_pyarrow_the_error_names_the_extra(tmp_path, monkeypatch):
    path = write(tmp_path, frame())
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(DataError) as e:
        load_dataset(path)
    assert str(e.value) == (
        'source: reading .parquet files needs pyarrow; install it with pip install "nnclf[parquet]"'
    )


def test_load_features_matches_names_and_finds_the_label_column(tmp_path):
    path = write(tmp_path, {"b": B, "x": A * 0, "a": A, "label": LABELS})
    X, y, names = load_features(path, ("a", "b"), target="label")
    np.testing.assert_array_equal(X, np.column_stack([A, B]))
    assert names == ("a", "b") and y.tolist() == LABELS.tolist()
    X, y, names = load_features(
        write(tmp_path, {"b": B, "a": A, "label": LABELS}, "e.parquet"), ("a", "b")
    )
    assert y.tolist() == LABELS.tolist()  # the one column that is not a feature
    with pytest.raises(
        DataError,
        match=r"has 1 of the model's 2 features but no column named "
        r"b \(its other columns: x, label\)",
    ):
        load_features(write(tmp_path, {"x": B, "a": A, "label": LABELS}, "f.parquet"), ("a", "b"))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    ws = tmp_path_factory.mktemp("parquet")
    write(ws, frame(), "train.parquet")
    (ws / "c.yaml").write_text(
        "data: {source: train.parquet, features: [b, a]}\n"
        "model: {hidden_units: 4}\ntrain: {epochs: 3}\n"
    )
    assert main(["train", str(ws / "c.yaml"), "--out", str(ws / "run"), "--quiet"]) == 0
    return ws


def test_train_predict_and_evaluate_on_parquet(run, tmp_path, capsys):
    model = TrainedModel.load(run / "run" / "model.npz")
    assert model.feature_names == ("b", "a")
    new = write(tmp_path, {"a": A, "label": LABELS, "b": B.astype(np.float32)}, "new.parquet")
    out = tmp_path / "p.csv"
    assert main(["predict", str(run / "run"), "--data", new, "--out", str(out)]) == 0
    proba = model.predict_proba(np.column_stack([B.astype(np.float32), A]))
    lines = out.read_text().splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == model.classes[
        np.argmax(proba, axis=1)
    ].tolist()
    assert main(["evaluate", str(run / "run"), "--data", new]) == 0
    assert f"{N} examples of" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["predict", "run", "--data", "bad.parquet", "--out", "p.csv"],
            "--data: bad.parquet is not a readable Parquet file",
        ),
        (
            ["evaluate", "run", "--data", "bad.parquet"],
            "--data: bad.parquet is not a readable Parquet",
        ),
        (["train", "bad.yaml"], "data.source: "),
        (
            ["predict", "run", "--data", "few.parquet", "--out", "p.csv"],
            "--data: few.parquet has 1 columns besides the labels but the model expects 2 features",
        ),
    ],
)
def test_bad_parquet_input_is_one_line_exit_2(run, tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(run)
    (run / "bad.parquet").write_bytes(b"PAR1 not really")
    (run / "bad.yaml").write_text("data: {source: bad.parquet}\n")
    write(run, {"c": A}, "few.parquet")
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("nnclf: error: ") and err.count("\n") == 1
    assert message in err, err
    assert not (run / "p.csv").exists()


def test_evaluate_finds_the_configured_label_column_among_extra_columns(tmp_path, capsys):
    write(tmp_path, frame(), "train.parquet")
    (tmp_path / "c.yaml").write_text(
        "data: {source: train.parquet, target: label, "
        "features: [a, b]}\nmodel: {hidden_units: 3}\n"
        "train: {epochs: 1}\n"
    )
    assert main(["train", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "r"), "--quiet"]) == 0
    new = write(tmp_path, frame(extra=np.ones(N)), "new.parquet")  # id, n, flag, extra besides
    assert main(["evaluate", str(tmp_path / "r"), "--data", new]) == 0
    assert f"{N} examples of" in capsys.readouterr().out
