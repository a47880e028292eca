"""What the ``nnclf`` commands show: text tables, reports, predictions, gradcheck, DOT, plots.

Contract
--------
Every function here returns text (or writes image files) for one command, from a config, a
trained model or a run directory (:mod:`nnclf.runs.run`); none of them trains or changes a run.
Every text table goes through :func:`nnclf.base.tables.format_table`, so all of them line up the
same way.

- :func:`format_training`: what ``nnclf train`` prints when a run finished.
- :func:`evaluation_data`, :func:`format_report`: the data ``nnclf evaluate`` scores (the
  run's own test split by default, refused when the run's data file has changed since
  training) and its report of :func:`nnclf.runs.metrics.evaluate`.
- :func:`predict`: the CSV of ``nnclf predict``; :func:`prediction_inputs`, the rows it
  predicts on (which ``nnclf serve`` reads a request's rows with too).
- :func:`gradcheck`, :func:`graph_dot`: ``nnclf gradcheck`` and ``nnclf graph`` of a config.
- :func:`plot`: learning_curves.png and confusion_matrix.png of a run directory.

Every user error is a one-line :class:`~nnclf.errors.NnclfError` naming the option at fault.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from nnclf.base.tables import format_table
from nnclf.config.load import Config, config_from_dict, load_config
from nnclf.data.fingerprints import data_changed
from nnclf.data.npyfolder import probabilities
from nnclf.data.sources import read_inputs
from nnclf.errors import ConfigError, DataError, NnclfError, RunError, UsageError
from nnclf.export.trained import TrainedModel
from nnclf.runs.run import (
    CHECKPOINT,
    CONFIG,
    HISTORY,
    METRICS,
    MODEL,
    RunOutcome,
    build_model,
    load_splits,
    resume_command,
    split_method,
)

__all__ = [
    "format_training",
    "evaluation_data",
    "format_report",
    "predict",
    "prediction_inputs",
    "gradcheck",
    "graph_dot",
    "plot",
    "check_unchanged",
    "require_run_files",
    "run_metrics",
    "save_figure",
    "unseen_warnings",
]


def _show(source: str) -> str:
    """A data source for display: a file under the current directory relative to it."""
    try:
        return str(Path(source).relative_to(Path.cwd()))
    except ValueError:  # not under the current directory
        return source


# ----------------------------------------------------------------------------- tables


def format_training(outcome: RunOutcome, resumed: bool = False) -> str:
    """What ``nnclf train`` prints for a finished run: steps and time, the metrics of each
    split, the run's files and the next command (no final newline)."""
    m = outcome.metrics
    how = {"completed": "", "early_stopping": f", early stopping (best step {m['best_step']})"}
    head = (
        f"{'resumed and finished' if resumed else 'finished'} {outcome.steps} steps in "
        f"{outcome.seconds:.1f} s{how.get(outcome.stopped, ', ' + outcome.stopped)}"
    )
    rows = [["", "examples", "accuracy", "log-loss", "macro F1"]]
    for part in ("train", "validation", "test"):
        r = m[part]
        if r is not None:
            rows.append(
                [
                    part,
                    str(r["n_samples"]),
                    f"{r['accuracy']:.4f}",
                    f"{r['log_loss']:.4f}",
                    f"{r['macro_f1']:.4f}",
                ]
            )
    # The widths keep the layout of nnclf 0.1 (and the README): names 11 wide, numbers 10 apart.
    table = format_table(rows, right={1, 2, 3, 4}, min_widths=(11, 8, 8, 8, 8))
    files = ", ".join((CONFIG, MODEL, HISTORY, METRICS, CHECKPOINT))
    return "\n".join(
        [
            head,
            table,
            f"run: {outcome.run_dir} ({files})",
            f"next: nnclf evaluate {outcome.run_dir}",
        ]
    )


