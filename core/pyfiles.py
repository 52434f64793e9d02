"""The project's code as one zip for Spark executors (`--py-files`, `addPyFile`): the packages a
job's functions import on an executor, whose Python has no tickplant installed. Only files are
read here (nothing of the parts is imported)."""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

from core.config import PROJECT_ROOT

# What executors import: the GBM job's pandas function (gbm_analysis.analysis -> model, options ->
# core.symbols, core.errors) and, so that any later function of a job finds its package, the rest
# of the Spark jobs' packages. The tickplant shell and the collector never run on an executor.
EXECUTOR_PACKAGES = ("core", "gbm_analysis", "stream_processor")
ZIP_NAME = "tickplant.zip"
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)   # the same code gives the same bytes (no build time inside)


def code_zip(destination: Path, root: Path = PROJECT_ROOT) -> Path:
    """Write the EXECUTOR_PACKAGES' .py files into the zip `destination` (replaced atomically, so a
    driver being served the old one never reads half a file); returns `destination`."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{destination.name}.", dir=destination.parent)
    os.close(handle)
    try:
        with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for package in EXECUTOR_PACKAGES:
                for source in sorted((root / package).rglob("*.py")):
                    entry = zipfile.ZipInfo(source.relative_to(root).as_posix(), date_time=_FIXED_TIME)
                    entry.compress_type = zipfile.ZIP_DEFLATED
                    entry.external_attr = 0o644 << 16
                    archive.writestr(entry, source.read_bytes())
        os.chmod(temporary, 0o644)
        os.replace(temporary, destination)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return destination
