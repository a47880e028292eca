"""One TensorBoard folder of a run, written with tensorboardX (no torch, no TensorFlow).

Contract
--------
At each evaluation (step t): the scalars :data:`SCALARS` (history.csv's columns under
TensorBoard's names) and one histogram per parameter (W, b, V, gamma; W1, b1, ... for deep
nets); once, the resolved config as text. A resumed run adds an event file to the same
folder, its steps going on from where it stopped. Without tensorboardX, :func:`check_installed`
is one :class:`~nnclf.errors.ConfigError` naming the extra.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np

from nnclf.errors import ConfigError

__all__ = ["INSTALL", "SCALARS", "check_installed", "Board"]

INSTALL = 'pip install "nnclf[tensorboard]"'
SCALARS = {
    "train_loss": "loss/train",
    "val_loss": "loss/validation",
    "val_accuracy": "accuracy/validation",
    "eta": "eta",
}
"""history.csv's column -> its TensorBoard tag."""


def check_installed() -> None:
    try:
        import tensorboardX  # noqa: F401
    except ImportError:
        raise ConfigError(
            f": logging to TensorBoard needs tensorboardX (the tensorboard extra): {INSTALL}",
            name="track.tensorboard",
        ) from None


class Board:
    """A ``SummaryWriter`` on ``folder``; ``config`` (YAML text) is written once, at step 0."""

    def __init__(self, folder: Path, config: str | None):
        from tensorboardX import SummaryWriter

        self.folder = Path(folder)
        # Event files are named by the second they start in: a resume within that second
        # would overwrite the first without a suffix of its own.
        suffix = f".{uuid.uuid4().hex[:8]}"
        self.writer = SummaryWriter(logdir=str(self.folder), flush_secs=10, filename_suffix=suffix)
        if config is not None:
            # Indented four spaces: TensorBoard's text pane shows it as code, as written.
            text = "".join(f"    {line}\n" for line in config.splitlines())
            self.writer.add_text("config", text, global_step=0)

    def evaluation(self, row: dict, params: dict[str, np.ndarray]) -> None:
        step = int(row["step"])
        for column, tag in SCALARS.items():
            value = row.get(column)
            if value is not None and np.isfinite(value):
                self.writer.add_scalar(tag, float(value), global_step=step)
        for name, values in params.items():
            self.writer.add_histogram(f"parameters/{name}", np.asarray(values), global_step=step)

    def close(self) -> None:
        self.writer.close()
