"""What the ``nnclf`` commands do, below the argument parsing.

Contract
--------
A *run directory* is written by :func:`train` and holds

    config.yaml      the resolved config (every default filled in)
    checkpoint.npz   the trainer's full state (nnclf.sgd.save_checkpoint)
    model.npz        the model file (nnclf.trained.TrainedModel), only once training finished
    history.csv      one row per evaluation
    metrics.json     train, validation and test metrics (scikit-learn's)

A new run is built in a hidden staging directory next to its final place and renamed into
place when training ends or is interrupted, so a failed run leaves nothing behind and an
earlier run is never touched (``--force`` replaces it only after the new one is complete).
An interrupted run holds config.yaml and checkpoint.npz but no model.npz; :func:`resume`
finishes it. The data splits are recomputed from the saved config, since they are seeded.

Every user error is a one-line :class:`~nnclf.errors.NnclfError`;
:class:`~nnclf.errors.DivergenceError` means that training diverged.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shlex
import shutil
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .errors import CheckpointError, ConfigError, DataError, RunError, UsageError
from .config import Config, OutputConfig, config_from_dict, config_to_dict, dump_config, load_config
from .data import Standardizer, load_dataset, load_features, train_test_split_stratified
from .model import PARAMS, Network
from .archive import atomic_write_text
from .sgd import Trainer, load_checkpoint, save_checkpoint
from .trained import TrainedModel

__all__ = [
    "Splits",
    "RunOutcome",
    "load_splits",
    "build_model",
    "choose_run_dir",
    "train",
    "resume",
    "open_model",
    "evaluation_data",
    "evaluate",
    "format_report",
    "predict",
    "gradcheck",
    "graph_dot",
    "plot",
]

CONFIG, MODEL, CHECKPOINT, HISTORY, METRICS = (
    "config.yaml", "model.npz", "checkpoint.npz", "history.csv", "metrics.json")
RUN_FILES = (CONFIG, MODEL, CHECKPOINT)


# ----------------------------------------------------------------------------- data


@dataclass(frozen=True, eq=False)
class Splits:
    """The raw examples of one config, split as training splits them.

    Features are unstandardised and labels are as the source has them; the validation and
    test parts may be empty (n = 0).
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    feature_names: tuple[str, ...]
    source: str
    test_from_source: bool


def _show(source: str) -> str:
    """A data source for display: a file under the current directory relative to it."""
    try:
        return str(Path(source).relative_to(Path.cwd()))
    except ValueError:
        return source


def _split(X, y, fraction, seed, key):
    try:
        return train_test_split_stratified(X, y, fraction, seed)
    except DataError as e:
        raise e.renamed(key) from None


def load_splits(cfg: Config) -> Splits:
    """Load ``cfg.data`` and split it: test (unless the .npz has its own), then validation
    from the rest; both splits are stratified and seeded with ``cfg.seed``."""
    d = cfg.data
    try:
        ds = load_dataset(d.source, target=d.target, n_samples=d.n_samples,
                          n_features=d.n_features, n_classes=d.n_classes,
                          n_informative=d.n_informative, seed=cfg.seed)
    except DataError as e:
        raise e.within("data") from None
    if ds.X_test is not None:
        X_rest, y_rest, X_test, y_test = ds.X, ds.y, ds.X_test, ds.y_test
    else:
        X_rest, X_test, y_rest, y_test = _split(ds.X, ds.y, d.test_fraction, cfg.seed,
                                                "data.test_fraction")
    X_train, X_val, y_train, y_val = _split(X_rest, y_rest, d.validation_fraction, cfg.seed,
                                            "data.validation_fraction")
    return Splits(X_train, y_train, X_val, y_val, X_test, y_test, tuple(ds.feature_names),
                  d.source, ds.X_test is not None)


def _classes(splits: Splits) -> np.ndarray:
    """The sorted training labels; every validation and test label must be among them."""
    classes = np.unique(splits.y_train)
    if len(classes) < 2:
        raise DataError(
            f"data: the training part of {splits.source} has only one class "
            f"({classes[0]!r}); a classifier needs at least two (check data.target, or lower "
            "data.test_fraction and data.validation_fraction)")
    known = set(classes.tolist())
    for name, y in (("validation", splits.y_val), ("test", splits.y_test)):
        unseen = [v for v in dict.fromkeys(y.tolist()) if v not in known]
        if unseen:
            raise DataError(
                f"data: label {unseen[0]!r} is in the {name} part of {splits.source} but not in "
                "its training part; give that class more examples or lower the split fractions")
    return classes


