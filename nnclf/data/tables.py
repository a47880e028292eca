"""Tables: CSV, Parquet, ``.npz`` files and ``.npy`` folders read through one interface, every
way they fail named.

Contract
--------
:func:`open_table` opens a data file as a :class:`Table` (by its kind: a CSV, a Parquet or an
``.npz`` file, or a folder holding ``X.npy``): its column names (the header, the schema, the
``.npz``'s ``feature_names``; None when the file names none, and :meth:`Table.column_names`
numbers them ``x0``, ``x1``, ...), its width, and for a CSV the delimiter and the text
encoding it is read with. ``Table.read`` gives :class:`Columns`: the chosen feature columns as
a finite float64 matrix X (a folder's: its memory-mapped :class:`~nnclf.data.npyfolder.Rows`,
never read whole), the labels (a CSV's label column: int64 when every label is an integer,
uint64 when they need it, else strings; as stored for the other kinds) and the kept columns
as text, cell by cell as the file holds them (CSV and Parquet only: the others have no named
columns to keep). ``Table.test_part`` gives an ``.npz``'s or a folder's own test set
(``X_test``, ``y_test``), or None. Training (:func:`nnclf.data.sources.load_dataset`),
``nnclf evaluate`` and ``nnclf predict`` (:func:`nnclf.data.sources.read_inputs`) open every
file this way.

A CSV is read by a C reader filling one preallocated X: pandas' (a file below 1 GiB in one
call, the types of the feature and label columns inferred, which is faster than asking for
floats, and again with float columns when what pandas inferred is not what the careful
reader would give; a larger file in chunks), else :func:`numpy.loadtxt`. Any cell or row it
does not take as it is sends the file to :func:`read_csv`,
the careful cell-by-cell reader, which reads it or names the file, line and column at fault:
one error path, the same results either way. :func:`sniff_delimiter` finds ``,`` ``;`` or
tab when no delimiter is given; :func:`encoding_problem` says why an encoding cannot decode
text. Parquet is read with pyarrow. :func:`read_npz` reads ``X``, ``y``,
``feature_names``, ``X_test``, ``y_test`` from an ``.npz`` (never running code) and checks
them: X finite numbers, labels integers, booleans, strings (UTF-8 bytes become strings) or
finite floats. A folder is opened by :func:`nnclf.data.npyfolder.open_folder`; what every
kind checks (:func:`file_problem`, :func:`check_label_array`) is :mod:`nnclf.data.checks`.

Whatever the bytes of a file, these functions return checked arrays or raise
:class:`~nnclf.errors.DataError` about the argument ``source`` (``encoding``,
``delimiter``, ``target`` when one of those is at fault), naming the file, the line or row,
and the fix; nothing else escapes (``tests/test_data_properties.py`` tries that).
"""

from __future__ import annotations

import codecs
import csv
import functools
import itertools
import json
import math
import sys
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nnclf.base.archive import read_arrays
from nnclf.data.checks import bad, check_label_array
from nnclf.data.frame import MISSING_TEXT, Frame, text_column
from nnclf.data.npyfolder import Rows, is_folder, open_folder

DELIMITERS = (",", ";", "\t")  # those data.delimiter: null detects

__all__ = [
    "Table",
    "ARRAY_KINDS",
    "Columns",
    "open_table",
    "encoding_problem",
    "shown",
    "read_csv",
    "text_encoding",
    "parse_numeric",
    "parse_columns",
    "parse_labels",
    "is_number",
    "is_numeric_column",
    "read_npz",
    "read_csv_columns",
    "sniff_delimiter",
    "parquet_columns",
    "read_parquet",
    "DELIMITERS",
]


def _in_yaml(name: str) -> str:
    """A column name as a YAML list in a config would hold it: as it is when that is safe,
    else a quoted string with its escapes (so a message with it stays one line)."""
    plain = name.isprintable() and name == name.strip() and not set(name) & set(",[]{}:#'\"")
    return name if plain and name else json.dumps(name)


def shown(text, limit: int = 40) -> str:
    """Text from a file as a message quotes it: ``'abc'``; escaped (``'a\\nb'``) when it has
    characters that are not printable, so that a message stays one line; cut at ``limit``."""
    text = str(text)
    cut = text[:limit] + ("..." if len(text) > limit else "")
    return f"'{cut}'" if cut.isprintable() else repr(cut)


# ----------------------------------------------------------------------------- the interface


ARRAY_KINDS = ("npz", "folder")
"""The kinds of :class:`Table` whose labels are an array of their own (``y``), beside the
feature columns, and whose columns are not chosen by name."""


@dataclass(frozen=True)
class Columns:
    """Columns read from a :class:`Table`.

    Attributes
    ----------
    X : ndarray of shape (n, len(features)), float64, :class:`~nnclf.data.frame.Frame`, or :class:`~nnclf.data.npyfolder.Rows`
        The feature columns: a float64 matrix when all are numbers (finite, or NaN where a
        value is missing when missing values were allowed); a Frame when some are text
        (categorical); a folder's memory-mapped rows, never read whole.
    y : ndarray of shape (n,) or None
        The labels: int64 when every label is an integer, else strings (CSV); as stored
        (Parquet, ``.npz``, folder; UTF-8 bytes become strings).
    kept : dict of str to list of str
        Each kept column's n cells as the file holds them (text, never parsed).
    """

    X: np.ndarray | Rows
    y: np.ndarray | None
    kept: dict


