"""The life cycle every local service shares: its endpoint, pid file and log, owner-only files,
spawning it and raising with the cause, and waiting until it answers (`LocalService`)."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import javaproperties

from core.config import Settings
from core.errors import AccessError, ServiceError
from core.logging import get_logger
from core.net import port_bindable, port_open
from core.retry import expected_wait, retry_call
from tickplant.runtime import processes

log = get_logger(__name__)
Show = Callable[[str], None]   # where a start-up line for the user goes (`print` in the CLI)
# How long a local server's start-up is expected to take on a small machine: its "nothing listens"
# retries until then are the normal wait (DEBUG), not something for the user to worry about.
EXPECTED_START_S = 90.0


@dataclass
class ServiceStatus:
    name: str
    state: str            # up | down | external-up | external-down
    address: str
    pid: int | None = None
    version: str | None = None
    managed: bool = True  # False: the address is not local, tickplant does not run it
    log: str | None = None
    error: str | None = None   # why it refused us (credentials, certificate), when it did

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class _NotReady(Exception):
    """The service does not answer yet (retried until the start deadline)."""


class LocalService(ABC):
    """Common life cycle of a JVM server run from var/jars: start, wait until it answers, stop."""

    name = "service"
    main_class = ""

    def __init__(self, settings: Settings, node: int | None = None) -> None:
        self.settings = settings
        self.node = node   # one of the rehearsal cluster's nodes (1-3), `<name>-<node>`; None: the single service
        if node is not None:
            self.name = f"{self.name}-{node}"
        self.dir = settings.runtime.home / self.name
        self.pid_file = settings.runtime.home / "run" / f"{self.name}.pid"
        self.log_file = settings.runtime.home / "logs" / f"{self.name}.log"

    @property
    @abstractmethod
    def host(self) -> str:
        """The address the service listens on."""

    @property
    @abstractmethod
    def ports(self) -> list[int]:
        """Every port it binds (the first is the one clients use)."""

    @property
    @abstractmethod
    def is_local(self) -> bool:
        """True when the configured address is this machine, so tickplant runs the service."""

    @abstractmethod
    def prepare(self) -> None:
        """Write its configuration and initialise its storage under TICKPLANT_HOME."""

    @abstractmethod
    def command(self) -> list[str]:
        """The command line that runs it in the foreground."""

    @abstractmethod
    def probe(self, timeout_s: float) -> str:
        """Ask the service; returns its version, raises ServiceError if it does not answer."""

    @property
    def address(self) -> str:
        return f"{self.host}:{self.ports[0]}"

    @property
    def jars(self) -> Path:
        return self.settings.runtime.jars_dir / type(self).name   # a cluster's nodes run their service's jars

    def installed(self) -> bool:
        """The service's artifacts are in place (a subclass may install them itself)."""
        return any(self.jars.glob("*.jar"))

    def running_pid(self) -> int | None:
        """Our live process id, or None (a stale pid file is ignored)."""
        pid = processes.read_pid(self.pid_file)
        if pid is None or not processes.pid_alive(pid):
            return None
        if self.main_class not in processes.pid_cmdline(pid):
            return None
        return pid

    def start(self, show: Show | None = None) -> ServiceStatus:
        """Start it (or reach it) and wait until it answers; `show` gets one line when it is up."""
        return self.finish_start(self.launch(show), show)

    def launch(self, show: Show | None = None) -> subprocess.Popen | ServiceStatus:
        """The first half of `start`: the process spawned (not yet answering), or the status of one
        already up or external. A quorum (three Kafka nodes) is launched whole, then awaited node by node."""
        say = show or (lambda line: log.info(line.strip()))
        if not self.is_local:
            self.probe(self.settings.runtime.service_timeout_s)
            say(f"{self.name:<10} reached      {self.address} (external)")
            return self.status()
        pid = self.running_pid()
        if pid is not None:
            self.probe(self.settings.runtime.service_timeout_s)
            say(f"{self.name:<10} already up   {self.address} pid {pid}")
            return self.status()
        if not self.installed():
            raise ServiceError(f"{self.name} jars not found in {self.jars}; run `make install` first")
        for port in self.ports:
            if not port_bindable(self.host, port):
                raise ServiceError(f"{self.host}:{port} is already in use by another process, so "
                                   f"{self.name} cannot start; stop that process or configure another port")
        self.prepare()
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log_handle:
            process = subprocess.Popen(self.command(), stdout=log_handle, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.dir,
                                       env=self.environment())
        self.pid_file.write_text(str(process.pid), encoding="utf-8")
        log.debug("starting", service=self.name, pid=process.pid, address=self.address)
        return process

    def finish_start(self, launched: subprocess.Popen | ServiceStatus, show: Show | None = None) -> ServiceStatus:
        """The second half of `start`: wait until the launched process answers."""
        if isinstance(launched, ServiceStatus):
            return launched
        say = show or (lambda line: log.info(line.strip()))
        process = launched
        started = time.monotonic()

        def answer() -> str:
            if process.poll() is not None:
                raise ServiceError(f"{self.name} exited with code {process.returncode} while starting; "
                                   f"last lines of {self.log_file}:\n{processes.tail(self.log_file)}")
            try:
                return self.probe(timeout_s=3)
            except AccessError:
                raise   # it answers, and refuses us: waiting longer cannot help
            except ServiceError as exc:
                raise _NotReady(str(exc)) from None

        try:
            with expected_wait(EXPECTED_START_S):
                retry_call(answer, f"{self.name} start", self.settings.runtime.service_timeout_s, retry_on=(_NotReady,),
                           initial_s=0.5, maximum_s=2.0)
        except _NotReady:
            processes.stop_process(process.pid, 30)
            raise ServiceError(f"{self.name} did not answer on {self.address} within "
                               f"{self.settings.runtime.service_timeout_s}s; last lines of {self.log_file}:\n"
                               f"{processes.tail(self.log_file)}") from None
        seconds = time.monotonic() - started
        status = self.status()
        log.debug("up", service=self.name, pid=process.pid, seconds=round(seconds, 1))
        say(f"{self.name:<10} up in {seconds:5.1f} s {self.address} pid {process.pid} {status.version or ''}".rstrip())
        return status

    def stop(self, timeout_s: float = 120) -> bool:
        """Graceful stop (SIGTERM: Kafka's controlled shutdown, Cassandra's drain)."""
        if not self.is_local:
            return True
        pid = self.running_pid()
        if pid is None:
            return True
        log.info("stopping", service=self.name, pid=pid)
        clean = processes.stop_process(pid, timeout_s)
        if clean:
            self.pid_file.unlink(missing_ok=True)
        else:
            log.warning("did not stop in time; killed", service=self.name, pid=pid)
            self.pid_file.unlink(missing_ok=True)
        return clean

    def status(self) -> ServiceStatus:
        pid = self.running_pid() if self.is_local else None
        error = None
        try:
            version: str | None = self.probe(timeout_s=5)
        except AccessError as exc:
            version, error = None, str(exc)
        except ServiceError:
            version = None
        answering = version is not None
        if error:
            state = "refused"
        elif self.is_local:
            state = "up" if answering else ("starting" if pid else "down")
        else:
            state = "external-up" if answering else "external-down"
        return ServiceStatus(name=self.name, state=state, address=self.address, pid=pid,
                             version=version, managed=self.is_local,
                             log=str(self.log_file) if self.is_local else None, error=error)

    def environment(self) -> dict[str, str] | None:
        """The process's environment: None inherits this one (a subclass adds its own variables)."""
        return None

    def java(self) -> str:
        return "java"

    def jvm_options(self) -> list[str]:
        """TICKPLANT_JVM_OPTIONS: extra flags for every JVM tickplant starts (the test suite's are there)."""
        return self.settings.runtime.jvm_options.split()


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` readable by its owner only (created 0600, never world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def write_properties(path: Path, properties: dict[str, str], *, writer: str, private: bool = False) -> None:
    """A Java .properties file, every key and value escaped by javaproperties, headed by the module that
    `writer`s it; owner-only when it may hold a password."""
    text = javaproperties.dumps(properties, timestamp=False,
                                comments=f" written by tickplant on every start; edit {writer} instead")
    if private:
        write_private(path, text)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def run_checked(argv: list[str], failure: str, *, timeout: float, env: dict[str, str] | None = None,
                cwd: Path | None = None) -> str:
    """Run a tool to completion and return its output; ServiceError "`failure`: <its last line>" if it fails."""
    result = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        raise ServiceError(f"{failure}: {lines[-1] if lines else f'exit code {result.returncode}'}")
    return result.stdout


def require_listening(host: str, port: int, address: str | None = None) -> None:
    """The first step of a local probe: ServiceError when nothing listens yet (retried while starting)."""
    if not port_open(host, port):
        raise ServiceError(f"nothing listens on {address or f'{host}:{port}'}")


def build_venv_once(venv: Path, fingerprint: str, steps: Callable[[], list[list[str]]], what: str, *,
                    timeout: float, executables: tuple[str, ...] = ("python",)) -> float:
    """Build the virtualenv `venv` by running `steps()` unless it was built from `fingerprint` (what it
    is made of: pins, constraints, interpreter) and its `executables` are still there; under a lock
    beside it, so two starts at once build it once. Returns the seconds the build took (0: it was ready)."""
    marker = venv / ".tickplant-installed"

    def ready() -> bool:
        return (marker.exists() and marker.read_text(encoding="utf-8").strip() == fingerprint
                and all((venv / "bin" / name).exists() for name in executables))

    if ready():
        return 0.0
    venv.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with (venv.parent / f".{venv.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two starts at once: the second waits, then finds it done
        if ready():
            return 0.0
        log.info(f"creating {what} (once)", venv=str(venv))
        shutil.rmtree(venv, ignore_errors=True)  # a half-built or damaged one is rebuilt, not patched
        for step in steps():
            run_checked(step, f"building {what} in {venv} failed", timeout=timeout)
        marker.write_text(fingerprint + "\n", encoding="utf-8")
    seconds = time.monotonic() - started
    log.info(f"{what} ready", seconds=round(seconds, 1))
    return seconds
