"""Garbage bytes and invalid trades on the topic land in `dead_letters` with their reason and
payload; the query keeps running and the valid trades around them are all written."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pandas as pd
from cassandra.util import Date

from tests.helpers_stream import (
    Record,
    StreamJob,
    assert_tables_match,
    caught_up,
    expected_trades,
    produce,
    synthetic_records,
    trade,
    trade_record,
    wait_until,
)


def test_bad_records_go_to_dead_letters_and_the_query_keeps_running(isolated, cassandra_session, tmp_path: Path):
    now = int(time.time() * 1000)
    before = synthetic_records(["AAPL", "MSFT"], 50, now - 300_000, seed=5)
    garbage = Record(key=b"AAPL", value=b"\x00\xff\xfenot avro \x13\x37" * 3)
    truncated = Record(key=b"AAPL", value=before[0].value[:7])
    mixed = trade_record([trade("AAPL", 101.0, 1.0, now - 200_000), trade("AAPL", -1.0, 1.0, now - 200_000),
                          trade("", 5.0, 1.0, now - 200_000), trade("AAPL", 100.0, math.nan, now - 200_000),
                          trade("AAPL", 100.0, 1.0, now + 3 * 86_400_000), trade("MSFT", 99.5, 0.0, now - 199_999)],
                         producer_id="p1", seq=50, received_ms=now - 199_990)
    after = synthetic_records(["AAPL", "MSFT"], 50, now - 190_000, seed=6, first_seq=51)
    records = [*before, garbage, truncated, mixed, *after]
    produce(isolated, records, partition=0)  # one partition: the garbage's offsets are 50 and 51
    valid = expected_trades([*before, *after])
    mixed_valid = expected_trades([mixed]).iloc[[0, 5]]
    job = StreamJob(isolated, tmp_path, "--trigger", "1 second")
    try:
        wait_until(lambda: caught_up(isolated, tmp_path), 180, "the topic to be processed", job)
        assert job.alive()
        later = synthetic_records(["AAPL", "MSFT"], 30, now - 100_000, seed=7, first_seq=200)
        produce(isolated, later, partition=0)
        wait_until(lambda: caught_up(isolated, tmp_path), 120, "records after the bad ones", job)
        assert job.alive(), "the query stopped after bad input"
    finally:
        assert job.stop() == 0
    sent = pd.concat([expected_trades([*before, *after, *later]), mixed_valid], ignore_index=True)
    assert len(sent) == len(valid) + 2 + 90
    assert_tables_match(cassandra_session, isolated.cassandra.keyspace, sent)

    days = {Date(int(now // 86_400_000)), Date(int((now - 200_000) // 86_400_000)),
            Date(int((now - 199_990) // 86_400_000))}
    statement = cassandra_session.prepare(f"SELECT * FROM {isolated.cassandra.keyspace}.dead_letters WHERE day = ?")
    dead = {row["id"]: row for day in days for row in cassandra_session.execute(statement, (day,))}
    assert set(dead) == {"0-50-AAPL", "0-51-AAPL", "p1-50-AAPL-1", "p1-50-AAPL-2", "p1-50-AAPL-3", "p1-50-AAPL-4"}
    assert dead["0-50-AAPL"]["reason"] == "undecodable Avro record"
    assert dead["0-50-AAPL"]["payload"] == garbage.value
    garbage_letter = dead["0-50-AAPL"]
    assert (garbage_letter["topic"], garbage_letter["kafka_partition"], garbage_letter["kafka_offset"]) == \
        (isolated.kafka.topic, 0, 50)
    assert dead["0-51-AAPL"]["kafka_offset"] == 51 and dead["0-51-AAPL"]["payload"] == truncated.value
    assert dead["p1-50-AAPL-1"]["reason"] == "trade 1: non-positive or non-finite price"
    assert dead["p1-50-AAPL-2"]["reason"] == "trade 2: empty symbol"
    assert dead["p1-50-AAPL-3"]["reason"] == "trade 3: negative or non-finite volume"
    assert dead["p1-50-AAPL-4"]["reason"] == "trade 4: timestamp more than a day in the future"
    assert dead["p1-50-AAPL-4"]["payload"] == mixed.value and dead["p1-50-AAPL-4"]["source"] == "test"
    assert dead["p1-50-AAPL-4"]["kafka_offset"] == 52
