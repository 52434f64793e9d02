"""The argument parser of `tickplant` and of each `tickplant bench NAME`: a usage error is one line
and exit 2, before anything starts."""

from __future__ import annotations

import argparse
from typing import NoReturn


class OneLineParser(argparse.ArgumentParser):
    """argparse, with a usage error printed as one line (`tickplant collect: error: ...`) and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")
