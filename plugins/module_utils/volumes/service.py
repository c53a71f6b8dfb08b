"""VolumeService: Docker's ``local`` volume driver.

A volume is a folder, ``root/volumes/<name>/_data``, that containers bind-mount. With driver
options it is a mount instead (tmpfs, a bind of a host folder with ``o=bind``, or a device
with a filesystem type), made on ``_data`` in the host's namespace when a container first
needs it and undone when the last user lets go (``release``) or the volume is removed; a
tmpfs volume is therefore empty at each first use. Who uses a mounted volume is kept in
``run/volumes/<name>.json``; that state dies with a reboot, as the mounts do.
"""
from __future__ import annotations

import builtins
import contextlib
import ctypes
import dataclasses
import errno
import os
import secrets
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import fsutil
from ..errors import Conflict, InvalidSpec, NotFound, RuntimeFailure
from ..paths import Paths
from ..types import Change, Mount
from . import model
from .copyup import copy_tree
from .model import ANONYMOUS_LABEL, VolumeRecord, VolumeSpec, check_name

_libc = ctypes.CDLL(None, use_errno=True)
MNT_DETACH = 2
RECREATE = ("never", "options-changed", "always")
FILTER_KEYS = ("dangling", "driver", "label", "name")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _is_mountpoint(path: Path) -> bool:
    # A bind of a folder of the same filesystem keeps the device number: ask mountinfo.
    want = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo", "rb") as f:
            for line in f:
                point = line.split(b" ", 5)[4].decode("utf-8", "surrogateescape")
                if "\\" in point:
                    point = point.encode().decode("unicode_escape")
                if point == want:
                    return True
    except OSError:
        pass
    return False


def _users_of(in_use: Mapping[str, Sequence[str]] | Collection[str] | None, name: str) -> list[str]:
    """``in_use``: volume name -> container ids (or just the names in use)."""
    if not in_use:
        return []
    if isinstance(in_use, Mapping):
        return list(in_use.get(name) or [])
    return ["(a container)"] if name in in_use else []


