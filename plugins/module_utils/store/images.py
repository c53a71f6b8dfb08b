"""Images: manifest + config in the content store, a record per image, and a table of names.

``images/by-id/<config hex>.json`` is the record (ImageRecord); ``images/refs.json`` maps
normalised ``name:tag`` and ``name@digest`` references to image ids and is the one source of
truth for names. Removing an image removes the blobs and layers no other image or active
snapshot still needs (reference counting over what remains).
"""
from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .. import reference
from ..errors import Conflict, InvalidSpec, NotFound
from ..fsutil import ensure_dir, locked, read_json, write_json
from ..paths import Paths
from ..types import check_digest, is_digest
from . import oci
from .content import ContentStore
from .snapshots import Snapshotter
from .tarstream import DEFAULT_LIMITS, Limits


@dataclass(frozen=True)
class ImageRecord:
    id: str                                  # config digest
    manifest_digest: str
    config: dict[str, Any]
    layers: tuple[dict[str, Any], ...]       # {digest, media_type, size, diff_id}
    repo_tags: tuple[str, ...] = ()          # normalised: docker.io/library/busybox:latest
    repo_digests: tuple[str, ...] = ()       # normalised: docker.io/library/busybox@sha256:...
    created: str = ""
    size: int = 0
    parent: str = ""                         # the image a local build or commit started from
    added: float = 0.0
    last_tag_time: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def short_id(self) -> str:
        return self.id[7:19]

    @property
    def diff_ids(self) -> list[str]:
        return [layer["diff_id"] for layer in self.layers]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "manifest_digest": self.manifest_digest, "config": self.config,
                "layers": [dict(x) for x in self.layers], "repo_tags": list(self.repo_tags),
                "repo_digests": list(self.repo_digests), "created": self.created, "size": self.size,
                "parent": self.parent, "added": self.added, "last_tag_time": self.last_tag_time,
                "extra": self.extra}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ImageRecord:
        return cls(id=d["id"], manifest_digest=d["manifest_digest"], config=d.get("config") or {},
                   layers=tuple(dict(x) for x in d.get("layers") or ()),
                   repo_tags=tuple(d.get("repo_tags") or ()), repo_digests=tuple(d.get("repo_digests") or ()),
                   created=d.get("created", ""), size=int(d.get("size", 0)), parent=d.get("parent", ""),
                   added=float(d.get("added", 0.0)), last_tag_time=float(d.get("last_tag_time", 0.0)),
                   extra=dict(d.get("extra") or {}))


def familiar(ref: str) -> str:
    try:
        return reference.parse(ref, default_tag=False).familiar
    except InvalidSpec:
        return ref


def _in_use_map(in_use_ids: Iterable[str] | Mapping[str, Iterable[str]] | None) -> dict[str, list[str]]:
    """Image id -> container ids using it; a plain collection of image ids is accepted too."""
    if not in_use_ids:
        return {}
    if isinstance(in_use_ids, Mapping):
        return {k: list(v) for k, v in in_use_ids.items()}
    return {k: [] for k in in_use_ids}