@dataclass(frozen=True)
class Table:
    """A CSV, Parquet or ``.npz`` file or a folder of ``.npy`` files, opened: its column
    names and how its text is split and decoded. :func:`open_table` makes one. A CSV or a
    Parquet file has no row read yet; an ``.npz`` is read and checked whole, a folder's X
    mapped and checked in chunks.

    Attributes
    ----------
    path : str
    kind : {"csv", "parquet", "npz", "folder"}
    names : tuple of str, or None
        The column names; None when the file names none (a CSV whose first row is all
        numbers, an ``.npz`` without ``feature_names``, a folder):
        :meth:`column_names` then numbers them ``x0``, ``x1``, ...
    width : int
        The number of columns (for an ``.npz`` or a folder: of X).
    delimiter, encoding : str
        CSV only: the character between fields and the text encoding the file is read in.
    """

    path: str
    kind: str
    names: tuple[str, ...] | None
    width: int
    delimiter: str = ","
    encoding: str = "utf-8"
    arrays: tuple | None = field(default=None, repr=False, compare=False)
    """``.npz`` and folder: (X, y, X_test, y_test) as read (y, X_test, y_test may be None)."""

    def read(
        self,
        features,
        label=None,
        keep=(),
        may_be_target=True,
        *,
        text=(),
        auto=False,
        missing=False,
    ) -> Columns:
        """Columns at positions ``features`` (as X), ``label`` (as y; None: no labels) and
        ``keep`` (as text), read by the fast path, every fault named by the careful one.
        For an ``.npz`` or a folder (:data:`ARRAY_KINDS`) ``label`` is ``"y"``, the label
        array (y is None when the file has none), and nothing can be kept.

        CSV and Parquet: the features at positions ``text`` are read as text (categorical
        columns), and with ``auto`` so is every feature column whose values are not all
        numbers; X is then a :class:`~nnclf.data.frame.Frame`. ``missing``: cells that
        stand for a missing value (:data:`~nnclf.data.frame.MISSING_TEXT`, Parquet nulls,
        NaN in arrays) are read as missing instead of being an error."""
        keep, text = list(keep), set(text)
        if self.kind in ARRAY_KINDS:
            return self._read_arrays(list(features), label, keep, missing)
        how = dict(text=text, auto=auto, missing=missing)
        if self.kind == "parquet":
            names = [self.names[j] for j in features]
            label_name = None if label is None else self.names[label]
            X, y, kept = read_parquet(
                self.path,
                names,
                label_name,
                [self.names[j] for j in keep],
                text={self.names[j] for j in text},
                auto=auto,
                missing=missing,
            )
        else:
            X, y, kept = read_csv_columns(
                self.path,
                self.names and list(self.names),
                list(features),
                label,
                encoding=self.encoding,
                delimiter=self.delimiter,
                may_be_target=may_be_target,
                keep=keep,
                **how,
            )
        if isinstance(X, dict):  # text columns among them: a Frame, in the features' order
            X = Frame(dict(zip(self.column_names(features), (X[j] for j in features))))
        return Columns(X, y, dict(zip(self.column_names(keep), kept)))

    def _read_arrays(self, features: list, label, keep: list, missing: bool) -> Columns:
        if keep:
            raise bad(
                f": {self.path} has no named columns to keep (only CSV and Parquet sources "
                "have them); remove --keep",
                name="keep",
            )
        if label not in (None, "y"):
            raise ValueError(f"the labels of an {self.kind} are 'y', not {label!r}")
        X, y = self.arrays[:2]
        if features != list(range(self.width)):  # (all of them, in order: X as it is)
            if self.kind == "folder":
                raise ValueError("a folder's columns are read all and in order")
            X = X[:, features]
        if not missing:
            _no_nan(X, "X", self.path)
        return Columns(X, None if label is None else y, {})

    def test_part(self, missing: bool = False) -> Columns | None:
        """The file's own test set (an ``.npz``'s ``X_test`` and ``y_test``, a folder's
        ``X_test.npy`` and ``y_test.npy``), every column; None when it has none.
        ``missing``: NaN in it stands for missing values (else it is an error)."""
        if self.arrays is None or self.arrays[2] is None:
            return None
        if not missing:
            _no_nan(self.arrays[2], "X_test", self.path)
        return Columns(self.arrays[2], self.arrays[3], {})

    def column_names(self, positions) -> list[str]:
        """The names of columns at ``positions``; ``x0``, ``x1``, ... without a header."""
        names = self.names or tuple(f"x{j}" for j in range(self.width))
        return [names[j] for j in positions]

    def numeric(self, positions) -> list[int]:
        """Those of ``positions`` whose every filled cell is a number (read carefully: the
        columns of a table whose names say nothing, to be taken in order)."""
        if self.kind != "csv":
            return list(positions)  # a column that is not numbers is named by read()
        _, rows, _ = read_csv(
            self.path,
            require_header=self.names is not None,
            encoding=self.encoding,
            delimiter=self.delimiter,
        )
        return [j for j in positions if is_numeric_column([r[j] for r in rows])]