def format_report(report: dict, heading: list[tuple[str, str]] = ()) -> str:
    """The text ``nnclf evaluate`` prints for a report of :func:`nnclf.runs.metrics.evaluate`:
    the ``heading`` (name, value) lines, the overall scores, the per-class table and the
    confusion matrix (no final newline)."""
    scores = [
        ("accuracy", report["accuracy"]),
        ("log-loss", report["log_loss"]),
        ("macro F1", report["macro_f1"]),
    ]
    if "balanced_accuracy" in report:  # reports written before nnclf had it lack it
        scores.insert(1, ("balanced accuracy", report["balanced_accuracy"]))
    width = max(len(k) for k, _ in [*heading, *scores])
    lines = [f"{k:<{width}} {v}" for k, v in heading]
    lines += [f"{k:<{width}} {v:.4f}" for k, v in scores] + [""]
    rows = [["class", "precision", "recall", "f1", "support"]]
    rows += [
        [
            str(c["label"]),
            f"{c['precision']:.3f}",
            f"{c['recall']:.3f}",
            f"{c['f1']:.3f}",
            str(c["support"]),
        ]
        for c in report["per_class"]
    ]
    lines += [
        format_table(rows, right={1, 2, 3, 4}),
        "",
        "confusion matrix (rows: true class, columns: predicted class)",
    ]
    names = [str(c["label"]) for c in report["per_class"]]
    rows = [[""] + names] + [
        [n] + [str(v) for v in r] for n, r in zip(names, report["confusion_matrix"])
    ]
    lines.append(format_table(rows, right=set(range(1, len(names) + 1))))
    return "\n".join(lines)


# ----------------------------------------------------------------------------- evaluate, predict


_OPTIONS = {"source": "--data", "keep": "--keep"}


def _data_key(e: DataError) -> DataError:
    """An error of the data loaders, told as one about the command's option at fault."""
    return e.renamed(_OPTIONS.get(e.name, "--data") if e.name != "encoding" else "--encoding")


def _data_setting(model: TrainedModel, key: str):
    """The training config's data.<key>, or None (a model saved by the estimator has none)."""
    data = (model.config or {}).get("data")
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def _reading(model: TrainedModel, delimiter: str | None, encoding: str | None) -> dict:
    """How new data is read: ``delimiter`` and ``encoding`` when given, else those training
    read its data with (the config the model records), else detected and UTF-8."""
    return {
        "delimiter": delimiter or _data_setting(model, "delimiter"),
        "encoding": encoding or _data_setting(model, "encoding") or "utf-8",
    }


def _label_column(model: TrainedModel, source: str, target: str | None) -> str | None:
    """The label column of a CSV or Parquet file: ``target``, else the training config's
    data.target (else read_inputs takes the one column that is not a training feature)."""
    if target is not None or not source.lower().endswith((".csv", ".parquet")):
        return target
    return _data_setting(model, "target")


def _training_config(model: TrainedModel) -> Config:
    """The ``nnclf train`` config a model file records, or an error asking for --data."""
    recorded = model.config if isinstance(model.config, dict) else {}
    if "data" in recorded:
        try:
            return config_from_dict(recorded)
        except ConfigError:
            pass
    raise DataError(
        "this model file records no nnclf train config (it may come from "
        "NNClassifier.save), so it has no test split; give the data to "
        "evaluate on with --data SOURCE"
    )


def _test_split(model: TrainedModel, run_dir: Path | None) -> tuple[np.ndarray, np.ndarray, str]:
    cfg = load_config(run_dir / CONFIG) if run_dir is not None else _training_config(model)
    recorded = _recorded_data(run_dir) if run_dir is not None else model.data
    splits = load_splits(cfg, split_method(recorded))
    check_unchanged(recorded, splits.fingerprint, _show(cfg.data.source))
    if not len(splits.X_test):
        raise DataError(
            "the run has no test split (data.test_fraction is 0); give the "
            "data to evaluate on with --data SOURCE"
        )
    what = "its own test set" if splits.test_from_source else "the run's test split"
    return (
        splits.X_test,
        splits.y_test,
        f"{what}: {len(splits.X_test)} examples of {_show(cfg.data.source)}",
    )


def _recorded_data(run_dir: Path) -> dict | None:
    """The fingerprint of the data a run was trained on, as its metrics.json records it."""
    try:
        return json.loads((run_dir / METRICS).read_text()).get("data")
    except (OSError, ValueError, AttributeError):
        return None


TEST_SPLIT_CHANGED = (
    "so its test split re-created now would not be the one held out in training (it could "
    "hold training rows); evaluate on data of your choice with --data SOURCE"
)


def check_unchanged(recorded, now: dict, source: str, why: str = TEST_SPLIT_CHANGED) -> None:
    """The data a run or model was trained on (its recorded fingerprint) must be the data its
    splits are re-created from, else a DataError ``CHANGE, WHY``; runs and models of nnclf
    0.1 record nothing to compare."""
    changed = data_changed(recorded, now, source) if isinstance(recorded, dict) else None
    if changed:
        raise DataError(f"{changed}, {why}")


