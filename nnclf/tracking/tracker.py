"""The ``track`` section of a config at work: a run, or a sweep, logged as it goes.

Contract
--------
:meth:`RunTracker.connect` is called before anything is written: it returns None when the
config tracks nothing (nothing imported), and otherwise checks that the extras are
installed and the MLflow store answers (a :class:`~nnclf.errors.ConfigError` line if not).
:meth:`RunTracker.start` opens the MLflow run (named after the run directory; parameters:
the resolved config as dotted keys; tags: nnclf's version and the data's fingerprint) and
the TensorBoard folder (``track.tensorboard``: true is RUN_DIR/tensorboard, a directory DIR
is DIR/RUN_NAME, so that the runs logged there overlay in one view), and records the
MLflow run's id in the run directory's :data:`RECORD`, so that ``nnclf train --resume``
continues the same MLflow run. The trainer calls :meth:`RunTracker.evaluation` at every
evaluation (metrics under history.csv's names at step t). :meth:`RunTracker.end` logs the
final metrics of each part (``test_accuracy``, ``validation_log_loss``, ...) and the run's
files as artifacts, and ends the run FINISHED, FAILED (divergence, any error) or KILLED
(Ctrl-C, SIGTERM, a stopped run): :meth:`RunTracker.ending` ends it on an exception.

A store that stops answering during training does not stop training: the first failure
is told through ``notify`` and that backend logs no more.

:class:`SweepTracker` is a sweep's parent run: each trial is given a :class:`Parent` (the
parent run's id, its experiment and the trial's TensorBoard folder under one root, so the
trials overlay in one TensorBoard view).
"""

from __future__ import annotations

import importlib.util
import json
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from nnclf.base.outputs import atomic_write_text
from nnclf.base.version import __version__
from nnclf.config.settings import TrackConfig
from nnclf.errors import ConfigError
from nnclf.tracking import mlflowrun, tensorboard

__all__ = ["RECORD", "TENSORBOARD", "Parent", "RunTracker", "SweepTracker", "flatten"]

RECORD = "tracking.json"
"""The MLflow run of a run (or sweep) directory: ``{"mlflow_run_id": ...}``."""
TENSORBOARD = "tensorboard"
"""The TensorBoard folder inside a run directory (``track.tensorboard: true``)."""
ARTIFACTS = ("config.yaml", "metrics.json", "history.csv", "model.npz")
FINAL = ("accuracy", "balanced_accuracy", "log_loss", "macro_f1")


@dataclass(frozen=True)
class Parent:
    """What a sweep hands each trial: the parent MLflow run and its experiment, and the
    trial's TensorBoard folder (None: the trial's run directory's)."""

    mlflow_run: str | None = None
    experiment_id: str | None = None
    tensorboard: str | None = None
    mlflow_uri: str | None = None


def flatten(config: dict, prefix: str = "") -> dict[str, object]:
    """``{"train": {"schedule": {"eta0": 0.1}}}`` -> ``{"train.schedule.eta0": 0.1}``."""
    out: dict[str, object] = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _read_record(folder: Path) -> dict:
    try:
        record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


class RunTracker:
    """Where one run is logged: an MLflow run and/or a TensorBoard folder."""

    def __init__(self, track: TrackConfig, parent: Parent | None, notify):
        self.track, self.parent = track, parent or Parent()
        self.notify = notify
        self.mlflow = self.board = None
        self._store = None  # (client, experiment_id) once connected
        self._params: Callable[[], dict] = dict

    @classmethod
    def connect(cls, track: TrackConfig, parent: Parent | None = None, notify=None):
        """A tracker whose stores are checked, or None when ``track`` logs nowhere."""
        if not track.on:
            return None
        out = cls(track, parent, notify)
        if track.tensorboard is not False:
            tensorboard.check_installed()
        if track.mlflow not in (None, False):
            out._store = mlflowrun.connect(
                out.parent.mlflow_uri or track.mlflow,
                track.experiment or "nnclf",
                out.parent.experiment_id,
            )
        return out

    def start(self, where: Path, name: str, config: dict, tags: dict, params, config_text):
        """Open the run in the run directory ``where`` (as it is being written); ``params()``
        gives the network's parameters at an evaluation."""
        self._params = params
        record = _read_record(where)
        if self._store is not None:
            client, experiment = self._store
            try:
                self.mlflow = mlflowrun.MlflowRun.start(
                    client,
                    experiment,
                    name,
                    flatten(config),
                    {"nnclf.version": __version__, **tags},
                    record.get("mlflow_run_id"),
                    self.parent.mlflow_run,
                )
            except Exception as e:  # the store's own errors, between connecting and now
                raise ConfigError(
                    f": cannot start an MLflow run ({mlflowrun.reason(e)}); check the "
                    "tracking store and try again (no run directory was changed)",
                    name="track.mlflow",
                ) from None
            atomic_write_text(where / RECORD, json.dumps({"mlflow_run_id": self.mlflow.run_id}))
        if self.track.tensorboard is not False:
            folder = self.parent.tensorboard or (
                where / TENSORBOARD
                if self.track.tensorboard is True
                else Path(self.track.tensorboard) / name
            )
            fresh = not Path(folder).is_dir()
            self.board = tensorboard.Board(Path(folder), config_text if fresh else None)

    def _guard(self, backend: str, call) -> None:
        """``call()``; a failure of the store is told once and ends that backend's logging."""
        try:
            call()
        except Exception as e:  # the store's or the writer's own errors: training goes on
            setattr(self, backend, None)
            if self.notify is not None:
                what = "MLflow" if backend == "mlflow" else "TensorBoard"
                self.notify(f"{what}: logging stopped ({mlflowrun.reason(e)}); training goes on")

    def evaluation(self, history: list[dict]) -> None:
        """The trainer's callback: the last evaluation, at its step t."""
        row = history[-1]
        if self.mlflow is not None:
            values = {k: v for k, v in row.items() if k != "step"}
            self._guard("mlflow", lambda: self.mlflow.metrics(values, int(row["step"])))
        if self.board is not None:
            self._guard("board", lambda: self.board.evaluation(row, self._params()))

    def close_files(self) -> None:
        """Close the TensorBoard folder (before the run directory is moved into place)."""
        if self.board is not None:
            self._guard("board", self.board.close)
            self.board = None

    def end(self, status: str, run_dir: Path | None = None, metrics: dict | None = None):
        """End the run with ``status``; a finished run logs its final metrics and files."""
        self.close_files()
        if self.mlflow is None:
            return
        run = self.mlflow
        if metrics is not None and run_dir is not None:
            self._guard("mlflow", lambda: _log_finished(run, run_dir, metrics))
        self._guard("mlflow", lambda: run.end(status))
        self.mlflow = None

    def ending(self):
        """End the run KILLED on Ctrl-C (or SIGTERM), FAILED on any other exception."""
        return _ending(self.end)


