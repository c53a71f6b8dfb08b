"""Reading and writing network records, endpoints and published ports; stdlib only.

The DNS responder (loaded into every container monitor) reads endpoints through this module,
so it must stay free of pyroute2 and other heavy imports. Writers hold ``lock("networks")``;
readers never lock: every file is replaced atomically.
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

from .. import fsutil
from ..errors import InvalidSpec, NotFound
from ..paths import DEFAULT_ROOT, Paths
from .model import Endpoint, NetworkRecord

_ID_RE = re.compile(r"^[a-f0-9]{64}$")
_PREFIX_RE = re.compile(r"^[a-f0-9]{1,64}$")
_CID_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$")
LOCK = "networks"


def check_cid(cid: str) -> str:
    """Container ids name files here: refuse anything that could leave the folder."""
    if not isinstance(cid, str) or not _CID_RE.match(cid):
        raise InvalidSpec(f"invalid container id {cid!r}", field="container", value=cid)
    return cid


class KernelNames:
    """Names of the kernel objects one berth root owns.

    The default root uses the plain names (bridge ``berth0``, nftables table ``berth``); any
    other root (tests, a second engine on the host) gets a suffix derived from its path, so
    two roots on one host never fight over a bridge or a table.
    """

    def __init__(self, paths: Paths) -> None:
        if str(paths.root) == DEFAULT_ROOT:
            self.suffix = ""
        else:
            self.suffix = hashlib.sha256(str(paths.root).encode()).hexdigest()[:6]
        self.default_bridge = f"berth-{self.suffix}" if self.suffix else "berth0"
        self.table = "berth" if not self.suffix else f"berth_{self.suffix}"
        self.chain_prefix = "BERTH" if not self.suffix else f"BERTH-{self.suffix.upper()}"


class NetworkStore:
    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self._cache: dict[Path, tuple[tuple[int, ...], Any]] = {}

    # --- records ----------------------------------------------------------------------
    def record_path(self, nid: str) -> Path:
        if not _ID_RE.match(nid):
            raise InvalidSpec(f"invalid network id {nid!r}", field="network", value=nid)
        return self.paths.networks / f"{nid}.json"

    def records(self) -> list[NetworkRecord]:
        try:
            names = sorted(os.listdir(self.paths.networks))
        except FileNotFoundError:
            return []
        out = []
        for name in names:
            if name.endswith(".json") and _ID_RE.match(name[:-5]):
                data = self._read_cached(self.paths.networks / name)
                if data is not None:
                    out.append(NetworkRecord.from_dict(data))
        return out

    def find(self, ref: str) -> NetworkRecord | None:
        """By full id, then exact name, then unique id prefix (as Docker resolves them)."""
        if not isinstance(ref, str) or not ref:
            return None
        records = self.records()
        for r in records:
            if r.id == ref:
                return r
        for r in records:
            if r.name == ref:
                return r
        if _PREFIX_RE.match(ref):
            matches = [r for r in records if r.id.startswith(ref)]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise InvalidSpec(f"network {ref} is ambiguous ({len(matches)} matches)", field="network",
                                  value=ref)
        return None

    def get(self, ref: str) -> NetworkRecord:
        rec = self.find(ref)
        if rec is None:
            raise NotFound(f"network {ref} not found", network=ref)
        return rec

    def save(self, record: NetworkRecord) -> None:
        fsutil.write_json(self.record_path(record.id), record.to_dict())

    def delete(self, record: NetworkRecord) -> None:
        for p in (self.record_path(record.id), self.endpoints_path(record.id)):
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass

    # --- endpoints --------------------------------------------------------------------
    def endpoints_path(self, nid: str) -> Path:
        self.record_path(nid)  # validates
        return self.paths.run_networks / f"{nid}.endpoints.json"

    def endpoints(self, nid: str) -> dict[str, Endpoint]:
        # Read every time: a join or leave must be seen at once, and a replaced file can reuse
        # the inode number and timestamp tick of the one it replaced.
        data = fsutil.read_json(self.endpoints_path(nid), default=None) or {}
        return {cid: Endpoint.from_dict(ep) for cid, ep in data.items()}

    def save_endpoints(self, nid: str, endpoints: dict[str, Endpoint]) -> None:
        path = self.endpoints_path(nid)
        if not endpoints:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            return
        # Not durable: endpoints describe kernel objects that a reboot removes anyway.
        fsutil.write_json(path, {cid: ep.to_dict() for cid, ep in endpoints.items()}, durable=False)

    def container_endpoints(self, cid: str) -> list[tuple[NetworkRecord, Endpoint]]:
        """Every network the container is attached to, in order of connection (interface name)."""
        out = []
        for rec in self.records():
            ep = self.endpoints(rec.id).get(cid)
            if ep is not None:
                out.append((rec, ep))
        out.sort(key=lambda pair: _if_order(pair[1].ifname))
        return out

    # --- published ports --------------------------------------------------------------
    def ports_path(self, cid: str) -> Path:
        return self.paths.run_networks / "ports" / f"{check_cid(cid)}.json"

    def ports(self) -> dict[str, dict[str, Any]]:
        """Every container's published ports: cid -> {"ip": container ip, "bindings": [...]}."""
        folder = self.paths.run_networks / "ports"
        try:
            names = sorted(os.listdir(folder))
        except FileNotFoundError:
            return {}
        out = {}
        for name in names:
            if name.endswith(".json") and _CID_RE.match(name[:-5]):
                data = fsutil.read_json(folder / name, default=None)
                if data:
                    out[name[:-5]] = data
        return out

    def save_ports(self, cid: str, data: dict[str, Any] | None) -> None:
        path = self.ports_path(cid)
        if not data:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            return
        fsutil.write_json(path, data, durable=False)

    # --- reading ----------------------------------------------------------------------
    def _read_cached(self, path: Path) -> Any:
        """Parse a network record only when it changed: the DNS responder reads them all at every
        query, and records change rarely (a new network is a new file)."""
        try:
            st = os.stat(path)
        except FileNotFoundError:
            self._cache.pop(path, None)
            return None
        key = (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)
        hit = self._cache.get(path)
        if hit is not None and hit[0] == key:
            return hit[1]
        data = fsutil.read_json(path, default=None)
        self._cache[path] = (key, data)
        return data


def _if_order(ifname: str) -> tuple[int, str]:
    digits = ifname[3:] if ifname.startswith("eth") else ""
    return (int(digits), ifname) if digits.isdigit() else (1 << 30, ifname)
