"""Rules: the type and range of a setting, declared once, and the one function that checks it.

Contract
--------
A :class:`Rule` says what one setting may be (``integer(1)``, ``number(0, 1)``,
``choice(TRANSFERS.keys(), "transfer function")``, ...) and words it for messages
(``an integer >= 1``). A settings dataclass keeps one table ``RULES`` of its fields' rules,
and :func:`check` validates an instance against it when it is made: a wrong value is a
:class:`~nnclf.errors.ConfigError` named after the field (``epochs must be an integer >= 1,
got 0``); the layer that reads a config adds the section once (``train.epochs must be ...``).

Each layer declares its own section with these rules: :class:`nnclf.data.settings.DataConfig`,
:class:`nnclf.training.settings.SGDSettings`, and :mod:`nnclf.config.settings` the rest and
the whole. :class:`nnclf.NNClassifier` derives its parameter constraints from the same tables.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from nnclf.base.suggest import did_you_mean
from nnclf.errors import ConfigError

__all__ = [
    "Rule",
    "PerLayer",
    "integer",
    "number",
    "boolean",
    "choice",
    "text",
    "instance",
    "check",
    "fail",
    "as_dict",
    "FIELD_KINDS",
    "check_fields",
]


@dataclass(frozen=True)
class Rule:
    """The type and range of one setting.

    ``kind`` is ``"integer"``, ``"number"`` (finite), ``"boolean"``, ``"choice"`` (a string
    among ``choices``, a live collection, so that a transfer function registered later
    counts), ``"text"`` (a non-empty string) or ``"instance"`` (of ``cls``). ``low`` and
    ``high`` bound numbers; ``closed`` says which bounds are allowed ("left", "right", "both",
    "neither"). ``optional`` allows None (YAML's null). ``says`` replaces the generated
    description of the valid values in messages.
    """

    kind: str
    low: float | None = None
    high: float | None = None
    closed: str = "left"
    choices: Collection[str] = ()
    noun: str = "value"
    optional: bool = False
    cls: type | None = None
    says: str = ""

    def describe(self) -> str:
        """The valid values in words: ``an integer >= 1``, ``a number in [0, 1)``."""
        if self.says:
            return self.says
        cls = getattr(self.cls, "__name__", "")
        what = {
            "integer": "an integer",
            "number": "a number",
            "boolean": "true or false",
            "choice": "a string",
            "text": "a non-empty string",
            "instance": f"{'an' if cls[:1] in 'AEIOU' else 'a'} {cls}",
        }[self.kind]
        if self.low is not None and self.high is not None:
            left = "[" if self.closed in ("left", "both") else "("
            right = "]" if self.closed in ("right", "both") else ")"
            what += f" in {left}{self.low:g}, {self.high:g}{right}"
        elif self.low is not None:
            what += f" {'>=' if self.closed in ('left', 'both') else '>'} {self.low:g}"
        elif self.high is not None:
            what += f" {'<=' if self.closed in ('right', 'both') else '<'} {self.high:g}"
        return what + (" or null" if self.optional else "")

    def problem(self, value) -> str | None:
        """None when ``value`` is valid; else the message after the setting's name."""
        if value is None and self.optional:
            return None
        if self.kind == "choice" and isinstance(value, str) and value not in self.choices:
            return (
                f": unknown {self.noun} {value!r}{did_you_mean(value, self.choices)}; "
                f"choose one of {', '.join(self.choices)}"
            )
        if not self._fits(value):
            return f" must be {self.describe()}, got {value!r}"
        return None

    def _fits(self, value) -> bool:
        if self.kind in ("integer", "number"):
            kinds = (
                (int, np.integer)
                if self.kind == "integer"
                else (int, float, np.integer, np.floating)
            )
            return (
                isinstance(value, kinds)
                and not isinstance(value, bool)
                and math.isfinite(value)
                and self._in_range(value)
            )
        if self.kind == "boolean":
            return isinstance(value, (bool, np.bool_))
        if self.kind == "instance":
            return isinstance(value, self.cls)
        return isinstance(value, str) and (self.kind == "choice" or value.strip() != "")

    def _in_range(self, value) -> bool:
        low_ok = self.low is None or (
            value >= self.low if self.closed in ("left", "both") else value > self.low
        )
        high_ok = self.high is None or (
            value <= self.high if self.closed in ("right", "both") else value < self.high
        )
        return low_ok and high_ok


def integer(low=None, high=None, closed="left", **kw) -> Rule:
    return Rule("integer", low, high, closed, **kw)


def number(low=None, high=None, closed="left", **kw) -> Rule:
    return Rule("number", low, high, closed, **kw)


def boolean() -> Rule:
    return Rule("boolean")


def choice(choices: Collection[str], noun: str) -> Rule:
    return Rule("choice", choices=choices, noun=noun)


def text(says: str, optional: bool = False) -> Rule:
    return Rule("text", says=says, optional=optional)


def instance(cls: type, optional: bool = False) -> Rule:
    return Rule("instance", cls=cls, optional=optional)


def check(settings) -> None:
    """Check every field of a settings dataclass against its ``RULES`` table.

    Raises
    ------
    ConfigError
        Named after the first field at fault.
    """
    for name, rule in settings.RULES.items():
        problem = rule.problem(getattr(settings, name))
        if problem is not None:
            raise ConfigError(problem, name=name)


def fail(name: str, problem: str) -> None:
    """Raise the ConfigError of setting ``name``; ``problem`` is the text after its name."""
    raise ConfigError(problem, name=name)


@dataclass(frozen=True)
class PerLayer(Rule):
    """A value of the rule's kind for every hidden layer, or a list of them, one per layer
    (1 to ``most``). A wrong single value reads as for the plain rule (``hidden_units must be
    an integer >= 1, got 0``); a wrong element is named by its index (``hidden_units[1] must
    be ...``)."""

    most: int = 1

    def _element(self) -> Rule:
        return Rule(**{f.name: getattr(self, f.name) for f in dataclasses.fields(Rule)})

    def problem(self, value) -> str | None:
        element = self._element()
        if not isinstance(value, (list, tuple)):
            return element.problem(value)
        if not 1 <= len(value) <= self.most:
            return (
                f" must list 1 to {self.most} values (one per hidden layer), got "
                f"{len(value)}: {list(value)!r}"
            )
        for k, item in enumerate(value):
            own = element.problem(item)
            if own is not None:
                return f"[{k}]{own}"
        return None


def as_dict(settings) -> dict[str, Any]:
    """A settings dataclass as plain data: sections nested, an object with ``to_dict`` (a
    schedule) as its mapping."""
    out = {}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if callable(getattr(value, "to_dict", None)):  # a schedule, as its mapping
            value = value.to_dict()
        elif dataclasses.is_dataclass(value):
            value = as_dict(value)
        elif isinstance(value, Mapping):
            value = dict(value)
        out[f.name] = value
    return out


# ----------------------------------------------------------------------------- fields of files
# A model file's metadata and a checkpoint's state are JSON a user can edit: each field read
# back is checked for its type here, once, so that a wrong one is one error naming the field
# rather than a traceback wherever it is first used.


def _integer(x, low=0) -> bool:
    return type(x) is int and x >= low


def _number(x) -> bool:
    return type(x) in (int, float) and math.isfinite(x)


def _list_of(test: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda x: type(x) is list and all(test(v) for v in x)


def _labels(x) -> bool:
    """A non-empty list of distinct labels of one type: strings, integers, numbers or booleans."""
    return (
        type(x) is list
        and len(x) > 0
        and len({type(v) for v in x}) == 1
        and all(type(v) in (str, bool) or _number(v) for v in x)
        and len(set(x)) == len(x)
    )


def _rng_state(x) -> bool:
    """Whether a generator like the trainer's (PCG64) takes ``x`` as its state."""
    try:
        np.random.default_rng().bit_generator.state = x
    except (TypeError, ValueError, KeyError, OverflowError):
        return False
    return True


def _row(x) -> bool:
    return type(x) is dict and all(type(v) in (int, float, type(None)) for v in x.values())


FIELD_KINDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "float": (lambda x: type(x) in (int, float), "a number"),
    "rng_state": (_rng_state, "the state of a numpy PCG64 generator"),
    "int>=0": (_integer, "an integer >= 0"),
    "int>=1": (lambda x: _integer(x, 1), "an integer >= 1"),
    "number": (_number, "a finite number"),
    "text": (lambda x: type(x) is str, "a string"),
    "mapping": (lambda x: type(x) is dict, "a JSON object"),
    "list": (lambda x: type(x) is list, "a list"),
    "records": (_list_of(_row), "a list of rows of numbers"),
    "texts": (_list_of(lambda v: type(v) is str), "a list of strings"),
    "transfers": (
        lambda x: type(x) is str or (_list_of(lambda v: type(v) is str)(x) and x != []),
        "a string or a non-empty list of strings",
    ),
    "sizes": (
        lambda x: _list_of(lambda v: _integer(v, 1))(x) and x != [],
        "a non-empty list of integers >= 1",
    ),
    "numbers": (_list_of(_number), "a list of finite numbers"),
    "labels": (_labels, "a non-empty list of distinct labels of one type"),
}
"""The kinds a field may be declared as in :func:`check_fields`: (test, words)."""


def check_fields(
    meta: Mapping, kinds: Mapping[str, str], error: Callable[[str], Exception]
) -> Mapping:
    """``meta``, after checking that each field named in ``kinds`` is of its kind (a key of
    :data:`FIELD_KINDS`, or ``"kind?"`` for "that or null", which may also be missing);
    ``error(problem)`` is raised for the first that is not."""
    for name, kind in kinds.items():
        if name not in meta:
            if kind.endswith("?"):
                continue
            raise error(f"has no {name!r} in its metadata; it was not written by nnclf")
        value, nullable = meta[name], kind.endswith("?")
        test, says = FIELD_KINDS[kind.rstrip("?")]
        if not (value is None and nullable) and not test(value):
            shown = repr(value)
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            raise error(
                f"its {name!r} is {shown}, not {says}{' or null' if nullable else ''}; "
                "the file was edited or damaged: use the file nnclf wrote"
            )
    return meta
