"""The json-file log: Docker's line format, partial lines, rotation names, reading back."""
from __future__ import annotations

import json
import time

import pytest
from ansible_collections.berth.engine.plugins.module_utils.errors import InvalidSpec
from ansible_collections.berth.engine.plugins.module_utils.runtime import logs
from ansible_collections.berth.engine.plugins.module_utils.runtime.state import parse_rfc3339


def test_lines_are_docker_json(tmp_path):
    path = str(tmp_path / "c-json.log")
    w = logs.LogWriter(path)
    w.write("stdout", b"hel")
    w.write("stdout", b"lo\nwor")
    w.write("stderr", b"err\n")
    w.close()
    recs = [json.loads(line) for line in open(path)]
    assert [(r["stream"], r["log"]) for r in recs] == [("stdout", "hello\n"), ("stderr", "err\n"),
                                                       ("stdout", "wor")]
    assert all(r["time"].endswith("Z") and "T" in r["time"] for r in recs)
    assert set(recs[0]) == {"log", "stream", "time"}


def test_long_lines_are_split_and_invalid_utf8_replaced(tmp_path):
    path = str(tmp_path / "c-json.log")
    w = logs.LogWriter(path)
    w.write("stdout", b"x" * (logs.MAX_LINE * 2 + 10) + b"\n")
    w.write("stdout", b"\xff\xfe\n")
    w.close()
    recs = [json.loads(line) for line in open(path)]
    assert [len(r["log"]) for r in recs[:3]] == [logs.MAX_LINE, logs.MAX_LINE, 11]
    assert recs[3]["log"] == "\ufffd\ufffd\n"


def test_rotation_keeps_max_file_files_named_like_docker(tmp_path):
    path = str(tmp_path / "c-json.log")
    w = logs.LogWriter(path, max_size=300, max_file=3)
    for i in range(40):
        w.write("stdout", f"line {i}\n".encode())
    w.close()
    files = logs.log_files(path)
    assert [f.rsplit("/", 1)[1] for f in files] == ["c-json.log.2", "c-json.log.1", "c-json.log"]
    got = [d.decode() for _, _, d in logs.read_logs(path)]
    nums = [int(t.split()[1]) for t in got]
    assert nums == list(range(nums[0], 40))
    assert [d for _, _, d in logs.read_logs(path, tail=2)] == [b"line 38\n", b"line 39\n"]


def test_max_file_one_truncates(tmp_path):
    path = str(tmp_path / "c-json.log")
    w = logs.LogWriter(path, max_size=200, max_file=1)
    for i in range(30):
        w.write("stdout", f"line {i}\n".encode())
    w.close()
    assert logs.log_files(path) == [path]
    assert b"line 29\n" in [d for _, _, d in logs.read_logs(path)]


def test_since_until_and_timestamps(tmp_path):
    path = tmp_path / "c-json.log"
    path.write_text("".join(json.dumps({"log": f"{i}\n", "stream": "stdout",
                                        "time": f"2026-11-23T10:00:0{i}.5Z"}) + "\n" for i in range(5))
                    + "{torn line\n")
    since = parse_rfc3339("2026-11-23T10:00:01Z")
    until = parse_rfc3339("2026-11-23T10:00:03Z")
    got = [d for _, _, d in logs.read_logs(str(path), since=since, until=until)]
    assert got == [b"1\n", b"2\n"]
    line = logs.format_record("stdout", "2026-11-23T10:00:01.5Z", b"x\n", timestamps=True)
    assert line == b"2026-11-23T10:00:01.500000000Z x\n"


def test_follow_stops_when_the_container_stops(tmp_path):
    path = str(tmp_path / "c-json.log")
    w = logs.LogWriter(path)
    w.write("stdout", b"before\n")
    state = {"n": 0}

    def running() -> bool:
        state["n"] += 1
        if state["n"] == 2:
            w.write("stdout", b"during\n")
        return state["n"] < 3

    got = [d for _, _, d in logs.read_logs(path, follow=True, running=running, poll=0.001)]
    w.close()
    assert got == [b"before\n", b"during\n"]


def test_parse_since():
    now = time.time()
    assert abs(logs.parse_since("10m", now) - int((now - 600) * 1e9)) < 1e6
    assert logs.parse_since("1700000000") == 1_700_000_000 * 10**9
    assert logs.parse_since("2026-11-23") == parse_rfc3339("2026-11-23T00:00:00Z")
    with pytest.raises(InvalidSpec):
        logs.parse_since("yesterday")
