"""Showing training progress: a tqdm bar, one line per evaluation, or nothing.

Contract
--------
A :class:`Progress` reporter is opened for one call of :meth:`nnclf.training.trainer.Trainer.fit`
(``with reporter.open(T, t):``), told how many steps were taken (:meth:`Progress.advance`) and
shown every history row (:meth:`Progress.report`); :meth:`Progress.say` shows a line once
(which engine runs the steps). ``"auto"`` is a bar when stderr is a terminal and lines
otherwise. Everything goes to stderr; nothing here changes training.

A row reads ``step 1293 epoch 1.00 loss=0.3011 val_loss=0.2459 val_acc=0.9306 lr=0.047``:
the step size eta^t is shown as ``lr`` (on a terminal, "eta" reads as time remaining). The
bar puts the step and these figures first and the bar itself after them, so that a narrow
terminal (80 columns) loses the bar before it loses a figure, and its last state stays on
screen when training ends.
"""

from __future__ import annotations

import math
import sys
from contextlib import contextmanager

from nnclf.errors import ConfigError

__all__ = ["Progress", "MODES", "PROGRESS_EVERY"]

MODES = ("auto", "bar", "lines", "none")
PROGRESS_EVERY = 2000
"""Steps between progress-bar updates."""
BAR_FORMAT = "step {n_fmt}/{total_fmt} {desc}|{bar}| {remaining} left"


class Progress:
    """A progress reporter.

    Parameters
    ----------
    mode : {"auto", "bar", "lines", "none"} or bool
        True means "auto", False "none".

    Attributes
    ----------
    every : int or None
        While a bar is shown, the most steps to take between two calls of :meth:`advance`
        (so that the bar moves within long epochs); None otherwise.
    """

    def __init__(self, mode="auto"):
        mode = {True: "auto", False: "none"}.get(mode, mode)
        if mode not in MODES:
            raise ConfigError(f"progress must be 'auto', 'bar', 'lines' or 'none', got {mode!r}")
        self.mode = mode
        self.every: int | None = None
        self._bar = None
        self._lines = False

    @contextmanager
    def open(self, total: int, initial: int):
        """Show progress from step ``initial`` towards ``total`` until the block ends."""
        mode = self.mode
        if mode == "auto":
            mode = "bar" if sys.stderr.isatty() else "lines"
        self._lines = mode == "lines"
        if mode == "bar":
            from tqdm.auto import tqdm  # (imported only when a bar is shown)

            self._bar = tqdm(
                total=total,
                initial=initial,
                unit="step",
                dynamic_ncols=True,
                leave=True,
                mininterval=0.2,
                bar_format=BAR_FORMAT,
            )
            self.every = PROGRESS_EVERY
        try:
            yield self
        finally:
            if self._bar is not None:
                self._bar.close()
            self._bar, self.every = None, None

    def say(self, text: str) -> None:
        """Show one line once (which engine runs the steps), as a bar or lines would be
        shown; nothing with progress off."""
        if self.mode != "none":
            print(text, file=sys.stderr, flush=True)

    def advance(self, steps: int) -> None:
        if self._bar is not None:
            self._bar.update(steps)

    def report(self, row: dict) -> None:
        """Show one history row (step, epoch, eta, train_loss, val_loss, val_accuracy)."""
        parts = [f"loss={row['train_loss']:.4f}"]
        if math.isfinite(row["val_accuracy"]):
            parts += [f"val_loss={row['val_loss']:.4f}", f"val_acc={row['val_accuracy']:.4f}"]
        parts.append(f"lr={row['eta']:.3g}")
        if self._bar is not None:
            self._bar.set_description_str(" ".join(parts) + " ", refresh=False)
        elif self._lines:
            print(
                f"step {row['step']} epoch {row['epoch']:.2f} " + " ".join(parts),
                file=sys.stderr,
                flush=True,
            )
