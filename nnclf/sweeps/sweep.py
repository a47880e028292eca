"""``nnclf sweep``: many runs of one base config at once, locally or on a Dask cluster.

Contract
--------
A sweep directory holds

    sweep.yaml       the sweep file as given (:mod:`nnclf.sweeps.sweepfile` reads it)
    base.yaml        the base config, resolved
    trials.json      the expanded trials: index, axis values, seed, ``--set`` items, config
    sweep.csv        one row per trial that ended: trial, the axis values, seed, the metrics
                     of each split, steps, seconds, status (finished, failed, interrupted;
                     pruned in a tpe search) and the error of a failed trial; rewritten
                     atomically after each trial
    trial-NNNN/      each finished (or pruned) trial: an ordinary run directory of ``nnclf train``
    study.db         a tpe search's Optuna study (:mod:`nnclf.sweeps.search`), unless its
                     ``search.storage`` names another database
    tracking.json    the sweep's MLflow run, when the base config's ``track.mlflow`` is set:
                     each trial's MLflow run is its child (:mod:`nnclf.tracking`)

A new sweep directory is created only once everything is checked (the sweep file, ``--out``,
the scheduler): it is built aside and renamed into place (:mod:`nnclf.runs.rundir`), so a
refusal leaves nothing. Files go through :mod:`nnclf.base.outputs`. A ``trial-NNNN`` that
nnclf did not write (a user's directory or file) is never deleted: the sweep refuses to go
on until it is moved. Each trial's files and its sweep.csv row are written with Ctrl-C held
(it stops the sweep right after), and the trials' temporary directories live in one scratch
directory that the driver removes at the end, whatever happened to the workers.

A trial is :func:`run_trial`: :func:`nnclf.runs.run.train` into a temporary directory on whatever
process or machine runs it, with BLAS limited to one thread; it returns the run's files as
bytes and the driver writes them into the sweep directory, so workers need not share a file
system (they need nnclf and the data source). Local trials run in ``jobs`` loky processes
(joblib); with a scheduler address, on an existing Dask ``distributed`` cluster through
joblib's dask backend. A trial that fails on purpose (an :class:`~nnclf.errors.NnclfError`:
divergence, data a worker cannot read) is a failed row and the others go on. Ctrl-C (and
SIGTERM, through :mod:`nnclf.cli`) stops the sweep: the finished trials are kept and
:func:`resume` runs the trials without a finished or failed row (a finished one whose
directory was deleted runs again; failed ones too with ``retry_failed``). On resume,
trials.json and sweep.csv are checked (a hand-edited one is one error line) and so is the
data of the finished trials: changed data is refused rather than ranked with the old. A
trial's metrics do not depend on where or alongside what it ran. At most :func:`max_jobs`
local processes run (4 per core).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
import time
import uuid
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from nnclf.base.outputs import SWEEP_HEADER, atomic_write, atomic_write_text
from nnclf.base.rules import as_dict, check_fields, shown
from nnclf.base.tables import format_table
from nnclf.config.load import OutputConfig, config_from_dict, dump_config, read_yaml
from nnclf.data.fingerprints import data_changed
from nnclf.errors import NnclfError, RunError, UsageError
from nnclf.runs import rundir
from nnclf.runs.runfiles import signals_held
from nnclf.sweeps.sweepfile import (
    METRIC_NAMES,
    METRIC_PARTS,
    SearchSettings,
    Sweep,
    Trial,
    better,
    read_sweep,
)
from nnclf.tracking.tracker import SweepTracker

__all__ = [
    "SweepOutcome",
    "open_sweep",
    "start",
    "load",
    "run_sweep",
    "resume",
    "run_trial",
    "summary",
    "plot",
    "ended",
    "max_jobs",
    "planned",
    "storage_url",
    "write_trials",
    "SWEEP_CSV",
    "TRIALS",
    "STUDY_DB",
]

SWEEP_FILE, BASE, TRIALS, SWEEP_CSV = "sweep.yaml", "base.yaml", "trials.json", "sweep.csv"
STUDY_DB = "study.db"
METRIC_COLUMNS = [f"{p}_{n}" for p in METRIC_PARTS for n in METRIC_NAMES]
ENDED = ("finished", "failed", "pruned")


@dataclass
class SweepOutcome:
    """How a sweep ended: "finished" (every trial ended) or "interrupted"."""

    sweep_dir: Path
    status: str
    rows: dict

    @property
    def resume_command(self) -> str:
        return f"nnclf sweep --resume {self.sweep_dir}"


# ----------------------------------------------------------------------------- one trial


def run_trial(
    name: str,
    config: dict,
    record_as: str | None = None,
    scratch: str | None = None,
    driver: int | None = None,
    parent=None,
    watch=None,
) -> dict:
    """Train one trial in a temporary directory; what the driver needs to write it
    (``record_as``: the trial directory its config and model name, on the driver's side).
    The temporary directory is made in ``scratch`` when that exists where the trial runs:
    the driver removes it at the end, also what a worker killed mid-trial left there. A
    local worker exits when its ``driver`` process is gone. ``parent``: the sweep's MLflow
    run and the trial's TensorBoard folder. ``watch(history)`` is called at every evaluation and stops the trial
    ("pruned") when it returns true; its ``reports`` come back as the result's ``reports``.

    Returns a dict: ``trial`` (name), ``status`` ("finished", "failed", "interrupted" or
    "pruned"), ``metrics`` (metrics.json's dict, or None), ``files`` ({path: bytes} of the
    run directory, tensorboard/ included), ``seconds`` (on the worker), ``error`` (one line).
    """
    from threadpoolctl import threadpool_limits

    from nnclf.runs import run

    if driver is not None and driver != os.getpid():  # --jobs 1 runs trials in the driver
        _exit_without(driver)
    start = time.perf_counter()
    out = {"trial": name, "status": "failed", "metrics": None, "files": {}, "error": ""}
    where = scratch if scratch is not None and os.path.isdir(scratch) else None
    with threadpool_limits(1), tempfile.TemporaryDirectory(prefix="nnclf-", dir=where) as tmp:
        try:
            outcome = run.train(
                config_from_dict(config),
                Path(tmp) / name,
                quiet=True,
                record_as=record_as,
                parent=parent,
                callbacks=() if watch is None else (watch,),
            )
        except NnclfError as e:
            # The temporary directory is gone when the driver reads this: name the trial's own.
            where = record_as or name
            text = str(e).replace(str(Path(tmp) / name), where).replace(tmp, where)
            out["error"] = " ".join(text.split())
        else:
            out["status"] = outcome.status
            if outcome.stopped == "callback" and outcome.steps < outcome.total_steps:
                out["status"] = "pruned"
            if outcome.status == "finished":
                out["metrics"] = outcome.metrics
                out["files"] = {
                    p.relative_to(outcome.run_dir).as_posix(): p.read_bytes()
                    for p in sorted(outcome.run_dir.rglob("*"))
                    if p.is_file()
                }
    out["seconds"] = time.perf_counter() - start
    if watch is not None:
        out["reports"] = list(watch.reports)
    return out


_WATCHED: set[int] = set()


def _exit_without(driver: int, every: float = 0.5) -> None:
    """End this worker process as soon as ``driver`` is no longer its parent.

    A driver killed with SIGKILL cannot stop its loky workers; without this they would run
    their trials to the end (minutes) holding its terminal. One watcher thread per process.
    """
    import threading

    if driver in _WATCHED:
        return
    _WATCHED.add(driver)

    def watch():
        while os.getppid() == driver:
            time.sleep(every)
        os._exit(1)

    threading.Thread(target=watch, name="nnclf-driver-watch", daemon=True).start()


def _write_trial(sweep_dir: Path, trial: Trial, files: dict) -> None:
    """The trial's run directory, built aside and renamed into place; its config.yaml
    names where it is (the worker trained it elsewhere). An earlier attempt of the trial is
    replaced; anything else in the way is refused (:func:`_check_in_the_way`)."""
    from nnclf.runs.run import CONFIG, config_text

    final, partial = sweep_dir / trial.name, sweep_dir / f".{trial.name}.partial"
    _check_in_the_way(sweep_dir, trial)
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    for name, data in files.items():
        (partial / name).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(partial / name, lambda f, data=data: f.write(data))
    cfg = replace(config_from_dict(trial.config), output=OutputConfig(str(final)))
    atomic_write_text(partial / CONFIG, config_text(cfg))
    if os.path.lexists(final):  # an earlier attempt of this trial, written by the sweep
        trash = sweep_dir / f".{trial.name}.replaced"
        shutil.rmtree(trash, ignore_errors=True)
        os.rename(final, trash)
        os.rename(partial, final)
        shutil.rmtree(trash)
    else:
        os.rename(partial, final)


def _check_in_the_way(sweep_dir: Path, trial: Trial) -> None:
    """A RunError when ``sweep_dir/trial-NNNN`` exists and is not an earlier attempt of the
    trial that nnclf wrote (a user's directory or file of that name is never deleted)."""
    final = sweep_dir / trial.name
    if not os.path.lexists(final):
        return
    if final.is_symlink() or not final.is_dir():
        held = "is a file or a link"
    elif not any(final.iterdir()):
        return
    elif not rundir.is_run_dir(final) or rundir.foreign_files(final):
        shown = ", ".join((rundir.foreign_files(final) or ["no run files"])[:5])
        held = f"holds files nnclf did not write: {shown}"
    else:
        return
    raise RunError(
        f"sweep {sweep_dir}: {final} {held}; it is where {trial.name} goes, and nnclf "
        f"never deletes it: move it out of the sweep directory, then continue with "
        f"nnclf sweep --resume {sweep_dir}"
    )


# ----------------------------------------------------------------------------- sweep dir


def start(sweep_file, out: str | None = None, scheduler: str | None = None) -> tuple[Path, Sweep]:
    """Read ``sweep_file`` (every trial's config checked), check ``out`` and the scheduler,
    then create the sweep directory: ``out``, or the first free one of sweeps/NAME,
    sweeps/NAME-2, ... It is built aside and renamed into place, so a check that fails or
    a write that fails (a full disk) leaves nothing behind."""
    sweep = read_sweep(sweep_file)
    sweep_dir = _new_sweep_dir(sweep_file, out)
    if sweep.search is not None:  # one study per sweep, also in a database others share
        sweep.study_name = f"{sweep_dir.resolve().name}-{uuid.uuid4().hex[:8]}"
    if scheduler is not None:
        _connect(scheduler).close()
    SweepTracker.check(_base_config(sweep, sweep_dir), _experiment(sweep, sweep_dir))
    if sweep.base is None:
        sweep.base = str((sweep_dir / BASE).resolve())  # the command works from anywhere
    held = rundir.claim(str(sweep_dir), explicit=True, force=False, command="sweep")
    try:
        staging = held.stage()
        with signals_held(deliver=True):
            try:
                _write_start(staging, sweep)
            except OSError as e:
                raise RunError(
                    f"cannot create the sweep directory {sweep_dir} (writing "
                    f"{Path(e.filename or staging).name}: {e.strerror or e}); make room on "
                    "the disk or choose another --out (nothing was written)"
                ) from None
            return held.keep(), sweep
    except BaseException:
        held.discard()
        raise
    finally:
        held.release()


def _base_config(sweep: Sweep, sweep_dir: Path) -> dict:
    """The base config as a dict: the sweep file's, else (a resumed sweep) base.yaml's."""
    if sweep.base_config is not None:
        return sweep.base_config
    raw = read_yaml(sweep_dir / BASE) if (sweep_dir / BASE).is_file() else None
    return raw if isinstance(raw, dict) else {}


def _experiment(sweep: Sweep, sweep_dir: Path) -> str:
    """The MLflow experiment of a sweep whose base config names none: the base file's name
    (the sweep directory's, for a base written inside the sweep file)."""
    named = sweep.base is not None and Path(sweep.base).resolve() != (sweep_dir / BASE).resolve()
    return Path(sweep.base).stem if named else sweep_dir.name


def _new_sweep_dir(sweep_file, out: str | None) -> Path:
    """``out`` checked to be free for a new sweep, or the first free default name."""
    if out is None:
        stem = Path("sweeps") / Path(sweep_file).stem
        return next(
            p
            for p in (Path(f"{stem}-{i}") if i > 1 else stem for i in range(1, 10**6))
            if not os.path.lexists(p)
        )
    sweep_dir = Path(out)
    if os.path.lexists(sweep_dir) and not sweep_dir.is_dir():
        raise RunError(
            f"--out {out}: is a file, not a directory; a sweep needs a directory of its "
            "own: choose another --out"
        )
    if sweep_dir.is_dir() and any(sweep_dir.iterdir()):
        if (sweep_dir / TRIALS).is_file():
            raise RunError(
                f"--out {out}: holds a sweep already; continue it with nnclf sweep "
                f"--resume {out}, or choose another --out"
            )
        raise RunError(
            f"--out {out}: the directory exists and holds other files; choose another "
            "--out (a missing or empty directory)"
        )
    return sweep_dir


def _write_start(sweep_dir: Path, sweep: Sweep) -> None:
    """sweep.yaml, base.yaml, trials.json and an empty sweep.csv."""
    atomic_write_text(sweep_dir / SWEEP_FILE, sweep.text)
    base = config_from_dict(sweep.base_config)
    atomic_write_text(sweep_dir / BASE, dump_config(base, SWEEP_HEADER))
    write_trials(sweep_dir, sweep)
    _write_csv(sweep_dir, sweep, {})


def search_record(sweep: Sweep) -> dict:
    """What trials.json keeps of a tpe search: its settings, space, base and study name."""
    return {
        "settings": as_dict(sweep.search),
        "space": sweep.space,
        "base_raw": sweep.base_raw,
        "base_dir": sweep.base_dir,
        "study_name": sweep.study_name,
    }


def write_trials(sweep_dir: Path, sweep: Sweep) -> None:
    """trials.json: the sweep's trials (a search's so far) and, for a search, its record."""
    record = {
        "base": sweep.base,
        "axes": sweep.axes,
        "metric": sweep.metric,
        "trials": [
            {
                "index": t.index,
                "values": t.values,
                "seed": t.seed,
                "overrides": t.overrides,
                "config": t.config,
            }
            for t in sweep.trials
        ],
    }
    if sweep.search is not None:
        record["search"] = search_record(sweep)
    atomic_write_text(sweep_dir / TRIALS, json.dumps(record, indent=1) + "\n")


def open_sweep(
    sweep_file,
    out: str | None,
    resume_dir,
    scheduler: str | None = None,
    retry_failed: bool = False,
) -> tuple[Path, Sweep, dict]:
    """The command's sweep: a new one of ``sweep_file`` (:func:`start`), or the one in
    ``resume_dir`` (:func:`load`, its data checked unchanged, its failed trials to run again
    with ``retry_failed``); its directory, trials and sweep.csv rows. The scheduler, if any,
    is reached first: nothing is created when it cannot be."""
    if resume_dir is not None:
        given = [flag for flag, value in (("SWEEP", sweep_file), ("--out", out)) if value]
        if given:
            raise UsageError(
                f"sweep --resume continues a sweep with its own saved trials; "
                f"drop {', '.join(given)}"
            )
        sweep, rows = load(resume_dir)
        check_data_unchanged(resume_dir, sweep, rows)
        if retry_failed and sweep.search is not None:
            raise UsageError(
                "--retry-failed: a tpe search does not run a failed trial again (its study "
                "has learnt from it); continue with nnclf sweep --resume SWEEP_DIR"
            )
        if retry_failed:
            rows = {name: row for name, row in rows.items() if row["status"] != "failed"}
        if scheduler is not None:
            _connect(scheduler).close()
        return Path(resume_dir), sweep, rows
    if retry_failed:
        raise UsageError("--retry-failed goes with --resume SWEEP_DIR (a sweep to continue)")
    if sweep_file is None:
        raise UsageError(
            "sweep needs a SWEEP file (e.g. nnclf sweep configs/sweep_iris.yaml), "
            "or --resume SWEEP_DIR to continue a sweep"
        )
    return *start(sweep_file, out, scheduler), {}


def load(sweep_dir) -> tuple[Sweep, dict]:
    """A sweep directory's trials and the rows of its sweep.csv (by trial name), both
    checked: an edited or damaged file is one :class:`~nnclf.errors.RunError` line."""
    sweep_dir = Path(sweep_dir)
    if not (sweep_dir / TRIALS).is_file():
        raise RunError(
            f"{sweep_dir}: not a sweep directory (no {TRIALS}); start a sweep with "
            "nnclf sweep SWEEP.yaml"
        )
    sweep = _read_trials(sweep_dir / TRIALS)
    rows = {}
    if (sweep_dir / SWEEP_CSV).is_file():
        rows = _read_rows(sweep_dir / SWEEP_CSV, sweep)
    return sweep, rows


def _damaged(path: Path, problem: str) -> RunError:
    return RunError(
        f"{path}: {problem}; the file was edited or damaged: restore the one nnclf sweep wrote"
    )


def _read_trials(path: Path) -> Sweep:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise _damaged(path, f"not JSON ({' '.join(str(e).split())[:80]})") from None
    if not isinstance(record, dict):
        raise _damaged(path, "not a JSON object")
    problem = lambda why: _damaged(path, why)  # noqa: E731
    check_fields(
        record, {"base": "text", "axes": "texts", "metric": "text", "trials": "list"}, problem
    )
    trials = []
    for k, t in enumerate(record["trials"]):
        where = lambda why, k=k: _damaged(path, f"trial {k}: {why.removeprefix('its ')}")  # noqa: E731
        if not isinstance(t, dict):
            raise where(f"{shown(t)} is not a JSON object")
        check_fields(t, _TRIAL_FIELDS, where)
        # A search's trials are numbered as its study numbers them: an interrupted driver
        # may leave a number unused.
        first = k if "search" not in record else (trials[-1].index + 1 if trials else 0)
        in_place = t["index"] == k or ("search" in record and t["index"] >= first)
        if not in_place or not set(record["axes"]) <= set(t["values"]):
            raise where("its index or axis values do not match its place in the sweep")
        try:
            config_from_dict(t["config"])
        except NnclfError as e:
            raise where(f"its config is not valid ({e})") from None
        trials.append(Trial(t["index"], t["values"], t["seed"], t["overrides"], t["config"]))
    try:
        better(record["metric"])
    except NnclfError as e:
        raise _damaged(path, str(e)) from None
    sweep = Sweep(record["base"], record["axes"], record["metric"], trials)
    if "search" in record:
        _read_search(path, record["search"], sweep)
    return sweep


def _read_search(path: Path, record, sweep: Sweep) -> None:
    """A tpe search's record in trials.json, checked, onto ``sweep``."""
    problem = lambda why: _damaged(path, f"search: {why.removeprefix('its ')}")  # noqa: E731
    if not isinstance(record, dict):
        raise problem(f"{shown(record)} is not a JSON object")
    check_fields(record, _SEARCH_FIELDS, problem)
    try:
        sweep.search = SearchSettings(**record["settings"])
    except (NnclfError, TypeError) as e:
        raise problem(f"its settings are not valid ({e})") from None
    sweep.space, sweep.base_raw = record["space"], record["base_raw"]
    sweep.base_dir, sweep.study_name = record["base_dir"], record["study_name"]


_SEARCH_FIELDS = {
    "settings": "mapping",
    "space": "mapping",
    "base_raw": "mapping",
    "base_dir": "text",
    "study_name": "text",
}


_TRIAL_FIELDS = {
    "index": "int>=0",
    "values": "mapping",
    "seed": "int>=0?",
    "overrides": "texts",
    "config": "mapping",
}


def _read_rows(path: Path, sweep: Sweep) -> dict:
    """sweep.csv's rows by trial name; each names a trial of the sweep and holds numbers
    where the sweep writes them."""
    names = {t.name for t in sweep.trials}
    numeric = [*METRIC_COLUMNS, "steps", "seconds"]
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise _damaged(path, f"cannot be read ({' '.join(str(e).split())[:80]})") from None
    out = {}
    for n, row in enumerate(rows, start=2):
        if row.get("trial") not in names or row["trial"] in out:
            raise _damaged(path, f"line {n} names no trial of the sweep, or one named before")
        if row.get("status") not in (*ENDED, "interrupted"):
            raise _damaged(path, f"line {n}: status {row.get('status')!r} is not one nnclf writes")
        for column in numeric:
            if row.get(column) and not _is_number(row[column]):
                raise _damaged(path, f"line {n}: {column} {shown(row[column])} is not a number")
        out[row["trial"]] = row
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True


def check_data_unchanged(sweep_dir, sweep: Sweep, rows: dict) -> None:
    """A RunError when the data a finished trial was trained on has changed since: new
    trials would be ranked with old ones trained on other data."""
    from nnclf.runs.run import load_splits, split_method

    seen = set()
    for trial in sweep.trials:
        metrics = Path(sweep_dir) / trial.name / "metrics.json"
        if not _ended(Path(sweep_dir), trial, rows.get(trial.name)) or not metrics.is_file():
            continue
        data = trial.config.get("data") or {}
        # The same data whatever the seed, but for synthetic data, which the seed draws.
        seed = trial.config.get("seed") if data.get("source") == "synthetic" else None
        key = json.dumps([data, seed], sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        try:
            recorded = json.loads(metrics.read_text(encoding="utf-8")).get("data")
        except (OSError, ValueError, AttributeError):
            continue
        if not isinstance(recorded, dict):
            continue
        now = load_splits(config_from_dict(trial.config)).fingerprint
        changed = data_changed(recorded, now, str(trial.config["data"].get("source")))
        if not changed and split_method(recorded) != now["split"]:
            changed = (
                f"{trial.name} was split by nnclf 0.2's method (scikit-learn's), which new "
                "trials no longer use"
            )
        if changed:
            raise RunError(
                f"sweep {sweep_dir}: {changed.replace('the run was', trial.name + ' was')}, "
                "so new trials would be ranked with old ones trained on other data; "
                "start a new sweep (nnclf sweep SWEEP.yaml)"
            )


def _columns(sweep: Sweep) -> list[str]:
    axes = [a for a in sweep.axes if a != "seed"]  # a seed axis is the seed column
    return ["trial", *axes, "seed", *METRIC_COLUMNS, "steps", "seconds", "status", "error"]


def _write_csv(sweep_dir: Path, sweep: Sweep, rows: dict) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, _columns(sweep), lineterminator="\n")
    writer.writeheader()
    for trial in sweep.trials:
        if trial.name in rows:
            writer.writerow(rows[trial.name])
    atomic_write_text(sweep_dir / SWEEP_CSV, text.getvalue())


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _row(sweep: Sweep, trial: Trial, result: dict) -> dict:
    metrics = result["metrics"] or {}
    row = {
        "trial": trial.name,
        "seed": trial.seed,
        "status": result["status"],
        "error": result["error"],
        "steps": metrics.get("steps"),
        "seconds": round(result["seconds"], 3),
    }
    row |= {axis: trial.values[axis] for axis in sweep.axes}
    for column in METRIC_COLUMNS:
        part, _, name = column.partition("_")
        scores = metrics.get(METRIC_PARTS[part])
        row[column] = scores[name] if scores else None
    return {k: _cell(v) for k, v in row.items()}


# ----------------------------------------------------------------------------- running


def _connect(address: str):
    try:
        from distributed import Client
    except ImportError:
        raise UsageError(
            '--scheduler needs Dask\'s distributed; install it with: pip install "nnclf[dask]"'
        ) from None
    try:
        return Client(address, timeout="3s")
    except (OSError, ValueError, TypeError) as e:
        raise RunError(
            f"--scheduler {address}: cannot reach the Dask scheduler "
            f"({' '.join(str(e).split())}); start one with: dask scheduler"
        ) from None


JOBS_PER_CORE = 4
"""Local processes beyond this many per core only wait for a core (and take its memory)."""


def max_jobs() -> int:
    """The most local processes a sweep starts: :data:`JOBS_PER_CORE` per core."""
    return JOBS_PER_CORE * (os.cpu_count() or 1)


def _results(
    sweep_dir: Path, pending: list[Trial], jobs: int, scheduler: str | None, scratch: str, parent
):
    """Each pending trial's :func:`run_trial` result, in the order they end (``parent``: the
    sweep's :class:`~nnclf.tracking.tracker.SweepTracker`, or None)."""
    from joblib import Parallel, delayed, parallel_config

    where = Path(sweep_dir).resolve()
    child = (lambda t: None) if parent is None else (lambda t: parent.child(t.name))
    if scheduler is None:
        calls = (
            delayed(run_trial)(
                t.name, t.config, str(where / t.name), scratch, os.getpid(), child(t)
            )
            for t in pending
        )
        jobs = max(1, min(jobs, max_jobs(), len(pending)))
        with parallel_config(backend="loky", n_jobs=jobs, inner_max_num_threads=1):
            yield from Parallel(return_as="generator_unordered")(calls)
        return
    calls = (
        delayed(run_trial)(t.name, t.config, str(where / t.name), scratch, None, child(t))
        for t in pending
    )
    client = _connect(scheduler)
    try:
        with parallel_config(backend="dask", n_jobs=-1):
            yield from Parallel(return_as="generator_unordered")(calls)
    finally:
        client.close()


def run_sweep(
    sweep_dir,
    sweep: Sweep,
    rows: dict,
    *,
    jobs: int = 1,
    scheduler: str | None = None,
    notify=None,
    stop_after: int | None = None,
) -> SweepOutcome:
    """Run the trials of ``sweep`` without a finished or failed row in ``rows``.

    Parameters
    ----------
    sweep_dir : Path
    sweep : Sweep
    rows : dict
        sweep.csv's rows by trial name (updated in place).
    jobs : int
        Local processes (ignored with ``scheduler``).
    scheduler : str, optional
        A Dask scheduler's address, e.g. tcp://127.0.0.1:8786.
    notify : callable, optional
        ``notify(text)`` once per trial that ends.
    stop_after : int, optional
        Stop as Ctrl-C would once that many trials have ended (for tests).
    """
    assert sweep.search is None, "a tpe search runs with nnclf.sweeps.search.run_search"
    sweep_dir = Path(sweep_dir)
    # One driver per sweep directory: two would run and write the same trials.
    lock = rundir.lock_run(sweep_dir, "sweep", f"sweep {sweep_dir}")
    try:
        return tracked(
            sweep_dir,
            sweep,
            notify,
            lambda parent: _run_pending(
                sweep_dir, sweep, rows, jobs, scheduler, notify, stop_after, parent
            ),
        )
    finally:
        lock.release()


def tracked(sweep_dir: Path, sweep: Sweep, notify, body) -> SweepOutcome:
    """``body(parent)`` run under the sweep's MLflow run, which ends FINISHED or KILLED with
    it (``parent``: the :class:`~nnclf.tracking.tracker.SweepTracker` each trial's run is a
    child of, or None when the base config tracks nothing)."""
    parent = SweepTracker.connect(
        _base_config(sweep, sweep_dir), sweep_dir, _experiment(sweep, sweep_dir), notify
    )
    if parent is None:
        return body(None)
    with parent.ending():  # one MLflow run over the trials, each trial's a child of it
        outcome = body(parent)
    parent.end("FINISHED" if outcome.status == "finished" else "KILLED")
    return outcome


def _run_pending(
    sweep_dir: Path, sweep: Sweep, rows: dict, jobs, scheduler, notify, stop_after, parent=None
) -> SweepOutcome:
    pending = [t for t in sweep.trials if not _ended(sweep_dir, t, rows.get(t.name))]
    by_name = {t.name: t for t in pending}
    count, ran = len(sweep.trials) - len(pending), 0
    for trial in pending:  # before any trial runs
        _check_in_the_way(sweep_dir, trial)
    scratch = tempfile.mkdtemp(prefix="nnclf-sweep-")
    results = _results(sweep_dir, pending, jobs, scheduler, scratch, parent)
    try:
        for result in results:
            trial = by_name[result["trial"]]
            with signals_held(deliver=True):
                _record(sweep_dir, sweep, trial, result, rows)
            count = ended(sweep_dir, sweep, rows)
            if notify is not None:
                notify(_progress(sweep, rows[trial.name], count))
            ran += 1
            if result["status"] == "interrupted" or ran == stop_after:
                raise KeyboardInterrupt  # Ctrl-C reached the trial first, or stop_after
    except KeyboardInterrupt:
        return SweepOutcome(sweep_dir, "interrupted", rows)
    finally:
        with warnings.catch_warnings():
            # Stopping early cancels the trials still running, as the user asked.
            warnings.filterwarnings("ignore", message=r"\d+ tasks (which were still|have been)")
            results.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return SweepOutcome(sweep_dir, "finished", rows)


def ended(sweep_dir, sweep: Sweep, rows: dict) -> int:
    """How many trials of ``sweep`` have ended (a finished one only while its directory is
    there: one deleted runs again)."""
    return sum(_ended(Path(sweep_dir), t, rows.get(t.name)) for t in sweep.trials)


def _record(sweep_dir: Path, sweep: Sweep, trial: Trial, result: dict, rows: dict) -> None:
    """Write an ended trial's run directory (if it finished) and its row of sweep.csv; a
    file that cannot be written is a RunError naming it."""
    try:
        if result["status"] in ("finished", "pruned"):
            _write_trial(sweep_dir, trial, result["files"])
        rows[trial.name] = _row(sweep, trial, result)
        _write_csv(sweep_dir, sweep, rows)
    except OSError as e:
        shutil.rmtree(sweep_dir / f".{trial.name}.partial", ignore_errors=True)
        rows.pop(trial.name, None)
        raise RunError(
            f"sweep {sweep_dir}: cannot write {e.filename or sweep_dir / trial.name} "
            f"({e.strerror or e}); the trials that ended before are kept: fix that, then "
            f"continue with nnclf sweep --resume {sweep_dir}"
        ) from None


def _ended(sweep_dir: Path, trial: Trial, row: dict | None) -> bool:
    if row is None or row.get("status") not in ENDED:
        return False
    return row["status"] == "failed" or (sweep_dir / trial.name).is_dir()


def _progress(sweep: Sweep, row: dict, count: int) -> str:
    what = (
        f"{sweep.metric} {float(row[sweep.metric]):.4f}"
        if row.get(sweep.metric)
        else row["error"] or "no metric"
    )
    return (
        f"{row['trial']} {row['status']} ({what}, {float(row['seconds']):.1f} s) "
        f"[{count}/{planned(sweep)}]"
    )


def planned(sweep: Sweep) -> int:
    """How many trials the sweep runs (a tpe search's are made as it goes)."""
    return len(sweep.trials) if sweep.search is None else sweep.search.trials


def resume(sweep_dir, **options) -> SweepOutcome:
    """Run the trials of the (random or grid) sweep in ``sweep_dir`` that have not ended."""
    sweep, rows = load(sweep_dir)
    return run_sweep(sweep_dir, sweep, rows, **options)


# ----------------------------------------------------------------------------- reporting


def _ranking(sweep: Sweep, rows: dict) -> list[dict]:
    """Configurations (axis values) by the metric's mean over seeds, best first."""
    groups = {}
    for trial in sweep.trials:
        row = rows.get(trial.name)
        if row is None or row["status"] != "finished" or not row.get(sweep.metric):
            continue
        key = tuple(row[a] for a in sweep.axes)
        groups.setdefault(key, []).append((float(row[sweep.metric]), trial))
    ranked = []
    for key, scored in groups.items():
        scores = np.array([s for s, _ in scored])
        best = (max if better(sweep.metric) == "max" else min)(scored, key=lambda st: st[0])
        ranked.append(
            {
                "values": key,
                "mean": scores.mean(),
                "n": len(scores),
                "sd": scores.std(ddof=1) if len(scores) > 1 else 0.0,
                "best": best[1],
            }
        )
    sign = -1 if better(sweep.metric) == "max" else 1
    return sorted(ranked, key=lambda r: sign * r["mean"])


def summary(sweep_dir, sweep: Sweep, rows: dict, top: int = 10) -> str:
    """The sweep's summary: counts, the configurations ranked by the metric's mean and sd
    over seeds, and the ``nnclf train`` command that reproduces the best trial."""
    import shlex

    statuses = [rows[t.name]["status"] for t in sweep.trials if t.name in rows]
    done = {s: statuses.count(s) for s in ENDED}
    pruned = f", {done['pruned']} pruned" if sweep.search is not None else ""
    lines = [
        f"sweep {sweep_dir}: {planned(sweep)} trials, {done['finished']} finished, "
        f"{done['failed']} failed{pruned}"
    ]
    lines += [
        f"  {r['trial']} failed: {r['error']}" for r in rows.values() if r["status"] == "failed"
    ][:5]
    if sweep.search is not None:
        url = shlex.quote(storage_url(sweep_dir, sweep))
        lines.append(f"the study opens with: optuna-dashboard {url}")
    ranked = _ranking(sweep, rows)
    if not ranked:
        return "\n".join(lines + [f"no finished trial has a {sweep.metric}"])
    table = [["rank", f"{sweep.metric} mean", "sd", "seeds", *sweep.axes]]
    table += [
        [str(i), f"{r['mean']:.4f}", f"{r['sd']:.4f}", str(r["n"]), *r["values"]]
        for i, r in enumerate(ranked[:top], 1)
    ]
    lines.append(format_table(table, right={0, 1, 2, 3}))
    best = ranked[0]["best"]
    command = ["nnclf", "train", sweep.base] + [a for o in best.overrides for a in ("--set", o)]
    score = float(rows[best.name][sweep.metric])
    lines.append(f"best: {best.name} ({sweep.metric} {score:.4f}); reproduce it with:")
    lines.append("  " + " ".join(shlex.quote(a) for a in command))
    return "\n".join(lines)


def storage_url(sweep_dir, sweep: Sweep) -> str:
    """A tpe search's study database: ``search.storage``, else study.db in the sweep
    directory."""
    if sweep.search.storage is not None:
        return sweep.search.storage
    return f"sqlite:///{(Path(sweep_dir) / STUDY_DB).resolve()}"


def plot(sweep_dir) -> list[Path]:
    """Write sweep.png into ``sweep_dir``: the metric of each finished trial against each
    swept value (a numeric axis on a log scale when its values span 20x or more)."""
    from nnclf.runs.report import save_figure

    sweep_dir = Path(sweep_dir)
    sweep, rows = load(sweep_dir)
    done = [r for r in rows.values() if r["status"] == "finished" and r.get(sweep.metric)]
    if not done:
        failed = sum(r["status"] == "failed" for r in rows.values())
        how = (
            f"{failed} failed (see the error column of {SWEEP_CSV}): fix the cause and run "
            f"them again with nnclf sweep --resume {sweep_dir} --retry-failed"
            if failed
            else f"run its trials with nnclf sweep --resume {sweep_dir}"
        )
        raise RunError(f"{sweep_dir}: no finished trial to plot; {how}")
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError(
            'plotting needs matplotlib; install it with: pip install "nnclf[plot]"'
        ) from None
    plt.switch_backend("Agg")
    fig, axs = plt.subplots(1, len(sweep.axes), figsize=(4 * len(sweep.axes), 3.4), squeeze=False)
    y = [float(r[sweep.metric]) for r in done]
    for ax, axis in zip(axs[0], sweep.axes):
        _plot_axis(ax, [r[axis] for r in done], y, axis)
        ax.set_ylabel(sweep.metric)
    return [save_figure(plt, fig, sweep_dir / "sweep.png")]


def _plot_axis(ax, cells: list[str], y: list[float], axis: str) -> None:
    try:
        x = np.array([float(c) for c in cells])
    except ValueError:  # categorical: strings, lists
        labels = list(dict.fromkeys(cells))
        x = np.array([labels.index(c) for c in cells], dtype=float)
        ax.set_xticks(range(len(labels)), labels)
    else:
        if x.min() > 0 and x.max() >= 20 * x.min():
            ax.set_xscale("log")
    ax.scatter(x, y, alpha=0.7, label="trials")
    values, y = np.unique(x), np.asarray(y)
    ax.plot(values, [y[x == v].mean() for v in values], color="C1", label="mean")
    ax.set_xlabel(axis)
    ax.legend(fontsize="small")
