"""Process plumbing for local services and `tickplant up`'s children: pid files, liveness, log tails,
graceful stops."""

from __future__ import annotations

import ctypes
import os
import signal
import time
from pathlib import Path

from core.errors import StateError


def read_pid(path: Path) -> int | None:
    """The pid recorded in `path`, or None if absent; StateError if the file is not a pid."""
    if not path.exists():
        return None
    text = path.read_text(encoding="utf-8", errors="replace").strip()
    if not text.isdigit() or int(text) <= 1:
        raise StateError(f"pid file {path} is corrupt (holds {text[:40]!r}, expected a process id); "
                         "check no service is running, then remove the file")
    return int(text)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child counts as dead
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def pid_cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def stop_process(pid: int, timeout_s: float, sig: int = signal.SIGTERM) -> bool:
    """Send `sig` and wait up to `timeout_s` for exit; SIGKILL after that. True if it exited cleanly."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            _reap(pid)
            return True
        time.sleep(0.2)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _reap(pid)
    return False


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def tail(path: Path, lines: int = 15) -> str:
    if not path.exists():
        return "(no log written)"
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - 16_384))
        text = handle.read().decode(errors="replace")
    return "\n".join(text.splitlines()[-lines:])


_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In the child before exec (Linux): get SIGTERM when `tickplant up` dies, even by kill -9,
    so no part outlives its supervisor."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass
