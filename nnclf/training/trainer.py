"""Stochastic gradient descent, as in the notes, with every gradient from backpropagation.

Contract
--------
The default is the notes' algorithm exactly::

    for t = 1 .. T:
        pick i uniformly at random from {1 .. n}
        L = -log p(y_i | x_i)
        theta <- theta - eta^t dL/dtheta     for theta in W, b, V, gamma

:meth:`Trainer.fit` is that loop; each line is one part with one job. "Pick i" is the
:class:`~nnclf.training.sampler.Sampler`; eta^t the :class:`~nnclf.training.schedules.Schedule`; L the forward
pass of the network's graph; the update :meth:`Optimizer.step
<nnclf.training.optimizers.Optimizer.step>`: the backward pass, then theta <- theta - eta^t
dL/dtheta by the update rule, defined once in :mod:`nnclf.training.updates` for both engines
(for plain SGD fused: the backward pass seeded with p^n = -eta^t and added into the
parameters in place). Around the loop: evaluations every epoch (or every ``eval_every`` steps), each a
history row, shown by a :class:`~nnclf.training.progress.Progress` reporter, given to the callbacks and
to the :class:`~nnclf.training.stopping.EarlyStopper`; Ctrl-C, which stops between two steps;
divergence, which puts back the last finite parameters and raises
:class:`~nnclf.errors.DivergenceError`.

Beyond the notes, all off by default: weights (``fit(..., sample_weight=w)`` draws i with
probability w_i / sum(w)), ``sampling="shuffle"`` (a new permutation every epoch), ``batch_size
> 1`` (the mean gradient over a minibatch), ``momentum`` (optionally Nesterov), the ``adagrad``
and ``adam`` optimizers, ``l2`` weight decay on the weight matrices, gradient clipping,
averaging, a validation set, early stopping, callbacks.

Averaged SGD (:class:`~nnclf.training.optimizers.RunningAverage`): the average, once started, is the
model that evaluations see and that a finished fit leaves in the network.

Determinism and resuming: every random choice comes from one ``numpy.random.Generator``,
owned by the sampler. :meth:`Trainer.state_dict` holds everything that defines the rest of
the run, so stopping after k steps, saving (:func:`save_checkpoint`), restoring and finishing
gives bit-identical parameters to an uninterrupted run. :meth:`Trainer.extend` continues a
trainer past its T, for more steps and possibly other settings.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np

from nnclf.base.archive import read_archive, write_archive
from nnclf.base.rules import as_dict, check_fields
from nnclf.data.npyfolder import Rows, checked_xy, log_proba
from nnclf.errors import CheckpointError, ConfigError, DataError, DivergenceError
from nnclf.graph.network import Network
from nnclf.training.engine import Choice, CompiledLoop, Interrupt, engine_loop
from nnclf.training.optimizers import (
    RunningAverage,
    load_state,
    make_optimizer,
    model_shown,
    state_arrays,
)
from nnclf.training.progress import Progress
from nnclf.training.sampler import Sampler
from nnclf.training.settings import EarlyStopping, SGDSettings
from nnclf.training.stopping import EarlyStopper

# EarlyStopping, SGDSettings (nnclf.training.settings) and DivergenceError (nnclf.errors) are
# re-exported for the trainer's callers.
__all__ = [
    "Trainer",
    "FitResult",
    "save_checkpoint",
    "load_checkpoint",
    "EarlyStopping",
    "SGDSettings",
    "DivergenceError",
]


@dataclass
class FitResult:
    """How a call to :meth:`Trainer.fit` ended."""

    steps: int
    stopped: str  # "completed", "early_stopping", "callback", "interrupted"
    history: list[dict]
    best_step: int | None = None
    engine: str | None = None  # "numpy" or "numba": what ran the steps


class Trainer:
    """The notes' SGD on a :class:`~nnclf.graph.network.Network`, resumable and reproducible.

    Parameters
    ----------
    network : Network
        Trained in place: ``network.params`` are updated step by step.
    settings : SGDSettings
    seed : int
        Seeds the generator that picks the examples.
    progress : {"auto", "bar", "lines", "none"} or bool
        ``"auto"``: a tqdm bar when stderr is a terminal, else one line per evaluation.
    callbacks : sequence of callables
        ``callback(history)`` at every evaluation; a true return value stops training.

    Attributes
    ----------
    t : int
        Steps taken so far.
    history : list of dict
        One row per evaluation: step, epoch, eta, train_loss, val_loss, val_accuracy.
    interrupted : bool
        Whether the last :meth:`fit` was stopped by Ctrl-C.
    """

    def __init__(
        self,
        network: Network,
        settings: SGDSettings | None = None,
        seed: int = 0,
        progress="auto",
        callbacks: tuple[Callable, ...] = (),
    ):
        self.network = network
        self.seed = seed
        self.reporter = Progress(progress)
        self.callbacks = tuple(callbacks)
        self.t = 0
        self.history: list[dict] = []
        self._loss_sum, self._loss_count = 0.0, 0
        self._last_finite: tuple | None = None
        self.interrupted = False
        self.engine: Choice | None = None
        self.average: RunningAverage | None = None
        settings = settings if settings is not None else SGDSettings()
        self.sampler = Sampler(settings.sampling, settings.batch_size, seed)
        self._use(settings, {})

    def _use(self, settings: SGDSettings, kept_state: Mapping) -> None:
        """Take ``settings``: schedule, optimizer (its state from ``kept_state`` where the
        slots agree, else fresh), averaging (going on) and early stopping (afresh)."""
        self.settings = settings
        self.schedule = settings.make_schedule()
        self.optimizer = make_optimizer(settings)
        self.opt_state = self.optimizer.init(self.network.params)
        for slot, values in self.opt_state.items():
            for name, value in kept_state.get(slot, {}).items():
                values[name][...] = value
        self.average = RunningAverage.going_on(
            self.average, self.network.params, settings.average_start
        )
        rule = settings.early_stopping
        self.stopper = EarlyStopper(rule) if rule is not None else None
        self.best_params: dict | None = None

    @classmethod
    def from_state(
        cls,
        network: Network,
        arrays: Mapping[str, np.ndarray],
        state: Mapping,
        progress="none",
        callbacks: tuple[Callable, ...] = (),
    ) -> Trainer:
        """A trainer that continues ``state`` (from :meth:`state_dict` or a checkpoint) under
        the settings and seed it was saved with; ``network`` takes the saved parameters."""
        try:
            settings = _settings_from_json(state["settings"])
        except (KeyError, TypeError) as e:
            raise CheckpointError(f"checkpoint: its settings cannot be read ({e})") from None
        trainer = cls(network, settings, seed=state["seed"], progress=progress, callbacks=callbacks)
        trainer.load_state_dict(arrays, state)
        return trainer

    def extend(self, steps: int, settings: SGDSettings | None = None) -> int:
        """Let training go on for ``steps`` steps past the current t; returns the new T.

        Parameters
        ----------
        steps : int
            The next :meth:`fit` trains to T = t + steps.
        settings : SGDSettings, optional
            Settings to go on with (step-size schedule, momentum, batch size, ...; their
            ``epochs`` and ``steps`` are replaced by T). The optimizer's state (velocity,
            Adagrad's sums, Adam's moments and count) is kept where the slots agree, else
            starts from zero; a running average goes on. Early stopping starts afresh (its
            best score belonged to the earlier steps); an unchanged plateau schedule goes on.
        """
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
            raise ConfigError(f"extend: steps must be an integer >= 1, got {steps!r}")
        settings = settings if settings is not None else self.settings
        T = self.t + int(steps)
        sampler = Sampler(settings.sampling, settings.batch_size, self.seed)
        sampler.load_state_dict(self.sampler.state_dict())
        self.sampler = sampler
        schedule = self.schedule
        self._use(replace(settings, epochs=None, steps=T), self.opt_state)
        if schedule.to_dict() == self.schedule.to_dict():  # the same plateau goes on
            self.schedule.load_state_dict(schedule.state_dict())
        return T

    @property
    def best_step(self) -> int | None:
        """The step of the best evaluation, with early stopping; else None."""
        return self.stopper.best_step if self.stopper is not None else None

    @property
    def best_score(self) -> float | None:
        """The best value of the early-stopping metric; None without early stopping."""
        return self.stopper.best_score if self.stopper is not None else None

    # ------------------------------------------------------------------ the loop

    def fit(
        self, X, y, X_val=None, y_val=None, max_steps: int | None = None, sample_weight=None
    ) -> FitResult:
        """Train until step T (or ``max_steps`` more steps, or a stop rule).

        Parameters
        ----------
        X : ndarray or :class:`~nnclf.data.npyfolder.Rows` (read a row a step), shape (n, d)
        y : ndarray of int, shape (n,)
            Class indices 0..K-1.
        X_val, y_val : optional validation set, shapes (n_val, d) and (n_val,).
        max_steps : int, optional
            Stop after this many steps of this call (training can be continued by
            calling ``fit`` again, or after a save and restore).
        sample_weight : array-like of shape (n,), optional
            i is drawn with probability w_i / sum(w) (None: uniform); not in the state.
        """
        X, y, X_val, y_val = self._checked(X, y, X_val, y_val)
        self.sampler.weigh(sample_weight, len(X))
        if self.average is not None:
            self.average.put_back(self.network.params)
        T = self.settings.total_steps(len(X))
        stop_at = T if max_steps is None else min(T, self.t + max_steps)
        stopped = "completed"
        self._remember_if_finite()
        # Chosen for the run's T, not what this call has left: a run cut into calls (Ctrl-C and
        # resume) takes one engine throughout and ends bit-identical to an uninterrupted one.
        loop = self._engine(T, isinstance(X, Rows))
        with (
            self.reporter.open(T, self.t),
            Interrupt() as interrupt,
            np.errstate(over="ignore", invalid="ignore"),
        ):
            while self.t < stop_at and stopped == "completed":
                epoch_start, picks = self.sampler.epoch(self.t, len(X))
                epoch_end = epoch_start + len(picks)
                if not self._steps(
                    X, y, picks, epoch_start, self._pause(epoch_end, stop_at), interrupt, loop
                ):
                    stopped = "interrupted"
                    break
                if self.t == epoch_end:
                    # The next epoch draws from here, before any callback can save the state.
                    self.sampler.next_epoch(self.t)
                if self._evaluation_due(epoch_end, T):
                    # What is evaluated, kept as the best and saved: the model.
                    with model_shown(self.average, self.network.params):
                        stopped = self._evaluate(X_val, y_val, len(picks))
        if not self._params_finite():  # the very last update overflowed
            self._diverged(self.t, "its update made the parameters infinite or NaN")
        self.interrupted = stopped == "interrupted"
        if self.average is not None and (stopped in ("early_stopping", "callback") or self.t == T):
            self.average.show(self.network.params)
        if stopped == "early_stopping" or (stopped == "completed" and self.t == T):
            self.restore_best()
        engine = None if self.engine is None else self.engine.name
        return FitResult(self.t, stopped, self.history, self.best_step, engine)

    def _engine(self, steps: int, rows: bool) -> CompiledLoop | None:
        """The compiled loop (``rows``: X is Rows), or None for numpy; progress says which."""
        said = self.engine
        self.engine, loop = engine_loop(
            self.network, self.settings, self.opt_state, steps, self.average, rows
        )
        if self.engine != said:
            self.reporter.say(str(self.engine))
        return loop

    def _took(self, t: int, loss_sum: float) -> None:
        """Count steps self.t + 1 .. t as taken, their losses summed into ``loss_sum``."""
        self._loss_sum = loss_sum
        self._loss_count += t - self.t
        self.reporter.advance(t - self.t)
        self.t = t

    def _steps(self, X, y, picks, epoch_start: int, stop: int, interrupt, loop=None) -> bool:
        """Steps t + 1 .. stop of the epoch that started at ``epoch_start`` (by the compiled
        ``loop`` when given); False if Ctrl-C interrupted them."""
        if loop is not None:
            return self._compiled_steps(X, y, epoch_start, stop, interrupt, loop)
        executor = self.network.executor()
        leaves = self.network.leaf_values(X[0], y[0])
        schedule = self.schedule
        params, opt_state = self.network.params, self.opt_state
        step = self.optimizer.step
        average = self.average.update if self.average is not None else None
        # Continue the running sum (not a fresh partial sum), so that the additions happen in
        # the same order however the run is cut into calls: resumed histories match exactly.
        loss_sum = self._loss_sum
        t = self.t
        try:
            while t < stop:
                if interrupt.requested:
                    return False
                rows = picks[t - epoch_start]  # pick i
                leaves["x"] = X[rows]
                leaves["y"] = y[rows]
                eta = schedule(t + 1)
                loss = executor.forward(leaves)  # L = -log p(y_i | x_i)
                if not math.isfinite(loss):
                    self._diverged(t + 1, f"the loss is {loss}")
                step(executor, eta, params, opt_state)  # theta <- theta - eta dL/dtheta
                if average is not None:
                    average(params, t + 1)
                loss_sum += loss
                t += 1
        finally:
            self._took(t, loss_sum)
        return True

    def _compiled_steps(self, X, y, epoch_start: int, stop: int, interrupt, loop) -> bool:
        """As :meth:`_steps`, every step in native code (see :mod:`nnclf.training.engine`)."""
        t, loss_sum = self.t, self._loss_sum
        try:
            t, loss_sum, bad = loop.run(
                X, y, self.sampler.order, epoch_start, t, stop, self.schedule, loss_sum, interrupt
            )
            if bad is not None:
                self._diverged(t + 1, f"the loss is {bad}")
        finally:
            self._took(t, loss_sum)
        return t == stop

    def _checked(self, X, y, X_val, y_val):
        X, y = checked_xy(self.network, X, y)
        if X.ndim != 2 or not len(X):
            raise DataError("X must be a non-empty (n, d) array")
        X_val, y_val = checked_xy(self.network, X_val, y_val)
        rule, no_val = self.settings.early_stopping, X_val is None or not len(X_val)
        if rule is not None and rule.metric.startswith("val_") and no_val:
            raise ConfigError(
                f" is {rule.metric}, which needs a validation set; give X_val "
                "and y_val, or use metric train_loss",
                name="early_stopping.metric",
            )
        if self.schedule.needs_validation and no_val:
            raise ConfigError(
                f" is {self.schedule.name}, driven by the validation loss; give "
                "X_val and y_val, or choose another schedule",
                name="schedule",
            )
        return X, y, X_val, y_val

    def _pause(self, epoch_end: int, stop_at: int) -> int:
        """Where the run of steps from t must pause: the epoch's end, the next evaluation,
        the end of this call, or a progress-bar update."""
        pause = min(stop_at, epoch_end)
        every = self.settings.eval_every
        if every is not None:
            pause = min(pause, (self.t // every + 1) * every)
        if self.reporter.every is not None:
            pause = min(pause, self.t + self.reporter.every)
        return pause

    def _evaluation_due(self, epoch_end: int, T: int) -> bool:
        every = self.settings.eval_every
        return self.t == T or (self.t % every == 0 if every is not None else self.t == epoch_end)

    # ------------------------------------------------------------------ evaluation

    def _evaluate(self, X_val, y_val, epoch_steps: int) -> str:
        """Record a history row; returns "completed" to go on, or why training stops."""
        row = {
            "step": self.t,
            "epoch": self.t / epoch_steps,
            "eta": self.schedule(max(self.t, 1)),
            "train_loss": self._loss_sum / self._loss_count if self._loss_count else float("nan"),
            "val_loss": float("nan"),
            "val_accuracy": float("nan"),
        }
        if X_val is not None and len(X_val):
            log_p = log_proba(self.network, X_val)
            row["val_loss"] = float(-np.mean(log_p[np.arange(len(y_val)), y_val]))
            row["val_accuracy"] = float(np.mean(np.argmax(log_p, axis=1) == y_val))
        self._loss_sum, self._loss_count = 0.0, 0
        self.schedule.observe(row["val_loss"])  # reduce on plateau: from the next step on
        self.history.append(row)
        self.reporter.report(row)
        self._remember_if_finite()
        out_of_patience = False
        if self.stopper is not None:
            out_of_patience = self.stopper.update(row[self.stopper.rule.metric], self.t)
            if self.stopper.improved and self.stopper.rule.restore_best:
                self.best_params = self._copy_params()
        # Every callback sees every evaluation, the one that stops training included.
        asked_to_stop = [bool(cb(self.history)) for cb in self.callbacks]
        if out_of_patience:
            return "early_stopping"
        return "callback" if any(asked_to_stop) else "completed"

    def restore_best(self) -> None:
        """Put the best parameters seen back into the network (when early stopping kept them)."""
        if self.best_params is not None:
            for name, value in self.best_params.items():
                self.network.params[name][...] = value

    def _copy_params(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self.network.params.items()}

    def _params_finite(self) -> bool:
        return all(np.isfinite(p).all() for p in self.network.params.values())

    def _remember_if_finite(self) -> None:
        """Keep a copy of finite parameters (at the start and at each evaluation), to go
        back to if training diverges."""
        if self._params_finite():
            self._last_finite = (self.t, self._copy_params())

    def _diverged(self, step: int, what: str) -> None:
        params = self.network.params
        kept = f"the parameters after step {step - 1} are kept"
        if not self._params_finite():
            if self._last_finite is None:
                kept = "no finite parameters were recorded to go back to"
            else:
                good_step, good = self._last_finite
                for name, value in good.items():
                    params[name][...] = value
                kept = f"the parameters of step {good_step} are restored"
        raise DivergenceError(
            f"training diverged at step {step}: {what}; {kept}. "
            f"Try a smaller step size (schedule eta0, now {self.schedule.params.get('eta0')})",
            kept=kept,
        )

    # ------------------------------------------------------------------ state

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict]:
        """Everything needed to continue exactly: (arrays by name, JSON-able state).

        The arrays are ``param_<name>``, the optimizer's and the running average's
        (:func:`~nnclf.training.optimizers.state_arrays`) and, when early stopping keeps them,
        ``best_<name>``; the arrays themselves, not copies.
        """
        arrays = {f"param_{k}": v for k, v in self.network.params.items()}
        more, averaging = state_arrays(self.opt_state, self.average)
        arrays.update(more)
        if self.best_params is not None:
            arrays.update({f"best_{k}": v for k, v in self.best_params.items()})
        stopper = self.stopper or EarlyStopper(EarlyStopping())
        state = {
            "t": self.t,
            "seed": self.seed,
            **self.sampler.state_dict(),
            "history": self.history,
            **stopper.state_dict(),
            "loss_sum": self._loss_sum,
            "loss_count": self._loss_count,
            "schedule": self.schedule.to_dict(),
            "settings": as_dict(self.settings),
            "schedule_state": self.schedule.state_dict(),
            **averaging,
        }
        return arrays, state

    def load_state_dict(self, arrays: Mapping[str, np.ndarray], state: Mapping) -> None:
        """Restore what :meth:`state_dict` returned (parameters included).

        The checkpoint must come from a trainer with the same settings and network shape;
        otherwise continuing it would not be the same run (to go on under other settings,
        use :meth:`extend` after restoring); settings newer than the file are the defaults.
        """
        saved = {**_ADDED_LATER, **_as_json(state["settings"])}
        mine = _as_json(as_dict(self.settings))
        for key in mine:
            # The engine is not part of the run: both take the same steps.
            if key != "engine" and saved.get(key) != mine[key]:
                raise CheckpointError(
                    f"checkpoint: it was written with train.{key} = {saved.get(key)!r}, "
                    f"not {mine[key]!r}; resume with the run's own settings"
                )
        names = self.network.param_names
        for k in names:
            shape = np.shape(_array(arrays, f"param_{k}"))
            if shape != self.network.params[k].shape:
                raise CheckpointError(
                    f"checkpoint: parameter {k} has shape {shape}, but the network's is "
                    f"{self.network.params[k].shape}; resume with the run's own model settings"
                )
        for k in names:
            self.network.params[k][...] = arrays[f"param_{k}"]
        load_state(self.opt_state, self.average, arrays, state)
        self.best_params = (
            {k: np.array(arrays[f"best_{k}"]) for k in names}
            if f"best_{names[0]}" in arrays
            else None
        )
        self.t = int(state["t"])
        self.sampler.load_state_dict(state)
        self.history = [dict(r) for r in state["history"]]
        if self.stopper is not None:
            self.stopper.load_state_dict(state)
        self._loss_sum = float(state["loss_sum"])
        self._loss_count = int(state["loss_count"])
        self.schedule.load_state_dict(state.get("schedule_state"))


def _array(arrays: Mapping[str, np.ndarray], key: str) -> np.ndarray:
    if key not in arrays:
        raise CheckpointError(
            f"checkpoint: no array {key!r}; it was not written by this run's trainer"
        )
    return arrays[key]


def _as_json(value: Mapping) -> dict:
    """``value`` as it reads back from a checkpoint's JSON (lists for tuples, plain ints),
    so that a saved and a live state compare equal and a generator state restores."""
    return json.loads(json.dumps(value))


# Checkpoints written before these settings existed lack them: they were at their defaults.
_ADDED_LATER = {k: v for k, v in as_dict(SGDSettings()).items() if k in ("optimizer", "average")}


def _settings_from_json(d: Mapping) -> SGDSettings:
    """The settings :func:`nnclf.base.rules.as_dict` recorded."""
    d = dict(d)
    rule = d.pop("early_stopping", None)
    return SGDSettings(**d, early_stopping=EarlyStopping(**rule) if rule is not None else None)


CHECKPOINT_FIELDS = {
    "t": "int>=0",
    "seed": "int>=0",
    "epoch_rng_state": "rng_state",
    "epoch_start": "int>=0?",
    "history": "records",
    "best_score": "float?",
    "best_step": "int>=0?",
    "bad_evals": "int>=0",
    "loss_sum": "float",
    "loss_count": "int>=0",
    "schedule": "mapping",
    "settings": "mapping",
    # "extra" (the run's record) is read field by field, with defaults, by nnclf.runs.run.
}
"""What each field of a checkpoint's state (:meth:`nnclf.training.trainer.Trainer.state_dict`) must be."""


