"""The configuration: a YAML file in, frozen dataclasses out.

Contract
--------
``load_config(path, overrides)`` reads a YAML file with the safe loader, applies
``--set key.path=value`` overrides, checks every key and every value, and returns a frozen
:class:`Config`. Nothing below this module sees a raw dict. Every field has a default, so an
empty file is a valid config (digits, 100 tanh units, the notes' SGD).

Sections and their dataclasses::

    seed: 0              Config.seed: the split, the initialisation and SGD's sampling
    data:   ...          DataConfig
    model:  ...          ModelConfig
    train:  ...          nnclf.sgd.SGDSettings (its field names are the keys)
    output: ...          OutputConfig

Every user error is one ``ValueError`` line naming the key and the fix, e.g.
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
import math
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

import yaml

from .functions import TRANSFERS
from .model import INITS
from .schedules import make_schedule
from .sgd import EarlyStopping, SGDSettings
from .suggest import closest, did_you_mean

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


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fraction(key: str, value) -> None:
    _check(_is_number(value) and 0 <= value < 1,
           f"{key} must be a number in [0, 1), got {value!r}")


@dataclass(frozen=True)
class DataConfig:
    """Where the examples come from and how they are split and scaled.

    ``validation_fraction`` is a share of the training part (what is left after the test
    split). ``n_samples``, ``n_features``, ``n_classes`` and ``n_informative`` are read only
    by ``source: synthetic``.
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

    def __post_init__(self):
        _check(isinstance(self.source, str) and self.source.strip() != "",
               "data.source must be 'sklearn:<name>', a .csv or .npz path, or 'synthetic'; "
               f"got {self.source!r}")
        _check(self.target is None or (isinstance(self.target, str) and self.target != ""),
               f"data.target must be a column name (or null for the last column), got {self.target!r}")
        _fraction("data.test_fraction", self.test_fraction)
        _fraction("data.validation_fraction", self.validation_fraction)
        _check(isinstance(self.standardize, bool),
               f"data.standardize must be true or false, got {self.standardize!r}")
        for key, low in (("n_samples", 2), ("n_features", 1), ("n_classes", 2)):
            value = getattr(self, key)
            _check(_is_int(value) and value >= low,
                   f"data.{key} must be an integer >= {low}, got {value!r}")
        _check(self.n_informative is None or (_is_int(self.n_informative) and self.n_informative >= 1),
               f"data.n_informative must be an integer >= 1 or null, got {self.n_informative!r}")


@dataclass(frozen=True)
class ModelConfig:
    """The network p(y|x) = softmax(V g(Wx + b) + gamma): m hidden units, g, initialisation."""

    hidden_units: int = 100
    transfer: str = "tanh"
    init: str = "xavier"
    init_scale: float = 0.01

    def __post_init__(self):
        _check(_is_int(self.hidden_units) and self.hidden_units >= 1,
               f"model.hidden_units must be an integer >= 1, got {self.hidden_units!r}")
        _check(self.transfer in TRANSFERS,
               f"model.transfer: unknown transfer function {self.transfer!r}"
               f"{did_you_mean(self.transfer, TRANSFERS)}; choose one of {', '.join(TRANSFERS)}")
        _check(self.init in INITS,
               f"model.init: unknown initialisation {self.init!r}"
               f"{did_you_mean(self.init, INITS)}; choose one of {', '.join(INITS)}")
        _check(_is_number(self.init_scale) and 0 < self.init_scale < math.inf,
               f"model.init_scale must be a number > 0, got {self.init_scale!r}")


@dataclass(frozen=True)
class OutputConfig:
    """Where ``nnclf train`` writes its run directory."""

    dir: str = "runs/run"

    def __post_init__(self):
        _check(isinstance(self.dir, str) and self.dir.strip() != "",
               f"output.dir must be a directory path, got {self.dir!r}")


@dataclass(frozen=True)
class Config:
    """A whole, validated configuration."""

    seed: int = 0
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    train: SGDSettings = dataclasses.field(default_factory=SGDSettings)
    output: OutputConfig = dataclasses.field(default_factory=OutputConfig)

    def __post_init__(self):
        # numpy and scikit-learn both accept seeds in [0, 2**32).
        _check(_is_int(self.seed) and 0 <= self.seed < 2**32,
               f"seed must be an integer in [0, 2**32), got {self.seed!r}")
        for name, cls in SECTIONS.items():
            _check(isinstance(getattr(self, name), cls), f"Config.{name} must be a {cls.__name__}")
        rule = self.train.early_stopping
        _check(rule is None or not rule.metric.startswith("val_") or self.data.validation_fraction > 0,
               f"train.early_stopping.metric is {rule.metric if rule else ''}, which needs a "
               "validation set; set data.validation_fraction > 0 or use metric: train_loss")
        # The schedule is kept with every parameter filled in, so that equal configs compare
        # equal and the saved config.yaml shows everything.
        schedule = _schedule(self.train.schedule)
        if schedule != self.train.schedule:
            object.__setattr__(self, "train", dataclasses.replace(self.train, schedule=schedule))


SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": SGDSettings, "output": OutputConfig}
TOP_KEYS = ("seed", *SECTIONS)
DEFAULT_SCHEDULE = SGDSettings().schedule


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
        return ValueError(f"{where}{place}: {problem}")
    context = getattr(e, "context", None)
    detail = f"{problem} ({context})" if context else problem
    return ValueError(f"{where}{place}: YAML syntax error: {detail}; fix the file")


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"config file '{path}' not found; check the path") from None
    except IsADirectoryError:
        raise ValueError(f"config file '{path}' is a directory; give a .yaml file") from None
    except UnicodeDecodeError:
        raise ValueError(f"config file '{path}' is not UTF-8 text; give a YAML file") from None
    except OSError as e:
        raise ValueError(f"config file '{path}' cannot be read ({e.strerror or e})") from None
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
    return ValueError(f"{path}: unknown key; {hint}")


def _mapping(key: str, value, example: str) -> dict:
    if value is None:
        return {}
    _check(isinstance(value, Mapping),
           f"{key} must be a mapping of keys to values (e.g. {example}), got {value!r}")
    return dict(value)


def _build(cls, section: str, raw: dict):
    """``cls(**raw)`` after checking the keys and the types of text-valued fields."""
    valid = [f.name for f in fields(cls)]
    for key in raw:
        if key not in valid:
            raise _unknown_key(f"{section}.", key, valid)
    for f in fields(cls):
        # A list or a mapping where a name belongs would otherwise fail deep inside, unhashable.
        if isinstance(f.default, str) and f.name in raw and not isinstance(raw[f.name], str):
            raise ValueError(f"{section}.{f.name} must be a string, got {raw[f.name]!r}")
    return cls(**raw)


def _schedule(spec) -> dict:
    """The schedule with every parameter filled in (warm-up included)."""
    try:
        return make_schedule(spec).to_dict()
    except (ValueError, TypeError) as e:
        message = str(e)
        if message.startswith("schedule "):
            message = message[len("schedule "):]
        raise ValueError(f"train.schedule: {message}") from None


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
        raise ValueError(
            "train: give either epochs or steps, not both; set the other to null "
            "(e.g. --set train.epochs=null)")
    if raw.get("steps") is not None and "epochs" not in raw:
        raw["epochs"] = None
    if "schedule" in raw:
        raw["schedule"] = _schedule(raw["schedule"])
    else:
        raw["schedule"] = _schedule(DEFAULT_SCHEDULE)
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
    raise ValueError(f"data.source: file '{source}' not found{where}; check the path")


# ----------------------------------------------------------------------------- overrides


def parse_override(item: str) -> tuple[list[str], Any]:
    """``"train.schedule.eta0=0.1"`` -> (["train", "schedule", "eta0"], 0.1).

    The value is read as YAML, so numbers, ``true``/``false``, ``null``, lists and inline
    mappings (``{name: constant, eta0: 0.1}``) all work.
    """
    key, eq, text = item.partition("=")
    if not eq or not key.strip():
        raise ValueError(f"--set {item}: expected key.path=value, e.g. --set train.epochs=5")
    path = key.strip().split(".")
    _check_override_path(path, item)
    try:
        value = yaml.load(text, Loader=_Loader) if text.strip() else None
    except yaml.YAMLError as e:
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ValueError(
            f"--set {item}: cannot parse the value {text!r} ({problem}); "
            "write it as in YAML, e.g. 0.1, true, null, sklearn:iris or {name: constant, eta0: 0.1}"
        ) from None
    return path, value


def _check_override_path(path: list[str], item: str) -> None:
    def fail(prefix, key, valid):
        e = _unknown_key(prefix, key, valid)
        return ValueError(f"{e} (in --set {item})")

    head = path[0]
    if head not in TOP_KEYS:
        raise fail("", head, TOP_KEYS)
    if head == "seed":
        if len(path) > 1:
            raise ValueError(f"--set {item}: seed has no sub-keys; use --set seed=VALUE")
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
        raise ValueError(f"--set {item}: {'.'.join(path[:depth_ok])} has no sub-key {path[depth_ok]!r}")


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
                raise ValueError(f"--set {item}: {where} is {child!r}, not a mapping")
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
        raise ValueError(
            f"{path}: expected a mapping of sections ({', '.join(TOP_KEYS)}), "
            f"got {type(raw).__name__}"
        )
    raw = apply_overrides(raw, overrides)
    return config_from_dict(raw, base_dir=path.parent)


def config_to_dict(cfg: Config) -> dict:
    """The resolved config as plain data: every default filled in, ready for YAML or JSON."""
    train = dataclasses.asdict(cfg.train)
    train["schedule"] = dict(cfg.train.schedule)
    return {
        "seed": cfg.seed,
        "data": dataclasses.asdict(cfg.data),
        "model": dataclasses.asdict(cfg.model),
        "train": train,
        "output": dataclasses.asdict(cfg.output),
    }


def dump_config(cfg: Config, header: str = "") -> str:
    """The resolved config as YAML text (optionally after a ``# header`` comment)."""
    text = yaml.safe_dump(config_to_dict(cfg), sort_keys=False, default_flow_style=False)
    if header:
        text = "".join(f"# {line}\n" for line in header.splitlines()) + text
    return text
