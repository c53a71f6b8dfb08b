"""``load``: image tarballs from docker save (old and new layouts), podman save (docker-archive and
oci-archive), and OCI image layouts (a folder or a tarball).

The tarball is indexed once (member offsets), then each blob is read straight from its byte
range: a layer is streamed into the content store and unpacked in the same pass. A stream that
cannot seek (stdin) is spooled to the store's scratch folder first, as docker does.
"""
from __future__ import annotations

import contextlib
import json
import os
import posixpath
import secrets
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from .. import reference
from ..errors import BerthError, IntegrityError, InvalidSpec, LimitExceeded, NotFound
from ..types import check_digest
from . import oci
from .tarstream import DEFAULT_LIMITS, DecompressedStream, compression_of

if TYPE_CHECKING:  # pragma: no cover
    from .images import ImageRecord, ImageStore

Progress = Callable[[str], None]
MAX_MEMBERS = 200_000
MAX_META = 16 << 20


class _Range:
    """A read-only file object over ``size`` bytes at ``offset`` of ``fd`` (pread: thread-safe)."""

    def __init__(self, fd: int, offset: int, size: int) -> None:
        self._fd, self._off, self._left = fd, offset, size

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        n = self._left if n is None or n < 0 else min(n, self._left)
        data = os.pread(self._fd, n, self._off)
        if not data:
            raise InvalidSpec("archive is truncated", field="archive")
        self._off += len(data)
        self._left -= len(data)
        return data


class _Source:
    """Members of a tarball or files of a folder, by archive path."""

    def __init__(self, path: Path, is_dir: bool) -> None:
        self.path = path
        self.is_dir = is_dir
        self.members: dict[str, tuple[int, int]] = {}
        self.fd = -1
        if not is_dir:
            self.fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            self._index()

    def _index(self) -> None:
        links: dict[str, str] = {}
        with open(self.path, "rb") as f:
            try:
                tf = tarfile.open(fileobj=f, mode="r:")
                count = 0
                for m in tf:
                    count += 1
                    if count > MAX_MEMBERS:
                        raise LimitExceeded(f"archive has more than {MAX_MEMBERS} entries", limit="members")
                    name = _norm(m.name)
                    if m.isfile():
                        self.members[name] = (m.offset_data, m.size)
                    elif m.issym():
                        links[name] = posixpath.normpath(posixpath.join(posixpath.dirname(name), m.linkname))
                    elif m.islnk():
                        links[name] = posixpath.normpath(m.linkname).lstrip("/")
            except tarfile.TarError as exc:
                raise InvalidSpec(f"not an image archive: {exc}", field="archive") from exc
        for name, target in links.items():
            for _ in range(8):   # chains of links between layer folders (old docker save)
                if target in self.members or target not in links:
                    break
                target = links[target]
            if target in self.members:
                self.members[name] = self.members[target]

    def exists(self, name: str) -> bool:
        if self.is_dir:
            return self._file(name).is_file()
        return _norm(name) in self.members

    def _file(self, name: str) -> Path:
        rel = _norm(name)
        if rel.startswith("../") or rel == "..":
            raise InvalidSpec(f"archive path {name!r} leaves the archive", field="archive", value=name)
        p = self.path / rel
        real = os.path.realpath(p)
        if not (real + "/").startswith(os.path.realpath(self.path) + "/"):
            raise InvalidSpec(f"archive path {name!r} leaves the archive", field="archive", value=name)
        return p

    def open(self, name: str) -> tuple[Any, int]:
        if self.is_dir:
            p = self._file(name)
            try:
                f = open(p, "rb")
            except FileNotFoundError:
                raise NotFound(f"archive has no {name}", path=name) from None
            return f, os.fstat(f.fileno()).st_size
        try:
            off, size = self.members[_norm(name)]
        except KeyError:
            raise NotFound(f"archive has no {name}", path=name) from None
        return _Range(self.fd, off, size), size

    def read(self, name: str, limit: int = MAX_META) -> bytes:
        f, size = self.open(name)
        try:
            if size > limit:
                raise LimitExceeded(f"{name} in the archive is {size} bytes, more than the limit of {limit}",
                                    limit=name, value=limit)
            return f.read(size)
        finally:
            if hasattr(f, "close"):
                f.close()

    def blob_path(self, digest: str) -> str:
        algo, hexpart = check_digest(digest).split(":", 1)
        return f"blobs/{algo}/{hexpart}"

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _norm(name: str) -> str:
    n = posixpath.normpath(name.lstrip("/"))
    return n[2:] if n.startswith("./") else n


