"""Moving images without a registry: ``import``, ``save`` and ``load``.

``save`` writes what ``docker save`` (25+) writes: ``manifest.json`` and ``repositories`` for the
Docker loaders, and an OCI image layout (``oci-layout``, ``index.json``, ``blobs/sha256``) with
the very blobs the store holds, so image ids (config digests) and layer digests survive a
round trip. ``load`` takes those, the older Docker layout (``<id>.json``, ``<layer>/layer.tar``),
podman's docker-archive and oci-archive, and OCI image layout folders or tarballs.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from .. import reference
from ..errors import IntegrityError, InvalidSpec, NotFound
from . import oci
from .changes import apply_changes
from .layerdiff import tar_header
from .tarstream import IN_CHUNK, compression_of

if TYPE_CHECKING:  # pragma: no cover
    from .images import ImageRecord, ImageStore

Progress = Callable[[str], None]
MAX_META = 16 << 20


class TeeReader:
    """A file object that copies every byte read into ``sink`` (the blob writer)."""

    def __init__(self, f: BinaryIO, sink: Any) -> None:
        self._f = f
        self._sink = sink

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        if data:
            self._sink.write(data)
        return data


# --- import --------------------------------------------------------------------------------

def import_rootfs(store: ImageStore, fileobj: BinaryIO, changes: Iterable[str] = (), message: str = "",
                  names: Iterable[str] = (), source: str = "-", platform: str | None = None,
                  extra: dict[str, Any] | None = None) -> ImageRecord:
    """A rootfs tarball (any compression) becomes a one-layer image.

    ``created`` is the newest time inside the tarball, so importing the same tarball with the
    same changes gives the same image id (idempotent playbooks)."""
    names = list(names)
    for n in names:
        r = reference.parse(n)
        if r.digest:
            raise InvalidSpec(f"cannot import to a digest reference: {n}", field="reference", value=n)
    config_changes = apply_changes({}, list(changes))
    content, snaps = store.content, store.snapshots
    with content.ingest(f"import-{secrets.token_hex(8)}") as w:
        diff_id = snaps.unpack(None, None, TeeReader(fileobj, w))   # type: ignore[arg-type]
        digest = w.commit()
    with content.open(digest) as f:
        kind = compression_of(f.read(8))
    meta = snaps.layer_meta(diff_id)
    created = oci.rfc3339(float(meta.get("max_mtime") or 0) or None)
    os_name, arch, variant = oci.host_platform()
    if platform:
        bits = platform.split("/")
        os_name, arch = bits[0], bits[1] if len(bits) > 1 else arch
        variant = bits[2] if len(bits) > 2 else ""
    comment = message or f"Imported from {source}"
    # Only fields of the OCI config: tools that re-encode configs keep the same bytes (same id).
    config: dict[str, Any] = {"created": created, "architecture": arch, "os": os_name}
    if variant:
        config["variant"] = variant
    config.update({"config": config_changes, "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                   "history": [{"created": created, "comment": comment}]})
    layer = {"digest": digest, "media_type": oci.LAYER_BY_COMPRESSION.get(kind, oci.OCI_LAYER),
             "size": content.size(digest), "diff_id": diff_id}
    return store.create(config, [layer], names, extra=extra)


def open_source(src: str, stdin: BinaryIO | None = None) -> tuple[BinaryIO, str]:
    """A file, ``-`` (stdin) or an http(s) URL, as a readable binary stream and its name."""
    if src == "-":
        import sys
        return (stdin or sys.stdin.buffer), "-"
    if src.startswith(("http://", "https://")):
        requests = __import__("requests")
        try:
            resp = requests.get(src, stream=True, timeout=60)
            resp.raise_for_status()
        except requests.RequestException as exc:
            raise NotFound(f"cannot fetch {src}: {exc}", url=src) from exc
        resp.raw.decode_content = True
        return resp.raw, src
    try:
        return open(src, "rb"), "-"
    except FileNotFoundError:
        raise NotFound(f"open {src}: no such file or directory", path=src) from None
    except IsADirectoryError:
        raise InvalidSpec(f"{src} is a directory, not a tarball", path=src) from None


# --- save ----------------------------------------------------------------------------------

def _selected(store: ImageStore, refs: list[str]) -> list[tuple[ImageRecord, list[str]]]:
    """Images to save, each with the tags to write (docker save's rules)."""
    picked: dict[str, tuple[ImageRecord, list[str]]] = {}
    for ref in refs:
        rec = store.get(ref)
        tags: list[str] = []
        named = ImageStoreNames.name_of(ref)
        if named is not None:
            r, explicit_tag = named
            if explicit_tag:
                tags = [r.tagged]
            else:
                # A bare repository name saves every tag of that repository.
                tags = sorted(t for img in store.list() for t in img.repo_tags if t.startswith(r.name + ":"))
                for t in tags:
                    other = store.get(t)
                    if other.id != rec.id:
                        picked.setdefault(other.id, (other, []))[1].append(t)
                tags = [t for t in tags if store.get(t).id == rec.id]
        entry = picked.setdefault(rec.id, (rec, []))
        entry[1].extend(t for t in tags if t not in entry[1])
    return list(picked.values())


class ImageStoreNames:
    @staticmethod
    def name_of(ref: str) -> tuple[Any, bool] | None:
        hexpart = ref[7:] if ref.startswith("sha256:") else ref
        if ref.startswith("sha256:") or (hexpart and all(c in "0123456789abcdef" for c in hexpart)
                                         and len(hexpart) >= 12):
            return None
        try:
            r = reference.parse(ref, default_tag=False)
        except InvalidSpec:
            return None
        if r.digest:
            return None
        if r.tag:
            return r, True
        return reference.parse(ref), False


class _TarOut:
    def __init__(self, out: BinaryIO) -> None:
        self.out = out

    def dir(self, name: str) -> None:
        self.out.write(tar_header(name.encode() + b"/", b"5", 0o755, 0, 0, 0, 0))

    def data(self, name: str, data: bytes) -> None:
        self.out.write(tar_header(name.encode(), b"0", 0o644, 0, 0, len(data), 0))
        self.out.write(data + b"\0" * ((-len(data)) % 512))

    def file(self, name: str, f: BinaryIO, size: int) -> None:
        self.out.write(tar_header(name.encode(), b"0", 0o644, 0, 0, size, 0))
        left = size
        while left:
            chunk = f.read(min(left, IN_CHUNK))
            if not chunk:
                raise IntegrityError(f"blob {name} is shorter than {size} bytes", path=name)
            self.out.write(chunk)
            left -= len(chunk)
        self.out.write(b"\0" * ((-size) % 512))

    def end(self) -> None:
        self.out.write(b"\0" * 1024)


def save(store: ImageStore, refs: list[str], out: BinaryIO, progress: Progress | None = None) -> None:
    """Write ``refs`` as one tarball (docker save's format, with an OCI layout inside)."""
    if not refs:
        raise InvalidSpec("save needs at least one image", field="images")
    images = _selected(store, refs)
    t = _TarOut(out)
    t.dir("blobs")
    t.dir("blobs/sha256")
    written: set[str] = set()
    index: list[dict[str, Any]] = []
    manifests: list[dict[str, Any]] = []
    repositories: dict[str, dict[str, str]] = {}
    for rec, tags in images:
        manifest_bytes = store.content.read(rec.manifest_digest, MAX_META)
        manifest = oci.parse_manifest(manifest_bytes)
        for digest in [x["digest"] for x in manifest["layers"]] + [rec.id, rec.manifest_digest]:
            if digest in written:
                continue
            if progress:
                progress(f"Saving {digest[7:19]}")
            with store.content.open(digest) as f:
                t.file(f"blobs/sha256/{digest[7:]}", f, os.fstat(f.fileno()).st_size)
            written.add(digest)
        desc = {"mediaType": manifest["mediaType"], "digest": rec.manifest_digest, "size": len(manifest_bytes)}
        for tag in tags:
            r = reference.parse(tag)
            index.append(dict(desc, annotations={"io.containerd.image.name": str(r),
                                                 "org.opencontainers.image.ref.name": r.tag or "latest"}))
            repositories.setdefault(r.familiar_name, {})[r.tag or "latest"] = \
                manifest["layers"][-1]["digest"][7:] if manifest["layers"] else rec.id[7:]
        if not tags:
            index.append(desc)
        manifests.append({"Config": f"blobs/sha256/{rec.id[7:]}",
                          "RepoTags": [reference.parse(x).familiar for x in tags] or None,
                          "Layers": [f"blobs/sha256/{x['digest'][7:]}" for x in manifest["layers"]]})
    t.data("index.json", oci.canonical({"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": index}))
    t.data("manifest.json", oci.canonical(manifests))
    t.data("oci-layout", oci.canonical({"imageLayoutVersion": "1.0.0"}))
    if repositories:
        t.data("repositories", oci.canonical(repositories))
    t.end()


def save_to_path(store: ImageStore, refs: list[str], path: str, progress: Progress | None = None) -> None:
    """save into a file, atomically: a failed save leaves no half-written tarball behind."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent if str(target.parent) else ".")
    try:
        with os.fdopen(fd, "wb") as f:
            save(store, refs, f, progress)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def load(store: ImageStore, source: Any, progress: Progress | None = None) -> list[str]:
    """See archive_load.load (kept apart: reading archives is a job of its own)."""
    from .archive_load import load as _load
    return _load(store, source, progress)
