"""A request's body read as the rows ``nnclf predict`` reads.

Contract
--------
:func:`read_request` takes the body of ``POST /invocations`` and its ``Content-Type`` and
returns the model's raw inputs (a float64 matrix, or a :class:`~nnclf.data.frame.Frame` when
the model has categorical columns), lined up with its features; or raises :class:`Refusal`,
the HTTP status, MLflow's ``error_code`` and a one-line message.

The bodies are MLflow's scoring protocol: ``text/csv`` (a header row, then rows), or
``application/json`` with exactly one of

- ``dataframe_split``: ``{"columns": [...], "data": [[...], ...]}`` (``index`` is ignored);
- ``dataframe_records``: ``[{"column": value, ...}, ...]`` (a key a record lacks is missing);
- ``instances`` or ``inputs``: records as above, a column-wise object ``{"column": [...]}``,
  or rows without names ``[[...], ...]``, taken in the order of the model's features.

Column names that are all numbers (pandas' default ``0, 1, ...``) name nothing: the columns
are taken in the model's order, as ``nnclf predict`` takes a CSV whose first row is numbers.

Every body becomes CSV text and is read by :func:`nnclf.runs.report.prediction_inputs`, the
function ``nnclf predict`` reads its ``--data`` with: columns are matched by name, a label
column is left out, categorical columns and missing values follow the model's preparation,
and each fault has the CLI's wording (naming "the request" instead of a file; rows of a JSON
body are counted from 1). A JSON value becomes the cell a CSV would hold for it, so that the
same rows give the same numbers: a finite number its shortest repr (which reads back as the
same float64), ``null`` and ``NaN`` the missing cells ``null`` and ``NaN``; ``Infinity`` and
``-Infinity`` (accepted as Python's ``json`` reads them) are missing values when the model
imputes, else the error any non-finite cell is.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import tempfile
from dataclasses import dataclass

from nnclf.base.suggest import closest
from nnclf.data.tables import is_number
from nnclf.errors import NnclfError
from nnclf.runs.report import prediction_inputs

__all__ = ["Refusal", "read_request", "FORMS", "CSV", "JSON"]

FORMS = ("dataframe_split", "dataframe_records", "instances", "inputs")
CSV, JSON = "text/csv", "application/json"


@dataclass
class Refusal(Exception):
    """A request answered with ``status`` and ``{"error_code": code, "message": message}``."""

    status: int
    code: str
    message: str

    def __str__(self) -> str:
        return self.message


def bad(message: str, code: str = "BAD_REQUEST") -> Refusal:
    return Refusal(400, code, message)


def media_type(content_type: str | None) -> str:
    """``text/csv`` or ``application/json`` (UTF-8 only, as MLflow's server), else 415."""
    parts = [p.strip() for p in (content_type or "").split(";")]
    kind = parts[0].lower()
    charset = next((p.split("=", 1)[1] for p in parts[1:] if p.lower().startswith("charset=")), "")
    if kind not in (CSV, JSON) or charset.strip('"').lower() not in ("", "utf-8", "utf8"):
        raise Refusal(
            415,
            "BAD_REQUEST",
            f"unsupported content type {content_type or '(none)'!r}; send "
            f"Content-Type: {JSON} (with one of {', '.join(FORMS)}) or {CSV}, in UTF-8",
        )
    return kind


def read_request(model, body: bytes, content_type: str | None, max_rows: int):
    """The model's raw inputs in a request body, in order (X: (n, d) or a Frame; None for
    a JSON body of no rows)."""
    kind = media_type(content_type)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise bad(
            f"the body is not UTF-8 text: byte {e.start} is {body[e.start]:#04x}",
            "MALFORMED_REQUEST",
        ) from None
    if kind == CSV:
        return _rows_of_csv(model, text, None, "the request", max_rows)
    form, names, rows = json_rows(text, model)
    _check_rows(len(rows), max_rows)
    if not rows:
        return None  # nothing to predict (a CSV needs a row, as nnclf predict's --data does)
    if names is not None and all(is_number(n) for n in names):  # pandas' default 0, 1, ...
        names, rows = None, _lists(rows, form, _width(model))  # no names: taken in order
    if names is None:  # rows in the model's order: named as its features (else read headerless)
        names = None if model.feature_names is None else list(model.feature_names)
    impute = model.preparation is not None and model.preparation.missing == "impute"
    text = csv_text(names, rows, impute, form)
    return _rows_of_csv(model, text, ",", f"the request's {form}", max_rows)


def _check_rows(n: int, max_rows: int) -> None:
    if n > max_rows:
        raise Refusal(
            413,
            "RESOURCE_LIMIT_EXCEEDED",
            f"the request has {n} rows, more than --max-rows {max_rows}; send them in "
            "smaller batches",
        )


def _rows_of_csv(model, text: str, delimiter, where: str, max_rows: int):
    """``text`` read as ``nnclf predict --data`` reads a CSV file holding it."""
    with tempfile.NamedTemporaryFile(
        "w", suffix=".csv", prefix="nnclf-request-", encoding="utf-8", newline="", delete=False
    ) as f:
        f.write(text)
    try:
        inputs = prediction_inputs(model, f.name, delimiter=delimiter, encoding="utf-8")
    except NnclfError as e:
        raise bad(_told(str(e), f.name, where)) from None
    finally:
        os.unlink(f.name)
    _check_rows(len(inputs.X), max_rows)
    return inputs.X


def _told(message: str, path: str, where: str) -> str:
    """The CLI's message about the file holding the request, told about the request: the
    file's name is the request's, and a JSON body's lines are its rows (line 1: the header)."""
    message = message.replace(f"--data: {path}", where).replace(path, where)
    if where != "the request":
        message = re.sub(r"\bat line (\d+)", lambda m: f"in row {int(m.group(1)) - 1}", message)
    return message


# ----------------------------------------------------------------------------- JSON


def json_rows(text: str, model) -> tuple[str, list[str] | None, list[list]]:
    """The payload form of a JSON body, its column names (None: in the model's order) and
    its rows of values."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as e:
        raise bad(f"the body is not valid JSON: {e}", "MALFORMED_REQUEST") from None
    if not isinstance(document, dict):
        raise bad(f"the JSON body must be an object with one of {_forms()}, got {_kind(document)}")
    given = [k for k in document if k in FORMS]
    others = [k for k in document if k not in FORMS]
    if len(given) != 1 or others:
        if others:
            close = closest(others[0], FORMS)
            hint = f" (did you mean {close!r}?)" if close else ""
            problem = f"unknown key {others[0]!r}{hint}"
        else:
            problem = "no payload key" if not given else f"two payload keys ({', '.join(given)})"
        raise bad(f"the JSON body must have exactly one of {_forms()}: {problem}")
    form = given[0]
    value = document[form]
    if form == "dataframe_split":
        names, rows = _split(value, _width(model))
    elif form == "dataframe_records" or (isinstance(value, list) and _all_records(value)):
        names, rows = _records(value, form)
    elif isinstance(value, dict):
        names, rows = _columns(value, form)
    else:
        names, rows = None, _lists(value, form, _width(model))
    return form, names, rows


def _forms() -> str:
    return ", ".join(FORMS)


def _kind(value) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return "a number"
    return {dict: "an object", list: "an array", str: "a string"}[type(value)]


def _width(model) -> int:
    names = model.feature_names
    return len(names) if names is not None else model.n_columns


def _all_records(value: list) -> bool:
    return bool(value) and all(isinstance(r, dict) for r in value)


def _split(value, width: int) -> tuple[list[str] | None, list[list]]:
    if not isinstance(value, dict) or "data" not in value:
        raise bad(
            'dataframe_split must be an object {"columns": [...], "data": [[...], ...]}, '
            f"got {_kind(value)}" + (" without 'data'" if isinstance(value, dict) else "")
        )
    extra = [k for k in value if k not in ("columns", "data", "index")]
    if extra:
        raise bad(
            f"dataframe_split has an unknown key {extra[0]!r}; its keys are columns, data, index"
        )
    names = value.get("columns")
    if names is None:
        return None, _lists(value["data"], "dataframe_split", width)
    if not isinstance(names, list) or not all(
        isinstance(n, (str, int)) and not isinstance(n, bool) for n in names
    ):
        raise bad("dataframe_split: 'columns' must be an array of column names")
    names = [str(n) for n in names]
    return names, _lists(value["data"], "dataframe_split", len(names), named=True)


def _lists(rows, form: str, width: int, named: bool = False) -> list[list]:
    """Rows given as arrays, each of ``width`` values: as many as ``columns`` names
    (``named``), else as the model has features."""
    if not isinstance(rows, list):
        raise bad(f"{form} must be an array of rows, got {_kind(rows)}")
    for i, row in enumerate(rows, 1):
        if not isinstance(row, list):
            raise bad(f"{form}: row {i} is {_kind(row)}, not an array of values")
        if len(row) != width:
            raise bad(
                f"{form}: row {i} has {len(row)} values but "
                + (
                    f"'columns' names {width}"
                    if named
                    else f"the model expects {width} features in order; name the columns "
                    "(records, or dataframe_split with columns) to match them by name"
                )
            )
    return rows


def _records(value, form: str) -> tuple[list[str], list[list]]:
    if not isinstance(value, list):
        raise bad(f"{form} must be an array of records (objects), got {_kind(value)}")
    names: dict[str, None] = {}
    for i, record in enumerate(value, 1):
        if not isinstance(record, dict):
            raise bad(f"{form}: row {i} is {_kind(record)}, not a record (an object)")
        names.update(dict.fromkeys(record))
    return list(names), [[record.get(n) for n in names] for record in value]


def _columns(value: dict, form: str) -> tuple[list[str], list[list]]:
    lengths = {name: len(v) for name, v in value.items() if isinstance(v, list)}
    if len(lengths) != len(value) or len(set(lengths.values())) > 1:
        raise bad(
            f"{form} as an object must map each column name to an array of its values, "
            "all of the same length"
        )
    return list(value), [list(row) for row in zip(*value.values())]


def csv_text(names: list[str] | None, rows: list[list], impute: bool, form: str) -> str:
    """Rows of JSON values as the CSV text ``nnclf predict`` would read for them."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if names is not None:
        writer.writerow(names)
    for i, row in enumerate(rows, 1):
        writer.writerow([_cell(v, impute, form, i) for v in row])
    return out.getvalue()


def _cell(value, impute: bool, form: str, row: int) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return repr(value)
        if math.isnan(value) or impute:
            return "NaN"
        return "inf" if value > 0 else "-inf"
    raise bad(f"{form}: row {row} holds {_kind(value)}; give numbers, text or null")