class VolumeService:
    def __init__(self, paths: Paths) -> None:
        self.paths = paths

    # --- paths and records --------------------------------------------------------------
    def dir(self, name: str) -> Path:
        return self.paths.volumes / check_name(name)

    def data_dir(self, name: str) -> Path:
        return self.dir(name) / "_data"

    def _lock(self, name: str) -> Any:
        return fsutil.locked(self.paths.lock(f"volume-{check_name(name)}"))

    def _read(self, name: str) -> VolumeRecord:
        data = fsutil.read_json(self.dir(name) / "volume.json", default=None)
        if data is None:
            raise NotFound(f"get {name}: no such volume", volume=name)
        return VolumeRecord.from_dict(data)

    def _write(self, rec: VolumeRecord) -> None:
        fsutil.write_json(self.dir(rec.name) / "volume.json", rec.to_dict())

    def exists(self, name: str) -> bool:
        return (self.dir(name) / "volume.json").exists()

    def names(self) -> list[str]:
        try:
            entries = sorted(os.listdir(self.paths.volumes))
        except FileNotFoundError:
            return []
        return [n for n in entries if (self.paths.volumes / n / "volume.json").exists()]

    def record(self, name: str) -> VolumeRecord:
        return self._read(name)

    def inspect(self, name: str) -> dict[str, Any]:
        return self._read(name).inspect(str(self.data_dir(name)))

    # --- create and remove ----------------------------------------------------------------
    def create(self, name: str | None = None, driver: str = "local", opts: Mapping[str, str] | None = None,
               labels: Mapping[str, str] | None = None, anonymous: bool = False) -> dict[str, Any]:
        """Create a volume (a 64-hex name when none is given). Creating an existing volume with
        the same settings returns it, as Docker does; other settings are a conflict."""
        labels = dict(labels or {})
        if anonymous:
            labels.setdefault(ANONYMOUS_LABEL, "")
        spec = VolumeSpec(driver or "local", dict(opts or {}), labels)
        return self._create(name or secrets.token_hex(32), spec, anonymous)

    def _create(self, name: str, spec: VolumeSpec, anonymous: bool = False) -> dict[str, Any]:
        check_name(name)
        with self._lock(name):
            if self.exists(name):
                rec = self._read(name)
                if rec.spec != spec:
                    raise Conflict(f"volume {name} already exists with other options or labels "
                                   "(driver_options, labels)", volume=name)
                return rec.inspect(str(self.data_dir(name)))
            rec = VolumeRecord(name, _now(), spec, anonymous, mountpoint=str(self.data_dir(name)))
            staging = Path(fsutil.ensure_dir(self.paths.tmp)) / f"vol-{secrets.token_hex(8)}"
            try:
                (staging / "_data").mkdir(parents=True, mode=0o755)
                os.chmod(staging, 0o701)
                fsutil.write_json(staging / "volume.json", rec.to_dict())
                fsutil.ensure_dir(self.paths.volumes, 0o701)
                # The folder appears whole or not at all.
                os.rename(staging, self.dir(name))
                fsutil.fsync_dir(self.paths.volumes)
            except BaseException:
                fsutil.remove_tree(staging)
                raise
            return rec.inspect(str(self.data_dir(name)))

    def remove(self, name: str, force: bool = False,
               in_use: Mapping[str, Sequence[str]] | Collection[str] | None = None) -> None:
        """Remove a volume and its data; refused while a container uses it. ``force`` only
        makes a missing volume no error, as ``docker volume rm -f``."""
        check_name(name)
        users = _users_of(in_use, name)
        with self._lock(name):
            if not self.exists(name):
                if force:
                    return
                raise NotFound(f"get {name}: no such volume", volume=name)
            if users:
                raise Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]", volume=name,
                               containers=users)
            self._unmount(name)
            if self.is_mounted(name):
                # Deleting through a mount would delete the host folder or device it shows.
                raise RuntimeFailure(f"remove {name}: the volume is still mounted on {self.data_dir(name)}",
                                     volume=name)
            fsutil.discard_into(self.paths.tmp, self.dir(name))
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._users_path(name))

    def list(self, filters: Mapping[str, Sequence[str]] | None = None,
             in_use: Collection[str] = ()) -> list[dict[str, Any]]:
        filters = filters or {}
        for key in filters:
            if key not in FILTER_KEYS:
                raise InvalidSpec(f"invalid filter {key!r}", field="filter", value=key)
        out = []
        for name in self.names():
            try:
                data = self.inspect(name)
            except NotFound:
                continue  # removed meanwhile
            if _matches(data, filters, set(in_use)):
                out.append(data)
        return out

    def prune(self, in_use: Collection[str] = (), all: bool = False,
              filters: Mapping[str, Sequence[str]] | None = None) -> dict[str, Any]:
        """Remove unused anonymous volumes, or every unused volume with ``all`` (Docker 23+)."""
        used = set(in_use)
        deleted = []
        reclaimed = 0
        for data in self.list(filters):
            name = data["Name"]
            if name in used:
                continue
            if not all and ANONYMOUS_LABEL not in data["Labels"]:
                continue
            size = self.size(name)
            with contextlib.suppress(NotFound, Conflict):
                self.remove(name, in_use=used)
                deleted.append(name)
                reclaimed += size
        return {"VolumesDeleted": deleted, "SpaceReclaimed": reclaimed}

    def size(self, name: str) -> int:
        total = 0
        seen: set[tuple[int, int]] = set()
        for root, dirs, files in os.walk(self.data_dir(name)):
            for f in files + dirs:
                with contextlib.suppress(OSError):
                    st = os.lstat(os.path.join(root, f))
                    if (st.st_dev, st.st_ino) not in seen:
                        seen.add((st.st_dev, st.st_ino))
                        total += st.st_blocks * 512
        return total

    # --- ensure (the module) -------------------------------------------------------------------
    def ensure(self, name: str, spec: VolumeSpec | None, apply: bool = True, recreate: str = "never",
               in_use: Mapping[str, Sequence[str]] | Collection[str] | None = None) -> Change:
        check_name(name)
        if recreate not in RECREATE:
            raise InvalidSpec(f"invalid recreate {recreate!r}: expected one of {', '.join(RECREATE)}",
                              field="recreate", value=recreate)
        before = self.inspect(name) if self.exists(name) else None
        if spec is None:
            if before is None:
                return Change.none(None)
            if apply:
                self.remove(name, in_use=in_use)
            elif users := _users_of(in_use, name):
                raise Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]", volume=name)
            return Change(True, before, None, (f"remove volume {name}",))
        if before is not None:
            current = self._read(name).spec
            differs = current != spec
            if recreate == "never" or (recreate == "options-changed" and not differs):
                return Change.none(before)
            users = _users_of(in_use, name)
            if users:
                raise Conflict(f"volume {name} must be re-created but is in use - [{', '.join(users)}]",
                               volume=name, containers=users)
            actions = (f"remove volume {name}", f"create volume {name}")
            if not apply:
                return Change(True, before, self._preview(name, spec), actions)
            self.remove(name)
            return Change(True, before, self._create(name, spec), actions)
        if not apply:
            return Change(True, None, self._preview(name, spec), (f"create volume {name}",))
        return Change(True, None, self._create(name, spec), (f"create volume {name}",))

    def _preview(self, name: str, spec: VolumeSpec) -> dict[str, Any]:
        return VolumeRecord(name, _now(), spec).inspect(str(self.data_dir(name)))

    # --- use by containers -------------------------------------------------------------
    def mount(self, name: str, user: str | None = None, target: str = "") -> Mount:
        """The bind mount a container needs for this volume; a volume with driver options is
        mounted first. ``user`` (a container id) is counted until ``release``."""
        rec = self._read(name)
        data = self.data_dir(name)
        if rec.spec.mounted:
            with self._lock(name):
                self._mount_locked(rec)
                if user:
                    users = self._users(name)
                    if user not in users:
                        self._save_users(name, [*users, user])
        return Mount("bind", str(data), target, ("rbind",))

    def release(self, name: str, user: str) -> None:
        """The container ``user`` no longer needs the volume; the last one out unmounts it."""
        if not self.exists(name):
            return
        rec = self._read(name)
        if not rec.spec.mounted:
            return
        with self._lock(name):
            users = [u for u in self._users(name) if u != user]
            self._save_users(name, users)
            if not users:
                self._unmount(name)

    unmount = release

    def populate_if_empty(self, name: str, source_dir: str | os.PathLike[str]) -> bool:
        """Docker's copy-up: the first time a container uses a new volume, an empty volume is
        filled with the image's content at the mount point (``source_dir``, already resolved
        inside the rootfs). True when something was copied."""
        rec = self._read(name)
        with self._lock(name):
            rec = self._read(name)
            if rec.used:
                return False
            if rec.spec.mounted:
                self._mount_locked(rec)
            data = self.data_dir(name)
            copied = False
            src = os.fspath(source_dir)
            if os.path.isdir(src) and not os.path.islink(src) and not os.listdir(data):
                copy_tree(src, str(data))
                copied = True
            self._write(dataclasses.replace(rec, used=True))
            return copied

    def mark_used(self, name: str) -> None:
        """For a mount with nocopy: the volume has had its first user, copy-up no longer applies."""
        with self._lock(name):
            rec = self._read(name)
            if not rec.used:
                self._write(dataclasses.replace(rec, used=True))

    # --- kernel mounts -----------------------------------------------------------------
    def _users_path(self, name: str) -> Path:
        return self.paths.run_volumes / f"{check_name(name)}.json"

    def _users(self, name: str) -> builtins.list[str]:
        return list(fsutil.read_json(self._users_path(name), default={}).get("users", []))

    def _save_users(self, name: str, users: builtins.list[str]) -> None:
        fsutil.write_json(self._users_path(name), {"users": users}, durable=False)

    def is_mounted(self, name: str) -> bool:
        return _is_mountpoint(self.data_dir(name))

    def _mount_locked(self, rec: VolumeRecord) -> None:
        data = self.data_dir(rec.name)
        if _is_mountpoint(data):
            return
        opts = rec.spec.options
        kind = opts["type"]
        flags, words = model.parse_o(opts.get("o", ""))
        device = opts.get("device") or kind
        if kind == "tmpfs":
            device = "tmpfs"
        if flags & model.MS_BIND:
            if not os.path.isdir(device):
                raise InvalidSpec(f"error while mounting volume {rec.name}: bind source {device} is not a "
                                  "folder (driver_options device)", field="driver_options", value=device)
            self._sys_mount(rec.name, device, data, None, flags & (model.MS_BIND | model.MS_REC), None)
            rest = flags & ~(model.MS_BIND | model.MS_REC)
            if rest:
                # A bind ignores other flags until remounted with them.
                self._sys_mount(rec.name, "none", data, None, rest | model.MS_BIND | model.MS_REMOUNT, None)
            return
        self._sys_mount(rec.name, device, data, None if kind == "none" else kind, flags,
                        ",".join(words) or None)

    def _sys_mount(self, name: str, source: str, target: Path, fstype: str | None, flags: int,
                   data: str | None) -> None:
        ret = _libc.mount(source.encode(), os.fsencode(target), fstype.encode() if fstype else None,
                          ctypes.c_ulong(flags), data.encode() if data else None)
        if ret != 0:
            err = ctypes.get_errno()
            if err in (errno.EINVAL, errno.ENOENT, errno.ENODEV, errno.ENOTBLK):
                raise InvalidSpec(f"error while mounting volume {name}: {os.strerror(err)} (driver_options "
                                  f"type={fstype or 'none'} device={source} o={data or ''})",
                                  field="driver_options", value=source)
            raise RuntimeFailure(f"error while mounting volume {name}: {os.strerror(err)}", volume=name)

    def _unmount(self, name: str) -> None:
        data = self.data_dir(name)
        for _ in range(16):  # mounted several times over by concurrent first uses
            if not _is_mountpoint(data):
                return
            if _libc.umount2(os.fsencode(data), MNT_DETACH) != 0:
                err = ctypes.get_errno()
                if err in (errno.EINVAL, errno.ENOENT):
                    return
                raise RuntimeFailure(f"cannot unmount volume {name}: {os.strerror(err)}", volume=name)


def _matches(data: Mapping[str, Any], filters: Mapping[str, Sequence[str]], in_use: set[str]) -> bool:
    for key, values in filters.items():
        if not values:
            continue
        if key == "name" and not any(v in data["Name"] for v in values):
            return False
        if key == "driver" and data["Driver"] not in values:
            return False
        if key == "label":
            labels = data.get("Labels") or {}
            for v in values:
                k, sep, val = v.partition("=")
                if k not in labels or (sep and labels[k] != val):
                    return False
        if key == "dangling":
            v = values[-1].lower()
            if v not in ("true", "false", "1", "0"):
                raise InvalidSpec(f"invalid filter 'dangling={values[-1]}'", field="filter", value=values[-1])
            if (data["Name"] not in in_use) != (v in ("true", "1")):
                return False
    return True


def in_use_map(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """(volume name, container id) pairs -> the ``in_use`` mapping ``remove`` takes."""
    out: dict[str, list[str]] = {}
    for vol, cid in pairs:
        out.setdefault(vol, []).append(cid)
    return out
