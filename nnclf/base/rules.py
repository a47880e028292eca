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
the whole. :class:`nnclf.NNClassifier` derives its parameter constraints from the same tables
and checks its parameters with them. A schedule's parameters
(:mod:`nnclf.training.schedules`, worded ``stepwise``), an optimizer's
(:data:`nnclf.training.optimizers.OPTIMIZERS`), a network's sizes and a sweep's counts and
random ranges are Rules too; a sweep's values are checked as the settings they set.

The fields of the files nnclf writes and reads back (a model file's metadata, a checkpoint's
state, a sweep's trials.json) are declared by name in :data:`FIELD_KINDS`, Rules of JSON's
own types (``strict``), and checked by :func:`check_fields`. Every integer a Rule takes fits
in int64, and a message shows a value briefly (:func:`shown`: an integer of thousands of
digits by its length), so that no value a user writes becomes a traceback.
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
    "shown",
]


@dataclass(frozen=True)
class Rule:
    """The type and range of one setting.

    ``kind`` is ``"integer"`` (within int64), ``"number"`` (finite), ``"boolean"``,
    ``"choice"`` (a string among ``choices``, a live collection, so that a transfer function
    registered later counts), ``"text"`` (a non-empty string), ``"instance"`` (of ``cls``),
    ``"list"`` (of at least ``least`` values, each valid by the rule ``items``) or
    ``"custom"`` (``test(value)`` is true). ``low`` and ``high`` bound numbers; ``closed``
    says which bounds are allowed ("left", "right", "both", "neither"). ``optional`` allows
    None (YAML's null). ``says`` replaces the generated description of the valid values in
    messages.

    ``strict`` takes JSON's own types only (a field of a file nnclf wrote: no numpy scalar,
    no bool for a number). ``stepwise`` words a wrong value as a schedule's parameters are
    told, one thing at a time: ``must be a number``, then ``must be finite``, then the range
    alone (``must be > 0``); its integers may be written as whole floats (``every: 1e3``).
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
    stepwise: bool = False
    strict: bool = False
    items: Rule | None = None
    least: int = 0
    test: Callable[[Any], bool] | None = None

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
            "list": "a list",
            "custom": "a valid value",
        }[self.kind]
        return what + self._range_words() + (" or null" if self.optional else "")

    def _range_words(self) -> str:
        if self.low is not None and self.high is not None:
            left = "[" if self.closed in ("left", "both") else "("
            right = "]" if self.closed in ("right", "both") else ")"
            return f" in {left}{self.low:g}, {self.high:g}{right}"
        if self.low is not None:
            return f" {'>=' if self.closed in ('left', 'both') else '>'} {self.low:g}"
        if self.high is not None:
            return f" {'<=' if self.closed in ('right', 'both') else '<'} {self.high:g}"
        return ""

    def problem(self, value) -> str | None:
        """None when ``value`` is valid; else the message after the setting's name."""
        if value is None and self.optional:
            return None
        if self.stepwise:
            return self._stepwise_problem(value)
        if self.kind == "choice" and isinstance(value, str) and value not in self.choices:
            return (
                f": unknown {self.noun} {value!r}{did_you_mean(value, self.choices)}; "
                f"choose one of {', '.join(self.choices)}"
            )
        if self.kind == "list" and self.items is not None and self._is_list(value):
            for k, item in enumerate(value):
                own = self.items.problem(item)
                if own is not None:
                    return f"[{k}]{own}"
        if not self._fits(value):
            return f" must be {self.describe()}, got {shown(value)}"
        return None

    def _stepwise_problem(self, value) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            hint = ""
            if isinstance(value, str) and _is_number_text(value):
                hint = " (text, since it is in quotes; write the number without them)"
            return f" must be a number, got {shown(value)}{hint}"
        if not _finite(value):
            return f" must be finite, got {shown(value)}"
        if self.kind == "integer" and (value != int(value) or not self._in_range(value)):
            return f" must be an integer{self._range_words()}, got {shown(value)}"
        if not self._in_range(value):
            return f" must be{self.says or self._range_words()}, got {shown(value)}"
        return None

    def _is_list(self, value) -> bool:
        return type(value) is list if self.strict else isinstance(value, (list, tuple))

    def _fits(self, value) -> bool:
        if self.kind in ("integer", "number"):
            if self.strict:
                kinds = (int,) if self.kind == "integer" else (int, float)
                typed = type(value) in kinds
            else:
                kinds = (int, np.integer) if self.kind == "integer" else (int, float, np.number)
                typed = isinstance(value, kinds) and not isinstance(value, (bool, np.bool_))
            return typed and _finite(value) and self._in_range(value)
        if self.kind == "boolean":
            return type(value) is bool if self.strict else isinstance(value, (bool, np.bool_))
        if self.kind == "instance":
            return isinstance(value, self.cls)
        if self.kind == "list":
            return self._is_list(value) and len(value) >= self.least
        if self.kind == "custom":
            return self.test(value)
        return isinstance(value, str) and (self.kind == "choice" or value.strip() != "")

    def _in_range(self, value) -> bool:
        if self.kind == "integer" and not -(2**63) <= value < 2**63:
            return False  # what numpy and every file format nnclf writes can hold
        low_ok = self.low is None or (
            value >= self.low if self.closed in ("left", "both") else value > self.low
        )
        high_ok = self.high is None or (
            value <= self.high if self.closed in ("right", "both") else value < self.high
        )
        return low_ok and high_ok


