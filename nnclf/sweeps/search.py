"""A sweep's space searched with Optuna: ``search: {method: tpe, ...}`` in a sweep file.

Contract
--------
A tpe search (:class:`~nnclf.sweeps.sweepfile.SearchSettings`) keeps an Optuna study in a
database (``search.storage``, default ``sqlite:///SWEEP_DIR/study.db``), named in trials.json.
Its TPE sampler (seeded with ``search.seed``) proposes each trial from the sweep's axes
(:func:`distributions`: ``uniform``/``log_uniform`` a float, ``int_uniform``/
``int_log_uniform`` an integer, on a log scale for the ``log`` ones, ``choice`` and every
``grid`` axis a categorical). Optuna trial number N is the sweep's ``trial-N``: its whole
config is built and checked (:func:`~nnclf.sweeps.sweepfile.build_trial`) before it runs
(a config the settings refuse is a failed trial, told to the study as FAIL) and it runs as a
random sweep's trials do (:func:`~nnclf.sweeps.sweep.run_trial`): in this process (one
job), in local processes, or on a Dask cluster's workers.

Only the driver touches the study: a worker needs neither the database nor a shared file
system. Pruning (``median``: Optuna's MedianPruner, ``hyperband``: its HyperbandPruner) runs
where the trial runs: :class:`Pruning`, called by the trainer at every evaluation, reports the
validation metric (``trial.report(value, step)``, step the trainer's t) to a copy of the
study as it was when the trial started, and stops the trial when the pruner says so. The
driver then reports the same values to the study itself and tells it the trial's state:
COMPLETE with the metric of metrics.json, PRUNED (its value the last evaluation's), or FAIL.
In a sequential search the copy is the study, so a search with one job and a seed is
repeatable; in parallel a trial is judged against the trials that had ended when it started.

sweep.csv keeps its columns; a pruned trial's status is ``pruned``, its metrics those of its
model where it stopped, and its directory is a run directory like the others.
``nnclf sweep --resume`` continues the same study: ended trials are not run again; a trial
the interruption caught is told FAIL (user attribute ``interrupted``) and its parameters are
enqueued, so the next trial runs them again (user attribute ``retry_of``).
"""

from __future__ import annotations

import copy
import math
import os
import shutil
import tempfile
from pathlib import Path

from nnclf.errors import NnclfError, RunError, UsageError
from nnclf.runs import rundir
from nnclf.runs.runfiles import signals_held
from nnclf.sweeps.sweep import (
    ENDED,
    SweepOutcome,
    _check_in_the_way,
    _connect,
    _progress,
    _record,
    ended,
    run_trial,
    storage_url,
    tracked,
    write_trials,
)
from nnclf.sweeps.sweepfile import (
    OPTUNA_EXTRA,
    PRUNED_BY,
    Sweep,
    Trial,
    better,
    build_trial,
    metric_value,
)

__all__ = ["distributions", "open_study", "Pruning", "run_search"]

_PRIMITIVE = (type(None), bool, int, float, str)


