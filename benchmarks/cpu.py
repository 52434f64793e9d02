"""CPU seconds of a process tree (psutil): the process, its live descendants and the children they
reaped, so a short-lived child (Hadoop's `readlink`, a JVM a Python driver starts) counts too."""

from __future__ import annotations

import psutil


def tree_cpu_seconds(pid: int) -> float:
    """user + system time of `pid` and every live descendant, each with its reaped children's."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def server_pid(marker: str) -> int | None:
    """The pid of the first Java process whose command line contains `marker` (a server's main class)."""
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = process.info.get("cmdline") or []
        if cmdline and "java" in cmdline[0] and any(marker in part for part in cmdline):
            return process.pid
    return None
