"""A container's mounts: ``-v``, ``--mount``, ``--tmpfs``, the image's VOLUMEs, ``--volumes-from``.

create turns the spec into resolved records in Docker's inspect "Mounts" shape (anonymous
volumes named by 64 hex digits, as Docker names them); start turns those into kernel mounts
through the volume service and fills a new, empty volume from the image's content first.
"""
from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import fsutil
from ..errors import InvalidSpec, NotFound
from ..types import Mount
from .spec import ContainerSpec

if TYPE_CHECKING:  # pragma: no cover
    from ..engine import Engine
    from .records import ContainerRecord


class MountPlanner:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # --- at create ------------------------------------------------------------------------
    def plan(self, cid: str, spec: ContainerSpec, image_cfg: dict[str, Any],
             undo: list[Callable[[], Any]]) -> tuple[list[dict[str, Any]], list[str]]:
        records: list[dict[str, Any]] = []
        anonymous: list[str] = []
        taken = {t.rstrip("/") for t in spec.tmpfs}
        for ref in spec.volumes_from:
            records.extend(self._volumes_from(ref, taken))
        for m in spec.mounts:
            dest = m.target.rstrip("/")
            records = [r for r in records if r["Destination"] != dest]
            taken.add(dest)
            if m.type == "bind":
                if not os.path.exists(m.source):
                    # `-v /missing:/x` creates the host folder, as Docker does.
                    os.makedirs(m.source, 0o755, exist_ok=True)
                records.append({"Type": "bind", "Source": m.source, "Destination": dest,
                                "Mode": "ro" if m.read_only else "", "RW": not m.read_only,
                                "Propagation": m.propagation or "rprivate"})
            elif m.type == "tmpfs":
                opts = []
                if m.tmpfs_size:
                    opts.append(f"size={m.tmpfs_size}")
                if m.tmpfs_mode is not None:
                    opts.append(f"mode={m.tmpfs_mode:o}")
                records.append({"Type": "tmpfs", "Source": "", "Destination": dest, "Mode": "",
                                "RW": not m.read_only, "Propagation": "", "Options": opts})
            else:
                name = m.source or secrets.token_hex(32)
                if self._ensure_volume(name, undo, anonymous=not m.source):
                    if not m.source:
                        anonymous.append(name)
                records.append({"Type": "volume", "Name": name, "Source": "", "Destination": dest,
                                "Driver": "local", "Mode": "z" if not m.read_only else "ro", "RW": not m.read_only,
                                "Propagation": "", "NoCopy": m.no_copy})
        for path in sorted(image_cfg.get("Volumes") or {}):
            dest = path.rstrip("/") or "/"
            if dest in taken or any(r["Destination"] == dest for r in records):
                continue
            name = secrets.token_hex(32)
            self._ensure_volume(name, undo, anonymous=True)
            anonymous.append(name)
            records.append({"Type": "volume", "Name": name, "Source": "", "Destination": dest,
                            "Driver": "local", "Mode": "", "RW": True, "Propagation": ""})
        return records, anonymous

    def _volumes_from(self, ref: str, taken: set[str]) -> list[dict[str, Any]]:
        name, _, mode = ref.partition(":")
        if mode not in ("", "ro", "rw"):
            raise InvalidSpec(f"invalid mode for volumes-from: {ref}", field="volumes_from", value=ref)
        other = self.engine.containers.get(name)
        out = []
        for r in other.mounts:
            if r["Type"] == "tmpfs" or r["Destination"] in taken:
                continue
            r = dict(r)
            if mode:
                r["RW"] = mode == "rw"
                r["Mode"] = mode
            out.append(r)
        return out

    def _ensure_volume(self, name: str, undo: list[Callable[[], Any]], anonymous: bool = False) -> bool:
        """Create the volume when missing (Docker creates named volumes on first use); True
        when this call created it."""
        vols = self.engine.volumes
        if vols.exists(name):
            return False
        vols.create(name, "local", {}, {}, anonymous=anonymous)
        undo.append(lambda: vols.remove(name, force=True))
        return True

    # --- at start -------------------------------------------------------------------------
    def prepare_start(self, rec: ContainerRecord, rootfs: str) -> ContainerRecord:
        """Mount volumes that need it, fill Source, and copy the image's content into a new,
        empty volume on its first use (Docker's copy-up; not with nocopy)."""
        if not any(r["Type"] == "volume" for r in rec.mounts):
            return rec
        vols = self.engine.volumes
        out = []
        for r in rec.mounts:
            if r["Type"] == "volume":
                r = dict(r)
                m = vols.mount(r["Name"], user=rec.id, target=r["Destination"])
                r["Source"] = m.source
                if r.get("NoCopy"):
                    vols.mark_used(r["Name"])
                else:
                    src = fsutil.resolve_in_root(rootfs, r["Destination"])
                    vols.populate_if_empty(r["Name"], src)
            out.append(r)
        return rec.replace(mounts=tuple(out))

    def release(self, rec: ContainerRecord) -> None:
        """The container stopped: volumes mounted for it are released (the last user unmounts)."""
        for r in rec.mounts:
            if r["Type"] == "volume":
                with contextlib.suppress(NotFound, OSError, InvalidSpec):
                    self.engine.volumes.release(r["Name"], rec.id)

    def runtime_mounts(self, rec: ContainerRecord) -> list[Mount]:
        out = []
        for r in rec.mounts:
            ro = () if r.get("RW", True) else ("ro",)
            if r["Type"] == "tmpfs":
                out.append(Mount("tmpfs", "tmpfs", r["Destination"],
                                 ("nosuid", "nodev", "noexec", *r.get("Options", ()), *ro)))
            elif r["Type"] == "bind":
                prop = r.get("Propagation") or "rprivate"
                out.append(Mount("bind", r["Source"], r["Destination"], ("rbind", *ro, prop)))
            else:
                m = self.engine.volumes.mount(r["Name"], user=rec.id, target=r["Destination"])
                opts = tuple(o for o in m.options if o not in ("ro", "rw"))
                if m.type == "bind" and not any(o in ("bind", "rbind") for o in opts):
                    opts = ("rbind", *opts)
                out.append(Mount(m.type, m.source, r["Destination"], (*opts, *ro)))
        return out

    def remove_anonymous(self, rec: ContainerRecord) -> None:
        in_use = set()
        for other in self.engine.containers.store.all():
            if other.id != rec.id:
                in_use.update(r.get("Name") for r in other.mounts if r["Type"] == "volume")
        for name in rec.anonymous_volumes:
            if name in in_use:
                continue
            with contextlib.suppress(NotFound):
                self.engine.volumes.remove(name, force=True)

