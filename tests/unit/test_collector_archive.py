"""The raw archive: rotated gzip JSON lines that carry what replay needs, and never a secret."""

from __future__ import annotations

import gzip
import json
import time

from collector.archive import ArchiveWriter, read_archive, replay
from collector.encoding import FrameContext
from core.config import Settings


def test_archive_round_trips_frames_with_their_identity_across_rotations(tmp_path):
    writer = ArchiveWriter(tmp_path, "producer-1234", rotate_bytes=200)
    frames = [b'{"type":"trade","data":[{"s":"AAPL","p":1.5,"t":1,"v":1}]}', b'{"type":"ping"}', b"\xff not utf-8"]
    for n, frame in enumerate(frames * 3):
        writer.write(FrameContext("producer-1234", n + 1, 1000 + n, "finnhub"), frame)
    writer.close()
    assert len(writer.paths) > 1
    read = list(read_archive(sorted(tmp_path.glob("*.jsonl.gz"))))
    assert [a.frame for a in read] == frames * 3
    assert [a.context.sequence for a in read] == list(range(1, 10))
    assert read[0].context == FrameContext("producer-1234", 1, 1000, "finnhub", "finnhub")


def test_truncated_archive_yields_the_complete_lines(tmp_path):
    writer = ArchiveWriter(tmp_path, "p")
    for n in range(200):
        writer.write(FrameContext("p", n, n, "finnhub"), b'{"type":"ping"}' * 20)
    writer.close()
    path = writer.paths[0]
    path.write_bytes(path.read_bytes()[:-30])
    read = list(read_archive([path]))
    assert 0 < len(read) <= 200


def test_archive_holds_no_token(tmp_path):
    writer = ArchiveWriter(tmp_path, "p")
    writer.write(FrameContext("p", 1, 1, "finnhub"), b'{"type":"ping"}')
    writer.close()
    text = gzip.decompress(writer.paths[0].read_bytes()).decode()
    assert set(json.loads(text)) == {"received_ms", "producer_id", "seq", "source", "protocol", "frame"}


class _RecordingPublisher:
    def __init__(self):
        self.submitted, self.at = [], []

    def submit(self, records):
        self.submitted.append(records)
        self.at.append(time.monotonic())

    def close(self, timeout_s):
        return True


def _archive_of_three_frames(directory):
    writer = ArchiveWriter(directory, "p")
    for n, received in enumerate((1_000, 1_400, 1_800)):
        frame = b'{"type":"trade","data":[{"s":"AAPL","p":1.5,"t":%d,"v":1}]}' % n
        writer.write(FrameContext("p", n + 1, received, "finnhub"), frame)
    writer.close()
    return writer.paths


def test_replay_keeps_the_original_pace_divided_by_speed(tmp_path):
    publisher = _RecordingPublisher()
    settings = Settings.from_env(env={}, dotenv=tmp_path / "none")
    stats = replay(settings, _archive_of_three_frames(tmp_path), 2.0, publisher)
    assert stats.frames == 3 and stats.trades == 3 and stats.delivered
    assert 0.35 <= publisher.at[-1] - publisher.at[0] < 1.0     # 800 ms of frames at speed 2
    assert [dict(r[0].headers)["tp-seq"] for r in publisher.submitted] == [b"1", b"2", b"3"]


def test_replay_at_speed_zero_goes_as_fast_as_possible(tmp_path):
    publisher = _RecordingPublisher()
    replay(Settings.from_env(env={}, dotenv=tmp_path / "none"), _archive_of_three_frames(tmp_path), 0, publisher)
    assert publisher.at[-1] - publisher.at[0] < 0.2
