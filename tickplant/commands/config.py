"""`tickplant config`: the effective configuration by variable name, secrets shown only as set/unset."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.config import Settings


def register(commands: argparse._SubParsersAction) -> None:
    config = commands.add_parser("config", help="show the effective configuration (secrets masked)")
    config.add_argument("--json", action="store_true", help="machine-readable output")
    config.set_defaults(handler=show_config)


def show_config(settings: Settings, args: argparse.Namespace) -> int:
    view = settings.describe()
    if args.json:
        print(json.dumps(view, indent=2))
    else:
        for variable, value in view.items():
            print(f"{variable} = {value}")
    return 0
