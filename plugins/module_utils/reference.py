"""Docker image references: parsing and normalisation, pure.

``alpine`` is ``docker.io/library/alpine:latest``; ``localhost:5000/a/b:tag`` keeps its
registry; ``name@sha256:...`` pins a digest. The grammar is the one of the distribution
project (reference/regexp.go), re-expressed here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import InvalidSpec

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEP = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEP}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|{_IPV6})"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"

_PATH_RE = re.compile(rf"^{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*$")
_DOMAIN_RE = re.compile(rf"^{_DOMAIN}$")
_TAG_RE = re.compile(rf"^{_TAG}$")
_DIGEST_RE = re.compile(rf"^{_DIGEST}$")
_ID_RE = re.compile(r"^[a-f0-9]{64}$")
_DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}


@dataclass(frozen=True)
class Reference:
    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """Fully qualified repository name: ``docker.io/library/alpine``."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """The short name docker prints: ``alpine``, ``user/app``, ``localhost:5000/app``."""
        if self.domain == DEFAULT_DOMAIN:
            if self.path.startswith(OFFICIAL_PREFIX) and "/" not in self.path[len(OFFICIAL_PREFIX):]:
                return self.path[len(OFFICIAL_PREFIX):]
            return self.path
        return self.name

    def __str__(self) -> str:
        s = self.name
        if self.tag:
            s += ":" + self.tag
        if self.digest:
            s += "@" + self.digest
        return s

    @property
    def familiar(self) -> str:
        s = self.familiar_name
        if self.tag:
            s += ":" + self.tag
        if self.digest:
            s += "@" + self.digest
        return s

    @property
    def registry_host(self) -> str:
        """The host that serves this repository's API (docker.io is served by registry-1)."""
        return "registry-1.docker.io" if self.domain == DEFAULT_DOMAIN else self.domain

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.domain, self.path, check_tag(tag), None)

    def with_digest(self, digest: str) -> Reference:
        return Reference(self.domain, self.path, self.tag, check_digest_ref(digest))

    @property
    def tagged(self) -> str:
        """``name:tag``, defaulting the tag, as used for tag tables."""
        return f"{self.name}:{self.tag or DEFAULT_TAG}"


def check_tag(tag: str) -> str:
    if not isinstance(tag, str) or not _TAG_RE.match(tag):
        raise InvalidSpec(f"invalid tag {tag!r}: tags are up to 128 letters, digits, '_', '.' or '-'",
                          field="tag", value=tag)
    return tag


def check_digest_ref(digest: str) -> str:
    if not isinstance(digest, str) or not _DIGEST_RE.match(digest):
        raise InvalidSpec(f"invalid digest {digest!r}", field="digest", value=digest)
    algo, hexpart = digest.split(":", 1)
    want = _DIGEST_LENGTHS.get(algo)
    if want is None:
        raise InvalidSpec(f"unsupported digest algorithm {algo!r}", field="digest", value=digest)
    if len(hexpart) != want or hexpart != hexpart.lower():
        raise InvalidSpec(f"invalid digest {digest!r}", field="digest", value=digest)
    return digest


def looks_like_id(value: str) -> bool:
    return bool(_ID_RE.match(value))


def split_domain(name: str) -> tuple[str, str]:
    i = name.find("/")
    if i == -1 or (not any(c in name[:i] for c in ".:") and name[:i] != "localhost"
                   and name[:i].lower() == name[:i]):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = name[:i], name[i + 1:]
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_PREFIX + remainder
    return domain, remainder


def parse(value: str, default_tag: bool = True) -> Reference:
    """Parse and normalise a reference as ``docker pull`` does.

    With ``default_tag``, a reference with neither tag nor digest gets ``latest``.
    """
    if not isinstance(value, str) or not value:
        raise InvalidSpec("invalid reference format: empty name", field="reference", value=value)
    if looks_like_id(value):
        raise InvalidSpec(f"invalid repository name ({value}), cannot specify 64-byte hexadecimal strings",
                          field="reference", value=value)
    rest = value
    digest = None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        check_digest_ref(digest)
    tag = None
    # A tag follows the last ':' that comes after the last '/' (a port comes before it).
    colon = rest.rfind(":")
    if colon > rest.rfind("/"):
        rest, tag = rest[:colon], rest[colon + 1:]
        check_tag(tag)
    if not rest:
        raise InvalidSpec(f"invalid reference format: {value!r}", field="reference", value=value)
    domain, path = split_domain(rest)
    if not _DOMAIN_RE.match(domain):
        raise InvalidSpec(f"invalid reference format: bad registry host {domain!r} in {value!r}",
                          field="reference", value=value)
    if path.lower() != path and _PATH_RE.match(path.lower()):
        raise InvalidSpec(f"invalid reference format: repository name ({path}) must be lowercase",
                          field="reference", value=value)
    if not _PATH_RE.match(path):
        raise InvalidSpec(f"invalid reference format: {value!r}", field="reference", value=value)
    if len(f"{domain}/{path}") > NAME_TOTAL_MAX:
        raise InvalidSpec(f"repository name must not be more than {NAME_TOTAL_MAX} characters",
                          field="reference", value=value)
    if default_tag and tag is None and digest is None:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest)


def parse_repository(value: str) -> Reference:
    """A repository name with neither tag nor digest (``docker tag`` targets, ``push`` names)."""
    return parse(value, default_tag=False)


def normalize(value: str) -> str:
    return str(parse(value))