def build_model(cfg: Config, splits: Splits) -> TrainedModel:
    """The untrained model of a config: labels, standardisation fitted on the training part
    only, and a Network initialised with ``cfg.seed``."""
    classes = _classes(splits)
    standardizer = Standardizer().fit(splits.X_train) if cfg.data.standardize else None
    m = cfg.model
    network = Network(splits.X_train.shape[1], m.hidden_units, len(classes), transfer=m.transfer,
                      init=m.init, init_scale=m.init_scale, seed=cfg.seed)
    return TrainedModel(network, classes, splits.feature_names, standardizer,
                        config=config_to_dict(cfg))


# ----------------------------------------------------------------------------- run directories


def _is_run_dir(path: Path) -> bool:
    return any((path / name).exists() for name in RUN_FILES)


def choose_run_dir(out: str, *, explicit: bool, force: bool) -> tuple[Path, str | None]:
    """Where a new run goes, and a note to show the user (or None).

    A free (missing or empty) directory is used as is. An existing run is replaced only with
    ``force``; otherwise ``output.dir`` from the config moves on to the next free name
    (runs/x-2, runs/x-3, ...), while an explicit ``--out`` is an error.
    """
    path = Path(out).expanduser()
    if not path.exists() or (path.is_dir() and not any(path.iterdir())):
        return path, None
    if not path.is_dir():
        raise RunError(f"output directory '{out}' is a file; choose another --out")
    if force:
        if not _is_run_dir(path):
            raise RunError(
                f"--force replaces only nnclf run directories, and '{out}' holds no "
                f"{', '.join(RUN_FILES)}; choose another --out")
        return path, f"replacing the run in {out} once this one is complete (--force)"
    if explicit:
        what = "an earlier run" if _is_run_dir(path) else "other files"
        raise RunError(f"--out {out}: the directory exists and holds {what}; choose "
                         "another --out, or add --force to replace an earlier run")
    k = 2
    while path.with_name(f"{path.name}-{k}").exists():
        k += 1
    free = path.with_name(f"{path.name}-{k}")
    return free, f"{out} already exists; writing this run to {free} (--force would replace it)"


class _Staging:
    """A hidden directory next to ``final`` that becomes ``final`` on :meth:`publish` and
    disappears (with any parent directories it created) if anything fails first."""

    def __init__(self, final: Path, replace_existing: bool):
        self.final = final
        self.replace_existing = replace_existing
        parent = final.parent
        self.created = []
        while not parent.exists():
            self.created.append(parent)
            parent = parent.parent
        self.path = final.with_name(f".{final.name}.partial-{uuid.uuid4().hex[:8]}")
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            self.path.mkdir()
        except OSError as e:
            self.discard()
            blocker = parent if parent.exists() and not parent.is_dir() else None
            why = f"'{blocker}' is a file" if blocker else (e.strerror or str(e))
            raise RunError(f"cannot create the run directory {final} ({why}); "
                             "choose another --out or output.dir") from None

    def publish(self) -> None:
        final, trash = self.final, None
        if final.exists():
            if final.is_dir() and not any(final.iterdir()):
                final.rmdir()
            elif self.replace_existing:
                trash = final.with_name(f".{final.name}.replaced-{uuid.uuid4().hex[:8]}")
                os.rename(final, trash)
            else:
                raise RunError(f"{final} appeared while training; this run is kept in "
                                 f"{self.path}")
        os.rename(self.path, final)
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        for parent in self.created:
            try:
                parent.rmdir()
            except OSError:
                break


# ----------------------------------------------------------------------------- training


@dataclass
class RunOutcome:
    """How ``nnclf train`` ended."""

    run_dir: Path
    status: str  # "finished" or "interrupted"
    steps: int
    total_steps: int
    stopped: str
    seconds: float
    metrics: dict | None = None

    @property
    def resume_command(self) -> str:
        return f"nnclf train --resume {shlex.quote(str(self.run_dir))}"


