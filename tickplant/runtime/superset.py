"""Superset in its own virtualenv (var/venvs/superset): created on first use from pinned
requirements, metadata in SQLite under TICKPLANT_HOME/superset, served by gunicorn, and the
YAML bundle of dashboard/superset/ imported idempotently (by UUID) on every start.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import secrets
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from pydantic import SecretStr

from core.config import PROJECT_ROOT, Settings
from core.errors import ServiceError
from core.logging import get_logger
from tickplant.runtime.base import (
    LocalService,
    ServiceStatus,
    Show,
    build_venv_once,
    require_listening,
    run_checked,
    write_private,
)
from tickplant.runtime.sql_options import SqlOptions
from tickplant.runtime.trino import CATALOG, TRINO_USER

log = get_logger(__name__)

BUNDLE_DIR = PROJECT_ROOT / "dashboard" / "superset"
REQUIREMENTS = ["apache-superset[trino]==6.1.0", "flask-caching==2.3.1", "rich", "cachetools"]
DATABASE_NAME = "tickplant (Trino over Cassandra)"


def ensure_venv(venv: Path) -> float:
    """Create or update Superset's own virtualenv from the pinned set; returns the seconds it took."""
    constraints = BUNDLE_DIR / "constraints.txt"
    wanted = hashlib.sha256(constraints.read_bytes() + " ".join(REQUIREMENTS).encode()).hexdigest()
    # the base interpreter, not this project's venv: Superset's venv must outlive a rebuilt .venv
    steps = [[getattr(sys, "_base_executable", sys.executable), "-m", "venv", str(venv)],
             [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
              "-c", str(constraints), *REQUIREMENTS]]
    return build_venv_once(venv, wanted, lambda: steps, "the Superset virtualenv", timeout=1800,
                           executables=("python", "superset"))


METADATA_TEMPLATE = "tickplant-metadata-template.db"


