"""Which engine runs the SGD steps, and the compiled engine's loop between evaluations.

Contract
--------
Two engines run the same steps of :class:`~nnclf.training.trainer.Trainer` on the same graph:

- ``numpy``: the trainer's own loop, one forward and backward pass of the graph's
  :class:`~nnclf.graph.executor.Executor` per step;
- ``numba``: :class:`CompiledLoop`, the whole loop between two pauses of the trainer in
  native code (:mod:`nnclf.training.compiled`), on the same example indices (the sampler's epoch, drawn
  from the same generator), the same eta^t and the same update (every optimizer, and the
  running average with its rates computed here); results agree with the numpy engine to
  rounding. It runs with BLAS limited to one thread (:func:`one_blas_thread`).

Either engine stops between two steps on Ctrl-C (:class:`Interrupt`).

:func:`choose_engine` decides for a setting ``train.engine`` of ``auto``, ``numpy`` or
``numba`` and says why. ``auto`` takes numba when it is installed, every local function of
the graph has a compiled form, and the run is long enough (:data:`AUTO_MIN_STEPS`) to repay
compiling its step the first time (so that the choice, and the results to rounding, depend
on the settings and the installation only, never on what happens to be cached), and each
step is one example (minibatches stay on numpy's BLAS, measured faster); it does not
look at the network's size, because the compiled engine was measured at least as fast as the
numpy engine at every size tried (up to d=2000, m=1024). ``numba`` without numba installed,
or with a local function that has no compiled form, is a :class:`~nnclf.errors.ConfigError`.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from dataclasses import dataclass

import numpy as np

from nnclf.errors import ConfigError
from nnclf.training import compiled
from nnclf.training.optimizers import decayed

__all__ = [
    "Choice",
    "choose_engine",
    "engine_loop",
    "CompiledLoop",
    "Interrupt",
    "one_blas_thread",
    "AUTO_MIN_STEPS",
    "INSTALL",
]

AUTO_MIN_STEPS = 200_000
"""The fewest steps for which ``auto`` uses numba: compiling a step the first time takes
several seconds, about what the numpy engine needs for 200,000 small steps."""

INSTALL = 'pip install "nnclf[fast]"'

CHUNK_SECONDS = 0.1
"""About how long one native call runs, so that Ctrl-C and the progress bar stay live."""

_BLAS: list = []


def one_blas_thread():
    """A context in which BLAS runs on one thread (a no-op without threadpoolctl, which
    scikit-learn installs).

    The compiled step calls BLAS for a minibatch's larger products (one example's products
    are its own loops); on a machine busy with other work BLAS's threads then spend their
    time waiting on each other (measured on 2 cores under load, d=784, m=1024, when one
    example's products were BLAS calls too: 909 steps/s with two threads, 6,513 with one)."""
    if not _BLAS:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _BLAS.append(None)
        else:
            _BLAS.append(ThreadpoolController())
    if _BLAS[0] is None:
        return contextlib.nullcontext()
    return _BLAS[0].limit(limits=1, user_api="blas")


class Interrupt:
    """Turns Ctrl-C into a flag that either engine reads between steps, so that a step is
    never cut in half (a second Ctrl-C stops at once)."""

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


@dataclass(frozen=True)
class Choice:
    """The engine a run uses (``"numpy"`` or ``"numba"``) and why, in words."""

    name: str
    reason: str

    def __str__(self) -> str:
        return f"engine: {self.name} ({self.reason})"


def choose_engine(requested: str, graph, steps: int, batch_size: int = 1) -> Choice:
    """The engine for ``requested`` (``auto``, ``numpy`` or ``numba``).

    Parameters
    ----------
    requested : str
    graph : Graph
    steps : int
        The steps this run will take (``auto`` keeps short runs on numpy).
    batch_size : int
        Examples per step (``auto`` keeps minibatches on numpy, whose BLAS products over a
        batch ran faster than the compiled loop: 505k against 412k examples/s with batch 32
        on digits, m = 100).

    Raises
    ------
    ConfigError
        For ``numba`` when numba is not installed or a local function has no compiled form.
    """
    if requested == "numpy":
        return Choice("numpy", "train.engine is numpy")
    version = compiled.numba_version()
    missing = compiled.missing_compiled_form(graph)
    if requested == "numba":
        if version is None:
            raise ConfigError(
                f" is numba, but numba is not installed; {INSTALL}, or use engine auto or numpy",
                name="engine",
            )
        if missing is not None:
            raise ConfigError(
                f" is numba, but the local function '{missing.name}' has no "
                "compiled form; use engine auto or numpy",
                name="engine",
            )
        return Choice("numba", f"numba {version}")
    if version is None:
        return Choice("numpy", f"numba is not installed; {INSTALL} for the compiled engine")
    if missing is not None:
        return Choice("numpy", f"the local function '{missing.name}' has no compiled form")
    if steps < AUTO_MIN_STEPS:
        return Choice(
            "numpy",
            f"a short run of {steps} steps: compiling would take longer; "
            "train.engine: numba compiles it anyway, and caches it",
        )
    if batch_size > 1:
        return Choice(
            "numpy",
            f"minibatches of {batch_size} run faster on numpy's BLAS; "
            "train.engine: numba uses the compiled engine anyway",
        )
    return Choice("numba", f"numba {version}")


def engine_loop(
    network, settings, opt_state, steps: int, average=None, rows: bool = False
) -> tuple[Choice, CompiledLoop | None]:
    """The engine a trainer uses for ``steps`` steps under ``settings`` (its ``engine``),
    and the compiled loop when it is numba (None for numpy); ``average`` is the trainer's
    :class:`~nnclf.training.optimizers.RunningAverage`, if it averages; ``rows``: the loop reads X
    as :class:`~nnclf.data.npyfolder.Rows` (a memory map, standardised row by row).

    Raises
    ------
    ConfigError
        ``train.engine ...``, as :func:`choose_engine`.
    """
    try:
        choice = choose_engine(settings.engine, network.graph, steps, settings.batch_size)
    except ConfigError as e:
        raise e.within("train") from None
    if choice.name == "numpy":
        return choice, None
    return choice, CompiledLoop.for_trainer(network, settings, opt_state, average, rows)


class CompiledLoop:
    """The trainer's steps between two pauses, run by :class:`~nnclf.training.compiled.CompiledSteps`.

    Parameters
    ----------
    steps : CompiledSteps
        For the network's graph, with data leaves x and y.
    batch_size : int
    average : RunningAverage, optional
        Its rates are computed here, chunk by chunk, and its count moved on.
    """

    def __init__(self, steps: compiled.CompiledSteps, batch_size: int, average=None):
        self.steps = steps
        self.batch_size = batch_size
        self.average = average
        self.chunk = 256

    @classmethod
    def for_trainer(
        cls, network, settings, opt_state, average=None, rows: bool = False
    ) -> CompiledLoop:
        """The loop for a trainer's network, settings, optimizer state (laid out as
        :mod:`nnclf.training.optimizers` makes it) and running average; ``rows``: for X given as
        :class:`~nnclf.data.npyfolder.Rows`."""
        spec = dict(settings.optimizer)
        name = spec.pop("name")
        update = compiled.Update(
            settings.momentum,
            settings.nesterov,
            settings.l2,
            settings.clip_norm,
            decayed(network.params),
            optimizer=name,
            average=average is not None,
            **spec,
        )
        steps = compiled.CompiledSteps(
            network.graph,
            network.params,
            ("x", "y"),
            update,
            tuple(opt_state[slot] for slot in update.rule.slots),
            opt_state.get("count", {}).get("k"),
            average.values if average is not None else None,
            standardized=rows,
        )
        return cls(steps, settings.batch_size, average)

    def run(
        self,
        X,
        y,
        order: np.ndarray,
        epoch_start: int,
        t: int,
        stop: int,
        schedule,
        loss_sum: float,
        interrupt,
    ) -> tuple[int, float, float | None]:
        """Steps t + 1 .. stop of the epoch whose example indices are ``order`` (into X, an
        array, or :class:`~nnclf.data.npyfolder.Rows` for a loop made with ``rows``).

        Returns (the step reached, the loss sum continued, the non-finite loss that stopped
        it or None); stops early when ``interrupt.requested``.
        """
        with one_blas_thread():
            return self._run(X, y, order, epoch_start, t, stop, schedule, loss_sum, interrupt)

    def _run(self, X, y, order, epoch_start, t, stop, schedule, loss_sum, interrupt):
        B = self.batch_size
        data = (X, np.ascontiguousarray(y, dtype=np.intp))
        if self.steps.standardized:  # X is Rows: its array, gathered through its index
            data = (X.array, data[1], X.index, X.mean, X.scale)
        while t < stop and not interrupt.requested:
            end = min(stop, t + self.chunk)
            rows = order[(t - epoch_start) * B : (end - epoch_start) * B]
            whole = len(rows) // B
            if whole == 0:  # the last, shorter minibatch of a shuffled epoch
                picks, end = rows.reshape(1, -1), t + 1
            else:
                picks, end = rows[: whole * B].reshape(whole, B), t + whole
            etas = schedule.values(t + 1, end + 1)
            average = self.average
            rates = average.rates(t + 1, end + 1) if average is not None else None
            started = time.perf_counter()
            done, loss_sum, loss = self.steps.run(data, picks, etas, loss_sum, rates)
            if average is not None:
                average.advance(t + 1, t + 1 + done)
            t += done
            if done < len(picks):
                return t, loss_sum, loss
            took = time.perf_counter() - started
            self.chunk = int(
                min(max(self.chunk * CHUNK_SECONDS / max(took, 1e-6), 16), 4 * self.chunk, 1 << 20)
            )
        return t, loss_sum, None
