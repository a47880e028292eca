"""A sweep file: a base config, the axes to vary, and the trials they expand into.

Contract
--------
A sweep file is YAML with these keys (only ``base`` and one of ``grid``/``random`` needed)::

    base: configs/iris.yaml     # a config file (from the current directory, else beside
                                # this file), or an inline config mapping
    grid:                       # every combination of these values ...
      model.transfer: [tanh, relu]
      train.schedule.eta0: [0.01, 0.03]
    random:                     # ... times n random draws of these
      n: 4
      model.hidden_units: {int_log_uniform: [4, 64]}
    seeds: [0, 1]               # each configuration trained once per seed (default: base's)
    metric: val_accuracy        # what ranks the configurations (default val_accuracy)
    max_trials: 1000            # refuse larger sweeps (default 1000)
    seed: 0                     # seeds the random draws (default 0)
    search: {method: tpe, trials: 40, pruner: median, seed: 0}   # or method: random

Axis keys are the dotted keys of ``nnclf train --set``. The random distributions are
``{uniform: [a, b]}``, ``{log_uniform: [a, b]}`` (a > 0), ``{int_uniform: [a, b]}``,
``{int_log_uniform: [a, b]}`` (integers, a >= 1, both ends included) and
``{choice: [v, ...]}``, all drawn from one ``numpy.random.default_rng(seed)`` in file order;
a drawn float keeps 6 significant digits, so it reads back as written.

Every trial's whole :class:`~nnclf.config.settings.Config` is built by :func:`read_sweep`,
before anything runs, so values of two axes that only work together (momentum and nesterov)
are a valid sweep. An unknown key, an empty axis, a bad distribution, a random range whose
ends the setting's own rule refuses (or numpy cannot draw between: not finite, integers past
2**62), one key in both ``grid`` and ``random``, a ``seed`` axis beside ``seeds``, a value
the config refuses or more than ``max_trials`` trials (counted before any trial is made) is
one :class:`~nnclf.errors.ConfigError` line naming the axis, or the trial whose values do
not go together.
``search`` (:class:`SearchSettings`) chooses how the space of ``grid`` and ``random`` is
searched. Without it, or with ``method: random``, the trials are the ones above, drawn before
anything runs. With ``method: tpe`` (:mod:`nnclf.sweeps.search`, Optuna's TPE sampler) the
trials are proposed one by one as the earlier ones end, a ``grid`` axis being a ``choice``;
each proposal's whole config is checked before it runs (:func:`build_trial`: one the config
refuses is a failed trial, and the search goes on). A tpe search counts its trials in
``search.trials`` (or ``random.n``), takes no ``seeds`` list (each trial is one
configuration) and needs Optuna.
The metric names ``PART_NAME``: PART one of train, val, test and NAME one of accuracy,
balanced_accuracy, macro_f1 (higher is better) and log_loss (lower is better).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import yaml

from nnclf.base.rules import Rule, check, choice, integer, number, shown, text
from nnclf.base.suggest import closest
from nnclf.config.load import (
    Config,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    parse_override,
    read_yaml,
)
from nnclf.errors import ConfigError, NnclfError, UsageError

__all__ = [
    "Trial",
    "Sweep",
    "read_sweep",
    "override",
    "METRIC_PARTS",
    "METRIC_NAMES",
    "metric_value",
    "better",
    "SearchSettings",
    "build_trial",
    "OPTUNA_EXTRA",
]

KEYS = ("base", "grid", "random", "seeds", "metric", "max_trials", "seed", "search")
DISTRIBUTIONS = ("uniform", "log_uniform", "int_uniform", "int_log_uniform", "choice")
METRIC_PARTS = {"train": "train", "val": "validation", "test": "test"}
METRIC_NAMES = {"accuracy": "max", "balanced_accuracy": "max", "macro_f1": "max", "log_loss": "min"}
MAX_TRIALS = 1000
OPTUNA_EXTRA = 'search.method tpe needs Optuna; install it with: pip install "nnclf[optuna]"'
PRUNED_BY = {"val_log_loss": "val_loss", "val_accuracy": "val_accuracy"}
"""The metrics a pruner can follow: the history column measured at every evaluation."""


@dataclass(frozen=True)
class SearchSettings:
    """The ``search`` block of a sweep file: how the space is searched.

    ``method`` random (today's draws, the default) or tpe (Optuna's TPE sampler);
    ``trials`` how many trials (for random it stands for ``random.n``); ``pruner`` median,
    hyperband or none (tpe only; default median for tpe); ``seed`` seeds the sampler (it
    stands for the sweep file's ``seed``); ``storage`` the study's database URL (default
    ``sqlite:///SWEEP_DIR/study.db``).
    """

    method: str = "random"
    trials: int | None = None
    pruner: str | None = None
    seed: int | None = None
    storage: str | None = None

    RULES: ClassVar[dict[str, Rule]] = {
        "method": choice(("random", "tpe"), "search method"),
        "trials": integer(1, optional=True),
        "pruner": Rule(
            "choice", choices=("median", "hyperband", "none"), noun="pruner", optional=True
        ),
        "seed": integer(0, optional=True),
        "storage": text("a database URL, e.g. sqlite:///study.db", optional=True),
    }

    def __post_init__(self):
        check(self)
        if self.method == "random" and self.pruner not in (None, "none"):
            raise ConfigError(
                f" {self.pruner} needs method tpe; method random runs every trial to its end "
                "(set method: tpe, or drop pruner)",
                name="pruner",
            )
        if self.method == "random" and self.storage is not None:
            raise ConfigError(
                " needs method tpe; method random keeps no study (set method: tpe, or drop "
                "storage)",
                name="storage",
            )


@dataclass
class Trial:
    """One run of the sweep: its axis values, its seed and the ``--set`` items that make
    its config from the base."""

    index: int
    values: dict
    seed: int | None
    overrides: list[str]
    config: dict = field(repr=False)

    @property
    def name(self) -> str:
        return f"trial-{self.index:04d}"


@dataclass
class Sweep:
    """A sweep file read and expanded: ``base`` as the reproducing command names it,
    the axes in file order, the metric and the trials. A tpe search (``search``) starts
    with no trials: they are made from ``space`` (each axis's ``[distribution, args]``) on
    ``base_raw`` (its relative paths from ``base_dir``) as they are proposed."""

    base: str
    axes: list[str]
    metric: str
    trials: list[Trial]
    text: str = ""
    base_config: dict | None = None
    search: SearchSettings | None = None
    space: dict | None = None
    base_raw: dict | None = None
    base_dir: str | None = None
    study_name: str | None = None


def override(key: str, value) -> str:
    """``key=value`` with the value written so that ``--set`` reads it back unchanged."""
    text = yaml.safe_dump(value, default_flow_style=True, width=math.inf).strip()
    text = text.removesuffix("...").strip()
    return f"{key}={text}"


def metric_value(metrics: dict, metric: str):
    """The metric's value in a metrics.json dict (None when its part is empty)."""
    part, name = _split_metric(metric)
    scores = metrics.get(METRIC_PARTS[part])
    return None if not scores else scores[name]


def better(metric: str) -> str:
    """ "max" or "min": which way the metric improves."""
    return METRIC_NAMES[_split_metric(metric)[1]]


def _split_metric(metric: str) -> tuple[str, str]:
    part, _, name = str(metric).partition("_")
    if part not in METRIC_PARTS or name not in METRIC_NAMES:
        valid = [f"{p}_{n}" for p in METRIC_PARTS for n in METRIC_NAMES]
        close = closest(str(metric), valid)
        hint = f"did you mean {close}? " if close else ""
        raise ConfigError(
            f"metric: unknown metric {metric!r}; {hint}the metrics are {', '.join(valid)}"
        )
    return part, name


# ----------------------------------------------------------------------------- reading


def read_sweep(path) -> Sweep:
    """Read, check and expand the sweep file ``path`` (see the module docstring)."""
    path = Path(path)
    raw = read_yaml(path)
    try:
        return _expand(raw, path)
    except NnclfError as e:
        raise e.within(str(path)) from None


def _expand(raw, path: Path) -> Sweep:
    if not isinstance(raw, Mapping):
        raise ConfigError("expected a mapping with base, grid and/or random, seeds, metric")
    for key in raw:
        if key not in KEYS:
            close = closest(str(key), KEYS)
            hint = f"did you mean {close}?" if close else f"valid keys are {', '.join(KEYS)}"
            raise ConfigError(f"{key}: unknown key; {hint}")
    search = _search(raw)
    base_raw, base_shown, base_dir = _base(raw.get("base"), path)
    metric = raw.get("metric", "val_accuracy")
    _split_metric(metric)
    grid, random = _grid(raw.get("grid")), _random(raw.get("random"), search.trials)
    if not grid and not random:
        raise ConfigError("nothing to sweep; add a grid: or random: mapping of key.path: values")
    seeds = _seeds(raw.get("seeds"))
    _check_collisions(grid, random, seeds)
    max_trials = _count(raw.get("max_trials", MAX_TRIALS), "max_trials", 1)
    seed = _seed(raw, search)
    axes = list(grid) + [k for k in random if k != "n"]
    if search.method == "tpe":
        search = _tpe(search, random, seeds, metric, max_trials, seed)
        _check_bounds(base_raw, base_dir, random)
        sweep = Sweep(base_shown, axes, metric, [], path.read_text(encoding="utf-8"))
        sweep.search = search
        sweep.space = grid_as_choices(grid) | {k: list(v) for k, v in random.items() if k != "n"}
        sweep.base_raw, sweep.base_dir = base_raw, str(Path(base_dir).resolve())
    else:
        _check_size(grid, random, seeds, max_trials)
        _check_bounds(base_raw, base_dir, random)
        points = _points(grid, random, seed)
        trials = []
        for values, trial_seed in itertools.product(points, seeds):
            trials.append(
                build_trial(len(trials), values, trial_seed, base_raw, base_dir, grid, metric)
            )
        sweep = Sweep(base_shown, axes, metric, trials, path.read_text(encoding="utf-8"))
    sweep.base_config = config_to_dict(_config(base_raw, base_dir, [], "base"))
    if base_shown is not None:
        sweep.base = str(Path(base_shown).resolve())  # the command works from anywhere
    return sweep


def build_trial(
    index: int, values: dict, seed, base_raw: dict, base_dir, grid: dict, metric: str
) -> Trial:
    """Trial ``index`` of ``values`` (and ``seed``, None for the base's) on the base; its
    whole config checked (a ConfigError names the axis or the trial, see
    :func:`_trial_config`)."""
    sets = [override(k, v) for k, v in values.items()]
    sets += [] if seed is None else [override("seed", seed)]
    cfg = _trial_config(base_raw, base_dir, values, sets, grid)
    _check_metric_part(cfg, metric, sets)
    return Trial(index, values, cfg.seed, sets, config_to_dict(cfg))


def grid_as_choices(grid: dict) -> dict:
    """The grid axes as random ``choice`` axes (how tpe searches them)."""
    return {key: ["choice", values] for key, values in grid.items()}


def _search(raw: Mapping) -> SearchSettings:
    """The ``search`` block checked (an unknown key with the nearest valid one)."""
    block = raw.get("search")
    if block is None:
        return SearchSettings()
    if not isinstance(block, Mapping):
        raise ConfigError(
            f"search must be a mapping, e.g. {{method: tpe, trials: 40}}, got {shown(block)}"
        )
    valid = list(SearchSettings.RULES)
    for key in block:
        if key not in valid:
            close = closest(str(key), valid)
            hint = (
                f"did you mean search.{close}?" if close else f"valid keys are {', '.join(valid)}"
            )
            raise ConfigError(f"search.{key}: unknown key; {hint}")
    try:
        settings = SearchSettings(**block)
    except ConfigError as e:  # the sweep file's own key: told as text, as its others are
        raise ConfigError(str(e.within("search"))) from None
    return settings


def _check_storage_url(url: str) -> None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"search.storage: {shown(url)} is not a database URL; give one like "
            "sqlite:///study.db or postgresql://user@host/db"
        ) from None


def _tpe(search: SearchSettings, random: dict, seeds: list, metric, max_trials, seed):
    """The tpe search's settings, complete: optuna importable, one trial per configuration,
    a trial count within ``max_trials``, a pruner that the metric allows."""
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise UsageError(OPTUNA_EXTRA) from None
    if search.storage is not None:
        _check_storage_url(search.storage)
    if seeds != [None]:
        raise ConfigError(
            "seeds: method tpe trains each proposed configuration once; set the seed in "
            "the base, or search it as an axis (random: {seed: {int_uniform: [0, 9]}})"
        )
    trials = search.trials or random.get("n")
    if trials is None:
        raise ConfigError("search.trials: how many trials? e.g. search: {method: tpe, trials: 40}")
    if trials > max_trials:
        raise ConfigError(
            f"search.trials {trials} is more than max_trials {max_trials}; lower it or raise "
            "max_trials"
        )
    pruner = search.pruner or "median"
    if pruner != "none" and metric not in PRUNED_BY:
        raise ConfigError(
            f"search.pruner: {pruner} follows the metric at every evaluation, which only "
            f"{' and '.join(PRUNED_BY)} are; choose one of them as metric, or pruner: none"
        )
    return replace(search, trials=trials, pruner=pruner, seed=seed)


def _check_collisions(grid: dict, random: dict, seeds: list) -> None:
    """One key varied in two places would leave one of them unsaid (or unused)."""
    for key in grid:
        if key in random:
            raise ConfigError(
                f"{key} is in both grid and random, so one would override the other; "
                "keep it in one of them"
            )
    varied = [
        f"{where}.seed" for where, axes in (("grid", grid), ("random", random)) if "seed" in axes
    ]
    if varied and seeds != [None]:
        raise ConfigError(
            f"{varied[0]} and seeds both set the seed of each trial; give the seeds "
            "in one place (seeds: [...] trains each configuration once per seed)"
        )


def _check_size(grid: dict, random: dict, seeds: list, max_trials: int) -> None:
    """Refuse more than ``max_trials`` trials, counted before any is made."""
    configurations = math.prod(len(values) for values in grid.values()) * random.get("n", 1)
    n_trials = configurations * len(seeds)
    if n_trials > max_trials:
        raise ConfigError(
            f"the sweep asks for {n_trials} trials ({configurations} "
            f"configurations x {len(seeds)} seeds), more than max_trials "
            f"{max_trials}; shrink the axes or raise max_trials"
        )


def _check_bounds(base_raw, base_dir, random: dict) -> None:
    """Each end of a random axis's range is a value of the setting it varies: checked by
    that setting's rule (on the base), so that a draw cannot fall outside it."""
    for key, (kind, args) in ((k, v) for k, v in random.items() if k != "n"):
        if kind == "choice":
            continue
        for end, value in zip(("low", "high"), args):
            _config(
                base_raw, base_dir, [override(key, value)], f"random.{key}: {kind} {end} {value!r}"
            )


def _trial_config(base_raw, base_dir, values: dict, sets: list[str], grid: dict) -> Config:
    """A trial's whole config, checked; an error names the axis when its value alone on
    the base is refused for the same reason, else the trial (values that do not go
    together)."""
    try:
        return config_from_dict(apply_overrides(base_raw, sets), base_dir=base_dir)
    except NnclfError as whole:
        told = " ".join(str(whole).split())
        for key, value in values.items():
            where = "grid" if key in grid else "random"
            try:
                _config(base_raw, base_dir, [override(key, value)], f"{where}.{key}: {value!r}")
            except ConfigError as alone:
                if str(alone).endswith(f": {told}"):
                    raise
        raise ConfigError(f"the trial {' '.join(sets)}: {told}") from None


def _base(base, path: Path):
    """The base config as a raw mapping, how the reproducing command names it (None when
    inline), and where its relative data paths are looked up."""
    if isinstance(base, Mapping):
        return dict(base), None, path.parent
    if not isinstance(base, str) or not base.strip():
        raise ConfigError(
            "base must name a config file (e.g. base: configs/iris.yaml) or "
            f"be an inline config mapping, got {base!r}"
        )
    candidates = [Path(base), path.parent / base]
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        raise ConfigError(
            f"base config '{base}' not found (looked in the current directory "
            f"and in {path.parent}); check the path"
        )
    raw = read_yaml(found)
    if raw is not None and not isinstance(raw, Mapping):
        raise ConfigError(f"{found} is not a mapping of config sections")
    return dict(raw or {}), str(found), found.parent


def _config(base_raw: dict, base_dir: Path, sets: list[str], what: str) -> Config:
    try:
        return config_from_dict(apply_overrides(base_raw, sets), base_dir=base_dir)
    except NnclfError as e:
        raise ConfigError(f"{what}: {' '.join(str(e).split())}") from None


def _axis_key(key, where: str) -> str:
    if not isinstance(key, str):
        raise ConfigError(
            f"{where}: axis {key!r} must be a dotted config key, e.g. train.schedule.eta0"
        )
    try:
        parse_override(f"{key}=0")
    except NnclfError as e:
        raise ConfigError(f"{where}.{key}: {' '.join(str(e).split())}") from None
    return key


def _grid(grid) -> dict:
    if grid is None:
        return {}
    if not isinstance(grid, Mapping):
        raise ConfigError(f"grid must map config keys to lists of values, got {grid!r}")
    out = {}
    for key, values in grid.items():
        _axis_key(key, "grid")
        if not isinstance(values, list):
            raise ConfigError(
                f"grid.{key}: expected a list of values, e.g. [0.01, 0.1], got {values!r}"
            )
        if not values:
            raise ConfigError(f"grid.{key}: empty axis; give at least one value")
        out[key] = values
    return out


def _random(random, trials: int | None = None) -> dict:
    """The random axes and ``n`` (``trials``, search.trials, stands for a missing n)."""
    if random is None:
        return {}
    if not isinstance(random, Mapping):
        raise ConfigError(
            f"random must be a mapping with n and key: {{distribution: ...}}, got {random!r}"
        )
    axes = {k: v for k, v in random.items() if k != "n"}
    if not axes:
        raise ConfigError(
            "random: no axes; add e.g. train.schedule.eta0: {log_uniform: [0.001, 0.1]}"
        )
    if trials is not None and random.get("n", trials) != trials:
        raise ConfigError(
            f"random.n {shown(random.get('n'))} and search.trials {trials} both say how many "
            "trials; keep one of them"
        )
    n = _count(random.get("n", trials), "random.n", 1)
    return {"n": n} | {_axis_key(k, "random"): _distribution(k, v) for k, v in axes.items()}


def _distribution(key: str, spec) -> tuple[str, list]:
    where = f"random.{key}"
    example = "e.g. {log_uniform: [0.001, 0.1]}"
    if not isinstance(spec, Mapping) or len(spec) != 1:
        raise ConfigError(
            f"{where}: expected one distribution ({', '.join(DISTRIBUTIONS)}), "
            f"{example}; got {spec!r}"
        )
    ((kind, args),) = spec.items()
    if kind not in DISTRIBUTIONS:
        close = closest(str(kind), DISTRIBUTIONS)
        hint = f"did you mean {close}? " if close else ""
        raise ConfigError(
            f"{where}: unknown distribution {kind!r}; {hint}the distributions "
            f"are {', '.join(DISTRIBUTIONS)}"
        )
    if kind == "choice":
        if not isinstance(args, list) or not args:
            raise ConfigError(f"{where}: choice needs a non-empty list of values")
        return kind, args
    ints = kind.startswith("int")
    number = (lambda v: isinstance(v, int)) if ints else (lambda v: isinstance(v, (int, float)))
    if (
        not isinstance(args, list)
        or len(args) != 2
        or not all(number(v) and not isinstance(v, bool) for v in args)
        or not args[0] < args[1]
        or ("log" in kind and args[0] <= 0)
    ):
        what = "integers" if ints else "numbers"
        low = " > 0" if "log" in kind else ""
        raise ConfigError(
            f"{where}: {kind} needs [low, high], {what} with "
            f"{'0 < ' if low else ''}low < high; got {args!r}"
        )
    rule = _INT_END if ints else _NUMBER_END
    for end, value in zip(("low", "high"), args):
        problem = rule.problem(value)
        if problem is not None:
            raise ConfigError(f"{where}: {kind} {end}{problem}")
    return kind, args


_INT_END = integer(-(2**62), 2**62, closed="both", says="an integer in [-2**62, 2**62]")
_NUMBER_END = number(-1e300, 1e300, closed="both", says="a finite number in [-1e300, 1e300]")
"""What each end of a random range may be: numpy draws between them without overflow."""


def _draw(rng: np.random.Generator, kind: str, args: list):
    if kind == "choice":
        return args[int(rng.integers(len(args)))]
    low, high = args
    if kind == "int_uniform":
        return int(rng.integers(low, high + 1))
    if kind == "int_log_uniform":
        x = math.exp(rng.uniform(math.log(low - 0.5 if low > 1 else low), math.log(high + 0.5)))
        return min(max(int(round(x)), low), high)
    x = (
        rng.uniform(low, high)
        if kind == "uniform"
        else math.exp(rng.uniform(math.log(low), math.log(high)))
    )
    return float(f"{x:.6g}")


def _points(grid: dict, random: dict, seed: int) -> list[dict]:
    """Every grid combination times ``random.n`` draws (draws made in file order)."""
    rng = np.random.default_rng(seed)
    axes = {k: v for k, v in random.items() if k != "n"}
    draws = [{k: _draw(rng, *spec) for k, spec in axes.items()} for _ in range(random.get("n", 1))]
    combos = [dict(zip(grid, combo)) for combo in itertools.product(*grid.values())]
    return [combo | draw for combo in combos for draw in draws]


def _check_metric_part(cfg: Config, metric: str, sets: list[str]) -> None:
    part = _split_metric(metric)[0]
    fraction = {"val": cfg.data.validation_fraction, "test": cfg.data.test_fraction}.get(part)
    if fraction == 0:
        key = "validation_fraction" if part == "val" else "test_fraction"
        raise ConfigError(
            f"metric: {metric} needs a {METRIC_PARTS[part]} split, but "
            f"data.{key} is 0 (in the trial {' '.join(sets) or 'base'}); "
            "choose another metric or a fraction > 0"
        )


def _seeds(seeds) -> list:
    if seeds is None:
        return [None]  # the base config's seed
    if not isinstance(seeds, list) or not seeds:
        raise ConfigError(
            f"seeds must be a non-empty list of integers, e.g. [0, 1, 2], got {seeds!r}"
        )
    for s in seeds:
        _count(s, "seeds", 0)
    return seeds


def _seed(raw, search: SearchSettings) -> int:
    """The seed of the draws: ``seed`` or search.seed (which stands for it)."""
    if search.seed is not None and raw.get("seed", search.seed) != search.seed:
        raise ConfigError(
            f"seed {shown(raw.get('seed'))} and search.seed {search.seed} both seed the "
            "search; keep one of them"
        )
    return _count(raw.get("seed", search.seed if search.seed is not None else 0), "seed", 0)


def _count(value, key: str, low: int) -> int:
    problem = integer(low, strict=True).problem(value)
    if problem is not None:
        raise ConfigError(f"{key}{problem}")  # the sweep file's key, not a setting's
    return value
