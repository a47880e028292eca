"""The one writer of every path a user names (nnclf.base.outputs) and the commands using it.

Independent references: the file system itself (``os.lstat`` says what a path is after a
command ran: still a FIFO, still a character device, still a link), byte-for-byte copies of
the files a refused command must not touch, and the other command's behaviour (``--force``
means the same in predict and export).
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path

import pytest

from nnclf.base import outputs
from nnclf.base.outputs import atomic_write, atomic_write_text, check_output
from nnclf.cli import main
from nnclf.errors import OutputError, RunError
from nnclf.runs import rundir

ROOT = Path(__file__).resolve().parent.parent
IRIS = ROOT / "data" / "iris.csv"
TINY = f"""\
seed: 0
data: {{source: {IRIS}, target: species}}
model: {{hidden_units: 3}}
train: {{epochs: 1}}
"""
LONG = "n" * 246  # with ".csv" a 250-character name


def run_command(capsys, *args) -> tuple[int, str, str]:
    code = main([*map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A finished run of the tiny config."""
    where = tmp_path_factory.mktemp("run")
    (where / "tiny.yaml").write_text(TINY)
    assert main(["train", str(where / "tiny.yaml"), "--out", str(where / "r"), "--quiet"]) == 0
    return where / "r"


def contents(directory: Path) -> dict:
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}


# ----------------------------------------------------------------------------- the writer


def test_a_link_is_written_through_and_stays_a_link(tmp_path):
    (tmp_path / "target.txt").write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to("target.txt")
    assert atomic_write_text(link, "new") == link
    assert link.is_symlink() and os.readlink(link) == "target.txt"
    assert (tmp_path / "target.txt").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.txt", "target.txt"]


def test_a_dangling_link_creates_its_target(tmp_path):
    (tmp_path / "link.txt").symlink_to("made.txt")
    atomic_write_text(tmp_path / "link.txt", "x")
    assert (tmp_path / "link.txt").is_symlink() and (tmp_path / "made.txt").read_text() == "x"


def test_a_fifo_is_refused_and_stays_a_fifo(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(OutputError, match=r"pipe: is a FIFO; nnclf writes only regular files"):
        atomic_write_text(fifo, "x")
    with pytest.raises(OutputError, match=r"--out .*pipe: is a FIFO; nnclf writes only regular"):
        check_output(str(fifo), force=True, example="p.csv")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="no /dev/null")
def test_a_device_is_refused_and_not_replaced(tmp_path):
    before = os.lstat("/dev/null")
    assert stat.S_ISCHR(before.st_mode)
    link = tmp_path / "null.csv"
    link.symlink_to("/dev/null")
    for path in ("/dev/null", str(link)):
        with pytest.raises(OutputError, match="is a character device"):
            atomic_write_text(path, "x")
        with pytest.raises(OutputError, match=r"is (a link to )?a character device; nnclf"):
            check_output(path, force=True, example="p.csv")
    after = os.lstat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev
    assert after.st_ino == before.st_ino and link.is_symlink()


def test_an_interrupted_write_leaves_the_old_file_and_nothing_staged(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("old")

    def half_then_ctrl_c(f):
        f.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, half_then_ctrl_c)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_the_staged_name_is_short_so_a_250_character_name_works(tmp_path):
    assert outputs.STAGED.fullmatch(outputs.staged_name())
    path = tmp_path / f"{LONG}.csv"
    atomic_write_text(path, "x")
    assert path.read_text() == "x"


def test_a_run_dir_is_recognised_by_its_config_header(tmp_path, run):
    assert outputs.managed_dir(run / "anything.csv") == run.resolve()
    (tmp_path / "config.yaml").write_text("seed: 0\n")  # a user's config: not a run
    (tmp_path / "model.npz").write_bytes(b"")
    assert outputs.managed_dir(tmp_path / "p.csv") is None
    copy = tmp_path / "copy"  # a run's config.yaml copied to be trained again: not a run
    copy.mkdir()
    shutil.copy(run / "config.yaml", copy / "config.yaml")
    assert outputs.managed_dir(copy / "p.csv") is None


# ----------------------------------------------------------------------------- commands


