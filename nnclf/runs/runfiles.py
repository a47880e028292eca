"""The files of a run directory, and writing them at the end of a run so that nothing is lost.

Contract
--------
A run directory holds ``config.yaml``, ``checkpoint.npz``, and once the run finished
``model.npz``, ``history.csv`` and ``metrics.json`` (their contents: :mod:`nnclf.runs.run`).

:func:`save_run` writes a run's files into its :class:`Place` (a staging directory of
:mod:`nnclf.runs.rundir`, or the run directory itself when resuming) and then puts the run in
place. Ctrl-C and SIGTERM wait until that is done (:func:`signals_held`). When a file cannot
be written (a full disk, no permission), the files written so far are removed again and the
trained state (config.yaml and a checkpoint) is kept in the run's place, or failing that in a
new temporary directory; the :class:`~nnclf.errors.RunError` names the file that could not
be written, why, where the run is kept and the command that finishes it. (A finished run
whose checkpoint alone cannot be written is put in place without it: its model, history and
metrics are complete, and a finished run is never resumed.)
:func:`check_writable` finds a run directory that cannot be written before training starts.
"""

from __future__ import annotations

import csv
import errno
import io
import shlex
import signal
import tempfile
import threading
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nnclf.base.outputs import atomic_write_text
from nnclf.errors import ModelFileError, OutputError, RunError
from nnclf.runs import rundir

if TYPE_CHECKING:
    from nnclf.export.trained import TrainedModel

__all__ = [
    "CONFIG",
    "MODEL",
    "CHECKPOINT",
    "HISTORY",
    "METRICS",
    "Place",
    "save_run",
    "open_model",
    "signals_held",
    "check_writable",
    "history_csv",
    "resume_command",
]

CONFIG, MODEL, CHECKPOINT, HISTORY, METRICS = (
    "config.yaml",
    "model.npz",
    "checkpoint.npz",
    "history.csv",
    "metrics.json",
)


def resume_command(run_dir) -> str:
    """The shell command that continues the run in ``run_dir``."""
    return f"nnclf train --resume {shlex.quote(str(run_dir))}"


def history_csv(history: list[dict]) -> str:
    """history.csv: one row per evaluation; floats as repr, so that they read back exactly."""
    out = io.StringIO()
    columns = (
        list(history[0])
        if history
        else ["step", "epoch", "eta", "train_loss", "val_loss", "val_accuracy"]
    )
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in history:
        writer.writerow([repr(row[c]) if isinstance(row[c], float) else row[c] for c in columns])
    return out.getvalue()


@dataclass
class Place:
    """Where a run's files are written (``target``), what messages call it (``shown``), and
    for a new run the claim that puts the staged run in place at the end."""

    target: Path
    shown: Path
    claim: rundir.Claim | None = None

    def done(self, finished: bool) -> Path:
        """Put the run in place (a finished one may replace an earlier run); where it went."""
        if self.claim is None:
            return self.shown
        return self.claim.publish() if finished else self.claim.keep()

    def discard(self) -> None:
        if self.claim is not None:
            self.claim.discard()


@contextmanager
def signals_held(deliver: bool = False):
    """Ctrl-C and SIGTERM wait until the block ends. One that would have ended the process
    (SIGTERM without a handler) is delivered again afterwards; with ``deliver``, so is one
    that has a handler (Python's raises KeyboardInterrupt once the block is done)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    kinds = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.signal(s, lambda signum, frame: held.append(signum)) for s in kinds}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for s in held:
            if previous[s] == signal.SIG_DFL:
                signal.raise_signal(s)
            elif deliver and callable(previous[s]):
                previous[s](s, None)


SaveState = Callable[[Path, str], object]
"""``save_state(path, status)`` writes the trainer's checkpoint to ``path`` with that status."""


def save_run(
    place: Place,
    files: list[tuple[str, Callable[[Path], object]]],
    finished: bool,
    save_state: SaveState,
    config_text: str,
) -> Path:
    """Write ``files`` (name, ``write(path)``) into ``place.target`` in order, the checkpoint
    last, then put the run in place; returns where it went.

    When a write fails, :func:`save_state` keeps the trained state with the status
    "finishing" (training ended; ``nnclf train --resume`` writes the files) or "interrupted",
    and a RunError says where.
    """
    written: list[str] = []
    with signals_held():
        for name, write in files:
            try:
                write(place.target / name)
            except (OSError, ModelFileError, OutputError) as e:
                raise _rescue(place, name, e, written, finished, save_state, config_text) from None
            written.append(name)
        try:
            return place.done(finished)
        except OSError as e:  # the run is complete where it was built: it stays there
            if place.claim is not None:
                place.claim.staging = None
            raise RunError(
                f"cannot move the run into {place.shown} ({e.strerror or e}); it is "
                f"complete in {place.target}: rename that directory yourself"
            ) from None


