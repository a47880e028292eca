"""A run of ``nnclf train``: a config's data splits, its model, and training into a run directory.

Contract
--------
A *run directory* is written by :func:`train` and holds

    config.yaml      the resolved config (every default filled in)
    checkpoint.npz   the trainer's full state (nnclf.training.trainer.save_checkpoint), with the run's
                     status and the fingerprint of its data
    model.npz        the model file (nnclf.export.trained.TrainedModel), only once training finished
    history.csv      one row per evaluation
    metrics.json     train, validation and test metrics (nnclf.runs.metrics.evaluate of each),
                     and the fingerprint of the data the run was trained on
    tracking.json    the run's MLflow run, when ``track.mlflow`` logs it (nnclf.tracking)
    tensorboard/     its TensorBoard events, when ``track.tensorboard`` is true

A new run is claimed, staged and published as :mod:`nnclf.runs.rundir` says: one process per run
directory, built aside and renamed into place, an earlier run replaced (``--force``) only by
a finished one, never a file deleted that nnclf did not write. Everything that can be checked
is checked before the first step: the data and the model, that the run directory can be
created and written (config.yaml is written first), that a resumed run is writable and its
data unchanged. An interrupted run holds config.yaml and checkpoint.npz but no model.npz;
:func:`resume` finishes it. When a file cannot be written at the end (a full disk), the
trained state is saved where it still can be and the error names that place and the command
that finishes the run. Ctrl-C (and SIGTERM, which :mod:`nnclf.cli` turns into Ctrl-C) during
the final writes waits for them.

``train.class_weight`` weighs the training part's examples (:mod:`nnclf.training.weights`, after the
splits; a resumed run computes the weights again); evaluation counts every example once.

The data splits are recomputed from the saved config, since they are seeded:
:func:`load_splits` and :func:`build_model` give every command the same examples and the same
untrained model as training had, and the data's fingerprint says when the data file changed.

Every user error is a one-line :class:`~nnclf.errors.NnclfError`;
:class:`~nnclf.errors.DivergenceError` means that training diverged.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from nnclf.base.archive import to_json
from nnclf.base.outputs import RUN_HEADER, atomic_write_text
from nnclf.config.load import Config, OutputConfig, config_to_dict, dump_config, load_config
from nnclf.data.fingerprints import data_changed, fingerprint
from nnclf.data.npyfolder import Rows, prepare
from nnclf.data.preparation import prepared
from nnclf.data.preprocessing import SPLIT_METHOD, SPLIT_METHODS, split_rows, take_rows
from nnclf.data.sources import label_text, load_dataset
from nnclf.errors import CheckpointError, ConfigError, DataError, DivergenceError, RunError
from nnclf.export.trained import TrainedModel
from nnclf.runs import rundir
from nnclf.runs.metrics import evaluate, no_better_than_chance
from nnclf.runs.runfiles import (
    CHECKPOINT,
    CONFIG,
    HISTORY,
    METRICS,
    MODEL,
    Place,
    check_writable,
    history_csv,
    open_model,
    resume_command,
    save_run,
)
from nnclf.tracking.tracker import Parent, RunTracker
from nnclf.training.engine import one_blas_thread
from nnclf.training.trainer import Trainer, load_checkpoint, save_checkpoint
from nnclf.training.weights import example_weights

__all__ = [
    "CONFIG",
    "MODEL",
    "CHECKPOINT",
    "HISTORY",
    "METRICS",
    "Splits",
    "RunOutcome",
    "load_splits",
    "split_method",
    "build_model",
    "choose_run_dir",
    "train",
    "resume",
    "open_model",
    "resume_command",
    "config_text",
]

RUN_FILES = rundir.RUN_FILES


# ----------------------------------------------------------------------------- data and model


@dataclass(frozen=True, eq=False)
class Splits:
    """The raw examples of one config, split as training splits them.

    Features are unstandardised (arrays, or for a folder source :class:`~nnclf.data.npyfolder.Rows`
    of its memory map: index arrays, not copies) and labels are as the source has them; the
    validation and test parts may be empty (n = 0). ``fingerprint``: :func:`~nnclf.data.fingerprints.fingerprint`.
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
    fingerprint: dict | None = None


def _split(y, fraction, seed, key, method):
    """split_rows, its error named after the config key at fault."""
    try:
        return split_rows(y, fraction, seed, method)
    except DataError as e:
        raise e.renamed(key) from None


