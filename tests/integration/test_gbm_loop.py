"""`tickplant gbm --every D --wait-for-bars` (what `tickplant up` supervises): no run before a symbol
has enough completed bars, then one run per interval, each a real Spark job writing gbm_runs."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from core.retry import wait_until
from tests.helpers import ROOT


def _insert_bars(session, minutes: range, now: datetime) -> None:
    insert = session.prepare("INSERT INTO bars_1m (symbol, trade_date, bar_start, close) VALUES (?, ?, ?, ?)")
    for k in minutes:
        bar_start = now - timedelta(minutes=k)
        session.execute(insert, ("AAA", bar_start.date(), bar_start, 100.0 * math.exp(0.002 * math.sin(k * 1.7))))


def test_gbm_loop_waits_for_bars_then_runs_every_interval(isolated, cassandra_session, tmp_path):
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    _insert_bars(cassandra_session, range(10, 0, -1), now)          # 10 completed bars: not enough
    runs = cassandra_session.prepare("SELECT run_ts, status FROM gbm_runs WHERE symbol = ?")
    log = (tmp_path / "gbm-loop.log").open("wb")
    loop = subprocess.Popen([sys.executable, "-m", "tickplant", "gbm", "--every", "20s", "--wait-for-bars",
                             "--symbols", "AAA", "--paths", "200", "--horizon", "5m", "--min-observations", "30"],
                            cwd=ROOT, env={**os.environ, "CASSANDRA_KEYSPACE": isolated.cassandra_keyspace},
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def output() -> str:
        return (tmp_path / "gbm-loop.log").read_text(errors="replace")

    def running(condition):
        def check():
            assert loop.poll() is None, f"the loop exited ({loop.returncode}):\n{output()[-3000:]}"
            return condition()
        return check

    try:
        wait_until(running(lambda: 'event="waiting for bars" have=10 need=30' in output()), 120,
                   what="the loop saying it waits for bars", initial_s=0.2, maximum_s=1.0)
        assert list(cassandra_session.execute(runs, ("AAA",))) == []
        assert "gbm run starting" not in output()
        _insert_bars(cassandra_session, range(40, 10, -1), now)     # now 40 completed bars

        def two_runs() -> list[dict] | None:
            rows = list(cassandra_session.execute(runs, ("AAA",)))
            return rows if len(rows) >= 2 else None

        done = wait_until(running(two_runs), 600, what="two runs", initial_s=1.0, maximum_s=2.0)
        assert {row["status"] for row in done} == {"ok"}
        newest, previous = done[0]["run_ts"], done[1]["run_ts"]
        assert newest - previous >= timedelta(seconds=19)
    finally:
        loop.send_signal(signal.SIGTERM)
        try:
            loop.wait(timeout=30)
        finally:
            try:
                os.killpg(loop.pid, signal.SIGKILL)   # a run's JVM must not outlive the test
            except ProcessLookupError:
                pass
            log.close()
