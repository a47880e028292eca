"""Stochastic gradient descent, as in the notes, with every gradient from backpropagation.

Contract
--------
The default is the notes' algorithm exactly::

    for t = 1 .. T:
        pick i uniformly at random from {1 .. n}
        L = -log p(y_i | x_i)
        theta <- theta - eta^t dL/dtheta     for theta in W, b, V, gamma

The gradients are the backward pass of the network's graph. Backpropagation is linear in its
seed p^n, so the plain update starts the backward pass from p^n = -eta^t and adds the result
to each parameter in place.

Beyond the notes, all off by default: ``sampling="shuffle"`` (a new permutation every epoch),
``batch_size > 1`` (the mean gradient over a minibatch), ``momentum`` (optionally Nesterov),
``l2`` weight decay on W and V, gradient clipping by global norm, a validation set evaluated
every ``eval_every`` steps, early stopping, callbacks.

Determinism and resuming: every random choice comes from one ``numpy.random.Generator``.
Indices are drawn one epoch at a time; the generator's state at the start of the current epoch
is part of :meth:`Trainer.state_dict`, so stopping after k steps, saving, restoring and
finishing gives bit-identical parameters to an uninterrupted run.
"""

from __future__ import annotations

import json
import math
import signal
import sys
import threading
from dataclasses import asdict, dataclass
from typing import Callable, Mapping

import numpy as np
from tqdm.auto import tqdm

from .archive import read_archive, write_archive
from .errors import CheckpointError, ConfigError, DataError, DivergenceError
from .model import PARAMS, Network
from .schedules import Schedule
from .settings import METRICS, EarlyStopping, SGDSettings

__all__ = [
    "EarlyStopping",
    "SGDSettings",
    "Trainer",
    "FitResult",
    "DivergenceError",
    "save_checkpoint",
    "load_checkpoint",
]

PROGRESS_EVERY = 2000
"""Steps between progress-bar updates."""
DECAYED = ("W", "V")
"""Parameters that l2 weight decay applies to (the biases are not decayed)."""


def _check(condition: bool, message: str, error=ConfigError) -> None:
    if not condition:
        raise error(message)


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


@dataclass
class FitResult:
    """How a call to :meth:`Trainer.fit` ended."""

    steps: int
    stopped: str  # "completed", "early_stopping", "callback", "interrupted"
    history: list[dict]
    best_step: int | None = None


