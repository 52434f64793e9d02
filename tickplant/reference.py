"""The command and configuration reference (docs/reference.md, linked from the README), generated
from the argument parsers and the settings model, so the documentation cannot drift from the code:
`python -m tickplant.reference` rewrites its marked blocks, `--check` fails when they differ (a unit
test runs it).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.config import PROJECT_ROOT, Settings, variable_of
from tickplant.cli import build_parser
from tickplant.commands.bench import BENCHMARKS
from tickplant.parsing import OneLineParser

REFERENCE = PROJECT_ROOT / "docs" / "reference.md"
BLOCKS = ("commands", "configuration")


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


class DocumentedParser(OneLineParser):
    """The CLI's parser, recording what is added to it through argparse's public calls: its
    arguments in order (`documented`) and its subcommands with their help (`commands`), since
    argparse has no public way to list them back."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.documented: list[argparse.Action] = []
        self.commands: dict[str, tuple[DocumentedParser, str]] = {}
        super().__init__(*args, **kwargs)
        self.documented.clear()     # -h/--help: every parser has it, the reference leaves it out

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        action = super().add_argument(*args, **kwargs)
        self.documented.append(action)
        return action

    def add_mutually_exclusive_group(self, **kwargs: Any) -> Any:
        group = super().add_mutually_exclusive_group(**kwargs)
        group.add_argument = self._recording(group.add_argument)
        return group

    def add_argument_group(self, *args: Any, **kwargs: Any) -> Any:
        group = super().add_argument_group(*args, **kwargs)
        group.add_argument = self._recording(group.add_argument)
        return group

    def add_subparsers(self, **kwargs: Any) -> Any:
        subparsers = super().add_subparsers(**kwargs)
        add_parser = subparsers.add_parser

        def add_command(name: str, **options: Any) -> DocumentedParser:
            parser = add_parser(name, **options)
            self.commands[name] = (parser, options.get("help") or "")
            return parser

        subparsers.add_parser = add_command
        return subparsers

    def _recording(self, add: Callable[..., argparse.Action]) -> Callable[..., argparse.Action]:
        def add_argument(*args: Any, **kwargs: Any) -> argparse.Action:
            action = add(*args, **kwargs)
            self.documented.append(action)
            return action
        return add_argument


def benchmark_parser(name: str) -> DocumentedParser:
    """`tickplant bench NAME`'s parser, built as tickplant.commands.bench builds it."""
    module_name, summary = BENCHMARKS[name]
    parser = DocumentedParser(prog=f"tickplant bench {name}", description=summary)
    importlib.import_module(module_name).add_arguments(parser)
    return parser


def every_parser() -> list[DocumentedParser]:
    """The root parser, every command's and subcommand's, and every benchmark's."""
    parsers, pending = [], [build_parser(DocumentedParser)]
    while pending:
        parser = pending.pop(0)
        parsers.append(parser)
        pending.extend(child for child, _ in parser.commands.values())
    return parsers + [benchmark_parser(name) for name in BENCHMARKS]


def _flag_rows(parser: DocumentedParser) -> list[str]:
    rows = []
    for action in parser.documented:
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


def _section(title: str, parser: DocumentedParser, summary: str) -> list[str]:
    lines = [f"#### `{title}`", "", _cell(summary or parser.description or "")]
    rows = _flag_rows(parser)
    if rows:
        lines += ["", "| flag | default | meaning |", "| --- | --- | --- |", *rows]
    return [*lines, ""]


def commands_block() -> str:
    """Every command and subcommand with every flag, its default and its help text."""
    root = build_parser(DocumentedParser)
    lines = _section("tickplant", root, "options of every command (before the command name)")
    for name, (parser, summary) in root.commands.items():
        if parser.commands:
            for child, (child_parser, child_summary) in parser.commands.items():
                lines += _section(f"tickplant {name} {child}", child_parser, child_summary)
            continue
        lines += _section(f"tickplant {name}", parser, summary)
    for name in BENCHMARKS:
        lines += _section(f"tickplant bench {name}", benchmark_parser(name), BENCHMARKS[name][1])
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
