"""exec, logs, top, stats, diff, cp (both ways, symlink-safe), commit, export, attach."""
from __future__ import annotations

import io
import json
import os
import tarfile

import pytest

from tests.fixtures import containers as fx
from tests.fixtures.containers import out, run_cli

busybox_layer, cengine = fx.busybox_layer, fx.cengine  # fixtures

pytestmark = pytest.mark.root


@pytest.fixture
def box(cengine):
    cp = run_cli(cengine, "run", "-d", "--name", "box", "-e", "BASE=1", "busybox", "sh", "-c",
                 "echo out1; echo err1 >&2; mkdir -p /data; echo inside > /data/file; sleep 60")
    assert cp.returncode == 0, cp.stderr
    # the first lines are in the log once `logs` can read them
    for _ in range(200):
        if "out1" in out(run_cli(cengine, "logs", "box")):
            break
    return cengine


def test_exec_env_workdir_user_and_codes(box):
    cp = run_cli(box, "exec", "-e", "EXTRA=2", "-w", "/data", "box", "sh", "-c", 'echo "$BASE $EXTRA $(pwd)"; exit 5')
    assert cp.returncode == 5 and out(cp) == "1 2 /data\n"
    assert out(run_cli(box, "exec", "-u", "nobody", "box", "id", "-u")) == "65534\n"
    assert out(run_cli(box, "exec", "box", "cat", "/data/file")) == "inside\n"
    assert run_cli(box, "exec", "box", "nosuch").returncode == 127
    cp = run_cli(box, "exec", "-u", "ghost", "box", "true")
    assert cp.returncode == 125 and b"unable to find user ghost" in cp.stderr
    assert run_cli(box, "exec", "-d", "box", "sh", "-c", "echo bg > /data/bg").returncode == 0
    for _ in range(200):
        if run_cli(box, "exec", "box", "cat", "/data/bg").returncode == 0:
            break
    assert out(run_cli(box, "exec", "box", "cat", "/data/bg")) == "bg\n"


def test_logs_streams_tail_timestamps(box):
    cp = run_cli(box, "logs", "box")
    assert out(cp) == "out1\n" and cp.stderr == b"err1\n"
    tail = run_cli(box, "logs", "--tail", "1", "box")
    assert (tail.stdout + tail.stderr).decode() in ("out1\n", "err1\n")
    ts = out(run_cli(box, "logs", "-t", "box"))
    assert ts.endswith(" out1\n") and ts[:4].isdigit() and "T" in ts.split()[0]


def test_top_and_stats(box):
    top = out(run_cli(box, "top", "box")).splitlines()
    assert top[0].split()[:3] == ["UID", "PID", "PPID"]
    assert any("sleep 60" in line for line in top[1:])
    stats = out(run_cli(box, "stats", "--no-stream", "box")).splitlines()
    assert stats[0].split()[:4] == ["CONTAINER", "ID", "NAME", "CPU"]
    assert "box" in stats[1] and "/" in stats[1]
    cid = box.containers.resolve("box")
    j = json.loads(out(run_cli(box, "stats", "--no-stream", "--format", "{{json .}}", "box")))
    assert j["Name"] == "box" and j["ID"] == cid[:12] and int(j["PIDs"]) >= 1


def test_diff(box):
    lines = out(run_cli(box, "diff", "box")).splitlines()
    assert "A /data" in lines and "A /data/file" in lines