def _optuna():
    try:
        import optuna
    except ImportError:  # a search resumed where Optuna is not installed
        raise UsageError(OPTUNA_EXTRA) from None

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def distributions(space: dict) -> dict:
    """Optuna's distribution of each axis of ``space`` (``{axis: [kind, args]}``)."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    out = {}
    for axis, (kind, args) in space.items():
        if kind == "choice":
            out[axis] = CategoricalDistribution([_choice(v) for v in args])
        elif kind.startswith("int"):
            out[axis] = IntDistribution(args[0], args[1], log="log" in kind)
        else:
            out[axis] = FloatDistribution(float(args[0]), float(args[1]), log="log" in kind)
    return out


def _choice(value):
    """A choice as Optuna holds it: itself, or its JSON text (a list, a mapping)."""
    import json

    return value if isinstance(value, _PRIMITIVE) else json.dumps(value)


def _values(params: dict, space: dict, dists: dict) -> dict:
    """A proposal's axis values, in the sweep's axis order (a choice as the file has it)."""
    values = {}
    for axis, (kind, args) in space.items():
        value = params[axis]
        if kind == "choice":
            value = args[dists[axis].to_internal_repr(value)]
        values[axis] = value
    return values


def _pruner(name: str):
    optuna = _optuna()
    return {
        "median": optuna.pruners.MedianPruner,
        "hyperband": optuna.pruners.HyperbandPruner,
        "none": optuna.pruners.NopPruner,
    }[name]()


def open_study(sweep_dir, sweep: Sweep):
    """The search's study, created in its database the first time (a database that cannot
    be reached is one RunError line)."""
    optuna = _optuna()
    url = storage_url(sweep_dir, sweep)
    direction = "maximize" if better(sweep.metric) == "max" else "minimize"
    try:
        return optuna.create_study(
            storage=url,
            study_name=sweep.study_name,
            direction=direction,
            sampler=optuna.samplers.TPESampler(seed=sweep.search.seed),
            pruner=_pruner(sweep.search.pruner),
            load_if_exists=True,
        )
    except Exception as e:  # SQLAlchemy's errors, a driver not installed, ...
        text = " ".join(str(e).split())[:200]
        raise RunError(
            f"search.storage {url}: cannot open the study ({type(e).__name__}: {text}); check "
            "the URL and that the database is reachable"
        ) from None


class Pruning:
    """The trainer's callback of one trial: report the metric at every evaluation and say
    whether the pruner stops the trial here.

    It judges the trial against ``before`` (the study's earlier trials, as FrozenTrials) in
    an in-memory copy of the study named ``study_name`` (Hyperband's brackets follow the
    name and the trial number), so it needs no database. ``reports`` lists ``[step, value]``.
    """

    def __init__(self, pruner: str, direction: str, study_name: str, before: list, key: str):
        self.pruner, self.direction, self.study_name = pruner, direction, study_name
        self.before, self.key = before, key
        self.reports: list[list] = []
        self._trial = None

    def __getstate__(self):
        return dict(self.__dict__, _trial=None)

    def __call__(self, history: list[dict]) -> bool:
        row = history[-1]
        step, value = int(row["step"]), float(row[self.key])
        self.reports.append([step, value])
        if self.pruner == "none":
            return False
        if self._trial is None:
            self._trial = self._copy_of_study().ask()
        self._trial.report(value, step)
        return bool(self._trial.should_prune())

    def _copy_of_study(self):
        optuna = _optuna()
        study = optuna.create_study(
            study_name=self.study_name, direction=self.direction, pruner=_pruner(self.pruner)
        )
        # Trials still running elsewhere count as failed: pruners compare with ended ones only.
        study.add_trials([_as_ended(t) for t in self.before])
        return study


def _as_ended(frozen):
    from optuna.trial import TrialState

    if frozen.state.is_finished():
        return frozen
    frozen = copy.deepcopy(frozen)
    frozen.state, frozen.values = TrialState.FAIL, None
    frozen.datetime_complete = frozen.datetime_start
    return frozen


# ----------------------------------------------------------------------------- running


def run_search(
    sweep_dir,
    sweep: Sweep,
    rows: dict,
    *,
    jobs: int = 1,
    scheduler: str | None = None,
    notify=None,
    stop_after: int | None = None,
) -> SweepOutcome:
    """Run a tpe search until ``search.trials`` trials have ended (the parameters are
    those of :func:`nnclf.sweeps.sweep.run_sweep`)."""
    sweep_dir = Path(sweep_dir)
    lock = rundir.lock_run(sweep_dir, "sweep", f"sweep {sweep_dir}")
    try:
        study = open_study(sweep_dir, sweep)
        _continue(study, sweep, rows)
        return tracked(
            sweep_dir,
            sweep,
            notify,
            lambda parent: _Search(sweep_dir, sweep, rows, study, notify, parent).run(
                _Pool(jobs, scheduler), stop_after
            ),
        )
    finally:
        lock.release()


def _continue(study, sweep: Sweep, rows: dict) -> None:
    """Settle what an earlier driver left: a trial the study still holds as running is told
    from its sweep.csv row when it ended, else FAIL as interrupted; the parameters of each
    interrupted trial not yet retried are enqueued to run again."""
    optuna = _optuna()
    state = optuna.trial.TrialState
    for frozen in study.get_trials(deepcopy=False, states=(state.RUNNING,)):
        trial = optuna.trial.Trial(study, frozen._trial_id)
        row = rows.get(f"trial-{frozen.number:04d}")
        if row is not None and row["status"] in ENDED:
            _tell(study, trial, row["status"], _number(row.get(sweep.metric)), row["error"])
        else:
            _tell(study, trial, "interrupted", None, "")
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    for t in trials:
        if t.user_attrs.get("interrupted") and t.number not in retried:
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})


def _number(text):
    return float(text) if text not in (None, "") else None


def _tell(study, trial, status: str, value, error: str) -> None:
    """Tell the study how ``trial`` ended: finished (with ``value``), pruned, failed (with
    ``error``) or interrupted (FAIL, to run again on resume)."""
    from optuna.trial import TrialState

    if status == "finished" and value is not None and math.isfinite(value):
        study.tell(trial, value)
        return
    if status == "pruned":
        study.tell(trial, state=TrialState.PRUNED)
        return
    if status == "interrupted":
        trial.set_user_attr("interrupted", True)
    else:
        trial.set_user_attr("error", error or f"no finite {status} value")
    study.tell(trial, state=TrialState.FAIL)


def _done_in_study(study) -> int:
    """Trials that ended for good (an interrupted one runs again)."""
    from optuna.trial import TrialState

    ended_states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    return sum(
        not t.user_attrs.get("interrupted")
        for t in study.get_trials(deepcopy=False, states=ended_states)
    )


class _Search:
    """One driver's run of a search: proposals asked, trials started and told."""

    def __init__(self, sweep_dir: Path, sweep: Sweep, rows: dict, study, notify, parent=None):
        self.sweep_dir, self.sweep, self.rows, self.study = sweep_dir, sweep, rows, study
        self.notify = notify
        self.parent = parent  # the sweep's SweepTracker, or None
        self.dists = distributions(sweep.space)
        self.direction = study.direction.name.lower()
        self.running: dict = {}  # future -> (optuna trial, Trial)

    def run(self, pool: _Pool, stop_after: int | None) -> SweepOutcome:
        scratch = tempfile.mkdtemp(prefix="nnclf-sweep-")
        done, ran = _done_in_study(self.study), 0
        try:
            while True:
                while len(self.running) < pool.size and done + len(self.running) < self._target:
                    if not self._start(pool, scratch):  # a proposal the config refused
                        done, ran = done + 1, ran + 1
                        if ran == stop_after:
                            raise KeyboardInterrupt
                if not self.running:
                    break
                for future in sorted(pool.wait(list(self.running)), key=self._number):
                    otrial, trial = self.running.pop(future)
                    result = future.result()
                    self._end(otrial, trial, result)
                    done, ran = done + 1, ran + 1
                    if result["status"] == "interrupted" or ran == stop_after:
                        raise KeyboardInterrupt  # Ctrl-C reached the trial first, or stop_after
        except KeyboardInterrupt:
            with signals_held(deliver=False):
                for otrial, _ in self.running.values():
                    _tell(self.study, otrial, "interrupted", None, "")
            return SweepOutcome(self.sweep_dir, "interrupted", self.rows)
        finally:
            pool.close(cancel=bool(self.running))
            shutil.rmtree(scratch, ignore_errors=True)
        return SweepOutcome(self.sweep_dir, "finished", self.rows)

    @property
    def _target(self) -> int:
        return self.sweep.search.trials

    def _number(self, future) -> int:
        return self.running[future][0].number

    def _start(self, pool: _Pool, scratch: str) -> bool:
        """Ask for the next trial, record it in trials.json and start it (True), or record
        it as failed when its config is refused (False)."""
        sweep = self.sweep
        with signals_held(deliver=True):
            otrial = self.study.ask(self.dists)
            values = _values(otrial.params, sweep.space, self.dists)
            try:
                trial = build_trial(
                    otrial.number, values, None, sweep.base_raw, sweep.base_dir, {}, sweep.metric
                )
                error = None
            except NnclfError as e:
                error = " ".join(str(e).split())
                sets = [f"{k}={v}" for k, v in values.items()]
                trial = Trial(otrial.number, values, None, sets, sweep.base_config)
            sweep.trials.append(trial)
            write_trials(self.sweep_dir, sweep)
            if error is not None:
                result = {"status": "failed", "metrics": None, "files": {}, "error": error}
                self._end(otrial, trial, result | {"seconds": 0.0})
                return False
        _check_in_the_way(self.sweep_dir, trial)
        where = str(self.sweep_dir.resolve() / trial.name)
        driver = os.getpid() if pool.local_processes else None
        child = None if self.parent is None else self.parent.child(trial.name)
        future = pool.submit(
            run_trial, trial.name, trial.config, where, scratch, driver, child, self._watch(otrial)
        )
        self.running[future] = (otrial, trial)
        return True

    def _watch(self, otrial) -> Pruning | None:
        key = PRUNED_BY.get(self.sweep.metric)
        if key is None:
            return None
        pruner = self.sweep.search.pruner
        before = []
        if pruner != "none":
            before = [t for t in self.study.get_trials(deepcopy=False) if t.number < otrial.number]
        return Pruning(pruner, self.direction, self.study.study_name, before, key)

    def _end(self, otrial, trial: Trial, result: dict) -> None:
        """Write the trial's files and row, report its evaluations and tell the study.

        The reports are one database write each, so a trial of many thousand evaluations
        takes a while: Ctrl-C may stop them, and the trial, running in the study but ended
        in sweep.csv, is told from its row on resume (:func:`_continue`)."""
        with signals_held(deliver=True):
            _record(self.sweep_dir, self.sweep, trial, result, self.rows)
        replay = self.sweep.search.pruner == "hyperband"  # its rungs live in the study
        for step, value in result.get("reports", []):
            otrial.report(value, step)
            replay = replay and not otrial.should_prune()
        with signals_held(deliver=True):
            value = metric_value(result["metrics"] or {}, self.sweep.metric)
            _tell(self.study, otrial, result["status"], value, result["error"])
        if self.notify is not None:
            count = ended(self.sweep_dir, self.sweep, self.rows)
            self.notify(_progress(self.sweep, self.rows[trial.name], count))


class _Pool:
    """Where trials run: in this process (one job), in local loky processes, or on a Dask
    cluster; :meth:`wait` returns the futures that are done."""

    def __init__(self, jobs: int, scheduler: str | None):
        self.client = self.executor = None
        self.size, self.local_processes = 1, False
        if scheduler is not None:
            self.client = _connect(scheduler)
            self.size = max(1, sum(self.client.nthreads().values()))
        elif jobs > 1:
            # A pool of its own: joblib's shared one is for joblib's backend (random sweeps).
            from joblib.externals.loky import ProcessPoolExecutor

            self.executor = ProcessPoolExecutor(max_workers=jobs)
            self.size, self.local_processes = jobs, True

    def submit(self, fn, *args):
        if self.client is not None:
            return self.client.submit(fn, *args, pure=False)
        if self.executor is not None:
            return self.executor.submit(fn, *args)
        return _Done(fn(*args))

    def wait(self, futures: list) -> list:
        if self.client is not None:
            from distributed import wait

            return list(wait(futures, return_when="FIRST_COMPLETED").done)
        if self.executor is not None:
            import concurrent.futures

            return list(concurrent.futures.wait(futures, return_when="FIRST_COMPLETED").done)
        return futures

    def close(self, cancel: bool) -> None:
        if self.client is not None:
            self.client.close()
        elif self.executor is not None:
            self.executor.shutdown(wait=not cancel, kill_workers=cancel)


class _Done:
    """A trial run in this process, as a future that is done."""

    def __init__(self, result: dict):
        self._result = result

    def result(self) -> dict:
        return self._result
