"""`tickplant bench suite --junit RUN.xml [--vs OLD.xml]`: where the test suite's time goes, per
test file (setup + call + teardown, as pytest's JUnit XML reports each test), slowest first; with
`--vs`, an earlier run's figures beside it. `make test` writes var/junit-unit.xml and var/junit.xml."""

from __future__ import annotations

import argparse
import collections
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from core.config import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--junit", type=Path, nargs="+", required=True, help="JUnit XML file(s) of one run")
    parser.add_argument("--vs", type=Path, nargs="+", default=[], help="JUnit XML file(s) of a run to compare with")
    parser.add_argument("--rename", action="append", default=[], metavar="OLD=NEW",
                        help="a test file moved between the runs: its old path and its new one")
    parser.add_argument("--top", type=int, default=0, help="only the N slowest files (default: all)")


def per_file(paths: list[Path]) -> dict[str, tuple[float, int]]:
    """Test file -> (seconds, tests) over every <testcase> of the given reports."""
    seconds: dict[str, float] = collections.defaultdict(float)
    counts: dict[str, int] = collections.defaultdict(int)
    for path in paths:
        for case in ElementTree.parse(path).getroot().iter("testcase"):
            module = case.get("classname", "").split("::")[0]
            # classname is the dotted module path, plus the class for tests inside a class
            parts = module.split(".")
            while parts and not parts[-1].startswith("test_"):
                parts.pop()
            name = "/".join(parts) + ".py" if parts else module
            seconds[name] += float(case.get("time", 0))
            counts[name] += 1
    return {name: (seconds[name], counts[name]) for name in seconds}


def run(settings: Settings, args: argparse.Namespace) -> int:
    now = per_file(args.junit)
    before = per_file(args.vs) if args.vs else {}
    for rename in args.rename:
        old, _, new = rename.partition("=")
        if old in before:
            before[new] = before.pop(old)
    names = sorted(set(now) | set(before), key=lambda n: -max(now.get(n, (0, 0))[0], before.get(n, (0, 0))[0]))
    if args.top:
        names = names[:args.top]
    if before:
        print("| test file | tests | before (s) | after (s) |\n| --- | ---: | ---: | ---: |")
        for name in names:
            (after_s, tests), (before_s, _) = now.get(name, (0.0, 0)), before.get(name, (0.0, 0))
            print(f"| `{name}` | {tests} | {before_s:.1f} | {after_s:.1f} |")
        print(f"| **all** | {sum(c for _, c in now.values())} | {sum(s for s, _ in before.values()):.0f} "
              f"| {sum(s for s, _ in now.values()):.0f} |")
    else:
        print("| test file | tests | seconds |\n| --- | ---: | ---: |")
        for name in names:
            print(f"| `{name}` | {now[name][1]} | {now[name][0]:.1f} |")
        print(f"| **all** | {sum(c for _, c in now.values())} | {sum(s for s, _ in now.values()):.0f} |")
    return 0
