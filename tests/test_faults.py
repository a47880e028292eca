"""Faults with real processes and real signals: ``nnclf train`` interrupted by SIGINT and
SIGTERM (with and without --force onto a finished run), killed by SIGKILL at many moments,
started twice at once on one run directory, resumed twice at once; and a read-only output
directory (skipped as root, where chmod does not stop writes: test_run.py simulates it).

What must hold every time: a finished run is never replaced by an unfinished one, nothing
nnclf did not write is deleted, every directory a message names exists, an interrupted or
terminated run resumes to the parameters of an uninterrupted one, and nothing is left
behind that the next nnclf does not clean up."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from test_cli import NNCLF, assert_same_params, nnclf, params, snapshot, workspace

from nnclf.runs import rundir

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")]

# Long enough never to finish before the signal (about 10 s), with a progress line early.
LONG = [
    "--set",
    "train.epochs=null",
    "--set",
    "train.steps=1000000",
    "--set",
    "train.eval_every=200",
]
SHORT = ["--set", "train.epochs=null", "--set", "train.steps=3000"]


def start(ws, *args) -> subprocess.Popen:
    return subprocess.Popen(
        [*NNCLF, *map(str, args)], cwd=ws, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_until_training(proc) -> list[str]:
    """Read stderr up to the first progress line (notes come before it)."""
    lines = []
    while True:
        line = proc.stderr.readline()
        assert line, f"no progress line: {lines}"
        lines.append(line)
        if line.startswith("step "):
            return lines


def finish(proc, timeout=120) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def hidden(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def resume_target(err: str) -> str:
    command = err.rstrip().rsplit("resume with: ", 1)[1].split()
    assert command[:3] == ["nnclf", "train", "--resume"]
    return command[3]


def straight_run(ws, name, *args):
    result = nnclf("train", "tiny.yaml", "--quiet", "--out", name, *args, cwd=ws)
    assert result.returncode == 0, result.stderr
    return ws / name


# ----------------------------------------------------------------------------- SIGINT, SIGTERM


@pytest.mark.parametrize(
    "sig, code, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]
)
def test_a_signal_saves_a_checkpoint_that_resumes_to_the_same_parameters(sig, code, word, tmp_path):
    ws = workspace(tmp_path)
    proc = start(ws, "train", "tiny.yaml", "--out", "a", *SHORT, "--set", "train.eval_every=100")
    wait_until_training(proc)
    proc.send_signal(sig)
    rc, out, err = finish(proc)
    assert rc == code, err
    assert re.search(
        rf"^nnclf: {word} at step \d+ of 3000; resume with: nnclf train --resume "
        r"a$",
        err,
        re.M,
    ), err
    assert "Traceback" not in err and out == ""
    assert sorted(p.name for p in (ws / "a").iterdir()) == ["checkpoint.npz", "config.yaml"]
    resumed = nnclf("train", "--resume", resume_target(err), "--quiet", cwd=ws)
    assert resumed.returncode == 0, resumed.stderr
    straight = straight_run(ws, "b", *SHORT, "--set", "train.eval_every=100")
    assert_same_params(ws / "a" / "model.npz", straight / "model.npz")
    assert hidden(ws) == []


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_force_then_a_signal_leaves_the_finished_run_untouched(sig, code, tmp_path):
    ws = workspace(tmp_path)
    assert nnclf("train", "tiny.yaml", "--quiet", cwd=ws).returncode == 0
    (ws / "runs" / "iris" / "learning_curves.png").write_bytes(b"png")  # nnclf's own, too
    before = snapshot(ws / "runs" / "iris")
    old = params(ws / "runs" / "iris" / "model.npz")
    proc = start(ws, "train", "tiny.yaml", "--force", *LONG, "--set", "seed=7")
    notes = wait_until_training(proc)
    assert notes[0] == "nnclf: replacing the run in runs/iris once this one is complete (--force)\n"
    proc.send_signal(sig)
    rc, _, err = finish(proc)
    assert rc == code, err
    assert snapshot(ws / "runs" / "iris") == before  # not a byte, not a timestamp changed
    assert (
        "nnclf: the run in runs/iris is untouched (--force replaces it only with a "
        "finished run); this one is kept in runs/iris-2\n"
    ) in err
    kept = resume_target(err)
    assert kept == "runs/iris-2" and (ws / kept / "checkpoint.npz").is_file()
    assert sorted(os.listdir(ws / "runs")) == ["iris", "iris-2"]
    assert all(np.array_equal(old[k], v) for k, v in params(ws / "runs/iris/model.npz").items())


@pytest.mark.parametrize("sigint", ["default", "ignored"])
def test_sigterm_at_any_moment_exits_143_and_leaves_a_run_or_nothing(sigint, tmp_path):
    """Also when SIGINT is ignored, as in a background job of a shell script or under nohup:
    SIGTERM still stops nnclf (it is handled as Ctrl-C, but never ignored)."""
    ws = workspace(tmp_path)
    ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint == "ignored" else None
    # From before the data are read to the middle of training.
    for k, delay in enumerate([0.05, 0.3, 0.6, 0.9, 1.5]):
        proc = subprocess.Popen(
            [*NNCLF, "train", "tiny.yaml", "--out", f"r{k}", *LONG],
            cwd=ws,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=ignore,
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGTERM)
        rc, out, err = finish(proc)
        assert rc in (143, -signal.SIGTERM), err
        assert "Traceback" not in err
        last = err.rstrip().splitlines()[-1] if err.strip() else ""
        if (ws / f"r{k}").exists():
            assert (
                last == f"nnclf: terminated at step {last.split()[4]} of 1000000; resume "
                f"with: nnclf train --resume r{k}"
            ), err
            assert (ws / f"r{k}" / "checkpoint.npz").is_file()
        elif rc == 143:
            assert last == "nnclf: terminated; nothing was written", err
        else:  # before nnclf's handler is installed, the signal ends Python as it would any
            assert err == ""  # program: nothing written, nothing said
        assert hidden(ws) == [], f"left behind after SIGTERM at {delay} s"


# ----------------------------------------------------------------------------- SIGKILL


def test_sigkill_while_forcing_leaves_the_old_run_and_the_next_nnclf_cleans_up(tmp_path):
    ws = workspace(tmp_path)
    assert nnclf("train", "tiny.yaml", "--quiet", cwd=ws).returncode == 0
    before = snapshot(ws / "runs" / "iris")
    proc = start(ws, "train", "tiny.yaml", "--force", *LONG)
    wait_until_training(proc)
    proc.kill()
    finish(proc)
    assert snapshot(ws / "runs" / "iris") == before
    lock, staging = hidden(ws / "runs")  # the lock file is left, but nobody holds it
    assert lock == ".iris.lock" and staging.startswith(".iris.partial-")
    after = nnclf("train", "tiny.yaml", "--quiet", "--out", "runs/other", cwd=ws)
    assert after.returncode == 0, after.stderr
    assert after.stderr == (f"nnclf: removed runs/{staging}, left by an nnclf that was killed\n")
    assert hidden(ws / "runs") == [] and snapshot(ws / "runs" / "iris") == before


def test_sigkill_at_many_moments_of_a_replacement_never_loses_the_run(tmp_path):
    """Kill ``--force`` runs at moments spread over their life (the last ones near the final
    renames); after the cleanup of the next claim, runs/iris is always a complete run, the
    old one or the new one, and nothing else is left."""
    ws = workspace(tmp_path)
    assert nnclf("train", "tiny.yaml", "--quiet", cwd=ws).returncode == 0
    t0 = time.perf_counter()
    assert nnclf("train", "tiny.yaml", "--quiet", "--out", "probe", cwd=ws).returncode == 0
    life = time.perf_counter() - t0
    for fraction in (0.5, 0.8, 0.9, 0.95, 1.0, 1.05):
        proc = start(ws, "train", "tiny.yaml", "--force", "--quiet")
        time.sleep(life * fraction)
        proc.kill()
        finish(proc)
        claim = rundir.claim(str(ws / "runs" / "iris"), explicit=False, force=False)
        claim.release()
        run = ws / "runs" / "iris"
        assert {"model.npz", "metrics.json", "config.yaml"} <= set(os.listdir(run)), fraction
        json.loads((run / "metrics.json").read_text())
        params(run / "model.npz")
        assert [n for n in hidden(ws / "runs") if ".replaced-" in n] == []
        # A run killed while saving it is kept (and named), not deleted: move it away.
        for name in hidden(ws / "runs"):
            assert ".partial-" in name
            os.rename(ws / "runs" / name, ws / "runs" / f"saved-{name[1:]}")


# ----------------------------------------------------------------------------- at the same time


def test_two_trains_at_once_on_one_output_dir_take_two_names(tmp_path):
    ws = workspace(tmp_path)
    procs = [start(ws, "train", "tiny.yaml", "--quiet", *SHORT) for _ in range(3)]
    results = [finish(p) for p in procs]
    dirs = []
    for rc, out, err in results:
        assert rc == 0, err
        named = re.search(r"^run: (\S+) ", out, re.M).group(1)
        dirs.append(named)
        assert (ws / named / "model.npz").is_file(), named
        for other in re.findall(r"writing this run to (\S+) ", err):
            assert other == named
    assert sorted(dirs) == ["runs/iris", "runs/iris-2", "runs/iris-3"]
    assert hidden(ws / "runs") == []


def test_two_trains_at_once_on_one_explicit_out_one_wins(tmp_path):
    ws = workspace(tmp_path)
    first = start(ws, "train", "tiny.yaml", "--out", "same", *LONG)
    wait_until_training(first)
    second = nnclf("train", "tiny.yaml", "--quiet", "--out", "same", cwd=ws)
    assert second.returncode == 2
    assert re.fullmatch(
        r"nnclf: error: --out same: the run directory is in use by another "
        rf"nnclf \(pid {first.pid} on .+, nnclf train since .+\); wait for it "
        r"to finish, or choose another\n",
        second.stderr,
    ), second.stderr
    forced = nnclf("train", "tiny.yaml", "--quiet", "--out", "same", "--force", cwd=ws)
    assert forced.returncode == 2 and "is in use by another nnclf" in forced.stderr
    first.send_signal(signal.SIGINT)
    rc, _, err = finish(first)
    assert rc == 130 and err.rstrip().endswith("resume with: nnclf train --resume same")
    assert (ws / "same" / "checkpoint.npz").is_file() and hidden(ws) == []


def test_two_resumes_at_once_one_resumes_and_the_other_is_told(tmp_path):
    ws = workspace(tmp_path)
    args = [
        "--set",
        "train.epochs=null",
        "--set",
        "train.steps=200000",
        "--set",
        "train.eval_every=200",
    ]
    first = nnclf("train", "tiny.yaml", "--out", "a", *args, "--stop-after-steps", "100", cwd=ws)
    assert first.returncode == 130
    resuming = start(ws, "train", "--resume", "a")
    wait_until_training(resuming)
    other = nnclf("train", "--resume", "a", "--quiet", cwd=ws)
    assert other.returncode == 2
    assert other.stderr.startswith(
        "nnclf: error: --resume a: the run directory is in use by "
        f"another nnclf (pid {resuming.pid} on "
    )
    rc, out, err = finish(resuming, timeout=300)
    assert rc == 0, err
    straight = straight_run(ws, "b", *args)
    assert_same_params(ws / "a" / "model.npz", straight / "model.npz")
    assert hidden(ws) == []


# ----------------------------------------------------------------------------- read-only


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="root writes through chmod; test_run.py simulates a refused write",
)
def test_a_read_only_output_directory_is_found_before_training(tmp_path):
    ws = workspace(tmp_path)
    (ws / "runs").mkdir()
    os.chmod(ws / "runs", 0o555)
    try:
        result = nnclf("train", "tiny.yaml", "--quiet", cwd=ws)
    finally:
        os.chmod(ws / "runs", 0o755)
    assert result.returncode == 2
    assert result.stderr == (
        "nnclf: error: cannot create the run directory runs/iris "
        "(Permission denied); choose another --out or output.dir\n"
    )
    assert list((ws / "runs").iterdir()) == []
