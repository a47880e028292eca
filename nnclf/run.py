"""A run of ``nnclf train``: a config's data splits, its model, and training into a run directory.

Contract
--------
A *run directory* is written by :func:`train` and holds

    config.yaml      the resolved config (every default filled in)
    checkpoint.npz   the trainer's full state (nnclf.sgd.save_checkpoint)
    model.npz        the model file (nnclf.trained.TrainedModel), only once training finished
    history.csv      one row per evaluation
    metrics.json     train, validation and test metrics (nnclf.metrics.evaluate of each)

A new run is built in a hidden staging directory next to its final place and renamed into
place when training ends or is interrupted, so a failed run leaves nothing behind and an
earlier run is never touched (``--force`` replaces it only after the new one is complete).
An interrupted run holds config.yaml and checkpoint.npz but no model.npz; :func:`resume`
finishes it. The data splits are recomputed from the saved config, since they are seeded:
:func:`load_splits` and :func:`build_model` give every command the same examples and the same
untrained model as training had.

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

from .archive import atomic_write_text
from .config import Config, OutputConfig, config_to_dict, dump_config, load_config
from .data import load_dataset
from .errors import CheckpointError, DataError, RunError
from .metrics import evaluate
from .preprocessing import Standardizer, train_test_split_stratified
from .sgd import Trainer, load_checkpoint, save_checkpoint
from .trained import TrainedModel

__all__ = [
    "CONFIG",
    "MODEL",
    "CHECKPOINT",
    "HISTORY",
    "METRICS",
    "Splits",
    "RunOutcome",
    "load_splits",
    "build_model",
    "choose_run_dir",
    "train",
    "resume",
    "open_model",
    "resume_command",
]

CONFIG, MODEL, CHECKPOINT, HISTORY, METRICS = (
    "config.yaml", "model.npz", "checkpoint.npz", "history.csv", "metrics.json")
RUN_FILES = (CONFIG, MODEL, CHECKPOINT)


# ----------------------------------------------------------------------------- data and model


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


def _split(X, y, fraction, seed, key):
    """train_test_split_stratified, its error named after the config key at fault."""
    try:
        return train_test_split_stratified(X, y, fraction, seed)
    except DataError as e:
        raise e.renamed(key) from None


def load_splits(cfg: Config) -> Splits:
    """Load ``cfg.data`` and split it as training does.

    The test part is split off first (unless an .npz brings its own X_test, y_test), then the
    validation part from the rest; both splits are stratified and seeded with ``cfg.seed``,
    so every command that calls this sees the same examples. A fraction that leaves no
    training example is a :class:`~nnclf.errors.DataError` naming its config key.
    """
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
    """The untrained model of a config.

    Its classes are the sorted training labels (K >= 2; a validation or test label outside
    them is a :class:`~nnclf.errors.DataError`), its standardisation (when
    ``cfg.data.standardize``) is fitted on the training part only, and its Network (d
    features, ``cfg.model.hidden_units`` hidden units, K classes) is initialised with
    ``cfg.seed``. The resolved config is kept in the model's metadata.
    """
    standardizer = Standardizer().fit(splits.X_train) if cfg.data.standardize else None
    return TrainedModel.untrained(cfg.model, splits.X_train.shape[1], _classes(splits), cfg.seed,
                                  feature_names=splits.feature_names, standardizer=standardizer,
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


def resume_command(run_dir) -> str:
    """The shell command that continues the run in ``run_dir``."""
    return f"nnclf train --resume {shlex.quote(str(run_dir))}"


@dataclass
class RunOutcome:
    """How ``nnclf train`` ended.

    ``status`` is "finished" (``metrics`` holds what metrics.json holds) or "interrupted"
    (Ctrl-C or ``stop_after``; ``metrics`` is None and :attr:`resume_command` continues it);
    ``stopped`` is the trainer's reason ("completed", "early_stopping", "interrupted").
    """

    run_dir: Path
    status: str
    steps: int
    total_steps: int
    stopped: str
    seconds: float
    metrics: dict | None = None

    @property
    def resume_command(self) -> str:
        return resume_command(self.run_dir)


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
    no trace; the run is built in a staging directory that takes ``run_dir``'s place at the
    end (replacing an earlier run there only with ``replace_existing``) or disappears if
    anything fails. ``stop_after`` stops after that many steps as Ctrl-C would (for tests).

    Raises
    ------
    DivergenceError
        The loss became NaN or infinite; nothing is left behind.
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

    The parameters at the end are bit-identical to those of an uninterrupted run. A missing
    or finished run is a :class:`~nnclf.errors.RunError`; a checkpoint that does not fit the
    run's config is a :class:`~nnclf.errors.CheckpointError`.
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
        # The checkpoint is the user's file: whatever in it does not fit this run (a missing
        # entry, a shape or type the network rejects) means this run cannot be continued.
        raise CheckpointError(f"--resume {run_dir}: {CHECKPOINT} does not fit {CONFIG} ({e}); "
                              "the run cannot be continued") from None
    return _fit(cfg, model, splits, trainer, run_dir, stop_after, float(extra.get("seconds", 0.0)))


def _history_csv(history: list[dict]) -> str:
    """history.csv: one row per evaluation; floats as repr, so that they read back exactly."""
    out = io.StringIO()
    columns = list(history[0]) if history else ["step", "epoch", "eta", "train_loss",
                                                  "val_loss", "val_accuracy"]
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in history:
        writer.writerow([repr(row[c]) if isinstance(row[c], float) else row[c] for c in columns])
    return out.getvalue()


def _metrics(model, splits, trainer, result, seconds) -> dict:
    """metrics.json: how training ended, and the metrics of each split (None if empty)."""
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


def open_model(target) -> tuple[TrainedModel, Path, Path | None]:
    """The model of a run directory (its model.npz) or of a model file.

    Returns
    -------
    model : TrainedModel
    path : Path
        The model file read.
    run_dir : Path or None
        The run directory, when ``target`` is one.
    """
    path = Path(target)
    run_dir = None
    if path.is_dir():
        run_dir, path = path, path / MODEL
        if not path.exists():
            if (run_dir / CHECKPOINT).exists():
                raise RunError(f"{run_dir}: the run has not finished (no {MODEL}); resume it "
                               f"with: {resume_command(run_dir)}")
            raise RunError(f"{run_dir}: not an nnclf run directory (no {MODEL}); give a run "
                           "directory written by nnclf train, or a model file")
    return TrainedModel.load(path), path, run_dir
