"""docs/reference.md (linked from the README's first screen) documents every flag of every command
and every configuration variable: its blocks are generated from the parsers and the settings model
and must be current."""

from __future__ import annotations

import re

from core.config import variables
from tickplant import reference
from tickplant.commands.bench import BENCHMARKS


def _all_flags() -> set[str]:
    return {option for parser in reference.every_parser() for action in parser.documented
            for option in action.option_strings if option.startswith("--")}


def test_reference_blocks_are_current():
    assert reference.main(["--check"]) == 0, "run `python -m tickplant.reference` and commit docs/reference.md"


def test_reference_names_every_flag_and_every_variable():
    readme = reference.REFERENCE.read_text(encoding="utf-8")
    missing_flags = sorted(flag for flag in _all_flags() if f"`{flag}" not in readme)
    missing_variables = sorted(name for name in variables() if f"`{name}`" not in readme)
    assert missing_flags == [] and missing_variables == []
    assert len(_all_flags()) > 40 and len(variables()) > 30


def test_readme_links_the_reference():
    assert "(docs/reference.md)" in (reference.PROJECT_ROOT / "README.md").read_text(encoding="utf-8")


def test_the_recorded_arguments_are_every_flag_argparse_prints_in_usage():
    # the reference lists what DocumentedParser recorded; argparse's own usage line is the check
    # that no argument reached a parser another way (a parent parser, a group)
    for parser in reference.every_parser():
        printed = set(re.findall(r"(?<![\w-])--[a-z][\w-]*", parser.format_usage())) - {"--help"}
        recorded = {option for action in parser.documented for option in action.option_strings}
        assert printed <= recorded, parser.prog


def test_every_command_and_benchmark_has_a_section():
    commands = reference.commands_block()
    root = reference.every_parser()[0]
    assert set(root.commands) >= {"collect", "stream", "services", "bench"}
    titles = [f"tickplant {name} {child}" for name, (parser, _) in root.commands.items() for child in parser.commands]
    titles += [f"tickplant {name}" for name, (parser, _) in root.commands.items() if not parser.commands]
    for title in titles:
        assert f"#### `{title}`" in commands
    for name in BENCHMARKS:
        assert f"#### `tickplant bench {name}`" in commands