def _os_error(e: BaseException) -> OSError | None:
    """The OSError behind ``e`` (a ModelFileError keeps it as its context)."""
    while e is not None and not isinstance(e, OSError):
        e = e.__context__
    return e


def _rescue(
    place: Place,
    name: str,
    e: BaseException,
    written: list[str],
    finished: bool,
    save_state: SaveState,
    config_text: str,
) -> RunError:
    cause = _os_error(e)
    why = (cause.strerror or str(cause)) if cause is not None else str(e)
    code = cause.errno if cause is not None else None
    fix = (
        "make room on the disk"
        if code in (errno.ENOSPC, getattr(errno, "EDQUOT", -1))
        else "make the run directory writable"
        if code in (errno.EACCES, errno.EPERM, errno.EROFS)
        else "fix that"
    )
    head = f"cannot write {place.shown / name} ({why})"
    if finished and name == CHECKPOINT:  # the rest is written: a finished run, less its state
        where = place.done(True)
        return RunError(
            f"{head}; the finished run is in {where} without it (its {MODEL}, "
            f"{HISTORY} and {METRICS} are complete)"
        )
    for unfinished in written:  # the run is unfinished again, as its checkpoint will say
        (place.target / unfinished).unlink(missing_ok=True)
    status = "finishing" if finished else "interrupted"
    kept = _keep_state(place, status, save_state, config_text)
    if kept is None:
        return RunError(
            f"{head}; the trained state could not be saved anywhere, so nothing was kept"
        )
    then = "write its files" if finished else "continue it"
    return RunError(
        f"{head}; the trained run is kept in {kept} ({CONFIG}, {CHECKPOINT}): "
        f"{fix}, then {then} with: {resume_command(kept)}"
    )


def _keep_state(place: Place, status: str, save_state: SaveState, config_text: str) -> Path | None:
    """The checkpoint in the run's place, else with config.yaml in a new temporary
    directory; the place it went to, or None."""
    try:
        save_state(place.target / CHECKPOINT, status)
        try:
            return place.done(False)
        except OSError:  # the staged run stays where it is, and is named in the message
            if place.claim is not None:
                place.claim.staging = None
            return place.target
    except (OSError, ModelFileError):
        pass
    place.discard()
    try:
        kept = Path(tempfile.mkdtemp(prefix=f"nnclf-{place.shown.name}-"))
        atomic_write_text(kept / CONFIG, config_text)
        save_state(kept / CHECKPOINT, status)
    except (OSError, ModelFileError):
        return None
    return kept


def check_writable(run_dir: Path, what: str) -> None:
    """Create and remove a file in ``run_dir``, as the final writes will (named like the
    staged file of an interrupted write of nnclf's, should it be left behind)."""
    probe = run_dir / ".nnclf-00000000.tmp"
    try:
        probe.touch()
        probe.unlink()
    except OSError as e:
        raise RunError(
            f"{what}: cannot write in the run directory ({e.strerror or e}); make "
            "it writable, then resume again (nothing was changed)"
        ) from None


def open_model(target) -> tuple[TrainedModel, Path, Path | None]:
    """The model of a run directory (its model.npz) or of a model file.

    Returns
    -------
    model : TrainedModel
    path : Path
        The model file read.
    run_dir : Path or None
        The run directory, when ``target`` is one.
    """
    path = Path(target)
    run_dir = None
    if not path.exists() and not path.suffix:  # a run not trained yet, as a rule
        raise RunError(
            f"{target}: there is no run directory or model file here; train one with: "
            f"nnclf train CONFIG --out {shlex.quote(str(target))}"
        )
    if path.is_dir():
        run_dir, path = path, path / MODEL
        if not path.exists():
            if (run_dir / CHECKPOINT).exists():
                raise RunError(
                    f"{run_dir}: the run has not finished (no {MODEL}); resume it "
                    f"with: {resume_command(run_dir)}"
                )
            raise RunError(
                f"{run_dir}: not an nnclf run directory (no {MODEL}); give a run "
                "directory written by nnclf train, or a model file"
            )
    from nnclf.export.trained import TrainedModel

    return TrainedModel.load(path), path, run_dir