def _json(src: _Source, name: str) -> Any:
    try:
        return json.loads(src.read(name))
    except ValueError as exc:
        raise InvalidSpec(f"{name} in the archive is not valid JSON: {exc}", field=name) from exc


# --- the plan: what images the archive holds -----------------------------------------------

class _Image:
    def __init__(self, config_path: str, layer_paths: list[str], names: list[str],
                 manifest_bytes: bytes | None = None, layer_digests: list[str] | None = None) -> None:
        self.config_path = config_path
        self.layer_paths = layer_paths
        self.names = names
        self.manifest_bytes = manifest_bytes
        self.layer_digests = layer_digests
        self.oci_candidates: dict[str, bytes] = {}   # config digest -> OCI manifest in the archive


def _docker_plan(src: _Source) -> list[_Image]:
    entries = _json(src, "manifest.json")
    if not isinstance(entries, list):
        raise InvalidSpec("manifest.json is not a list", field="manifest.json")
    # Docker 25+ also writes an OCI index: keep its exact manifest when it matches the config.
    oci_manifests: dict[str, bytes] = {}
    if src.exists("index.json"):
        with contextlib.suppress(BerthError, ValueError, KeyError, TypeError):
            for desc in _json(src, "index.json").get("manifests") or []:
                if desc.get("mediaType") in oci.MANIFEST_TYPES:
                    mb = src.read(src.blob_path(desc["digest"]), DEFAULT_LIMITS.max_manifest)
                    if oci.digest_of(mb) == desc["digest"]:
                        oci_manifests[json.loads(mb)["config"]["digest"]] = mb
    plan = []
    for e in entries:
        if not isinstance(e, dict) or not isinstance(e.get("Config"), str):
            raise InvalidSpec("manifest.json entry without Config", field="manifest.json")
        layers = e.get("Layers") or []
        tags = e.get("RepoTags") or []
        if not isinstance(layers, list) or not all(isinstance(x, str) for x in layers):
            raise InvalidSpec("manifest.json entry with invalid Layers", field="manifest.json")
        img = _Image(e["Config"], layers, [str(t) for t in tags])
        img.oci_candidates = oci_manifests
        plan.append(img)
    return plan


def _oci_plan(src: _Source) -> list[_Image]:
    index = _json(src, "index.json")
    plan: list[_Image] = []

    def visit(desc: dict[str, Any], names: list[str], depth: int) -> None:
        if depth > 4:
            raise InvalidSpec("index.json nests indexes too deeply", field="index.json")
        mt = desc.get("mediaType")
        data = src.read(src.blob_path(desc["digest"]), DEFAULT_LIMITS.max_manifest)
        if oci.digest_of(data) != desc["digest"]:
            raise IntegrityError(f"blob {desc['digest']} in the archive does not match its digest",
                                 digest=desc["digest"])
        if mt in oci.INDEX_TYPES or (mt is None and b'"manifests"' in data):
            child = json.loads(data)
            os_name, arch, variant = oci.host_platform()
            chosen = [d for d in child.get("manifests") or []
                      if (d.get("platform") or {}).get("os", os_name) == os_name
                      and (d.get("platform") or {}).get("architecture", arch) == arch]
            if not chosen:
                raise NotFound(f"no manifest for {os_name}/{arch} in the archive's index", platform=arch)
            visit(chosen[0], names, depth + 1)
            return
        m = oci.parse_manifest(data)
        plan.append(_Image(src.blob_path(m["config"]["digest"]),
                           [src.blob_path(x["digest"]) for x in m["layers"]], names, data,
                           [x["digest"] for x in m["layers"]]))

    for desc in index.get("manifests") or []:
        check_digest(desc.get("digest"), "index.json manifest digest")
        ann = desc.get("annotations") or {}
        name = ann.get("io.containerd.image.name") or ""
        ref_name = ann.get("org.opencontainers.image.ref.name") or ""
        if not name and ref_name and ("/" in ref_name or ":" in ref_name):
            name = ref_name   # some tools put the whole reference here
        visit(desc, [name] if name else [], 0)
    return plan


