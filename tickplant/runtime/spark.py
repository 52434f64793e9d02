"""The rehearsal cluster's Spark: a standalone master and two one-core workers run with `spark-class`
from the installed pyspark package (`services start --nodes 3`), and the executors' bare virtualenv
(var/venvs/executor: pyspark's own requirement py4j, numpy, pandas, pyarrow; no tickplant, as on a
real cluster), built once with uv from constraints.txt."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import tarfile
import urllib.error
import urllib.request
from importlib import metadata
from pathlib import Path

import pyspark

from core.config import PROJECT_ROOT, Settings
from core.errors import ServiceError
from core.logging import get_logger
from tickplant.runtime.base import LocalService, build_venv_once, require_listening

log = get_logger(__name__)

SPARK_HOME = Path(pyspark.__file__).resolve().parent
WORKERS = 2
# What a Python executor imports: pyspark's own requirement (pyspark itself comes from the worker's
# SPARK_HOME as python/lib/pyspark.zip), and what the GBM job's pandas function needs.
EXECUTOR_REQUIREMENTS = ("py4j", "numpy", "pandas", "pyarrow")
DAEMON_HEAP = "256m"   # the master's and each worker's own JVM; executors get TICKPLANT_SPARK_WORKER_MEMORY


def executor_venv(settings: Settings) -> Path:
    return settings.spark.executor_venv.expanduser().resolve()


def executor_python(settings: Settings) -> Path:
    """The interpreter the workers' executors run (PYSPARK_PYTHON of a driver on this cluster)."""
    return executor_venv(settings) / "bin" / "python"


def _pins(constraints: Path = PROJECT_ROOT / "constraints.txt") -> list[str]:
    """EXECUTOR_REQUIREMENTS pinned as constraints.txt pins them (their own requirements follow it too)."""
    pinned = {}
    for line in constraints.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line.strip())
        if match:
            pinned[match.group(1).lower().replace("_", "-")] = match.group(0)
    missing = [name for name in EXECUTOR_REQUIREMENTS if name not in pinned]
    if missing:
        raise ServiceError(f"{constraints} pins no version of {', '.join(missing)}")
    return [pinned[name] for name in EXECUTOR_REQUIREMENTS]


def _uv() -> str:
    beside = Path(sys.executable).parent / "uv"   # `make install` puts uv in the project's venv
    found = str(beside) if beside.exists() else shutil.which("uv")
    if not found:
        raise ServiceError("uv not found (it comes with `make install`): it builds the executors' virtualenv")
    return found


def ensure_executor_venv(settings: Settings) -> float:
    """Create or update the executors' bare virtualenv from the pinned set; returns the seconds it took."""
    venv = executor_venv(settings)
    constraints = PROJECT_ROOT / "constraints.txt"
    pins = _pins(constraints)
    wanted = hashlib.sha256(f"{sys.version_info[:2]} {' '.join(pins)}".encode() + constraints.read_bytes()).hexdigest()
    # the base interpreter (the driver's Python version: PySpark refuses a different one), not this venv
    base = getattr(sys, "_base_executable", sys.executable)

    def steps() -> list[list[str]]:
        uv = _uv()
        return [[uv, "venv", "--quiet", "--python", base, str(venv)],
                [uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
                 "-c", str(constraints), *pins]]

    return build_venv_once(venv, wanted, steps, "the Spark executors' virtualenv", timeout=900)


def _get_json(url: str, timeout_s: float) -> dict:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return json.loads(response.read().decode("utf-8"))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ServiceError(f"{url} did not answer: {exc}") from None


class SparkNode(LocalService):
    """One standalone daemon run by pyspark's `spark-class` (which execs the JVM: the pid is the JVM's)."""

    host = "127.0.0.1"

    @property
    def is_local(self) -> bool:
        return True

    @property
    def master_url(self) -> str:
        return f"spark://{self.host}:{self.settings.spark.master_port}"

    @property
    def master_json(self) -> str:
        return f"http://{self.host}:{self.settings.spark.master_ui_port}/json/"

    def installed(self) -> bool:
        return (SPARK_HOME / "bin" / "spark-class").exists()

    def prepare(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)

    def environment(self) -> dict[str, str]:
        return {**os.environ, "SPARK_HOME": str(SPARK_HOME), "SPARK_DAEMON_MEMORY": DAEMON_HEAP,
                "SPARK_DAEMON_JAVA_OPTS": " ".join(self.jvm_options()), "SPARK_LOCAL_IP": self.host,
                "SPARK_LOG_DIR": str(self.settings.runtime.home / "logs"),
                # a finished application's work directory (its jars, code, unpacked --archives) goes
                # after an hour: a 300 MB packed environment per run would otherwise pile up
                "SPARK_WORKER_OPTS": "-Dspark.worker.cleanup.enabled=true -Dspark.worker.cleanup.interval=600 "
                                     "-Dspark.worker.cleanup.appDataTtl=3600",
                # a driver's PYSPARK_PYTHON decides its executors' interpreter; this is the worker's default
                "PYSPARK_PYTHON": str(executor_python(self.settings))}

    def version(self) -> str:
        return metadata.version("pyspark")


