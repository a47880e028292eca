"""The configuration: a YAML file in, frozen dataclasses out.

Contract
--------
``load_config(path, overrides)`` reads a YAML file with the safe loader, applies
``--set key.path=value`` overrides, checks every key and every value, and returns a frozen
:class:`Config`. Nothing below this module sees a raw dict. Every field has a default, so an
empty file is a valid config (digits, 100 tanh units, the notes' SGD).

Sections and their dataclasses (in :mod:`nnclf.config.settings`, where every setting's type and
range is declared)::

    seed: 0              Config.seed: the split, the initialisation and SGD's sampling
    data:   ...          DataConfig
    model:  ...          ModelConfig
    train:  ...          SGDSettings (its field names are the keys)
    output: ...          OutputConfig
    track:  ...          TrackConfig (MLflow and TensorBoard, :mod:`nnclf.tracking`)

Every user error is one :class:`~nnclf.errors.ConfigError` line naming the key and the fix, e.g.
``train.epoch: unknown key; did you mean train.epochs?``.

A relative ``data.source`` path is looked up in the current directory first, then next to the
config file; the file found is stored as an absolute path, so a run's saved config (and a
resumed run) reads the very same file wherever it is started from. So does a
``track.tensorboard`` directory, and :func:`load_config` names the MLflow experiment after
the config file when ``track.experiment`` is not given.

``config_to_dict(cfg)`` is the fully resolved plain dict (every default filled in, the
schedule with all its parameters) that a run saves as ``config.yaml``;
``config_from_dict(config_to_dict(cfg)) == cfg``.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from nnclf.base.suggest import closest
from nnclf.config.settings import (
    DEFAULT_SCHEDULE,
    SECTIONS,
    TOP_KEYS,
    Config,
    DataConfig,
    EarlyStopping,
    ModelConfig,
    OutputConfig,
    SGDSettings,
    TrackConfig,
    as_dict,
)
from nnclf.data.checks import file_problem
from nnclf.errors import ConfigError
from nnclf.training.schedules import schedule_parameters

__all__ = [
    "Config",
    "DataConfig",
    "ModelConfig",
    "OutputConfig",
    "load_config",
    "config_from_dict",
    "config_to_dict",
    "dump_config",
    "parse_override",
    "read_yaml",
]


# ----------------------------------------------------------------------------- YAML


MAX_DEPTH = 100
"""How deeply a config's mappings and lists may nest (a real config nests three deep)."""
MAX_NODES = 100_000
"""How many values a config may hold once every alias is written out: bounds the memory
that anchors and aliases ("billion laughs") can make a config take."""


class _Refused(yaml.MarkedYAMLError):
    """A YAML document nnclf refuses to build: nested too deep, an alias inside the very
    collection it names, or more than :data:`MAX_NODES` values with aliases expanded."""


