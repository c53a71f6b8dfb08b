"""Manifests and indexes as registries serve them: media types, validation, platform choice.

Everything here is pure. A registry is not trusted, so every digest and size read from a
manifest is checked before the rest of the engine builds a path or a URL from it.
"""
from __future__ import annotations

import json
import platform as _platform
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidSpec, LimitExceeded, RegistryError
from ..types import check_digest

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
DOCKER_V1 = "application/vnd.docker.distribution.manifest.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"

MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
ACCEPT = ", ".join((OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST))

MAX_MANIFEST = 4 << 20
MAX_CONFIG = 8 << 20
MAX_LAYERS = 1000
MAX_INDEX_ENTRIES = 1000


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    urls: tuple[str, ...] = ()
    platform: dict[str, Any] | None = None
    annotations: dict[str, str] | None = None

    @classmethod
    def from_dict(cls, d: Any, where: str) -> Descriptor:
        if not isinstance(d, dict):
            raise RegistryError(f"{where}: a descriptor must be an object")
        digest = str(d.get("digest"))
        try:
            check_digest(digest, f"{where}.digest")
        except InvalidSpec as exc:
            raise RegistryError(f"{where}: {exc}", field=f"{where}.digest", value=digest) from exc
        size = d.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise RegistryError(f"{where}: invalid size {size!r}", field=f"{where}.size", value=size)
        urls = d.get("urls") or []
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise RegistryError(f"{where}: urls must be a list of strings", field=f"{where}.urls")
        plat = d.get("platform")
        return cls(str(d.get("mediaType") or ""), digest, size, tuple(urls),
                   plat if isinstance(plat, dict) else None,
                   d.get("annotations") if isinstance(d.get("annotations"), dict) else None)

    @property
    def foreign(self) -> bool:
        return "foreign" in self.media_type or "nondistributable" in self.media_type

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.urls:
            d["urls"] = list(self.urls)
        if self.platform:
            d["platform"] = self.platform
        return d


@dataclass(frozen=True)
class Manifest:
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]


@dataclass(frozen=True)
class Index:
    media_type: str
    manifests: tuple[Descriptor, ...]


def _load(data: bytes, what: str) -> dict[str, Any]:
    if len(data) > MAX_MANIFEST:
        raise LimitExceeded(f"{what} is {len(data)} bytes, more than the {MAX_MANIFEST} allowed", size=len(data))
    try:
        obj = json.loads(data)
    except ValueError as exc:
        raise RegistryError(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise RegistryError(f"{what} must be a JSON object")
    return obj


def media_type_of(data: bytes, header_type: str | None) -> str:
    """The manifest's own mediaType wins; then the Content-Type; then the shape of the JSON."""
    obj = _load(data, "manifest")
    mt = obj.get("mediaType")
    if isinstance(mt, str) and mt:
        return mt
    ht = (header_type or "").split(";", 1)[0].strip()
    if ht in MANIFEST_TYPES + INDEX_TYPES:
        return ht
    if "manifests" in obj:
        return OCI_INDEX
    if "layers" in obj or "config" in obj:
        return OCI_MANIFEST
    if obj.get("schemaVersion") == 1:
        return DOCKER_V1_SIGNED
    return ht


def parse_manifest(data: bytes, media_type: str) -> Manifest:
    obj = _load(data, "manifest")
    if media_type in (DOCKER_V1, DOCKER_V1_SIGNED) or obj.get("schemaVersion") == 1:
        raise RegistryError("Docker image manifest schema 1 is deprecated and not supported; "
                            "push the image again with a current client", media_type=media_type)
    if media_type not in MANIFEST_TYPES:
        raise RegistryError(f"unsupported manifest media type {media_type!r}", media_type=media_type)
    config = Descriptor.from_dict(obj.get("config"), "config")
    raw_layers = obj.get("layers")
    if not isinstance(raw_layers, list):
        raise RegistryError("manifest: layers must be a list", field="layers")
    if len(raw_layers) > MAX_LAYERS:
        raise LimitExceeded(f"manifest has {len(raw_layers)} layers, more than {MAX_LAYERS}", field="layers")
    layers = tuple(Descriptor.from_dict(layer, f"layers[{i}]") for i, layer in enumerate(raw_layers))
    return Manifest(media_type, config, layers)


def parse_index(data: bytes, media_type: str) -> Index:
    obj = _load(data, "index")
    raw = obj.get("manifests")
    if not isinstance(raw, list):
        raise RegistryError("index: manifests must be a list", field="manifests")
    if len(raw) > MAX_INDEX_ENTRIES:
        raise LimitExceeded(f"index has {len(raw)} entries, more than {MAX_INDEX_ENTRIES}", field="manifests")
    return Index(media_type, tuple(Descriptor.from_dict(m, f"manifests[{i}]") for i, m in enumerate(raw)))


# --- platforms -------------------------------------------------------------------------------

_ARCH_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm",
                 "armel": "arm", "i386": "386", "i686": "386"}


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    def matches(self, p: dict[str, Any]) -> bool:
        arch = normalize_arch(str(p.get("architecture", "")))
        if str(p.get("os", "")) != self.os or arch != self.architecture:
            return False
        variant = str(p.get("variant", "") or "")
        if self.variant:
            return variant == self.variant or (not variant and self._default_variant())
        return True

    def _default_variant(self) -> bool:
        return (self.architecture, self.variant) in (("arm64", "v8"), ("arm", "v7"))

    def score(self, p: dict[str, Any]) -> int:
        """Prefer an exact variant, then the default one, then any."""
        variant = str(p.get("variant", "") or "")
        if variant == self.variant:
            return 2
        return 1 if not variant else 0


def normalize_arch(arch: str) -> str:
    return _ARCH_ALIASES.get(arch, arch)


def host_platform() -> Platform:
    arch = normalize_arch(_platform.machine().lower())
    variant = "v8" if arch == "arm64" else ""
    return Platform("linux", arch, variant)


def parse_platform(value: str | None) -> Platform:
    if not value:
        return host_platform()
    parts = value.strip().lower().split("/")
    if len(parts) == 1 and parts[0] in ("linux", "windows", "darwin", "freebsd"):
        return Platform(parts[0], host_platform().architecture)
    if not 2 <= len(parts) <= 3 or not all(parts):
        raise InvalidSpec(f"invalid platform {value!r}: expected os/arch[/variant]", field="platform", value=value)
    arch = normalize_arch(parts[1])
    variant = parts[2] if len(parts) == 3 else ""
    if arch == "arm64" and variant == "v8":
        variant = "v8"
    return Platform(parts[0], arch, variant)


def select_platform(index: Index, want: Platform) -> Descriptor:
    best: tuple[int, int, Descriptor] | None = None
    for i, d in enumerate(index.manifests):
        if d.media_type and d.media_type not in MANIFEST_TYPES:
            continue   # nested indexes and attestations are not images to run
        if d.platform is None or not want.matches(d.platform):
            continue
        score = want.score(d.platform)
        if best is None or score > best[0]:
            best = (score, -i, d)
    if best is None:
        avail = sorted({"/".join(str(d.platform.get(k)) for k in ("os", "architecture", "variant")
                                 if d.platform.get(k))
                        for d in index.manifests if d.platform})
        raise RegistryError(f"no matching manifest for {want} in the manifest list entries "
                            f"(available: {', '.join(avail) or 'none'})", status=404, platform=str(want))
    return best[2]


def config_platform(config: dict[str, Any]) -> str:
    return "/".join(str(config.get(k)) for k in ("os", "architecture", "variant") if config.get(k))
