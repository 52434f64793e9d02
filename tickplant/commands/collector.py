"""Subcommands of the collector family (filled in by its issue)."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction) -> None:
    """Nothing registered yet."""
