"""The checkout itself: no file keeps a merge's conflict markers (a merge resolved in a hurry once
committed a README with both sides of a table row)."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.unit

MARKER = re.compile(r"^(<{7} |>{7} |={7}$)", re.MULTILINE)


def test_no_tracked_text_file_holds_conflict_markers():
    names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout.split(b"\0")
    marked = []
    for name in filter(None, names):
        path = ROOT / name.decode()
        if not path.is_file():
            continue
        text = path.read_bytes()
        if b"\0" in text:   # binary
            continue
        if MARKER.search(text.decode("utf-8", errors="replace")):
            marked.append(name.decode())
    assert marked == []
