"""The progress reporter: what it writes to stderr in each mode, and what a terminal of 80
or 100 columns shows of the bar (a pseudo-terminal gives it its width)."""

import io
import os
import sys

import pytest

from nnclf.training.progress import PROGRESS_EVERY, Progress

ROW = {
    "step": 30,
    "epoch": 1.0,
    "eta": 0.05,
    "train_loss": 0.123456,
    "val_loss": 0.5,
    "val_accuracy": 0.75,
}


def test_lines_mode_prints_one_line_per_row(capsys):
    reporter = Progress("lines")
    with reporter.open(100, 0):
        reporter.advance(30)
        reporter.report(ROW)
        reporter.report(
            dict(ROW, step=60, epoch=2.0, val_loss=float("nan"), val_accuracy=float("nan"))
        )
    assert capsys.readouterr().err.splitlines() == [
        "step 30 epoch 1.00 loss=0.1235 val_loss=0.5000 val_acc=0.7500 lr=0.05",
        "step 60 epoch 2.00 loss=0.1235 lr=0.05",
    ]


@pytest.mark.parametrize("mode", ["none", False])
def test_none_prints_nothing(mode, capsys):
    reporter = Progress(mode)
    with reporter.open(100, 0):
        reporter.advance(10)
        reporter.report(ROW)
    assert capsys.readouterr().err == ""


def test_a_bar_asks_for_updates_every_so_many_steps_while_open(capsys):
    reporter = Progress("bar")
    assert reporter.every is None
    with reporter.open(10, 0):
        assert reporter.every == PROGRESS_EVERY
        reporter.advance(10)
    assert reporter.every is None
    assert "0/10" in capsys.readouterr().err  # the bar was shown on stderr


def test_a_bad_mode_is_named():
    with pytest.raises(
        ValueError,
        match=r"progress must be 'auto', 'bar', 'lines' or 'none', "
        r"got 'loud'",
    ):
        Progress("loud")


class Terminal(io.StringIO):
    """A stderr that says it is a terminal of ``columns`` columns (a pseudo-terminal's size,
    which is where tqdm asks) and keeps what is written to it."""

    def __init__(self, columns: int):
        super().__init__()
        import fcntl
        import pty
        import struct
        import termios

        self._master, self._slave = pty.openpty()
        fcntl.ioctl(self._slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))

    def fileno(self):
        return self._slave

    def isatty(self):
        return True

    def shut(self):
        os.close(self._master)
        os.close(self._slave)

    def screen_lines(self) -> list[str]:
        """What stays on screen: the last state of each line (after its last \\r)."""
        return [line.rsplit("\r", 1)[-1] for line in self.getvalue().split("\n")]


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
@pytest.mark.parametrize("columns", [80, 100])
@pytest.mark.parametrize("total", [12930, 1_000_000])
def test_a_bar_on_a_narrow_terminal_shows_the_step_and_validation_figures_and_stays(
    columns, total, monkeypatch
):
    term = Terminal(columns)
    monkeypatch.setattr(sys, "stderr", term)
    reporter = Progress("auto")  # a terminal: the bar
    try:
        with reporter.open(total, 0):
            reporter.advance(1293)
            reporter.report(
                dict(
                    ROW,
                    step=1293,
                    eta=0.0275,
                    train_loss=0.3011,
                    val_loss=0.2459,
                    val_accuracy=0.9306,
                )
            )
            reporter.advance(7)
    finally:
        term.shut()
    lines = term.screen_lines()
    assert lines[-1] == "" and lines[-2]  # the bar's last state stays, then a new line
    last = lines[-2]
    assert len(last) < columns
    assert last.startswith(
        f"step 1300/{total} loss=0.3011 val_loss=0.2459 val_acc=0.9306 lr=0.0275"
    )
    assert "eta" not in last.lower()  # "eta" reads as time remaining on a terminal
