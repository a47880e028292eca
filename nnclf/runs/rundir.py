"""Run directories: claimed by one nnclf at a time, built aside, renamed into place.

Contract
--------
- **Claims.** A run directory ``P/NAME`` belongs, while a command writes it, to the one
  process that holds the lock file ``P/.NAME.lock``, where ``P/NAME`` is the path resolved
  (:func:`nnclf.base.outputs.real_path`: a run reached through a link or ``..`` has the one
  lock), and NAME is a hash of the name (``.nnclf-<16 hex>``) where the name is so long that
  ``.NAME.replaced-XXXXXXXX`` would not be a valid file name (an exclusive ``flock``, which the
  operating system drops when the process dies, even by SIGKILL; the file records the
  owner's pid, host, command and start time, for messages). :func:`claim` takes a name
  that is free (missing or empty), or an earlier run to replace; two nnclf started
  together never take the same name, and a run being trained or resumed is never
  replaced. :func:`lock_run` takes the lock of an existing run (for ``--resume``). A
  ``--out`` that is a link to a run directory is the directory it points to (the link
  stays); one inside a run or sweep directory is refused (:mod:`nnclf.base.outputs`).
- **Staging.** A new run is built in ``P/.NAME.partial-XXXXXXXX`` and renamed into place:
  :meth:`Claim.publish` (a finished run, replacing an earlier one only when asked and only
  if it holds nothing but nnclf's own files), :meth:`Claim.keep` (an unfinished run, which
  never replaces anything: if NAME is taken it goes to the next free name NAME-2, ...),
  :meth:`Claim.discard` (nothing kept). Either way nothing is deleted that nnclf did not
  write, and a message never names a directory that is gone.
- **Leftovers.** A process killed by SIGKILL leaves its ``.NAME.partial-*`` (and, if killed
  between the two renames of a replacement, ``.NAME.replaced-*``, the earlier run) behind.
  Whoever next claims a name in ``P`` cleans up every name of ``P`` whose lock nobody holds:
  a ``.replaced-*`` goes back to NAME if NAME is missing (else it is removed), a
  ``.partial-*`` is removed unless it holds a checkpoint or a model (killed while saving
  them: it is named in a note instead).

Every refusal is a one-line :class:`~nnclf.errors.RunError` naming the directory and the
fix; notes for the user (where the run goes, what was cleaned up) are in ``Claim.notes``.
"""

from __future__ import annotations

import errno
import hashlib
import itertools
import json
import os
import re
import shutil
import socket
import time
import uuid
from pathlib import Path

from nnclf.base.outputs import STAGED, real_path, refuse_managed
from nnclf.errors import RunError

__all__ = [
    "NNCLF_FILES",
    "RUN_FILES",
    "Claim",
    "NameLock",
    "claim",
    "lock_run",
    "check_target",
    "is_run_dir",
    "foreign_files",
]

RUN_FILES = ("config.yaml", "model.npz", "checkpoint.npz")
"""Any of these makes a directory a run directory."""
NNCLF_FILES = RUN_FILES + (
    "history.csv",
    "metrics.json",
    "learning_curves.png",
    "confusion_matrix.png",
    "tracking.json",
    "tensorboard",
)
"""Every file nnclf writes into a run directory (train, resume, plot)."""
_TEMPORARY = re.compile(r"\.(.+)\.[0-9a-f]{12}\.tmp")  # a write cut short by nnclf 0.2
_LEFTOVER = re.compile(r"\.(.+)\.(partial|replaced)-[0-9a-f]{8}")
_LOCK = re.compile(r"\.(.+)\.lock")
_HASHED = re.compile(r"nnclf-[0-9a-f]{16}")


