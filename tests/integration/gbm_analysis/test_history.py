"""`tickplant import-history` against the real Cassandra: exact rows, idempotent re-import, bad rows
reported by line and skipped, exit code non-zero only when no row is good."""

from __future__ import annotations

from datetime import date, timedelta

from core.config import Settings
from gbm_analysis.history import ImportOptions, import_history
from tests.helpers import run_cli

GOOD_AND_BAD = ("Date,Open,High,Low,Close,Adj Close,Volume\n"
                "2024-01-02,187.15,188.44,183.885,185.64,184.94,82488700\n"
                "2024-01-03,184.22,185.88,183.43,184.25,183.55,58414500\n"
                "2024-01-04,182.15,183.0872,180.88,0,0,71983600\n"
                "01/05/2024,181.99,182.76,180.17,181.18,180.49,62303300\n"
                "2024-01-08,182.09,185.6,181.5,-1,-1,59144500\n"
                "2024-01-09,183.92,185.15,182.73,185.14,184.44,\n"
                "2024-01-10,184.35,182.0,186.4,186.19,185.49,46792900\n")


def daily_bars(settings: Settings, session, symbol: str) -> list[tuple]:
    select = session.prepare(f"SELECT trade_date, open, high, low, close, adj_close, volume "
                             f"FROM {settings.cassandra.keyspace}.daily_bars WHERE symbol = ?")
    rows = session.execute(select, (symbol,))
    return sorted((row["trade_date"].date(), row["open"], row["high"], row["low"], row["close"], row["adj_close"],
                   row["volume"]) for row in rows)


def cli(settings: Settings, *args: str):
    return run_cli("import-history", *args, env={"CASSANDRA_KEYSPACE": settings.cassandra.keyspace})


def test_import_history_skips_bad_rows_with_line_numbers_and_keeps_good_rows(isolated, cassandra_session, tmp_path):
    path = tmp_path / "aapl.csv"
    path.write_text(GOOD_AND_BAD)
    done = cli(isolated, str(path), "--symbol", "AAPL")
    assert done.returncode == 0, done.stderr
    assert f"{path}: skipped line 4: close 0.0 is not positive" in done.stderr
    assert f"{path}: skipped line 6: close -1.0 is not positive" in done.stderr
    assert f"{path}: skipped line 7: volume is missing" in done.stderr
    assert f"{path}: skipped line 8: high 182.0 is below low 186.4" in done.stderr
    assert done.stderr.count("skipped line") == 4
    assert ("imported 3 daily bar(s) of AAPL (2024-01-02 to 2024-01-05) into "
            f"{isolated.cassandra.keyspace}.daily_bars; 4 bad row(s) skipped") in done.stdout
    expected = [(date(2024, 1, 2), 187.15, 188.44, 183.885, 185.64, 184.94, 82488700.0),
                (date(2024, 1, 3), 184.22, 185.88, 183.43, 184.25, 183.55, 58414500.0),
                (date(2024, 1, 5), 181.99, 182.76, 180.17, 181.18, 180.49, 62303300.0)]
    assert daily_bars(isolated, cassandra_session, "AAPL") == expected

    again = cli(isolated, str(path), "--symbol", "AAPL")      # idempotent: same rows, nothing added
    assert again.returncode == 0, again.stderr
    assert daily_bars(isolated, cassandra_session, "AAPL") == expected
    assert daily_bars(isolated, cassandra_session, "MSFT") == []


def test_import_history_without_adj_close_and_with_us_dates(isolated, cassandra_session, tmp_path):
    path = tmp_path / "spx.csv"
    path.write_text("Date,Open,High,Low,Close,Volume\n12/29/2023,4782.88,4788.43,4751.99,4769.83,3126060000\n"
                    "01/02/2024,4745.2,4754.33,4722.67,4742.83,3743050000\n")
    done = cli(isolated, str(path), "--symbol", "^GSPC")
    assert done.returncode == 0, done.stderr
    assert daily_bars(isolated, cassandra_session, "^GSPC") == [
        (date(2023, 12, 29), 4782.88, 4788.43, 4751.99, 4769.83, 4769.83, 3126060000.0),
        (date(2024, 1, 2), 4745.2, 4754.33, 4722.67, 4742.83, 4742.83, 3743050000.0)]


