"""The `tickplant` command line: one subcommand per job of DESIGN.md.

Each command family lives in `tickplant/commands/<family>.py` and registers itself here.
Any TickplantError becomes one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import sys

from core.config import Settings, raw_secret_values
from core.errors import TickplantError
from core.logging import redact, setup_logging
from tickplant import __version__
from tickplant.commands import COMMAND_MODULES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tickplant", description="real-time market-data pipeline")
    parser.add_argument("--version", action="version", version=f"tickplant {__version__}")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (default INFO)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        module.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        setup_logging(args.log_level, secrets=raw_secret_values())
        settings = Settings.from_env()
        setup_logging(args.log_level, secrets=settings.secret_values())
        return int(args.handler(settings, args) or 0)
    except TickplantError as exc:
        print(f"tickplant: error: {redact(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and closed early
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