def split_method(recorded) -> str:
    """How a run split its data, from the fingerprint it recorded (metrics.json, the model
    file, the checkpoint): runs of nnclf 0.1 and 0.2 record no method and were split by
    scikit-learn's ``train_test_split``."""
    method = recorded.get("split") if isinstance(recorded, dict) else None
    return method if method in SPLIT_METHODS else "sklearn"


def load_splits(cfg: Config, split: str = SPLIT_METHOD) -> Splits:
    """Load ``cfg.data`` and split it as training does.

    The test part is split off first (unless the source (.npz, folder) has its own), then the
    validation part from the rest; both splits are stratified and seeded with ``cfg.seed``,
    so every command that calls this sees the same examples. ``split``: the method
    (:func:`~nnclf.data.preprocessing.train_test_split_stratified`); a run made before
    ``nnclf`` was the method is re-split as it was (:func:`split_method`). The fingerprint
    records the method. A fraction that leaves no training example is a
    :class:`~nnclf.errors.DataError` naming its config key.
    """
    d = cfg.data
    try:
        ds = load_dataset(
            d.source,
            target=d.target,
            n_samples=d.n_samples,
            n_features=d.n_features,
            n_classes=d.n_classes,
            n_informative=d.n_informative,
            seed=cfg.seed,
            encoding=d.encoding,
            delimiter=d.delimiter,
            features=d.features,
            drop=d.drop,
            categorical=d.categorical,
            missing=d.missing,
        )
    except DataError as e:
        raise e.within("data") from None
    with ThreadPoolExecutor(1) as pool:  # (hashlib lets go of the GIL: the split runs beside it)
        digest = pool.submit(fingerprint, ds)
        parts = _parts(ds, cfg, split)
    return Splits(
        *parts,
        tuple(ds.feature_names),
        d.source,
        ds.X_test is not None,
        {**digest.result(), "split": split},
    )


def _parts(ds, cfg: Config, split: str) -> tuple:
    """X_train, y_train, X_val, y_val, X_test, y_test of :func:`load_splits`."""
    d = cfg.data
    if ds.X_test is not None:
        rest, X_test, y_test = np.arange(len(ds.y)), ds.X_test, ds.y_test
    else:
        rest, test = _split(ds.y, d.test_fraction, cfg.seed, "data.test_fraction", split)
        X_test, y_test = take_rows(ds.X, test), take_rows(ds.y, test)
    # The validation part is split from the rest; each part is taken from the data once.
    train, val = _split(
        ds.y[rest], d.validation_fraction, cfg.seed, "data.validation_fraction", split
    )
    train, val = rest[train], rest[val]
    X_train, y_train = take_rows(ds.X, train), take_rows(ds.y, train)
    X_val, y_val = take_rows(ds.X, val), take_rows(ds.y, val)
    return X_train, y_train, X_val, y_val, X_test, y_test


def _classes(splits: Splits) -> np.ndarray:
    """The sorted training labels; every validation and test label must be among them."""
    classes = np.unique(splits.y_train)
    if len(classes) < 2:
        raise DataError(
            f"data: the training part of {splits.source} has only one class "
            f"({label_text(classes[0])}); a classifier needs at least two (check data.target, "
            "or lower data.test_fraction and data.validation_fraction)"
        )
    known = set(classes.tolist())
    for name, y in (("validation", splits.y_val), ("test", splits.y_test)):
        unseen = [v for v in dict.fromkeys(y.tolist()) if v not in known]
        if unseen:
            raise DataError(
                f"data: label {label_text(unseen[0])} is in the {name} part of {splits.source} "
                "but not in its training part; give that class more examples or lower the "
                "split fractions"
            )
    return classes


def build_model(cfg: Config, splits: Splits) -> TrainedModel:
    """The untrained model of a config.

    Its classes are the sorted training labels (K >= 2; a validation or test label outside
    them is a :class:`~nnclf.errors.DataError`), its preparation (imputation and one-hot
    coding, :func:`nnclf.data.preparation.prepared`) and standardisation (of numeric
    inputs, when ``cfg.data.standardize``) are fitted on the training part only, and its Network (d
    features, ``cfg.model.hidden_units`` hidden units, K classes) is initialised with
    ``cfg.seed``. The resolved config is kept in the model's metadata.
    """
    preparation, standardizer = prepared(
        splits.X_train, splits.feature_names, cfg.data, error_prefix="data: "
    )
    model = TrainedModel.untrained(
        cfg.model,
        splits.X_train.shape[1] if preparation is None else preparation.width,
        _classes(splits),
        cfg.seed,
        feature_names=splits.feature_names,
        standardizer=standardizer,
        preparation=preparation,
        config=config_to_dict(cfg),
        data=splits.fingerprint,
    )
    try:  # found now, not when the trained model is saved
        to_json(model.metadata(), "metadata")
    except TypeError as e:
        raise DataError(
            f"data: the labels of {splits.source} cannot be stored in a model file "
            f"({e}); give labels as strings or integers"
        ) from None
    return model