def open_table(
    path: str,
    *,
    encoding: str = "utf-8",
    delimiter: str | None = None,
    require_header=True,
    require_labels=False,
) -> Table:
    """Open ``path`` as a :class:`Table`: a folder holding ``X.npy``, an ``.npz``, a Parquet
    file or a CSV (by its suffix; a directory without one is a folder).

    CSV: read in ``encoding``; split at ``delimiter``, else at the one
    :func:`sniff_delimiter` finds; a header is needed when ``require_header``. A header
    that is one field under a given ``delimiter`` but several under another is an error
    naming the delimiter that fits (the file is not the one the delimiter was meant for).
    ``.npz`` and folder: labels (``y``) are needed when ``require_labels``; ``encoding``
    and ``delimiter`` do not apply.
    """
    suffix = Path(str(path)).suffix.lower()
    if suffix == ".npz":
        X, y, names, X_test, y_test = read_npz(path, require_y=require_labels)
        return Table(str(path), "npz", names, X.shape[1], arrays=(X, y, X_test, y_test))
    if suffix not in (".csv", ".parquet") and is_folder(path):
        X, y, _, X_test, y_test = open_folder(path, require_y=require_labels)
        return Table(str(path), "folder", None, X.shape[1], arrays=(X, y, X_test, y_test))
    problem = encoding_problem(encoding)
    if problem is not None:
        raise bad(problem, name="encoding")
    if suffix == ".parquet":
        names = parquet_columns(path)
        return Table(str(path), "parquet", tuple(names), len(names))
    given = delimiter
    delimiter = delimiter or sniff_delimiter(path, encoding)
    records = _records(path, encoding, delimiter)
    first = next(records, None)
    records.close()
    if first is None:
        raise bad(f": {path} is empty; it needs a header row and data rows")
    if given is not None and len(first[1]) == 1:
        _one_field(path, first[1][0], given, encoding)
    header = _header(path, first, require_header)
    names = None if header is None else tuple(header)
    return Table(str(path), "csv", names, len(first[1]), delimiter, encoding)


def _one_field(path: str, cell: str, given: str, encoding: str) -> None:
    """A header of one field at ``given``: an error if another delimiter splits it."""
    other = sniff_delimiter(path, encoding)
    fields = next(csv.reader([cell], delimiter=other))
    if other != given and len(fields) > 1:
        raise bad(
            f": {path} has one column when split at {given!r} (its header is "
            f"{shown(cell)}), but {other!r} splits it into {len(fields)}; give the delimiter "
            f"of this file (--delimiter {other!r}, or data.delimiter in a config)",
            name="delimiter",
        )


def encoding_problem(encoding) -> str | None:
    """Why ``encoding`` cannot decode a text file, or None when it can."""
    try:
        info = codecs.lookup(encoding)
    except (LookupError, TypeError):
        return (
            f": unknown text encoding {encoding!r}; give one Python knows, e.g. utf-8, "
            "latin-1 or cp1252"
        )
    if not getattr(info, "_is_text_encoding", True):
        return (
            f": {encoding!r} is not a text encoding (it turns text into text or bytes into "
            "bytes); give one such as utf-8, latin-1 or cp1252"
        )
    return None


# ----------------------------------------------------------------------------- CSV


def read_csv(path: str, *, require_header: bool, encoding: str = "utf-8", delimiter: str = ","):
    """Read a CSV in ``encoding`` into (header, rows, line numbers), cell by cell; header is
    None if the file has none. Blank lines are skipped; ``lines[i]`` is the 1-based line
    number of ``rows[i]``. The careful reader: every message about a bad file comes from it."""
    return _table(path, list(_records(path, encoding, delimiter)), require_header)


def _records(path: str, encoding: str, delimiter: str):
    """(line number, cells) of each row that is not blank, errors told as DataErrors."""
    reader = None
    try:
        with open(Path(path).expanduser(), newline="", encoding=text_encoding(encoding)) as f:
            reader = csv.reader(f, delimiter=delimiter)
            for row in reader:
                if any(c.strip() for c in row):
                    yield reader.line_num, row
    except UnicodeDecodeError:
        shown_as = "UTF-8" if codecs.lookup(encoding).name == "utf-8" else encoding
        raise bad(
            f": {path} is not {shown_as} text ({_first_bad_byte(path, encoding)}); save it "
            "as UTF-8, or give the encoding it is in (data.encoding in a config, e.g. "
            "latin-1)"
        ) from None
    except UnicodeError as e:  # a decoder's own complaint, e.g. UTF-16 without its BOM
        raise bad(
            f": {path} cannot be read as {encoding} text ({e}); give the encoding it is in "
            "(data.encoding in a config, --encoding on the command line), e.g. utf-16-le"
        ) from None
    except csv.Error as e:
        line = reader.line_num if reader is not None else 1
        problem = (
            f"a cell longer than {csv.field_size_limit()} characters"
            if "field limit" in str(e)
            else str(e)
        )
        raise bad(
            f": {path} line {line} is not valid CSV ({problem}); fix that line, or "
            "check that the file is the CSV you meant"
        ) from None
    except OSError as e:
        raise bad(f": {path} cannot be read ({e.strerror or e})") from None


def sniff_delimiter(path: str, encoding: str = "utf-8") -> str:
    """The delimiter of a CSV among ``,`` ``;`` and tab: the one that splits its first lines
    into the same number of fields, more than one (the most fields wins); else the one that
    splits the header most; else ``,``. Unreadable files give ``,`` (the reader reports them)."""
    try:
        with open(Path(path).expanduser(), newline="", encoding=text_encoding(encoding)) as f:
            head = [line for line in itertools.islice(f, 20) if line.strip()]
        widths = {c: [len(row) for row in csv.reader(head, delimiter=c)] for c in DELIMITERS}
    except (OSError, UnicodeError, LookupError, csv.Error):
        return ","
    steady = [c for c, w in widths.items() if w and len(set(w)) == 1 and w[0] > 1]
    pool = steady or [c for c, w in widths.items() if w and w[0] > 1]
    return max(pool, key=lambda c: widths[c][0]) if pool else ","


