"""How images look from outside: ``docker image inspect`` and ``docker history`` shapes."""
from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from ..errors import InvalidSpec
from . import oci

if TYPE_CHECKING:  # pragma: no cover
    from .images import ImageRecord

# The container config docker prints for an image, every field present.
_CONFIG_DEFAULTS: dict[str, Any] = {
    "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": False,
    "AttachStderr": False, "Tty": False, "OpenStdin": False, "StdinOnce": False, "Env": None,
    "Cmd": None, "Image": "", "Volumes": None, "WorkingDir": "", "Entrypoint": None,
    "OnBuild": None, "Labels": None,
}


def _familiar(ref: str) -> str:
    from .images import familiar
    return familiar(ref)


def inspect_image(rec: ImageRecord, graph_driver: dict[str, Any]) -> dict[str, Any]:
    cfg = rec.config
    container_config = dict(_CONFIG_DEFAULTS)
    container_config.update(cfg.get("config") or {})
    out: dict[str, Any] = {
        "Id": rec.id,
        "RepoTags": [_familiar(t) for t in rec.repo_tags],
        "RepoDigests": [_familiar(d) for d in rec.repo_digests],
        "Parent": rec.parent,
        "Comment": cfg.get("comment", ""),
        "Created": cfg.get("created") or "0001-01-01T00:00:00Z",
        "DockerVersion": cfg.get("docker_version", ""),
        "Author": cfg.get("author", ""),
        "Config": container_config,
        "Architecture": cfg.get("architecture", ""),
    }
    if cfg.get("variant"):
        out["Variant"] = cfg["variant"]
    out.update({
        "Os": cfg.get("os", ""),
        "Size": rec.size,
        "GraphDriver": graph_driver,
        "RootFS": {"Type": "layers", "Layers": list(rec.diff_ids)} if rec.diff_ids else {"Type": "layers"},
        "Metadata": {"LastTagTime": oci.rfc3339(rec.last_tag_time) if rec.last_tag_time
                     else "0001-01-01T00:00:00Z"},
    })
    return out


def history(rec: ImageRecord, layer_sizes: list[int]) -> list[dict[str, Any]]:
    """Newest first, as the Engine API returns it: Id (or <missing>), Created, CreatedBy, Tags,
    Size, Comment."""
    entries = list(rec.config.get("history") or [])
    if not entries:
        entries = [{"created": rec.config.get("created", "")} for _ in layer_sizes] or \
            [{"created": rec.config.get("created", ""), "empty_layer": True}]
    out = []
    i = 0
    for h in entries:
        size = 0
        if not h.get("empty_layer"):
            size = layer_sizes[i] if i < len(layer_sizes) else 0
            i += 1
        out.append({"Id": "<missing>", "Created": int(oci.parse_time(h.get("created"))),
                    "CreatedBy": h.get("created_by", ""), "Tags": None, "Size": size,
                    "Comment": h.get("comment", "")})
    out.reverse()
    out[0]["Id"] = rec.id
    out[0]["Tags"] = [_familiar(t) for t in rec.repo_tags] or None
    return out


_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def until_epoch(value: str, now: float | None = None) -> float:
    """A prune ``until`` filter: a Go duration before now, a Unix time, or an RFC 3339 time."""
    now = time.time() if now is None else now
    v = value.strip()
    parts = list(_DURATION_RE.finditer(v))
    if parts and "".join(m.group(0) for m in parts) == v:
        return now - sum(float(m.group(1)) * _UNITS[m.group(2)] for m in parts)
    try:
        return float(v)
    except ValueError:
        pass
    t = oci.parse_time(v if "T" in v else v + "T00:00:00Z")
    if t == 0.0:
        raise InvalidSpec(f"invalid value for filter 'until': {value!r}", field="until", value=value)
    return t