def check_checkpoint_state(state: Mapping, error: Callable[[str], Exception]) -> Mapping:
    """``state`` after :func:`check_fields` with :data:`CHECKPOINT_FIELDS` and the relations
    between fields that continuing relies on (the epoch, and the best step, no later than t)."""
    check_fields(state, CHECKPOINT_FIELDS, error)
    for name in ("epoch_start", "best_step"):
        if state.get(name) is not None and state[name] > state["t"]:
            raise error(
                f"its {name!r} is {state[name]}, after its step t = {state['t']}; "
                "the file was edited or damaged: use the file nnclf wrote"
            )
    return state


def save_checkpoint(path, trainer: Trainer, extra: Mapping | None = None):
    """Write the trainer's full state to ``path`` (an archive; atomic, no pickles)."""
    arrays, state = trainer.state_dict()
    return write_archive(path, arrays, dict(state, extra=dict(extra or {})), meta_key="state")


def load_checkpoint(path) -> tuple[dict[str, np.ndarray], dict]:
    """(arrays, state) from a file written by :func:`save_checkpoint`, its fields' types checked."""
    error = lambda problem: CheckpointError(f"checkpoint '{path}': {problem}")  # noqa: E731
    arrays, state = read_archive(path, meta_key="state", kind="an nnclf checkpoint", error=error)
    return arrays, check_checkpoint_state(state, error)
