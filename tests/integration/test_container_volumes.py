"""Volumes and binds through containers: named volumes outlive containers, anonymous ones go
with `rm -v`, copy-up of image content, read-only binds, tmpfs, --volumes-from."""
from __future__ import annotations

import pytest

from tests.fixtures import containers as fx
from tests.fixtures.containers import out, run_cli

busybox_layer, cengine = fx.busybox_layer, fx.cengine  # fixtures

pytestmark = pytest.mark.root


def test_named_volume_outlives_its_container(cengine):
    assert run_cli(cengine, "run", "--rm", "-v", "keep1:/data", "busybox", "sh", "-c",
                   "echo kept > /data/f").returncode == 0
    cp = run_cli(cengine, "run", "--rm", "-v", "keep1:/data", "busybox", "cat", "/data/f")
    assert out(cp) == "kept\n", cp.stderr
    assert cengine.volumes.exists("keep1")


def test_anonymous_volume_removed_with_rm_v(cengine):
    cid = out(run_cli(cengine, "create", "-v", "/scratch", "busybox", "true")).strip()
    names = [m["Name"] for m in cengine.containers.get(cid).mounts]
    assert len(names) == 1 and len(names[0]) == 64 and cengine.volumes.exists(names[0])
    assert run_cli(cengine, "rm", "-v", cid).returncode == 0
    assert not cengine.volumes.exists(names[0])


def test_copy_up_of_image_content_into_a_new_volume(cengine):
    cp = run_cli(cengine, "run", "--rm", "-v", "etcvol:/etc", "busybox", "cat", "/etc/passwd")
    assert "root:x:0:0" in out(cp), cp.stderr
    cp = run_cli(cengine, "run", "--rm", "--mount", "type=volume,src=empty1,dst=/etc,volume-nocopy",
                 "busybox", "ls", "/etc")
    assert "passwd" not in out(cp)


def test_bind_read_only_and_tmpfs(cengine, tmp_path):
    (tmp_path / "in").write_text("host\n")
    cp = run_cli(cengine, "run", "--rm", "-v", f"{tmp_path}:/h:ro", "busybox", "sh", "-c",
                 "cat /h/in; echo x > /h/new && echo wrote")
    assert out(cp) == "host\n" and not (tmp_path / "new").exists()
    cp = run_cli(cengine, "run", "--rm", "-v", f"{tmp_path}:/h", "busybox", "sh", "-c", "echo rw > /h/new")
    assert (tmp_path / "new").read_text() == "rw\n"
    run_cli(cengine, "create", "--name", "tmpy", "--tmpfs", "/t", "busybox", "sh", "-c", "ls /t; touch /t/x")
    assert run_cli(cengine, "start", "-a", "tmpy").stdout == b""
    assert run_cli(cengine, "start", "-a", "tmpy").stdout == b""  # empty again at each start


def test_volumes_from(cengine):
    run_cli(cengine, "run", "--name", "donor", "-v", "shared1:/shared", "busybox", "sh", "-c",
            "echo given > /shared/f")
    cp = run_cli(cengine, "run", "--rm", "--volumes-from", "donor:ro", "busybox", "sh", "-c",
                 "cat /shared/f; echo y > /shared/g && echo wrote")
    assert out(cp) == "given\n"


def _until(predicate, limit: float = 30.0):
    """Poll (a hang guard, not a speed assertion): --rm cleanup runs after the exit."""
    import time

    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, f"not met within {limit}s"
        time.sleep(0.05)


def test_volume_keeps_a_file_across_removal_and_re_creation(cengine):
    assert run_cli(cengine, "run", "-d", "--name", "db", "-v", "dbdata:/var/db", "busybox", "sh", "-c",
                   "echo row1 > /var/db/t; sleep 300").returncode == 0
    _until(lambda: run_cli(cengine, "exec", "db", "cat", "/var/db/t").stdout == b"row1\n")
    cp = run_cli(cengine, "volume", "rm", "dbdata")
    assert cp.returncode != 0 and b"in use" in cp.stderr                   # refused while used
    assert run_cli(cengine, "rm", "-f", "db").returncode == 0
    assert run_cli(cengine, "run", "-d", "--name", "db", "-v", "dbdata:/var/db", "busybox", "sleep",
                   "300").returncode == 0
    assert out(run_cli(cengine, "exec", "db", "cat", "/var/db/t")) == "row1\n"


def test_two_containers_share_a_volume_live(cengine):
    assert run_cli(cengine, "run", "-d", "--name", "wr", "-v", "live1:/s", "busybox", "sleep", "300").returncode == 0
    assert run_cli(cengine, "run", "-d", "--name", "rd", "-v", "live1:/s:ro", "busybox", "sleep",
                   "300").returncode == 0
    assert run_cli(cengine, "exec", "wr", "sh", "-c", "echo now > /s/msg").returncode == 0
    assert out(run_cli(cengine, "exec", "rd", "cat", "/s/msg")) == "now\n"
    assert run_cli(cengine, "exec", "rd", "sh", "-c", "echo no > /s/msg").returncode != 0


def test_rm_flag_removes_anonymous_volumes_but_keeps_named_ones(cengine):
    cid = out(run_cli(cengine, "run", "-d", "--rm", "-v", "/anon", "-v", "named1:/named", "busybox", "sh", "-c",
                      "echo a > /anon/f; echo n > /named/f; sleep 0.2")).strip()
    anon = [m["Name"] for m in cengine.containers.get(cid).mounts if m["Destination"] == "/anon"][0]
    assert cengine.volumes.exists(anon)
    _until(lambda: cid not in set(cengine.containers.store.ids()))
    _until(lambda: not cengine.volumes.exists(anon))
    assert cengine.volumes.exists("named1")
