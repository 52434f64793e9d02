"""Errors the collector raises on purpose; each is a TickplantError so the CLI shows one line."""

from __future__ import annotations

from core.errors import TickplantError


class CollectorError(TickplantError):
    """The collector cannot go on (bad options, a source refusing us for good)."""


class SpoolError(CollectorError):
    """The on-disk spool under <home>/spool/ cannot be read or written."""


class ArchiveError(CollectorError):
    """A raw-frame archive file is missing or unreadable."""


class SimulatorError(TickplantError):
    """The simulator could not start (port in use, bad options)."""