def test_cp_both_ways_and_symlink_escape(box, tmp_path):
    host_secret = tmp_path / "secret"
    host_secret.write_text("host-only\n")
    src = tmp_path / "in.txt"
    src.write_text("from-host\n")
    assert run_cli(box, "cp", str(src), "box:/data/").returncode == 0
    assert out(run_cli(box, "exec", "box", "cat", "/data/in.txt")) == "from-host\n"
    # a link inside the container pointing at a host path resolves inside the container
    run_cli(box, "exec", "box", "ln", "-s", str(host_secret), "/data/evil")
    cp = run_cli(box, "cp", "box:/data/evil", str(tmp_path / "got"))
    assert os.path.islink(tmp_path / "got")  # copied as a link, never followed to the host file
    cp = run_cli(box, "cp", "-L", "box:/data/evil", str(tmp_path / "got2"))
    assert cp.returncode != 0 and not (tmp_path / "got2").exists()
    # writing through a planted link replaces the link; the host file is untouched
    run_cli(box, "exec", "box", "ln", "-s", str(host_secret), "/data/trap")
    payload = tmp_path / "trap"
    payload.write_text("overwritten?\n")
    assert run_cli(box, "cp", str(payload), "box:/data/trap").returncode == 0
    assert host_secret.read_text() == "host-only\n"
    assert out(run_cli(box, "exec", "box", "cat", "/data/trap")) == "overwritten?\n"
    # a folder out, and a tar stream both ways
    assert run_cli(box, "cp", "box:/data", str(tmp_path / "dataout")).returncode == 0
    assert (tmp_path / "dataout" / "file").read_text() == "inside\n"
    cp = run_cli(box, "cp", "box:/data/file", "-")
    with tarfile.open(fileobj=io.BytesIO(cp.stdout)) as tf:
        assert tf.getnames() == ["file"]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("streamed")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"abc"))
    assert run_cli(box, "cp", "-", "box:/data", stdin=buf.getvalue()).returncode == 0
    assert out(run_cli(box, "exec", "box", "cat", "/data/streamed")) == "abc"


def test_cp_from_stopped_container(box, tmp_path):
    run_cli(box, "stop", "-t", "0", "box")
    assert run_cli(box, "cp", "box:/data/file", str(tmp_path / "f")).returncode == 0
    assert (tmp_path / "f").read_text() == "inside\n"


def test_commit_and_run_the_new_image(box):
    cp = run_cli(box, "commit", "-m", "snap", "-a", "tester", "-c", 'CMD ["cat", "/data/file"]', "box",
                 "snap:v1")
    assert cp.returncode == 0, cp.stderr
    assert out(cp).startswith("sha256:")
    cp = run_cli(box, "run", "--rm", "snap:v1")
    assert out(cp) == "inside\n"
    img = box.images.get("snap:v1")
    assert img.config["author"] == "tester" and img.config["config"]["Cmd"] == ["cat", "/data/file"]
    assert len(img.layers) == 2


def test_export(box, tmp_path):
    dest = tmp_path / "rootfs.tar"
    assert run_cli(box, "export", "-o", str(dest), "box").returncode == 0
    with tarfile.open(dest) as tf:
        names = set(tf.getnames())
    assert {"bin/busybox", "data/file", "etc/passwd"} <= names


def test_attach_sees_output(cengine):
    cid = out(run_cli(cengine, "run", "-d", "busybox", "sh", "-c", "sleep 0.5; echo late; exit 2")).strip()
    cp = run_cli(cengine, "attach", cid)
    assert cp.returncode == 2 and b"late" in cp.stdout


def test_running_exec_sessions_show_in_exec_ids(box):
    import subprocess
    import time

    assert box.containers.inspect("box")["ExecIDs"] is None
    env = dict(os.environ, BERTH_ROOT=str(box.paths.root), BERTH_RUN=str(box.paths.run))
    proc = subprocess.Popen([fx.berth_command(), "exec", "-i", "box", "cat"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 30  # hang guards, not speed assertions
        while not box.containers.inspect("box")["ExecIDs"]:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        ids = box.containers.inspect("box")["ExecIDs"]
        assert len(ids) == 1 and len(ids[0]) == 64
        proc.stdin.write(b"bye\n")
        proc.stdin.close()
        assert proc.stdout.read() == b"bye\n" and proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert box.containers.inspect("box")["ExecIDs"] is None
