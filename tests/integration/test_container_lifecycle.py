"""Container life cycle through the real `berth` command: run, create, start, stop, kill,
restart, rm, pause, unpause, rename, wait, ps, inspect, port, prune, update."""
from __future__ import annotations

import json
import re
import threading
import time

import pytest
from ansible_collections.berth.engine.plugins.module_utils.containers.spec import ContainerSpec
from ansible_collections.berth.engine.plugins.module_utils.errors import Conflict

from tests.fixtures import containers as fx
from tests.fixtures.containers import out, run_cli

busybox_layer, cengine = fx.busybox_layer, fx.cengine  # fixtures

pytestmark = pytest.mark.root


def status(engine, ref):
    cp = run_cli(engine, "container", "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", ref)
    assert cp.returncode == 0, cp.stderr
    return out(cp).strip()


def test_run_attached_prints_output_and_returns_its_code(cengine):
    cp = run_cli(cengine, "run", "--name", "att1", "busybox", "sh", "-c", "echo hello; echo oops >&2; exit 3")
    assert cp.returncode == 3
    assert out(cp) == "hello\n"
    assert b"oops" in cp.stderr
    assert status(cengine, "att1") == "exited 3"


def test_run_rm_leaves_nothing(cengine):
    cp = run_cli(cengine, "run", "--rm", "--name", "gone", "busybox", "true")
    assert cp.returncode == 0, cp.stderr
    assert out(run_cli(cengine, "ps", "-aq")) == ""
    # the name is free at once; the rootfs and the rest go in the monitor's exit command
    cp = run_cli(cengine, "run", "--rm", "--name", "gone", "-v", "/anon", "busybox", "true")
    assert cp.returncode == 0, cp.stderr
    for _ in range(400):
        if not cengine.containers.store.ids() and not cengine.snapshots.list_active():
            break
        time.sleep(0.05)
    assert cengine.containers.store.ids() == []
    assert cengine.snapshots.list_active() == []
    assert cengine.volumes.list() == [] if hasattr(cengine.volumes, "list") else True


def test_command_not_found_and_not_invokable(cengine):
    cp = run_cli(cengine, "run", "--rm", "busybox", "nosuchcmd")
    assert cp.returncode == 127
    assert b"nosuchcmd" in cp.stderr
    cp = run_cli(cengine, "run", "--rm", "busybox", "/etc")
    assert cp.returncode == 126
    assert out(run_cli(cengine, "ps", "-aq")) == ""
    # detached too: a --rm container whose start failed is removed, as docker removes it
    cp = run_cli(cengine, "run", "-d", "--rm", "--name", "nevergone", "busybox", "nosuchcmd")
    assert cp.returncode == 127 and b"nosuchcmd" in cp.stderr
    assert out(run_cli(cengine, "ps", "-aq")) == ""
    cp = run_cli(cengine, "run", "-d", "--name", "kept", "busybox", "nosuchcmd")
    assert cp.returncode == 127
    assert out(run_cli(cengine, "ps", "-a", "--format", "{{.Names}} {{.State}}")) == "kept created\n"
    run_cli(cengine, "rm", "kept")
    cp = run_cli(cengine, "run", "--rm", "--memory", "1m", "busybox", "true")
    assert cp.returncode == 125 and b"Minimum memory limit allowed is 6MB" in cp.stderr


def test_detached_life_cycle(cengine):
    cp = run_cli(cengine, "run", "-d", "--name", "life", "-l", "tier=web", "busybox",
                 "sh", "-c", "trap 'exit 7' TERM; echo started; while true; do sleep 0.1; done")
    assert cp.returncode == 0, cp.stderr
    cid = out(cp).strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid)
    ps = out(run_cli(cengine, "ps"))
    assert ps.splitlines()[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS",
                                          "NAMES"]
    assert cid[:12] in ps and "Up " in ps and "life" in ps
    assert out(run_cli(cengine, "ps", "-q", "--filter", "label=tier=web")).strip() == cid[:12]
    assert out(run_cli(cengine, "ps", "-q", "--filter", "label=tier=db")) == ""
    # any unique prefix works
    assert status(cengine, cid[:5]) == "running 0"
    assert run_cli(cengine, "pause", "life").returncode == 0
    assert "(Paused)" in out(run_cli(cengine, "ps"))
    assert status(cengine, "life") == "paused 0"
    cp = run_cli(cengine, "rm", "life")
    assert cp.returncode != 0 and b"paused" in cp.stderr
    assert run_cli(cengine, "unpause", "life").returncode == 0
    assert run_cli(cengine, "stop", "life").returncode == 0
    assert status(cengine, "life") == "exited 7"
    assert re.search(r"Exited \(7\) .* ago", out(run_cli(cengine, "ps", "-a")))
    assert out(run_cli(cengine, "ps", "-q")) == ""
    assert out(run_cli(cengine, "wait", "life")).strip() == "7"
    logs = out(run_cli(cengine, "logs", "life"))
    assert logs == "started\n"
    assert run_cli(cengine, "start", "life").returncode == 0
    assert status(cengine, "life") == "running 0"
    assert out(run_cli(cengine, "logs", "life")) == "started\nstarted\n"
    assert run_cli(cengine, "rename", "life", "life2").returncode == 0
    assert run_cli(cengine, "kill", "-s", "TERM", "life2").returncode == 0
    assert out(run_cli(cengine, "wait", "life2")).strip() == "7"
    assert run_cli(cengine, "restart", "life2").returncode == 0
    assert status(cengine, "life2") == "running 0"
    cp = run_cli(cengine, "rm", "life2")
    assert cp.returncode == 1 and b"stop the container before removing or force remove" in cp.stderr
    assert run_cli(cengine, "rm", "-f", "life2").returncode == 0
    assert out(run_cli(cengine, "ps", "-aq")) == ""
    cp = run_cli(cengine, "inspect", "life2")
    assert cp.returncode != 0


