"""The error hierarchy every part raises; the CLI turns any of them into one clear line."""


class TickplantError(Exception):
    """Base of every error tickplant raises on purpose (shown to the user as one line)."""

    exit_code = 1


class ConfigError(TickplantError, ValueError):
    """A configuration variable or flag is missing or invalid (a ValueError, so validators can raise it)."""

    exit_code = 2


class ServiceError(TickplantError):
    """A local service could not be started, reached or stopped."""


class StateError(TickplantError):
    """Runtime state under TICKPLANT_HOME is inconsistent; nothing was deleted."""


class SchemaError(TickplantError):
    """A schema file (Avro, topics, CQL migration) is invalid or could not be applied."""


class AccessError(ServiceError):
    """A service answered but refused us: wrong credentials or a certificate we do not trust.
    Retrying cannot help, so callers fail at once with the cause."""
