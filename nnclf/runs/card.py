"""``nnclf info``: the model card of a run directory or a model file.

Contract
--------
:func:`model_card` gathers what a run or a model file says about itself, as JSON-able data:
the architecture (d, the hidden layers, K, the transfer functions, the parameter count, the
dtype), the training settings (the run's config, or the estimator's parameters for a file of
:meth:`NNClassifier.save <nnclf.estimator.fitted.FittedModel.save>`) and how the run went, the data
(source, rows, fingerprint, feature columns, standardisation, classes with their counts),
the metrics of each split (from the run's metrics.json) and the versions. :func:`format_card`
prints it under the same names. A missing or damaged target is one NnclfError.
"""

from __future__ import annotations

import json

import numpy as np

from nnclf.base.tables import format_table
from nnclf.runs.run import METRICS, open_model

__all__ = ["model_card", "format_card"]

_PARTS = ("train", "validation", "test")
_SCORES = ("n_samples", "accuracy", "balanced_accuracy", "log_loss", "macro_f1")


def model_card(target) -> dict:
    """What ``nnclf info`` shows of a run directory or a model file, JSON-able: ``model``,
    ``run_dir``, ``architecture``, ``training``, ``data``, ``preparation`` (what the model
    learned to impute and one-hot code, :meth:`nnclf.data.preparation.Preparation.to_dict`;
    None for models made before it), ``metrics`` (None without the run's metrics.json) and
    ``versions``."""
    import sklearn

    from nnclf.base.version import __version__
    from nnclf.export.modelfile import load_model
    from nnclf.runs.report import run_metrics

    model, path, run_dir = open_model(target)
    meta, net = load_model(path)[1], model.network
    has_metrics = run_dir is not None and (run_dir / METRICS).is_file()
    metrics = run_metrics(run_dir) if has_metrics else {}
    counts = _class_counts(metrics)
    data = model.data if isinstance(model.data, dict) else {}
    names = model.feature_names
    return {
        "model": str(path),
        "run_dir": None if run_dir is None else str(run_dir),
        "architecture": {
            "n_features": net.n_features,
            "layers": list(net.layers),
            "n_classes": net.n_classes,
            "transfers": list(net.transfers),
            "parameters": sum(int(a.size) for a in net.params.values()),
            "dtype": net.dtype.name,
        },
        "training": _training(model.config, metrics),
        "data": {
            **{k: data.get(k) for k in ("source", "rows", "sha256")},
            "features": None if names is None else list(names),
            "standardized": model.standardizer is not None,
            "inputs": None if model.input_names is None else len(model.input_names),
            "classes": [{"label": c, "count": counts.get(str(c))} for c in model.classes.tolist()],
        },
        "preparation": None if model.preparation is None else model.preparation.to_dict(),
        "metrics": {
            part: {k: metrics[part][k] for k in _SCORES if k in metrics[part]}
            for part in _PARTS
            if metrics.get(part)
        }
        or None,
        "versions": {
            "format_version": meta.get("format_version"),
            "written_by_nnclf": meta.get("nnclf_version"),
            "nnclf": __version__,
            "numpy": np.__version__,
            "scikit-learn": sklearn.__version__,
        },
    }


def _training(config, metrics: dict) -> dict:
    """The card's ``training``: the settings the model records (a run's ``train`` section or
    the estimator's parameters) and, given the run's metrics, how its training ended."""
    config = config if isinstance(config, dict) else {}
    if isinstance(config.get("train"), dict):
        training = {"from": "nnclf train config", "seed": config.get("seed"), **config["train"]}
    else:  # NNClassifier.save records the estimator's parameters
        training = {
            "from": "NNClassifier parameters" if config else None,
            **{k: v for k, v in config.items() if k not in ("hidden_units", "transfer")},
        }
    run = {
        f"run_{k}": metrics.get(k) for k in ("steps", "stopped", "best_step", "seconds", "engine")
    }
    return {**training, **(run if metrics else {})}


def _class_counts(metrics: dict) -> dict[str, int]:
    """Each class's examples over the run's splits, by its label as text."""
    counts = {}
    for c in (c for part in _PARTS for c in (metrics.get(part) or {}).get("per_class", ())):
        counts[str(c["label"])] = counts.get(str(c["label"]), 0) + c["support"]
    return counts


def _setting(value) -> str:
    """A value of the card as a config says it: a list comma-separated, a class with its
    count in brackets, a named setting with its parameters in brackets."""
    if isinstance(value, list):
        if len(value) > 12:  # e.g. 784 pixel columns: --json lists them all
            return (
                ", ".join(map(_setting, value[:4]))
                + ", ..., "
                + ", ".join(map(_setting, value[-2:]))
                + f" ({len(value)} in all)"
            )
        return ", ".join(map(_setting, value))
    if isinstance(value, dict) and {"label", "count"} == set(value):
        return str(value["label"]) + ("" if value["count"] is None else f" ({value['count']})")
    if isinstance(value, dict) and "name" in value:
        rest = ", ".join(f"{k}={_setting(v)}" for k, v in value.items() if k != "name")
        return f"{value['name']} ({rest})" if rest else str(value["name"])
    return value if isinstance(value, str) else json.dumps(value)


def format_card(card: dict) -> str:
    """The text of ``nnclf info`` for a :func:`model_card`, under the same names (no final
    newline)."""
    head = [["model", card["model"]]] + ([["run", card["run_dir"]]] if card["run_dir"] else [])
    parts = [format_table(head)] + [
        title + "\n" + format_table([["", k, _setting(x)] for k, x in card[title].items()])
        for title in ("architecture", "training", "data", "versions")
    ]
    if card.get("preparation"):
        parts.insert(-1, _format_preparation(card["preparation"]))
    if card["metrics"]:
        rows = [["metrics", "examples", "accuracy", "balanced acc.", "log-loss", "macro F1"]]
        rows += [
            [part, str(m["n_samples"])] + [f"{m[k]:.4f}" if k in m else "-" for k in _SCORES[1:]]
            for part, m in card["metrics"].items()
        ]
        parts.insert(-1, format_table(rows, right={1, 2, 3, 4, 5}))
    return "\n\n".join(parts)


def _format_preparation(preparation: dict) -> str:
    """The card's preparation: one row per column, its kind and what fills or codes it."""
    rows = []
    for c in preparation["columns"]:
        if c["kind"] == "numeric":
            how = f"missing -> {c['fill']:.6g}" + (
                f", + {c['name']}_missing ({c['missing']} in training)" if c["indicator"] else ""
            )
        else:
            cats = ["<missing>" if v is None else v for v in c["categories"]]
            how = f"{len(cats)} inputs: {_setting(cats)}"
            if c["other"]:
                how += f"; <other> for {len(c['other'])} rare"
        rows.append(["", c["name"], c["kind"], how])
    return f"preparation (missing: {preparation['missing']})\n" + format_table(rows)