def _trainer(cfg: Config, model: TrainedModel, quiet: bool) -> Trainer:
    return Trainer(model.network, cfg.train, seed=cfg.seed, progress="none" if quiet else "auto")


def _arrays(model: TrainedModel, splits: Splits):
    X_val = model.prepare(splits.X_val) if len(splits.X_val) else None
    y_val = model.encode(splits.y_val) if len(splits.X_val) else None
    return model.prepare(splits.X_train), model.encode(splits.y_train), X_val, y_val


def _fit(cfg, model, splits, trainer, run_dir: Path, stop_after, seconds_before: float,
         staging: _Staging | None = None) -> RunOutcome:
    """Train to the end (or until Ctrl-C / ``stop_after`` steps), then write the run files
    (into ``staging`` for a new run, which then takes ``run_dir``'s place)."""
    X, y, X_val, y_val = _arrays(model, splits)
    T = cfg.train.total_steps(len(X))
    start = time.perf_counter()
    result = trainer.fit(X, y, X_val, y_val, max_steps=stop_after)
    seconds = seconds_before + time.perf_counter() - start
    finished = result.stopped != "interrupted" and (result.stopped != "completed" or trainer.t >= T)
    status = "finished" if finished else "interrupted"
    extra = {"status": status, "stopped": result.stopped, "seconds": seconds}
    outcome = RunOutcome(run_dir, status, trainer.t, T, result.stopped, seconds)
    target = staging.path if staging is not None else run_dir
    if finished:
        outcome.metrics = _metrics(model, splits, trainer, result, seconds)
        model.save(target / MODEL)
        atomic_write_text(target / HISTORY, _history_csv(trainer.history))
        atomic_write_text(target / METRICS, json.dumps(outcome.metrics, indent=2) + "\n")
    save_checkpoint(target / CHECKPOINT, trainer, extra=extra)
    if staging is not None:
        staging.publish()
    return outcome


def train(cfg: Config, run_dir: Path, *, replace_existing: bool = False, quiet: bool = False,
          stop_after: int | None = None) -> RunOutcome:
    """Train a new run of ``cfg`` into ``run_dir`` (see :func:`choose_run_dir`).

    The data are loaded and the model built before anything is written, so bad input leaves
    no trace. ``stop_after`` stops after that many steps as Ctrl-C would (for tests).
    """
    cfg = replace(cfg, output=OutputConfig(str(run_dir)))
    splits = load_splits(cfg)
    model = build_model(cfg, splits)
    trainer = _trainer(cfg, model, quiet)
    staging = _Staging(run_dir, replace_existing)
    try:
        atomic_write_text(staging.path / CONFIG,
                          dump_config(cfg, "The resolved config of this run (written by nnclf)."))
        return _fit(cfg, model, splits, trainer, run_dir, stop_after, 0.0, staging=staging)
    except BaseException:
        staging.discard()
        raise


