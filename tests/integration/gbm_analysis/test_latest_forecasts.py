"""gbm_latest_forecasts, the table the SQL side reads for "the current GBM forecast" by partition key:
the GBM job leaves in it exactly the newest run's steps per symbol (two runs -> only the second's rows,
whose step times differ from the first's), and an older run landing late never brings its steps back."""

from __future__ import annotations

from datetime import UTC

import pytest

from tests.integration.gbm_analysis.test_job import RUN_1, RUN_2, STEPS, _gbm, market  # noqa: F401  (a fixture)

BAND = ("mean", "p05", "p25", "p50", "p75", "p95")


def _latest(session, symbol: str) -> list[dict]:
    return list(session.execute(session.prepare("SELECT * FROM gbm_latest_forecasts WHERE symbol = ?"), (symbol,)))


def _run_rows(session, symbol: str, run) -> list[dict]:
    """gbm_forecasts' rows of one run, shaped like gbm_latest_forecasts' rows."""
    rows = session.execute(session.prepare("SELECT * FROM gbm_forecasts WHERE symbol = ? AND run_ts = ?"),
                           (symbol, run))
    return [{"symbol": r["symbol"], "step_ts": r["step_ts"], "run_ts": r["run_ts"], **{b: r[b] for b in BAND}}
            for r in rows]


@pytest.mark.usefixtures("market")
def test_gbm_job_leaves_exactly_the_newest_runs_steps_in_gbm_latest_forecasts(isolated, cassandra_session):
    from gbm_analysis import io

    first = _gbm(isolated, "--run-ts", RUN_1.isoformat())
    assert first.returncode == 0, first.stderr[-3000:]
    for symbol in ("AAA", "BBB"):
        latest = _latest(cassandra_session, symbol)
        assert len(latest) == STEPS and latest == _run_rows(cassandra_session, symbol, RUN_1)
    for symbol in ("TWO", "FLAT", "NONE"):        # skipped: no forecast, no row
        assert _latest(cassandra_session, symbol) == []

    second = _gbm(isolated, "--run-ts", RUN_2.isoformat())
    assert second.returncode == 0, second.stderr[-3000:]
    for symbol in ("AAA", "BBB"):
        latest = _latest(cassandra_session, symbol)
        # RUN_2's steps start an hour after RUN_1's: a mix would show as 2 x STEPS rows
        assert len(latest) == STEPS and {r["run_ts"] for r in latest} == {RUN_2.replace(tzinfo=None)}
        assert latest == _run_rows(cassandra_session, symbol, RUN_2)
        assert latest[0]["step_ts"] == RUN_2.replace(tzinfo=None)

    # the first run written again after the second (a late retry): the newer run's rows stay, alone
    late = [{"symbol": r["symbol"], "step_ms": int(r["step_ts"].replace(tzinfo=UTC).timestamp() * 1000),
             **{b: r[b] for b in BAND}} for r in _run_rows(cassandra_session, "AAA", RUN_1)]
    io.replace_latest_forecasts(isolated, int(RUN_1.timestamp() * 1000), late)
    assert _latest(cassandra_session, "AAA") == _run_rows(cassandra_session, "AAA", RUN_2)
