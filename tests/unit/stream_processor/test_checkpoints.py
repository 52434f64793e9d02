"""Reading Spark's checkpoint logs (offsets/, commits/) for status and late-trade accounting."""

from __future__ import annotations

import json
from pathlib import Path

from core.checkpoints import LocalFiles, batch_watermark_ms, last_committed, last_planned


def write_batch(checkpoint: Path, batch_id: int, offsets: dict, watermark_ms: int, commit: bool) -> None:
    (checkpoint / "offsets").mkdir(parents=True, exist_ok=True)
    (checkpoint / "commits").mkdir(parents=True, exist_ok=True)
    metadata = {"batchWatermarkMs": watermark_ms, "batchTimestampMs": 1_700_000_000_000 + batch_id,
                "conf": {"spark.sql.shuffle.partitions": "2"}}
    (checkpoint / "offsets" / str(batch_id)).write_text(f"v1\n{json.dumps(metadata)}\n{json.dumps(offsets)}")
    (checkpoint / "offsets" / f".{batch_id}.crc").write_text("crc")
    if commit:
        (checkpoint / "commits" / str(batch_id)).write_text('v1\n{"nextBatchWatermarkMs":0}')


def test_last_committed_batch_gives_offsets_time_and_watermark(tmp_path: Path):
    write_batch(tmp_path, 0, {"market": {"0": 5, "1": 7}}, 0, commit=True)
    write_batch(tmp_path, 1, {"market": {"0": 9, "1": 7}}, 1_699_999_990_000, commit=True)
    write_batch(tmp_path, 2, {"market": {"0": 12, "1": 8}}, 1_699_999_995_000, commit=False)
    files = LocalFiles()
    entry = last_committed(files, str(tmp_path))
    assert entry is not None and entry.batch_id == 1
    assert entry.offsets == {"market": {0: 9, 1: 7}}
    assert entry.batch_timestamp_ms == 1_700_000_000_001
    assert last_planned(files, str(tmp_path)) == 2
    assert batch_watermark_ms(files, str(tmp_path), 2) == 1_699_999_995_000


def test_an_empty_checkpoint_has_nothing_committed(tmp_path: Path):
    files = LocalFiles()
    assert last_committed(files, str(tmp_path / "missing")) is None
    assert last_planned(files, str(tmp_path / "missing")) is None
    assert batch_watermark_ms(files, f"file://{tmp_path}", 0) == 0
