"""`tickplant gbm --every D --wait-for-bars` (what `tickplant up` supervises): with `--no-early-runs` no
run before a symbol has enough completed bars, then one run per interval, each a real Spark job
writing gbm_runs; and the early run on 5 s windows that waits for them once its session is up."""

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
                             "--no-early-runs", "--symbols", "AAA", "--paths", "200", "--horizon", "5m",
                             "--min-observations", "30"],
                            cwd=ROOT, env={**os.environ, "CASSANDRA_KEYSPACE": isolated.cassandra.keyspace},
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def output() -> str:
        return (tmp_path / "gbm-loop.log").read_text(errors="replace")

    def running(condition):
        def check():
            assert loop.poll() is None, f"the loop exited ({loop.returncode}):\n{output()[-3000:]}"
            return condition()
        return check

    try:
        wait_until(running(lambda: 'event="waiting for bars" have=10 need=30 interval=1m' in output()), 120,
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


def test_a_run_that_waits_for_5s_windows_warms_up_and_takes_its_run_time_after_the_wait(isolated, cassandra_session,
                                                                                        tmp_path):
    """What the loop starts on a fresh start: `gbm --interval 5s --wait-for-bars` brings its Spark session
    up, finds three of the six windows it needs, warms the session up on them, and runs once the rest
    are written, on every completed window, with a run time after the last write."""
    insert = cassandra_session.prepare("INSERT INTO trades_5s (symbol, trade_date, window_start, close) "
                                       "VALUES (?, ?, ?, ?)")

    now = datetime.now(UTC)
    newest = now.replace(second=now.second // 5 * 5, microsecond=0) - timedelta(seconds=5)   # completed

    def windows(ks: range) -> None:
        for k in ks:
            start = newest - timedelta(seconds=5 * k)
            cassandra_session.execute(insert, ("BTC", start.date(), start, 95_000.0 * math.exp(0.001 * math.sin(k))))

    windows(range(3))
    log_path = tmp_path / "gbm-5s.log"
    with log_path.open("wb") as log:
        run = subprocess.Popen([sys.executable, "-m", "tickplant", "gbm", "--interval", "5s", "--wait-for-bars",
                                "--symbols", "BTC", "--paths", "200", "--min-observations", "6"],
                               cwd=ROOT, env={**os.environ, "CASSANDRA_KEYSPACE": isolated.cassandra.keyspace},
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def said(text: str):
            def check():
                assert run.poll() is None, log_path.read_text(errors="replace")[-3000:]
                return text in log_path.read_text(errors="replace")
            return check

        wait_until(said('event="gbm session warmed up"'), 300, what="the warm-up", initial_s=0.5, maximum_s=1.0)
        assert 'event="waiting for bars" have=3 need=6 interval=5s' in log_path.read_text()
        assert list(cassandra_session.execute("SELECT run_ts FROM gbm_runs")) == []
        windows(range(3, 10))                      # windows older than the first three: ten in all
        written = datetime.now(UTC)
        assert run.wait(timeout=300) == 0, log_path.read_text(errors="replace")[-3000:]
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    row = cassandra_session.execute("SELECT * FROM gbm_runs WHERE symbol = 'BTC'").one()
    assert (row["status"], row["bar_interval"], row["observations"]) == ("ok", "5s", 10)
    assert row["run_ts"].replace(tzinfo=UTC) > written - timedelta(milliseconds=1)
    assert 'event="bars ready for the gbm run" bars=6' in log_path.read_text()