def text_encoding(encoding: str) -> str:
    """The codec to open a CSV in ``encoding`` with."""
    # utf-8-sig reads UTF-8 and drops a byte-order mark, which spreadsheets like to write.
    return "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding


def _first_bad_byte(path: str, encoding: str = "utf-8") -> str:
    raw = Path(path).expanduser().read_bytes()
    try:
        raw.decode(encoding)
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        return f"byte 0x{raw[e.start]:02x} on line {line}"
    return f"a byte that is not {encoding}"


def _header(path: str, first: tuple, require_header: bool) -> list[str] | None:
    line, names = first[0], [c.strip() for c in first[1]]
    if all(is_number(c) for c in names):
        if require_header:
            raise bad(
                f": {path} has no header (line {line} is all numbers); "
                "add a first line naming the columns"
            )
        return None
    for j, name in enumerate(names):
        if not name:
            raise bad(f": {path} header has an empty name for column {j + 1}; name it")
        if name in names[:j]:
            raise bad(f": {path} header names column {shown(name)} twice; rename one")
    return names


def _table(path: str, records: list, require_header: bool):
    if not records:
        raise bad(f": {path} is empty; it needs a header row and data rows")
    header = _header(path, records[0], require_header)
    body = records if header is None else records[1:]
    if not body:
        raise bad(f": {path} has a header but no data rows")
    width = len(body[0][1]) if header is None else len(header)
    for line, row in body:
        if len(row) != width:
            other = "the header" if header else f"line {body[0][0]}"
            raise bad(
                f": {path} line {line} has {len(row)} fields but {other} has {width}; fix that row"
            )
    return header, [row for _, row in body], [line for line, _ in body]


def is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def is_numeric_column(cells: list[str]) -> bool:
    """True when every non-empty cell is a number (empty cells are reported later)."""
    filled = [c for c in cells if c.strip()]
    return bool(filled) and all(is_number(c) for c in filled)


def parse_numeric(header, rows, lines, cols, path: str, may_be_target: bool = True) -> np.ndarray:
    """Columns ``cols`` of ``rows`` as a float64 array of shape (len(rows), len(cols)),
    every cell a finite number (else an error naming the first that is not)."""
    X = parse_columns(header, rows, lines, cols, path, may_be_target)
    return X


def parse_columns(
    header,
    rows,
    lines,
    cols,
    path: str,
    may_be_target=True,
    *,
    text=(),
    auto=False,
    missing=False,
):
    """Columns ``cols`` of ``rows``: a float64 array of shape (len(rows), len(cols)) when
    all are numbers, else a dict of position to column (float64 with NaN where missing, or
    an object array of text with None where missing; see :mod:`nnclf.data.frame`).

    Columns at positions ``text`` are text; with ``auto``, so is a column with a cell that
    is not a number; ``missing``: a cell of :data:`~nnclf.data.frame.MISSING_TEXT` is a
    missing value, else an error naming its line, as any other bad cell is."""
    X = np.empty((len(rows), len(cols)), dtype=np.float64)
    texts = {}
    for k, j in enumerate(cols):
        cells = [r[j] for r in rows]
        name = header[j] if header else f"{j + 1}"
        if j in text:
            texts[j] = _text_cells(cells, lines, name, path, missing)
            continue
        try:
            X[:, k] = np.asarray(cells, dtype=np.float64)
            if np.isfinite(X[:, k]).all():
                continue
        except ValueError:
            pass
        column = _numeric_cells(cells, lines, name, path, may_be_target, auto, missing)
        if column is None:  # (auto) not numbers: a text column
            texts[j] = _text_cells(cells, lines, name, path, missing)
        else:
            X[:, k] = column
    if not texts:
        return X
    return {j: texts[j] if j in texts else X[:, k] for k, j in enumerate(cols)}


def _text_cells(cells, lines, name, path, missing: bool) -> np.ndarray:
    """A text column's cells as categories (None where missing)."""
    column = text_column(cells)
    if not missing:
        for line, value, cell in zip(lines, column.tolist(), cells):
            if value is None:
                what = (
                    "an empty cell"
                    if not cell.strip()
                    else f"a missing value {shown(cell.strip())}"
                )
                raise bad(
                    f": {path} column {shown(name)} has {what} at line {line}; fill it, or "
                    "let nnclf impute it (data.missing: impute)"
                )
    return column


def _numeric_cells(cells, lines, name, path, may_be_target, auto, missing) -> np.ndarray | None:
    """A column of numbers, NaN where missing; None (``auto``) when a cell is not a number;
    else an error naming the first bad cell."""
    column = np.empty(len(cells), dtype=np.float64)
    for i, (line, cell) in enumerate(zip(lines, cells)):
        stripped = cell.strip()
        if stripped in MISSING_TEXT and missing:
            column[i] = np.nan
            continue
        if not stripped:
            problem = "an empty cell"
        elif stripped in MISSING_TEXT:
            problem = f"a missing value {shown(stripped)}"
        elif not is_number(cell):
            if auto:
                return None
            problem = f"non-numeric value {shown(stripped)}"
        elif not math.isfinite(float(cell)):
            problem = f"non-finite value {shown(stripped)}"
        else:
            column[i] = float(cell)
            continue
        raise bad(
            f": {path} column {shown(name)} has {problem} at line {line}; "
            + _cell_fix(problem, name, may_be_target)
        )
    return column


