"""The command and configuration reference (docs/reference.md, linked from the README), generated
from the argument parsers and the settings model, so the documentation cannot drift from the code:
`python -m tickplant.reference` rewrites its marked blocks, `--check` fails when they differ (a unit
test runs it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.config import PROJECT_ROOT, Settings, variable_of
from tickplant.cli import build_parser
from tickplant.commands.bench import BENCHMARKS, benchmark_parser

REFERENCE = PROJECT_ROOT / "docs" / "reference.md"
BLOCKS = ("commands", "configuration")


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _flag_rows(parser: argparse.ArgumentParser) -> list[str]:
    rows = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        if action.option_strings:
            name = ", ".join(action.option_strings)
            if action.nargs != 0:
                name += f" {action.metavar or action.dest.upper()}"
        else:
            name = action.metavar or action.dest.upper()
            if action.nargs in ("+", "*", argparse.REMAINDER):
                name += " …"
        if action.choices and action.nargs != argparse.REMAINDER:
            name += " {" + ",".join(str(c) for c in action.choices) + "}"
        default = action.default
        shown = "" if default in (None, False, argparse.SUPPRESS) or action.nargs == argparse.REMAINDER else default
        if isinstance(shown, tuple):
            shown = ",".join(str(v) for v in shown)
        rows.append(f"| `{_cell(name)}` | {_cell(shown)} | {_cell(action.help or '')} |")
    return rows


def _section(title: str, parser: argparse.ArgumentParser, summary: str) -> list[str]:
    lines = [f"#### `{title}`", "", _cell(summary or parser.description or "")]
    rows = _flag_rows(parser)
    if rows:
        lines += ["", "| flag | default | meaning |", "| --- | --- | --- |", *rows]
    return [*lines, ""]


def commands_block() -> str:
    """Every command and subcommand with every flag, its default and its help text."""
    root = build_parser()
    lines = _section("tickplant", root, "options of every command (before the command name)")
    helps = {a.dest: a.help for a in root._subparsers._group_actions[0]._choices_actions}
    for name, parser in _subcommands(root).items():
        children = _subcommands(parser)
        if children:
            child_helps = {a.dest: a.help for a in parser._subparsers._group_actions[0]._choices_actions}
            for child, child_parser in children.items():
                lines += _section(f"tickplant {name} {child}", child_parser, child_helps.get(child, ""))
            continue
        lines += _section(f"tickplant {name}", parser, helps.get(name, ""))
    for name in BENCHMARKS:
        parser, _ = benchmark_parser(name)
        lines += _section(f"tickplant bench {name}", parser, BENCHMARKS[name][1])
    return "\n".join(lines).rstrip() + "\n"


def _default(field: str) -> str:
    info = Settings.model_fields[field]
    value = info.default
    if value is None:
        return "unset"
    if isinstance(value, Path):
        return f"`./{value.relative_to(PROJECT_ROOT)}`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{_cell(value)}`"


def configuration_block() -> str:
    """Every variable of the settings model, its default and its meaning."""
    lines = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for field, info in Settings.model_fields.items():
        lines.append(f"| `{variable_of(field)}` | {_default(field)} | {_cell(info.description or '')} |")
    return "\n".join(lines) + "\n"


def _markers(block: str) -> tuple[str, str]:
    return f"<!-- reference:{block}:begin -->\n", f"<!-- reference:{block}:end -->"


def render(text: str) -> str:
    """`text` (docs/reference.md) with each marked block replaced by its generated content."""
    generated = {"commands": commands_block(), "configuration": configuration_block()}
    for block in BLOCKS:
        begin, end = _markers(block)
        start, stop = text.index(begin) + len(begin), text.index(end)
        text = text[:start] + generated[block] + text[stop:]
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tickplant.reference", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/reference.md is out of date")
    args = parser.parse_args(argv)
    current = REFERENCE.read_text(encoding="utf-8")
    wanted = render(current)
    if args.check:
        if wanted != current:
            print("docs/reference.md is out of date: run `python -m tickplant.reference`", file=sys.stderr)
            return 1
        return 0
    REFERENCE.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
