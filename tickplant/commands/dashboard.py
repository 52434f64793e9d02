"""`tickplant dashboard`: serve the Streamlit app (dashboard/app.py) on 127.0.0.1:8501 by default.
The process becomes `python -m streamlit run …`, so SIGTERM from `tickplant up` reaches Streamlit."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from core.arguments import port

if TYPE_CHECKING:
    from core.config import Settings

def register(commands: argparse._SubParsersAction) -> None:
    dashboard = commands.add_parser("dashboard", help="the Streamlit dashboard (live market, GBM, history, health)")
    dashboard.add_argument("--port", type=port, default=None, help="HTTP port (default TICKPLANT_DASHBOARD_PORT, 8501)")
    dashboard.add_argument("--address", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    dashboard.set_defaults(handler=dashboard_command)


def streamlit_argv(port: int, address: str) -> list[str]:
    app = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
    return [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port),
            "--server.address", address, "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none", "--global.developmentMode", "false",
            "--client.toolbarMode", "minimal"]


def dashboard_command(settings: Settings, args: argparse.Namespace) -> int:
    port = args.port or settings.runtime.dashboard_port
    print(f"dashboard: http://{args.address}:{port}  (keyspace {settings.cassandra.keyspace})", flush=True)
    argv = streamlit_argv(port, args.address)
    # One BLAS thread per process: statsmodels' regressions oversubscribe a small shared machine otherwise.
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
    os.execv(argv[0], argv)  # never returns: Streamlit takes over this process (and its signals)
    return 0