# --- loading ---------------------------------------------------------------------------------

def load(store: ImageStore, source: str | os.PathLike[str] | BinaryIO,
         progress: Progress | None = None, quiet: bool = False) -> list[str]:
    """Load images from a tarball (path or stream) or an OCI layout folder.

    Returns docker's messages: "Loaded image: name:tag" or "Loaded image ID: sha256:...",
    preceded by a note for each tag taken from another image."""
    spool: Path | None = None
    try:
        if isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
            src = _Source(Path(source), is_dir=True)
        else:
            path, spool = _seekable_plain(store, source)
            src = _Source(path, is_dir=False)
        try:
            return _load(store, src, progress)
        finally:
            src.close()
    finally:
        if spool is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(spool)


def peek(source: str | os.PathLike[str], tmpdir: str | None = None) -> dict[str, str]:
    """Which image id each name in an archive would get, without loading it.

    Keys are normalised ``name:tag`` references; an image without names is keyed by ""."""
    spool: Path | None = None
    try:
        if Path(source).is_dir():
            src = _Source(Path(source), is_dir=True)
        else:
            path, spool = _plain_copy(source, Path(tmpdir or tempfile.gettempdir()))
            src = _Source(path, is_dir=False)
        try:
            plan = _docker_plan(src) if src.exists("manifest.json") else _oci_plan(src)
            out: dict[str, str] = {}
            for img in plan:
                image_id = oci.digest_of(src.read(img.config_path, DEFAULT_LIMITS.max_config))
                for n in img.names or [""]:
                    if n:
                        r = reference.parse(n)
                        n = r.tagged if not r.digest else f"{r.name}@{r.digest}"
                    out[n] = image_id
            return out
        finally:
            src.close()
    finally:
        if spool is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(spool)


def _seekable_plain(store: ImageStore, source: str | os.PathLike[str] | BinaryIO) -> tuple[Path, Path | None]:
    return _plain_copy(source, store.paths.tmp)


def _plain_copy(source: str | os.PathLike[str] | BinaryIO, tmpdir: Path) -> tuple[Path, Path | None]:
    """A path to an uncompressed tarball: the file itself, or a spooled/decompressed copy."""
    if isinstance(source, (str, os.PathLike)):
        try:
            with open(source, "rb") as f:
                head = f.read(8)
        except FileNotFoundError:
            raise NotFound(f"open {source}: no such file or directory", path=str(source)) from None
        if compression_of(head) == "none":
            return Path(source), None
        fobj: BinaryIO = open(source, "rb")
    else:
        fobj = source
    tmpdir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f"load-{os.getpid()}-", dir=tmpdir)
    try:
        with os.fdopen(fd, "wb") as out:
            stream = DecompressedStream(fobj)   # plain input passes through unchanged
            try:
                while (chunk := stream.next_chunk()) is not None:
                    out.write(chunk)
            finally:
                stream.close()
    except BaseException:
        os.unlink(tmp)
        raise
    finally:
        if isinstance(source, (str, os.PathLike)):
            fobj.close()
    return Path(tmp), Path(tmp)


def _load(store: ImageStore, src: _Source, progress: Progress | None) -> list[str]:
    if src.exists("manifest.json"):
        plan = _docker_plan(src)
    elif src.exists("index.json"):
        plan = _oci_plan(src)
    else:
        raise InvalidSpec("not an image archive: it has neither manifest.json nor index.json",
                          field="archive")
    if not plan:
        raise InvalidSpec("the archive holds no image", field="archive")
    messages: list[str] = []
    for img in plan:
        before = {}
        for n in img.names:
            r = reference.parse(n)
            with contextlib.suppress(NotFound):
                before[r.familiar] = store.get(r.tagged if not r.digest else f"{r.name}@{r.digest}").id
        rec = _load_image(store, src, img, progress)
        for name, old_id in before.items():
            if old_id != rec.id:
                messages.append(f"The image {name} already exists, renaming the old one with "
                                f"ID {old_id} to empty string")
        if img.names:
            messages += [f"Loaded image: {reference.parse(n).familiar}" for n in img.names]
        else:
            messages.append(f"Loaded image ID: {rec.id}")
    return messages


