"""Structured logging (key=value lines) set up once per process, with secret redaction.

Use `log = get_logger(__name__)` and `log.info("event", key=value, ...)`.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable
from typing import Any

_REDACTED = "***"
_secrets: list[str] = []


def _format_value(value: Any) -> str:
    text = str(value)
    if not text or any(c in text for c in ' ="'):
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def redact(text: str) -> str:
    """Replace every registered secret value in `text` with a mask."""
    for secret in _secrets:
        if secret:
            text = text.replace(secret, _REDACTED)
    return text


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        parts = [f"ts={stamp}.{int(record.msecs):03d}Z", f"level={record.levelname.lower()}",
                 f"logger={record.name}", f"event={_format_value(record.getMessage())}"]
        for key, value in getattr(record, "fields", {}).items():
            parts.append(f"{key}={_format_value(value)}")
        if record.exc_info:
            parts.append(f"error={_format_value(self.formatException(record.exc_info))}")
        return redact(" ".join(parts))


class StructuredLogger(logging.LoggerAdapter):
    """`log.info("batch written", rows=10)` -> `... event="batch written" rows=10`."""

    def log(self, level: int, msg: object, *args: Any, exc_info: Any = None, **fields: Any) -> None:
        if self.isEnabledFor(level):
            self.logger.log(level, msg, *args, exc_info=exc_info, extra={"fields": fields}, stacklevel=2)

    def debug(self, msg: object, *args: Any, **fields: Any) -> None:
        self.log(logging.DEBUG, msg, *args, **fields)

    def info(self, msg: object, *args: Any, **fields: Any) -> None:
        self.log(logging.INFO, msg, *args, **fields)

    def warning(self, msg: object, *args: Any, **fields: Any) -> None:
        self.log(logging.WARNING, msg, *args, **fields)

    def error(self, msg: object, *args: Any, **fields: Any) -> None:
        self.log(logging.ERROR, msg, *args, **fields)

    def exception(self, msg: object, *args: Any, **fields: Any) -> None:
        self.log(logging.ERROR, msg, *args, exc_info=True, **fields)


def get_logger(name: str) -> StructuredLogger:
    return StructuredLogger(logging.getLogger(name), {})


def setup_logging(level: str | int = "INFO", secrets: Iterable[str] = (), stream: Any = None) -> None:
    """Install the key=value formatter on the root logger (idempotent) and register secrets."""
    for secret in secrets:
        if secret and secret not in _secrets:
            _secrets.append(secret)
    root = logging.getLogger()
    root.setLevel(level if isinstance(level, int) else level.upper())
    for handler in list(root.handlers):
        if getattr(handler, "_tickplant", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    handler._tickplant = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    for noisy in ("kafka", "cassandra", "py4j", "websockets", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