# ----------------------------------------------------------------------------- run directories


def choose_run_dir(out: str, *, explicit: bool, force: bool) -> tuple[Path, str | None]:
    """Where a new run would go now, and a note to show the user (or None); writes nothing.

    A free (missing or empty) directory is used as is. An existing run is replaced only with
    ``force`` (and only if it holds nothing but nnclf's files); otherwise ``output.dir`` from
    the config moves on to the next free name (runs/x-2, runs/x-3, ...), while an explicit
    ``--out`` is an error. :func:`train` makes the same choice again under a lock
    (:func:`nnclf.runs.rundir.claim`), which is what counts when several nnclf run at once.
    """
    path, taken = rundir.check_target(out, explicit=explicit, force=force)
    if force and rundir.is_run_dir(path):
        return path, f"replacing the run in {out} once this one is complete (--force)"
    if not taken:
        return path, None
    k = 2
    while path.with_name(f"{path.name}-{k}").exists():
        k += 1
    free = path.with_name(f"{path.name}-{k}")
    return free, f"{out} already exists; writing this run to {free} (--force would replace it)"


# ----------------------------------------------------------------------------- outcomes


@dataclass
class RunOutcome:
    """How ``nnclf train`` ended.

    ``status`` is "finished" (``metrics`` holds what metrics.json holds) or "interrupted"
    (Ctrl-C or ``stop_after``; ``metrics`` is None and :attr:`resume_command` continues it);
    ``stopped`` is the trainer's reason ("completed", "early_stopping", "interrupted").
    ``note`` says why the run is not where it was meant to go (an earlier run that
    ``--force`` did not replace), ``warning`` that a finished run is no better than chance.
    """

    run_dir: Path
    status: str
    steps: int
    total_steps: int
    stopped: str
    seconds: float
    metrics: dict | None = None
    note: str | None = None
    warning: str | None = None

    @property
    def resume_command(self) -> str:
        return resume_command(self.run_dir)


@dataclass
class _Job:
    """One run being trained: its config, data, model and trainer."""

    cfg: Config
    splits: Splits
    model: TrainedModel
    trainer: Trainer
    sample_weight: np.ndarray | None = None
    tracker: RunTracker | None = None
    _inputs: dict = field(default_factory=dict)

    def inputs(self, part: str):
        """The network's inputs of a part (``train``, ``validation``, ``test``): prepared
        and standardised once, then kept for training and for the final metrics."""
        if part not in self._inputs:
            s = self.splits
            X = {"train": s.X_train, "validation": s.X_val, "test": s.X_test}[part]
            self._inputs[part] = prepare(self.model, X)
        return self._inputs[part]

    @classmethod
    def of(
        cls, cfg: Config, quiet: bool, splits: Splits | None = None, track=None, callbacks=()
    ) -> _Job:
        """The data (``splits``, else loaded), the untrained model and a trainer of ``cfg``
        (``callbacks`` as :class:`~nnclf.training.trainer.Trainer` takes them); with
        ``track`` (parent, notify), its tracker connected (a store that is down: now)."""
        splits = splits if splits is not None else load_splits(cfg)
        model = build_model(cfg, splits)
        trainer = Trainer(
            model.network,
            cfg.train,
            seed=cfg.seed,
            progress="none" if quiet else "auto",
            callbacks=callbacks,
        )
        job = cls(cfg, splits, model, trainer)
        job.total_steps  # noqa: B018 -- checks the run's length (a warmup past T) before anything is written
        try:  # the labels of a class_weight mapping are checked now, too
            job.sample_weight = example_weights(
                model.encode(splits.y_train), model.classes, cfg.train.class_weight
            )
        except ConfigError as e:
            raise e.within("train") from None
        if track is not None:
            job.tracker = RunTracker.connect(cfg.track, *track)
        return job

    @property
    def total_steps(self) -> int:
        try:
            T = self.cfg.train.total_steps(len(self.splits.X_train))
            self.cfg.train.check_average(T)
            return T
        except ConfigError as e:  # a warmup longer than the run's T, or averaging after it
            raise e.within("train") from None


