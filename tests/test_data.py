"""Tests for nnclf.data.sources: every source form, splits, standardisation, and the error texts."""

import csv
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import write_file as write
from sklearn.datasets import load_iris

from nnclf.data import tables as datafiles
from nnclf.data.fingerprints import data_changed, fingerprint
from nnclf.data.sources import Dataset, label_text, load_dataset, load_features
from nnclf.errors import DataError

DATA = Path(__file__).resolve().parent.parent / "data"


# ----------------------------------------------------------------------------- sources


@pytest.mark.parametrize(
    "name, shape, n_classes",
    [
        ("iris", (150, 4), 3),
        ("digits", (1797, 64), 10),
        ("wine", (178, 13), 3),
        ("breast_cancer", (569, 30), 2),
    ],
)
def test_sklearn_sources(name, shape, n_classes):
    ds = load_dataset(f"sklearn:{name}")
    assert isinstance(ds, Dataset)
    assert ds.X.shape == shape and ds.X.dtype == np.float64
    assert ds.y.shape == (shape[0],)
    assert len(np.unique(ds.y)) == n_classes
    assert len(ds.feature_names) == shape[1]
    assert all(isinstance(n, str) for n in ds.feature_names)
    assert ds.X_test is None and ds.source == f"sklearn:{name}"


def test_iris_csv_matches_sklearn():
    ds = load_dataset(str(DATA / "iris.csv"))
    assert ds.X.shape == (150, 4)
    assert ds.feature_names == ("sepal_length", "sepal_width", "petal_length", "petal_width")
    classes, counts = np.unique(ds.y, return_counts=True)
    assert list(classes) == ["setosa", "versicolor", "virginica"]
    assert list(counts) == [50, 50, 50]
    iris = load_iris()
    np.testing.assert_array_equal(ds.X, iris.data)
    np.testing.assert_array_equal(ds.y, iris.target_names[iris.target])


def test_xor_csv():
    ds = load_dataset(str(DATA / "xor.csv"))
    assert ds.X.shape == (100, 2) and ds.feature_names == ("x1", "x2")
    assert ds.y.dtype.kind == "i"
    np.testing.assert_array_equal(ds.y, np.logical_xor(ds.X[:, 0], ds.X[:, 1]).astype(int))
    assert len(np.unique(ds.X, axis=0)) == 4


def test_csv_default_target_is_last_column_and_int_labels(tmp_path):
    ds = load_dataset(write(tmp_path, "a,b,c\n1,2.5,0\n3,4,1\n5,6,1\n"))
    np.testing.assert_array_equal(ds.X, [[1, 2.5], [3, 4], [5, 6]])
    np.testing.assert_array_equal(ds.y, [0, 1, 1])
    assert ds.y.dtype.kind == "i" and ds.feature_names == ("a", "b")


def test_csv_target_selects_label_column(tmp_path):
    path = write(tmp_path, "kind,a,b\ncat,1,2\ndog,3,4\n\ncat,5,6\n")
    ds = load_dataset(path, target="kind")
    assert ds.feature_names == ("a", "b")
    np.testing.assert_array_equal(ds.X, [[1, 2], [3, 4], [5, 6]])
    assert list(ds.y) == ["cat", "dog", "cat"]


