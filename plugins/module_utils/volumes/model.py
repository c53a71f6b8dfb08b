"""Volumes on disk: the desired spec and the record, with the ``local`` driver's options; pure.

``root/volumes/<name>/volume.json`` holds a ``VolumeRecord`` in Docker's inspect shape; the
data is ``_data`` beside it. Driver, Options and Labels are the ``VolumeSpec`` that created
the volume: ``ensure`` compares against it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidSpec

ANONYMOUS_LABEL = "com.docker.volume.anonymous"
DRIVERS = ("local",)
OPTION_KEYS = ("type", "device", "o")
_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")

# mount(8) words that are flags for mount(2); every other word of ``o`` is filesystem data.
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_SYNCHRONOUS = 1, 2, 4, 8, 16
MS_REMOUNT, MS_MANDLOCK, MS_DIRSYNC, MS_NOATIME, MS_NODIRATIME = 32, 64, 128, 1024, 2048
MS_BIND, MS_REC, MS_RELATIME, MS_STRICTATIME = 4096, 16384, 1 << 21, 1 << 24
FLAGS: dict[str, tuple[bool, int]] = {
    "ro": (True, MS_RDONLY), "rw": (False, MS_RDONLY),
    "nosuid": (True, MS_NOSUID), "suid": (False, MS_NOSUID),
    "nodev": (True, MS_NODEV), "dev": (False, MS_NODEV),
    "noexec": (True, MS_NOEXEC), "exec": (False, MS_NOEXEC),
    "sync": (True, MS_SYNCHRONOUS), "async": (False, MS_SYNCHRONOUS),
    "dirsync": (True, MS_DIRSYNC), "mand": (True, MS_MANDLOCK), "nomand": (False, MS_MANDLOCK),
    "noatime": (True, MS_NOATIME), "atime": (False, MS_NOATIME),
    "nodiratime": (True, MS_NODIRATIME), "diratime": (False, MS_NODIRATIME),
    "relatime": (True, MS_RELATIME), "norelatime": (False, MS_RELATIME),
    "strictatime": (True, MS_STRICTATIME),
    "bind": (True, MS_BIND), "rbind": (True, MS_BIND | MS_REC),
    "defaults": (False, 0),
}


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name) or len(name) > 255:
        raise InvalidSpec(f"invalid volume name {name!r}: use 2 or more letters, digits, '_', '.' or '-', "
                          "starting with a letter or digit", field="name", value=name)
    return name


def parse_o(value: str) -> tuple[int, list[str]]:
    """``o`` of the local driver -> (mount flags, filesystem data words)."""
    flags = 0
    data = []
    for word in (w.strip() for w in value.split(",")):
        if not word:
            continue
        if word in FLAGS:
            on, bit = FLAGS[word]
            flags = flags | bit if on else flags & ~bit
        else:
            data.append(word)
    return flags, data


def _str_map(value: Any, field_name: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidSpec(f"invalid {field_name}: expected a mapping, got {value!r}", field=field_name,
                          value=value)
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


@dataclass(frozen=True)
class VolumeSpec:
    driver: str = "local"
    options: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.driver not in DRIVERS:
            raise InvalidSpec(f"invalid driver {self.driver!r}: berth has the 'local' volume driver only",
                              field="driver", value=self.driver)
        opts = _str_map(self.options, "driver_options")
        object.__setattr__(self, "options", opts)
        object.__setattr__(self, "labels", _str_map(self.labels, "labels"))
        for key in opts:
            if key not in OPTION_KEYS:
                raise InvalidSpec(f"invalid option key: {key!r} (driver_options): the local driver takes "
                                  "type, device and o", field="driver_options", value=key)
        kind, device, o = opts.get("type"), opts.get("device"), opts.get("o", "")
        flags, _data = parse_o(o)
        if (device or o) and not kind:
            raise InvalidSpec("missing required option: type (driver_options): device and o need a type "
                              "('none' for a bind, 'tmpfs', or a filesystem)", field="driver_options",
                              value=opts)
        if kind and kind != "tmpfs" and not device:
            raise InvalidSpec(f"missing required option: device (driver_options) for type {kind!r}",
                              field="driver_options", value=opts)
        if flags & MS_BIND and not (device or "").startswith("/"):
            raise InvalidSpec(f"invalid device {device!r} (driver_options): a bind needs an absolute host path",
                              field="driver_options", value=device)

    @property
    def mounted(self) -> bool:
        """True when the volume is a mount (tmpfs, bind, device) rather than a plain folder."""
        return bool(self.options.get("type"))

    def to_dict(self) -> dict[str, Any]:
        return {"driver": self.driver, "options": dict(self.options), "labels": dict(self.labels)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VolumeSpec:
        return cls(d.get("driver") or "local", d.get("options") or {}, d.get("labels") or {})

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> VolumeSpec:
        """From the volume module's parameters (community.docker's names)."""
        return cls(params.get("driver") or "local", params.get("driver_options") or {},
                   params.get("labels") or {})


@dataclass(frozen=True)
class VolumeRecord:
    """volume.json: Docker's inspect shape, plus what berth needs (Anonymous, Used)."""

    name: str
    created: str
    spec: VolumeSpec
    anonymous: bool = False
    used: bool = False          # a container has had it: no more copy of image content
    mountpoint: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {**self.inspect(self.mountpoint), "Anonymous": self.anonymous, "Used": self.used}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VolumeRecord:
        spec = VolumeSpec(d.get("Driver") or "local", d.get("Options") or {}, d.get("Labels") or {})
        return cls(d["Name"], d["CreatedAt"], spec, bool(d.get("Anonymous")), bool(d.get("Used")),
                   d.get("Mountpoint") or "")

    def inspect(self, mountpoint: str) -> dict[str, Any]:
        """``docker volume inspect`` of this volume."""
        return {"CreatedAt": self.created, "Driver": self.spec.driver, "Labels": dict(self.spec.labels),
                "Mountpoint": mountpoint, "Name": self.name, "Options": dict(self.spec.options),
                "Scope": "local"}
