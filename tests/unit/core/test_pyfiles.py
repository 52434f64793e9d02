"""The code zip for Spark executors: what the GBM job's pandas function imports, nothing of the
shell, the same bytes for the same code."""

from __future__ import annotations

import zipfile


def test_the_code_zip_holds_what_executors_import_and_is_reproducible(tmp_path):
    from core.pyfiles import code_zip

    first = code_zip(tmp_path / "a" / "tickplant.zip").read_bytes()
    second = code_zip(tmp_path / "b" / "tickplant.zip").read_bytes()
    assert first == second
    names = set(zipfile.ZipFile(tmp_path / "a" / "tickplant.zip").namelist())
    # the GBM job's pandas function and what it imports
    assert {"gbm_analysis/analysis.py", "gbm_analysis/model.py", "gbm_analysis/options.py", "core/symbols.py",
            "core/errors.py", "core/__init__.py", "gbm_analysis/__init__.py"} <= names
    assert not any(name.startswith(("tickplant/", "collector/", "dashboard/")) for name in names)