def test_npz_source_with_test_set_and_names(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "d.npz"
    np.savez(
        path,
        X=rng.normal(size=(10, 3)),
        y=np.arange(10) % 2,
        X_test=rng.normal(size=(4, 3)),
        y_test=np.array([0, 1, 0, 1]),
        feature_names=np.array(["p", "q", "r"]),
    )
    ds = load_dataset(str(path))
    assert ds.X.shape == (10, 3) and ds.y.shape == (10,)
    assert ds.X_test.shape == (4, 3) and ds.y_test.shape == (4,)
    assert ds.feature_names == ("p", "q", "r")


def test_npz_source_minimal_with_string_labels(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.eye(4, dtype=np.int32), y=np.array(["a", "b", "a", "b"]))
    ds = load_dataset(str(path))
    assert ds.X.dtype == np.float64 and ds.feature_names == ("x0", "x1", "x2", "x3")
    assert ds.X_test is None and ds.y_test is None


def test_synthetic_is_deterministic_and_shaped():
    a = load_dataset("synthetic", n_samples=200, n_features=5, n_classes=4, seed=3)
    b = load_dataset("synthetic", n_samples=200, n_features=5, n_classes=4, seed=3)
    assert a.X.shape == (200, 5) and set(a.y) == {0, 1, 2, 3}
    assert a.feature_names == ("x0", "x1", "x2", "x3", "x4")
    np.testing.assert_array_equal(a.X, b.X)
    c = load_dataset("synthetic", n_samples=200, n_features=5, n_classes=4, seed=4)
    assert not np.array_equal(a.X, c.X)


@pytest.mark.parametrize("n_features, n_classes", [(1, 2), (2, 4), (20, 3), (4, 10)])
def test_synthetic_default_n_informative_is_valid(n_features, n_classes):
    ds = load_dataset("synthetic", n_samples=50, n_features=n_features, n_classes=n_classes)
    assert ds.X.shape == (50, n_features) and len(np.unique(ds.y)) == n_classes


# ----------------------------------------------------------------------------- errors

STRICT = {"categorical": "none", "missing": "error"}
"""Text columns and missing values are errors (what every table met before they were read)."""


@pytest.mark.parametrize(
    "text, match",
    [
        ("", r"empty.*header"),
        ("\n\n", r"empty.*header"),
        ("a,b,c\n", r"header but no data rows"),
        ("1,2,0\n3,4,1\n", r"no header.*line 1.*add a first line naming the columns"),
        ("a,b,c\n1,2,0\n3,4\n", r"line 3 has 2 fields but the header has 3"),
        ("a,b,c\n1,2,0\n3,,1\n", r"column 'b' has an empty cell at line 3"),
        ("a,b,c\n1,2,0\n3,4,1\n5,x7,1\n", r"column 'b' has non-numeric value 'x7' at line 4"),
        ("a,b,c\n1,nan,0\n3,4,1\n", r"column 'b' has a missing value 'nan' at line 2"),
        ("a,b,c\n1,2,0\ninf,4,1\n", r"column 'a' has non-finite value 'inf' at line 3"),
        ("a,b,c\n1,2,0\n3,4,\n", r"^target: .*column 'c' has an empty label at line 3"),
        ("a,b,c\n1,2,0\n3,4,0\n", r"only one class.*at least two"),
        ("a,a,c\n1,2,0\n3,4,1\n", r"names column 'a' twice"),
        ("a,,c\n1,2,0\n3,4,1\n", r"empty name for column 2"),
        ("c\n0\n1\n", r"only the label column 'c'"),
    ],
)
def test_csv_errors(tmp_path, text, match):
    with pytest.raises(ValueError, match=match):
        load_dataset(write(tmp_path, text), **STRICT)


def test_csv_error_names_file_and_fix(tmp_path):
    path = write(tmp_path, "a,b,c\n1,zz,0\n3,4,1\n")
    with pytest.raises(ValueError) as e:
        load_dataset(path, **STRICT)
    msg = str(e.value)
    assert msg.startswith("source: ") and path in msg and "\n" not in msg
    assert "or make it the target)" in msg  # the fix: make the column the target


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match=r"^source: file 'nope.csv' not found$"):
        load_dataset("nope.csv")
    with pytest.raises(ValueError, match=r"file '.*gone.npz' not found"):
        load_dataset(str(tmp_path / "gone.npz"))


def test_missing_target_column_lists_columns(tmp_path):
    path = write(tmp_path, "a,b,c\n1,2,0\n3,4,1\n")
    expected = r"^target: column 'foo' not in .*d.csv; columns are a, b, c$"
    with pytest.raises(ValueError, match=expected):
        load_dataset(path, target="foo")
    with pytest.raises(ValueError, match=r"did you mean 'b'"):
        load_dataset(path, target="B")


def test_target_for_non_csv_source():
    with pytest.raises(
        ValueError, match=r"^target: only CSV and Parquet sources.*remove the target$"
    ):
        load_dataset("sklearn:iris", target="species")


def test_unknown_sklearn_name_lists_valid_ones():
    expected = (
        r"unknown scikit-learn dataset 'irs'.*did you mean 'sklearn:iris'"
        r".*iris, digits, wine, breast_cancer"
    )
    with pytest.raises(ValueError, match=expected):
        load_dataset("sklearn:irs")


@pytest.mark.parametrize("source", ["data.txt", "iris", "", "mnist.feather"])
def test_unknown_source_form_names_accepted_forms(source):
    with pytest.raises(ValueError, match=r"sklearn:<name>.*\.csv, \.parquet or \.npz.*'synthetic'"):
        load_dataset(source)