def _key(name: str) -> str:
    """What stands for the run name ``name`` in the names of its lock file and staging
    directories: the name itself, or, where that would make them longer than a file name may
    be (255 bytes), a hash of it. So any name the file system accepts is a run's name."""
    if len(os.fsencode(f".{name}.replaced-00000000")) <= 255:
        return name
    return "nnclf-" + hashlib.sha256(os.fsencode(name)).hexdigest()[:16]


try:  # POSIX
    import fcntl

    def _try_lock(fd: int) -> str:
        """ "held", "busy", or "none" where the file system has no locks."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return "busy"
            if e.errno in (errno.ENOLCK, errno.EOPNOTSUPP):
                return "none"
            raise
        return "held"
except ImportError:  # Windows: a byte-range lock, also dropped when the process ends
    import msvcrt

    def _try_lock(fd: int) -> str:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return "busy"
        return "held"


# ----------------------------------------------------------------------------- locks


class NameLock:
    """The held lock of one run directory name (see the module docstring)."""

    def __init__(self, path: Path, fd: int, real: bool = True):
        self.path, self._fd = path, fd
        self.real = real
        """False where the file system has no locks: then the name is taken as in nnclf 0.1
        (no protection from other processes), and no leftovers are cleaned up."""

    @staticmethod
    def file_of(run_dir: Path) -> Path:
        """The lock file of ``run_dir``, next to the directory it resolves to: two spellings
        of one run (a link, ``..``) share one lock."""
        real = real_path(run_dir)
        return real.with_name(f".{_key(real.name)}.lock")

    @classmethod
    def try_acquire(cls, run_dir: Path, command: str) -> NameLock | None:
        """The lock of ``run_dir``, or None when another live process holds it.

        Raises OSError when the lock file cannot be created (a read-only parent)."""
        path = cls.file_of(run_dir)
        for _ in range(100):
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            state = _try_lock(fd)
            if state == "busy":
                os.close(fd)
                return None
            try:  # the holder before us may have removed the file after we opened it
                current = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                current = False
            if current:
                owner = {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "command": command,
                    "since": time.strftime("%Y-%m-%d %H:%M:%S"),
                }
                os.ftruncate(fd, 0)
                os.write(fd, json.dumps(owner).encode())
                return cls(path, fd, real=state == "held")
            os.close(fd)
        raise RunError(f"cannot lock {run_dir}: its lock file {path} keeps being replaced")

    @classmethod
    def holder(cls, run_dir: Path) -> str:
        """Who holds the lock of ``run_dir``, in words."""
        try:
            owner = json.loads(cls.file_of(run_dir).read_text())
            return (
                f"pid {owner['pid']} on {owner['host']}, nnclf {owner['command']} since "
                f"{owner['since']}"
            )
        except (OSError, ValueError, TypeError, KeyError):
            return "another process"

    def release(self) -> None:
        """Give the name up (idempotent). The file goes first, while still locked, so that a
        waiting process never locks a file that is no longer the name's lock."""
        if self._fd is None:
            return
        try:
            os.unlink(self.path)
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None


def _in_use(run_dir: Path, what: str) -> RunError:
    return RunError(
        f"{what}: the run directory is in use by another nnclf "
        f"({NameLock.holder(run_dir)}); wait for it to finish, or choose another"
    )


def lock_run(run_dir: Path, command: str, what: str) -> NameLock:
    """The lock of the existing run ``run_dir``; a RunError naming the holder if taken."""
    try:
        lock = NameLock.try_acquire(run_dir, command)
    except OSError as e:
        raise RunError(
            f"{what}: cannot lock the run ({NameLock.file_of(run_dir)}: "
            f"{e.strerror or e}); make its parent directory writable"
        ) from None
    if lock is None:
        raise _in_use(run_dir, what)
    return lock


# ----------------------------------------------------------------------------- what is where


def is_run_dir(path: Path) -> bool:
    return any((path / name).exists() for name in RUN_FILES)