@pytest.mark.parametrize(
    "args",
    [
        ["export", "{run}", "--out", "{run}/model.npz", "--force"],
        ["export", "{run}", "--out", "{run}/new.onnx"],
        ["predict", "{run}", "--data", str(IRIS), "--out", "{run}/metrics.json", "--force"],
        ["predict", "{run}", "--data", str(IRIS), "--out", "{link}/p.csv"],
    ],
)
def test_out_inside_a_run_dir_is_refused(args, run, tmp_path, capsys):
    (tmp_path / "link").symlink_to(run)
    before = contents(run)
    argv = [a.format(run=run, link=tmp_path / "link") for a in args]
    code, out, err = run_command(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith(f"nnclf: error: --out {argv[argv.index('--out') + 1]}: is ")
    assert "choose" in err and "--force" in err and err.count("\n") == 1
    assert contents(run) == before


def test_out_naming_what_the_command_reads_is_refused(run, tmp_path, capsys):
    data = tmp_path / "iris.csv"
    shutil.copy(IRIS, data)
    code, _, err = run_command(capsys, "predict", run, "--data", data, "--out", data, "--force")
    assert code == 2
    assert err == (
        f"nnclf: error: --out {data}: is {data}, which this command reads; choose "
        "another --out (--force never overwrites it)\n"
    )
    assert data.read_bytes() == IRIS.read_bytes()


def test_predict_writes_through_a_link_and_refuses_a_fifo(run, tmp_path, capsys):
    (tmp_path / "real.csv").write_text("old")
    (tmp_path / "p.csv").symlink_to("real.csv")
    code, _, _ = run_command(
        capsys, "predict", run, "--data", IRIS, "--out", tmp_path / "p.csv", "--force"
    )
    assert code == 0 and (tmp_path / "p.csv").is_symlink()
    assert (tmp_path / "real.csv").read_text().startswith("label,")
    os.mkfifo(tmp_path / "fifo")
    code, _, err = run_command(
        capsys, "predict", run, "--data", IRIS, "--out", tmp_path / "fifo", "--force"
    )
    assert code == 2 and err == (
        f"nnclf: error: --out {tmp_path / 'fifo'}: is a FIFO; nnclf writes only regular "
        "files, and never replaces anything else (not even with --force); for standard "
        "output give --out -\n"
    )
    assert stat.S_ISFIFO(os.lstat(tmp_path / "fifo").st_mode)


@pytest.mark.parametrize("command", ["predict", "export"])
def test_force_means_the_same_in_predict_and_export(command, run, tmp_path, capsys):
    if command == "export":
        pytest.importorskip("onnx")
    extra = ["--data", IRIS] if command == "predict" else []
    out = tmp_path / "out.file"
    out.write_text("old")
    code, _, err = run_command(capsys, command, run, *extra, "--out", out)
    assert code == 2 and err == (
        f"nnclf: error: --out {out}: the file exists; choose another name, or add --force "
        "to overwrite it\n"
    )
    assert out.read_text() == "old"
    assert run_command(capsys, command, run, *extra, "--out", out, "--force")[0] == 0
    assert out.read_bytes() != b"old"
    code, _, err = run_command(capsys, command, run, *extra, "--out", tmp_path, "--force")
    assert code == 2 and f"--out {tmp_path}: is a directory; give the name" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.file"]


@pytest.mark.parametrize("command", ["predict", "export"])
def test_a_250_character_name_works(command, run, tmp_path, capsys):
    if command == "export":
        pytest.importorskip("onnx")
    extra = ["--data", IRIS] if command == "predict" else []
    out = tmp_path / f"{LONG}.csv"
    assert run_command(capsys, command, run, *extra, "--out", out)[0] == 0
    assert out.is_file() and [p.name for p in tmp_path.iterdir()] == [out.name]


def test_a_run_dir_with_a_250_character_name(tmp_path, capsys):
    (tmp_path / "tiny.yaml").write_text(TINY)
    out = tmp_path / ("r" * 250)
    assert run_command(capsys, "train", tmp_path / "tiny.yaml", "--out", out, "--quiet")[0] == 0
    assert (out / "model.npz").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, "tiny.yaml"])
    code, _, _ = run_command(
        capsys, "train", tmp_path / "tiny.yaml", "--out", out, "--quiet", "--force"
    )
    assert code == 0 and (out / "model.npz").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, "tiny.yaml"])


def test_train_out_inside_a_run_dir_is_refused(run, tmp_path, capsys):
    (tmp_path / "tiny.yaml").write_text(TINY)
    before = sorted(p.name for p in run.iterdir())
    code, _, err = run_command(capsys, "train", tmp_path / "tiny.yaml", "--out", run / "sub")
    assert code == 2 and err.startswith(
        f"nnclf: error: --out {run / 'sub'}: is inside the nnclf run or sweep directory "
    )
    assert sorted(p.name for p in run.iterdir()) == before


def test_train_force_through_a_link_replaces_the_run_it_points_to(run, tmp_path, capsys):
    (tmp_path / "tiny.yaml").write_text(TINY)
    real = tmp_path / "real"
    shutil.copytree(run, real)
    (tmp_path / "link").symlink_to("real")
    code, _, _ = run_command(
        capsys, "train", tmp_path / "tiny.yaml", "--out", tmp_path / "link", "--force", "--quiet"
    )
    assert code == 0
    assert (tmp_path / "link").is_symlink() and (real / "model.npz").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real", "tiny.yaml"]


