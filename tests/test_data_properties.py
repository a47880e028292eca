"""Property tests of the data readers (nnclf.data.sources, nnclf.data.tables): whatever the bytes of a
CSV or an .npz, loading gives data that keep the Dataset invariants or raises nnclf's own
DataError (one line); no other exception escapes, and loading writes nothing.

The CSV strategies mix what breaks readers: numbers in every notation Python accepts
(``1_000``, ``1e999``, ``nan``, Arabic-Indic digits), quotes, separators and line breaks
inside cells, blank lines, ragged rows, duplicate and empty header names, NUL bytes, text
that is not UTF-8, and integers beyond 64 bits; the .npz ones are random bytes and valid
files cut short or with one byte changed. Whatever the CSV, pandas' C reader, numpy's and the
careful reader alone give the same arrays, bit for bit, or the same message."""

import csv
import io
import os
import sys

import numpy as np
import pytest

from nnclf.data.frame import Frame

hypothesis = pytest.importorskip("hypothesis")  # in the test extra: pip install ".[test]"
from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st

from nnclf.data import tables as datafiles  # noqa: E402
from nnclf.data.sources import load_dataset, load_features, read_inputs  # noqa: E402
from nnclf.errors import DataError  # noqa: E402

# Example counts and deadlines come from the hypothesis profile chosen in conftest.py.
SETTINGS = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])

CELLS = st.one_of(
    st.sampled_from(
        [
            "0",
            "1",
            "-2.5",
            "1e3",
            "1_000",
            " 7 ",
            "1e999",
            "-inf",
            "nan",
            "NaN",
            "0x10",
            "١٢",
            "+.5",
            "",
            " ",
            "a",
            "b",
            "x y",
            '"',
            "'",
            ",",
            "\n",
            "\r",
            "\x00",
            "\ufeff",
            "é",
            "99999999999999999999",
            "1,5",
            "true",
        ]
    ),
    st.text(max_size=6),
    st.integers(-3, 3).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
TABLES = st.lists(st.lists(CELLS, min_size=1, max_size=5), min_size=0, max_size=8)
NUMBERS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(-(10**20), 10**20).map(str),
    st.sampled_from(
        ["1e3", " 7 ", "+.5", "1.", "-0", "1_0", "", "nan", "1e999", "4.9E-324", "0.1e-330", '"2"']
    ),
)
LABELS = st.sampled_from(["x", "y", " z ", "1", "2", "", "-3"])
NUMERIC_TABLES = st.lists(
    st.lists(NUMBERS, min_size=2, max_size=2)
    .map(tuple)
    .flatmap(
        lambda ab: st.one_of(
            LABELS.map(lambda y: [*ab, y]), st.just([*ab]), LABELS.map(lambda y: [*ab, y, "9"])
        )
    ),
    min_size=1,
    max_size=10,
)


def _check(ds_or_features, with_y: bool) -> None:
    """The invariants every caller of the loaders relies on."""
    if with_y:
        X, y = ds_or_features.X, ds_or_features.y
        assert len(np.unique(y)) >= 2 and len(ds_or_features.feature_names) == X.shape[1]
    else:
        X, y, names = ds_or_features
        assert len(names) == X.shape[1]
    assert X.ndim == 2
    columns = X.columns.values() if isinstance(X, Frame) else X.T
    for column in columns:  # numbers (NaN where missing, never infinite) or text (None)
        if column.dtype == object:
            assert all(v is None or (type(v) is str and v == v.strip()) for v in column)
        else:
            assert column.dtype == np.float64 and not np.isinf(column).any()
    assert y is None or (y.shape == (len(X),) and y.dtype.kind in "iubUf")


def _load_every_way(path: str) -> None:
    for load in (
        lambda: _check(load_dataset(path), True),
        lambda: _check(load_dataset(path, target="a"), True),
        lambda: _check(load_features(path), False),
        lambda: _check(load_features(path, feature_names=("a", "b")), False),
        lambda: _check(load_features(path, feature_names=("a", "b"), target="y"), False),
    ):
        try:
            load()
        except DataError as e:
            assert "\n" not in str(e) and str(e).startswith(("source", "target"))


def _unchanged(directory, path):
    before = sorted(os.listdir(directory))
    _load_every_way(str(path))
    assert sorted(os.listdir(directory)) == before