class SparkMaster(SparkNode):
    name = "spark-master"
    main_class = "org.apache.spark.deploy.master.Master"

    @property
    def ports(self) -> list[int]:
        return [self.settings.spark.master_port, self.settings.spark.master_ui_port]

    def command(self) -> list[str]:
        return [str(SPARK_HOME / "bin" / "spark-class"), self.main_class, "--host", self.host,
                "--port", str(self.settings.spark.master_port),
                "--webui-port", str(self.settings.spark.master_ui_port)]

    def probe(self, timeout_s: float) -> str:
        require_listening(self.host, self.settings.spark.master_port)
        state = _get_json(self.master_json, timeout_s).get("status")
        if state != "ALIVE":
            raise ServiceError(f"the Spark master at {self.master_url} is {state}")
        return self.version()


class SparkWorker(SparkNode):
    """Worker `number` (1, 2): one core, TICKPLANT_SPARK_WORKER_MEMORY, its own work directory."""

    main_class = "org.apache.spark.deploy.worker.Worker"

    def __init__(self, settings: Settings, number: int) -> None:
        self.name = f"spark-worker-{number}"
        self.number = number
        super().__init__(settings)

    @property
    def ports(self) -> list[int]:
        offset = self.number - 1
        return [self.settings.spark.worker_port + offset, self.settings.spark.worker_ui_port + offset]

    def prepare(self) -> None:
        ensure_executor_venv(self.settings)
        (self.dir / "work").mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        port, ui = self.ports
        return [str(SPARK_HOME / "bin" / "spark-class"), self.main_class, "--host", self.host,
                "--port", str(port), "--webui-port", str(ui), "--cores", "1",
                "--memory", self.settings.spark.worker_memory, "--work-dir", str(self.dir / "work"),
                self.master_url]

    def probe(self, timeout_s: float) -> str:
        """Up when the master lists it ALIVE (a worker that has not registered runs no executor)."""
        port = self.ports[0]
        require_listening(self.host, port)
        workers = _get_json(self.master_json, timeout_s).get("workers", [])
        mine = [w for w in workers if w.get("host") == self.host and w.get("port") == port]
        if not any(w.get("state") == "ALIVE" for w in mine):
            raise ServiceError(f"{self.name} ({self.address}) is not registered with {self.master_url}")
        return self.version()


def spark_cluster(settings: Settings) -> list[LocalService]:
    """The master, then its workers (start order)."""
    return [SparkMaster(settings), *(SparkWorker(settings, n) for n in range(1, WORKERS + 1))]


def pack_executor_venv(settings: Settings, destination: Path) -> Path:
    """The executors' bare virtualenv (built if missing) as a tar.gz for `--archives ...#venv`, its
    files at the top (`venv/bin/python` once unpacked). A plain tar, not venv-pack: an executor runs
    `./venv/bin/python -m pyspark.daemon` and nothing else of it, so the activate scripts and script
    shebangs venv-pack rewrites are never used, and both need the same Python at the same path on every
    node (bin/python links to the base interpreter, pyvenv.cfg names its home) — venv-pack as well."""
    ensure_executor_venv(settings)
    venv = executor_venv(settings)
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(f".{destination.name}.partial")

    def keep(member: tarfile.TarInfo) -> tarfile.TarInfo | None:
        if "__pycache__" in member.name.split("/") or member.name.endswith(".tickplant-installed"):
            return None
        member.uid = member.gid = 0
        member.uname = member.gname = ""
        return member

    with tarfile.open(partial, "w:gz", compresslevel=3) as archive:
        for child in sorted(venv.iterdir()):
            archive.add(child, arcname=child.name, filter=keep)
    os.replace(partial, destination)
    return destination