def foreign_files(path: Path) -> list[str]:
    """The entries of ``path`` that nnclf did not write, sorted (directories end in /)."""
    out = []
    for entry in os.scandir(path):
        m = _TEMPORARY.fullmatch(entry.name)
        if (
            entry.name in NNCLF_FILES
            or (m and m.group(1) in NNCLF_FILES)
            or STAGED.fullmatch(entry.name)
        ):
            continue
        out.append(entry.name + ("/" if entry.is_dir(follow_symlinks=False) else ""))
    return sorted(out)


def _free(path: Path) -> bool:
    return not os.path.lexists(path) or (path.is_dir() and not any(path.iterdir()))


def _normalised(out: str, option: str) -> Path:
    """``out`` as a path whose last part names the run (``--out ..`` becomes absolute, and a
    link the directory it points to: a run is written through a link); the current
    directory or one of its parents is refused."""
    path = Path(out).expanduser()
    if path.is_symlink():
        path = real_path(path)
    absolute = Path(os.path.abspath(path))
    cwd = Path.cwd()
    if absolute == cwd or absolute in cwd.parents:
        here = "the current directory" if absolute == cwd else "a parent of the current directory"
        raise RunError(
            f"{option} {out}: that is {here}; a run needs a directory of its own "
            f"(e.g. {option} runs/{cwd.name or 'run'})"
        )
    return absolute if path.name in ("", ".", "..") else path


def check_target(out: str, *, explicit: bool, force: bool) -> tuple[Path, str | None]:
    """Whether ``out`` may take a new run, without writing anything.

    Returns ``(path, None)`` when ``out`` is free or (with ``force``) an earlier run to
    replace, and ``(path, "taken")`` when it is taken and the caller may move on to the next
    free name (``output.dir`` without ``force``). Every other case is a RunError: a file,
    an explicit ``--out`` that is taken, ``--force`` on a directory that is not a run or
    holds files nnclf did not write (named: they are never deleted).
    """
    option = "--out" if explicit else "output.dir"
    path = _normalised(out, option)
    refuse_managed(out, path, option)
    if _free(path):
        return path, None
    if not path.is_dir():
        what = "a file" if path.is_file() else "not a directory"
        raise RunError(f"output directory '{out}' is {what}; choose another --out")
    if force:
        if not is_run_dir(path):
            raise RunError(
                f"--force replaces only nnclf run directories, and '{out}' holds no "
                f"{', '.join(RUN_FILES)}; choose another --out"
            )
        foreign = foreign_files(path)
        if foreign:
            shown = ", ".join(foreign[:5]) + (
                f", ... ({len(foreign)} in all)" if len(foreign) > 5 else ""
            )
            raise RunError(
                f"--force: {out} holds files nnclf did not write ({shown}); "
                "move them out of the run directory first (--force never deletes "
                "them), or choose another --out"
            )
        return path, None
    if explicit:
        what = "an earlier run" if is_run_dir(path) else "other files"
        raise RunError(
            f"--out {out}: the directory exists and holds {what}; choose "
            "another --out, or add --force to replace an earlier run"
        )
    return path, "taken"


# ----------------------------------------------------------------------------- claims


