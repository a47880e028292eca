"""nnclf.runs.rundir: claims under a lock, staging, publishing, --force's refusals and the cleanup
of what killed runs leave behind, in one process (a second claim of a name from this process
is refused as another process's would be: flock locks belong to open files). The same with
real processes and signals is in test_faults.py."""

import os
import socket
from pathlib import Path

import pytest

from nnclf.errors import RunError
from nnclf.runs import rundir


def make(root, *names, text="x"):
    for name in names:
        path = root / name
        if name.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)


def listing(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# ----------------------------------------------------------------------------- claims


def test_a_claim_holds_the_name_until_released_and_leaves_nothing(tmp_path):
    out = str(tmp_path / "runs" / "r")
    claim = rundir.claim(out, explicit=True, force=False)
    lock = tmp_path / "runs" / ".r.lock"
    owner = lock.read_text()
    assert f'"pid": {os.getpid()}' in owner and socket.gethostname() in owner
    with pytest.raises(
        RunError,
        match=rf"^--out {out}: the run directory is in use by another "
        rf"nnclf \(pid {os.getpid()} on .*, nnclf train since ",
    ):
        rundir.claim(out, explicit=True, force=False)
    other = rundir.claim(str(tmp_path / "runs" / "r"), explicit=False, force=False)
    assert other.path == tmp_path / "runs" / "r-2"  # in use: the next free name
    assert other.notes[0].endswith(f"writing this run to {other.path} (--force would replace it)")
    other.discard()
    claim.discard()
    assert listing(tmp_path) == []  # the lock files and the runs/ directory the claim made


def test_a_released_name_can_be_claimed_again(tmp_path):
    for _ in range(3):
        claim = rundir.claim(str(tmp_path / "r"), explicit=True, force=False)
        claim.release()
        claim.release()  # idempotent
    assert listing(tmp_path) == []


def test_staging_publishes_and_the_run_takes_its_place(tmp_path):
    claim = rundir.claim(str(tmp_path / "r"), explicit=True, force=False)
    staging = claim.stage()
    assert staging.parent == tmp_path and staging.name.startswith(".r.partial-")
    make(staging, "config.yaml", "model.npz")
    assert claim.publish() == tmp_path / "r"
    claim.release()
    assert listing(tmp_path) == ["r", "r/config.yaml", "r/model.npz"]


def test_staging_that_fails_removes_the_directories_it_created(tmp_path):
    claim = rundir.claim(str(tmp_path / "a" / "b" / "run"), explicit=True, force=False)
    staging = claim.stage()
    assert staging.parent == tmp_path / "a" / "b" and staging.name.startswith(".run.")
    claim.discard()
    assert list(tmp_path.iterdir()) == []


def test_force_replaces_an_earlier_run_only_with_a_published_one(tmp_path):
    make(
        tmp_path,
        "r/model.npz",
        "r/config.yaml",
        "r/learning_curves.png",
        "r/.model.npz.0123456789ab.tmp",
    )  # plots and a cut write are nnclf's own
    claim = rundir.claim(str(tmp_path / "r"), explicit=True, force=True)
    assert claim.replace and claim.notes == [
        f"replacing the run in {tmp_path / 'r'} once this one is complete (--force)"
    ]
    make(claim.stage(), "model.npz", text="new")
    assert claim.publish() == tmp_path / "r"
    claim.release()
    assert (
        listing(tmp_path) == ["r", "r/model.npz"]
        and (tmp_path / "r/model.npz").read_text() == "new"
    )


def test_an_unfinished_run_never_replaces_one_and_goes_to_the_next_free_name(tmp_path):
    make(tmp_path, "r/model.npz", "r-2/x")
    claim = rundir.claim(str(tmp_path / "r"), explicit=True, force=True)
    make(claim.stage(), "checkpoint.npz", text="new")
    assert claim.keep() == tmp_path / "r-3"
    claim.release()
    assert (tmp_path / "r/model.npz").read_text() == "x"
    assert listing(tmp_path) == ["r", "r-2", "r-2/x", "r-3", "r-3/checkpoint.npz", "r/model.npz"]


def test_a_run_whose_place_was_taken_while_training_goes_aside(tmp_path):
    claim = rundir.claim(str(tmp_path / "r"), explicit=True, force=False)
    make(claim.stage(), "model.npz", text="new")
    make(tmp_path, "r/notes.txt")  # someone (not nnclf) wrote there meanwhile
    assert claim.publish() == tmp_path / "r-2"
    claim.release()
    assert (tmp_path / "r/notes.txt").read_text() == "x"


def test_force_keeps_files_nnclf_did_not_write_when_they_appear_while_training(tmp_path):
    make(tmp_path, "r/model.npz")
    claim = rundir.claim(str(tmp_path / "r"), explicit=True, force=True)
    make(claim.stage(), "model.npz", text="new")
    make(tmp_path, "r/predictions.csv")
    assert claim.publish() == tmp_path / "r-2"
    claim.release()
    assert listing(tmp_path / "r") == ["model.npz", "predictions.csv"]


# ----------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "files, names",
    [
        (["r/model.npz", "r/predictions.csv"], "predictions.csv"),
        (["r/config.yaml", "r/notes/", "r/.hidden"], ".hidden, notes/"),
        (
            ["r/checkpoint.npz", "r/model.npz.bak", "r/.model.npz.tmp"],
            ".model.npz.tmp, model.npz.bak",
        ),
        (
            ["r/model.npz"] + [f"r/p{i}.csv" for i in range(7)],
            "p0.csv, p1.csv, p2.csv, p3.csv, p4.csv, ... (7 in all)",
        ),
    ],
)
def test_force_refuses_a_run_holding_files_nnclf_did_not_write_and_names_them(
    files, names, tmp_path
):
    make(tmp_path, *files)
    before = listing(tmp_path)
    out = str(tmp_path / "r")
    with pytest.raises(RunError) as e:
        rundir.claim(out, explicit=True, force=True)
    assert str(e.value) == (
        f"--force: {out} holds files nnclf did not write ({names}); move "
        "them out of the run directory first (--force never deletes them), "
        "or choose another --out"
    )
    assert listing(tmp_path) == before


