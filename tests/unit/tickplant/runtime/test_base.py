"""runtime/base.py's build-once virtualenv: built by its steps when missing, left alone while its
fingerprint and executables hold, rebuilt from scratch when either changes."""

from __future__ import annotations

import pytest

from tickplant.runtime.base import build_venv_once

pytestmark = pytest.mark.unit


def _builder(venv, calls):
    def steps():
        calls.append(1)
        return [["mkdir", "-p", str(venv / "bin")], ["touch", str(venv / "bin" / "python"), str(venv / "bin" / "tool")]]
    return steps


def test_built_once_then_left_alone_while_its_fingerprint_holds(tmp_path):
    venv, calls = tmp_path / "venvs" / "v", []
    assert build_venv_once(venv, "pins-1", _builder(venv, calls), "a test venv", timeout=30) > 0
    assert (venv / ".tickplant-installed").read_text() == "pins-1\n"
    (venv / "kept").write_text("x")
    assert build_venv_once(venv, "pins-1", _builder(venv, calls), "a test venv", timeout=30) == 0.0
    assert calls == [1] and (venv / "kept").exists()


def test_a_new_fingerprint_or_a_missing_executable_rebuilds_it_from_scratch(tmp_path):
    venv, calls = tmp_path / "v", []
    build_venv_once(venv, "pins-1", _builder(venv, calls), "a test venv", timeout=30)
    (venv / "stale").write_text("x")
    build_venv_once(venv, "pins-2", _builder(venv, calls), "a test venv", timeout=30)
    assert calls == [1, 1] and not (venv / "stale").exists()
    (venv / "bin" / "tool").unlink()
    build_venv_once(venv, "pins-2", _builder(venv, calls), "a test venv", timeout=30, executables=("python", "tool"))
    assert calls == [1, 1, 1] and (venv / "bin" / "tool").exists()