class _Interrupt:
    """Turns Ctrl-C into a flag read between steps, so a step is never cut in half."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


class Trainer:
    """The notes' SGD on a :class:`~nnclf.model.Network`, resumable and reproducible.

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
    """

    def __init__(self, network: Network, settings: SGDSettings | None = None, seed: int = 0,
                 progress="auto", callbacks: tuple[Callable, ...] = ()):
        self.network = network
        self.settings = settings if settings is not None else SGDSettings()
        self.schedule = self.settings.make_schedule()
        self.seed = seed
        self.progress = {True: "auto", False: "none"}.get(progress, progress)
        _check(self.progress in ("auto", "bar", "lines", "none"),
               f"progress must be 'auto', 'bar', 'lines' or 'none', got {progress!r}")
        self.callbacks = tuple(callbacks)
        self.rng = np.random.default_rng(seed)
        self.t = 0
        self.history: list[dict] = []
        self.velocity = ({name: np.zeros_like(p) for name, p in network.params.items()}
                         if self.settings.momentum > 0 else None)
        self.best_params: dict | None = None
        self.best_score: float | None = None
        self.best_step: int | None = None
        self.bad_evals = 0
        self._epoch_rng_state = self.rng.bit_generator.state
        self._loss_sum = 0.0
        self._loss_count = 0
        self._last_finite: tuple | None = None
        self.interrupted = False

    # ------------------------------------------------------------------ sampling

    def _draw_epoch(self, n: int) -> np.ndarray:
        """The example indices of one epoch: (steps_per_epoch * batch_size,) for uniform
        sampling (with replacement), a permutation of 0..n-1 for shuffle."""
        if self.settings.sampling == "uniform":
            return self.rng.integers(0, n, size=self.settings.steps_per_epoch(n) * self.settings.batch_size)
        return self.rng.permutation(n)

    # ------------------------------------------------------------------ evaluation

    def _evaluate(self, X_val, y_val, epoch_steps: int, bar) -> str:
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
            log_p = self.network.predict_log_proba(X_val)
            row["val_loss"] = float(-np.mean(log_p[np.arange(len(y_val)), y_val]))
            row["val_accuracy"] = float(np.mean(np.argmax(log_p, axis=1) == y_val))
        self._loss_sum, self._loss_count = 0.0, 0
        self.history.append(row)
        self._report(row, bar)
        self._remember_if_finite()
        # Every callback sees every evaluation, the one that stops training included.
        asked_to_stop = [bool(cb(self.history)) for cb in self.callbacks]
        if self._early_stop(row):
            return "early_stopping"
        return "callback" if any(asked_to_stop) else "completed"

    def _params_finite(self) -> bool:
        return all(np.isfinite(p).all() for p in self.network.params.values())

    def _remember_if_finite(self) -> None:
        """Keep a copy of finite parameters (at the start and at each evaluation), to go
        back to if training diverges."""
        if self._params_finite():
            self._last_finite = (self.t, {k: v.copy() for k, v in self.network.params.items()})

    def _early_stop(self, row: dict) -> bool:
        rule = self.settings.early_stopping
        if rule is None:
            return False
        score = row[rule.metric]
        better = (self.best_score is None
                  or (score < self.best_score - rule.min_delta if METRICS[rule.metric] == "min"
                      else score > self.best_score + rule.min_delta))
        if better:
            self.best_score, self.best_step, self.bad_evals = score, self.t, 0
            if rule.restore_best:
                self.best_params = {k: v.copy() for k, v in self.network.params.items()}
            return False
        self.bad_evals += 1
        return self.bad_evals >= rule.patience

    # ------------------------------------------------------------------ the loop

    def fit(self, X, y, X_val=None, y_val=None, max_steps: int | None = None) -> FitResult:
        """Train until step T (or ``max_steps`` more steps, or a stop rule).

        Parameters
        ----------
        X : ndarray, shape (n, d)
        y : ndarray of int, shape (n,)
            Class indices 0..K-1.
        X_val, y_val : optional validation set, shapes (n_val, d) and (n_val,).
        max_steps : int, optional
            Stop after this many steps of this call (training can be continued by
            calling ``fit`` again, or after a save and restore).
        """
        X, y = self.network._check_xy(X, y)
        _check(X.ndim == 2 and len(X) > 0, "X must be a non-empty (n, d) array", DataError)
        if X_val is not None:
            X_val, y_val = self.network._check_xy(X_val, y_val)
        rule = self.settings.early_stopping
        if rule is not None and rule.metric.startswith("val_") and (X_val is None or not len(X_val)):
            raise ConfigError(
                f"train.early_stopping.metric is {rule.metric}, which needs a validation set; "
                "set data.validation_fraction > 0 or use metric: train_loss"
            )
        X = np.ascontiguousarray(X)
        n = len(X)
        T = self.settings.total_steps(n)
        epoch_steps = self.settings.steps_per_epoch(n)
        eval_every = self.settings.eval_every or epoch_steps
        stop_at = T if max_steps is None else min(T, self.t + max_steps)
        stopped = "completed"
        self._remember_if_finite()
        bar = self._progress_bar(T)
        try:
            with _Interrupt() as interrupt, np.errstate(over="ignore", invalid="ignore"):
                while self.t < stop_at and stopped == "completed":
                    # Redraw the epoch from its saved generator state, so that a resumed run
                    # sees exactly the indices an uninterrupted one would.
                    epoch_start = (self.t // epoch_steps) * epoch_steps
                    self.rng.bit_generator.state = self._epoch_rng_state
                    order = self._draw_epoch(n)
                    if self.settings.batch_size == 1:
                        order = order.tolist()  # Python ints index rows fastest
                    epoch_end = min(stop_at, epoch_start + epoch_steps)
                    while self.t < epoch_end and stopped == "completed":
                        boundary = min(epoch_end, (self.t // eval_every + 1) * eval_every)
                        if bar is not None:  # let the bar move within long epochs
                            boundary = min(boundary, self.t + PROGRESS_EVERY)
                        if not self._run_steps(X, y, order, epoch_start, boundary, interrupt, bar):
                            stopped = "interrupted"
                            break
                        if self.t == epoch_start + epoch_steps:
                            # The epoch is done: the next one draws from here (before any
                            # callback can save a checkpoint).
                            self._epoch_rng_state = self.rng.bit_generator.state
                        if self.t % eval_every == 0 or self.t == T:
                            stopped = self._evaluate(X_val, y_val, epoch_steps, bar)
        finally:
            if bar is not None:
                bar.close()
        if not self._params_finite():  # the very last update overflowed
            self._diverged(self.t, "its update made the parameters infinite or NaN")
        self.interrupted = stopped == "interrupted"
        if stopped == "early_stopping" or (stopped == "completed" and self.t == T):
            self.restore_best()
        return FitResult(self.t, stopped, self.history, self.best_step)

    def restore_best(self) -> None:
        """Put the best parameters seen back into the network (when early stopping kept them)."""
        if self.best_params is not None:
            for name, value in self.best_params.items():
                self.network.params[name][...] = value

    def _run_steps(self, X, y, order, epoch_start, stop, interrupt, bar) -> bool:
        """Steps self.t + 1 .. stop of the current epoch; False if Ctrl-C interrupted."""
        s = self.settings
        B = s.batch_size
        net = self.network
        params = net.params
        ex = net.executor()
        leaves = net.leaf_values(X[0], y[0])
        schedule = self.schedule
        plain = s.momentum == 0 and s.l2 == 0 and s.clip_norm is None
        # Continue the running sum (not a fresh partial sum), so that the additions happen in
        # the same order however the run is cut into calls: resumed histories match exactly.
        loss_sum = self._loss_sum
        t = self.t
        start = t
        try:
            while t < stop:
                if interrupt.requested:
                    return False
                k = t - epoch_start
                if B == 1:
                    i = order[k]
                    leaves["x"] = X[i]
                    leaves["y"] = y[i]
                else:
                    # For shuffle, the epoch's last slice may be shorter than B.
                    rows = order[k * B:(k + 1) * B]
                    leaves["x"] = X[rows]
                    leaves["y"] = y[rows]
                eta = schedule(t + 1)
                o = ex.forward(leaves)
                if not math.isfinite(o):
                    self._diverged(t + 1, f"the loss is {o}")
                if plain:
                    # p^n = -eta^t, summed into the parameters: theta - eta^t dL/dtheta.
                    ex.backward(-eta, into=params)
                else:
                    self._update(ex.backward(1.0), eta)
                loss_sum += o
                t += 1
        finally:
            self._loss_sum = loss_sum
            self._loss_count += t - self.t
            self.t = t
            if bar is not None:
                bar.update(t - start)
        return True

    def _update(self, grads: dict, eta: float) -> None:
        """theta <- theta - eta (g + l2 theta), with momentum and clipping when asked for."""
        s = self.settings
        params = self.network.params
        scale = 1.0
        if s.clip_norm is not None:
            norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))
            if norm > s.clip_norm:
                scale = s.clip_norm / norm
        for name in PARAMS:
            p, g = params[name], grads[name]
            step = g * scale
            if s.l2 > 0 and name in DECAYED:
                step += s.l2 * p
            if self.velocity is None:
                p -= eta * step
                continue
            v = self.velocity[name]
            v *= s.momentum
            v -= eta * step
            if s.nesterov:
                p += s.momentum * v - eta * step
            else:
                p += v

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
            f"Try a smaller step size (schedule eta0, now {self.schedule.params.get('eta0')})"
        )

    # ------------------------------------------------------------------ progress

    def _progress_bar(self, T: int):
        mode = self.progress
        if mode == "auto":
            mode = "bar" if sys.stderr.isatty() else "lines"
        self._lines = mode == "lines"
        if mode != "bar":
            return None
        return tqdm(total=T, initial=self.t, unit="step", dynamic_ncols=True, leave=False,
                    mininterval=0.2)

    def _report(self, row: dict, bar) -> None:
        parts = [f"eta={row['eta']:.3g}", f"loss={row['train_loss']:.4f}"]
        if math.isfinite(row["val_accuracy"]):
            parts += [f"val_loss={row['val_loss']:.4f}", f"val_acc={row['val_accuracy']:.4f}"]
        if bar is not None:
            bar.set_postfix_str(" ".join(parts), refresh=False)
        elif self._lines:
            print(f"step {row['step']} epoch {row['epoch']:.2f} " + " ".join(parts),
                  file=sys.stderr, flush=True)

    # ------------------------------------------------------------------ state

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict]:
        """Everything needed to continue exactly: (arrays by name, JSON-able state)."""
        arrays = {f"param_{k}": v for k, v in self.network.params.items()}
        if self.velocity is not None:
            arrays.update({f"velocity_{k}": v for k, v in self.velocity.items()})
        if self.best_params is not None:
            arrays.update({f"best_{k}": v for k, v in self.best_params.items()})
        state = {
            "t": self.t,
            "seed": self.seed,
            "epoch_rng_state": self._epoch_rng_state,
            "history": self.history,
            "best_score": self.best_score,
            "best_step": self.best_step,
            "bad_evals": self.bad_evals,
            "loss_sum": self._loss_sum,
            "loss_count": self._loss_count,
            "schedule": self.schedule.to_dict(),
            "settings": _settings_to_dict(self.settings),
        }
        return arrays, state

    def load_state_dict(self, arrays: Mapping[str, np.ndarray], state: Mapping) -> None:
        """Restore what :meth:`state_dict` returned (parameters included).

        The checkpoint must come from a trainer with the same settings and network shape;
        otherwise continuing it would not be the same run.
        """
        saved = _as_json(state["settings"])
        mine = _as_json(_settings_to_dict(self.settings))
        for key in mine:
            if saved.get(key) != mine[key]:
                raise CheckpointError(
                    f"checkpoint: it was written with train.{key} = {saved.get(key)!r}, "
                    f"not {mine[key]!r}; resume with the run's own settings"
                )
        for k in PARAMS:
            shape = np.shape(arrays[f"param_{k}"])
            if shape != self.network.params[k].shape:
                raise CheckpointError(
                    f"checkpoint: parameter {k} has shape {shape}, but the network's is "
                    f"{self.network.params[k].shape}; resume with the run's own model settings"
                )
        for k in PARAMS:
            self.network.params[k][...] = arrays[f"param_{k}"]
        if self.velocity is not None:
            for k in PARAMS:
                self.velocity[k][...] = arrays[f"velocity_{k}"]
        self.best_params = ({k: np.array(arrays[f"best_{k}"]) for k in PARAMS}
                            if "best_W" in arrays else None)
        self.t = int(state["t"])
        self._epoch_rng_state = _as_json(state["epoch_rng_state"])
        self.history = [dict(r) for r in state["history"]]
        self.best_score = state["best_score"]
        self.best_step = state["best_step"]
        self.bad_evals = int(state["bad_evals"])
        self._loss_sum = float(state["loss_sum"])
        self._loss_count = int(state["loss_count"])


def _as_json(value: Mapping) -> dict:
    """``value`` as it reads back from a checkpoint's JSON (lists for tuples, plain ints),
    so that a saved and a live state compare equal and a generator state restores."""
    return json.loads(json.dumps(value))


def _settings_to_dict(settings: SGDSettings) -> dict:
    d = asdict(settings)
    if isinstance(settings.schedule, Schedule):
        d["schedule"] = settings.schedule.to_dict()
    else:
        d["schedule"] = dict(settings.schedule)
    return d


def save_checkpoint(path, trainer: Trainer, extra: Mapping | None = None):
    """Write the trainer's full state to ``path`` (an archive; atomic, no pickles)."""
    arrays, state = trainer.state_dict()
    return write_archive(path, arrays, dict(state, extra=dict(extra or {})), meta_key="state")


def load_checkpoint(path) -> tuple[dict[str, np.ndarray], dict]:
    """(arrays, state) from a file written by :func:`save_checkpoint`."""
    return read_archive(path, meta_key="state", kind="an nnclf checkpoint",
                        error=lambda problem: CheckpointError(f"checkpoint '{path}': {problem}"))
