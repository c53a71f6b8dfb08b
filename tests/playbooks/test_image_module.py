"""berth.engine.image against localhost: check mode, import, idempotence, diff, tags, load, absent."""
from __future__ import annotations

import pytest

from tests.conftest import busybox_rootfs, tar_of
from tests.fixtures.modules import REPO, assert_ok, run_playbook

pytestmark = pytest.mark.root


def test_image_module(paths, busybox_tar, tmp_path):
    other = busybox_rootfs(tmp_path / "rootfs2")
    (other / "etc/motd").write_text("another image\n")
    rootfs2 = tmp_path / "rootfs2.tar"
    rootfs2.write_bytes(tar_of(other))
    extra = {"rootfs": str(busybox_tar), "rootfs2": str(rootfs2), "archive": str(tmp_path / "saved.tar")}
    proc = run_playbook(paths, REPO / "tests/playbooks/image/image.yml", extra)
    assert_ok(proc)