def _cell_fix(problem: str, name: str, may_be_target: bool) -> str:
    """How to fix a bad cell of a feature column (after ``; ``)."""
    name = _in_yaml(name)
    if "missing" in problem or "empty" in problem:
        return "fill it, or let nnclf impute missing values (data.missing: impute)"
    if problem.startswith("non-numeric"):
        return (
            "feature columns must hold finite numbers (fix the row, make the column "
            f"categorical with data.categorical: [{name}] or auto"
            + (
                f", leave it out with data.drop: [{name}], or make it the target)"
                if may_be_target
                else ", or drop the column)"
            )
        )
    return "feature columns must hold finite numbers (fix the row" + (
        f", leave the column out with data.drop: [{name}] (or choose the columns with "
        "data.features), or make it the target)"
        if may_be_target
        else ", or drop the column)"
    )


def parse_labels(name, cells, lines, path) -> np.ndarray:
    """Label cells as an int array when they all are (64-bit) integers, else as strings."""
    labels = [c.strip() for c in cells]
    for line, label in zip(lines, labels):
        if not label:
            raise bad(
                f": {path} column {shown(name)} has an empty label at line {line}; "
                "fill it or remove the row",
                name="target",
            )
    return _label_array(labels)


def _label_array(labels: list[str]) -> np.ndarray:
    try:
        ints = [int(v) for v in labels]
    except ValueError:
        return np.array(labels, dtype=str)
    # uint64 for labels up to 2**64 - 1 (an unsigned 64-bit id); beyond, they are text.
    for dtype in (np.int64, np.uint64):
        try:
            return np.array(ints, dtype=dtype)
        except OverflowError:
            pass
    return np.array(labels, dtype=str)


# ----------------------------------------------------------------------------- CSV, fast

CHUNK_ROWS = 1 << 14
"""Rows numpy parses at a time (pandas: 8 times more, its chunks cost more and hold no Python
strings): X is filled chunk by chunk, never held twice."""


def read_csv_columns(
    path: str,
    header,
    cols,
    label_col,
    *,
    encoding: str = "utf-8",
    delimiter: str = ",",
    may_be_target: bool = True,
    keep=(),
    text=(),
    auto: bool = False,
    missing: bool = False,
):
    """Columns ``cols`` of a CSV as X (:func:`parse_columns`: float64 of shape (n, len(cols))
    when all are numbers, else a dict of position to column), the labels in
    column ``label_col`` as :func:`parse_labels` gives them (None when ``label_col`` is None),
    and the cells of the columns ``keep`` as read (a list of n strings each).

    ``header`` is the file's, as :func:`open_table` reads it (None: the file has no
    header, and only the careful reader reads it). A C reader fills one preallocated X
    chunk by chunk: pandas' when installed, else :func:`numpy.loadtxt`. Any cell or row it
    does not take as it is sends the file to :func:`read_csv`, the careful reader, which
    reads it or names the line at fault: same results, same messages.
    """
    fast = None
    if header is not None and not set(keep) & set(cols) and not set(text) & set(cols):
        try:
            fast = _fast_columns(path, header, cols, label_col, list(keep), encoding, delimiter)
        except (ValueError, TypeError, LookupError, OSError):
            fast = None  # the careful reader says what is wrong, with its line
    if fast:
        return fast
    header, rows, lines = read_csv(
        path, require_header=header is not None, encoding=encoding, delimiter=delimiter
    )
    X = parse_columns(
        header, rows, lines, cols, path, may_be_target, text=set(text), auto=auto, missing=missing
    )
    kept = [[r[j] for r in rows] for j in keep]
    if label_col is None:
        return X, None, kept
    name = header[label_col] if header else f"{label_col + 1}"
    return X, parse_labels(name, [r[label_col] for r in rows], lines, path), kept


def _fast_columns(path, header, cols, label_col, keep, encoding, delimiter):
    """read_csv_columns by a C reader, or None when the careful reader must look."""
    records = _records(path, encoding, delimiter)
    skip, first = next(records)[0], next(records, None)
    records.close()
    if first is None or len(first[1]) != len(header):
        return None  # (a long first row is the one pandas would not report)
    X, n, labels, kept, last = None, 0, [], [[] for _ in keep], len(header) - 1
    args = (path, len(header), skip, cols, label_col, keep, encoding, delimiter)
    pandas = _pandas_for(path)
    whole = pandas is not None and _file_size(path) <= PANDAS_WHOLE_MAX_BYTES
    chunks = _pandas_chunks(pandas, whole, *args) if pandas else _numpy_chunks(*args)
    # Each chunk: len(cols) feature columns (m,), labels (m,) stripped or None, last column
    # or None, the kept columns (m,) each.
    for features, L, E, K in chunks:
        if X is None:  # (one chunk: its rows; else at least the file's lines)
            rows = len(features[0]) if whole else _line_bound(path)
            X = np.empty((rows, len(cols)), dtype=np.float64)
        F = X[n : n + len(features[0])]  # (a view: shorter than the chunk if X is full)
        _fill_columns(F, features)
        # A short row leaves the last column empty: the careful reader tells it from a cell.
        if not np.isfinite(F).all() or (E is not None and last not in cols and (E == "").any()):
            return None
        labels.append(L)
        for store, column in zip(kept, K):
            store.extend(column.tolist())
        n += len(F)
    y = None if n == 0 or label_col is None else _labels_of(labels)
    if n == 0 or (label_col is not None and y is None):
        return None
    return X[:n], y, kept


def _labels_of(parts: list) -> np.ndarray | None:
    """The labels of a file's chunks, as :func:`parse_labels` gives them: int64 as pandas
    inferred them (the integers the careful reader would find), else from the stripped
    strings; None when one is empty."""
    if all(part.dtype == np.int64 for part in parts):
        return np.concatenate(parts)
    labels = [label for part in parts for label in part.tolist()]
    return _label_array(labels) if all(labels) else None


