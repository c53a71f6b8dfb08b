"""Exec session records (inspect's ExecIDs) and in-place rewrites of bind-mounted /etc files."""
from __future__ import annotations

import os

from ansible_collections.berth.engine.plugins.module_utils.containers import etcfiles
from ansible_collections.berth.engine.plugins.module_utils.runtime import execrecords as exec_mod
from ansible_collections.berth.engine.plugins.module_utils.runtime.state import proc_start_time


def test_exec_ids_lists_live_sessions_and_drops_dead_ones(tmp_path):
    assert exec_mod.exec_ids(tmp_path) == []
    live = exec_mod.record(tmp_path, os.getpid())
    assert live is not None
    dead_dir = tmp_path / exec_mod.EXECS_DIR
    (dead_dir / ("d" * 64)).write_text(f"{os.getpid()} {(proc_start_time(os.getpid()) or 0) + 1}\n")  # pid reused
    (dead_dir / ("e" * 64)).write_text("garbage")
    assert exec_mod.exec_ids(tmp_path) == [os.path.basename(live)]
    assert not (dead_dir / ("d" * 64)).exists()
    os.unlink(live)
    assert exec_mod.exec_ids(tmp_path) == []


def test_record_without_a_dir_is_a_no_op():
    assert exec_mod.record(None, os.getpid()) is None


def test_write_in_place_keeps_the_inode(tmp_path):
    f = tmp_path / "hosts"
    f.write_text("a much longer first version\n")
    ino = f.stat().st_ino
    etcfiles.write_in_place(f, "short\n")
    assert f.read_text() == "short\n" and f.stat().st_ino == ino


def test_dns_service_args_carry_the_dns_flags_as_upstreams():
    from ansible_collections.berth.engine.plugins.module_utils.containers.networking import NetworkAttacher
    from ansible_collections.berth.engine.plugins.module_utils.containers.records import ContainerRecord
    from ansible_collections.berth.engine.plugins.module_utils.containers.spec import ContainerSpec

    def rec(**kw):
        return ContainerRecord(id="a" * 64, name="x", created="", spec=ContainerSpec(image="busybox", **kw),
                               image_id="sha256:" + "b" * 64, image_name="busybox")
    assert NetworkAttacher.dns_args(rec(), "/run/netns/x") == {"netns": "/run/netns/x", "listen": "127.0.0.11"}
    assert NetworkAttacher.dns_args(rec(dns=("9.9.9.9", "1.1.1.1")), "/n")["upstreams"] == ["9.9.9.9", "1.1.1.1"]