@pytest.mark.parametrize(
    "arrays, match",
    [
        ({"y": np.array([0, 1])}, r"no array 'X' \(arrays: y\).*np.savez"),
        ({"X": np.ones((2, 2))}, r"no array 'y'"),
        ({"X": np.ones(4), "y": np.array([0, 1, 0, 1])}, r"X must be 2-D.*shape \(4,\)"),
        ({"X": np.ones((3, 2)), "y": np.array([0, 1])}, r"3 rows in X but 2 labels in y"),
        ({"X": np.ones((2, 2)), "y": np.array([[0], [1]])}, r"y must be 1-D.*ravel"),
        (
            {"X": np.array([[1.0, np.inf], [0, 0]]), "y": np.array([0, 1])},
            r"non-finite value \(inf\) at row 0, column 1",
        ),
        ({"X": np.array([["a", "b"], ["c", "d"]]), "y": np.array([0, 1])}, r"X must be numeric"),
        ({"X": np.ones((2, 2)), "y": np.array([1, 1])}, r"only one class"),
        (
            {"X": np.ones((2, 2)), "y": np.array([0, 1]), "X_test": np.ones((1, 2))},
            r"only one of X_test and y_test",
        ),
        (
            {
                "X": np.ones((2, 2)),
                "y": np.array([0, 1]),
                "X_test": np.ones((1, 3)),
                "y_test": np.array([0]),
            },
            r"X_test has 3 columns but X has 2",
        ),
        (
            {"X": np.ones((2, 2)), "y": np.array([0, 1]), "feature_names": np.array(["a"])},
            r"1 feature_names but X has 2 columns",
        ),
        ({"X": np.ones((2, 2)), "y": np.array([{}, {}], dtype=object)}, r"object arrays"),
    ],
)
def test_npz_errors(tmp_path, arrays, match):
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=match):
        load_dataset(str(path))


def test_npz_that_is_not_an_npz(tmp_path):
    with pytest.raises(ValueError, match=r"d\.npz is truncated or not an npz file"):
        load_dataset(write(tmp_path, "hello", name="d.npz"))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_classes": 1}, r"^n_classes must be an integer >= 2, got 1$"),
        (
            {"n_samples": 2, "n_classes": 3},
            r"^n_samples: 2 samples cannot cover 3 classes; use n_samples >= n_classes$",
        ),
        (
            {"n_features": 3, "n_informative": 4},
            r"^n_informative must be in \[1, n_features=3\], got 4$",
        ),
        (
            {"n_classes": 5, "n_informative": 2},
            r"cannot separate 5 classes; use n_informative >= 3",
        ),
    ],
)
def test_synthetic_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_dataset("synthetic", **kwargs)


# ----------------------------------------------------------------------------- load_features


def test_load_features_matches_and_reorders_by_name(tmp_path):
    path = write(tmp_path, "id,b,label,a\nr1,2,yes,1\nr2,4,no,3\n")
    X, y, names = load_features(path, feature_names=("a", "b"), target="label")
    np.testing.assert_array_equal(X, [[1, 2], [3, 4]])
    assert names == ("a", "b") and list(y) == ["yes", "no"]


def test_load_features_without_label_column(tmp_path):
    path = write(tmp_path, "b,a\n2,1\n4,3\n")
    X, y, names = load_features(path, feature_names=["a", "b"], target="label")
    np.testing.assert_array_equal(X, [[1, 2], [3, 4]])
    assert y is None and names == ("a", "b")


def test_load_features_positional_when_names_differ(tmp_path):
    path = write(tmp_path, "id,u,v,species\nr1,1,2,cat\nr2,3,4,dog\n")
    X, y, names = load_features(path, feature_names=("a", "b"), target="species")
    np.testing.assert_array_equal(X, [[1, 2], [3, 4]])
    assert names == ("u", "v") and list(y) == ["cat", "dog"]


def test_load_features_headerless_csv_is_positional(tmp_path):
    X, y, names = load_features(write(tmp_path, "1,2\n3,4\n"), feature_names=("a", "b"))
    np.testing.assert_array_equal(X, [[1, 2], [3, 4]])
    assert y is None and names == ("x0", "x1")


def test_load_features_iris_csv_with_training_names():
    ds = load_dataset(str(DATA / "iris.csv"))
    X, y, names = load_features(str(DATA / "iris.csv"), ds.feature_names[::-1], target="species")
    np.testing.assert_array_equal(X, ds.X[:, ::-1])
    np.testing.assert_array_equal(y, ds.y)


def test_load_features_count_mismatch_names_expected(tmp_path):
    path = write(tmp_path, "u,v,w\n1,2,3\n")
    expected = r"3 numeric columns \(u, v, w\) but the model expects 2 features \(a, b\)"
    with pytest.raises(ValueError, match=expected):
        load_features(path, feature_names=("a", "b"))


def test_load_features_reports_bad_cell(tmp_path):
    path = write(tmp_path, "a,b\n1,2\n3,?\n")
    expected = r"^source: .*column 'b' has non-numeric value '\?' at line 3"
    with pytest.raises(ValueError, match=expected):
        load_features(path, feature_names=("a", "b"))