def _load_image(store: ImageStore, src: _Source, img: _Image, progress: Progress | None) -> ImageRecord:
    config_bytes = src.read(img.config_path, DEFAULT_LIMITS.max_config)
    config = oci.parse_config(config_bytes)
    image_id = oci.digest_of(config_bytes)
    if img.config_path.startswith("blobs/sha256/") and img.config_path[13:] != image_id[7:]:
        raise IntegrityError(f"config {img.config_path} does not match its digest {image_id}", digest=image_id)
    diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
    if len(diff_ids) != len(img.layer_paths):
        raise InvalidSpec(f"image config lists {len(diff_ids)} diff_ids for {len(img.layer_paths)} layers",
                          field="rootfs.diff_ids")
    chains = store.snapshots.chain_id(diff_ids)
    layers: list[dict[str, Any]] = []
    parent = None
    for i, (path, diff_id, chain) in enumerate(zip(img.layer_paths, diff_ids, chains, strict=True)):
        expected = img.layer_digests[i] if img.layer_digests else None
        if progress:
            progress(f"Loading layer {diff_id[7:19]} ({i + 1}/{len(diff_ids)})")
        layers.append(_load_layer(store, src, path, diff_id, chain, parent, expected))
        parent = chain
    manifest_bytes = img.manifest_bytes
    candidates = img.oci_candidates
    if manifest_bytes is None and image_id in candidates:
        m = json.loads(candidates[image_id])
        if [x["digest"] for x in m["layers"]] == [x["digest"] for x in layers]:
            manifest_bytes = candidates[image_id]
            for x, d in zip(layers, m["layers"], strict=True):
                x["media_type"] = d.get("mediaType", x["media_type"])
    store.content.put(config_bytes, expected=image_id)
    if manifest_bytes is None:
        manifest_bytes = oci.build_manifest(config_bytes, layers)
    store.content.put(manifest_bytes)
    return store.add(manifest_bytes, config_bytes, img.names)


def _load_layer(store: ImageStore, src: _Source, path: str, diff_id: str, chain: str, parent: str | None,
                expected: str | None) -> dict[str, Any]:
    content, snaps = store.content, store.snapshots
    f, size = src.open(path)
    try:
        head = f.read(8)
    finally:
        if hasattr(f, "close"):
            f.close()
    kind = compression_of(head)
    media = oci.LAYER_BY_COMPRESSION.get(kind, oci.OCI_LAYER)
    if expected is not None and content.has(expected) and snaps.has_layer(chain):
        return {"digest": expected, "media_type": media, "size": size, "diff_id": diff_id}
    from .archive import TeeReader
    f, size = src.open(path)
    try:
        with content.ingest(f"load-{secrets.token_hex(8)}", expected=expected, size=size) as w:
            if snaps.has_layer(chain):
                from .layers import digest_stream
                got = digest_stream(TeeReader(f, w)).diff_id   # type: ignore[arg-type]
                if got != diff_id:
                    raise IntegrityError(f"layer {path} has diff_id {got}, the config says {diff_id}",
                                         expected=diff_id, digest=got)
                digest = w.commit()
            else:
                holder: dict[str, str] = {}
                snaps.unpack(chain, parent, TeeReader(f, w), expected_diff_id=diff_id,   # type: ignore[arg-type]
                             verify=lambda: holder.__setitem__("digest", w.commit()))
                digest = holder.get("digest") or w.commit()
    finally:
        if hasattr(f, "close"):
            f.close()
    return {"digest": digest, "media_type": media, "size": size, "diff_id": diff_id}

