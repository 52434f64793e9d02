"""`tickplant package`: what a cluster's executors need, built into dist/ — the project's code as a
zip for `--py-files` and, with `--venv`, the executors' bare virtualenv packed for `--archives` —
and the `spark-submit` lines that use them (docs/deploy.md)."""

from __future__ import annotations

import argparse
import os
import sys
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.config import Settings

JOBS = {"stream": "stream_processor/job.py", "gbm": "gbm_analysis/job.py"}
VENV_ARCHIVE = "venv.tar.gz"


def register(commands: argparse._SubParsersAction) -> None:
    package = commands.add_parser("package", help="build dist/ for spark-submit: the code zip (--py-files), "
                                                  "with --venv the executors' environment (--archives)")
    package.add_argument("--venv", action="store_true",
                         help="also dist/venv.tar.gz: the executors' bare virtualenv (numpy, pandas, pyarrow, "
                              "py4j; no tickplant) for nodes that have no Python environment")
    package.add_argument("--dist", type=Path, default=None, help="output directory (default: dist/ of the checkout)")
    package.set_defaults(handler=package_command)


def _shown(path: Path) -> str:
    """`path` as the printed command line names it: relative to the working directory when inside it."""
    absolute = Path(os.path.abspath(path))   # not resolved: a venv's bin/python is a link to keep
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


def _size(path: Path) -> str:
    size = path.stat().st_size
    return f"{size / 1024**2:.1f} MB" if size >= 1024**2 else f"{size / 1024:.0f} KB"


def submit_line(settings: Settings, job: str, code: Path, venv_archive: Path | None) -> str:
    """The client-mode spark-submit line of `job` on the standalone master: the driver runs this
    checkout's Python, the executors the packed environment (`--archives`) or this machine's
    executors' virtualenv (the rehearsal cluster's workers)."""
    from core.config import PROJECT_ROOT
    from tickplant.runtime.spark import executor_python

    master = settings.spark.master if settings.spark.master.startswith("spark://") else \
        f"spark://127.0.0.1:{settings.spark.master_port}"
    jars = settings.runtime.jars_dir / "spark"
    bin_dir = Path(sys.executable).parent
    lines = [f"spark-submit --master {master} --deploy-mode client",
             f"--jars \"$(ls {_shown(jars)}/*.jar | paste -sd, -)\" --py-files {_shown(code)}"]
    if venv_archive is not None:
        lines.append(f"--archives {_shown(venv_archive)}#venv --conf spark.pyspark.python=./venv/bin/python")
    else:
        lines.append(f"--conf spark.pyspark.python={executor_python(settings)}")
    lines.append(f"--conf spark.pyspark.driver.python={_shown(bin_dir / 'python')}")
    lines.append(_shown(PROJECT_ROOT / JOBS[job]))
    return " \\\n  ".join(lines)


def package_command(settings: Settings, args: argparse.Namespace) -> int:
    from core.config import PROJECT_ROOT
    from core.pyfiles import ZIP_NAME, code_zip

    dist: Path = args.dist or PROJECT_ROOT / "dist"
    code = code_zip(dist / ZIP_NAME)
    with zipfile.ZipFile(code) as archive:
        files = len(archive.namelist())
    print(f"{_shown(code):<22} {_size(code):>9}  {files} modules executors import (--py-files)")
    venv_archive = None
    if args.venv:
        from tickplant.runtime.spark import pack_executor_venv

        venv_archive = pack_executor_venv(settings, dist / VENV_ARCHIVE)
        print(f"{_shown(venv_archive):<22} {_size(venv_archive):>9}  the executors' bare virtualenv (--archives), "
              f"for nodes with Python {sys.version_info.major}.{sys.version_info.minor} at "
              f"{os.path.realpath(getattr(sys, '_base_executable', sys.executable))}")
    for job in JOBS:
        print(f"\n# the {job} job (from the checkout, its virtualenv active; the job's flags after the script)")
        print(submit_line(settings, job, code, venv_archive))
    return 0
