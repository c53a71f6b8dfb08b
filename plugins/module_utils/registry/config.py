"""Where a registry is reached and how far it is trusted.

berth's config file (``Paths.config_file``) may list ``insecure-registries`` (hosts, host:port
or CIDR ranges, as Docker's daemon.json does) and ``registry-mirrors`` (used for docker.io
only). Loopback registries are insecure by default, as Docker treats them.

An endpoint is one base URL to try. A secure host is only ever spoken to over verified HTTPS;
an insecure one is tried over HTTPS without verification first, then over plain HTTP.
"""
from __future__ import annotations

import hashlib
import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidSpec
from ..fsutil import atomic_write, read_json
from ..paths import Paths
from ..reference import DEFAULT_DOMAIN

DOCKER_HUB_API = "registry-1.docker.io"
SYSTEM_CA_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")
DOCKER_CERTS_D = Path("/etc/docker/certs.d")


@dataclass(frozen=True)
class Endpoint:
    """One base URL for a registry's v2 API, with what TLS checking it gets."""

    host: str                    # host[:port] as named in references (docker.io for the Hub)
    url: str                     # scheme://netloc, no trailing slash
    verify: bool | str = True    # requests' verify: a CA bundle path, True, or False
    cert: tuple[str, str] | None = None   # client certificate and key, from certs.d
    mirror: bool = False
    insecure: bool = False       # plain HTTP or unverified TLS is acceptable for this host

    @property
    def secure_transport(self) -> bool:
        return self.url.startswith("https://") and self.verify is not False


@dataclass(frozen=True)
class RegistryConfig:
    insecure: tuple[str, ...] = ()
    mirrors: tuple[str, ...] = ()
    certs_dirs: tuple[Path, ...] = field(default=(DOCKER_CERTS_D,))

    @classmethod
    def load(cls, paths: Paths) -> RegistryConfig:
        data = read_json(paths.config_file, default={}) or {}
        if not isinstance(data, dict):
            raise InvalidSpec(f"{paths.config_file} must hold a JSON object", field="config_file")
        insecure = _str_list(data.get("insecure-registries", []), "insecure-registries")
        mirrors = _str_list(data.get("registry-mirrors", []), "registry-mirrors")
        for m in mirrors:
            if not m.startswith(("http://", "https://")):
                raise InvalidSpec(f"registry-mirrors: {m!r} must be an http:// or https:// URL",
                                  field="registry-mirrors", value=m)
        return cls(tuple(insecure), tuple(m.rstrip("/") for m in mirrors),
                   (paths.root / "certs.d", DOCKER_CERTS_D))

    def is_insecure(self, host: str) -> bool:
        """True for loopback hosts and hosts (or ranges) listed as insecure."""
        name, _port = split_host_port(host)
        if name == "localhost" or name.endswith(".localhost"):
            return True
        ip = _ip(name)
        if ip is not None and ip.is_loopback:
            return True
        for entry in self.insecure:
            if entry == host or entry == name:
                return True
            if "/" in entry and ip is not None:
                try:
                    if ip in ipaddress.ip_network(entry, strict=False):
                        return True
                except ValueError:
                    continue
        return False

    def endpoints(self, host: str, paths: Paths | None = None) -> list[Endpoint]:
        """Base URLs to try for ``host``, best first (mirrors, then the registry itself)."""
        out: list[Endpoint] = []
        if host == DEFAULT_DOMAIN:
            for m in self.mirrors:
                mhost = m.split("://", 1)[1].split("/", 1)[0]
                out.append(self._endpoint(mhost, m, mirror=True, paths=paths))
            api = DOCKER_HUB_API
        else:
            api = host
        insecure = self.is_insecure(host)
        out.append(self._endpoint(host, f"https://{api}", paths=paths, ref_host=host))
        if insecure:
            out.append(Endpoint(host, f"http://{api}", verify=False, insecure=True))
        return out

    def _endpoint(self, host: str, url: str, mirror: bool = False, paths: Paths | None = None,
                  ref_host: str | None = None) -> Endpoint:
        insecure = self.is_insecure(host)
        if url.startswith("http://"):
            return Endpoint(ref_host or host, url, verify=False, mirror=mirror, insecure=True)
        cas, cert = self._certs_for(host)
        verify: bool | str
        if insecure:
            verify = False
        elif cas:
            verify = str(combined_bundle(cas, paths))
        else:
            verify = system_bundle() or True
        return Endpoint(ref_host or host, url, verify=verify, cert=cert, mirror=mirror, insecure=insecure)

    def _certs_for(self, host: str) -> tuple[list[Path], tuple[str, str] | None]:
        """CA files and a client key pair from <certs.d>/<host>/, as Docker lays them out."""
        cas: list[Path] = []
        cert = None
        for base in self.certs_dirs:
            d = base / host
            if not d.is_dir() or "/" in host or host.startswith("."):
                continue
            for f in sorted(d.iterdir()):
                if f.suffix == ".crt":
                    cas.append(f)
                elif f.suffix == ".cert" and cert is None:
                    key = f.with_suffix(".key")
                    if key.exists():
                        cert = (str(f), str(key))
        return cas, cert


def split_host_port(host: str) -> tuple[str, int | None]:
    if host.startswith("["):
        end = host.find("]")
        name, rest = host[1:end], host[end + 1:]
        return name, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit():
        return name, int(port)
    return host, None


def system_bundle() -> str | None:
    for p in SYSTEM_CA_BUNDLES:
        if os.path.exists(p):
            return p
    return None


def combined_bundle(cas: list[Path], paths: Paths | None) -> Path:
    """The system roots plus a registry's own CAs in one PEM file (requests takes one path)."""
    pem = b""
    sysb = system_bundle()
    if sysb:
        pem += Path(sysb).read_bytes() + b"\n"
    for ca in cas:
        pem += ca.read_bytes() + b"\n"
    base = (paths.run if paths else Path("/tmp")) / "registry-ca"
    target = base / (hashlib.sha256(pem).hexdigest()[:32] + ".pem")
    if not target.exists():
        atomic_write(target, pem, mode=0o644, durable=False)
    return target


def _ip(name: str) -> Any:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def _str_list(value: Any, field_name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidSpec(f"{field_name} must be a list of strings, got {value!r}", field=field_name)
    return list(value)
