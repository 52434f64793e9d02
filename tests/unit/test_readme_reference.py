"""docs/reference.md (linked from the README's first screen) documents every flag of every command
and every configuration variable: its blocks are generated from the parsers and the settings model
and must be current."""

from __future__ import annotations

import argparse

from core.config import variables
from tickplant import reference
from tickplant.cli import build_parser
from tickplant.commands.bench import BENCHMARKS, benchmark_parser


def _all_flags() -> set[str]:
    flags: set[str] = set()
    parsers = [build_parser()]
    parsers += [benchmark_parser(name)[0] for name in BENCHMARKS]
    while parsers:
        parser = parsers.pop()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                parsers.extend(action.choices.values())
            flags.update(option for option in action.option_strings if option.startswith("--"))
    return flags - {"--help"}


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
