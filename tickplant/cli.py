"""The `tickplant` command line: one subcommand per job of the README.

Each command family lives in `tickplant/commands/<family>.py` and registers itself here. Building
the parser imports nothing heavy (no Spark, driver or numpy): handlers import what they run.
A bad flag or variable is one line and exit 2 before anything starts; any TickplantError is one
line and its exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from core.errors import TickplantError
from core.logging import redact, setup_logging
from tickplant import __version__
from tickplant.commands import COMMAND_MODULES
from tickplant.parsing import OneLineParser

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def build_parser(parser_class: type[OneLineParser] = OneLineParser) -> argparse.ArgumentParser:
    """The whole command line; `parser_class` (a subclass) lets the reference record what is built."""
    parser = parser_class(prog="tickplant", description="real-time market-data pipeline")
    parser.add_argument("--version", action="version", version=f"tickplant {__version__}",
                        help="print the version and exit")
    parser.add_argument("--log-level", default="INFO", type=str.upper, choices=LOG_LEVELS,
                        help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        module.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from core.config import Settings, raw_secret_values  # pydantic: only once a command runs

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
