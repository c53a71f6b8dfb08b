"""Containers on disk: root/containers/<id>/config.json, name links, and Docker's lookup rules.

config.json holds the desired ``ContainerSpec`` and what create resolved (image id and config,
mounts, anonymous volumes) and start attached (network endpoints, published ports). Names are
reserved with a symlink ``root/containers/.names/<name> -> <id>``: creating a symlink is atomic,
so of two concurrent creates of one name exactly one wins, with no global lock.
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import fsutil
from ..errors import Conflict, InvalidSpec, NotFound
from ..paths import Paths
from ..types import check_hex_id
from .spec import ContainerSpec, check_container_name

_HEX64 = re.compile(r"^[a-f0-9]{64}$")


@dataclass(frozen=True)
class ContainerRecord:
    id: str
    name: str
    created: str
    spec: ContainerSpec
    image_id: str
    image_name: str
    image_config: dict[str, Any] = field(default_factory=dict)
    path: str = ""
    args: tuple[str, ...] = ()
    hostname: str = ""
    mounts: tuple[dict[str, Any], ...] = ()          # resolved, Docker's inspect "Mounts" shape
    anonymous_volumes: tuple[str, ...] = ()
    networks: dict[str, dict[str, Any]] = field(default_factory=dict)   # name -> endpoint
    ports: tuple[dict[str, Any], ...] = ()          # bindings with the host ports chosen at start
    netns: str | None = None
    exec_ids: tuple[str, ...] = ()
    spec_version: int = 1

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["spec"] = self.spec.to_dict()
        for k in ("args", "mounts", "anonymous_volumes", "ports", "exec_ids"):
            d[k] = list(d[k])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ContainerRecord:
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        kw["spec"] = ContainerSpec.from_dict(d["spec"])
        for k in ("args", "mounts", "anonymous_volumes", "ports", "exec_ids"):
            if k in kw:
                kw[k] = tuple(kw[k])
        return cls(**kw)

    def replace(self, **changes: Any) -> ContainerRecord:
        return dataclasses.replace(self, **changes)

    @property
    def short_id(self) -> str:
        return self.id[:12]


class ContainerStore:
    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.base = paths.containers
        self.names = paths.containers / ".names"

    # --- paths --------------------------------------------------------------------------
    def dir(self, cid: str) -> Path:
        return self.base / check_hex_id(cid, "container id")

    def config_file(self, cid: str) -> Path:
        return self.dir(cid) / "config.json"

    def log_path(self, cid: str) -> Path:
        return self.dir(cid) / f"{cid}-json.log"

    def run_dir(self, cid: str) -> Path:
        return self.paths.run_containers / check_hex_id(cid, "container id")

    def lock_path(self, cid: str) -> Path:
        return self.paths.lock(f"container-{cid}")

    @contextlib.contextmanager
    def locked(self, cid: str) -> Iterator[None]:
        with fsutil.locked(self.lock_path(check_hex_id(cid, "container id"))):
            yield

    # --- records ------------------------------------------------------------------------
    def ids(self) -> list[str]:
        try:
            return [n for n in os.listdir(self.base) if _HEX64.match(n)]
        except FileNotFoundError:
            return []

    def read(self, cid: str) -> ContainerRecord:
        try:
            return ContainerRecord.from_dict(fsutil.read_json(self.config_file(cid)))
        except FileNotFoundError:
            raise NotFound(f"No such container: {cid}", id=cid) from None

    def try_read(self, cid: str) -> ContainerRecord | None:
        try:
            return self.read(cid)
        except (NotFound, InvalidSpec, KeyError, TypeError):
            return None

    def write(self, rec: ContainerRecord, durable: bool = True) -> None:
        fsutil.write_json(self.config_file(rec.id), rec.to_dict(), durable=durable)

    def all(self) -> list[ContainerRecord]:
        out = []
        for cid in self.ids():
            rec = self.try_read(cid)
            if rec is not None:
                out.append(rec)
        return out

    # --- names --------------------------------------------------------------------------
    def name_owner(self, name: str) -> str | None:
        try:
            target = os.readlink(self.names / name)
        except (FileNotFoundError, OSError):
            return None
        return target if _HEX64.match(target) else None

    def reserve_name(self, name: str, cid: str) -> None:
        """Claim ``name`` for ``cid``, or raise Docker's conflict naming the owner."""
        check_container_name(name)
        fsutil.ensure_dir(self.names)
        for _ in range(3):
            try:
                os.symlink(cid, self.names / name)
                return
            except FileExistsError:
                owner = self.name_owner(name)
                if owner and owner != cid and (self.config_file(owner).exists() or self._creating(owner)):
                    raise Conflict(f'Conflict. The container name "/{name}" is already in use by container '
                                   f'"{owner}". You have to remove (or rename) that container to be able to '
                                   "reuse that name.", field="name", value=name) from None
                if owner == cid:
                    return
                # A link left by a crash between reservation and config.json: reclaim it.
                with fsutil.locked(self.paths.lock("container-names")):
                    if self.name_owner(name) == owner and not (owner and (
                            self.config_file(owner).exists() or self._creating(owner))):
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(self.names / name)
        raise Conflict(f'Conflict. The container name "/{name}" is being claimed concurrently', value=name)

    def _creating(self, cid: str) -> bool:
        """True while another process holds ``cid``'s lock (a create in progress)."""
        try:
            fd = os.open(self.lock_path(cid), os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def release_name(self, name: str, cid: str) -> None:
        if self.name_owner(name) == cid:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.names / name)

    # --- lookup: full id, then name, then unique id prefix (Docker's order) -----------------
    def resolve(self, ref: str) -> str:
        if not ref:
            raise NotFound("No such container: ", id=ref)
        ref = ref.lstrip("/")
        if _HEX64.match(ref) and self.config_file(ref).exists():
            return ref
        owner = self.name_owner(ref) if re.match(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$", ref) else None
        if owner and self.config_file(owner).exists():
            return owner
        if re.match(r"^[a-f0-9]+$", ref):
            matches = [c for c in self.ids() if c.startswith(ref)]
            if len(matches) > 1:
                raise NotFound(f"multiple IDs found with provided prefix: {ref}", id=ref)
            if matches and self.config_file(matches[0]).exists():
                return matches[0]
        raise NotFound(f"No such container: {ref}", id=ref)
