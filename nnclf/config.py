"""The configuration: a YAML file in, frozen dataclasses out.

Contract
--------
``load_config(path, overrides)`` reads a YAML file with the safe loader, applies
``--set key.path=value`` overrides, checks every key and every value, and returns a frozen
:class:`Config`. Nothing below this module sees a raw dict. Every field has a default, so an
empty file is a valid config (digits, 100 tanh units, the notes' SGD).

Sections and their dataclasses (in :mod:`nnclf.settings`, where every setting's type and
range is declared)::

    seed: 0              Config.seed: the split, the initialisation and SGD's sampling
    data:   ...          DataConfig
    model:  ...          ModelConfig
    train:  ...          SGDSettings (its field names are the keys)
    output: ...          OutputConfig

Every user error is one :class:`~nnclf.errors.ConfigError` line naming the key and the fix, e.g.
``train.epoch: unknown key; did you mean train.epochs?``.

A relative ``data.source`` path is looked up in the current directory first, then next to the
config file; the file found is stored as an absolute path, so a run's saved config (and a
resumed run) reads the very same file wherever it is started from.

``config_to_dict(cfg)`` is the fully resolved plain dict (every default filled in, the
schedule with all its parameters) that a run saves as ``config.yaml``;
``config_from_dict(config_to_dict(cfg)) == cfg``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import fields
from pathlib import Path
from typing import Any, Mapping

import yaml

from .errors import ConfigError
from .settings import (DEFAULT_SCHEDULE, SECTIONS, TOP_KEYS, Config, DataConfig, EarlyStopping,
                       ModelConfig, OutputConfig, SGDSettings, as_dict)
from .suggest import closest

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
]


# ----------------------------------------------------------------------------- YAML


class _Loader(yaml.SafeLoader):
    """The safe loader, with two fixes: ``1e-3`` is a number (as in YAML 1.2, not a string
    as in YAML 1.1) and a key given twice in one mapping is an error, not silently dropped."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int, float, bool)) or key is None:
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key!r} is given twice; keep one", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _yaml_error(where: str, e: yaml.YAMLError) -> ValueError:
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e)
    place = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    if isinstance(e, yaml.constructor.ConstructorError):
        return ConfigError(f"{where}{place}: {problem}")
    context = getattr(e, "context", None)
    detail = f"{problem} ({context})" if context else problem
    return ConfigError(f"{where}{place}: YAML syntax error: {detail}; fix the file")


def _read_yaml(path: Path) -> Any:
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
        v for v in valid if str(key).startswith(v) or v.startswith(str(key))]
    hint = f"did you mean {prefix}{close[0]}?" if close else f"valid keys are {', '.join(valid)}"
    return ConfigError(f"{path}: unknown key; {hint}")


def _mapping(key: str, value, example: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key} must be a mapping of keys to values (e.g. {example}), "
                          f"got {value!r}")
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
            "(e.g. --set train.epochs=null)")
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
    sections = {
        name: _mapping(name, top.get(name), "{key: value}") for name in SECTIONS
    }
    data = _build(DataConfig, "data", sections["data"])
    data = dataclasses.replace(data, source=_resolve_source(data.source, base_dir))
    return Config(
        seed=top.get("seed", 0),
        data=data,
        model=_build(ModelConfig, "model", sections["model"]),
        train=_train(sections["train"]),
        output=_build(OutputConfig, "output", sections["output"]),
    )


def _resolve_source(source: str, base_dir) -> str:
    """A data file as an absolute path: found from the current directory, else next to the
    config file. Sources that are not files are returned unchanged."""
    if Path(source).suffix.lower() not in (".csv", ".npz"):
        return source
    given = Path(source).expanduser()
    candidates = [given]
    if base_dir is not None and not given.is_absolute():
        beside = Path(base_dir) / given
        if beside.resolve() != given.resolve():
            candidates.append(beside)
    for path in candidates:
        if path.is_file():
            return str(path.resolve())
    where = "" if len(candidates) == 1 else f" (looked in the current directory and in {base_dir})"
    raise ConfigError(f"data.source: file '{source}' not found{where}; check the path")


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
    if head == "train" and path[1] == "schedule":
        depth_ok = 3  # the schedule's own parameters are checked by make_schedule
    if head == "train" and path[1] == "early_stopping":
        depth_ok = 3
        if len(path) == 3:
            es_valid = [f.name for f in fields(EarlyStopping)]
            if path[2] not in es_valid:
                raise fail("train.early_stopping.", path[2], es_valid)
    if len(path) > depth_ok:
        raise ConfigError(f"--set {item}: {'.'.join(path[:depth_ok])} has no sub-key {path[depth_ok]!r}")


def apply_overrides(raw: Any, overrides) -> dict:
    """A copy of the raw config dict with each ``key.path=value`` applied in order."""
    top = _copy(_mapping("the config", raw, "{data: {source: sklearn:iris}}"))
    for item in overrides:
        path, value = parse_override(item)
        node = top
        for depth, key in enumerate(path[:-1]):
            child = node.get(key)
            if key == "schedule":
                # Setting one parameter starts from the schedule in force (the default one,
                # or a bare name such as "constant").
                child = {"name": child} if isinstance(child, str) else (
                    dict(DEFAULT_SCHEDULE) if child is None else child)
            elif key == "early_stopping" and child in (None, True, False):
                child = {}
            elif child is None:
                child = {}
            if not isinstance(child, dict):
                where = ".".join(path[:depth + 1])
                raise ConfigError(f"--set {item}: {where} is {child!r}, not a mapping")
            node[key] = child
            node = child
        node[path[-1]] = value
    return top


def _copy(value):
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


# ----------------------------------------------------------------------------- public


def load_config(path, overrides=()) -> Config:
    """Read, override, check: the :class:`Config` of a YAML file.

    Parameters
    ----------
    path : str or Path
        The YAML file.
    overrides : sequence of str
        ``key.path=value`` items (the CLI's ``--set``), applied in order before checking.

    Raises
    ------
    ValueError
        One line naming the file, key or value at fault and what to do.
    """
    path = Path(path)
    raw = _read_yaml(path)
    if raw is not None and not isinstance(raw, Mapping):
        raise ConfigError(
            f"{path}: expected a mapping of sections ({', '.join(TOP_KEYS)}), "
            f"got {type(raw).__name__}"
        )
    raw = apply_overrides(raw, overrides)
    return config_from_dict(raw, base_dir=path.parent)


def config_to_dict(cfg: Config) -> dict:
    """The resolved config as plain data: every default filled in, ready for YAML or JSON."""
    return as_dict(cfg)


def dump_config(cfg: Config, header: str = "") -> str:
    """The resolved config as YAML text (optionally after a ``# header`` comment)."""
    text = yaml.safe_dump(config_to_dict(cfg), sort_keys=False, default_flow_style=False)
    if header:
        text = "".join(f"# {line}\n" for line in header.splitlines()) + text
    return text
