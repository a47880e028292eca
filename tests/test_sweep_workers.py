"""Local sweep workers end with their driver, even when it is killed without warning."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IRIS = ROOT / "data" / "iris.csv"


def children(pid: int) -> set[int]:
    """Every descendant process of ``pid`` (read from /proc)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_workers_exit_when_the_driver_is_killed(tmp_path):
    (tmp_path / "base.yaml").write_text(
        f"seed: 0\ndata: {{source: {IRIS}, target: species}}\n"
        "model: {hidden_units: 64}\ntrain: {epochs: 100000, engine: numpy}\n"
    )
    (tmp_path / "sweep.yaml").write_text("base: base.yaml\ngrid:\n  seed: [1, 2]\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    driver = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nnclf",
            "sweep",
            str(tmp_path / "sweep.yaml"),
            "--jobs",
            "2",
            "--out",
            str(tmp_path / "s"),
            "--quiet",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        workers = set()
        while time.monotonic() < deadline and len(workers) < 2:
            time.sleep(0.2)
            workers = {p for p in children(driver.pid) if "loky" in _cmdline(p)}
        assert len(workers) >= 2, "the loky workers did not start"
        time.sleep(2)  # the trials are running
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
        deadline = time.monotonic() + 60  # a bound on a hang, not a speed requirement
        while time.monotonic() < deadline and any(alive(p) for p in workers):
            time.sleep(0.2)
        left = [p for p in workers if alive(p)]
    finally:
        for p in children(driver.pid) | workers:
            try:
                os.kill(p, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if driver.poll() is None:
            driver.kill()
    assert left == [], "workers outlived their killed driver"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