# ----------------------------------------------------------------------------- training


def _fit(job: _Job, place: Place, stop_after, seconds_before: float) -> RunOutcome:
    """Train to the end (or until Ctrl-C / ``stop_after`` steps), then save the run."""
    X, y = job.inputs("train"), job.model.encode(job.splits.y_train)
    has_val = len(job.splits.X_val) > 0
    X_val = job.inputs("validation") if has_val else None
    y_val = job.model.encode(job.splits.y_val) if has_val else None
    with job.tracker.ending() if job.tracker is not None else nullcontext():
        start = time.perf_counter()
        result = job.trainer.fit(
            X, y, X_val, y_val, max_steps=stop_after, sample_weight=job.sample_weight
        )
        seconds = seconds_before + time.perf_counter() - start
        finished = result.stopped != "interrupted" and (
            result.stopped != "completed" or job.trainer.t >= job.total_steps
        )
        if job.tracker is not None:
            job.tracker.close_files()  # before the run directory is moved into place
        outcome = _save(job, place, finished, result.stopped, result.best_step, seconds)
    return _tracked(job, outcome)


def _track(job: _Job, place: Place, name: str) -> None:
    """Open the run's MLflow run and TensorBoard folder (``track``), fed at each evaluation."""
    if job.tracker is None:
        return
    data = job.splits.fingerprint or {}
    job.tracker.start(
        place.target,
        name,
        config_to_dict(job.cfg),
        {f"nnclf.data.{key}": value for key, value in data.items()},
        lambda: job.trainer.network.params,
        config_text(job.cfg),
    )
    job.trainer.callbacks += (job.tracker.evaluation,)


def _tracked(job: _Job, outcome: RunOutcome) -> RunOutcome:
    """End the tracked run: FINISHED with its metrics and files, or KILLED (interrupted)."""
    if job.tracker is not None:
        finished = outcome.status == "finished"
        job.tracker.end("FINISHED" if finished else "KILLED", outcome.run_dir, outcome.metrics)
    return outcome


def _save(job: _Job, place: Place, finished: bool, stopped: str, best_step, seconds: float):
    """Write the run's files (all of them, or config and checkpoint of an unfinished run)
    and put the run in its place (:func:`nnclf.runs.runfiles.save_run`)."""
    extra = {
        "status": "finished" if finished else "interrupted",
        "stopped": stopped,
        "best_step": best_step,
        "seconds": seconds,
        "data": job.splits.fingerprint,
    }
    metrics = _metrics(job, stopped, best_step, seconds) if finished else None

    def save_state(path, status=extra["status"]):
        save_checkpoint(path, job.trainer, extra=dict(extra, status=status))

    files = [
        (MODEL, job.model.save),
        (HISTORY, lambda p: atomic_write_text(p, history_csv(job.trainer.history))),
        (METRICS, lambda p: atomic_write_text(p, json.dumps(metrics, indent=2) + "\n")),
    ]
    files = (files if finished else []) + [(CHECKPOINT, save_state)]
    where = save_run(place, files, finished, save_state, config_text(job.cfg))
    status = "finished" if finished else "interrupted"
    outcome = RunOutcome(where, status, job.trainer.t, job.total_steps, stopped, seconds, metrics)
    if where != place.shown:
        outcome.note = _kept_aside(place, where, finished)
    if finished:
        outcome.warning = _chance_warning(job.cfg, metrics)
    return outcome


def _kept_aside(place: Place, where: Path, finished: bool) -> str:
    if not finished and place.claim.replace:
        return (
            f"the run in {place.shown} is untouched (--force replaces it only with a "
            f"finished run); this one is kept in {where}"
        )
    return (
        f"{place.shown} was taken while training (by files nnclf may not replace); this "
        f"run is in {where}"
    )


def config_text(cfg: Config) -> str:
    return dump_config(cfg, RUN_HEADER)