# ----------------------------------------------------------------------------- locks


def test_the_run_lock_is_keyed_on_the_resolved_path(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "checkpoint.npz").write_bytes(b"")
    (tmp_path / "link").symlink_to("r")
    held = rundir.lock_run(tmp_path / "link", "train --resume", "--resume link")
    try:
        for spelling in (tmp_path / "r", tmp_path / "sub" / ".." / "r"):
            (tmp_path / "sub").mkdir(exist_ok=True)
            with pytest.raises(RunError, match="in use by another nnclf"):
                rundir.lock_run(spelling, "train --resume", "test")
        with pytest.raises(RunError, match="in use by another nnclf"):
            rundir.claim(str(tmp_path / "r"), explicit=True, force=True)
    finally:
        held.release()


# ----------------------------------------------------------------------------- plot


def test_plot_writes_through_links_and_refuses_a_fifo(run, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    copy = tmp_path / "r"
    shutil.copytree(run, copy)
    (copy / "learning_curves.png").symlink_to(tmp_path / "curves.png")
    assert run_command(capsys, "plot", copy)[0] == 0
    assert (copy / "learning_curves.png").is_symlink()
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    (copy / "confusion_matrix.png").unlink()
    os.mkfifo(copy / "confusion_matrix.png")
    code, _, err = run_command(capsys, "plot", copy)
    assert code == 2 and err == (
        f"nnclf: error: {copy / 'confusion_matrix.png'}: is a FIFO; nnclf writes only "
        "regular files\n"
    )
    assert stat.S_ISFIFO(os.lstat(copy / "confusion_matrix.png").st_mode)


# ----------------------------------------------------------------------------- sweeps

GRID = """\
base: base.yaml
grid:
  model.transfer: [tanh, relu]
  train.schedule.eta0: [0.02, 0.1]
metric: val_accuracy
"""


def sweep_file(tmp_path: Path) -> Path:
    (tmp_path / "base.yaml").write_text(TINY)
    (tmp_path / "sweep.yaml").write_text(GRID)
    return tmp_path / "sweep.yaml"


def new_sweep(tmp_path: Path) -> Path:
    """A sweep directory of GRID, created and not run."""
    from nnclf.sweeps import sweep

    out = tmp_path / "s"
    sweep.start(sweep_file(tmp_path), str(out))
    return out


def listing(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def test_a_users_directory_named_like_a_trial_is_never_deleted(tmp_path, capsys):
    out = new_sweep(tmp_path)
    (out / "trial-0002").mkdir()
    (out / "trial-0002" / "notes.txt").write_text("mine")
    before = listing(out)
    code, _, err = run_command(capsys, "sweep", "--resume", out, "--jobs", "1")
    assert code == 2
    assert err.splitlines()[-1] == (
        f"nnclf: error: sweep {out}: {out / 'trial-0002'} holds files nnclf did not write: "
        "notes.txt; it is where trial-0002 goes, and nnclf never deletes it: move it out of "
        f"the sweep directory, then continue with nnclf sweep --resume {out}"
    )
    assert listing(out) == before and (out / "trial-0002" / "notes.txt").read_text() == "mine"


def test_sweep_without_the_dask_extra_creates_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    path = sweep_file(tmp_path)
    before = listing(tmp_path)
    code, out, err = run_command(
        capsys, "sweep", path, "--out", tmp_path / "s", "--scheduler", "tcp://127.0.0.1:8786"
    )
    assert code == 2 and "running on" not in err and out == ""
    assert err == (
        "nnclf: error: --scheduler needs Dask's distributed; install it with: "
        'pip install "nnclf[dask]"\n'
    )
    assert listing(tmp_path) == before


@pytest.mark.slow
@pytest.mark.parametrize("address", ["tcp://127.0.0.1:9", "not an address"])
def test_sweep_with_a_bad_scheduler_creates_nothing(address, tmp_path, capsys):
    pytest.importorskip("distributed")
    path = sweep_file(tmp_path)
    before = listing(tmp_path)
    code, _, err = run_command(
        capsys, "sweep", path, "--out", tmp_path / "s", "--scheduler", address
    )
    assert code == 2 and "running on" not in err
    assert err.splitlines()[-1].startswith(f"nnclf: error: --scheduler {address}: ")
    assert listing(tmp_path) == before


def test_a_sweep_dir_with_a_250_character_name(tmp_path):
    from nnclf.sweeps import sweep

    out = tmp_path / ("s" * 250)
    made, _ = sweep.start(sweep_file(tmp_path), str(out))
    assert made == out and (out / "trials.json").is_file()
    lock = rundir.lock_run(out, "sweep", "test")
    lock.release()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [out.name, "base.yaml", "sweep.yaml"]
    )


def test_sweep_out_on_an_existing_file_does_not_suggest_resume(tmp_path, capsys):
    path = sweep_file(tmp_path)
    (tmp_path / "taken").write_text("x")
    code, _, err = run_command(capsys, "sweep", path, "--out", tmp_path / "taken")
    assert code == 2 and err == (
        f"nnclf: error: --out {tmp_path / 'taken'}: is a file, not a directory; a sweep "
        "needs a directory of its own: choose another --out\n"
    )


def full_disk_at(monkeypatch, name: str) -> None:
    """The sweep's writes of files called ``name`` fail as on a full disk."""
    from nnclf.sweeps import sweep

    real = sweep.atomic_write_text

    def full(p, text):
        if Path(p).name == name:
            raise OSError(28, "No space left on device", str(p))
        return real(p, text)

    monkeypatch.setattr(sweep, "atomic_write_text", full)


def test_sweep_on_a_full_disk_names_the_file_and_leaves_nothing(tmp_path, capsys, monkeypatch):

    full_disk_at(monkeypatch, "trials.json")
    path = sweep_file(tmp_path)
    before = listing(tmp_path)
    code, _, err = run_command(capsys, "sweep", path, "--out", tmp_path / "s")
    assert code == 2 and err == (
        f"nnclf: error: cannot create the sweep directory {tmp_path / 's'} (writing "
        "trials.json: No space left on device); make room on the disk or choose another "
        "--out (nothing was written)\n"
    )
    assert listing(tmp_path) == before


def test_an_interrupted_sweep_leaves_no_temporary_files(tmp_path, capsys, monkeypatch):
    """Fault injection: Ctrl-C arrives while the first trial's row is being written."""
    from nnclf.sweeps import sweep

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    real = sweep._write_csv
    calls = []

    def ctrl_c_midway(sweep_dir, plan, rows):
        calls.append(1)
        if len(calls) == 2:  # the first is the empty sweep.csv of a new sweep
            atomic_write(Path(sweep_dir) / "sweep.csv", _interrupt)
        return real(sweep_dir, plan, rows)

    monkeypatch.setattr(sweep, "_write_csv", ctrl_c_midway)
    out = tmp_path / "s"
    code, _, err = run_command(capsys, "sweep", sweep_file(tmp_path), "--out", out, "--jobs", "1")
    assert code == 130 and f"resume with: nnclf sweep --resume {out}" in err
    assert list(scratch.iterdir()) == []
    assert [p for p in listing(tmp_path) if p.endswith(".tmp") or ".partial" in p] == []


def _interrupt(f):
    f.write(b"trial,")
    raise KeyboardInterrupt


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="no /dev/null")
def test_the_command_never_replaces_a_device(run, tmp_path):
    """Through the console script, as a user (or root) would run it."""
    import subprocess

    before = os.lstat("/dev/null")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "nnclf",
            "predict",
            str(run),
            "--data",
            str(IRIS),
            "--out",
            "/dev/null",
            "--force",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 2 and result.stderr == (
        "nnclf: error: --out /dev/null: is a character device; nnclf writes only regular "
        "files, and never replaces anything else (not even with --force); for standard "
        "output give --out -\n"
    )
    after = os.lstat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and (after.st_ino, after.st_rdev) == (
        before.st_ino,
        before.st_rdev,
    )