def _inputs(model: TrainedModel, data: str, label: str | None, notify, reading, keep=()):
    """read_inputs of ``data`` for ``model``, read as ``reading`` says; ``notify`` is told
    when the columns are taken in order because none of them has a training feature's name."""
    prep = model.preparation
    how = {} if prep is None else {"text": prep.categorical, "missing": prep.missing == "impute"}
    try:
        inputs = read_inputs(data, model.feature_names, label, keep=keep, **reading, **how)
    except DataError as e:
        raise _data_key(e) from None
    if prep is not None and notify is not None:
        for line in unseen_warnings(prep, inputs.X, data):
            notify(line)
    expected, names = model.feature_names, inputs.names
    if notify is not None and expected is not None and tuple(names) != tuple(expected):
        few = lambda ns: ", ".join(ns[:4]) + (", ..." if len(ns) > 4 else "")
        if inputs.headerless:
            what = "has no header, so its columns"
        else:
            what = f"has none of the model's feature names, so its columns ({few(list(names))})"
        notify(f"{data} {what} are taken in order as {few(list(expected))}")
    return inputs


def unseen_warnings(preparation, X, data: str) -> list[str]:
    """One warning line per categorical column of ``X`` with categories never seen in
    training: how many values, and up to five of them."""
    lines = []
    for column, (count, values) in preparation.unseen(X).items():
        shown = ", ".join(repr(v) for v in values)  # (up to five of them)
        lines.append(
            f"warning: {data} column {column!r} has {count} value{'s' if count > 1 else ''} "
            f"never seen in training ({shown}); their one-hot inputs are all zero"
        )
    return lines


def evaluation_data(
    model: TrainedModel,
    run_dir: Path | None,
    data: str | None,
    target: str | None = None,
    notify=None,
    delimiter: str | None = None,
    encoding: str | None = None,
) -> tuple[np.ndarray, np.ndarray, str]:
    """What ``nnclf evaluate`` scores the model on: ``data`` if given (a CSV split at
    ``delimiter`` and decoded with ``encoding``, by default as in training), else the run's
    own test split (recomputed from the run's config.yaml, or from the config a model file
    records). ``notify(text)``, if given, is told when columns are matched by position.

    Returns
    -------
    X : ndarray of shape (n, d)
        Raw features.
    y : ndarray of shape (n,)
        Labels, every one known to the model.
    description : str
        The data in words, for the report's heading.
    """
    if data is None:
        if delimiter is not None or encoding is not None:
            option = "--delimiter" if delimiter is not None else "--encoding"
            raise UsageError(f"{option} is for --data; give the data to read with it")
        return _test_split(model, run_dir)
    label = _label_column(model, data, target)
    inputs = _inputs(model, data, label, notify, _reading(model, delimiter, encoding))
    X, y = inputs.X, inputs.y
    if y is None:
        raise DataError(
            f"--data: {data} has no labels to evaluate against"
            + (f" (no column '{label}')" if label else "")
            + "; give a labelled CSV (or --target COLUMN), or use nnclf predict"
        )
    try:
        model.encode(y)
    except DataError as e:
        raise DataError(f"--data: {data}: {e}") from None
    warning = _training_rows_warning(model, run_dir, data, len(X))
    if warning and notify is not None:
        notify(warning)
    return X, y, f"{len(X)} examples of {data}"


def _training_rows_warning(model: TrainedModel, run_dir: Path | None, data: str, n: int):
    """A warning when ``data`` (n rows) is the data the run was trained on, loaded and split
    as training did: its fingerprint is the one the run recorded. None otherwise."""
    recorded = _recorded_data(run_dir) if run_dir is not None else model.data
    rows = recorded.get("rows") if isinstance(recorded, dict) else None
    if not isinstance(rows, int) or n > rows:  # more rows than the run had: other data
        return None
    try:
        cfg = load_config(run_dir / CONFIG) if run_dir is not None else _training_config(model)
        splits = load_splits(
            replace(cfg, data=replace(cfg.data, source=data)), split_method(recorded)
        )
    except NnclfError:  # no config to split by, or data the run's settings cannot read
        return None
    if data_changed(recorded, splits.fingerprint, data) is not None:
        return None
    return (
        f"warning: --data {data} is the data this run was trained on (the same "
        f"fingerprint), so {len(splits.X_train)} of its {n} rows are training rows and the "
        "scores overstate how the model does on new data; leave out --data to score the "
        "run's test split"
    )


def predict(model: TrainedModel, data: str, notify=None, **options) -> str:
    """CSV text: the ``keep`` columns, a ``label`` column and ``p_<class>`` per class, one
    row per input row (``options`` as :func:`predict_csv` takes them)."""
    return "".join(text for text, _ in predict_csv(model, data, notify, **options))


