"""Docker's shapes: inspect's Config/HostConfig/NetworkSettings, ps status text and filters."""
from __future__ import annotations

import pytest
from ansible_collections.berth.engine.plugins.module_utils.containers import inspect, listing
from ansible_collections.berth.engine.plugins.module_utils.containers.records import ContainerRecord
from ansible_collections.berth.engine.plugins.module_utils.containers.spec import (
    ContainerSpec,
    PortBinding,
    Resources,
    RestartPolicy,
)
from ansible_collections.berth.engine.plugins.module_utils.errors import InvalidSpec

IMG = {"Cmd": ["sh"], "Env": ["PATH=/bin", "X=img"], "ExposedPorts": {"80/tcp": {}}, "Labels": {"from": "img"},
       "WorkingDir": "/w", "Volumes": {"/data": {}}}


def rec(**kw):
    spec = ContainerSpec(image="busybox", name="web", labels={"a": "b"}, env=("X=me",),
                         ports=(PortBinding(80, "tcp", "", 8080),), resources=Resources(memory=64 << 20, cpus=1.5),
                         restart_policy=RestartPolicy("on-failure", 3), **kw)
    return ContainerRecord(id="f" * 64, name="web", created="2026-11-23T10:00:00Z", spec=spec,
                           image_id="sha256:" + "1" * 64, image_name="busybox", image_config=IMG, path="sh",
                           hostname="ffffffffffff",
                           ports=({"container_port": 80, "protocol": "tcp", "host_ip": "", "host_port": 8080},),
                           networks={"bridge": {"IPAddress": "172.17.0.2", "IPPrefixLen": 16, "Gateway": "172.17.0.1",
                                                "MacAddress": "02:42:ac:11:00:02", "NetworkID": "n" * 64,
                                                "EndpointID": "e" * 64}})


def test_config_merges_image_and_user_values():
    c = inspect.config(rec())
    assert c["Cmd"] == ["sh"] and c["Env"] == ["PATH=/bin", "X=me"] and c["WorkingDir"] == "/w"
    assert c["Labels"] == {"from": "img", "a": "b"} and c["ExposedPorts"] == {"80/tcp": {}}
    assert c["Image"] == "busybox" and c["Hostname"] == "ffffffffffff" and c["Volumes"] == {"/data": {}}


def test_host_config_shape():
    h = inspect.host_config(rec().spec)
    assert h["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert h["Memory"] == 64 << 20 and h["MemorySwap"] == 128 << 20 and h["NanoCpus"] == 1_500_000_000
    assert h["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}
    assert h["NetworkMode"] == "bridge" and h["LogConfig"]["Type"] == "json-file"


def test_network_settings_shape():
    n = inspect.network_settings(rec())
    assert n["IPAddress"] == "172.17.0.2" and n["Networks"]["bridge"]["Gateway"] == "172.17.0.1"
    assert n["Ports"] == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}


@pytest.mark.parametrize("secs,text", [(0.2, "Less than a second"), (1, "1 second"), (59, "59 seconds"),
                                       (60, "About a minute"), (180, "3 minutes"), (3600, "About an hour"),
                                       (7200, "2 hours"), (3 * 86400, "3 days"), (20 * 86400, "2 weeks")])
def test_human_duration(secs, text):
    assert listing.human_duration(secs) == text


def test_status_text():
    now = 1_795_000_000.0
    from ansible_collections.berth.engine.plugins.module_utils.runtime.state import format_rfc3339
    t = format_rfc3339(int((now - 180) * 1e9))
    base = {"ExitCode": 0, "StartedAt": t, "FinishedAt": t}
    assert listing.status_text(dict(base, Status="running"), now) == "Up 3 minutes"
    assert listing.status_text(dict(base, Status="paused"), now) == "Up 3 minutes (Paused)"
    assert listing.status_text(dict(base, Status="exited", ExitCode=137), now) == "Exited (137) 3 minutes ago"
    assert listing.status_text(dict(base, Status="created"), now) == "Created"


def test_filters_validated_and_ports_listed():
    with pytest.raises(InvalidSpec, match="invalid filter 'colour'"):
        listing.check_filters({"colour": ["red"]})
    with pytest.raises(InvalidSpec, match="status=sleeping"):
        listing.check_filters({"status": ["sleeping"]})
    assert listing.port_list(rec(), running=True) == [{"PrivatePort": 80, "Type": "tcp", "IP": "0.0.0.0",
                                                       "PublicPort": 8080}]
    assert listing.port_list(rec(), running=False) == [{"PrivatePort": 80, "Type": "tcp"}]
