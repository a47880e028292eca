"""Every file nnclf writes, and every path a user names for it to write: one set of rules.

Contract
--------
The rules, the same in every command (``train``, ``predict``, ``export``, ``plot``,
``sweep``) and for every file nnclf writes:

- **Resolved first.** A path is followed to what it names (:func:`real_path`): a symbolic
  link is written *through*, to its target, and stays a link. Locks of run and sweep
  directories are keyed on the resolved path, so two spellings of one directory are one.
- **Regular files only.** An existing device, FIFO, socket or directory at the path (or at
  a link's target) is refused, with or without ``--force``, and never replaced; ``-``
  means standard output, in the commands that offer it (``predict --out -``).
- **Managed directories are their owners'.** A path inside a run directory (one holding
  the ``config.yaml`` that nnclf writes, :data:`RUN_HEADER`, and a model.npz or
  checkpoint.npz) or a sweep directory (:data:`SWEEP_HEADER` in ``base.yaml``, and
  trials.json), or a file or directory the command reads, is refused as
  ``--out``, with or without ``--force``: those files are written only by the command
  that owns them.
- **``--force``** replaces an existing regular file (``predict``, ``export``) or an earlier
  run (``train``), once the new one is complete; without it an existing one is an error.
  It never replaces anything else.
- **Atomic.** :func:`atomic_write` stages the new content in the target's own directory
  under a short name, ``.nnclf-XXXXXXXX.tmp`` (so any name the file system accepts works
  as the target's), fsyncs it and renames it onto the target: a reader sees the old file or
  the complete new one. On any error, Ctrl-C included, the staged file is removed; an
  ``OSError`` names the file asked for, never the staged one.

:func:`check_output` applies the rules to a user's ``--out`` before any work is done;
:func:`atomic_write` applies them again when the file is written.
"""

from __future__ import annotations

import os
import re
import stat
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

from nnclf.errors import OutputError

__all__ = [
    "RUN_HEADER",
    "SWEEP_HEADER",
    "STAGED",
    "real_path",
    "staged_name",
    "managed_dir",
    "check_output",
    "refuse_managed",
    "atomic_write",
    "atomic_write_text",
]

RUN_HEADER = "The resolved config of this run (written by nnclf)."
"""The first line (after ``# ``) of a run directory's config.yaml: what marks a run."""
SWEEP_HEADER = "The base config of this sweep."
"""The first line (after ``# ``) of a sweep directory's base.yaml: what marks a sweep."""
_MARKS = (
    ("config.yaml", RUN_HEADER, ("model.npz", "checkpoint.npz")),
    ("base.yaml", SWEEP_HEADER, ("trials.json",)),
)
"""A run or sweep directory: the marked file and one of the others (a run's config.yaml
copied elsewhere to be trained again does not make a run directory)."""
STAGED = re.compile(r"\.nnclf-[0-9a-f]{8}\.tmp")
"""The name of a file being written (left behind only by a process killed by SIGKILL)."""


def real_path(path) -> Path:
    """``path`` with ``~`` expanded and every symbolic link followed, absolute (the parts
    that do not exist yet are kept as given)."""
    return Path(os.path.realpath(os.path.expanduser(os.fspath(path))))


def staged_name() -> str:
    """A fresh name to stage a file under (matches :data:`STAGED`)."""
    return f".nnclf-{uuid.uuid4().hex[:8]}.tmp"


def _kind(mode: int) -> str | None:
    """What a non-regular file is, in words; None for a regular file."""
    for test, kind in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return kind
    return None if stat.S_ISREG(mode) else "not a regular file"


def _is_managed(directory: Path) -> bool:
    for name, header, others in _MARKS:
        if not any(os.path.exists(directory / other) for other in others):
            continue
        try:
            with open(directory / name, "rb") as f:
                if f.read(len(header) + 2) == f"# {header}".encode():
                    return True
        except OSError:
            continue
    return False


def managed_dir(path) -> Path | None:
    """The run or sweep directory that ``path`` (resolved) lies in, or None."""
    real = real_path(path)
    return next((d for d in real.parents if _is_managed(d)), None)