def train(
    cfg: Config,
    out=None,
    *,
    explicit: bool = True,
    force: bool = False,
    quiet: bool = False,
    stop_after: int | None = None,
    notify=None,
    record_as=None,
    parent: Parent | None = None,
    callbacks=(),
) -> RunOutcome:
    """Train a new run of ``cfg`` into the run directory ``out`` (default ``output.dir``).

    Parameters
    ----------
    explicit : bool
        ``out`` was asked for exactly (``--out``): if it is taken, that is an error.
        Otherwise the run moves on to the next free name (see :func:`choose_run_dir`).
    force : bool
        Replace an earlier run in ``out``, once the new one has finished.
    quiet : bool
        No progress output.
    stop_after : int, optional
        Stop after that many steps as Ctrl-C would (for tests).
    notify : callable, optional
        ``notify(text)`` for each note before training starts (where the run goes, leftovers).
    record_as : str or Path, optional
        The ``output.dir`` config.yaml and the model record (a sweep's trial on a worker).
    parent : nnclf.tracking.tracker.Parent, optional
        The sweep's MLflow run this run is a child of, and its TensorBoard folder.
    callbacks : sequence of callables
        The trainer's ``callback(history)``: a true return stops (and finishes) the run.

    Data, model and tracking stores are reached before anything is written (bad input leaves
    no trace); config.yaml goes into the claimed, staged run directory before the first step.

    Raises
    ------
    DivergenceError
        The loss became NaN or infinite; nothing is left behind.
    """
    out = str(cfg.output.dir if out is None else out)
    rundir.check_target(out, explicit=explicit, force=force)  # before the data are read
    job = _Job.of(cfg, quiet, track=(parent, notify), callbacks=callbacks)
    claim = rundir.claim(out, explicit=explicit, force=force)
    try:
        for note in claim.notes + preparation_notes(job.model):
            if notify is not None:
                notify(note)
        return _fit(job, _stage(job, cfg, claim, record_as), stop_after, 0.0)
    except DivergenceError as e:  # the parameters the trainer kept are not written
        claim.discard()
        raise e.keeping("nothing was written") from None
    except BaseException:
        claim.discard()
        raise
    finally:
        claim.release()


def preparation_notes(model: TrainedModel) -> list[str]:
    """What the model's preparation does to the data, one short line each (none when it
    takes the columns as they are)."""
    if model.preparation is None:
        return []
    return [f"data: {line}" for line in model.preparation.describe()]


def _stage(job: _Job, cfg: Config, claim, record_as) -> Place:
    """Record where the run lives (``output.dir``) in its config and model, stage the claimed
    run directory, write config.yaml into it and open the tracked run before the first step."""
    job.cfg = replace(cfg, output=OutputConfig(str(record_as or claim.path)))
    job.model.config = config_to_dict(job.cfg)
    staging = claim.stage()
    atomic_write_text(staging / CONFIG, config_text(job.cfg))
    place = Place(staging, claim.path, claim)
    _track(job, place, claim.path.name)
    return place


def resume(
    run_dir, *, quiet: bool = False, stop_after: int | None = None, notify=None
) -> RunOutcome:
    """Continue an interrupted run from its checkpoint and its own config.yaml.

    The parameters at the end are bit-identical to those of an uninterrupted run. A missing,
    finished or busy run (another nnclf holds it), a run directory that cannot be written, or
    data that changed since the run started is a :class:`~nnclf.errors.RunError`; a
    checkpoint that does not fit the run's config is a
    :class:`~nnclf.errors.CheckpointError`. A run whose training ended but whose files could
    not all be written (see :func:`train`) gets them written, without training. A tracked
    run goes on logging to the same MLflow run (``notify(text)``: what logging tells).
    """
    run_dir = Path(run_dir)
    what = f"--resume {run_dir}"
    if not run_dir.is_dir():
        raise RunError(f"{what}: no such run directory")
    if not (run_dir / CONFIG).is_file() or not (run_dir / CHECKPOINT).is_file():
        missing = CONFIG if not (run_dir / CONFIG).is_file() else CHECKPOINT
        raise RunError(
            f"{what}: not a resumable run (no {missing}); start a new one with nnclf train CONFIG"
        )
    lock = rundir.lock_run(run_dir, "train --resume", what)
    try:
        arrays, state = load_checkpoint(run_dir / CHECKPOINT)
        extra = _run_record(state)
        if extra["status"] == "finished":
            raise RunError(
                f"{what}: this run already finished at step {state.get('t')} "
                f"({extra['stopped']}); start a new one with nnclf train CONFIG"
            )
        cfg = load_config(run_dir / CONFIG)
        splits = load_splits(cfg, split_method(extra["data"]))
        changed = extra["data"] and data_changed(extra["data"], splits.fingerprint, cfg.data.source)
        if changed:
            raise RunError(
                f"{what}: {changed}; a run cannot go on with other data: start a "
                "new one with nnclf train CONFIG"
            )
        job = _Job.of(cfg, quiet, splits)
        _restore(job, arrays, state, what)
        check_writable(run_dir, what)
        job.tracker = RunTracker.connect(cfg.track, None, notify)  # a store that is down: now
        place = Place(run_dir, run_dir)
        _track(job, place, run_dir.name)
        if extra["status"] == "finishing":
            with job.tracker.ending() if job.tracker is not None else nullcontext():
                outcome = _save(
                    job, place, True, extra["stopped"], extra["best_step"], extra["seconds"]
                )
            return _tracked(job, outcome)
        return _fit(job, place, stop_after, extra["seconds"])
    finally:
        lock.release()


