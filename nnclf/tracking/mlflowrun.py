"""One MLflow run of nnclf, through ``MlflowClient`` (never MLflow's global active run).

Contract
--------
:func:`connect` imports MLflow, reaches the tracking store and gets (or creates) the
experiment (a new one beside a SQLite store's file keeps its artifacts in mlruns/ next to
that file), failing in seconds rather than minutes (no retries, a 5-second timeout, unless
``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` / ``MLFLOW_HTTP_REQUEST_TIMEOUT`` say otherwise): without
the extra, or with a store that cannot be reached, one :class:`~nnclf.errors.ConfigError`.
:class:`MlflowRun` is one run: created (a child when given its parent's id: the tag
``mlflow.parentRunId``) or continued (set RUNNING again), its parameters logged once as
text cut to MLflow's :data:`MAX_VALUE` characters, metrics as ``log_batch`` calls at a step,
files as artifacts, and its end status (FINISHED, FAILED, KILLED).
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import contextmanager
from pathlib import Path

from nnclf.errors import ConfigError

__all__ = ["INSTALL", "MAX_VALUE", "connect", "reason", "MlflowRun"]

INSTALL = 'pip install "nnclf[mlflow]"'
MAX_VALUE = 6000
"""MLflow's longest parameter value (mlflow.utils.validation.MAX_PARAM_VAL_LENGTH)."""
BATCH = 100
"""The most parameters one ``log_batch`` call takes."""
_QUICK = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}


def _missing(e: ImportError) -> ConfigError:
    what = e.name or "mlflow"
    return ConfigError(
        f": logging to MLflow needs {what} (the mlflow extra): {INSTALL}", name="track.mlflow"
    )


@contextmanager
def _quick():
    """A store that does not answer fails at once, unless the user set the variables."""
    saved = {key: os.environ.get(key) for key in _QUICK}
    for key, value in _QUICK.items():
        os.environ.setdefault(key, value)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)


def reason(e: BaseException) -> str:
    """A store's error in a few words (MLflow's own messages run to several lines)."""
    text = " ".join(str(e).split()) or type(e).__name__
    for known in ("Connection refused", "timed out", "Name or service not known"):
        if known.lower() in text.lower():
            return known.lower()
    return text if len(text) <= 160 else text[:157] + "..."


def connect(uri, experiment: str | None, experiment_id: str | None = None):
    """``(client, experiment_id)`` of a reachable tracking store ``uri`` (True: MLflow's
    default); the experiment is found by id (a sweep's trial), else by name, else created."""
    try:
        import mlflow
        from mlflow import MlflowClient
    except ImportError as e:
        raise _missing(e) from None
    for name in ("mlflow", "alembic"):  # creating a store's tables: not the user's business
        logging.getLogger(name).setLevel(logging.WARNING)
    where = mlflow.get_tracking_uri() if uri is True else uri
    try:
        with _quick():
            client = MlflowClient(tracking_uri=where)
            if experiment_id is not None:
                return client, client.get_experiment(experiment_id).experiment_id
            found = client.get_experiment_by_name(experiment)
            if found is None:
                return client, client.create_experiment(experiment, _artifacts(where))
    except ImportError as e:  # sqlalchemy or alembic, which a database store needs
        raise _missing(e) from None
    except Exception as e:  # the store's own errors: a server down, a path, a bad URI
        raise ConfigError(
            f": cannot reach the MLflow tracking store {where} ({reason(e)}); start the "
            "server or fix track.mlflow (nothing was written)",
            name="track.mlflow",
        ) from None
    if found.lifecycle_stage != "active":
        raise ConfigError(
            f": the MLflow experiment {experiment!r} is deleted in {where}; restore it "
            "(mlflow experiments restore) or choose another track.experiment",
            name="track.experiment",
        )
    return client, found.experiment_id


def _artifacts(uri: str) -> str | None:
    """Where a new experiment keeps its files: beside a SQLite store's file (mlruns/), not
    in whatever directory nnclf happens to be started from; else the store's default."""
    if not uri.startswith("sqlite:///") or uri.endswith(":memory:"):
        return None
    return (Path(uri[len("sqlite:///") :]).parent.resolve() / "mlruns").as_uri()


class MlflowRun:
    """One MLflow run: ``run_id`` in ``client``'s store."""

    def __init__(self, client, run_id: str):
        self.client, self.run_id = client, run_id

    @classmethod
    def start(
        cls,
        client,
        experiment_id: str,
        name: str,
        params: dict,
        tags: dict,
        run_id: str | None = None,
        parent: str | None = None,
    ) -> MlflowRun:
        """Continue ``run_id`` (when the store still has it), else create a run."""
        if run_id is not None and _exists(client, run_id):
            client.update_run(run_id, status="RUNNING")
            return cls(client, run_id)
        from mlflow.entities import Param

        tags = {k: str(v) for k, v in tags.items()}
        if parent is not None:
            tags["mlflow.parentRunId"] = parent
        run = client.create_run(experiment_id, tags=tags, run_name=name)
        out = cls(client, run.info.run_id)
        items = [Param(k, str(v)[:MAX_VALUE]) for k, v in params.items()]
        for k in range(0, len(items), BATCH):
            client.log_batch(out.run_id, params=items[k : k + BATCH])
        return out

    def metrics(self, values: dict, step: int) -> None:
        """Log each finite value at ``step``."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, step) for k, v in values.items() if _finite(v)]
        if batch:
            self.client.log_batch(self.run_id, metrics=batch)

    def tags(self, values: dict) -> None:
        for key, value in values.items():
            self.client.set_tag(self.run_id, key, str(value))

    def artifacts(self, paths: list[Path]) -> None:
        for path in paths:
            self.client.log_artifact(self.run_id, str(path))

    def end(self, status: str) -> None:
        self.client.set_terminated(self.run_id, status=status)


def _exists(client, run_id: str) -> bool:
    try:
        return client.get_run(run_id).info.lifecycle_stage == "active"
    except Exception:  # MLflow's "run not found"
        return False


def _finite(value) -> bool:
    try:
        return abs(float(value)) < float("inf")
    except (TypeError, ValueError):
        return False
