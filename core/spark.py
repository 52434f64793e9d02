"""The SparkSession every tickplant Spark job starts from: master, connector jars, Cassandra
contact points and small-machine defaults, all from Settings (secrets never: see core.security).
Flags given to `spark-submit` (`--master`, `--jars`, `--conf`) win over these defaults.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from pyspark import SparkConf, SparkContext
from pyspark.sql import SparkSession

from core.config import Settings
from core.errors import ConfigError
from core.pyfiles import ZIP_NAME, code_zip


def spark_jars(settings: Settings) -> list[Path]:
    """The connector jars `make install` resolved (Kafka source, Avro, Cassandra connector)."""
    directory = settings.runtime.jars_dir / "spark"
    jars = sorted(directory.glob("*.jar"))
    if not jars:
        raise ConfigError(f"no Spark connector jars in {directory}: run `make install`")
    return jars


def spark_conf(settings: Settings, app_name: str, extra: Mapping[str, str] | None = None,
               with_jars: bool = True) -> dict[str, str]:
    """The configuration `build_session` applies (without what spark-submit already set)."""
    conf: dict[str, str] = {
        "spark.app.name": app_name,
        "spark.master": settings.spark.master,
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(settings.spark.shuffle_partitions),
        "spark.default.parallelism": str(settings.spark.parallelism),
        "spark.ui.showConsoleProgress": "false",
        "spark.ui.enabled": str(settings.spark.ui).lower(),
        "spark.sql.streaming.metricsEnabled": "true",
        # Checkpoint files through Hadoop's FileSystem, not FileContext: on the local file system
        # FileContext's rename forks a `readlink` process for every file a batch commits.
        "spark.sql.streaming.checkpointFileManagerClass":
            "org.apache.spark.sql.execution.streaming.FileSystemBasedCheckpointFileManager",
        **settings.cassandra.spark_conf(),     # where (host, port, local DC), never who
        # A null column written as a tombstone would cost reads later; nothing we write relies on deletes.
        "spark.cassandra.output.ignoreNulls": "true",
        "spark.cassandra.output.consistency.level": "LOCAL_QUORUM",
        # Rows are grouped by partition key: a 64 KiB single-partition batch is one mutation for
        # Cassandra (and exempt from its multi-partition batch limits); the default 1 KiB made
        # Cassandra's CPU the pipeline's bottleneck.
        "spark.cassandra.output.batch.size.bytes": "65536",
        "spark.cassandra.output.concurrent.writes": "16",
    }
    driver_flags = f"{settings.runtime.jvm_options} {settings.spark.jvm_options}".strip()
    if driver_flags:
        conf["spark.driver.extraJavaOptions"] = driver_flags
    # Credentials and TLS are not here: every read and write passes them as options
    # (core.security.cassandra_connector_options), so the conf, the UI and event logs never hold them.
    if with_jars:
        conf["spark.jars"] = ",".join(str(p) for p in spark_jars(settings))
    conf.update(extra or {})
    return conf


def _submitted_conf() -> SparkConf:
    """What spark-submit passed (its JVM is already up); empty when started from plain Python."""
    if os.environ.get("PYSPARK_GATEWAY_PORT"):
        SparkContext._ensure_initialized()
        return SparkConf()
    return SparkConf(loadDefaults=False)


def build_session(settings: Settings, app_name: str, extra: Mapping[str, str] | None = None) -> SparkSession:
    """A SparkSession for `app_name`; when launched by spark-submit its own flags are kept."""
    submitted = _submitted_conf()
    builder = SparkSession.builder
    jars_given = submitted.contains("spark.jars") or submitted.contains("spark.jars.packages")
    for key, value in spark_conf(settings, app_name, extra, with_jars=not jars_given).items():
        if (key in ("spark.master", "spark.jars") or key in (extra or {})) and submitted.contains(key):
            continue
        builder = builder.config(key, value)
    local = settings.spark.master.startswith("local") and not submitted.contains("spark.master")
    if local:
        # Python workers (only needed by Python UDFs and tests) use this interpreter.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    elif not submitted.contains("spark.master"):
        # A cluster's executors run the interpreter the driver names: the executors' own virtualenv
        # when this machine has one (the rehearsal cluster's workers), else whatever PYSPARK_PYTHON says.
        executor_python = settings.spark.executor_venv.expanduser().resolve() / "bin" / "python"
        if executor_python.exists():
            os.environ.setdefault("PYSPARK_PYTHON", str(executor_python))
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel(settings.spark.log_level)
    if not local and not submitted.contains("spark.submit.pyFiles"):
        ship_code(session, settings)
    _import_hot_classes(session)
    return session


def ship_code(session: SparkSession, settings: Settings) -> Path:
    """The project's code zip (core.pyfiles) added for the executors of a cluster, which have no
    tickplant (spark-submit's --py-files does the same); this driver keeps importing from the checkout."""
    path = code_zip(settings.runtime.home / "run" / ZIP_NAME)
    before = list(sys.path)
    session.sparkContext.addPyFile(str(path))
    sys.path[:] = before   # addPyFile also puts the zip first on the driver's path: not wanted here
    return path


# py4j resolves a short name such as `functions` (every pyspark.sql.functions call) by trying it bare,
# then each of PySpark's star imports in turn; each miss is a lookup across every jar on the classpath
# (~250). Imported by their full names they cost one miss instead of six or seven.
HOT_CLASSES = ("org.apache.spark.sql.functions", "org.apache.spark.api.python.PythonUtils",
               "org.apache.spark.sql.api.python.PythonSQLUtils")


def _import_hot_classes(session: SparkSession) -> None:
    from py4j.java_gateway import java_import

    for name in HOT_CLASSES:
        java_import(session.sparkContext._jvm, name)