def check_output(
    out: str,
    *,
    force: bool,
    example: str,
    stdout: str | None = None,
    reads: Iterable = (),
) -> Path | None:
    """The file a user's ``--out`` names, checked by the rules above before any work is
    done: None for ``-`` (when ``stdout`` is None, else ``stdout`` says why the file cannot
    go there), else ``out`` as given. ``example`` is a file name to suggest (``model.onnx``);
    ``reads`` are the files and run directories the command
    reads (never written). Every refusal is an :class:`~nnclf.errors.OutputError`."""
    if out == "-":
        if stdout is None:
            return None
        raise OutputError(
            f"--out -: {stdout}; give the name of the file to write (e.g. --out {example})"
        )
    path, real = Path(out).expanduser(), real_path(out)
    shown = "a link to " if path.is_symlink() else ""
    try:
        kind = _kind(os.stat(path).st_mode)  # through links: /dev/stdout is a pipe
    except FileNotFoundError:
        kind = None
    else:
        if kind is None and not force:
            raise OutputError(
                f"--out {out}: the file exists; choose another name, or add --force to overwrite it"
            )
    if kind == "a directory":
        what = "CSV file" if example.endswith(".csv") else "file"
        raise OutputError(
            f"--out {out}: is {shown}a directory; give the name of the {what} to "
            f"write (e.g. --out {path / example})"
        )
    if kind is not None:
        dash = "; for standard output give --out -" if stdout is None else ""
        raise OutputError(
            f"--out {out}: is {shown}{kind}; nnclf writes only regular files, and never "
            f"replaces anything else (not even with --force){dash}"
        )
    _check_not_read(out, real, reads)
    if not real.parent.is_dir():
        raise OutputError(f"--out {out}: directory '{path.parent}' does not exist; create it first")
    return path


def _check_not_read(out: str, real: Path, reads: Iterable) -> None:
    """Refuse a file the command reads, or one inside a run or sweep directory."""
    for read in reads:
        source = real_path(read)
        if real == source:
            raise OutputError(
                f"--out {out}: is {read}, which this command reads; choose another --out "
                "(--force never overwrites it)"
            )
        if source in real.parents:
            raise OutputError(
                f"--out {out}: is inside {read}, which this command reads; choose a path "
                "outside it (--force never writes there)"
            )
    refuse_managed(out, real)


def refuse_managed(out: str, path, option: str = "--out") -> None:
    """An OutputError when ``path`` lies inside a run or sweep directory."""
    owner = managed_dir(path)
    if owner is not None:
        raise OutputError(
            f"{option} {out}: is inside the nnclf run or sweep directory {owner}, whose files "
            "only nnclf train and sweep write; choose a path outside it (--force does not "
            "change that)"
        )


def atomic_write(path, write_fn: Callable) -> Path:
    """Write a file so that readers see either the old content or the complete new one.

    ``write_fn(f)`` writes to a staged file ``f`` (opened in binary mode) in the directory
    of the resolved `path`; the file is fsynced and then moved onto the target with
    :func:`os.replace` (a link stays a link). An existing target that is not a regular file
    is an :class:`~nnclf.errors.OutputError` and stays as it is. On any exception the staged
    file is removed and the exception re-raised; an ``OSError`` is re-raised as the same kind
    of error about ``path`` itself.

    Returns
    -------
    pathlib.Path
        `path`, exactly as given.
    """
    path = Path(path)
    target = real_path(path)
    try:
        kind = _kind(os.stat(path).st_mode)
    except OSError:
        kind = None
    if kind is not None:
        raise OutputError(f"{path}: is {kind}; nnclf writes only regular files")
    tmp = target.with_name(staged_name())
    try:
        # os.open with mode 0o666 (unlike mkstemp's 0o600) lets the umask decide permissions.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as e:
        raise _about(e, path) from None
    try:
        with os.fdopen(fd, "wb") as f:
            write_fn(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError) and e.filename in (None, str(tmp), tmp):
            raise _about(e, path) from None
        raise
    return path


def _about(e: OSError, path: Path) -> OSError:
    """The same error (OSError picks the subclass from the errno) about ``path``."""
    return OSError(e.errno, e.strerror or str(e), str(path))


def atomic_write_text(path, text: str, encoding: str = "utf-8") -> Path:
    """Write the string `text` to `path` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda f: f.write(text.encode(encoding)))