class _Loader(yaml.SafeLoader):
    """The safe loader with YAML 1.2's core schema (``yes``, ``no``, ``on``, ``off`` are text;
    ``1e-3`` is a number; ``010`` is ten; dates are text), a key given twice in one mapping
    an error, and the size of what it builds bounded (see :data:`MAX_DEPTH`,
    :data:`MAX_NODES`)."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0
        self._sizes: dict[int, int] = {}  # id(node) -> values under it, aliases expanded

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            node = self.anchors.get(event.anchor)
            if node is not None and id(node) not in self._sizes:
                raise _Refused(
                    None,
                    None,
                    f"the alias *{event.anchor} is inside the very "
                    "collection it names (a loop); write the values out",
                    event.start_mark,
                )
            return super().compose_node(parent, index)
        mark = self.peek_event().start_mark
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Refused(
                None,
                None,
                f"nested more than {MAX_DEPTH} deep; a config nests sections three deep",
                mark,
            )
        node = super().compose_node(parent, index)
        self._depth -= 1
        children = (
            node.value
            if isinstance(node, yaml.SequenceNode)
            else [n for pair in node.value for n in pair]
            if isinstance(node, yaml.MappingNode)
            else []
        )
        size = 1 + sum(self._sizes[id(child)] for child in children)
        if size > MAX_NODES:
            raise _Refused(
                None,
                None,
                f"holds more than {MAX_NODES} values once its aliases "
                "are expanded; a config holds a few dozen",
                mark,
            )
        self._sizes[id(node)] = size
        return node

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
            # An explicit tag on a value it does not fit: !!float '', !!bool maybe, !!int x.
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"{node.tag.rpartition(':')[2]} value {str(node.value)[:40]!r} "
                "cannot be read; remove the tag or fix the value",
                node.start_mark,
            ) from None

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int, float, bool)) or key is None:
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key!r} is given twice; keep one", key_node.start_mark
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _int(loader, node) -> int:
    text = loader.construct_scalar(node)
    base = {"0o": 8, "0x": 16}.get(text[:2], 10)
    return int(text[2:] if base != 10 else text, base)


def _float(loader, node) -> float:
    text = loader.construct_scalar(node).lower()
    return float(text.replace(".inf", "inf").replace(".nan", "nan"))


# YAML 1.2's core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution), and the merge key.
_Loader.yaml_implicit_resolvers = {}
for _tag, _pattern, _first in [
    ("bool", r"true|True|TRUE|false|False|FALSE", "tTfF"),
    ("int", r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+", "-+0123456789"),
    (
        "float",
        r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)",
        "-+.0123456789",
    ),
    ("null", r"~|null|Null|NULL|", ["~", "n", "N", ""]),
    ("merge", r"<<", "<"),
]:
    _Loader.add_implicit_resolver(
        f"tag:yaml.org,2002:{_tag}", re.compile(f"^(?:{_pattern})$"), list(_first)
    )
_Loader.add_constructor("tag:yaml.org,2002:int", _int)
_Loader.add_constructor("tag:yaml.org,2002:float", _float)


def _yaml_error(where: str, e: yaml.YAMLError) -> ValueError:
    if isinstance(e, yaml.reader.ReaderError):
        code = e.character if isinstance(e.character, int) else ord(e.character)
        return ConfigError(
            f"{where}: character {e.position + 1} is #x{code:04x}, "
            "which YAML does not allow; remove it"
        )
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e)
    place = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    if isinstance(e, (yaml.constructor.ConstructorError, _Refused)):
        return ConfigError(f"{where}{place}: {problem}")
    context = getattr(e, "context", None)
    detail = f"{problem} ({context})" if context else problem
    return ConfigError(f"{where}{place}: YAML syntax error: {detail}; fix the file")


def read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file '{path}' not found; check the path") from None
    except IsADirectoryError:
        raise ConfigError(f"config file '{path}' is a directory; give a .yaml file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file '{path}' is not UTF-8 text; give a YAML file") from None
    except OSError as e:
        raise ConfigError(f"config file '{path}' cannot be read ({e.strerror or e})") from None
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as e:
        raise _yaml_error(str(path), e) from None


# ----------------------------------------------------------------------------- building


def _unknown_key(prefix: str, key, valid) -> ValueError:
    path = f"{prefix}{key}"
    close = [c for c in [closest(str(key), valid)] if c] or [
        v for v in valid if str(key).startswith(v) or v.startswith(str(key))
    ]
    hint = f"did you mean {prefix}{close[0]}?" if close else f"valid keys are {', '.join(valid)}"
    return ConfigError(f"{path}: unknown key; {hint}")


def _mapping(key: str, value, example: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"{key} must be a mapping of keys to values (e.g. {example}), got {value!r}"
        )
    return dict(value)


def _build(cls, section: str, raw: dict):
    """``cls(**raw)`` after checking the keys; a wrong value is named by its key path."""
    valid = [f.name for f in fields(cls)]
    for key in raw:
        if key not in valid:
            raise _unknown_key(f"{section}.", key, valid)
    try:
        return cls(**raw)
    except ConfigError as e:
        raise e.within(section) from None


def _early_stopping(value) -> EarlyStopping | None:
    if value is None or value is False:
        return None
    if value is True:
        return EarlyStopping()
    raw = _mapping("train.early_stopping", value, "{metric: val_loss, patience: 5}")
    return _build(EarlyStopping, "train.early_stopping", raw)


def _train(raw: dict) -> SGDSettings:
    raw = dict(raw)
    if raw.get("steps") is not None and raw.get("epochs") is not None:
        raise ConfigError(
            "train: give either epochs or steps, not both; set the other to null "
            "(e.g. --set train.epochs=null)"
        )
    if raw.get("steps") is not None and "epochs" not in raw:
        raw["epochs"] = None
    if "early_stopping" in raw:
        raw["early_stopping"] = _early_stopping(raw["early_stopping"])
    return _build(SGDSettings, "train", raw)


def config_from_dict(raw: Any, base_dir: str | Path | None = None) -> Config:
    """Check a plain dict (as read from YAML) and build the :class:`Config`.

    Parameters
    ----------
    raw : mapping or None
        ``None`` (an empty file) gives every default.
    base_dir : path, optional
        The config file's directory: where a relative ``data.source`` is looked for when it
        is not found from the current directory.
    """
    top = _mapping("the config", raw, "{data: {source: sklearn:iris}}")
    for key in top:
        if key not in TOP_KEYS:
            raise _unknown_key("", key, TOP_KEYS)
    sections = {name: _mapping(name, top.get(name), "{key: value}") for name in SECTIONS}
    data = _build(DataConfig, "data", sections["data"])
    try:
        data = dataclasses.replace(data, source=_resolve_source(data.source, base_dir))
    except ConfigError as e:
        raise e.within("data") from None
    return Config(
        seed=top.get("seed", 0),
        data=data,
        model=_build(ModelConfig, "model", sections["model"]),
        train=_train(sections["train"]),
        output=_build(OutputConfig, "output", sections["output"]),
        track=_build(TrackConfig, "track", sections["track"]),
    )


def _resolve_track(track: TrackConfig, path: Path) -> TrackConfig:
    """The experiment named after the config file (``penguins.yaml``: penguins) when MLflow
    is on and none is given; a TensorBoard directory and a SQLite store's file as absolute
    paths."""
    if track.mlflow not in (None, False) and track.experiment is None:
        track = dataclasses.replace(track, experiment=path.stem)
    uri = track.mlflow
    if isinstance(uri, str) and uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        # A database file named from the current directory, found again by --resume elsewhere.
        track = dataclasses.replace(track, mlflow="sqlite:///" + os.path.abspath(uri[10:]))
    if isinstance(track.tensorboard, str):
        folder = os.path.abspath(os.path.expanduser(track.tensorboard))
        track = dataclasses.replace(track, tensorboard=folder)
    return track


def _resolve_source(source: str, base_dir) -> str:
    """A data file as an absolute path: found from the current directory, else next to the
    config file. Sources that are not files are returned unchanged. A path that exists but
    cannot be a data file (a directory, a FIFO, a symbolic link loop) is named as such."""
    given = os.path.expanduser(source)
    if Path(source).suffix.lower() not in (".csv", ".npz", ".parquet"):
        # A folder of X.npy and y.npy (a folder source) is made absolute the same way.
        folders = [given] + ([os.path.join(base_dir, given)] if base_dir is not None else [])
        found = next((f for f in folders if os.path.isfile(os.path.join(f, "X.npy"))), None)
        return os.path.realpath(found) if found is not None else source
    candidates = [given]
    if base_dir is not None and not os.path.isabs(given):
        # abspath, not Path.resolve: resolving a symbolic link loop raises (Python 3.11).
        beside = os.path.join(base_dir, given)
        if os.path.abspath(beside) != os.path.abspath(given):
            candidates.append(beside)
    problems = [(path, file_problem(path)) for path in candidates]
    for path, problem in problems:
        if problem is None:
            return os.path.realpath(path)
    for path, problem in problems:
        if problem != "not found":
            raise ConfigError(f": file '{path}' {problem}", name="source")
    where = "" if len(candidates) == 1 else f" (looked in the current directory and in {base_dir})"
    raise ConfigError(f": file '{source}' not found{where}; check the path", name="source")


# ----------------------------------------------------------------------------- overrides


def parse_override(item: str) -> tuple[list[str], Any]:
    """``"train.schedule.eta0=0.1"`` -> (["train", "schedule", "eta0"], 0.1).

    The value is read as YAML, so numbers, ``true``/``false``, ``null``, lists and inline
    mappings (``{name: constant, eta0: 0.1}``) all work.
    """
    key, eq, text = item.partition("=")
    if not eq or not key.strip():
        raise ConfigError(f"--set {item}: expected key.path=value, e.g. --set train.epochs=5")
    path = key.strip().split(".")
    _check_override_path(path, item)
    try:
        value = yaml.load(text, Loader=_Loader) if text.strip() else None
    except yaml.YAMLError as e:
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(
            f"--set {item}: cannot parse the value {text!r} ({problem}); "
            "write it as in YAML, e.g. 0.1, true, null, sklearn:iris or {name: constant, eta0: 0.1}"
        ) from None
    return path, value


def _check_override_path(path: list[str], item: str) -> None:
    def fail(prefix, key, valid):
        e = _unknown_key(prefix, key, valid)
        return ConfigError(f"{e} (in --set {item})")

    head = path[0]
    if head not in TOP_KEYS:
        raise fail("", head, TOP_KEYS)
    if head == "seed":
        if len(path) > 1:
            raise ConfigError(f"--set {item}: seed has no sub-keys; use --set seed=VALUE")
        return
    if len(path) == 1:
        return  # a whole section, e.g. --set 'model={hidden_units: 10}'
    valid = [f.name for f in fields(SECTIONS[head])]
    if path[1] not in valid:
        raise fail(f"{head}.", path[1], valid)
    depth_ok = 2
    if head == "train" and path[1] in ("schedule", "optimizer"):
        depth_ok = 3  # their own parameters are checked by make_schedule and optimizer_spec
    if head == "train" and path[1] == "early_stopping":
        depth_ok = 3
        if len(path) == 3:
            es_valid = [f.name for f in fields(EarlyStopping)]
            if path[2] not in es_valid:
                raise fail("train.early_stopping.", path[2], es_valid)
    if len(path) > depth_ok:
        raise ConfigError(
            f"--set {item}: {'.'.join(path[:depth_ok])} has no sub-key {path[depth_ok]!r}"
        )


def apply_overrides(raw: Any, overrides, notify=None) -> dict:
    """A copy of the raw config dict with each ``key.path=value`` applied in order.

    ``train.schedule.name=NEW`` keeps the parameters of the schedule in force that NEW takes
    too (eta0, warmup, ...) and drops the others, telling ``notify(text)`` which (if given).
    """
    top = _copy(_mapping("the config", raw, "{data: {source: sklearn:iris}}"))
    for item in overrides:
        path, value = parse_override(item)
        node = top
        for depth, key in enumerate(path[:-1]):
            child = node.get(key)
            if key == "schedule":
                # Setting one parameter starts from the schedule in force (the default one,
                # or a bare name such as "constant").
                child = (
                    {"name": child}
                    if isinstance(child, str)
                    else (dict(DEFAULT_SCHEDULE) if child is None else child)
                )
            elif key == "optimizer" and (child is None or isinstance(child, str)):
                # As for the schedule: from the optimizer in force (sgd unless one is named).
                child = {"name": child or "sgd"}
            elif key == "early_stopping" and child in (None, True, False):
                child = {}
            elif child is None:
                child = {}
            if not isinstance(child, dict):
                where = ".".join(path[: depth + 1])
                raise ConfigError(f"--set {item}: {where} is {child!r}, not a mapping")
            node[key] = child
            node = child
        if path[-2:] == ["schedule", "name"] and path[0] == "train":
            _keep_schedule_parameters(node, value, item, notify)
        node[path[-1]] = value
    return top


def _keep_schedule_parameters(schedule: dict, name, item: str, notify) -> None:
    """Drop from ``schedule`` the parameters the schedule ``name`` does not take."""
    takes = schedule_parameters(name)
    if not takes or name == schedule.get("name"):
        return  # an unknown name is told by make_schedule, with the valid ones
    dropped = [key for key in schedule if key != "name" and key not in takes]
    for key in dropped:
        del schedule[key]
    if dropped and notify is not None:
        notify(
            f"--set {item}: {name} takes no {', '.join(dropped)}, so "
            f"{'it was' if len(dropped) == 1 else 'they were'} dropped; kept "
            f"{', '.join(k for k in schedule if k != 'name') or 'nothing'}"
        )


def _copy(value):
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


# ----------------------------------------------------------------------------- public


def load_config(path, overrides=(), notify=None) -> Config:
    """Read, override, check: the :class:`Config` of a YAML file.

    Parameters
    ----------
    path : str or Path
        The YAML file.
    overrides : sequence of str
        ``key.path=value`` items (the CLI's ``--set``), applied in order before checking.
    notify : callable, optional
        ``notify(text)`` for what an override changed besides its key (the parameters a
        new schedule name dropped).

    Raises
    ------
    ValueError
        One line naming the file, key or value at fault and what to do.
    """
    path = Path(path)
    raw = read_yaml(path)
    if raw is not None and not isinstance(raw, Mapping):
        raise ConfigError(
            f"{path}: expected a mapping of sections ({', '.join(TOP_KEYS)}), "
            f"got {type(raw).__name__}"
        )
    raw = apply_overrides(raw, overrides, notify)
    cfg = config_from_dict(raw, base_dir=path.parent)
    return dataclasses.replace(cfg, track=_resolve_track(cfg.track, path))


def config_to_dict(cfg: Config) -> dict:
    """The resolved config as plain data: every default filled in, ready for YAML or JSON."""
    return as_dict(cfg)


def dump_config(cfg: Config, header: str = "") -> str:
    """The resolved config as YAML text (optionally after a ``# header`` comment)."""
    text = yaml.safe_dump(config_to_dict(cfg), sort_keys=False, default_flow_style=False)
    if header:
        text = "".join(f"# {line}\n" for line in header.splitlines()) + text
    return text
