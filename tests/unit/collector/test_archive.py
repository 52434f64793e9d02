"""The raw archive: rotated gzip JSON lines that carry what replay needs, never a secret, and
retention by age and size (oldest first; `tickplant up` bounded by default)."""

from __future__ import annotations

import gzip
import json
import os
import time
from pathlib import Path

from collector.archive import ArchiveWriter, Retention, apply_retention, read_archive, replay
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


def _archive_file(directory, name: str, size: int, age_s: float, now: float):
    path = directory / f"frames-{name}.jsonl.gz"
    path.write_bytes(b"x" * size)
    os.utime(path, (now - age_s, now - age_s))
    return path


def test_retention_deletes_files_older_than_the_age_limit_and_keeps_the_rest(tmp_path):
    now = time.time()
    old = _archive_file(tmp_path, "a", 10, 7200, now)
    recent = _archive_file(tmp_path, "b", 10, 1800, now)
    other = tmp_path / "notes.txt"
    other.write_text("not an archive")
    os.utime(other, (now - 10**6, now - 10**6))
    assert apply_retention(tmp_path, Retention(max_age_s=3600), now=now) == [old]
    assert sorted(tmp_path.iterdir()) == sorted([recent, other])


def test_retention_deletes_the_oldest_files_until_the_rest_fit_the_size_limit(tmp_path):
    now = time.time()
    files = [_archive_file(tmp_path, name, 100, age, now) for name, age in (("c", 30), ("a", 50), ("b", 40))]
    assert apply_retention(tmp_path, Retention(max_bytes=150), now=now) == [files[1], files[2]]
    assert list(tmp_path.iterdir()) == [files[0]]


def test_retention_never_deletes_the_file_being_written_and_no_limit_deletes_nothing(tmp_path):
    now = time.time()
    current = _archive_file(tmp_path, "z", 500, 10**6, now)
    assert apply_retention(tmp_path, Retention(max_age_s=1, max_bytes=1), keep=current, now=now) == []
    assert apply_retention(tmp_path, Retention(), now=now) == []
    assert current.exists()


def test_the_writer_applies_retention_when_it_rotates(tmp_path):
    now = time.time()
    stale = _archive_file(tmp_path, "19990101T000000Z-old-0001", 50, 10 * 3600, now)
    writer = ArchiveWriter(tmp_path, "p", rotate_bytes=1, retention=Retention(max_age_s=3600))
    writer.write(FrameContext("p", 1, 1, "finnhub"), b'{"type":"ping"}')
    writer.close()
    assert not stale.exists() and [p.exists() for p in writer.paths] == [True]


def test_tickplant_up_bounds_the_archive_unless_the_variables_say_otherwise():
    from tickplant.cli import build_parser
    from tickplant.commands.services import pipeline_children

    args = build_parser().parse_args(["up"])
    default = Settings.from_env({}, dotenv=Path("/nonexistent"))
    collect = {c.name: c.args for c in pipeline_children(default, args)}["collector"]
    assert collect[collect.index("--archive-retention-hours") + 1] == "168"
    assert collect[collect.index("--archive-retention-bytes") + 1] == str(10 * 1024**3)
    configured = Settings.from_env({"TICKPLANT_ARCHIVE_RETENTION_HOURS": "0", "TICKPLANT_ARCHIVE_RETENTION_BYTES": "5"},
                                   dotenv=Path("/nonexistent"))
    collect = {c.name: c.args for c in pipeline_children(configured, args)}["collector"]
    assert collect[collect.index("--archive-retention-hours") + 1] == "0"
    assert collect[collect.index("--archive-retention-bytes") + 1] == "5"