FILL_ROWS = 4096
"""Rows of X filled at a time from the reader's columns: a block of rows stays in cache
while each column writes its strided cells into it (column by column over all of X, each
write would touch every row's cache line again: several times slower on a large file)."""


def _fill_columns(F: np.ndarray, columns: list) -> None:
    """``F[:, k] = columns[k]`` for each k (the columns may be longer than F), by blocks of
    :data:`FILL_ROWS` rows."""
    for start in range(0, len(F), FILL_ROWS):
        block = F[start : start + FILL_ROWS]
        for k, column in enumerate(columns):
            block[:, k] = column[start : start + len(block)]


def _file_size(path) -> int:
    return Path(path).expanduser().stat().st_size


PANDAS_WHOLE_MAX_BYTES = 1 << 30
"""The largest CSV pandas reads in one call rather than in chunks: one call is what pandas
(3.1 and later) parses on several threads, and it costs a second copy of X for a moment;
a larger file is read in chunks, so that X is never held twice."""

PANDAS_MIN_BYTES = 8 << 20
"""The smallest CSV the fast path reads with pandas rather than :func:`numpy.loadtxt`:
importing pandas takes about 0.2 s, which its faster parsing wins back only on files of
several megabytes."""


def _pandas_for(path):
    """pandas, to read ``path`` with: when it is installed and either already imported or
    the file is large enough to repay importing it (:data:`PANDAS_MIN_BYTES`); else None."""
    if "pandas" not in sys.modules:
        try:
            if _file_size(path) < PANDAS_MIN_BYTES:
                return None
        except OSError:
            return None
    try:
        import pandas
    except ImportError:
        return None
    return pandas


def _line_bound(path) -> int:
    """At least the number of lines in a file (the rows to preallocate); a NUL byte is a
    ValueError (see :func:`_checked_blocks`)."""
    for end in (b"\n", b"\r"):  # (\r alone ends the lines of old Mac files)
        count = sum(block.count(end) for block in _checked_blocks(path))
        if count:
            return count + 1
    return 1


def _has_minus_zero(path) -> bool:
    """Whether the text ``-0`` occurs in a file; a NUL byte is a ValueError (see
    :func:`_checked_blocks`). pandas reads an integer column's ``-0`` as 0, the careful
    reader (and a float column) as -0.0."""
    found, before = False, b""
    for block in _checked_blocks(path):
        found = found or b"-0" in block or (before == b"-" and block[:1] == b"0")
        before = block[-1:]
    return found


BLOCK_BYTES = 1 << 20
"""Bytes read at a time by the scans of a whole file (:func:`_checked_blocks`)."""


def _checked_blocks(path):
    """The file's bytes, :data:`BLOCK_BYTES` at a time. A file with a NUL byte is a ValueError: the C
    readers drop what the careful reader keeps."""
    with open(Path(path).expanduser(), "rb") as f:
        for block in iter(lambda: f.read(BLOCK_BYTES), b""):
            if b"\x00" in block:
                raise ValueError("a NUL byte: for the careful reader")
            yield block


def _pandas_chunks(pd, whole, path, width, skip, cols, label_col, keep, encoding, delimiter):
    """The file in one chunk (``whole``: one call, which pandas may parse on several
    threads) or in chunks of 8 * CHUNK_ROWS rows."""
    # All columns are read (usecols lets a long row pass), none as the index (the careful
    # reader checked the first row); pandas drops a UTF-8 byte-order mark itself.
    minus_zero = _has_minus_zero(path) if whole else True
    texts = {j: str for j in range(width) if j not in cols}
    inferred = {j: kind for j, kind in texts.items() if j != label_col or j in keep}
    options = dict(
        sep=delimiter,
        header=None,
        skiprows=skip,
        na_filter=False,
        encoding=encoding,
        engine="c",
        **({} if whole else {"chunksize": 8 * CHUNK_ROWS}),
    )
    extra = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
    read = functools.partial(
        pd.read_csv,
        str(Path(path).expanduser()),
        names=list(range(width)),
        index_col=False,
        dtype={**texts, **dict.fromkeys(cols, np.float64)},
        **options,
        **extra,
    )
    if whole:  # the features' types inferred (faster than asked for): when they are numbers
        chunk = read(dtype=inferred)
        features = _inferred_numbers(chunk, cols, minus_zero)
        if features is not None and _inferred_labels(chunk, label_col):
            yield _pandas_parts(chunk, features, width, label_col, keep)
            return
        del chunk
    binary = np.zeros(len(cols), dtype=bool)
    with nullcontext([read()]) if whole else read() as reader:
        for chunk in reader:
            features = [chunk[j].to_numpy() for j in cols]  # (copied once, into X)
            binary |= [((f == 0) | (f == 1)).all() for f in features]
            yield _pandas_parts(chunk, features, width, label_col, keep)
            del chunk, features
    if binary.any():  # pandas reads a chunk all true/false as 1/0: the careful reader does not
        suspects = [cols[k] for k in np.flatnonzero(binary)]
        options["chunksize"] = 8 * CHUNK_ROWS
        with pd.read_csv(Path(path).expanduser(), usecols=suspects, dtype=str, **options) as f:
            if any(
                chunk.stack().str.strip().str.lower().isin(["true", "false"]).any() for chunk in f
            ):
                raise ValueError("true or false in a feature column: for the careful reader")