def test_create_then_start_and_wait(cengine):
    cp = run_cli(cengine, "create", "--name", "later", "busybox", "sh", "-c", "exit 4")
    cid = out(cp).strip()
    assert status(cengine, "later") == "created 0"
    assert "Created" in out(run_cli(cengine, "ps", "-a"))
    assert run_cli(cengine, "start", "later").returncode == 0
    assert out(run_cli(cengine, "wait", cid)).strip() == "4"
    assert run_cli(cengine, "start", "-a", "later").returncode == 4


def test_inspect_shape(cengine):
    cid = out(run_cli(cengine, "create", "--name", "shape", "-e", "A=1", "-w", "/tmp", "--restart",
                      "on-failure:2", "-m", "64m", "--hostname", "box1", "busybox", "sleep", "5")).strip()
    data = json.loads(out(run_cli(cengine, "container", "inspect", "shape")))
    assert len(data) == 1
    d = data[0]
    for key in ("Id", "Created", "Path", "Args", "State", "Image", "ResolvConfPath", "HostnamePath", "HostsPath",
                "LogPath", "Name", "RestartCount", "Driver", "Platform", "MountLabel", "ProcessLabel",
                "AppArmorProfile", "ExecIDs", "HostConfig", "GraphDriver", "Mounts", "Config", "NetworkSettings"):
        assert key in d, key
    assert d["Id"] == cid and d["Name"] == "/shape" and d["Path"] == "sleep" and d["Args"] == ["5"]
    assert d["State"]["Status"] == "created"
    assert d["Config"]["Env"][-1] == "A=1" and d["Config"]["WorkingDir"] == "/tmp"
    assert d["Config"]["Hostname"] == "box1" and d["Config"]["Cmd"] == ["sleep", "5"]
    assert d["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    assert d["HostConfig"]["Memory"] == 64 << 20
    assert d["LogPath"].endswith(f"{cid}-json.log")
    assert d["Image"].startswith("sha256:")


def test_update_in_place(cengine):
    run_cli(cengine, "run", "-d", "--name", "upd", "-m", "64m", "busybox", "sleep", "30")
    cid = cengine.containers.resolve("upd")
    assert run_cli(cengine, "update", "--memory", "128m", "--restart", "always", "upd").returncode == 0
    d = json.loads(out(run_cli(cengine, "inspect", "upd")))[0]
    assert d["Id"] == cid and d["State"]["Status"] == "running"
    assert d["HostConfig"]["Memory"] == 128 << 20
    assert d["HostConfig"]["RestartPolicy"]["Name"] == "always"
    stats = cengine.runtime.stats(cid)
    assert stats["memory"]["limit"] == 128 << 20


def test_concurrent_creates_of_one_name(cengine):
    results: list[object] = []

    def create():
        try:
            results.append(cengine.containers.create(ContainerSpec(image="busybox", name="dup",
                                                                    command=("true",))))
        except Conflict as exc:
            results.append(exc)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    made = [r for r in results if not isinstance(r, Exception)]
    failed = [r for r in results if isinstance(r, Conflict)]
    assert len(made) == 1 and len(failed) == 3
    assert f'The container name "/dup" is already in use by container "{made[0].id}"' in str(failed[0])
    assert len(cengine.containers.store.ids()) == 1


def test_prune_and_ambiguous_lookup(cengine):
    for i in range(3):
        run_cli(cengine, "run", "--name", f"p{i}", "busybox", "true")
    keep = out(run_cli(cengine, "run", "-d", "busybox", "sleep", "30")).strip()
    cp = run_cli(cengine, "container", "prune", "-f")
    assert cp.returncode == 0
    assert out(cp).startswith("Deleted Containers:")
    assert out(run_cli(cengine, "ps", "-aq", "--no-trunc")).split() == [keep]
    cp = run_cli(cengine, "container", "inspect", "zzz-none")
    assert cp.returncode != 0 and b"No such container: zzz-none" in cp.stderr


def test_ensure_is_idempotent_and_updates_in_place(cengine):
    svc = cengine.containers
    spec = ContainerSpec(image="busybox", name="conv", command=("sleep", "60"), env=("A=1",))
    first = svc.ensure("conv", spec, "started")
    assert first.changed and first.actions == ("create", "start")
    cid = first.after["id"]
    again = svc.ensure("conv", spec, "started")
    assert not again.changed
    # check mode: reports, touches nothing
    changed_env = ContainerSpec(image="busybox", name="conv", command=("sleep", "60"), env=("A=2",))
    dry = svc.ensure("conv", changed_env, "started", apply=False)
    assert dry.changed and "differs: env" in dry.actions
    assert svc.get("conv").spec.env == ("A=1",)
    # resources change in place: same container, new limit
    from dataclasses import replace
    bigger = replace(spec, resources=replace(spec.resources, memory=96 << 20))
    upd = svc.ensure("conv", bigger, "started")
    assert upd.actions[0] == "update" and upd.after["id"] == cid
    assert cengine.runtime.stats(cid)["memory"]["limit"] == 96 << 20
    # any other change re-creates
    rec = svc.ensure("conv", replace(changed_env, resources=bigger.resources), "started")
    assert rec.actions[:2] == ("remove", "create") and rec.after["id"] != cid
    assert svc.ensure("conv", None, "absent").changed
    assert out(run_cli(cengine, "ps", "-aq")) == ""
