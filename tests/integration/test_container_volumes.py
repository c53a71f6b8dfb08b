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
