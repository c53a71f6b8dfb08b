"""OCI and Docker image manifests and configs: media types, parsing with limits, building.

Pure functions over bytes and dicts; the image store, archives and the builder share them.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from typing import TYPE_CHECKING, Any

from ..errors import InvalidSpec, LimitExceeded
from ..types import check_digest

if TYPE_CHECKING:  # pragma: no cover
    from .tarstream import Limits


def _default_limits() -> Limits:
    # tarstream (and datetime below) are imported on use: `berth run` loads this module
    # for the image's config only.
    from .tarstream import DEFAULT_LIMITS
    return DEFAULT_LIMITS

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
LAYER_BY_COMPRESSION = {"none": OCI_LAYER, "gzip": OCI_LAYER_GZIP, "zstd": OCI_LAYER_ZSTD}


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def canonical(obj: Any) -> bytes:
    """Compact JSON as Go's encoding/json writes it: UTF-8, and <, >, & escaped."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    for ch, esc in _GO_ESCAPES.items():
        text = text.replace(ch, esc)
    return text.encode()


# Field order of the OCI image-spec Go structs: tools that re-encode a config (skopeo converting
# to OCI) then produce the same bytes, so the image id survives them.
_IMAGE_KEYS = ("created", "author", "architecture", "os", "os.version", "os.features", "variant",
               "config", "rootfs", "history")
_CONFIG_KEYS = ("User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir", "Labels",
                "StopSignal", "ArgsEscaped")
_HISTORY_KEYS = ("created", "created_by", "author", "comment", "empty_layer")
_MAP_KEYS = ("ExposedPorts", "Volumes", "Labels")


def _ordered(d: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    out = {k: d[k] for k in keys if k in d}
    out.update((k, d[k]) for k in sorted(d) if k not in out)
    return out


def config_bytes(config: dict[str, Any]) -> bytes:
    """An image config as bytes, in the OCI structs' field order (see above)."""
    c = dict(config)
    cc = dict(c.get("config") or {})
    for k in _MAP_KEYS:
        if isinstance(cc.get(k), dict):
            cc[k] = dict(sorted(cc[k].items()))
    c["config"] = _ordered(cc, _CONFIG_KEYS)
    if isinstance(c.get("rootfs"), dict):
        c["rootfs"] = _ordered(c["rootfs"], ("type", "diff_ids"))
    if isinstance(c.get("history"), list):
        c["history"] = [_ordered(h, _HISTORY_KEYS) for h in c["history"]]
    return canonical(_ordered(c, _IMAGE_KEYS))


def load_json(data: bytes, what: str, limit: int) -> Any:
    if len(data) > limit:
        raise LimitExceeded(f"{what} is {len(data)} bytes, more than the limit of {limit}",
                            limit=what, value=limit)
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidSpec(f"{what} is not valid JSON: {exc}", field=what) from exc


def parse_manifest(data: bytes, limits: Limits | None = None) -> dict[str, Any]:
    """An image manifest (OCI or Docker schema 2), checked: config and layers with digests."""
    limits = limits or _default_limits()
    m = load_json(data, "manifest", limits.max_manifest)
    if not isinstance(m, dict):
        raise InvalidSpec("manifest is not a JSON object", field="manifest")
    mt = m.get("mediaType") or (OCI_MANIFEST if "config" in m else "")
    if mt in INDEX_TYPES or "manifests" in m:
        raise InvalidSpec("expected an image manifest, got an index (manifest list)", field="manifest")
    if mt not in MANIFEST_TYPES:
        raise InvalidSpec(f"unsupported manifest media type {mt!r}", field="mediaType", value=mt)
    if m.get("schemaVersion") != 2:
        raise InvalidSpec(f"unsupported manifest schemaVersion {m.get('schemaVersion')!r}",
                          field="schemaVersion")
    cfg = m.get("config")
    if not isinstance(cfg, dict):
        raise InvalidSpec("manifest has no config descriptor", field="config")
    check_digest(cfg.get("digest"), "config.digest")
    layers = m.get("layers")
    if not isinstance(layers, list):
        raise InvalidSpec("manifest has no layers list", field="layers")
    for i, layer in enumerate(layers):
        if not isinstance(layer, dict):
            raise InvalidSpec(f"manifest layer {i} is not an object", field="layers")
        check_digest(layer.get("digest"), f"layers[{i}].digest")
        if not isinstance(layer.get("size"), int) or layer["size"] < 0:
            raise InvalidSpec(f"manifest layer {i} has an invalid size", field=f"layers[{i}].size")
    m["mediaType"] = mt
    return m


def parse_config(data: bytes, limits: Limits | None = None) -> dict[str, Any]:
    limits = limits or _default_limits()
    c = load_json(data, "image config", limits.max_config)
    if not isinstance(c, dict):
        raise InvalidSpec("image config is not a JSON object", field="config")
    rootfs = c.get("rootfs") or {}
    diff_ids = rootfs.get("diff_ids") or []
    if not isinstance(diff_ids, list):
        raise InvalidSpec("image config rootfs.diff_ids is not a list", field="rootfs.diff_ids")
    for i, d in enumerate(diff_ids):
        check_digest(d, f"rootfs.diff_ids[{i}]")
    return c


def build_manifest(config_bytes: bytes, layers: list[dict[str, Any]],
                   annotations: dict[str, str] | None = None) -> bytes:
    m: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": digest_of(config_bytes), "size": len(config_bytes)},
        "layers": [{"mediaType": layer["media_type"], "digest": layer["digest"], "size": layer["size"]}
                   for layer in layers],
    }
    if annotations:
        m["annotations"] = annotations
    return canonical(m)


def host_platform() -> tuple[str, str, str]:
    machine = os.uname().machine.lower()  # platform.machine() without importing platform (2 ms)
    arch = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "ppc64le": "ppc64le",
            "s390x": "s390x", "riscv64": "riscv64"}.get(machine, machine)
    variant = "v8" if arch == "arm64" else ("v7" if arch == "arm" else "")
    return "linux", arch, variant


def rfc3339(epoch: float | None = None) -> str:
    """Times as images carry them: UTC, 'Z', nanoseconds trimmed of trailing zeros as Go prints."""
    if epoch is None:
        epoch = time.time()
    from datetime import UTC, datetime
    dt = datetime.fromtimestamp(int(epoch), tz=UTC)
    frac = f"{round((epoch - int(epoch)) * 1e9):09d}".rstrip("0")
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"


def parse_time(value: str | None) -> float:
    """RFC 3339 (with nanoseconds) to epoch seconds; 0 when absent or unparsable."""
    if not value or not isinstance(value, str):
        return 0.0
    s = value.strip()
    try:
        main, _, rest = s.partition(".")
        frac = 0.0
        tz = ""
        if rest:
            digits = ""
            for i, ch in enumerate(rest):
                if not ch.isdigit():
                    tz = rest[i:]
                    break
                digits += ch
            frac = float("0." + digits) if digits else 0.0
        else:
            for sep in ("Z", "+", "-"):
                idx = main.find(sep, 19)
                if idx != -1:
                    main, tz = main[:idx], main[idx:]
                    break
        if tz in ("Z", "z", ""):
            tz = "+00:00"
        from datetime import datetime
        dt = datetime.fromisoformat(main + tz)
        return dt.timestamp() + frac
    except ValueError:
        return 0.0
