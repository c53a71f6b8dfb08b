"""What the host_info module reports: engine facts, object lists with filters, disk usage.

Shapes follow Docker's API (``/info``, ``/containers/json``, ``/images/json``, ``/volumes``,
``/networks``, ``/system/df``) as community.docker.docker_host_info returns them: without
``verbose_output`` each list keeps a few identifying fields per object. Reading only: nothing
here changes the engine's state.
"""
from __future__ import annotations

import fnmatch
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from . import filters as flt
from .errors import InvalidSpec

if TYPE_CHECKING:  # pragma: no cover
    from .engine import Engine

IMAGE_FILTERS = ("dangling", "label", "reference")
BRIEF = {
    "containers": ("Id", "Image", "Command", "Created", "Status", "Ports", "Names"),
    "images": ("Id", "RepoTags", "Created", "Size"),
    "volumes": ("Driver", "Name"),
    "networks": ("Id", "Driver", "Name", "Scope"),
}


def host_facts(engine: Engine) -> dict[str, Any]:
    """Docker's /info, as `berth info` prints it."""
    from .cli.system import info_data
    return info_data(SimpleNamespace(engine=engine))  # type: ignore[arg-type]


def _brief(kind: str, rows: list[dict[str, Any]], verbose: bool) -> list[dict[str, Any]]:
    if verbose:
        return rows
    return [{k: r.get(k) for k in BRIEF[kind]} for r in rows]


def list_images(engine: Engine, filters: dict[str, list[str]]) -> list[dict[str, Any]]:
    for key in filters:
        if key not in IMAGE_FILTERS:
            raise InvalidSpec(f"images_filters: invalid filter {key!r} (one of {', '.join(IMAGE_FILTERS)})",
                              field="images_filters", value=key)
    from . import reference

    dangling = flt.get_bool(filters, "dangling")
    rows = []
    for rec in engine.images.list():
        tags = [reference.parse(t).familiar for t in rec.repo_tags]
        digests = [_familiar_digest(d) for d in rec.repo_digests]
        labels = (rec.config.get("config") or {}).get("Labels") or {}
        if dangling is not None and dangling != (not rec.repo_tags):
            continue
        if not flt.match_label_filters(filters, labels):
            continue
        refs = filters.get("reference") or []
        if refs and not any(_match_ref(t, r) for t in tags for r in refs):
            continue
        rows.append({"Id": rec.id, "ParentId": rec.parent or "", "RepoTags": tags, "RepoDigests": digests, "Created": _epoch(rec.created), "Size": rec.size,
                     "Labels": labels, "Containers": -1})
    return rows


def _familiar_digest(ref: str) -> str:
    from . import reference
    name, sep, digest = ref.partition("@")
    return f"{reference.parse(name).familiar_name}@{digest}" if sep else ref


def _match_ref(tag: str, pattern: str) -> bool:
    name = tag.rsplit(":", 1)[0] if ":" in tag.rsplit("/", 1)[-1] else tag
    return fnmatch.fnmatchcase(tag, pattern) or fnmatch.fnmatchcase(name, pattern)


def _epoch(created: str) -> int:
    from .store import oci
    return int(oci.parse_time(created))


def host_info(engine: Engine, p: dict[str, Any]) -> dict[str, Any]:
    """The module's result: host_info always, the lists and disk usage when asked."""
    out: dict[str, Any] = {"host_info": host_facts(engine), "can_talk_to_engine": True}
    verbose = bool(p.get("verbose_output"))

    def wanted(kind: str) -> dict[str, list[str]] | None:
        if not p.get(kind):
            return None
        return flt.as_dict(p.get(f"{kind}_filters") or {})

    if (f := wanted("containers")) is not None:
        rows = engine.containers.list(all=bool(p.get("containers_all")), filters=f)
        out["containers"] = _brief("containers", rows, verbose)
    if (f := wanted("images")) is not None:
        out["images"] = _brief("images", list_images(engine, f), verbose)
    if (f := wanted("volumes")) is not None:
        out["volumes"] = _brief("volumes", engine.volumes.list(f), verbose)
    if (f := wanted("networks")) is not None:
        out["networks"] = _brief("networks", engine.networks.list(f), verbose)
    if p.get("disk_usage"):
        du = engine.system_df()
        if verbose:
            out["disk_usage"] = du
        else:
            out["disk_usage"] = {
                "LayersSize": du["LayersSize"],
                "Images": len(du["Images"]), "Containers": len(du["Containers"]),
                "Volumes": len(du["Volumes"]), "BuildCache": len(du["BuildCache"]),
                "ContainersSize": sum(c.get("SizeRw") or 0 for c in du["Containers"]),
                "VolumesSize": sum((v.get("UsageData") or {}).get("Size") or 0 for v in du["Volumes"]),
                "BuildCacheSize": sum(b.get("Size") or 0 for b in du["BuildCache"]),
            }
    return out