def test_load_features_npz_and_sklearn(tmp_path):
    path = tmp_path / "f.npz"
    np.savez(path, X=np.ones((3, 2)))
    X, y, names = load_features(str(path), feature_names=("a", "b"))
    assert X.shape == (3, 2) and y is None and names == ("x0", "x1")
    with pytest.raises(ValueError, match=r"has 2 features but the model expects 3 \(a, b, c\)"):
        load_features(str(path), feature_names=("a", "b", "c"))
    X, y, names = load_features("sklearn:iris")
    assert X.shape == (150, 4) and y.shape == (150,)


def test_load_features_rejects_synthetic_and_missing_file():
    with pytest.raises(ValueError, match=r"'synthetic' has no fixed features"):
        load_features("synthetic")
    with pytest.raises(ValueError, match=r"^source: file 'nope.csv' not found$"):
        load_features("nope.csv")


def test_load_features_refuses_a_header_with_some_but_not_all_feature_names(tmp_path):
    # Taking the columns in order here would pair 'pw' (or 'species') with petal_width.
    path = write(tmp_path, "sepal_length,sepal_width,petal_length,pw,species\n1,2,3,4,x\n")
    names = ("sepal_length", "sepal_width", "petal_length", "petal_width")
    with pytest.raises(
        DataError,
        match=r"^source: .*d\.csv has 3 of the model's 4 features but "
        r"no column named petal_width \(its other columns: pw, "
        r"species\); name its columns as in training$",
    ):
        load_features(path, feature_names=names, target="species")


@pytest.mark.parametrize("header", ["a,zz", "zz,b", "b,zz,y", "y,a"])
def test_one_name_of_two_is_an_error_in_any_column_order(header, tmp_path):
    path = write(tmp_path, header + "\n" + ",".join(["1"] * len(header.split(","))) + "\n")
    with pytest.raises(DataError, match=r"has 1 of the model's 2 features but no column named "):
        load_features(path, feature_names=("a", "b"))


def test_npz_feature_names_match_by_name_or_all_in_order(tmp_path):
    X = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    path = tmp_path / "f.npz"
    np.savez(path, X=X, feature_names=np.array(["c", "a", "b"]))
    got, _, names = load_features(str(path), feature_names=("a", "b", "c"))
    np.testing.assert_array_equal(got, X[:, [1, 2, 0]])
    assert names == ("a", "b", "c")
    got, _, names = load_features(str(path), feature_names=("p", "q", "r"))  # none: in order
    np.testing.assert_array_equal(got, X) and names == ("c", "a", "b")
    with pytest.raises(
        DataError,
        match=r"has 2 of the model's 3 features but no column named "
        r"r \(its other columns: c\)",
    ):
        load_features(str(path), feature_names=("a", "b", "r"))


# ----------------------------------------------------------------------------- files that are not


