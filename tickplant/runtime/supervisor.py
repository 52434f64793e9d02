"""Runs the pipeline's long-running parts as child processes for `tickplant up`.

Each child logs to var/logs/<name>.log. A child that dies is restarted with the retry
policy's backoff (core.retry); Ctrl-C or SIGTERM stops the children in order (sources first,
so nothing in flight is lost).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.logging import get_logger
from core.retry import Backoff
from tickplant.runtime import processes

log = get_logger(__name__)


@dataclass
class Child:
    name: str
    args: list[str]                 # tickplant subcommand and flags
    stop_timeout_s: float = 60.0
    env: dict[str, str] = field(default_factory=dict)   # variables on top of this process's environment
    process: subprocess.Popen | None = None
    restarts: int = 0
    next_start: float = 0.0
    backoff: Backoff = field(default_factory=lambda: Backoff(initial_s=2.0, maximum_s=60.0))

    @property
    def argv(self) -> list[str]:
        return [sys.executable, "-m", "tickplant", *self.args]


class Supervisor:
    def __init__(self, home: Path, children: list[Child]) -> None:
        self.home = home
        self.children = children
        self.stopping = threading.Event()

    def log_file(self, child: Child) -> Path:
        return self.home / "logs" / f"{child.name}.log"

    def spawn(self, child: Child) -> None:
        path = self.log_file(child)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab") as handle:
            child.process = subprocess.Popen(child.argv, stdout=handle, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL,
                                             env={**os.environ, **child.env} if child.env else None,
                                             start_new_session=True, preexec_fn=processes.die_with_parent)
        log.debug("started", part=child.name, pid=child.process.pid, log=str(path))

    def start(self) -> None:
        for child in self.children:
            self.spawn(child)

    def install_signal_handlers(self) -> None:
        def handler(signum: int, frame: object) -> None:
            self.stopping.set()
        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)

    def watch(self, poll_s: float = 1.0, until: float | None = None) -> None:
        """Restart children that exit, until Ctrl-C/SIGTERM (or the `until` monotonic deadline)."""
        while not self.stopping.is_set() and (until is None or time.monotonic() < until):
            now = time.monotonic()
            for child in self.children:
                if child.process is None:
                    if now >= child.next_start:
                        self.spawn(child)
                    continue
                code = child.process.poll()
                if code is None:
                    continue
                child.restarts += 1
                backoff = child.backoff.next_delay()
                child.process, child.next_start = None, now + backoff
                log.warning("part exited; restarting", part=child.name, code=code, restarts=child.restarts,
                            backoff_s=backoff, log_tail=processes.tail(self.log_file(child), 3))
            self.stopping.wait(poll_s)

    def stop(self) -> dict[str, bool]:
        """SIGTERM each child in list order and wait for it; SIGKILL only after its timeout."""
        results = {}
        for child in self.children:
            if child.process is None or child.process.poll() is not None:
                results[child.name] = True
                continue
            log.info("stopping", part=child.name, pid=child.process.pid)
            results[child.name] = processes.stop_process(child.process.pid, child.stop_timeout_s)
            try:
                child.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        return results