@contextmanager
def _ending(end):
    try:
        yield
    except KeyboardInterrupt:
        end("KILLED")
        raise
    except BaseException:
        end("FAILED")
        raise


def _log_finished(run: mlflowrun.MlflowRun, run_dir: Path, metrics: dict) -> None:
    final = {
        f"{part}_{name}": metrics[part][name]
        for part in ("train", "validation", "test")
        if metrics.get(part)
        for name in FINAL
    }
    run.metrics(final, int(metrics["steps"]))
    if metrics.get("engine"):
        run.tags({"nnclf.engine": metrics["engine"]})
    run.artifacts([run_dir / name for name in ARTIFACTS if (run_dir / name).is_file()])
    if importlib.util.find_spec("onnx") is not None:
        _log_onnx(run, run_dir)


def _log_onnx(run: mlflowrun.MlflowRun, run_dir: Path) -> None:
    """The model as ONNX (model.onnx), when it can be converted."""
    from nnclf.errors import NnclfError
    from nnclf.export.onnx import save_onnx
    from nnclf.export.trained import TrainedModel

    with tempfile.TemporaryDirectory(prefix="nnclf-onnx-") as tmp:
        try:
            save_onnx(TrainedModel.load(run_dir / "model.npz"), Path(tmp) / "model.onnx")
        except NnclfError:  # a model ONNX cannot hold: the other artifacts are there
            return
        run.artifacts([Path(tmp) / "model.onnx"])


class SweepTracker:
    """A sweep's parent MLflow run (named after the sweep directory, its parameters the base
    config's) and the TensorBoard root its trials write under."""

    def __init__(self, track: TrackConfig, run, experiment_id, uri, notify):
        self.track, self.run, self.experiment_id, self.uri = track, run, experiment_id, uri
        self.notify = notify

    @staticmethod
    def check(base_config: dict, experiment: str) -> None:
        """Before a sweep directory is made: the extras are there and the store answers."""
        track = TrackConfig(**(base_config.get("track") or {}))
        if track.tensorboard is not False:
            tensorboard.check_installed()
        if track.mlflow not in (None, False):
            mlflowrun.connect(track.mlflow, track.experiment or experiment)

    @classmethod
    def connect(cls, base_config: dict, sweep_dir: Path, experiment: str, notify=None):
        """The parent run, started (or continued, by the sweep directory's :data:`RECORD`);
        None when the base config tracks nothing."""
        track = TrackConfig(**(base_config.get("track") or {}))
        if not track.on:
            return None
        if track.tensorboard is not False:
            tensorboard.check_installed()
        if isinstance(track.tensorboard, str):
            folder = Path(track.tensorboard).expanduser().absolute()
            track = TrackConfig(track.mlflow, track.experiment, str(folder))
        if track.mlflow in (None, False):
            return cls(track, None, None, None, notify)
        client, experiment_id = mlflowrun.connect(track.mlflow, track.experiment or experiment)
        run = mlflowrun.MlflowRun.start(
            client,
            experiment_id,
            sweep_dir.name,
            flatten(base_config),
            {"nnclf.version": __version__, "nnclf.sweep": str(sweep_dir)},
            _read_record(sweep_dir).get("mlflow_run_id"),
        )
        atomic_write_text(sweep_dir / RECORD, json.dumps({"mlflow_run_id": run.run_id}))
        return cls(track, run, experiment_id, client.tracking_uri, notify)

    def child(self, trial: str) -> Parent:
        """What the trial named ``trial`` is handed."""
        folder = self.track.tensorboard
        return Parent(
            self.run.run_id if self.run is not None else None,
            self.experiment_id,
            str(Path(folder) / trial) if isinstance(folder, str) else None,
            self.uri,
        )

    def end(self, status: str) -> None:
        if self.run is None:
            return
        try:
            self.run.end(status)
        except Exception as e:  # the store's own errors: the sweep's results are written
            if self.notify is not None:
                self.notify(f"MLflow: cannot end the sweep's run ({mlflowrun.reason(e)})")
        self.run = None

    def ending(self):
        """End the parent run KILLED on Ctrl-C (or SIGTERM), FAILED on any other exception."""
        return _ending(self.end)