def prediction_inputs(
    model: TrainedModel,
    data: str,
    notify=None,
    keep=(),
    delimiter: str | None = None,
    encoding: str | None = None,
):
    """The rows of ``data`` that ``nnclf predict`` (and ``nnclf serve``) give ``model``, as
    :class:`~nnclf.data.sources.Inputs`: columns matched by name, a label column left out,
    categorical columns and missing values read as the model's preparation reads them. A
    fault is a DataError about ``--data`` (``--keep``, ``--encoding``)."""
    reading = _reading(model, delimiter, encoding)
    return _inputs(model, data, _label_column(model, data, None), notify, reading, keep)


def predict_csv(
    model: TrainedModel,
    data: str,
    notify=None,
    keep=(),
    delimiter: str | None = None,
    encoding: str | None = None,
):
    """Yield :func:`predict`'s text piece by piece with the number of rows in each piece
    (a cell may hold a line break): a folder's rows are read a chunk at a time.

    ``keep`` names columns of a CSV or Parquet ``data`` to copy first into each row, as
    read; ``delimiter`` and ``encoding`` say how a CSV is read (by default as in training).
    """
    inputs = prediction_inputs(model, data, notify, keep, delimiter, encoding)
    kept = list(inputs.kept.values())
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(list(inputs.kept) + ["label"] + [f"p_{c}" for c in model.classes.tolist()])
    yield out.getvalue(), 0
    out.seek(0)
    out.truncate()
    start = 0
    for proba in probabilities(model, inputs.X):
        labels = model.classes[np.argmax(proba, axis=1)]
        for i, (lab, p) in enumerate(zip(labels.tolist(), proba), start):
            writer.writerow([column[i] for column in kept] + [lab] + [f"{v:.6g}" for v in p])
        start += len(proba)
        yield out.getvalue(), len(proba)
        out.seek(0)
        out.truncate()


# ----------------------------------------------------------------------------- gradcheck, graph


def _examples(cfg: Config, n: int):
    """The untrained model of ``cfg`` and its first ``n`` training examples, prepared."""
    splits = load_splits(cfg)
    model = build_model(cfg, splits)
    X = model.prepare(splits.X_train[:n])
    y = model.encode(splits.y_train[:n])
    return model, X, y


def gradcheck(cfg: Config, n_examples: int = 3) -> tuple[str, bool]:
    """Backprop (VJP mode), the Jacobian mode and the path sum, each against central finite
    differences, on the first ``n_examples`` training examples at the initial parameters.

    Returns the report text (no final newline) and whether everything agreed.
    """
    from nnclf.graph.gradcheck import gradcheck_modes

    model, X, y = _examples(cfg, n_examples)
    net = model.network
    worst: dict[tuple[str, str], list] = {}  # (mode, param) -> [abs err, rel err, ok, size]
    for x_i, y_i in zip(X, y):
        values = net.leaf_values(x_i, y_i)
        for mode, report in gradcheck_modes(net.graph, values, wrt=net.param_names).items():
            for c in report.checks:
                w = worst.setdefault((mode, c.name), [0.0, 0.0, True, c.size])
                w[0], w[1] = max(w[0], c.max_abs_error), max(w[1], c.max_rel_error)
                w[2] = w[2] and c.ok
    ok = all(w[2] for w in worst.values())
    rows = [["mode", "param", "entries", "max abs err", "max rel err", "ok"]]
    rows += [
        [mode, name, str(w[3]), f"{w[0]:.3e}", f"{w[1]:.3e}", "yes" if w[2] else "NO"]
        for (mode, name), w in worst.items()
    ]
    head = (
        f"gradcheck: {len(X)} training examples of {_show(cfg.data.source)}, network "
        f"d={net.n_features} m={_layers(net)} K={net.n_classes} ({_transfers(net)}), "
        "each mode against central finite differences"
    )
    verdict = (
        "all agree"
        if ok
        else "DISAGREEMENT: backpropagation and finite differences differ (see 'NO' rows)"
    )
    return "\n".join([head, format_table(rows, right={2, 3, 4}), verdict]), ok


def _layers(net) -> str:
    """m as the config says it: ``100`` for the notes' network, ``[256, 128]`` for more layers."""
    return str(net.n_hidden if len(net.layers) == 1 else list(net.layers))


def _transfers(net) -> str:
    return net.transfer if isinstance(net.transfer, str) else ", ".join(net.transfer)


def graph_dot(cfg: Config) -> str:
    """The network's computational graph as DOT, every vertex with its dimension."""
    model, X, y = _examples(cfg, 1)
    net = model.network
    values = net.graph.forward(net.leaf_values(X[0], y[0]))
    return net.graph.to_dot(values)


# ----------------------------------------------------------------------------- plot