def _fifo(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    os.mkfifo(tmp_path / "d.csv")


def _loop(tmp_path):
    os.symlink(tmp_path / "e.csv", tmp_path / "d.csv")
    os.symlink(tmp_path / "d.csv", tmp_path / "e.csv")


FILE_PROBLEMS = {
    "directory": (lambda p: (p / "d.csv").mkdir(), "is a directory, not a data file"),
    "fifo": (_fifo, "is not a regular file (a FIFO, socket or device)"),
    "symlink loop": (_loop, "is a symbolic link loop"),
    "dangling symlink": (
        lambda p: os.symlink(p / "gone.csv", p / "d.csv"),
        "is a symbolic link to a file that does not exist",
    ),
    "missing": (lambda p: None, "not found"),
}


@pytest.mark.parametrize("loader", [load_dataset, load_features])
@pytest.mark.parametrize("name", list(FILE_PROBLEMS))
def test_a_path_that_is_not_a_readable_file_is_named_for_what_it_is(name, loader, tmp_path):
    make, problem = FILE_PROBLEMS[name]
    make(tmp_path)
    source = str(tmp_path / "d.csv")
    with pytest.raises(DataError) as e:  # a FIFO would block here if it were opened
        loader(source)
    assert str(e.value) == f"source: file '{source}' {problem}" or str(e.value).startswith(
        f"source: file '{source}' {problem}; "
    )


@pytest.mark.parametrize(
    "data, where",
    [
        ("a,b,y\n1,2,caf\xe9\n".encode("latin-1"), "byte 0xe9 on line 2"),
        ("a,b,y\n1,2,x\n3,4,z\n".encode("utf-16"), "byte 0xff on line 1"),
        (b"a,b,y\n1,2,x\n3,4,\x80z\n", "byte 0x80 on line 3"),
    ],
)
@pytest.mark.parametrize("loader", [load_dataset, load_features])
def test_a_csv_that_is_not_utf8_is_named_with_its_first_bad_byte(data, where, loader, tmp_path):
    (tmp_path / "d.csv").write_bytes(data)
    with pytest.raises(
        DataError,
        match=rf"^source: .*d\.csv is not UTF-8 text \({where}\); "
        r"save it as UTF-8, or give the encoding it is in "
        r"\(data\.encoding in a config, e\.g\. latin-1\)$",
    ):
        loader(str(tmp_path / "d.csv"))


def test_a_csv_in_another_encoding_loads_when_its_encoding_is_given(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes("a,b,y\n1,2,café\n3,4,thé\n".encode("latin-1"))
    ds = load_dataset(str(path), encoding="latin-1")
    np.testing.assert_array_equal(ds.X, [[1.0, 2.0], [3.0, 4.0]])
    assert ds.y.tolist() == ["café", "thé"]
    X, y, names = load_features(str(path), feature_names=("a", "b"), target="y", encoding="latin-1")
    assert y.tolist() == ["café", "thé"] and names == ("a", "b")
    # Another encoding names itself when the file is not in it.
    with pytest.raises(
        DataError,
        match=r"^source: .*d\.csv is not ascii text \(byte 0xe9 on "
        r"line 2\); save it as UTF-8, or give the encoding",
    ):
        load_dataset(str(path), encoding="ascii")


def test_a_cell_over_the_csv_field_limit_names_the_line(tmp_path):
    limit = csv.field_size_limit()
    path = write(tmp_path, "a,b,y\n1,2,x\n3," + "9" * (limit + 1) + ",z\n")
    with pytest.raises(
        DataError,
        match=rf"d\.csv line 3 is not valid CSV \(a cell longer than "
        rf"{limit} characters\)",
    ):
        load_dataset(path)


def test_integer_labels_beyond_64_bits_are_strings(tmp_path):
    ds = load_dataset(write(tmp_path, "a,y\n1,99999999999999999999\n2,1\n"))
    assert ds.y.tolist() == ["99999999999999999999", "1"]


def _npz_bytes(**arrays) -> bytes:
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


GOOD = _npz_bytes(X=np.arange(8.0).reshape(4, 2), y=np.array([0, 1, 0, 1]))


def _corrupt_member(path, compressed=False):
    import io

    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(
        buffer, X=np.arange(400.0).reshape(200, 2), y=np.arange(200) % 2
    )
    data = bytearray(buffer.getvalue())
    at = data.index(b"X.npy") + 200  # inside X's bytes: the zip's CRC no longer matches
    data[at : at + 8] = b"\xff" * 8
    path.write_bytes(bytes(data))


def _zip_of_text(path):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("X.npy", "hello")
        z.writestr("y.npy", "world")


NPZ_FILES = {
    "cut in half": (
        lambda p: p.write_bytes(GOOD[: len(GOOD) // 2]),
        "is truncated or not an npz file",
    ),
    "cut before its end": (lambda p: p.write_bytes(GOOD[:-30]), "is truncated or not an npz file"),
    "a member corrupted": (_corrupt_member, "is truncated or not an npz file"),
    "a compressed member corrupted": (
        lambda p: _corrupt_member(p, compressed=True),
        "is truncated or not an npz file",
    ),
    "empty": (lambda p: p.write_bytes(b""), "is truncated or not an npz file"),
    "an np.save array": (
        lambda p: np.save(open(p, "wb"), np.ones((3, 2))),
        "is a single .npy array, not a data .npz; save X as numbers",
    ),
    "a zip of text": (_zip_of_text, "is truncated or not an npz file"),
    "NaN in a float y": (
        lambda p: np.savez(p, X=np.ones((3, 2)), y=np.array([0.0, np.nan, 1.0])),
        r"y has a non-finite label \(nan\) at row 1",
    ),
    "inf in y_test": (
        lambda p: np.savez(
            p,
            X=np.ones((2, 2)),
            y=np.array([0, 1]),
            X_test=np.ones((1, 2)),
            y_test=np.array([np.inf]),
        ),
        r"y_test has a non-finite label \(inf\) at row 0",
    ),
    "datetime y": (
        lambda p: np.savez(
            p, X=np.ones((2, 2)), y=np.array(["2020-01-01", "2021-01-01"], "datetime64[D]")
        ),
        r"y holds datetime64\[D\] values, which cannot be class labels",
    ),
    "complex y": (
        lambda p: np.savez(p, X=np.ones((2, 2)), y=np.array([1j, 2j])),
        r"y holds complex128 values",
    ),
    "bytes y not UTF-8": (
        lambda p: np.savez(p, X=np.ones((2, 2)), y=np.array([b"\xff", b"a"])),
        "y holds bytes that are not UTF-8 text",
    ),
}


@pytest.mark.parametrize("name", list(NPZ_FILES))
def test_a_broken_npz_is_one_data_error_naming_it(name, tmp_path):
    make, problem = NPZ_FILES[name]
    path = tmp_path / "d.npz"
    make(path)
    with pytest.raises(DataError) as e:
        load_dataset(str(path))
    assert str(e.value).startswith(f"source: {path} ") and "\n" not in str(e.value)
    assert re.search(problem, str(e.value)), str(e.value)


def test_npz_bytes_labels_are_read_as_strings(tmp_path):
    np.savez(
        tmp_path / "d.npz",
        X=np.ones((2, 2)),
        y=np.array([b"cat", b"dog"]),
        feature_names=np.array([b"p", b"q"]),
    )
    ds = load_dataset(str(tmp_path / "d.npz"))
    assert ds.y.tolist() == ["cat", "dog"] and ds.feature_names == ("p", "q")


def test_a_one_class_message_shows_the_label_as_written(tmp_path):
    with pytest.raises(DataError, match=r"only one class \('versicolor'\) in its labels"):
        load_dataset(write(tmp_path, "a,y\n1,versicolor\n2,versicolor\n"))
    assert [label_text(v) for v in (np.str_("x"), np.int64(3), "y", 4, np.bool_(True))] == [
        "'x'",
        "3",
        "'y'",
        "4",
        "True",
    ]


# ----------------------------------------------------------------------------- fingerprints


def test_a_fingerprint_changes_with_any_value_the_order_or_the_rows(tmp_path):
    base = "a,b,y\n1,2,x\n3,4,z\n5,6,x\n"
    variants = {
        "same": base,
        "value": base.replace("6", "7"),
        "label": base.replace("z", "w"),
        "order": "a,b,y\n3,4,z\n1,2,x\n5,6,x\n",
        "more": base + "7,8,z\n",
        "spacing": "a, b ,y\n1, 2,x\n\n3,4 ,z\n5,6,x\n",
    }
    prints = {
        k: fingerprint(load_dataset(write(tmp_path, v, f"{k}.csv"))) for k, v in variants.items()
    }
    first = prints["same"]
    assert first["rows"] == 3 and len(first["sha256"]) == 64
    assert data_changed(first, prints["same"], "d.csv") is None
    assert data_changed(first, prints["spacing"], "d.csv") is None  # the same numbers
    for k in ("value", "label", "order"):
        assert data_changed(first, prints[k], "d.csv") == (
            "the data d.csv has changed since the run was trained (the same 3 rows, but other "
            "values or another order)"
        )
    assert data_changed(first, prints["more"], "d.csv").endswith("(3 rows then, 4 now)")


def test_an_npz_whose_members_claim_to_be_encrypted_is_one_data_error(tmp_path):
    # zipfile raises RuntimeError ("password required") for a member flagged as encrypted;
    # the property tests found it with one flipped byte. Set the flag by hand, in the local
    # header (offset 6) and the central directory (offset 8) of every member.
    path = tmp_path / "d.npz"
    np.savez(path, X=np.eye(3), y=np.array([0, 1, 0]))
    raw = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = raw.find(signature)
        while start != -1:
            raw[start + offset] |= 1
            start = raw.find(signature, start + 4)
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"d\.npz is truncated or not an npz file"):
        load_dataset(str(path))


# ----------------------------------------------------------------------------- the CSV readers

READERS = ["pandas", "pandas-chunks", "numpy", "careful"]


def use_reader(name: str, monkeypatch) -> None:
    """pandas' C reader in one call (the file whole) or in chunks, numpy.loadtxt (pandas not
    installed) or the careful reader alone."""
    if name.startswith("pandas"):
        pytest.importorskip("pandas")  # (imported: the fast path takes it for any file)
    else:
        monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas raises ImportError
    if name == "pandas-chunks":
        monkeypatch.setattr(datafiles, "PANDAS_WHOLE_MAX_BYTES", -1)
    if name == "careful":
        monkeypatch.setattr(datafiles, "_fast_columns", lambda *args: None)


@pytest.fixture(params=READERS)
def reader(request, monkeypatch):
    """Load CSVs with each reader (:func:`use_reader`); the C readers may not fall back to
    the careful one."""
    use_reader(request.param, monkeypatch)
    if request.param != "careful":

        def no_careful_reader(*args, **kwargs):
            raise AssertionError("the C reader fell back to the careful one")

        monkeypatch.setattr(datafiles, "read_csv", no_careful_reader)
    return request.param


def test_every_reader_reads_a_clean_file_exactly(tmp_path, reader, monkeypatch):
    monkeypatch.setattr(datafiles, "CHUNK_ROWS", 2)  # many chunks, the last one short
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3)) * 10.0 ** rng.integers(-300, 300, size=(50, 3))
    X[0] = [0.0, -0.0, 5e-324]
    y = rng.integers(0, 3, size=50)
    text = "a,b,c,y\r\n" + "".join(
        f"{r[0]!r},{r[1]!r},{r[2]!r},{v}\r\n" for r, v in zip(X.tolist(), y.tolist())
    )
    ds = load_dataset(write(tmp_path, "\ufeff" + text))  # a byte-order mark, CRLF line ends
    assert ds.X.tobytes() == X.tobytes() and ds.y.dtype == np.int64
    assert ds.y.tolist() == y.tolist() and ds.feature_names == ("a", "b", "c")


def test_a_file_large_enough_for_parallel_parsing_reads_exactly(tmp_path, monkeypatch):
    """Above 5 MB pandas (3.1 and later) parses one call's file on several threads: X, the
    labels (stripped) and the kept column equal what was written, read by pandas and by
    numpy.loadtxt."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40_000, 8)) * 10.0 ** rng.integers(-30, 30, size=(40_000, 8))
    y = rng.choice(["cat", " dog", "emu "], size=40_000)
    body = "".join(
        f"{','.join(map(repr, r))},{v},id{i}\n" for i, (r, v) in enumerate(zip(X.tolist(), y))
    )
    path = write(tmp_path, "\ufeff" + ",".join(f"f{j}" for j in range(8)) + ",y,id\n" + body)
    assert Path(path).stat().st_size > 5 << 20
    got = {}
    for name in ("pandas", "numpy"):
        with monkeypatch.context() as m:
            use_reader(name, m)
            m.setattr(datafiles, "read_csv", None)  # (no fall back to the careful reader)
            got[name] = datafiles.open_table(path).read(range(8), 8, keep=[9])
    for read in got.values():
        assert read.X.tobytes() == X.tobytes() and read.y.tolist() == np.char.strip(y).tolist()
        assert read.kept == {"id": [f"id{i}" for i in range(40_000)]}


@pytest.mark.parametrize("minus", ["", "-"])
def test_every_reader_reads_integer_columns_and_minus_zero_exactly(tmp_path, reader, minus):
    """Integer columns (which pandas reads as integers, then nnclf as floats) beside a float
    column: the same bytes from every reader, -0.0 for an integer column's ``-0`` (pandas'
    integer parse gives 0 there: such a file is read again with the columns as floats)."""
    rng = np.random.default_rng(5)
    counts = rng.integers(-3, 4, size=(30, 2))
    floats = rng.normal(size=30)
    cells = [[str(a), str(b), repr(f)] for (a, b), f in zip(counts.tolist(), floats.tolist())]
    cells[7][0] = cells[9][1] = f"{minus}0"  # an integer column's zero, maybe signed
    text = "a,b,c,y\n" + "".join(",".join(row) + f",{i % 3}\n" for i, row in enumerate(cells))
    X = np.column_stack([counts, floats]).astype(np.float64)
    X[7, 0] = X[9, 1] = -0.0 if minus else 0.0
    ds = load_dataset(write(tmp_path, text))
    assert ds.X.tobytes() == X.tobytes() and ds.y.tolist() == [i % 3 for i in range(30)]


def test_pandas_reads_the_file_once_unless_an_integer_column_may_hold_minus_zero(
    tmp_path, monkeypatch
):
    """The whole-file read infers the features' types (faster than asking pandas for
    floats); it reads again with float columns only when it must: an integer column with a
    0 in a file where the text -0 occurs."""
    pd = pytest.importorskip("pandas")
    calls, real = [], pd.read_csv

    def counted(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(pd, "read_csv", counted)
    expected = {"a,b,y\n1,0,x\n2,-1,z\n": 1, "a,b,y\n0,1.5,x\n2,-0.5,z\n": 2}
    for text, reads in expected.items():
        calls.clear()
        load_dataset(write(tmp_path, text))
        assert len(calls) == reads


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 1 << 20])
def test_the_scan_for_minus_zero_finds_it_across_blocks(tmp_path, monkeypatch, size):
    monkeypatch.setattr(datafiles, "BLOCK_BYTES", size)
    for text, found in [("a,b\n1,-0\n", True), ("a,b\n-1,0-\n", False), ("-0", True)]:
        assert datafiles._has_minus_zero(write(tmp_path, text)) is found
    with pytest.raises(ValueError, match="NUL"):
        datafiles._has_minus_zero(write(tmp_path, "a,b\n1,\x000\n"))


def test_every_reader_chooses_columns_by_name(tmp_path, reader):
    text = "id\tb\tnote\ta\tlabel\nr1\t2\thi\t1\tx\nr2\t4\t\t3\tz\n\nr3\t6\tho\t5\tx\n"
    ds = load_dataset(write(tmp_path, text), features=["a", "b"])
    np.testing.assert_array_equal(ds.X, [[1, 2], [3, 4], [5, 6]])
    assert ds.y.tolist() == ["x", "z", "x"]
    X, y, names = load_features(write(tmp_path, text), ("b", "a"), target="label")
    np.testing.assert_array_equal(X, [[2, 1], [4, 3], [6, 5]])
    assert y.tolist() == ["x", "z", "x"] and names == ("b", "a")


@pytest.mark.parametrize(
    "text, message",
    [
        ("a,b,y\n1,2,x\n3,4\n5,6,x\n", "line 3 has 2 fields but the header has 3"),
        ("a,b,y\n1,2,x\n3,4,z,\n5,6,x\n", "line 3 has 4 fields but the header has 3"),
        ("a,b,y\n1,2,x,9\n3,4,z\n", "line 2 has 4 fields but the header has 3"),
        ("a,b,c,y\n1,2,3,x\n3,4,5\n", "line 3 has 3 fields but the header has 4"),
        ("a,b,y\n1,2,x\n3,NA,z\n", "column 'b' has a missing value 'NA' at line 3"),
        ("a,b,y\n1,2,x\n3,1e999,z\n", "column 'b' has non-finite value '1e999' at line 3"),
        ("a,b,y\n1,2,x\n3, ,z\n", "column 'b' has an empty cell at line 3"),
        ("a,b,y\n1,2,x\n3,4, \n", "column 'y' has an empty label at line 3"),
        ("a,b,y\n", "has a header but no data rows"),
        # pandas reads a column of true/false as 1/0 (and TRUE, True...); the careful reader not.
        ("a,b,y\ntrue,1,x\nFALSE,0,z\n", "column 'a' has non-numeric value 'true' at line 2"),
    ],
)
def test_every_reader_names_the_line_at_fault(tmp_path, text, message, monkeypatch):
    """The C readers hand a file they cannot take to the careful reader: the same message."""
    messages = set()
    for name in READERS:
        with monkeypatch.context() as m:
            use_reader(name, m)
            with pytest.raises(DataError) as e:
                target = "y" if "c,y" in text else None
                load_dataset(write(tmp_path, text), target=target, **STRICT)
            messages.add(str(e.value))
    assert len(messages) == 1 and message in messages.pop()


def test_a_quirky_file_the_c_reader_leaves_is_read_by_the_careful_one(tmp_path):
    # Python's float takes 1_000 and Arabic-Indic digits; a blank row of commas is skipped.
    ds = load_dataset(write(tmp_path, 'a,b,y\n1_000,"2",x\n,,\n\u0663,4,z\n'))
    np.testing.assert_array_equal(ds.X, [[1000, 2], [3, 4]])


def test_every_reader_reads_columns_of_zeros_and_ones(tmp_path, reader):
    ds = load_dataset(write(tmp_path, "a,b,y\n1,0,x\n0,1.0,z\n1,1,x\n"))
    np.testing.assert_array_equal(ds.X, [[1, 0], [0, 1], [1, 1]])


def test_rows_beyond_the_newlines_counted_go_to_the_careful_reader(tmp_path):
    # X is preallocated for as many rows as the file has \n (or \r): lines that end in a
    # lone \r besides overflow it, and the careful reader reads the file instead.
    ds = load_dataset(write(tmp_path, "a,b,y\r1,2,x\r3,4,z\r5,6,x\n7,8,z\n"))
    np.testing.assert_array_equal(ds.X, [[1, 2], [3, 4], [5, 6], [7, 8]])


@pytest.mark.slow
def test_the_data_benchmark_script_runs_and_reports_every_reader():
    # A smoke test: tiny settings, one round; the figures themselves are not checked.
    script = Path(__file__).resolve().parents[1] / "scripts" / "data_benchmark.py"
    result = subprocess.run(
        [
            sys.executable,
            str(script),
            "--rows",
            "300",
            "--cols",
            "4",
            "--rounds",
            "1",
            "--careful",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [r["tool"] for r in report["results"]] == [
        "pandas.read_csv",
        "nnclf",
        "nnclf without pandas",
        "nnclf careful reader",
    ]
    assert all(r["seconds"] > 0 and r["peak_mb"] > 0 for r in report["results"])