def test_import_history_fails_only_when_no_row_is_good(isolated, cassandra_session, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,1,0,5\n2024-01-03,1,2,1,-2,5\n")
    done = cli(isolated, str(path), "--symbol", "BAD")
    assert done.returncode == 1
    assert f"{path}: skipped line 2: close 0.0 is not positive" in done.stderr
    assert f"{path}: skipped line 3: close -2.0 is not positive" in done.stderr
    assert "no usable row (2 bad row(s)); nothing imported" in done.stderr
    assert daily_bars(isolated, cassandra_session, "BAD") == []
    missing = cli(isolated, str(tmp_path / "absent.csv"), "--symbol", "BAD")
    assert missing.returncode == 1 and "no such file" in missing.stderr


def test_import_history_writes_a_large_file_in_chunks_exactly(isolated, cassandra_session, tmp_path):
    start = date(2000, 1, 3)
    lines = ["Date,Open,High,Low,Close,Adj Close,Volume"]
    expected = []
    for i in range(4_321):
        day = start + timedelta(days=i)
        close = 100 + i / 8
        lines.append(f"{day.isoformat()},{close - 0.5},{close + 1},{close - 1},{close},{close - 0.25},{1000 + i}")
        expected.append((day, close - 0.5, close + 1, close - 1, close, close - 0.25, float(1000 + i)))
    path = tmp_path / "big.csv"
    path.write_text("\n".join(lines) + "\n")
    options = ImportOptions(path=path, symbol="BIG", chunk_rows=1_000, progress=False)
    result = import_history(cassandra_session, isolated.cassandra.keyspace, options)
    assert (result.rows_written, result.bad_rows) == (4_321, ())
    assert (result.first_date, result.last_date) == (start, start + timedelta(days=4_320))
    assert daily_bars(isolated, cassandra_session, "BIG") == expected
    import_history(cassandra_session, isolated.cassandra.keyspace, options)
    assert len(daily_bars(isolated, cassandra_session, "BIG")) == 4_321


def test_the_sample_history_is_imported_once_with_its_source_and_a_users_import_records_its_file(
        isolated, cassandra_session, tmp_path):
    import pandas as pd

    from gbm_analysis.history import SAMPLE_SYMBOL, import_sample_history, sample_history_file

    path, source = sample_history_file()
    assert path.name == "sp500.csv.gz" and source.startswith("sample: S&P 500 index daily (Yahoo Finance ^GSPC)")
    first = import_sample_history(cassandra_session, isolated.cassandra.keyspace)
    expected = pd.read_csv(path, float_precision="round_trip")   # the series as the arch package ships it
    assert (first.symbol, first.rows_written, first.bad_rows) == (SAMPLE_SYMBOL, len(expected), ())
    assert (first.first_date, first.last_date) == (date(1999, 1, 4), date(2018, 12, 31))
    stored = daily_bars(isolated, cassandra_session, SAMPLE_SYMBOL)
    assert len(stored) == len(expected) and [row[4] for row in stored] == expected["Close"].tolist()
    assert import_sample_history(cassandra_session, isolated.cassandra.keyspace) is None   # once
    sources = cassandra_session.prepare(f"SELECT source, rows, first_date, last_date FROM "
                                        f"{isolated.cassandra.keyspace}.history_sources WHERE symbol = ?")
    row = cassandra_session.execute(sources, (SAMPLE_SYMBOL,)).one()
    assert (row["source"], row["rows"], row["first_date"].date(), row["last_date"].date()) == (
        source, len(expected), date(1999, 1, 4), date(2018, 12, 31))

    csv = tmp_path / "aapl.csv"
    csv.write_text(GOOD_AND_BAD)
    assert cli(isolated, str(csv), "--symbol", "AAPL").returncode == 0
    row = cassandra_session.execute(sources, ("AAPL",)).one()
    assert (row["source"], row["rows"]) == (f"file {csv.resolve()}", 3)