def superset_environment(config_file: Path) -> dict[str, str]:
    """This process's environment without the caller's SUPERSET_/FLASK_ variables, for `config_file`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPERSET_", "FLASK_"))}
    env.update({"SUPERSET_CONFIG_PATH": str(config_file), "FLASK_APP": "superset", "PYTHONUNBUFFERED": "1"})
    return env


def superset_cli(venv: Path, config_file: Path, cwd: Path, *args: str, env: dict[str, str] | None = None,
                 timeout: float = 600) -> str:
    """Run the `superset` CLI of `venv` with `config_file`; ServiceError with its last line if it fails."""
    return run_checked([str(venv / "bin" / "superset"), *args], f"`superset {args[0]}` failed",
                       env={**superset_environment(config_file), **(env or {})}, cwd=cwd, timeout=timeout)


def ensure_metadata_template(venv: Path) -> Path:
    """An empty Superset metadata database — schema migrated, roles and permissions synced — made once
    per virtualenv by its own Superset: a new TICKPLANT_HOME copies it instead of migrating from
    nothing (`db upgrade` + `init`: ~55 s on a 2-core box). It holds no secret and no user."""
    template = venv / METADATA_TEMPLATE
    if template.exists():
        return template
    with (venv.parent / f".{venv.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if template.exists():
            return template
        started = time.monotonic()
        work = Path(tempfile.mkdtemp(prefix=".template-", dir=venv))
        try:
            config = work / "superset_config.py"
            write_private(config, f"SECRET_KEY = {secrets.token_hex(32)!r}\n"
                                  f"SQLALCHEMY_DATABASE_URI = 'sqlite:///{work / 'superset.db'}'\n")
            for args in (("db", "upgrade"), ("init",)):
                superset_cli(venv, config, work, *args, timeout=900)
            (work / "superset.db").rename(template)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        log.info("Superset metadata template ready", seconds=round(time.monotonic() - started, 1))
    return template


class SupersetService(LocalService):
    """Superset on 127.0.0.1:<TICKPLANT_SUPERSET_PORT>, reading through the Trino engine."""

    name = "superset"
    main_class = "superset.app:create_app()"

    def __init__(self, settings: Settings, options: SqlOptions) -> None:
        super().__init__(settings)
        self.options = options
        self.venv = options.superset_venv
        self.new_admin_password: SecretStr | None = None  # set when start() generated one

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def ports(self) -> list[int]:
        return [self.options.superset_port]

    @property
    def is_local(self) -> bool:
        return True

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.options.superset_port}"

    @property
    def config_file(self) -> Path:
        return self.dir / "superset_config.py"

    @property
    def password_file(self) -> Path:
        return self.dir / "admin-password"

    def installed(self) -> bool:
        return (self.venv / ".tickplant-installed").exists() and (self.venv / "bin" / "superset").exists()

    def admin_password(self) -> SecretStr:
        """From SUPERSET_ADMIN_PASSWORD, else the one generated at creation (var/superset/admin-password)."""
        if self.options.superset_admin_password:
            return self.options.superset_admin_password
        if self.password_file.exists():
            return SecretStr(self.password_file.read_text(encoding="utf-8").strip())
        password = SecretStr(secrets.token_urlsafe(18))
        write_private(self.password_file, password.get_secret_value() + "\n")
        self.new_admin_password = password
        return password

    def secret_key(self) -> str:
        if self.options.superset_secret_key:
            return self.options.superset_secret_key.get_secret_value()
        key_file = self.dir / "secret-key"
        if not key_file.exists():
            write_private(key_file, secrets.token_urlsafe(48) + "\n")
        return key_file.read_text(encoding="utf-8").strip()

    def environment(self) -> dict[str, str]:
        return superset_environment(self.config_file)

    def superset(self, *args: str, env: dict[str, str] | None = None, timeout: float = 600) -> str:
        """Run the `superset` CLI of the venv; ServiceError with its last line if it fails."""
        return superset_cli(self.venv, self.config_file, self.dir, *args, env=env, timeout=timeout)

    def sqlalchemy_uri(self) -> str:
        o = self.options
        return f"trino://{TRINO_USER}@{o.presto_host}:{o.presto_port}/{CATALOG}" + (
            "?protocol=https" if o.presto_scheme == "https" else "")

    def bundle(self) -> Path:
        """Zip dashboard/superset/bundle with this installation's engine address, keyspace and symbols."""
        source = BUNDLE_DIR / "bundle"
        symbols = ", ".join("'" + s.replace("'", "''") + "'" for s in self.settings.feed.symbols)
        replacements = {"@TRINO_URI@": self.sqlalchemy_uri(), "@KEYSPACE@": self.settings.cassandra.keyspace,
                        "@SYMBOLS@": symbols}
        target = self.dir / "bundle.zip"
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(source.rglob("*.yaml")):
                text = path.read_text(encoding="utf-8")
                for marker, value in replacements.items():
                    text = text.replace(marker, value)
                archive.writestr(f"tickplant/{path.relative_to(source)}", text)
        return target

    def prepare(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        database = self.dir / "superset.db"
        write_private(self.config_file, "\n".join([
            "# written by tickplant on every start; edit tickplant/runtime/superset.py instead",
            f"SECRET_KEY = {self.secret_key()!r}",
            f"SQLALCHEMY_DATABASE_URI = 'sqlite:///{database}?check_same_thread=false'",
            "WTF_CSRF_ENABLED = True",
            "TALISMAN_ENABLED = False",
            "SUPERSET_WEBSERVER_TIMEOUT = 120",
            "SQLLAB_TIMEOUT = 120",
            "FEATURE_FLAGS = {'DASHBOARD_NATIVE_FILTERS': True}",
            "DATA_CACHE_CONFIG = {'CACHE_TYPE': 'NullCache'}",
            "",
        ]))
        password = self.admin_password()
        user = self.options.superset_admin_username
        first = not (self.dir / ".initialized").exists()
        if first:
            started = time.monotonic()
            fresh = not database.exists()
            if fresh:   # the venv's migrated, initialised template (a half-initialised database is redone)
                shutil.copyfile(ensure_metadata_template(self.venv), database)
                database.chmod(0o600)
            else:
                self.superset("db", "upgrade")
            self.superset("fab", "create-admin", "--username", user, "--firstname", "tickplant",
                          "--lastname", "admin", "--email", f"{user}@localhost",
                          "--password", password.get_secret_value())
            if not fresh:
                self.superset("init")
            (self.dir / ".initialized").write_text("", encoding="utf-8")
            log.info("Superset metadata initialised", seconds=round(time.monotonic() - started, 1))
        else:
            self.superset("db", "upgrade")
        self.provision()

    def provision(self) -> None:
        """Import the bundle (overwrite by UUID: no duplicates), keep the admin password as configured."""
        started = time.monotonic()
        env = {"TICKPLANT_SUPERSET_ADMIN": self.options.superset_admin_username,
               "TICKPLANT_SUPERSET_PASSWORD": self.admin_password().get_secret_value()}
        out = self.superset_python(str(BUNDLE_DIR / "provision.py"), str(self.bundle()), env=env)
        log.info("Superset content imported", seconds=round(time.monotonic() - started, 1), result=out.strip()[-200:])

    def superset_python(self, *args: str, env: dict[str, str] | None = None) -> str:
        return run_checked([str(self.venv / "bin" / "python"), *args], "provisioning Superset failed",
                           env={**self.environment(), **(env or {})}, cwd=self.dir, timeout=600)

    def start(self, show: Show | None = None) -> ServiceStatus:
        ensure_venv(self.venv)
        if self.running_pid() is not None:
            self.prepare()  # re-import: picks up bundle changes, creates nothing twice
        return super().start(show)

    def command(self) -> list[str]:
        # `env` execs gunicorn (same pid) with Superset's config path; nothing secret on the command line
        return ["env", f"SUPERSET_CONFIG_PATH={self.config_file}", str(self.venv / "bin" / "gunicorn"),
                "--bind", f"{self.host}:{self.options.superset_port}", "--workers", "1",
                "--worker-class", "gthread", "--threads", "8", "--timeout", "120",
                "--limit-request-line", "0", "--limit-request-field_size", "0", self.main_class]

    def probe(self, timeout_s: float) -> str:
        require_listening(self.host, self.options.superset_port, self.address)
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=timeout_s) as response:
                body = response.read().decode(errors="replace").strip()
        except (urllib.error.URLError, OSError) as exc:
            raise ServiceError(f"Superset at {self.url} did not answer /health: {exc}") from None
        if body != "OK":
            raise ServiceError(f"Superset at {self.url} answered /health with {body[:80]!r}")
        found = sorted(self.venv.glob("lib/python*/site-packages/apache_superset-*.dist-info"))
        return "Superset " + (found[-1].name.removesuffix(".dist-info").split("-")[1] if found else "?")