def _inferred_numbers(chunk, cols, minus_zero: bool) -> list | None:
    """The feature columns of a chunk read with their types inferred, as float64; None when
    one is not float64 nor int64, or is int64 with a 0 that could be the text ``-0``
    (``minus_zero``), which the careful reader reads as -0.0: the typed read then decides."""
    features = []
    for j in cols:
        column = chunk[j].to_numpy()
        if column.dtype == np.int64 and not (minus_zero and not column.all()):
            column = column.astype(np.float64)
        if column.dtype != np.float64:
            return None
        features.append(column)
    return features


def _inferred_labels(chunk, label_col) -> bool:
    """Whether the label column of a chunk read with its type inferred is what the labels
    need: int64 (all 64-bit integers) or pandas' text; not floats, booleans nor objects (an
    integer beyond 64 bits), whose text is lost."""
    return label_col is None or chunk[label_col].dtype in (np.int64, "str")


def _pandas_parts(chunk, features, width, label_col, keep) -> tuple:
    """What :func:`_fast_columns` takes of a chunk: the feature columns (m,) each, the labels
    (m,): int64, or text stripped; None without a label column), the last column when it is
    text (a short row leaves it empty; a column of numbers has no short row), the kept
    columns (m,) each."""
    labels = None if label_col is None else chunk[label_col]
    if labels is not None and labels.dtype != np.int64:
        labels = labels.str.strip()
    last = chunk[width - 1].to_numpy()
    return (
        features,
        None if labels is None else labels.to_numpy(),
        last if last.dtype == object else None,
        [chunk[j].to_numpy() for j in keep],
    )


def _numpy_chunks(path, width, skip, cols, label_col, keep, encoding, delimiter):
    options = dict(delimiter=delimiter, comments=None, quotechar='"', ndmin=2)
    with open(Path(path).expanduser(), newline="", encoding=text_encoding(encoding)) as f:
        for _ in range(skip):
            next(f)
        while chunk := list(itertools.islice(f, CHUNK_ROWS)):
            # loadtxt skips the columns it is not asked for, whatever their number: the
            # delimiters are counted here instead (a quote could hide one: careful reader).
            lines = [line for line in chunk if line.strip()]
            if any('"' in line or line.count(delimiter) != width - 1 for line in lines):
                raise ValueError("a row the careful reader must read")
            if not lines:
                continue
            F = np.loadtxt(lines, usecols=cols, dtype=np.float64, **options)
            texts = [
                np.loadtxt(lines, usecols=[j], dtype=str, **options)[:, 0]
                for j in ([] if label_col is None else [label_col]) + keep
            ]
            labels = None if label_col is None else np.char.strip(texts.pop(0))
            yield F.T, labels, None, texts


# ----------------------------------------------------------------------------- Parquet