class Claim:
    """A run directory name held by this process: where a new run is staged and published.

    Attributes
    ----------
    path : Path
        The run directory the new run is meant to become.
    replace : bool
        Whether an earlier run at ``path`` is to be replaced (``--force``).
    notes : list of str
        What the user should be told: another name taken, leftovers cleaned up.
    staging : Path or None
        The hidden directory the run is built in, once :meth:`stage` made it.
    """

    def __init__(self, path: Path, lock: NameLock, replace: bool, created: list[Path]):
        self.path, self.replace, self._lock, self._created = path, replace, lock, created
        self.notes: list[str] = []
        self.staging: Path | None = None

    def stage(self) -> Path:
        """Create the hidden staging directory next to :attr:`path`."""
        self.staging = self.path.with_name(
            f".{_key(self.path.name)}.partial-{uuid.uuid4().hex[:8]}"
        )
        try:
            self.staging.mkdir()
        except OSError as e:
            self.staging = None
            raise _cannot_create(self.path, e) from None
        return self.staging

    def publish(self) -> Path:
        """A finished run into place; returns where it went (:attr:`path`, or the next free
        name if ``path`` was taken meanwhile by something nnclf may not replace)."""
        path = self.path
        if (
            self.replace
            and path.is_dir()
            and not _free(path)
            and is_run_dir(path)
            and not foreign_files(path)
        ):
            trash = path.with_name(f".{_key(path.name)}.replaced-{uuid.uuid4().hex[:8]}")
            os.rename(path, trash)
            os.rename(self.staging, path)
            self.staging = None
            shutil.rmtree(trash, ignore_errors=True)
            return path
        return self.keep()

    def keep(self) -> Path:
        """The staged run into place without replacing anything: :attr:`path` if it is free,
        else the next free name NAME-2, NAME-3, ... Returns where it went."""
        path = self.path
        if _free(path):
            if path.is_dir():
                path.rmdir()
            os.rename(self.staging, path)
            self.staging = None
            return path
        aside = claim(str(path), explicit=False, force=False, command="train", start=2)
        try:
            if aside.path.is_dir():
                aside.path.rmdir()
            os.rename(self.staging, aside.path)
            self.staging = None
        finally:
            aside._lock.release()
        return aside.path

    def discard(self) -> None:
        """Remove the staging directory, the lock and the parent directories the claim made."""
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
        self._lock.release()
        _remove_dirs(self._created)

    def release(self) -> None:
        self._lock.release()


def _cannot_create(path: Path, e: OSError) -> RunError:
    blocker = next((p for p in path.parents if p.exists()), None)
    why = (
        f"'{blocker}' is a file"
        if blocker is not None and not blocker.is_dir()
        else e.strerror or str(e)
    )
    return RunError(
        f"cannot create the run directory {path} ({why}); choose another --out or output.dir"
    )


def _make_parents(path: Path) -> list[Path]:
    """Create the missing parents of ``path``; returns them, innermost first."""
    created, parent = [], path.parent
    while not parent.exists() and parent != parent.parent:
        created.append(parent)
        parent = parent.parent
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        _remove_dirs(created)
        raise _cannot_create(path, e) from None
    return created


def _remove_dirs(dirs: list[Path]) -> None:
    """Remove the empty directories ``dirs``, innermost first, up to the first not empty."""
    for d in dirs:
        try:
            d.rmdir()
        except OSError:
            break


def _candidates(path: Path, single: bool, start: int):
    """``path``, then (unless ``single``) path-2, path-3, ...; from path-<start> if start > 1."""
    if single:
        return iter([path])
    first = [path] if start <= 1 else []
    return itertools.chain(
        first, (path.with_name(f"{path.name}-{k}") for k in itertools.count(max(start, 2)))
    )


def claim(
    out: str, *, explicit: bool, force: bool, command: str = "train", start: int = 1
) -> Claim:
    """Take the run directory name ``out`` (see :func:`check_target`) under its lock.

    With ``explicit`` or ``force`` only ``out`` itself will do; otherwise, when it is taken
    or in use, the next free name (``out-2``, ``out-3``, ...; from ``out-<start>`` when
    ``start`` > 1) is taken and a note says so. Leftovers of killed runs next to it are
    cleaned up (see the module docstring) and noted.
    """
    path, taken = check_target(out, explicit=explicit, force=force)
    single = explicit or force
    created = _make_parents(path)
    try:
        for candidate in _candidates(path, single, start):
            if not (candidate == path and not taken) and not _free(candidate):
                continue
            lock = _lock_name(candidate, command)
            if lock is None:
                if single:
                    raise _in_use(candidate, f"{'--out' if explicit else 'output.dir'} {out}")
                continue
            try:
                notes = _clean_leftovers(candidate) if lock.real else []
                # The same checks again, now that nobody else can take the name.
                if candidate == path and check_target(out, explicit=explicit, force=force)[1]:
                    lock.release()
                    continue
                if candidate != path and not _free(candidate):
                    lock.release()
                    continue
            except BaseException:
                lock.release()
                raise
            held = Claim(candidate, lock, force and is_run_dir(candidate), created)
            held.notes = notes + (_clean_others(candidate) if lock.real else [])
            if candidate != path and start <= 1:
                held.notes.insert(
                    0,
                    f"{out} already exists; writing this run to {candidate} "
                    "(--force would replace it)",
                )
            elif held.replace:
                held.notes.insert(
                    0, f"replacing the run in {out} once this one is complete (--force)"
                )
            return held
    except BaseException:
        _remove_dirs(created)
        raise
    raise AssertionError("unreachable: the names to try never end")