def require_run_files(run_dir: Path, names, why: str, otherwise: str) -> None:
    """Raise a RunError ``RUN: no NAMEWHY; HINT`` for the first of ``names`` missing from
    ``run_dir``: the hint is the resume command of a run that has a checkpoint, else
    ``otherwise``."""
    for name in names:
        if not (run_dir / name).is_file():
            hint = (
                f"resume it with: {resume_command(run_dir)}"
                if (run_dir / CHECKPOINT).is_file()
                else otherwise
            )
            raise RunError(f"{run_dir}: no {name}{why}; {hint}")


def plot(run_dir) -> list[Path]:
    """Write learning_curves.png and confusion_matrix.png (of the test split, else the
    validation or training split) into ``run_dir``; returns the files written."""
    run_dir = Path(run_dir)
    require_run_files(
        run_dir, (HISTORY, METRICS), " to plot", "give a run directory of nnclf train"
    )
    history = _read_run_file(run_dir / HISTORY, _read_history)
    metrics = _read_run_file(run_dir / METRICS, _read_metrics)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError(
            'plotting needs matplotlib; install it with: pip install "nnclf[plot]"'
        ) from None
    written = [_plot_learning_curves(plt, history, run_dir / "learning_curves.png")]
    part = next((p for p in ("test", "validation", "train") if metrics.get(p)), None)
    if part is not None:
        written.append(_plot_confusion_matrix(plt, metrics, part, run_dir / "confusion_matrix.png"))
    return written


_HISTORY_COLUMNS = ("step", "eta", "train_loss", "val_loss", "val_accuracy")


def run_metrics(run_dir: Path) -> dict:
    """A run's metrics.json, checked to be as ``nnclf train`` writes it (else a RunError)."""
    return _read_run_file(Path(run_dir) / METRICS, _read_metrics)


def _read_history(path: Path) -> dict[str, np.ndarray]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}
    missing = [c for c in _HISTORY_COLUMNS if c not in rows[0]]
    if missing:
        raise _not_as_written(path, f"no column {missing[0]!r}")
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}


def _read_metrics(path: Path) -> dict:
    metrics = json.loads(path.read_text())
    if not isinstance(metrics, dict) or "classes" not in metrics:
        raise _not_as_written(path, "no classes")
    return metrics


def _read_run_file(path: Path, read):
    """``read(path)``; a file that is not as nnclf train wrote it is the user's to fix."""
    try:
        return read(path)
    except RunError:
        raise
    except ValueError as e:  # bad JSON, or a cell that is not a number
        raise _not_as_written(path, str(e)) from None


def _not_as_written(path: Path, why: str) -> RunError:
    return RunError(
        f"{path}: not as nnclf train writes it ({why}); train the run again or restore the file"
    )


def _plot_learning_curves(plt, history: dict[str, np.ndarray], path: Path) -> Path:
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    if history:
        step = history["step"]
        axes[0].plot(step, history["train_loss"], label="training loss (mean since last eval)")
        if np.isfinite(history["val_loss"]).any():
            axes[0].plot(step, history["val_loss"], label="validation loss")
            axes[1].plot(step, history["val_accuracy"], color="C2")
        axes[2].plot(step, history["eta"], color="C3")
        axes[0].legend()
    axes[0].set(xlabel="step t", ylabel="-log p(y|x)", title="loss")
    axes[1].set(xlabel="step t", ylabel="accuracy", title="validation accuracy")
    axes[2].set(xlabel="step t", ylabel="eta^t", title="step size")
    for ax in axes:
        ax.grid(alpha=0.3)
    return save_figure(plt, fig, path)


def _plot_confusion_matrix(plt, metrics: dict, part: str, path: Path) -> Path:
    cm = np.array(metrics[part]["confusion_matrix"])
    names = [str(c) for c in metrics["classes"]]
    size = max(4.0, 0.5 * len(names) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(cm, cmap="Blues")
    for (i, j), v in np.ndenumerate(cm):
        ax.text(
            j,
            i,
            str(v),
            ha="center",
            va="center",
            color="white" if v > cm.max() / 2 else "black",
            fontsize=8,
        )
    ax.set_xticks(range(len(names)), names, rotation=45 if len(names) > 10 else 0)
    ax.set_yticks(range(len(names)), names)
    ax.set(
        xlabel="predicted class",
        ylabel="true class",
        title=f"confusion matrix ({part}, accuracy {metrics[part]['accuracy']:.4f})",
    )
    return save_figure(plt, fig, path)


def save_figure(plt, fig, path: Path) -> Path:
    from nnclf.base.outputs import atomic_write

    fig.tight_layout()
    try:
        return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110))
    finally:
        plt.close(fig)
