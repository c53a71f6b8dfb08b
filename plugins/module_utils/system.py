"""Disk usage and pruning across the engine's services (``system df``, ``system prune``).

The image parts use the store; containers, volumes, networks and the build cache are asked of
their services through the engine when those packages exist (a missing package means nothing
of that kind exists yet).
"""
from __future__ import annotations

import contextlib
import os
from typing import Any

from .errors import BerthError


def _service(engine: Any, name: str) -> Any | None:
    try:
        return getattr(engine, name)
    except (ImportError, AttributeError):
        return None


def images_in_use(engine: Any) -> dict[str, list[str]]:
    """Image id -> ids of the containers (any state) created from it."""
    containers = _service(engine, "containers")
    if containers is None:
        return {}
    out: dict[str, list[str]] = {}
    store = getattr(containers, "store", None)
    if store is not None and hasattr(store, "all"):
        for rec in store.all():
            out.setdefault(rec.image_id, []).append(rec.id)
        return out
    finder = getattr(containers, "image_ids_in_use", None)
    if callable(finder):
        return {i: [] for i in finder()}
    return out


def _dir_bytes(path: Any) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, f)).st_size
    return total


def _image_rows(engine: Any, users: dict[str, list[str]]) -> tuple[list[dict[str, Any]], int]:
    from .store import oci
    images = engine.images.list()
    chain_users: dict[str, int] = {}
    chains_of: dict[str, list[str]] = {}
    for rec in images:
        chains = engine.snapshots.chain_id(rec.diff_ids)
        chains_of[rec.id] = chains
        for c in chains:
            chain_users[c] = chain_users.get(c, 0) + 1
    layer_size: dict[str, int] = {}
    for meta in engine.snapshots.layers():
        layer_size[meta["chain_id"]] = int(meta.get("size") or 0)
    rows = []
    for rec in images:
        shared = sum(layer_size.get(c, 0) for c in chains_of[rec.id] if chain_users.get(c, 0) > 1)
        rows.append({
            "Id": rec.id, "ParentId": rec.parent, "RepoTags": [_familiar(t) for t in rec.repo_tags],
            "RepoDigests": [_familiar(d) for d in rec.repo_digests],
            "Created": int(oci.parse_time(rec.created)), "Size": rec.size, "SharedSize": shared,
            "VirtualSize": rec.size, "Labels": (rec.config.get("config") or {}).get("Labels") or {},
            "Containers": len(users.get(rec.id, [])),
        })
    return rows, sum(layer_size.values())


def _familiar(ref: str) -> str:
    from .store.images import familiar
    return familiar(ref)


def disk_usage(engine: Any) -> dict[str, Any]:
    """Docker's /system/df: LayersSize, Images, Containers, Volumes, BuildCache."""
    users = images_in_use(engine)
    images, layers_size = _image_rows(engine, users)
    out: dict[str, Any] = {"LayersSize": layers_size, "Images": images, "Containers": [], "Volumes": [],
                           "BuildCache": []}
    containers = _service(engine, "containers")
    if containers is not None:
        with contextlib.suppress(BerthError, OSError):
            out["Containers"] = containers.list(all=True, size=True)
    volumes = _service(engine, "volumes")
    if volumes is not None:
        with contextlib.suppress(BerthError, OSError):
            vol_users: dict[str, list[str]] = {}
            with contextlib.suppress(ImportError):
                from .volumes.usage import volume_users
                vol_users = volume_users(engine)
            rows = []
            for v in volumes.list():
                v = dict(v)
                v["UsageData"] = {"Size": volumes.size(v["Name"]), "RefCount": len(vol_users.get(v["Name"], []))}
                rows.append(v)
            out["Volumes"] = rows
    out["BuildCache"] = _build_cache(engine)
    return out


def _build_cache(engine: Any) -> list[dict[str, Any]]:
    builder = _service(engine, "builder")
    usage = getattr(builder, "cache_usage", None) if builder is not None else None
    if callable(usage):
        with contextlib.suppress(BerthError, OSError):
            return list(usage())
    path = engine.paths.buildcache
    if not os.path.isdir(path):
        return []
    rows = []
    with os.scandir(path) as it:
        for e in it:
            with contextlib.suppress(OSError):
                st = e.stat(follow_symlinks=False)
                rows.append({"ID": e.name, "Type": "regular", "Size": _dir_bytes(e.path) if e.is_dir()
                             else st.st_size, "CreatedAt": st.st_mtime, "LastUsedAt": st.st_atime,
                             "UsageCount": 0, "InUse": False, "Shared": False, "Description": e.name})
    return rows


def prune_build_cache(engine: Any, all: bool = False) -> dict[str, Any]:  # noqa: A002
    builder = _service(engine, "builder")
    pruner = getattr(builder, "prune", None) if builder is not None else None
    if callable(pruner):
        return dict(pruner(all=all))
    from .fsutil import discard_into
    deleted, reclaimed = [], 0
    for row in _build_cache(engine):
        reclaimed += int(row.get("Size") or 0)
        discard_into(engine.paths.tmp, engine.paths.buildcache / row["ID"])
        deleted.append(row["ID"])
    return {"CachesDeleted": deleted or None, "SpaceReclaimed": reclaimed}


def prune(engine: Any, all_images: bool = False, volumes: bool = False,
          filters: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """``docker system prune``: stopped containers, unused networks, dangling (or with
    ``all_images`` unused) images, the build cache, and with ``volumes`` unused volumes."""
    filters = filters or {}
    out: dict[str, Any] = {"ContainersDeleted": [], "NetworksDeleted": [], "VolumesDeleted": [],
                           "ImagesDeleted": [], "CachesDeleted": [], "SpaceReclaimed": 0}
    containers = _service(engine, "containers")
    if containers is not None:
        res = containers.prune(filters or None)
        out["ContainersDeleted"] = res.get("ContainersDeleted") or []
        out["SpaceReclaimed"] += int(res.get("SpaceReclaimed") or 0)
    networks = _service(engine, "networks")
    if networks is not None and containers is not None:
        in_use: set[str] = set()
        with contextlib.suppress(BerthError, AttributeError):
            for c in containers.list(all=True):
                in_use.update(((c.get("NetworkSettings") or {}).get("Networks") or {}).keys())
        with contextlib.suppress(BerthError):
            out["NetworksDeleted"] = networks.prune(in_use=in_use)
    if volumes:
        vols = _service(engine, "volumes")
        if vols is not None:
            from .volumes.usage import volume_users
            res = vols.prune(in_use=set(volume_users(engine)))
            out["VolumesDeleted"] = res.get("VolumesDeleted") or []
            out["SpaceReclaimed"] += int(res.get("SpaceReclaimed") or 0)
    img_filters = {k: v for k, v in filters.items() if k in ("until", "label", "label!")}
    res = engine.images.prune(all=all_images, in_use_ids=images_in_use(engine), filters=img_filters)
    out["ImagesDeleted"] = res.get("ImagesDeleted") or []
    out["SpaceReclaimed"] += int(res.get("SpaceReclaimed") or 0)
    res = prune_build_cache(engine, all=all_images)
    out["CachesDeleted"] = res.get("CachesDeleted") or []
    out["SpaceReclaimed"] += int(res.get("SpaceReclaimed") or 0)
    return out
