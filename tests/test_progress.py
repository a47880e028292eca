"""The progress reporter: what it writes to stderr in each mode."""

import pytest

from nnclf.progress import PROGRESS_EVERY, Progress

ROW = {"step": 30, "epoch": 1.0, "eta": 0.05, "train_loss": 0.123456,
       "val_loss": 0.5, "val_accuracy": 0.75}


def test_lines_mode_prints_one_line_per_row(capsys):
    reporter = Progress("lines")
    with reporter.open(100, 0):
        reporter.advance(30)
        reporter.report(ROW)
        reporter.report(dict(ROW, step=60, epoch=2.0, val_loss=float("nan"),
                             val_accuracy=float("nan")))
    assert capsys.readouterr().err.splitlines() == [
        "step 30 epoch 1.00 eta=0.05 loss=0.1235 val_loss=0.5000 val_acc=0.7500",
        "step 60 epoch 2.00 eta=0.05 loss=0.1235",
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
    with pytest.raises(ValueError, match=r"progress must be 'auto', 'bar', 'lines' or 'none', "
                                         r"got 'loud'"):
        Progress("loud")
