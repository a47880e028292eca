"""``nnclf explain``: the network of a config or a run on one training example, as a page.

Contract
--------
:func:`explain` takes a config file (the network at its initial parameters, drawn from the
config's seed) or a run directory (its trained parameters) and example I (0-based) of the
training split as training makes it. The page (:mod:`nnclf.graph.explain`) shows the notes'
graph at that example, and one plain SGD step theta <- theta - eta^t p^theta on every
parameter, with eta^t the config's schedule at t = 1 for a config and t = T + 1 after a run's
T steps. Default page: ``explain.html`` in the current directory for a config, ``RUN/explain.html``
for a run (rewritten each time, as ``nnclf plot`` rewrites its PNGs).
"""

from __future__ import annotations

import json
from pathlib import Path

from nnclf.base.outputs import check_output
from nnclf.config.load import Config, load_config
from nnclf.errors import RunError, UsageError
from nnclf.runs.report import check_unchanged
from nnclf.runs.run import build_model, load_splits, split_method
from nnclf.runs.runfiles import CONFIG, METRICS, MODEL, open_model

__all__ = ["explain", "default_page"]

PAGE = "explain.html"


def default_page(target) -> Path:
    """Where the page goes without ``--out``: inside a run directory, else here."""
    path = Path(target)
    return path / PAGE if path.is_dir() else Path(PAGE)


def _model_and_splits(target):
    """(model, splits, cfg, t, what) of a run directory or a config file."""
    path = Path(target)
    if path.is_dir():
        if not (path / MODEL).is_file() or not (path / CONFIG).is_file():
            open_model(path)  # its error says what the directory lacks
            raise RunError(
                f"{path}: not an nnclf run directory (no {CONFIG}); give a run of nnclf train"
            )
        model, _, _ = open_model(path)
        cfg = load_config(path / CONFIG)
        try:
            metrics = json.loads((path / METRICS).read_text())
        except (OSError, ValueError):
            metrics = {}
        splits = load_splits(cfg, split_method(metrics.get("data")))
        check_unchanged(
            metrics.get("data"),
            splits.fingerprint,
            str(cfg.data.source),
            why="so the training examples re-made now are not the run's; restore the data "
            "the run was trained on",
        )
        T = int(metrics.get("steps", 0) or 0)
        return model, splits, cfg, T + 1, f"run {path}, trained for {T} steps"
    if not path.is_file():
        raise UsageError(
            f"explain: {target} is neither a config file nor a run directory; give one, "
            "e.g. nnclf explain configs/iris.yaml"
        )
    cfg = load_config(path)
    splits = load_splits(cfg)
    return (
        build_model(cfg, splits),
        splits,
        cfg,
        1,
        f"config {path}, initial parameters (seed {cfg.seed})",
    )


def explain(target, example: int = 0, out=None, force: bool = False) -> Path:
    """Write the page of ``target`` (config or run) on training example ``example``; returns
    the path written. A bad example index is a UsageError, raised before anything is written."""
    given = out is not None
    page = Path(out) if given else default_page(target)
    if given or not Path(target).is_dir():
        check_output(
            str(page), force=force, example=PAGE, stdout="the page is a file", reads=(target,)
        )
    model, splits, cfg, t, what = _model_and_splits(target)
    n = len(splits.X_train)
    if not 0 <= example < n:
        raise UsageError(
            f"explain: --example {example} is not in 0..{n - 1}, the {n} training examples"
        )
    x = model.prepare(splits.X_train[example : example + 1])[0]
    y = model.encode(splits.y_train[example : example + 1])[0]
    net = model.network
    values = net.graph.forward(net.leaf_values(x, y))
    eta = cfg.train.make_schedule()(t)
    label = splits.y_train[example]
    return net.graph.explain(
        values,
        page,
        params=net.param_names,
        eta=eta,
        t=t,
        title=f"{_name(cfg)}: d={net.n_features}, layers {list(net.layers)}, K={net.n_classes}",
        notes={
            "network": what,
            "example": f"{example} of {n} (training split)",
            "label y": f"{label!s} (class {int(y)})",
        },
    )


def _name(cfg: Config) -> str:
    return Path(str(cfg.data.source)).stem or "network"
