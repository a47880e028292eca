"""The ``data`` section of a config: :class:`DataConfig`, where the examples come from.

Contract
--------
Declared here beside :mod:`nnclf.data.sources`, which reads it, with the rules of
:mod:`nnclf.base.rules`; column names are checked against the file by the sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from nnclf.base.rules import Rule, boolean, check, fail, integer, number, text
from nnclf.data.tables import encoding_problem

__all__ = ["DataConfig"]


@dataclass(frozen=True)
class DataConfig:
    """Where the examples come from and how they are split and scaled.

    ``validation_fraction`` is a share of the training part (after the test split). ``n_*``
    are read by ``source: synthetic``; ``target``, ``features`` or ``drop`` (column names,
    checked by :mod:`nnclf.data.sources`) by CSV and Parquet; ``encoding``, ``delimiter`` by CSV.
    ``categorical`` ("auto", "none" or a list of columns) says which feature columns are
    categorical, ``missing`` ("impute" or "error") what a missing value does, and
    ``min_frequency`` which categories are folded into "other"
    (:mod:`nnclf.data.preparation`).
    """

    source: str = "sklearn:digits"
    target: str | None = None
    test_fraction: float = 0.2
    validation_fraction: float = 0.1
    standardize: bool = True
    n_samples: int = 1000
    n_features: int = 20
    n_classes: int = 3
    n_informative: int | None = None
    encoding: str = "utf-8"
    delimiter: str | None = None
    features: list[str] | None = None
    drop: list[str] | None = None
    categorical: str | list[str] = "auto"
    missing: str = "impute"
    min_frequency: int = 1

    RULES: ClassVar[dict[str, Rule]] = {
        "source": text("'sklearn:<name>', a .csv or .npz path, or 'synthetic'"),
        "target": text("a column name (or null for the last column)", optional=True),
        "test_fraction": number(0, 1),
        "validation_fraction": number(0, 1),
        "standardize": boolean(),
        "n_samples": integer(2),
        "n_features": integer(1),
        "n_classes": integer(2),
        "n_informative": integer(1, optional=True),
        "encoding": text("a text encoding such as utf-8 or latin-1"),
        "delimiter": Rule("instance", cls=str, optional=True, says="one character or null"),
        "features": Rule("instance", cls=list, optional=True, says="a list of names or null"),
        "drop": Rule("instance", cls=list, optional=True, says="a list of names or null"),
        "categorical": Rule(
            "instance", cls=(str, list), says="'auto', 'none' or a list of column names"
        ),
        "missing": Rule("choice", choices=("impute", "error")),
        "min_frequency": integer(1),
    }

    def __post_init__(self):
        check(self)
        problem = encoding_problem(self.encoding)
        if problem is not None:
            fail("encoding", problem)
        if isinstance(self.categorical, str) and self.categorical not in ("auto", "none"):
            fail(
                "categorical",
                f" must be 'auto', 'none' or a list of column names, got {self.categorical!r}",
            )
        if self.delimiter is not None and (len(self.delimiter) != 1 or self.delimiter in '"\r\n'):
            fail(
                "delimiter",
                " must be one character (not a quote), e.g. ';' or \"\\t\" for a "
                f"tab, or null to detect it; got {self.delimiter!r}",
            )
