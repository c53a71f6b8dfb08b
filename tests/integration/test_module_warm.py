"""Module tasks run warm in the monitor server (_ansible._run_warm, runtime/clihost.py), with the
same answers as in the module's own process, and only when the server runs the same engine."""
from __future__ import annotations

import contextlib
import os
import time

import pytest
from ansible_collections.berth.engine.plugins.module_utils import _ansible, _boot
from ansible_collections.berth.engine.plugins.module_utils.runtime import install
from ansible_collections.berth.engine.plugins.module_utils.tasks import TASKS

pytestmark = pytest.mark.root


def _volume(name: str, **kw: object) -> dict[str, object]:
    return {"name": name, "driver": "local", "driver_options": {}, "labels": None, "recreate": "never",
            "state": "present", **kw}


@pytest.fixture
def warm(engine, monkeypatch):
    """A monitor server for the test's root, and this process posing as a module run from the
    server's engine copy (what _boot.engine() records)."""
    monkeypatch.delenv("BERTH_NO_FASTPATH", raising=False)
    install.start_server(engine.paths)
    digest, base = install.ensure_engine_copy(engine.paths)
    monkeypatch.setattr(_boot, "LOADED", (digest, str(base)))
    return engine


def test_warm_answers_as_the_local_run_does(warm):
    name = f"warmvol{os.getpid()}"
    # check mode: what would change, and nothing done
    answer = _ansible._run_warm("volume", _volume(name), apply=False)
    assert answer is not None and answer["changed"] is True and answer["actions"] == [f"create volume {name}"]
    assert name not in [v["Name"] for v in warm.volumes.list()]
    # applied in the server's child, then seen the same way here and there
    answer = _ansible._run_warm("volume", _volume(name, labels={"team": "a"}), apply=True)
    assert answer["changed"] is True and answer["result"]["volume"]["Labels"] == {"team": "a"}
    assert name in [v["Name"] for v in warm.volumes.list()]
    change, result = TASKS["volume"](warm, _volume(name, labels={"team": "a"}), True)
    again = _ansible._run_warm("volume", _volume(name, labels={"team": "a"}), apply=True)
    assert change.changed is False and again["changed"] is False
    assert again["result"] == result
    facts = _ansible._run_warm("host_info", {"volumes": True, "containers": False, "containers_all": False,
                                              "images": False, "networks": False, "disk_usage": False,
                                              "verbose_output": False, "containers_filters": None,
                                              "images_filters": None, "volumes_filters": None,
                                              "networks_filters": None}, apply=True)
    assert name in [v["Name"] for v in facts["result"]["volumes"]]
    assert _ansible._run_warm("volume", _volume(name, state="absent"), apply=True)["changed"] is True
    assert name not in [v["Name"] for v in warm.volumes.list()]


def test_warm_failures_come_back_named(warm):
    answer = _ansible._run_warm("volume", _volume("bad/name"), apply=True)
    assert answer is not None and "bad/name" in answer["error"]["msg"]
    assert answer["error"]["error"] == "InvalidSpec"


def test_no_warm_run_for_another_engine_or_when_disabled(warm, monkeypatch):
    name = f"coldvol{os.getpid()}"
    monkeypatch.setattr(_boot, "LOADED", ("0" * _boot.HASH_LEN, "/nonexistent"))
    assert _ansible._run_warm("volume", _volume(name), apply=True) is None   # stale: refused, nothing ran
    monkeypatch.setattr(_boot, "LOADED", (install.ensure_engine_copy(warm.paths)[0], "/x"))
    monkeypatch.setenv("BERTH_NO_FASTPATH", "1")
    assert _ansible._run_warm("volume", _volume(name), apply=True) is None
    monkeypatch.setattr(_boot, "LOADED", None)   # an engine from a checkout: no hash to match
    monkeypatch.delenv("BERTH_NO_FASTPATH")
    assert _ansible._run_warm("volume", _volume(name), apply=True) is None
    assert name not in [v["Name"] for v in warm.volumes.list()]


def test_a_stale_server_is_replaced_once_then_tasks_run_warm(engine, monkeypatch):
    """After an upgrade the host's server runs the old engine: the first task replaces it."""
    from ansible_collections.berth.engine.plugins.module_utils.runtime import protocol

    monkeypatch.delenv("BERTH_NO_FASTPATH", raising=False)
    digest, base = install.ensure_engine_copy(engine.paths)
    old = "f" * _boot.HASH_LEN
    with monkeypatch.context() as m:   # a server that says it runs another engine version
        m.setattr(install, "ensure_engine_copy", lambda paths: (old, base))
        install.start_server(engine.paths)
    sock = str(engine.paths.run / "monitor.sock")
    hello = protocol.request(sock, {"op": "hello"})
    assert hello["hash"] == old
    monkeypatch.setattr(_boot, "LOADED", (digest, str(base)))
    name = f"upgradevol{os.getpid()}"
    assert _ansible._run_warm("volume", _volume(name), apply=True) is None   # refused: nothing ran
    assert _ansible._stale_server_replaced() is True
    assert protocol.request(sock, {"op": "hello"})["hash"] == digest
    answer = _ansible._run_warm("volume", _volume(name), apply=True)
    assert answer is not None and answer["changed"] is True
    assert _ansible._stale_server_replaced() is False   # current now: nothing more to do
    assert _ansible._run_warm("volume", _volume(name, state="absent"), apply=True)["changed"] is True
    # the replaced server, with no containers of its own, leaves by itself (this process
    # started it, so it stays a zombie until reaped here)
    for _ in range(200):
        if _ended(hello["pid"]):
            break
        time.sleep(0.05)
    assert _ended(hello["pid"])


def _ended(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return True
    if state in ("Z", "X"):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        return True
    return False