def _lock_name(candidate: Path, command: str) -> NameLock | None:
    try:
        return NameLock.try_acquire(candidate, command)
    except OSError as e:
        raise _cannot_create(candidate, e) from None


# ----------------------------------------------------------------------------- leftovers


def _leftovers(path: Path) -> tuple[list[Path], list[Path]]:
    """The ``.NAME.partial-*`` and ``.NAME.replaced-*`` directories of ``path``."""
    partial, replaced = [], []
    for entry in path.parent.iterdir():
        m = _LEFTOVER.fullmatch(entry.name)
        if m and m.group(1) == _key(path.name) and entry.is_dir() and not entry.is_symlink():
            (partial if m.group(2) == "partial" else replaced).append(entry)
    return sorted(partial), sorted(replaced)


def _clean_leftovers(path: Path) -> list[str]:
    """Clean up after killed runs of ``path``, whose lock the caller holds; returns notes."""
    partial, replaced = _leftovers(path)
    notes, removed = [], []
    for trash in replaced:
        if not os.path.lexists(path):
            os.rename(trash, path)
            notes.append(
                f"restored the run {path} from {trash.name}, where an nnclf killed "
                "while replacing it had left it"
            )
        else:
            shutil.rmtree(trash, ignore_errors=True)
            removed.append(trash)
    for staging in partial:
        if any((staging / name).exists() for name in ("checkpoint.npz", "model.npz")):
            notes.append(
                f"{staging} holds a run whose nnclf was killed while saving it; "
                "to keep it, rename it to a name of its own (without the leading "
                "dot), else delete it"
            )
        else:
            shutil.rmtree(staging, ignore_errors=True)
            removed.append(staging)
    if removed:
        notes.append(
            f"removed {', '.join(str(p) for p in removed)}, left by an nnclf that was killed"
        )
    return notes


def _clean_others(path: Path) -> list[str]:
    """:func:`_clean_leftovers` for the other names next to ``path`` nobody holds (their
    lock files go too, when they are nnclf's: a lock file records its owner)."""
    names = set()
    for entry in os.listdir(path.parent):
        m = _LEFTOVER.fullmatch(entry) or _LOCK.fullmatch(entry)
        if m and (m.re is _LEFTOVER or _is_lock_file(path.parent / entry)):
            names.add(m.group(1))
    notes = []
    # A hashed name cannot be turned back into the run's: its leftovers wait for that run.
    for name in sorted(names - {_key(path.name)}):
        if _HASHED.fullmatch(name):
            continue
        other = path.with_name(name)
        try:
            lock = NameLock.try_acquire(other, "cleanup")
        except (OSError, RunError):
            continue
        if lock is not None:
            try:
                notes += _clean_leftovers(other)
            finally:
                lock.release()
    return notes


def _is_lock_file(path: Path) -> bool:
    """Whether ``path`` is a lock file of nnclf's (never unlink another program's file)."""
    try:
        owner = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(owner, dict) and {"pid", "host", "command", "since"} <= set(owner)
