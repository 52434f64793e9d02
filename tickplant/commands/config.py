"""`tickplant config`: the effective configuration, secrets shown only as set/unset."""

from __future__ import annotations

import argparse
import json

from core.config import Settings


def register(commands: argparse._SubParsersAction) -> None:
    config = commands.add_parser("config", help="show the effective configuration (secrets masked)")
    config.add_argument("--json", action="store_true")
    config.set_defaults(handler=show_config)


def show_config(settings: Settings, args: argparse.Namespace) -> int:
    view = settings.describe()
    for name in ("finnhub_api_token", "cassandra_password"):
        view[name] = "set" if view[name] == "set" else "unset"
    if args.json:
        print(json.dumps(view, indent=2))
    else:
        for key, value in view.items():
            print(f"{key} = {value}")
    return 0