def _run_record(state: dict) -> dict:
    """What :func:`_save` recorded in a checkpoint (status, stopped, best_step, seconds,
    data), each of its type or its default: a checkpoint is a file a user can edit."""
    extra = state.get("extra")
    extra = extra if isinstance(extra, dict) else {}
    seconds, best = extra.get("seconds"), extra.get("best_step")
    return {
        "status": extra.get("status"),
        "stopped": (
            extra.get("stopped")
            if extra.get("stopped") in ("completed", "early_stopping", "callback")
            else "completed"
        ),
        "best_step": best if isinstance(best, int) and not isinstance(best, bool) else None,
        "seconds": float(seconds) if isinstance(seconds, (int, float)) else 0.0,
        "data": extra.get("data") if isinstance(extra.get("data"), dict) else None,
    }


def _restore(job: _Job, arrays, state, what: str) -> None:
    try:
        job.trainer.load_state_dict(arrays, state)
    except (KeyError, ValueError, TypeError) as e:
        # The checkpoint is the user's file: whatever in it does not fit this run (a missing
        # entry, a shape or type the network rejects) means this run cannot be continued.
        raise CheckpointError(
            f"{what}: {CHECKPOINT} does not fit {CONFIG} ({e}); the run cannot be continued"
        ) from None


# ----------------------------------------------------------------------------- run files


def _metrics(job: _Job, stopped: str, best_step, seconds: float) -> dict:
    """metrics.json: how training ended, the metrics of each split (None if empty) and the
    fingerprint of the data."""
    s = job.splits
    parts = {
        "train": (s.X_train, s.y_train),
        "validation": (s.X_val, s.y_val),
        "test": (s.X_test, s.y_test),
    }
    out = {
        "steps": job.trainer.t,
        "stopped": stopped,
        "best_step": best_step,
        "seconds": round(seconds, 3),
        "engine": None if job.trainer.engine is None else job.trainer.engine.name,
        "classes": job.model.classes.tolist(),
    }
    with one_blas_thread():  # (two BLAS threads on a busy 2-core machine: several times slower)
        for name, (X, y) in parts.items():
            out[name] = _scores(job, name, X, y)
    out["data"] = s.fingerprint
    return out


def _scores(job: _Job, name: str, X, y) -> dict | None:
    """The metrics of one part of the data (None when it is empty)."""
    if not len(X):
        return None
    if isinstance(X, Rows):  # (scored a chunk at a time, never prepared whole)
        return evaluate(job.model, X, y)
    return evaluate(job.model, job.inputs(name), y, prepared=True)  # the inputs training used


def _chance_warning(cfg: Config, metrics: dict) -> str | None:
    """One line when the run is no better than chance on its test (else validation, else
    training) part, with what to try."""
    part = next(p for p in ("test", "validation", "train") if metrics.get(p))
    why = no_better_than_chance(metrics[part])
    if why is None:
        return None
    eta0 = cfg.train.make_schedule().params.get("eta0")
    tries = [
        f"a smaller train.schedule.eta0 (now {eta0:g})"
        if eta0
        else "a smaller step size (train.schedule)"
    ]
    if not cfg.data.standardize:
        tries.append("data.standardize: true")
    tries.append("more train.epochs")
    return (
        f"this run learned little or nothing: its {part} {why}; try "
        f"{', '.join(tries[:-1])} or {tries[-1]}"
    )
