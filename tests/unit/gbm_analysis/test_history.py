"""Parsing daily OHLCV CSVs for import-history: layouts, date formats, and bad rows by line number."""

from __future__ import annotations

from datetime import date

import pytest

from gbm_analysis.history import BadRow, DailyBar, HistoryError, parse_date, parse_history


def test_iso_layout_with_adj_close_parses_exact_values():
    text = ("Date,Open,High,Low,Close,Adj Close,Volume\n"
            "2024-01-30,10.5,11.25,10.0,11.0,10.75,1200\n"
            "2024-01-31,11.0,12.0,10.5,11.5,11.25,1300.5\n")
    parsed = parse_history("AAPL", text.splitlines(keepends=True))
    assert parsed.bad_rows == ()
    assert parsed.bars == (DailyBar("AAPL", date(2024, 1, 30), 10.5, 11.25, 10.0, 11.0, 10.75, 1200.0),
                           DailyBar("AAPL", date(2024, 1, 31), 11.0, 12.0, 10.5, 11.5, 11.25, 1300.5))


def test_us_dates_and_no_adj_close_use_close_as_adj_close():
    text = "Date,Open,High,Low,Close,Volume\n01/31/2024,5,6,4,5.5,100\n2/1/2024,$5.5,\"6,000.5\",5,6,200\n"
    parsed = parse_history("X", text.splitlines(keepends=True))
    assert parsed.bars == (DailyBar("X", date(2024, 1, 31), 5.0, 6.0, 4.0, 5.5, 5.5, 100.0),
                           DailyBar("X", date(2024, 2, 1), 5.5, 6000.5, 5.0, 6.0, 6.0, 200.0))


def test_bad_rows_are_reported_with_line_numbers_and_good_rows_kept():
    text = ("Date,Open,High,Low,Close,Adj Close,Volume\n"      # line 1
            "2024-01-02,1,2,1,1.5,1.5,10\n"                    # 2 good
            "2024-13-02,1,2,1,1.5,1.5,10\n"                    # 3 month 13
            "not a date,1,2,1,1.5,1.5,10\n"                    # 4
            "\n"                                               # 5 blank: ignored
            "2024-01-03,1,2,1,0,0,10\n"                        # 6 zero close
            "2024-01-04,1,2,1,-3,-3,10\n"                      # 7 negative close
            "2024-01-05,1,1,2,1.5,1.5,10\n"                    # 8 high < low
            "2024-01-08,1,2,1,abc,1.5,10\n"                    # 9 not a number
            "2024-01-09,1,2,1\n"                               # 10 missing fields
            "2024-01-10,1,2,1,null,null,10\n"                  # 11 Yahoo's null
            "2024-01-02,1,2,1,1.7,1.7,10\n"                    # 12 duplicate date
            "2024-01-11,1,2,1,1.25,1.2,30\n")                  # 13 good
    parsed = parse_history("S", text.splitlines(keepends=True))
    assert [bar.trade_date for bar in parsed.bars] == [date(2024, 1, 2), date(2024, 1, 11)]
    assert parsed.bars[1] == DailyBar("S", date(2024, 1, 11), 1.0, 2.0, 1.0, 1.25, 1.2, 30.0)
    assert parsed.bad_rows == (
        BadRow(3, "month must be in 1..12"),
        BadRow(4, "date 'not a date' is neither YYYY-MM-DD nor MM/DD/YYYY"),
        BadRow(6, "close 0.0 is not positive"),
        BadRow(7, "close -3.0 is not positive"),
        BadRow(8, "high 1.0 is below low 2.0"),
        BadRow(9, "close 'abc' is not a number"),
        BadRow(10, "missing fields: 4 of 7"),
        BadRow(11, "close is missing"),
        BadRow(12, "date 2024-01-02 already on line 2"),
    )


def test_header_without_a_required_column_is_refused():
    with pytest.raises(HistoryError, match="lacks column"):
        parse_history("S", ["Date,Open,High,Low,Volume\n", "2024-01-02,1,2,1,10\n"])
    with pytest.raises(HistoryError, match="empty"):
        parse_history("S", ["\n"])


@pytest.mark.parametrize(("text", "expected"), [("2024-01-31", date(2024, 1, 31)), ("01/31/2024", date(2024, 1, 31)),
                                                ("2024-01-31 00:00:00-05:00", date(2024, 1, 31))])
def test_parse_date_formats(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".csv.bz2", ".csv.xz"])
def test_read_history_reads_plain_and_compressed_files(tmp_path, suffix):
    import bz2
    import gzip
    import lzma

    from gbm_analysis.history import read_history

    text = "\ufeffDate,Open,High,Low,Close,Volume,Adj Close\n2024-01-02,1,2,0.5,1.5,7,1.25\n"
    path = tmp_path / f"sp500{suffix}"
    compress = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress}.get(path.suffix, lambda b: b)
    path.write_bytes(compress(text.encode()))
    assert read_history(path, "^GSPC").bars == (DailyBar("^GSPC", date(2024, 1, 2), 1.0, 2.0, 0.5, 1.5, 1.25, 7.0),)


def test_read_history_refuses_corrupt_and_non_utf8_files(tmp_path):
    from gbm_analysis.history import read_history

    for name, data, reason in (("x.csv.gz", b"not gzip", "cannot read"), ("x.csv.xz", b"not xz", "cannot read"),
                               ("x.csv", b"Date,Open\n\xff\xfe\n", "not UTF-8")):
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(HistoryError, match=reason):
            read_history(path, "S")
