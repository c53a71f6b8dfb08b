"""``docker container inspect``'s shape, from config.json, the run state and the endpoints."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import BerthError
from . import ocispec
from .spec import ContainerSpec, security_options

if TYPE_CHECKING:  # pragma: no cover
    from .records import ContainerRecord
    from .service import ContainerService


def _port_key(container_port: int, proto: str) -> str:
    return f"{container_port}/{proto}"


def host_config(spec: ContainerSpec, rec: ContainerRecord | None = None) -> dict[str, Any]:
    r = spec.resources
    binds = [f"{m.source}:{m.target}{':ro' if m.read_only else ''}" for m in spec.mounts
             if m.type == "bind" or (m.type == "volume" and m.source)]
    port_bindings: dict[str, list[dict[str, str]]] = {}
    for p in spec.ports:
        port_bindings.setdefault(p.key, []).append({"HostIp": p.host_ip,
                                                    "HostPort": str(p.host_port) if p.host_port else ""})
    swap = r.memory_swap if r.memory_swap is not None else (r.memory * 2 if r.memory else 0)
    opts = security_options(spec)
    sec_opts = [o for o in spec.security_opt if not o.startswith("seccomp={")] or None
    if "seccomp" in opts and opts["seccomp"] not in ("unconfined",) and opts["seccomp"].startswith("{"):
        sec_opts = (sec_opts or []) + ["seccomp=<profile>"]
    return {
        "Binds": binds or None,
        "ContainerIDFile": "",
        "LogConfig": {"Type": spec.log_driver, "Config": dict(spec.log_opts)},
        "NetworkMode": spec.network_mode,
        "PortBindings": port_bindings,
        "RestartPolicy": {"Name": spec.restart_policy.name, "MaximumRetryCount": spec.restart_policy.max_retries},
        "AutoRemove": spec.auto_remove,
        "VolumeDriver": "",
        "VolumesFrom": list(spec.volumes_from) or None,
        "ConsoleSize": [0, 0],
        "CapAdd": list(spec.cap_add) or None,
        "CapDrop": list(spec.cap_drop) or None,
        "CgroupnsMode": "private",
        "Dns": list(spec.dns),
        "DnsOptions": list(spec.dns_options),
        "DnsSearch": list(spec.dns_search),
        "ExtraHosts": list(spec.extra_hosts) or None,
        "GroupAdd": None,
        "IpcMode": "private",
        "Cgroup": "",
        "Links": None,
        "OomScoreAdj": 0,
        "PidMode": "",
        "Privileged": spec.privileged,
        "PublishAllPorts": spec.publish_all,
        "ReadonlyRootfs": spec.read_only,
        "SecurityOpt": sec_opts,
        "Tmpfs": dict(spec.tmpfs) or None,
        "UTSMode": "",
        "UsernsMode": "",
        "ShmSize": ocispec.SHM_SIZE,
        "Runtime": "berth",
        "Isolation": "",
        "CpuShares": r.cpu_shares or 0,
        "Memory": r.memory or 0,
        "NanoCpus": r.nano_cpus,
        "CgroupParent": "",
        "BlkioWeight": 0,
        "CpuPeriod": 0,
        "CpuQuota": 0,
        "CpusetCpus": r.cpuset_cpus or "",
        "CpusetMems": "",
        "Devices": [],
        "MemoryReservation": r.memory_reservation or 0,
        "MemorySwap": swap,
        "MemorySwappiness": None,
        "OomKillDisable": r.oom_kill_disable,
        "PidsLimit": r.pids_limit if r.pids_limit and r.pids_limit > 0 else None,
        "Ulimits": [{"Name": u.name, "Soft": u.soft, "Hard": u.hard} for u in spec.ulimits] or None,
        "Sysctls": dict(spec.sysctls) or None,
        "Init": spec.init or None,
        "Mounts": [_api_mount(m) for m in spec.mounts if m.type != "bind" or m.options] or None,
        "MaskedPaths": None,
        "ReadonlyPaths": None,
    }


def _api_mount(m: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"Type": m.type, "Target": m.target}
    if m.source:
        d["Source"] = m.source
    if m.read_only:
        d["ReadOnly"] = True
    if m.type == "tmpfs" and (m.tmpfs_size or m.tmpfs_mode):
        d["TmpfsOptions"] = {k: v for k, v in (("SizeBytes", m.tmpfs_size), ("Mode", m.tmpfs_mode)) if v}
    return d


def config(rec: ContainerRecord) -> dict[str, Any]:
    spec, img = rec.spec, rec.image_config
    exposed = {k: {} for k in list(img.get("ExposedPorts") or {}) + list(spec.expose)}
    for p in spec.ports:
        exposed.setdefault(p.key, {})
    cmd = list(spec.command) if spec.command is not None else (
        None if spec.entrypoint is not None else img.get("Cmd"))
    entry = list(spec.entrypoint) if spec.entrypoint is not None else img.get("Entrypoint")
    volumes = {m["Destination"]: {} for m in rec.mounts if m["Type"] == "volume" and not m.get("Name")}
    volumes.update({k: {} for k in (img.get("Volumes") or {})})
    out: dict[str, Any] = {
        "Hostname": rec.hostname,
        "Domainname": spec.domainname or "",
        "User": ocispec.effective_user(spec, img),
        "AttachStdin": spec.interactive,
        "AttachStdout": True,
        "AttachStderr": True,
        "ExposedPorts": exposed or None,
        "Tty": spec.tty,
        "OpenStdin": spec.interactive,
        "StdinOnce": spec.interactive,
        "Env": ocispec.config_env(spec, img),
        "Cmd": cmd,
        "Image": rec.image_name,
        "Volumes": volumes or None,
        "WorkingDir": spec.working_dir or img.get("WorkingDir") or "",
        "Entrypoint": entry or None,
        "OnBuild": img.get("OnBuild"),
        "Labels": {**(img.get("Labels") or {}), **spec.labels},
    }
    stop = spec.stop_signal or img.get("StopSignal")
    if stop:
        out["StopSignal"] = stop
    if spec.stop_timeout is not None:
        out["StopTimeout"] = spec.stop_timeout
    health = dict(img.get("Healthcheck") or {})
    if spec.healthcheck is not None:
        health.update(spec.healthcheck.to_docker())
    if health:
        out["Healthcheck"] = health
    return out


def network_settings(rec: ContainerRecord) -> dict[str, Any]:
    ports: dict[str, Any] = {}
    for key in list(rec.image_config.get("ExposedPorts") or {}) + list(rec.spec.expose):
        ports.setdefault(key, None)
    for p in rec.ports:
        key = _port_key(p["container_port"], p["protocol"])
        if p.get("host_port"):
            ports.setdefault(key, None)
            ports[key] = (ports[key] or []) + [{"HostIp": p.get("host_ip") or "0.0.0.0",
                                                "HostPort": str(p["host_port"])}]
        else:
            ports.setdefault(key, None)
    networks: dict[str, Any] = {}
    for name, ep in rec.networks.items():
        networks[name] = {
            "IPAMConfig": {"IPv4Address": ep["IPAMConfig"]} if isinstance(ep.get("IPAMConfig"), str) else None,
            "Links": None, "Aliases": ep.get("Aliases"), "MacAddress": ep.get("MacAddress", ""),
            "NetworkID": ep.get("NetworkID", ""), "EndpointID": ep.get("EndpointID", ""),
            "Gateway": ep.get("Gateway", ""), "IPAddress": ep.get("IPAddress", ""),
            "IPPrefixLen": ep.get("IPPrefixLen", 0), "IPv6Gateway": "", "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0, "DriverOpts": None, "DNSNames": ep.get("DNSNames"),
        }
    if not networks and rec.spec.network_mode in ("host", "none"):
        networks[rec.spec.network_mode] = {
            "IPAMConfig": None, "Links": None, "Aliases": None, "MacAddress": "", "NetworkID": "",
            "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
            "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DriverOpts": None, "DNSNames": None}
    default = rec.networks.get("bridge", {})
    return {
        "Bridge": "", "SandboxID": rec.id if rec.netns else "", "SandboxKey": rec.netns or "",
        "HairpinMode": False, "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
        "Ports": ports, "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None,
        "EndpointID": default.get("EndpointID", ""), "Gateway": default.get("Gateway", ""),
        "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
        "IPAddress": default.get("IPAddress", ""), "IPPrefixLen": default.get("IPPrefixLen", 0),
        "IPv6Gateway": "", "MacAddress": default.get("MacAddress", ""),
        "Networks": networks,
    }


def mounts(rec: ContainerRecord) -> list[dict[str, Any]]:
    out = []
    for m in rec.mounts:
        d = {k: m.get(k) for k in ("Type", "Name", "Source", "Destination", "Driver", "Mode", "RW", "Propagation")
             if k in m}
        out.append(d)
    return out


def inspect_container(service: ContainerService, rec: ContainerRecord, state: dict[str, Any],
                      size: bool = False) -> dict[str, Any]:
    st = {k: v for k, v in state.items() if k != "RestartCount"}
    cdir = service.store.dir(rec.id)
    try:
        graph = service.engine.snapshots.graph_driver(rec.id)
    except (BerthError, OSError):
        graph = {"Name": "overlay2", "Data": None}
    out: dict[str, Any] = {
        "Id": rec.id,
        "Created": rec.created,
        "Path": rec.path,
        "Args": list(rec.args),
        "State": st,
        "Image": rec.image_id,
        "ResolvConfPath": str(cdir / "resolv.conf"),
        "HostnamePath": str(cdir / "hostname"),
        "HostsPath": str(cdir / "hosts"),
        "LogPath": str(service.store.log_path(rec.id)) if rec.spec.log_driver != "none" else "",
        "Name": "/" + rec.name,
        "RestartCount": state.get("RestartCount", 0),
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": service.engine.runtime.exec_ids(rec.id) or None,
        "HostConfig": host_config(rec.spec, rec),
        "GraphDriver": graph,
        "Mounts": mounts(rec),
        "Config": config(rec),
        "NetworkSettings": network_settings(rec),
    }
    if size:
        rw = service.size_rw(rec.id)
        out["SizeRw"] = rw
        try:
            out["SizeRootFs"] = rw + int(service.engine.images.get(rec.image_id).size)
        except BerthError:
            out["SizeRootFs"] = rw
    return out