def resume(run_dir, *, quiet: bool = False, stop_after: int | None = None) -> RunOutcome:
    """Continue an interrupted run from its checkpoint and its own config.yaml.

    The parameters at the end are bit-identical to those of an uninterrupted run.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"--resume {run_dir}: no such run directory")
    if not (run_dir / CONFIG).is_file() or not (run_dir / CHECKPOINT).is_file():
        missing = CONFIG if not (run_dir / CONFIG).is_file() else CHECKPOINT
        raise RunError(f"--resume {run_dir}: not a resumable run (no {missing}); "
                         "start a new one with nnclf train CONFIG")
    arrays, state = load_checkpoint(run_dir / CHECKPOINT)
    extra = state.get("extra", {})
    if extra.get("status") == "finished":
        raise RunError(f"--resume {run_dir}: this run already finished at step {state['t']} "
                         f"({extra.get('stopped')}); start a new one with nnclf train CONFIG")
    cfg = load_config(run_dir / CONFIG)
    splits = load_splits(cfg)
    model = build_model(cfg, splits)
    trainer = _trainer(cfg, model, quiet)
    try:
        trainer.load_state_dict(arrays, state)
    except (KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"--resume {run_dir}: {CHECKPOINT} does not fit {CONFIG} ({e}); "
                         "the run cannot be continued") from None
    return _fit(cfg, model, splits, trainer, run_dir, stop_after, float(extra.get("seconds", 0.0)))


def _history_csv(history: list[dict]) -> str:
    out = io.StringIO()
    columns = list(history[0]) if history else ["step", "epoch", "eta", "train_loss",
                                                  "val_loss", "val_accuracy"]
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in history:
        writer.writerow([repr(row[c]) if isinstance(row[c], float) else row[c] for c in columns])
    return out.getvalue()


def _read_history(path: Path) -> dict[str, np.ndarray]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}


def _metrics(model, splits, trainer, result, seconds) -> dict:
    parts = {"train": (splits.X_train, splits.y_train),
             "validation": (splits.X_val, splits.y_val),
             "test": (splits.X_test, splits.y_test)}
    out = {
        "steps": trainer.t,
        "stopped": result.stopped,
        "best_step": result.best_step,
        "seconds": round(seconds, 3),
        "classes": model.classes.tolist(),
    }
    for name, (X, y) in parts.items():
        out[name] = evaluate(model, X, y) if len(X) else None
    return out


# ----------------------------------------------------------------------------- evaluate


def open_model(target) -> tuple[TrainedModel, Path, Path | None]:
    """(model, model file, run directory or None) for a run directory or a model file."""
    path = Path(target)
    run_dir = None
    if path.is_dir():
        run_dir, path = path, path / MODEL
        if not path.exists():
            if (run_dir / CHECKPOINT).exists():
                raise RunError(f"{run_dir}: the run has not finished (no {MODEL}); resume it "
                                 f"with: nnclf train --resume {shlex.quote(str(run_dir))}")
            raise RunError(f"{run_dir}: not an nnclf run directory (no {MODEL}); give a run "
                             "directory written by nnclf train, or a model file")
    return TrainedModel.load(path), path, run_dir


def _data_key(e: DataError) -> DataError:
    return e.renamed("--data")


def _csv_header(source: str) -> list[str] | None:
    try:
        with open(Path(source).expanduser(), newline="", encoding="utf-8-sig") as f:
            for row in csv.reader(f):
                if any(c.strip() for c in row):
                    return [c.strip() for c in row]
    except OSError:
        return None
    return None


def _label_column(model: TrainedModel, source: str, target: str | None) -> str | None:
    """The label column of a CSV: ``target``, the training config's data.target, or the one
    column that is not a training feature."""
    if target is not None or not source.lower().endswith(".csv"):
        return target
    configured = (model.config or {}).get("data", {}).get("target")
    if configured is not None:
        return configured
    header = _csv_header(source)
    if header is None or model.feature_names is None:
        return None
    others = [c for c in header if c not in model.feature_names]
    return others[0] if len(others) == 1 and len(header) == len(model.feature_names) + 1 else None


def _training_config(model: TrainedModel) -> Config:
    """The ``nnclf train`` config a model file records, or an error asking for --data."""
    try:
        if not isinstance(model.config, dict) or "data" not in model.config:
            raise ConfigError("no data section")
        return config_from_dict(model.config)
    except ValueError:
        raise DataError("this model file records no nnclf train config (it may come from "
                         "NNClassifier.save), so it has no test split; give the data to "
                         "evaluate on with --data SOURCE") from None


def evaluation_data(model: TrainedModel, run_dir: Path | None, data: str | None,
                    target: str | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """(X, y, description): ``data`` if given, else the run's own test split."""
    if data is None:
        if run_dir is not None:
            cfg = load_config(run_dir / CONFIG)
        else:
            cfg = _training_config(model)
        splits = load_splits(cfg)
        if not len(splits.X_test):
            raise DataError("the run has no test split (data.test_fraction is 0); give the "
                             "data to evaluate on with --data SOURCE")
        what = "its own test set" if splits.test_from_source else "the run's test split"
        return splits.X_test, splits.y_test, f"{what}: {len(splits.X_test)} examples of {_show(cfg.data.source)}"
    label = _label_column(model, data, target)
    try:
        X, y, _ = load_features(data, feature_names=model.feature_names, target=label)
    except DataError as e:
        raise _data_key(e) from None
    if y is None:
        raise DataError(f"--data: {data} has no labels to evaluate against"
                         + (f" (no column '{label}')" if label else "")
                         + "; give a labelled CSV (or --target COLUMN), or use nnclf predict")
    try:
        model.encode(y)
    except ValueError as e:
        raise DataError(f"--data: {data}: {e}") from None
    return X, y, f"{len(X)} examples of {data}"