@SETTINGS
@given(data=st.binary(max_size=300))
def test_any_bytes_as_a_csv_load_or_raise_a_data_error(data, tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(data)
    _unchanged(tmp_path, path)


@SETTINGS
@given(rows=TABLES, header=st.booleans())
@example(rows=[["0\n0"], ["a"]], header=False)  # a newline in a name the error quotes
def test_any_small_table_loads_or_raises_a_data_error(rows, header, tmp_path):
    out = io.StringIO()
    writer = csv.writer(out)
    if header:
        writer.writerow(["a", "b", "y"][: max(1, len(rows[0]) if rows else 1)])
    writer.writerows(rows)
    path = tmp_path / "d.csv"
    # A lone surrogate from st.text becomes bytes that are not UTF-8: one more bad input.
    path.write_bytes(out.getvalue().encode("utf-8", "surrogatepass"))
    _unchanged(tmp_path, path)


def _outcome(load):
    try:
        X, y, names = load()
    except DataError as e:
        return str(e)
    y = None if y is None else (y.dtype.str, y.tolist())
    if isinstance(X, Frame):  # (text columns: by name, values and missing cells as written)
        return X.shape, [(n, repr(v.tolist())) for n, v in X.columns.items()], y, names
    return X.shape, X.tobytes(), y, names


def _every_reader(path: str) -> list:
    """What each way of loading ``path`` gives, with pandas' C reader, with numpy's (pandas
    not installed) and with the careful reader alone."""
    loads = [
        lambda: (lambda ds: (ds.X, ds.y, ds.feature_names))(load_dataset(path)),
        lambda: (lambda ds: (ds.X, ds.y, ds.feature_names))(
            load_dataset(path, features=["b", "a"], target="y")
        ),
        lambda: load_features(path, feature_names=("b", "a"), target="y"),
        lambda: load_features(path),
        lambda: (lambda i: (i.X, i.y, (i.names, i.kept)))(
            read_inputs(path, feature_names=("a",), target="y", keep=["b", "y"])
        ),
    ]
    outcomes = []
    with pytest.MonkeyPatch.context() as m:
        outcomes.append([_outcome(load) for load in loads])
        m.setitem(sys.modules, "pandas", None)
        outcomes.append([_outcome(load) for load in loads])
        m.setattr(datafiles, "_fast_columns", lambda *args: None)
        outcomes.append([_outcome(load) for load in loads])
    return outcomes


@SETTINGS
@given(
    rows=st.one_of(TABLES, NUMERIC_TABLES),
    delimiter=st.sampled_from([",", ";", "\t"]),
    ends=st.sampled_from(["\n", "\r\n"]),
)
@example(rows=[["0", "0", "1"], ["0", "\x00", "0"]], delimiter=",", ends="\n")  # a text column
@example(rows=[["0", "0", "0"], ["0", "\x00", "0"]], delimiter=",", ends="\n")  # a NUL cell kept
def test_every_csv_reader_gives_the_same_arrays_or_the_same_message(
    rows, delimiter, ends, tmp_path
):
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=ends)
    writer.writerow(["a", "b", "y"])
    writer.writerows(rows)
    path = tmp_path / "d.csv"
    path.write_bytes(out.getvalue().encode("utf-8", "surrogatepass"))
    pandas, numpy, careful = _every_reader(str(path))
    assert pandas == careful and numpy == careful


@SETTINGS
@given(
    rows=st.lists(
        st.tuples(
            st.floats(allow_nan=False, allow_infinity=False, width=32),
            st.floats(allow_nan=False, allow_infinity=False, width=32),
            st.sampled_from(["x", "y", "z"]),
        ),
        min_size=2,
        max_size=8,
    )
)
def test_a_table_of_finite_numbers_and_labels_reads_back_exactly(rows, tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b,y\n" + "".join(f"{a!r},{b!r},{c}\n" for a, b, c in rows))
    if len({c for _, _, c in rows}) < 2:
        with pytest.raises(DataError, match="only one class"):
            load_dataset(str(path))
        return
    ds = load_dataset(str(path))
    np.testing.assert_array_equal(ds.X, np.array([[a, b] for a, b, _ in rows]))
    assert ds.y.tolist() == [c for _, _, c in rows]


@SETTINGS
@given(data=st.binary(max_size=400))
def test_any_bytes_as_an_npz_load_or_raise_a_data_error(data, tmp_path):
    path = tmp_path / "d.npz"
    path.write_bytes(data)
    _unchanged(tmp_path, path)


def _valid_npz(compressed: bool) -> bytes:
    out = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(
        out,
        X=np.arange(12.0).reshape(6, 2),
        y=np.array(["a", "b"] * 3),
        feature_names=np.array(["a", "b"]),
    )
    return out.getvalue()


VALID = {False: _valid_npz(False), True: _valid_npz(True)}


@SETTINGS
@given(
    compressed=st.booleans(),
    cut=st.integers(0, 10_000),
    at=st.integers(0, 10_000),
    byte=st.integers(0, 255),
)
def test_an_npz_cut_short_or_with_a_byte_changed_loads_or_raises_a_data_error(
    compressed, cut, at, byte, tmp_path
):
    data = bytearray(VALID[compressed])
    data[at % len(data)] = byte
    path = tmp_path / "d.npz"
    path.write_bytes(bytes(data[: len(data) - cut % len(data)]))
    _unchanged(tmp_path, path)
