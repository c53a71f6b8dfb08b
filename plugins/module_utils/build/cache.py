"""The layer cache: which image a build step gave, keyed as Docker's classic builder keys it.

A key is the sha256 of the parent image id, the step's history text (which holds the
instruction with its variables expanded, and for RUN the build args in force as ``|N a=b``),
and for COPY/ADD a hash of the files copied (content, mode, link targets; never mtimes). A
record maps a key to the intermediate image the step committed, so a hit reuses that image
and everything below it. Records live in ``root/buildcache/records/<key hex>.json``; the
images they name are ordinary (untagged) images with their parent set, as Docker keeps them.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BerthError, Conflict, NotFound
from ..fsutil import ensure_dir, read_json, write_json

if TYPE_CHECKING:  # pragma: no cover
    from ..engine import Engine


def cache_key(parent: str | None, created_by: str, content: str = "", platform: str = "") -> str:
    """The key of one step (hex): what Docker's classic builder compares to find a child."""
    doc = json.dumps([parent or "scratch", created_by, content, platform], separators=(",", ":"))
    return hashlib.sha256(doc.encode()).hexdigest()


@dataclass(frozen=True)
class CacheRecord:
    key: str
    image_id: str
    parent: str
    description: str
    created: float
    last_used: float
    usage_count: int = 1
    layer: str | None = None        # the chain id the step added (None: a config-only step)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CacheRecord:
        return cls(key=d["key"], image_id=d["image_id"], parent=d.get("parent") or "",
                   description=d.get("description") or "", created=float(d.get("created") or 0),
                   last_used=float(d.get("last_used") or 0), usage_count=int(d.get("usage_count") or 0),
                   layer=d.get("layer"))


class BuildCache:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.folder = engine.paths.buildcache / "records"

    def _path(self, key: str) -> Path:
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise NotFound(f"invalid build cache key {key!r}", key=key)
        return self.folder / f"{key}.json"

    def records(self) -> list[CacheRecord]:
        out = []
        with contextlib.suppress(FileNotFoundError), os.scandir(self.folder) as it:
            for e in it:
                if e.name.endswith(".json") and not e.name.startswith("."):
                    with contextlib.suppress(BerthError, FileNotFoundError, KeyError, ValueError):
                        out.append(CacheRecord.from_dict(read_json(e.path)))
        return out

    def lookup(self, key: str) -> str | None:
        """The image a step with this key made, when it is still in the store."""
        try:
            rec = CacheRecord.from_dict(read_json(self._path(key)))
        except (FileNotFoundError, BerthError, KeyError, ValueError):
            return None
        if not self.engine.images.exists(rec.image_id):
            return None
        updated = CacheRecord(**{**rec.to_dict(), "last_used": time.time(), "usage_count": rec.usage_count + 1})
        # Usage statistics only: losing one on a crash costs nothing, so no fsync.
        with contextlib.suppress(OSError):
            write_json(self._path(key), updated.to_dict(), durable=False)
        return rec.image_id

    def store(self, key: str, image_id: str, parent: str | None, description: str, layer: str | None) -> None:
        now = time.time()
        ensure_dir(self.folder, 0o700)
        rec = CacheRecord(key=key, image_id=image_id, parent=parent or "", description=description,
                          created=now, last_used=now, usage_count=1, layer=layer)
        write_json(self._path(key), rec.to_dict(), durable=False)

    # --- usage and prune --------------------------------------------------------------------
    def _kept_images(self) -> set[str]:
        """Images a named image is built on (its parents, transitively) and images in use."""
        from ..system import images_in_use
        images = self.engine.images.list()
        parent = {r.id: r.parent for r in images}
        keep: set[str] = set()
        for rec in images:
            if rec.repo_tags or rec.repo_digests:
                cur: str | None = rec.id
                while cur and cur not in keep:
                    keep.add(cur)
                    cur = parent.get(cur) or None
        with contextlib.suppress(BerthError, OSError):
            keep.update(images_in_use(self.engine))
        return keep

    def usage(self) -> list[dict[str, Any]]:
        """docker's BuildCache rows (`system df -v`)."""
        from ..store.oci import rfc3339
        snaps = self.engine.snapshots
        kept = self._kept_images()
        rows = []
        for rec in sorted(self.records(), key=lambda r: r.created):
            size = 0
            if rec.layer:
                with contextlib.suppress(BerthError, OSError):
                    size = int(snaps.layer_meta(rec.layer).get("size") or 0)
            rows.append({"ID": rec.key[:25], "Parent": rec.parent, "Type": "regular", "Size": size,
                         "CreatedAt": rfc3339(rec.created), "LastUsedAt": rfc3339(rec.last_used),
                         "UsageCount": rec.usage_count, "InUse": False, "Shared": rec.image_id in kept,
                         "Description": rec.description})
        return rows

    def prune(self, all: bool = False) -> dict[str, Any]:  # noqa: A002 - docker's flag name
        """Drop cache records (without ``all``: those no named image is built on) and the
        intermediate images only they kept: untagged, unused, without children."""
        kept = self._kept_images()
        deleted: list[str] = []
        before = self._disk_bytes()
        doomed: set[str] = set()
        for rec in self.records():
            if all or rec.image_id not in kept or not self.engine.images.exists(rec.image_id):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self._path(rec.key))
                deleted.append(rec.key[:25])
                doomed.add(rec.image_id)
        self._remove_images(doomed - kept, {r.image_id for r in self.records()})
        return {"CachesDeleted": deleted or None, "SpaceReclaimed": max(0, before - self._disk_bytes())}

    def _remove_images(self, doomed: set[str], still_cached: Iterable[str]) -> None:
        images = self.engine.images
        keep = set(still_cached)
        progress = True
        while progress and doomed:
            progress = False
            for image_id in sorted(doomed):
                if image_id in keep:
                    doomed.discard(image_id)
                    continue
                try:
                    rec = images.get(image_id)
                except NotFound:
                    doomed.discard(image_id)
                    continue
                if rec.repo_tags or rec.repo_digests:
                    doomed.discard(image_id)
                    continue
                try:
                    images.remove(image_id)
                except Conflict:
                    continue        # children first: a later pass takes it
                doomed.discard(image_id)
                progress = True

    def _disk_bytes(self) -> int:
        total = sum(size for _, size in self.engine.content.list())
        total += sum(int(m.get("size") or 0) for m in self.engine.snapshots.layers())
        return total