def evaluate(model: TrainedModel, X, y) -> dict:
    """Accuracy, mean log-loss, macro F1, per-class precision/recall/F1 and the confusion
    matrix (rows: true class, columns: predicted) of ``model`` on raw features X and labels y."""
    from sklearn.metrics import (accuracy_score, confusion_matrix, f1_score, log_loss,
                                 precision_recall_fscore_support)

    labels = list(range(len(model.classes)))
    y_true = model.encode(y)
    proba = model.predict_proba(X)
    y_pred = np.argmax(proba, axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "log_loss": float(log_loss(y_true, proba, labels=labels)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro",
                                   zero_division=0)),
        "per_class": [
            {"label": c, "precision": float(p), "recall": float(r), "f1": float(f),
             "support": int(s)}
            for c, p, r, f, s in zip(model.classes.tolist(), precision, recall, f1, support)
        ],
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "n_samples": int(len(y_true)),
    }


def _table(rows: list[list[str]], right: set[int] = frozenset()) -> str:
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.rjust(w) if c in right else cell.ljust(w)
                  for c, (cell, w) in enumerate(zip(row, widths))).rstrip()
        for row in rows)


def format_report(report: dict, heading: list[tuple[str, str]] = ()) -> str:
    """The text ``nnclf evaluate`` prints for a report from :func:`evaluate`."""
    lines = [f"{k:<10} {v}" for k, v in heading]
    lines += [f"{'accuracy':<10} {report['accuracy']:.4f}",
              f"{'log-loss':<10} {report['log_loss']:.4f}",
              f"{'macro F1':<10} {report['macro_f1']:.4f}", ""]
    rows = [["class", "precision", "recall", "f1", "support"]]
    rows += [[str(c["label"]), f"{c['precision']:.3f}", f"{c['recall']:.3f}", f"{c['f1']:.3f}",
              str(c["support"])] for c in report["per_class"]]
    lines += [_table(rows, right={1, 2, 3, 4}), "",
              "confusion matrix (rows: true class, columns: predicted class)"]
    names = [str(c["label"]) for c in report["per_class"]]
    rows = [[""] + names] + [[n] + [str(v) for v in r]
                             for n, r in zip(names, report["confusion_matrix"])]
    lines.append(_table(rows, right=set(range(1, len(names) + 1))))
    return "\n".join(lines)


# ----------------------------------------------------------------------------- predict


def predict(model: TrainedModel, data: str) -> str:
    """CSV text: a ``label`` column and ``p_<class>`` per class, one row per input row."""
    label = _label_column(model, data, None)
    try:
        X, _, _ = load_features(data, feature_names=model.feature_names, target=label)
    except DataError as e:
        raise _data_key(e) from None
    proba = model.predict_proba(X)
    labels = model.classes[np.argmax(proba, axis=1)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["label"] + [f"p_{c}" for c in model.classes.tolist()])
    for lab, p in zip(labels.tolist(), proba):
        writer.writerow([lab] + [f"{v:.6g}" for v in p])
    return out.getvalue()


# ----------------------------------------------------------------------------- gradcheck, graph


def _examples(cfg: Config, n: int):
    splits = load_splits(cfg)
    model = build_model(cfg, splits)
    X = model.prepare(splits.X_train[:n])
    y = model.encode(splits.y_train[:n])
    return model, X, y