@pytest.mark.parametrize(
    "out, what",
    [
        (".", "the current directory"),
        ("./", "the current directory"),
        ("sub/..", "the current directory"),
        ("..", "a parent of the current directory"),
        ("/", "a parent of the current directory"),
    ],
)
@pytest.mark.parametrize("explicit", [True, False])
def test_the_current_directory_or_a_parent_is_not_a_run_directory(
    out, what, explicit, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    option = "--out" if explicit else "output.dir"
    with pytest.raises(
        RunError,
        match=rf"^{option} {out}: that is {what}; a run needs a "
        rf"directory of its own \(e\.g\. {option} runs/",
    ):
        rundir.check_target(out, explicit=explicit, force=False)


def test_dot_dot_names_a_sibling_directory(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    assert rundir.check_target("../b", explicit=True, force=False) == (Path("../b"), None)
    assert rundir.check_target("x/../../c", explicit=True, force=False) == (Path("x/../../c"), None)


def test_a_parent_that_cannot_be_written_is_found_before_anything_is_made(tmp_path, monkeypatch):
    real_open = os.open

    def refuse(path, *args, **kwargs):
        if str(path).endswith(".lock"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    out = tmp_path / "new" / "r"
    with pytest.raises(
        RunError,
        match=rf"^cannot create the run directory {out} \(Permission "
        r"denied\); choose another --out or output.dir$",
    ):
        rundir.claim(str(out), explicit=True, force=False)
    assert listing(tmp_path) == []


# ----------------------------------------------------------------------------- leftovers


def test_leftovers_of_killed_runs_are_cleaned_up_by_the_next_claim(tmp_path):
    make(
        tmp_path,
        "r/model.npz",
        ".r.partial-0000000a/config.yaml",
        ".r.replaced-0000000b/model.npz",
        ".s.partial-0000000c/config.yaml",
        ".t.replaced-0000000d/model.npz",
        ".u.partial-0000000e/checkpoint.npz",
    )
    claim = rundir.claim(str(tmp_path / "r"), explicit=False, force=False)
    claim.release()
    assert claim.path == tmp_path / "r-2"
    # r's trash goes (r exists); t's earlier run comes back (t is missing); u keeps its
    # checkpoint, which is named; the staging directory of s goes.
    assert listing(tmp_path) == [
        ".u.partial-0000000e",
        ".u.partial-0000000e/checkpoint.npz",
        "r",
        "r/model.npz",
        "t",
        "t/model.npz",
    ]
    notes = "\n".join(claim.notes)
    assert f"restored the run {tmp_path / 't'} from .t.replaced-0000000d" in notes
    assert (
        f"{tmp_path / '.u.partial-0000000e'} holds a run whose nnclf was killed while "
        "saving it; to keep it, rename it"
    ) in notes
    assert "left by an nnclf that was killed" in notes


def test_leftovers_of_a_run_in_progress_are_not_touched(tmp_path):
    busy = rundir.claim(str(tmp_path / "s"), explicit=True, force=False)
    staging = busy.stage()
    make(staging, "config.yaml")
    claim = rundir.claim(str(tmp_path / "r"), explicit=True, force=False)
    claim.release()
    assert (staging / "config.yaml").exists() and claim.notes == []
    busy.discard()
    assert listing(tmp_path) == []


def test_an_earlier_run_left_in_the_middle_of_a_replacement_comes_back(tmp_path):
    make(tmp_path, ".r.replaced-0000000b/model.npz", ".r.partial-0000000c/config.yaml")
    with pytest.raises(RunError, match="the directory exists and holds an earlier run"):
        rundir.claim(str(tmp_path / "r"), explicit=True, force=False)
    assert listing(tmp_path) == ["r", "r/model.npz"]


def test_a_lock_file_left_by_a_killed_nnclf_goes_and_another_programs_stays(tmp_path):
    held = rundir.claim(str(tmp_path / "a"), explicit=True, force=False)
    stale = (tmp_path / ".a.lock").read_text()
    held.release()
    (tmp_path / ".a.lock").write_text(stale)  # as SIGKILL leaves it: nobody holds it
    make(tmp_path, ".b.lock", text="my editor's lock")
    make(tmp_path, ".c.lock", text='{"pid": 1}')
    claim = rundir.claim(str(tmp_path / "r"), explicit=True, force=False)
    claim.release()
    assert listing(tmp_path) == [".b.lock", ".c.lock"]
    assert (tmp_path / ".b.lock").read_text() == "my editor's lock"
