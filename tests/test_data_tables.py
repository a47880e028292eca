"""nnclf.data.tables, the one reader of tabular files, and what reads through it: the training
delimiter and encoding used for new data unless ``--delimiter``/``--encoding`` say otherwise,
``nnclf predict --keep``, predictions counted by rows, folder and Parquet sources named
precisely, encodings that cannot decode text, and features near 1e300 standardised.

Expected values come from the files as written here (by csv and numpy, not by nnclf), and
messages are compared whole."""

import csv
import io
import os

import numpy as np
import pytest
from sklearn.preprocessing import StandardScaler

from nnclf.cli import main
from nnclf.data.preprocessing import Standardizer
from nnclf.data.sources import load_dataset, read_inputs
from nnclf.data.tables import open_table
from nnclf.errors import DataError

RNG = np.random.default_rng(0)
X150 = RNG.normal(size=(150, 2))
LABELS = np.where(X150[:, 0] > 0, "big\nyes", 'small "one"')  # a line break, a quote


def csv_text(delimiter: str, extra=True) -> str:
    """150 rows: an id and a name (when ``extra``), features a and b, a quoted label."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow((["id", "name"] if extra else []) + ["a", "b", "label"])
    for i, (x, label) in enumerate(zip(X150, LABELS)):
        writer.writerow(
            ([f"r{i}", f"n {i}"] if extra else []) + [repr(float(x[0])), repr(float(x[1])), label]
        )
    return out.getvalue()


@pytest.fixture(scope="module")
def piped(tmp_path_factory):
    """A run trained on a '|' CSV (data.delimiter: '|'), and a comma copy of its data."""
    ws = tmp_path_factory.mktemp("piped")
    (ws / "pipe.csv").write_text(csv_text("|"))
    (ws / "comma.csv").write_text(csv_text(","))
    (ws / "c.yaml").write_text(
        'data:\n  source: pipe.csv\n  delimiter: "|"\n  drop: [id, name]\ntrain:\n  steps: 100\n'
    )
    cwd = os.getcwd()
    os.chdir(ws)
    try:
        assert main(["train", "c.yaml", "--out", "run", "--quiet"]) == 0
    finally:
        os.chdir(cwd)
    return ws


def run_cli(ws, monkeypatch, capsys, *args):
    monkeypatch.chdir(ws)
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# ----------------------------------------------------------------------------- the interface


def test_a_table_reads_features_labels_and_kept_text_as_written(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(csv_text(";"))
    table = open_table(str(path))
    assert (table.names, table.delimiter, table.width) == (
        ("id", "name", "a", "b", "label"),
        ";",
        5,
    )
    read = table.read([2, 3], 4, keep=[1, 0])
    np.testing.assert_array_equal(read.X, X150)
    assert read.y.tolist() == LABELS.tolist()
    assert read.kept == {
        "name": [f"n {i}" for i in range(150)],
        "id": [f"r{i}" for i in range(150)],
    }


def test_the_careful_reader_gives_the_fast_readers_columns(tmp_path, monkeypatch):
    from nnclf.data import tables

    path = tmp_path / "t.csv"
    path.write_text(csv_text(","))
    fast = open_table(str(path)).read([2, 3], 4, keep=[0])
    monkeypatch.setattr(tables, "_fast_columns", lambda *args: None)
    careful = open_table(str(path)).read([2, 3], 4, keep=[0])
    np.testing.assert_array_equal(fast.X, careful.X)
    assert fast.y.tolist() == careful.y.tolist() and fast.kept == careful.kept


def test_a_kept_feature_column_is_text_as_written(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,label\n1.50,2,x\n3,4e0,y\n")
    read = open_table(str(path)).read([0, 1], 2, keep=[0, 1])
    assert read.kept == {"a": ["1.50", "3"], "b": ["2", "4e0"]}


# ----------------------------------------------------------------------------- delimiter, encoding


def test_a_header_of_one_field_that_another_delimiter_splits_is_named(piped):
    with pytest.raises(DataError) as e:
        read_inputs(str(piped / "comma.csv"), ["a", "b"], delimiter="|")
    assert str(e.value) == (
        f"delimiter: {piped / 'comma.csv'} has one column when split at '|' (its header is "
        "'id,name,a,b,label'), but ',' splits it into 5; give the delimiter of this file "
        "(--delimiter ',', or data.delimiter in a config)"
    )


def test_predict_reads_new_data_with_the_training_delimiter_unless_told(piped, monkeypatch, capsys):
    code, _, err = run_cli(
        piped, monkeypatch, capsys, "predict", "run", "--data", "comma.csv", "--out", "p.csv"
    )
    assert code == 2 and not (piped / "p.csv").exists()
    assert err.startswith("nnclf: error: --data: comma.csv has one column when split at '|'")
    code, _, err = run_cli(
        piped,
        monkeypatch,
        capsys,
        "predict",
        "run",
        "--data",
        "comma.csv",
        "--delimiter",
        ",",
        "--out",
        "p.csv",
    )
    assert code == 0 and err == "nnclf: wrote 150 predictions to p.csv\n"
    code, _, _ = run_cli(
        piped, monkeypatch, capsys, "predict", "run", "--data", "pipe.csv", "--out", "q.csv"
    )
    assert code == 0
    assert (piped / "p.csv").read_text() == (piped / "q.csv").read_text()


def test_evaluate_takes_a_delimiter(piped, monkeypatch, capsys):
    code, out, _ = run_cli(
        piped,
        monkeypatch,
        capsys,
        "evaluate",
        "run",
        "--data",
        "comma.csv",
        "--delimiter",
        ",",
        "--target",
        "label",
        "--json",
    )
    assert code == 0
    code2, out2, _ = run_cli(
        piped,
        monkeypatch,
        capsys,
        "evaluate",
        "run",
        "--data",
        "pipe.csv",
        "--target",
        "label",
        "--json",
    )
    assert code2 == 0 and out == out2 and '"n_samples": 150' in out


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--delimiter", ",,"],
            "argument --delimiter: expected one character (not a quote), e.g. ';' or '\\t' for a tab, got ',,'",
        ),
        (
            ["--encoding", "rot13"],
            "argument --encoding: 'rot13' is not a text encoding (it turns text into text or bytes into bytes); give one such as utf-8, latin-1 or cp1252",
        ),
        (
            ["--encoding", "klingon"],
            "argument --encoding: unknown text encoding 'klingon'; give one Python knows, e.g. utf-8, latin-1 or cp1252",
        ),
        (
            ["--keep", "idd"],
            "--keep: column 'idd' not in comma.csv (did you mean 'id'?); its columns are id, name, a, b, label",
        ),
        (["--keep", "id", "id"], "--keep names 'id' twice; name each column once"),
    ],
)
def test_bad_reading_options_are_one_line(piped, monkeypatch, capsys, args, message):
    code, out, err = run_cli(
        piped,
        monkeypatch,
        capsys,
        "predict",
        "run",
        "--data",
        "comma.csv",
        "--delimiter",
        ",",
        *args,
        "--out",
        "x.csv",
    )
    assert code == 2 and out == "" and not (piped / "x.csv").exists()
    assert err.startswith("nnclf: error: ") and err.count("\n") == 1 and message in err, err


def test_keep_on_a_source_without_named_columns_is_refused(piped, monkeypatch, capsys):
    code, _, err = run_cli(
        piped,
        monkeypatch,
        capsys,
        "predict",
        "run",
        "--data",
        "sklearn:iris",
        "--keep",
        "id",
        "--out",
        "-",
    )
    assert code == 2
    assert err == (
        "nnclf: error: --keep: only CSV and Parquet sources have named columns to keep, but "
        "the source is 'sklearn:iris'; remove --keep\n"
    )


def test_encodings_that_cannot_decode_text_are_config_errors(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b,label\n1,2,x\n3,4,y\n")
    with pytest.raises(DataError) as e:
        load_dataset(str(path), encoding="rot13")
    assert str(e.value) == (
        "encoding: 'rot13' is not a text encoding (it turns text into text or bytes into "
        "bytes); give one such as utf-8, latin-1 or cp1252"
    )
    from nnclf.data.settings import DataConfig
    from nnclf.errors import ConfigError

    with pytest.raises(ConfigError, match="'rot13' is not a text encoding"):
        DataConfig(source=str(path), encoding="rot13")


def test_utf16_without_a_byte_order_mark_is_one_line(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes("a,b,label\n1,2,x\n3,4,y\n".encode("utf-16-le"))
    with pytest.raises(DataError) as e:
        load_dataset(str(path), encoding="utf-16")
    assert str(e.value) == (
        f"source: {path} cannot be read as utf-16 text (UTF-16 stream does not start with "
        "BOM); give the encoding it is in (data.encoding in a config, --encoding on the "
        "command line), e.g. utf-16-le"
    )
    ds = load_dataset(str(path), encoding="utf-16-le")
    np.testing.assert_array_equal(ds.X, [[1, 2], [3, 4]])


# ----------------------------------------------------------------------------- predict --keep


def test_predict_keeps_columns_first_as_read_and_counts_rows_not_lines(piped, monkeypatch, capsys):
    code, _, err = run_cli(
        piped,
        monkeypatch,
        capsys,
        "predict",
        "run",
        "--data",
        "comma.csv",
        "--delimiter",
        ",",
        "--keep",
        "id",
        "name",
        "--out",
        "k.csv",
        "--force",
    )
    assert code == 0 and err == "nnclf: wrote 150 predictions to k.csv\n"
    with open(piped / "k.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["id", "name", "label", "p_big\nyes", 'p_small "one"']
    assert len(rows) == 151
    assert [r[:2] for r in rows[1:]] == [[f"r{i}", f"n {i}"] for i in range(150)]
    code, _, _ = run_cli(
        piped,
        monkeypatch,
        capsys,
        "predict",
        "run",
        "--data",
        "pipe.csv",
        "--out",
        "plain.csv",
        "--force",
    )
    with open(piped / "plain.csv", newline="") as f:
        assert [r[2:] for r in rows] == list(csv.reader(f))


def test_parquet_keeps_columns_as_text(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "d.parquet"
    table = pa.table({"id": [7, None, 9], "a": [1.0, 2.0, 3.0], "label": ["x", "y", "x"]})
    pq.write_table(table, path)
    inputs = read_inputs(str(path), ["a"], target="label", keep=["id"])
    assert inputs.kept == {"id": ["7", "", "9"]}
    assert inputs.y.tolist() == ["x", "y", "x"]


# ----------------------------------------------------------------------------- Parquet faults


def parquet(tmp_path, **columns):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_arrays(list(columns.values()), names=list(columns)), path)
    return pa, str(path)


@pytest.mark.parametrize(
    "label, message",
    [
        (
            lambda pa: pa.array([[1], [2]]),
            "column 'label' holds list<element: int64> values, which cannot be class labels; store the labels as integers or strings",
        ),
        (
            lambda pa: pa.array([b"\xff", b"\xfe"], pa.binary()),
            "column 'label' holds bytes that are not UTF-8 text; save the labels as strings or integers",
        ),
    ],
)
def test_parquet_labels_that_cannot_be_classes_are_one_line(tmp_path, label, message):
    pa = pytest.importorskip("pyarrow")
    _, path = parquet(tmp_path, a=pa.array([1.0, 2.0]), label=label(pa))
    with pytest.raises(DataError) as e:
        load_dataset(path)
    assert str(e.value).endswith(f"{path} {message}"), str(e.value)


def test_parquet_utf8_bytes_labels_become_strings(tmp_path):
    pa = pytest.importorskip("pyarrow")
    _, path = parquet(
        tmp_path, a=pa.array([1.0, 2.0]), label=pa.array([b"x", "é".encode()], pa.binary())
    )
    assert load_dataset(path).y.tolist() == ["x", "é"]


def test_duplicate_parquet_column_names_are_named(tmp_path):
    pa = pytest.importorskip("pyarrow")
    _, path = parquet(
        tmp_path, a=pa.array([1.0, 2.0]), b=pa.array([1.0, 2.0]), label=pa.array([0, 1])
    )
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(
        pa.Table.from_arrays(
            [pa.array([1.0, 2.0]), pa.array([3.0, 4.0]), pa.array([0, 1])],
            names=["a", "a", "label"],
        ),
        path,
    )
    with pytest.raises(DataError) as e:
        load_dataset(path)
    assert str(e.value) == (
        f"source: {path} names column 'a' twice; write it again with distinct column names"
    )


# ----------------------------------------------------------------------------- folders


def folder(tmp_path, X=None):
    tmp_path.mkdir(exist_ok=True)
    np.save(tmp_path / "y.npy", np.array([0, 1, 0, 1]))
    if X is not None:
        np.save(tmp_path / "X.npy", X)
    return str(tmp_path)


@pytest.mark.parametrize(
    "make, problem",
    [
        (lambda p: (p / "X.npy").mkdir(), "X.npy is a directory, not a .npy file"),
        (
            lambda p: (p / "X.npy").symlink_to("/dev/zero"),
            "X.npy is not a regular file (a FIFO, socket or device)",
        ),
        (
            lambda p: (p / "X.npy").write_bytes(bytes(range(256)) * 3),
            "X.npy is not a .npy file (it does not start as one)",
        ),
    ],
)
def test_an_x_npy_that_is_not_a_npy_file_is_named_as_what_it_is(tmp_path, make, problem):
    path = folder(tmp_path / "f")
    make(tmp_path / "f")
    with pytest.raises(DataError) as e:
        load_dataset(path)
    assert str(e.value).startswith(f"source: folder {path}: {problem}; "), str(e.value)
    assert "np.save('X.npy', a)" in str(e.value)


@pytest.mark.parametrize("dtype", [">f8", ">f4", "<f8"])
def test_float_arrays_of_either_byte_order_are_accepted_and_equal(tmp_path, dtype):
    X = np.arange(8, dtype=np.float64).reshape(4, 2) / 3
    native = load_dataset(folder(tmp_path / "native", X))
    other = load_dataset(folder(tmp_path / "other", X.astype(dtype)))
    np.testing.assert_array_equal(
        other.X[:], native.X[:] if dtype[-1] == "8" else X.astype(dtype).astype(np.float64)
    )


# ----------------------------------------------------------------------------- standardiser


@pytest.mark.parametrize("size", [1e300, 1e-10, 1.0])
def test_the_standardiser_gives_the_statistics_of_scaled_data(size):
    X = RNG.normal(loc=3.0, size=(40, 3))
    reference = StandardScaler().fit(X)
    fitted = Standardizer().fit(X * size)
    np.testing.assert_allclose(fitted.mean_ / size, reference.mean_, rtol=1e-12)
    np.testing.assert_allclose(fitted.scale_ / size, reference.scale_, rtol=1e-12)
    np.testing.assert_allclose(fitted.transform(X * size), reference.transform(X), atol=1e-12)


def test_features_near_1e300_train(tmp_path, monkeypatch, capsys):
    X = RNG.normal(size=(80, 2))
    y = (X[:, 0] > 0).astype(int)
    np.savetxt(
        tmp_path / "huge.csv",
        np.c_[X * 1e300, y],
        delimiter=",",
        header="a,b,label",
        comments="",
        fmt=["%.17g", "%.17g", "%d"],
    )
    (tmp_path / "c.yaml").write_text("data:\n  source: huge.csv\ntrain:\n  steps: 100\n")
    code, out, err = run_cli(
        tmp_path, monkeypatch, capsys, "train", "c.yaml", "--out", "run", "--quiet"
    )
    assert code == 0, err


def test_evaluate_refuses_a_delimiter_without_data(piped, monkeypatch, capsys):
    code, out, err = run_cli(piped, monkeypatch, capsys, "evaluate", "run", "--delimiter", ",")
    assert (code, out) == (2, "")
    assert err == "nnclf: error: --delimiter is for --data; give the data to read with it\n"


# ----------------------------------------------------------------------------- every kind


X30 = RNG.normal(size=(30, 3))
Y30 = np.where(X30[:, 1] > 0, "up", "down")
X8 = RNG.normal(size=(8, 3))
Y8 = np.array(["up", "down"] * 4)


def write_every_kind(tmp_path) -> dict:
    """One data set (X30, Y30; X8, Y8 as the test part of an .npz and a folder) as a CSV, a
    Parquet file, an .npz and a folder; the paths by kind."""
    with open(tmp_path / "d.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["a", "b", "c", "label"])
        writer.writerows([*map(repr, map(float, x)), label] for x, label in zip(X30, Y30))
    paths = {"csv": tmp_path / "d.csv"}
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # (the Parquet case is skipped)
        pass
    else:
        columns = {name: X30[:, j] for j, name in enumerate("abc")}
        pq.write_table(pa.table({**columns, "label": Y30}), tmp_path / "d.parquet")
        paths["parquet"] = tmp_path / "d.parquet"
    np.savez(tmp_path / "d.npz", X=X30, y=Y30, feature_names=list("abc"), X_test=X8, y_test=Y8)
    paths["npz"] = tmp_path / "d.npz"
    (tmp_path / "folder").mkdir()
    for name, a in {"X": X30, "y": Y30, "X_test": X8, "y_test": Y8}.items():
        np.save(tmp_path / "folder" / f"{name}.npy", a)
    paths["folder"] = tmp_path / "folder"
    return paths


@pytest.mark.parametrize("kind", ["csv", "parquet", "npz", "folder"])
def test_every_kind_opens_as_one_table(tmp_path, kind):
    if kind == "parquet":
        pytest.importorskip("pyarrow")
    table = open_table(str(write_every_kind(tmp_path)[kind]))
    names = {"csv": (*"abc", "label"), "npz": tuple("abc"), "folder": None}
    assert (table.kind, table.names) == (kind, names.get(kind, names["csv"]))
    assert table.width == (4 if kind in ("csv", "parquet") else 3)
    # A folder names no columns: they are numbered, as a CSV without a header's are.
    named = kind != "folder"
    assert table.column_names([0, 1, 2]) == (list("abc") if named else ["x0", "x1", "x2"])
    label = 3 if table.width == 4 else "y"
    read = table.read([0, 1, 2], label)
    X = np.asarray(read.X)
    assert X.dtype == np.float64 and np.array_equal(X, X30)  # every float as written
    assert read.y.dtype.kind == "U" and read.y.tolist() == Y30.tolist()
    assert read.kept == {}
    assert table.read([0, 1, 2]).y is None
    if kind != "folder":  # a folder's columns are read all, in order (its rows are mapped)
        assert np.array_equal(table.read([2, 0], label).X, X30[:, [2, 0]])
    test = table.test_part()
    if kind in ("csv", "parquet"):
        assert test is None
    else:
        assert np.array_equal(np.asarray(test.X), X8) and test.y.tolist() == Y8.tolist()


def test_a_folder_stays_memory_mapped_through_the_table(tmp_path):
    from nnclf.data.npyfolder import Rows

    table = open_table(str(write_every_kind(tmp_path)["folder"]))
    for part in (table.read(range(3), "y").X, table.test_part().X):
        assert isinstance(part, Rows)
        assert isinstance(part.array.base, np.memmap) or isinstance(part.array, np.memmap)
    assert np.array_equal(read_inputs(str(tmp_path / "folder")).X.array, X30)
    assert isinstance(load_dataset(str(tmp_path / "folder")).X_test, Rows)


def test_arrays_have_no_columns_to_keep_and_no_encoding(tmp_path):
    paths = write_every_kind(tmp_path)
    for kind in ("npz", "folder"):
        table = open_table(str(paths[kind]), encoding="no-such-codec", delimiter="|")
        with pytest.raises(DataError) as e:
            table.read(range(3), "y", keep=[0])
        assert str(e.value) == (
            f"keep: {paths[kind]} has no named columns to keep (only CSV and Parquet "
            "sources have them); remove --keep"
        )


def test_an_npz_without_labels_opens_unless_they_are_required(tmp_path):
    np.savez(tmp_path / "x.npz", X=X30)
    assert open_table(str(tmp_path / "x.npz")).read(range(3), "y").y is None
    with pytest.raises(DataError, match=r"has no array 'y' \(arrays: X\)"):
        open_table(str(tmp_path / "x.npz"), require_labels=True)