def gradcheck(cfg: Config, n_examples: int = 3) -> tuple[str, bool]:
    """Backprop (VJP mode), the Jacobian mode and the path sum, each against central finite
    differences, on the first ``n_examples`` training examples at the initial parameters.

    Returns the report text and whether everything agreed.
    """
    from .gradcheck import gradcheck_modes

    model, X, y = _examples(cfg, n_examples)
    net = model.network
    worst: dict[tuple[str, str], list] = {}
    for x_i, y_i in zip(X, y):
        values = net.leaf_values(x_i, y_i)
        for mode, report in gradcheck_modes(net.graph, values, wrt=PARAMS).items():
            for c in report.checks:
                w = worst.setdefault((mode, c.name), [0.0, 0.0, True, c.size])
                w[0], w[1] = max(w[0], c.max_abs_error), max(w[1], c.max_rel_error)
                w[2] = w[2] and c.ok
    ok = all(w[2] for w in worst.values())
    rows = [["mode", "param", "entries", "max abs err", "max rel err", "ok"]]
    rows += [[mode, name, str(w[3]), f"{w[0]:.3e}", f"{w[1]:.3e}", "yes" if w[2] else "NO"]
             for (mode, name), w in worst.items()]
    head = (f"gradcheck: {len(X)} training examples of {_show(cfg.data.source)}, network "
            f"d={net.n_features} m={net.n_hidden} K={net.n_classes} ({net.transfer}), "
            "each mode against central finite differences")
    verdict = ("all agree" if ok else
               "DISAGREEMENT: backpropagation and finite differences differ (see 'NO' rows)")
    return "\n".join([head, _table(rows, right={2, 3, 4}), verdict]), ok


def graph_dot(cfg: Config) -> str:
    """The network's computational graph as DOT, every vertex with its dimension."""
    model, X, y = _examples(cfg, 1)
    net = model.network
    values = net.graph.forward(net.leaf_values(X[0], y[0]))
    return net.graph.to_dot(values)


# ----------------------------------------------------------------------------- plot


def plot(run_dir) -> list[Path]:
    """learning_curves.png and confusion_matrix.png in ``run_dir``; returns the files."""
    run_dir = Path(run_dir)
    for name in (HISTORY, METRICS):
        if not (run_dir / name).is_file():
            hint = (f"resume it with: nnclf train --resume {shlex.quote(str(run_dir))}"
                    if (run_dir / CHECKPOINT).is_file() else "give a run directory of nnclf train")
            raise RunError(f"{run_dir}: no {name} to plot; {hint}")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError('plotting needs matplotlib; install it with: pip install "nnclf[plot]"') from None
    history = _read_history(run_dir / HISTORY)
    metrics = json.loads((run_dir / METRICS).read_text())
    written = []

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    if history:
        step = history["step"]
        axes[0].plot(step, history["train_loss"], label="training loss (mean since last eval)")
        if np.isfinite(history["val_loss"]).any():
            axes[0].plot(step, history["val_loss"], label="validation loss")
            axes[1].plot(step, history["val_accuracy"], color="C2")
        axes[2].plot(step, history["eta"], color="C3")
    axes[0].set(xlabel="step t", ylabel="-log p(y|x)", title="loss")
    axes[0].legend()
    axes[1].set(xlabel="step t", ylabel="accuracy", title="validation accuracy")
    axes[2].set(xlabel="step t", ylabel="eta^t", title="step size")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    written.append(_save_figure(fig, run_dir / "learning_curves.png"))
    plt.close(fig)

    part = next((p for p in ("test", "validation", "train") if metrics.get(p)), None)
    if part is not None:
        cm = np.array(metrics[part]["confusion_matrix"])
        names = [str(c) for c in metrics["classes"]]
        size = max(4.0, 0.5 * len(names) + 2)
        fig, ax = plt.subplots(figsize=(size, size))
        ax.imshow(cm, cmap="Blues")
        for (i, j), v in np.ndenumerate(cm):
            ax.text(j, i, str(v), ha="center", va="center",
                    color="white" if v > cm.max() / 2 else "black", fontsize=8)
        ax.set_xticks(range(len(names)), names, rotation=45 if len(names) > 10 else 0)
        ax.set_yticks(range(len(names)), names)
        ax.set(xlabel="predicted class", ylabel="true class",
               title=f"confusion matrix ({part}, accuracy {metrics[part]['accuracy']:.4f})")
        fig.tight_layout()
        written.append(_save_figure(fig, run_dir / "confusion_matrix.png"))
        plt.close(fig)
    return written


def _save_figure(fig, path: Path) -> Path:
    from .archive import atomic_write

    return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110))