class ImageStore:
    def __init__(self, paths: Paths, content: ContentStore, snapshots: Snapshotter,
                 limits: Limits = DEFAULT_LIMITS) -> None:
        self.paths = paths
        self.content = content
        self.snapshots = snapshots
        self.limits = limits

    # --- files ----------------------------------------------------------------------------
    @property
    def _by_id(self) -> Any:
        return self.paths.images / "by-id"

    @property
    def _refs_file(self) -> Any:
        return self.paths.images / "refs.json"

    def _lock(self) -> Any:
        return locked(self.paths.lock("images"))

    def _refs(self) -> dict[str, str]:
        data = read_json(self._refs_file, default={})
        return dict(data.get("refs", {})) if isinstance(data, dict) else {}

    def _save_refs(self, refs: dict[str, str]) -> None:
        write_json(self._refs_file, {"refs": dict(sorted(refs.items()))})

    def _load(self, image_id: str, refs: dict[str, str] | None = None) -> ImageRecord:
        check_digest(image_id, "image id")
        try:
            rec = ImageRecord.from_dict(read_json(self._by_id / f"{image_id[7:]}.json"))
        except FileNotFoundError:
            raise NotFound(f"No such image: {image_id}", image=image_id) from None
        refs = self._refs() if refs is None else refs
        tags = sorted(k for k, v in refs.items() if v == image_id and "@" not in k)
        digests = sorted(k for k, v in refs.items() if v == image_id and "@" in k)
        return replace(rec, repo_tags=tuple(tags), repo_digests=tuple(digests))

    def _ids(self) -> list[str]:
        out = []
        with contextlib.suppress(FileNotFoundError), os.scandir(self._by_id) as it:
            for e in it:
                if e.name.endswith(".json") and len(e.name) == 69:
                    out.append("sha256:" + e.name[:64])
        return out

    # --- lookup ---------------------------------------------------------------------------
    def resolve_id(self, ref: str, refs: dict[str, str] | None = None) -> str:
        """The image id a reference, full id or unique id prefix names (Docker's rules)."""
        if not isinstance(ref, str) or not ref:
            raise InvalidSpec("empty image reference", field="image", value=ref)
        refs = self._refs() if refs is None else refs
        hexpart = ref[7:] if ref.startswith("sha256:") else ref
        if len(hexpart) == 64 and all(c in "0123456789abcdef" for c in hexpart):
            image_id = "sha256:" + hexpart
            if (self._by_id / f"{hexpart}.json").exists():
                return image_id
            raise NotFound(f"No such image: {ref}", image=ref)
        if not ref.startswith("sha256:"):
            try:
                r = reference.parse(ref)
            except InvalidSpec:
                r = None
            if r is not None:
                key = f"{r.name}@{r.digest}" if r.digest else r.tagged
                if key in refs:
                    return refs[key]
                if r.digest:
                    # name@digest where the digest is the config digest, or a manifest we hold
                    for rec_id in self._ids():
                        rec = self._load(rec_id, refs)
                        if r.digest in (rec.id, rec.manifest_digest) and any(
                                t.startswith(r.name + ":") or t.startswith(r.name + "@")
                                for t in rec.repo_tags + rec.repo_digests):
                            return rec.id
        if 1 <= len(hexpart) < 64 and all(c in "0123456789abcdef" for c in hexpart):
            matches = [i for i in self._ids() if i[7:].startswith(hexpart)]
            if len(matches) == 1:
                return matches[0]
        raise NotFound(f"No such image: {ref}", image=ref)

    def get(self, ref_or_id: str) -> ImageRecord:
        refs = self._refs()
        return self._load(self.resolve_id(ref_or_id, refs), refs)

    def exists(self, ref_or_id: str) -> bool:
        try:
            self.resolve_id(ref_or_id)
            return True
        except NotFound:
            return False

    def list(self) -> list[ImageRecord]:
        refs = self._refs()
        out = []
        for i in self._ids():
            with contextlib.suppress(NotFound, ValueError):
                out.append(self._load(i, refs))
        out.sort(key=lambda r: (oci.parse_time(r.created), r.added), reverse=True)
        return out

    def rootfs_chain(self, record: ImageRecord) -> str | None:
        chain = self.snapshots.chain_id(record.diff_ids)
        return chain[-1] if chain else None

    # --- adding ---------------------------------------------------------------------------
    def add(self, manifest_bytes: bytes, config_bytes: bytes, names: Iterable[str] = (),
            parent: str = "", extra: dict[str, Any] | None = None) -> ImageRecord:
        """Record an image whose blobs are in the content store; unpacks missing layers."""
        manifest = oci.parse_manifest(manifest_bytes, self.limits)
        config = oci.parse_config(config_bytes, self.limits)
        image_id = oci.digest_of(config_bytes)
        if manifest["config"]["digest"] != image_id:
            raise InvalidSpec(f"manifest names config {manifest['config']['digest']}, but the config "
                              f"given is {image_id}", field="config")
        diff_ids = config.get("rootfs", {}).get("diff_ids") or []
        mlayers = manifest["layers"]
        if len(diff_ids) != len(mlayers):
            raise InvalidSpec(f"image config lists {len(diff_ids)} diff_ids for {len(mlayers)} layers",
                              field="rootfs.diff_ids")
        parsed = [self._name_key(n) for n in names]
        manifest_digest = self.content.put(manifest_bytes)
        self.content.put(config_bytes, expected=image_id)
        layers = tuple({"digest": m["digest"], "media_type": m.get("mediaType", oci.OCI_LAYER),
                        "size": m["size"], "diff_id": d} for m, d in zip(mlayers, diff_ids, strict=True))
        size = self._ensure_layers(layers)
        now = time.time()
        with self._lock():
            try:
                old = read_json(self._by_id / f"{image_id[7:]}.json")
            except FileNotFoundError:
                old = None
            rec = ImageRecord(id=image_id, manifest_digest=manifest_digest, config=config, layers=layers,
                              created=config.get("created") or "", size=size,
                              parent=parent or (old or {}).get("parent", ""),
                              added=(old or {}).get("added", now),
                              last_tag_time=now if parsed else (old or {}).get("last_tag_time", 0.0),
                              extra=extra if extra is not None else (old or {}).get("extra", {}))
            ensure_dir(self._by_id, 0o700)
            write_json(self._by_id / f"{image_id[7:]}.json", rec.to_dict())
            refs = self._refs()
            displaced = self._set_refs(refs, parsed, image_id)
            self._save_refs(refs)
        del displaced  # an image that lost its last name stays, dangling, as Docker keeps it
        return self.get(image_id)

    def create(self, config: dict[str, Any] | bytes, layers: list[dict[str, Any]], names: Iterable[str] = (),
               parent: str = "", extra: dict[str, Any] | None = None) -> ImageRecord:
        """Make an image from a config and layers already stored (import, load, commit, build)."""
        config_bytes = config if isinstance(config, bytes) else oci.config_bytes(config)
        manifest_bytes = oci.build_manifest(config_bytes, layers)
        return self.add(manifest_bytes, config_bytes, names, parent=parent, extra=extra)

    def _name_key(self, name: str) -> str:
        r = reference.parse(name)
        return f"{r.name}@{r.digest}" if r.digest else r.tagged

    def _set_refs(self, refs: dict[str, str], keys: list[str], image_id: str) -> list[str]:
        displaced = []
        for key in keys:
            old = refs.get(key)
            if old and old != image_id:
                displaced.append(old)
            refs[key] = image_id
        return displaced

    def _ensure_layers(self, layers: tuple[dict[str, Any], ...]) -> int:
        chains = self.snapshots.chain_id([x["diff_id"] for x in layers])
        parent = None
        size = 0
        for layer, chain in zip(layers, chains, strict=True):
            if not self.snapshots.has_layer(chain):
                with self.content.open(layer["digest"]) as f:
                    self.snapshots.unpack(chain, parent, f, expected_diff_id=layer["diff_id"],
                                          limits=self.limits)
            size += int(self.snapshots.layer_meta(chain).get("size") or 0)
            parent = chain
        return size

    # --- names ----------------------------------------------------------------------------
    def tag(self, src: str, target: str) -> ImageRecord:
        r = reference.parse(target)
        if r.digest:
            raise InvalidSpec(f"refusing to create a tag with a digest reference: {target}",
                              field="target", value=target)
        with self._lock():
            refs = self._refs()
            image_id = self.resolve_id(src, refs)
            refs[r.tagged] = image_id
            self._save_refs(refs)
            path = self._by_id / f"{image_id[7:]}.json"
            d = read_json(path)
            d["last_tag_time"] = time.time()
            write_json(path, d)
        return self.get(image_id)

    # --- removal --------------------------------------------------------------------------
    def remove(self, ref: str, force: bool = False,
               in_use_ids: Iterable[str] | Mapping[str, Iterable[str]] | None = None,
               prune_parents: bool = True) -> list[dict[str, str]]:
        """``docker rmi``: untag a name, or delete the image when no name is left.

        Like Docker, deleting an image also deletes the untagged parents a build or commit left
        behind, as long as nothing else (a name, a container, another child) needs them;
        ``prune_parents=False`` is ``--no-prune``.
        """
        users = _in_use_map(in_use_ids)
        with self._lock():
            refs = self._refs()
            image_id = self.resolve_id(ref, refs)
            rec = self._load(image_id, refs)
            names = list(rec.repo_tags) + list(rec.repo_digests)
            by_name = self._named(ref, refs, image_id)
            out: list[dict[str, str]] = []
            containers = users.get(image_id)
            if by_name is not None:
                remaining = [n for n in names if n != by_name]
                # The digest references of a repository go with its last tag, as Docker does.
                repo = by_name.rsplit("@", 1)[0] if "@" in by_name else by_name.rsplit(":", 1)[0]
                if "@" not in by_name and not any(n.startswith(repo + ":") for n in remaining):
                    remaining = [n for n in remaining if not n.startswith(repo + "@")]
                if not remaining and containers is not None and not force:
                    raise Conflict(
                        f'conflict: unable to remove repository reference "{ref}" (must force) - '
                        f"container {self._short(containers)} is using its referenced image {rec.short_id}",
                        image=image_id)
                for n in names:
                    if n not in remaining:
                        refs.pop(n, None)
                        out.append({"Untagged": familiar(n)})
                if remaining or containers is not None:
                    self._save_refs(refs)
                    return out
            else:
                if containers is not None:
                    if not force:
                        raise Conflict(f"conflict: unable to delete {rec.short_id} (must be forced) - image is "
                                       f"being used by stopped container {self._short(containers)}",
                                       image=image_id)
                if len({n.rsplit('@', 1)[0].rsplit(':', 1)[0] for n in rec.repo_tags}) > 1 and not force:
                    raise Conflict(f"conflict: unable to delete {rec.short_id} (must be forced) - image is "
                                   "referenced in multiple repositories", image=image_id)
                for n in names:
                    refs.pop(n, None)
                    out.append({"Untagged": familiar(n)})
                if containers is not None:
                    self._save_refs(refs)
                    return out
            children = [i for i in self._ids() if i != image_id and self._parent_of(i) == image_id]
            if children:
                self._save_refs(refs)
                if out:
                    return out
                raise Conflict(f"conflict: unable to delete {rec.short_id} (cannot be forced) - image has "
                               "dependent child images", image=image_id)
            self._save_refs(refs)
            out += self._delete(rec, users)
            if prune_parents:
                out += self._prune_parents(rec.parent, refs, users)
        return out

    def _prune_parents(self, parent: str, refs: dict[str, str], users: dict[str, list[str]]) -> list[dict[str, str]]:
        out: list[dict[str, str]] = []
        named = set(refs.values())
        while parent and parent not in named and parent not in users:
            try:
                prec = self._load(parent, refs)
            except NotFound:
                break
            if any(i != parent and self._parent_of(i) == parent for i in self._ids()):
                break
            out += self._delete(prec, users)
            parent = prec.parent
        return out

    @staticmethod
    def _short(containers: list[str]) -> str:
        return containers[0][:12] if containers else "(unknown)"

    @staticmethod
    def _named(ref: str, refs: dict[str, str], image_id: str) -> str | None:
        """The reference key ``ref`` names, when it is a name rather than an id."""
        if ref.startswith("sha256:"):
            return None
        try:
            r = reference.parse(ref)
        except InvalidSpec:
            return None
        key = f"{r.name}@{r.digest}" if r.digest else r.tagged
        return key if refs.get(key) == image_id else None

    def _parent_of(self, image_id: str) -> str:
        with contextlib.suppress(FileNotFoundError, ValueError):
            return str(read_json(self._by_id / f"{image_id[7:]}.json").get("parent") or "")
        return ""

    def _delete(self, rec: ImageRecord, users: dict[str, list[str]]) -> list[dict[str, str]]:
        """Remove the record, then the blobs and layers nothing else refers to."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._by_id / f"{rec.id[7:]}.json")
        out = [{"Deleted": rec.id}]
        out += self._gc(rec)
        return out

    def _gc(self, gone: ImageRecord) -> list[dict[str, str]]:
        keep_blobs: set[str] = set()
        keep_chains: set[str] = set(self.snapshots.active_chains())
        for i in self._ids():
            with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
                d = read_json(self._by_id / f"{i[7:]}.json")
                keep_blobs.update((d["id"], d["manifest_digest"]))
                keep_blobs.update(x["digest"] for x in d.get("layers") or ())
                keep_chains.update(self.snapshots.chain_id([x["diff_id"] for x in d.get("layers") or ()]))
        out = []
        chains = self.snapshots.chain_id(gone.diff_ids)
        for chain in reversed(chains):
            if chain not in keep_chains and self.snapshots.has_layer(chain):
                with contextlib.suppress(Conflict):
                    self.snapshots.remove_layer(chain)
                    out.append({"Deleted": chain})
        for digest in [gone.id, gone.manifest_digest] + [x["digest"] for x in gone.layers]:
            if digest not in keep_blobs and is_digest(digest):
                self.content.delete(digest)
        return out

    def prune(self, all: bool = False,  # noqa: A002 - docker's flag name
              in_use_ids: Iterable[str] | Mapping[str, Iterable[str]] | None = None,
              filters: dict[str, list[str]] | None = None) -> dict[str, Any]:
        """``docker image prune``: dangling images, or with ``all`` every image no container uses."""
        users = _in_use_map(in_use_ids)
        filters = filters or {}
        deleted: list[dict[str, str]] = []
        reclaimed = 0
        records = self.list()
        parents = {r.parent for r in records if r.parent}
        for rec in records:
            if rec.id in users or rec.id in parents:
                continue
            if not all and rec.repo_tags:
                continue
            if not _matches_prune_filters(rec, filters):
                continue
            before = self._disk_bytes()
            try:
                deleted += self.remove(rec.id, force=True, in_use_ids=users)
            except (NotFound, Conflict):
                continue
            reclaimed += max(0, before - self._disk_bytes())
        reclaimed += self._sweep_blobs()
        return {"ImagesDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    def _sweep_blobs(self, min_age: float = 3600.0) -> int:
        """Remove blobs no image refers to (failed pulls, hostile layers) once they are old
        enough that no pull or build in progress can still be about to record them."""
        # digests named in references (e.g. a pulled index) are kept with the image
        keep: set[str] = {k.rsplit("@", 1)[1] for k in self._refs() if "@" in k}
        for i in self._ids():
            with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
                d = read_json(self._by_id / f"{i[7:]}.json")
                keep.update((d["id"], d["manifest_digest"]))
                keep.update(x["digest"] for x in d.get("layers") or ())
        now = time.time()
        freed = 0
        for digest, size in list(self.content.list()):
            if digest in keep:
                continue
            with contextlib.suppress(FileNotFoundError, NotFound):
                if now - self.content.path(digest).stat().st_mtime > min_age:
                    self.content.delete(digest)
                    freed += size
        return freed

    def _disk_bytes(self) -> int:
        total = sum(size for _, size in self.content.list())
        total += sum(int(m.get("size") or 0) for m in self.snapshots.layers())
        return total

    # --- archives (archive.py) -------------------------------------------------------------
    def import_rootfs(self, fileobj: Any, changes: Iterable[str] = (), message: str = "",
                      names: Iterable[str] = (), source: str = "-", platform: str | None = None,
                      extra: dict[str, Any] | None = None) -> ImageRecord:
        from .archive import import_rootfs
        return import_rootfs(self, fileobj, changes, message, names, source, platform, extra)

    def save(self, refs: list[str], out: Any, progress: Any = None) -> None:
        """Write images to ``out``: a binary stream, or a path (written atomically)."""
        from .archive import save, save_to_path
        if isinstance(out, (str, os.PathLike)):
            save_to_path(self, refs, os.fspath(out), progress)
        else:
            save(self, refs, out, progress)

    def load(self, source: Any, progress: Any = None) -> list[str]:
        from .archive import load
        return load(self, source, progress)

    # --- reading out ----------------------------------------------------------------------
    def inspect(self, ref: str) -> dict[str, Any]:
        from .imageview import inspect_image
        rec = self.get(ref)
        return inspect_image(rec, self.snapshots.image_graph_driver(self.rootfs_chain(rec)))

    def history(self, ref: str) -> list[dict[str, Any]]:
        from .imageview import history
        rec = self.get(ref)
        chains = self.snapshots.chain_id(rec.diff_ids)
        sizes = []
        for c in chains:
            try:
                sizes.append(int(self.snapshots.layer_meta(c).get("size") or 0))
            except NotFound:
                sizes.append(0)
        return history(rec, sizes)

    def layer_sizes(self, rec: ImageRecord) -> list[int]:
        out = []
        for c in self.snapshots.chain_id(rec.diff_ids):
            try:
                out.append(int(self.snapshots.layer_meta(c).get("size") or 0))
            except NotFound:
                out.append(0)
        return out


def _matches_prune_filters(rec: ImageRecord, filters: dict[str, list[str]]) -> bool:
    for value in filters.get("until", []):
        from .imageview import until_epoch
        if oci.parse_time(rec.created) >= until_epoch(value):
            return False
    labels = (rec.config.get("config") or {}).get("Labels") or {}
    for want in filters.get("label", []):
        k, eq, v = want.partition("=")
        if k not in labels or (eq and labels[k] != v):
            return False
    for want in filters.get("label!", []):
        k, eq, v = want.partition("=")
        if k in labels and (not eq or labels[k] == v):
            return False
    return True