def test_a_full_disk_during_a_sweep_names_the_file(tmp_path, capsys, monkeypatch):
    out = new_sweep(tmp_path)
    full_disk_at(monkeypatch, "sweep.csv")
    code, _, err = run_command(capsys, "sweep", "--resume", out, "--jobs", "1")
    assert code == 2
    assert err.splitlines()[-1] == (
        f"nnclf: error: sweep {out}: cannot write {out / 'sweep.csv'} (No space left on "
        "device); the trials that ended before are kept: fix that, then continue with "
        f"nnclf sweep --resume {out}"
    )
    assert not [p for p in listing(out) if ".partial" in p or p.endswith(".tmp")]


def test_leftovers_of_a_run_with_a_long_name_are_cleaned_up(tmp_path):
    out = tmp_path / ("r" * 250)
    first = rundir.claim(str(out), explicit=True, force=False)
    staging = first.stage()
    (staging / "config.yaml").write_text("x")
    assert len(staging.name) <= 40 and len(first._lock.path.name) <= 40
    first._lock.release()  # as SIGKILL would leave it: the staging directory stays
    second = rundir.claim(str(out), explicit=True, force=False)
    try:
        assert not staging.exists()
        assert any("left by an nnclf that was killed" in note for note in second.notes)
    finally:
        second.discard()
    assert list(tmp_path.iterdir()) == []