def _arrow(path: str, read):
    """``read(pyarrow.parquet, path)``; a DataError naming the extra, or the file at fault."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise bad(
            ': reading .parquet files needs pyarrow; install it with pip install "nnclf[parquet]"'
        ) from None
    try:
        return read(pq, Path(path).expanduser())
    except (pa.ArrowException, OSError) as e:
        why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise bad(
            f": {path} is not a readable Parquet file ({shown(why, 80)}); check that it "
            "is the file you meant, or write it again"
        ) from None


def parquet_columns(path: str) -> list[str]:
    """The column names of a Parquet file (its schema; no data is read), each once."""
    names = [str(name) for name in _arrow(path, lambda pq, p: pq.read_schema(p).names)]
    for j, name in enumerate(names):
        if name in names[:j]:
            raise bad(
                f": {path} names column {shown(name)} twice; write it again with distinct "
                "column names"
            )
    return names


def read_parquet(
    path: str,
    names: list[str],
    label: str | None,
    keep=(),
    *,
    text=(),
    auto=False,
    missing=False,
):
    """Columns ``names`` of a Parquet file as X, float64 of shape (n, len(names)) when all
    are numbers (else a dict of position in ``names`` to column, as :func:`parse_columns`
    gives), the labels in column ``label`` (None: no labels): integers, booleans, strings
    (UTF-8 bytes become strings), finite floats; and the columns ``keep`` as text (an empty
    cell: ""). Columns named in ``text``, and with ``auto`` those of strings, dictionaries
    (pandas' categorical) or booleans, are text columns; ``missing``: nulls (and NaN) are
    missing values, else an error. Rows are counted from 0 in messages."""
    wanted = list(dict.fromkeys([*names, *([label] if label is not None else []), *keep]))
    table = _arrow(path, lambda pq, p: pq.read_table(p, columns=wanted))
    if not table.num_rows:
        raise bad(f": {path} has no rows")
    X = np.empty((table.num_rows, len(names)), dtype=np.float64)
    texts = {}
    for k, name in enumerate(names):
        column, what = table.column(name), f": {path} column {shown(name)}"
        if name in text or (auto and _is_text_type(column.type)):
            texts[k] = text_column(column.to_pylist())
            if not missing and any(v is None for v in texts[k].tolist()):
                row = next(i for i, v in enumerate(texts[k].tolist()) if v is None)
                raise bad(
                    f"{what} has a missing value at row {row} (0-based); fill it, or let "
                    "nnclf impute it (data.missing: impute)"
                )
            continue
        X[:, k] = _parquet_numbers(column, what, missing)
    kept = [["" if v is None else str(v) for v in table.column(k).to_pylist()] for k in keep]
    if texts:
        X = {k: texts[k] if k in texts else X[:, k] for k in range(len(names))}
    if label is None:
        return X, None, kept
    column = table.column(label)
    _no_nulls(column, f": {path} column {shown(label)} has an empty label", name="target")
    return X, _parquet_labels(column, label, path), kept


def _is_text_type(kind) -> bool:
    import pyarrow as pa

    if pa.types.is_dictionary(kind):
        return True
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _parquet_numbers(column, what: str, missing: bool) -> np.ndarray:
    """A numeric Parquet column as float64 (NaN where null, when ``missing``)."""
    if not missing:
        _no_nulls(column, f"{what} has an empty cell")
    if column.null_count:
        values = np.array([np.nan if v is None else v for v in column.to_pylist()], dtype=object)
    else:
        values = column.to_numpy()
    if values.dtype.kind not in "biuf" and not (column.null_count and _numeric_type(column)):
        raise bad(
            f"{what} holds {column.type} values, not numbers; make it categorical "
            "(data.categorical: auto, or list it), or leave it out with data.drop"
        )
    values = values.astype(np.float64)
    bad_rows = np.flatnonzero(np.isinf(values) if missing else ~np.isfinite(values))
    if len(bad_rows):
        raise bad(
            f"{what} has non-finite value {values[bad_rows[0]]} at row "
            f"{bad_rows[0]} (0-based); feature columns must hold finite numbers"
        )
    return values


def _numeric_type(column) -> bool:
    import pyarrow as pa

    kind = column.type
    return pa.types.is_integer(kind) or pa.types.is_floating(kind)


def _parquet_labels(column, label: str, path: str) -> np.ndarray:
    """A Parquet label column as check_label_array takes it: strings, bytes, numbers."""
    import pyarrow as pa

    kind = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        y = np.array(column.to_pylist(), dtype=str)
    elif pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        y = np.array(column.to_pylist(), dtype=bytes)
    elif pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        y = np.asarray(column.to_pylist()) if kind != column.type else column.to_numpy()
    else:
        raise bad(
            f": {path} column {shown(label)} holds {kind} values, which cannot be class "
            "labels; store the labels as integers or strings",
            name="target",
        )
    return check_label_array(y, f"column {shown(label)}", len(y), path)


def _no_nulls(column, problem: str, name: str = "source") -> None:
    if column.null_count:
        row = int(np.argmax(column.is_null().to_numpy()))
        raise bad(f"{problem} at row {row} (0-based); fill it or remove the row", name=name)


# ----------------------------------------------------------------------------- npz


def read_npz(path: str, *, require_y: bool):
    """``X``, ``y``, ``feature_names`` (None when the file has none), ``X_test``, ``y_test``
    of an .npz, checked."""
    arrays = read_arrays(
        Path(path).expanduser(),
        kind="a data .npz",
        error=lambda problem: bad(f": {path} {problem}"),
        hint="save X as numbers and y as integers or strings, e.g. "
        "np.savez(path, X=X, y=y.astype(str))",
    )
    present = ", ".join(arrays) or "none"
    if "X" not in arrays or (require_y and "y" not in arrays):
        missing = "X" if "X" not in arrays else "y"
        raise bad(
            f": {path} has no array '{missing}' (arrays: {present}); "
            "save it with np.savez(path, X=X, y=y)"
        )
    X = _check_matrix(arrays["X"], "X", path)
    y = check_label_array(arrays["y"], "y", len(X), path) if "y" in arrays else None
    d = X.shape[1]
    names = None
    if "feature_names" in arrays:
        names = tuple(_text(n) for n in np.ravel(arrays["feature_names"]))
        if len(names) != d:
            raise bad(
                f": {path} has {len(names)} feature_names but X has {d} columns; "
                "make them match or drop feature_names"
            )
    X_test = y_test = None
    if ("X_test" in arrays) != ("y_test" in arrays):
        raise bad(f": {path} has only one of X_test and y_test; save both or neither")
    if "X_test" in arrays:
        X_test = _check_matrix(arrays["X_test"], "X_test", path)
        if X_test.shape[1] != d:
            raise bad(
                f": {path} X_test has {X_test.shape[1]} columns but X has {d}; make them match"
            )
        y_test = check_label_array(arrays["y_test"], "y_test", len(X_test), path)
    return X, y, names, X_test, y_test


def _text(value) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def _check_matrix(a: np.ndarray, name: str, path: str) -> np.ndarray:
    if a.ndim != 2:
        raise bad(
            f": {path} {name} must be 2-D (n_samples, n_features), got shape {a.shape}; "
            "reshape it, e.g. X.reshape(len(X), -1)"
        )
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise bad(f": {path} {name} is empty (shape {a.shape})")
    if a.dtype.kind not in "biuf":
        raise bad(f": {path} {name} must be numeric, got dtype {a.dtype}")
    a = a.astype(np.float64)
    bad_cells = np.argwhere(np.isinf(a))  # (NaN is a missing value: Table.read decides)
    if len(bad_cells):
        i, j = bad_cells[0]
        raise bad(
            f": {path} {name} has a non-finite value ({a[i, j]}) at row {i}, column {j} "
            "(0-based); remove or impute it"
        )
    return a


def _no_nan(X, name: str, path: str) -> None:
    """An error naming the first NaN of an array X (a missing value, not allowed here)."""
    if isinstance(X, Rows):
        return  # (a folder's X is checked finite when it is opened)
    cells = np.argwhere(np.isnan(X))
    if len(cells):
        i, j = cells[0]
        raise bad(
            f": {path} {name} has a non-finite value (nan) at row {i}, column {j} "
            "(0-based); remove or impute it, or let nnclf impute it (data.missing: impute)"
        )