def _finite(value) -> bool:
    """Whether ``value`` is a finite number a float holds (an int beyond 1e308 is not)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _is_number_text(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def shown(value, most: int = 60) -> str:
    """``repr(value)`` for a message, cut to ``most`` characters (an integer of thousands of
    digits, which repr refuses, as its first digits and its length)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**most:
        return f"an integer of about {int(abs(value).bit_length() * math.log10(2)) + 1} digits"
    text = repr(value)
    return text if len(text) <= most else text[: most - 3] + "..."


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


def _labels(x) -> bool:
    """A non-empty list of distinct labels of one type: strings, integers, numbers or booleans."""
    return (
        type(x) is list
        and len(x) > 0
        and len({type(v) for v in x}) == 1
        and all(type(v) in (str, bool) or _LABEL_NUMBER.problem(v) is None for v in x)
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
    return type(x) is dict and all(v is None or _ANY_NUMBER.problem(v) is None for v in x.values())


_FINITE = Rule("number", strict=True, says="a finite number")
_INT64 = Rule("integer", strict=True)
# Integer labels may be as wide as uint64 (a label is an identifier, not a count).
_LABEL_NUMBER = Rule(
    "custom",
    test=lambda v: type(v) is int and -(2**63) <= v < 2**64 or type(v) is float and _finite(v),
)
_ANY_NUMBER = Rule("custom", test=lambda x: type(x) is float or _FINITE.problem(x) is None)
_STRING = Rule("instance", cls=str, says="a string")

FIELD_KINDS: dict[str, Rule] = {
    "float": Rule("custom", test=_ANY_NUMBER.test, says="a number"),
    "rng_state": Rule("custom", test=_rng_state, says="the state of a numpy PCG64 generator"),
    "int>=0": Rule("integer", 0, strict=True),
    "int>=1": Rule("integer", 1, strict=True),
    "number": _FINITE,
    "text": _STRING,
    "mapping": Rule("instance", cls=dict, says="a JSON object"),
    "list": Rule("list", strict=True, says="a list"),
    "records": Rule(
        "list", strict=True, items=Rule("custom", test=_row), says="a list of rows of numbers"
    ),
    "texts": Rule("list", strict=True, items=_STRING, says="a list of strings"),
    "transfers": Rule(
        "custom",
        test=lambda x: (
            type(x) is str or (type(x) is list and x != [] and all(type(v) is str for v in x))
        ),
        says="a string or a non-empty list of strings",
    ),
    "sizes": Rule(
        "list",
        strict=True,
        least=1,
        items=Rule("integer", 1, strict=True),
        says="a non-empty list of integers >= 1",
    ),
    "numbers": Rule("list", strict=True, items=_FINITE, says="a list of finite numbers"),
    "labels": Rule("custom", test=_labels, says="a non-empty list of distinct labels of one type"),
}
"""The rules a field of a file nnclf wrote may be declared with in :func:`check_fields`, by
name: JSON's own types (``strict``), integers within int64."""


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
        rule = FIELD_KINDS[kind.rstrip("?")]
        if not (value is None and nullable) and rule.problem(value) is not None:
            raise error(
                f"its {name!r} is {shown(value)}, not {rule.describe()}"
                f"{' or null' if nullable else ''}; "
                "the file was edited or damaged: use the file nnclf wrote"
            )
    return meta
