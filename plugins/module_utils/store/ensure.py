"""Idempotent image states for the ``image`` module: present from a tarball, absent, tagged.

Each entry point compares the desired state with what the store holds, applies the difference
unless ``apply`` is False (check mode), and returns a Change whose before/after are the image's
inspect data. An import remembers the tarball's sha256 (and the changes and message) with the
image, so the same inputs are recognised without importing again; a load peeks at the archive's
metadata to learn which image id a name would get.
"""
from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from .. import reference
from ..errors import Conflict, InvalidSpec, NotFound
from ..types import Change

if TYPE_CHECKING:  # pragma: no cover
    from .images import ImageStore


def full_name(name: str, tag: str | None) -> str:
    """``name`` with ``tag`` unless ``name`` carries its own tag or digest (as community.docker)."""
    r = reference.parse(name, default_tag=False)
    if r.tag or r.digest:
        return str(r)
    return str(r.with_tag(tag or "latest"))


def _inspect(store: ImageStore, ref: str) -> dict[str, Any] | None:
    try:
        return store.inspect(ref)
    except NotFound:
        return None


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except FileNotFoundError:
        raise NotFound(f"import_path/load_path {path!r} does not exist", path=path) from None
    except IsADirectoryError:
        return ""
    return "sha256:" + h.hexdigest()


def ensure_imported(store: ImageStore, name: str, path: str, changes: list[str] | None = None,
                    message: str = "", force: bool = False, apply: bool = True) -> Change:
    """``name`` names the image made from the rootfs tarball at ``path``."""
    ref = full_name(name, None)
    before = _inspect(store, ref)
    source = {"sha256": file_sha256(path), "changes": list(changes or []), "message": message or ""}
    if before is not None and not force:
        rec = store.get(before["Id"])
        if rec.extra.get("import") == source:
            return Change.none(before)
    if not apply:
        return Change(True, before, {"RepoTags": [reference.parse(ref).familiar]}, (f"import {path} as {ref}",))
    with open(path, "rb") as f:
        rec = store.import_rootfs(f, changes=changes or [], message=message, names=[ref], source="-",
                                  extra={"import": source})
    after = store.inspect(rec.id)
    if before is not None and before["Id"] == after["Id"]:
        return Change.none(after)
    return Change(True, before, after, (f"import {path} as {reference.parse(ref).familiar}",))


def ensure_loaded(store: ImageStore, name: str, path: str, force: bool = False, apply: bool = True) -> Change:
    """``name`` names the image that the archive at ``path`` holds under that name."""
    from .archive_load import peek
    ref = full_name(name, None)
    r = reference.parse(ref)
    before = _inspect(store, ref)
    held = peek(path)
    key = r.tagged if not r.digest else f"{r.name}@{r.digest}"
    want_id = held.get(key)
    if want_id is None and len(set(held.values())) == 1 and "" in held:
        want_id = held[""]   # an archive without names: the one image it holds takes the name
    if want_id is None:
        names = ", ".join(sorted(reference.parse(k).familiar for k in held if k)) or "no names"
        raise InvalidSpec(f"load_path {path!r} does not hold {r.familiar} (it holds {names})",
                          field="load_path", value=path)
    if before is not None and before["Id"] == want_id and not force:
        return Change.none(before)
    if not apply:
        return Change(True, before, {"Id": want_id, "RepoTags": [r.familiar]}, (f"load {path}",))
    store.load(path)
    if not store.exists(ref):
        store.tag(want_id, ref)
    after = store.inspect(ref)
    if before is not None and before["Id"] == after["Id"]:
        return Change.none(after)
    return Change(True, before, after, (f"load {path}",))


def ensure_tagged(store: ImageStore, source: str, target: str, force: bool = False,
                  apply: bool = True) -> Change:
    """``target`` names the same image as ``source``; moving it from another image needs ``force``."""
    src = store.inspect(source)
    tref = full_name(target, None)
    before = _inspect(store, tref)
    if before is not None and before["Id"] == src["Id"]:
        return Change.none(before)
    if before is not None and not force:
        raise Conflict(f"repository {reference.parse(tref).familiar} already names image {before['Id'][7:19]}; "
                       "set force_tag to move it", field="repository", value=target)
    familiar = reference.parse(tref).familiar
    if not apply:
        return Change(True, before, dict(src, RepoTags=sorted(set(src["RepoTags"]) | {familiar})),
                      (f"tag {familiar}",))
    store.tag(src["Id"], tref)
    return Change(True, before, store.inspect(tref), (f"tag {familiar}",))


def ensure_absent(store: ImageStore, name: str, force: bool = False,
                  in_use: dict[str, list[str]] | None = None, apply: bool = True) -> Change:
    """No image answers to ``name`` (a name untags; an id removes the image)."""
    ref = name if _looks_like_id(name) else full_name(name, None)
    before = _inspect(store, ref)
    if before is None:
        return Change.none(None)
    if not apply:
        return Change(True, before, None, (f"remove {name}",))
    result = store.remove(ref, force=force, in_use_ids=in_use or {})
    actions = tuple(f"{k.lower()} {v}" for item in result for k, v in item.items())
    return Change(True, before, None, actions)


def _looks_like_id(value: str) -> bool:
    hexpart = value[7:] if value.startswith("sha256:") else value
    return value.startswith("sha256:") or (len(hexpart) in (12, 64) and all(c in "0123456789abcdef"
                                                                         for c in hexpart))


def ensure_image(engine: Any, params: dict[str, Any], apply: bool = True) -> Change:
    """The image module's one call: its parameters in, a Change out."""
    store = engine.images
    name = params["name"]
    if params["state"] == "absent":
        from ..system import images_in_use
        return ensure_absent(store, name if _looks_like_id(name) else full_name(name, params.get("tag")),
                             force=params.get("force_absent", False), in_use=images_in_use(engine), apply=apply)
    ref = name if _looks_like_id(name) else full_name(name, params.get("tag"))
    source = params.get("source") or "local"
    if source == "import":
        change = ensure_imported(store, ref, params["import_path"], params.get("changes") or [],
                                 params.get("message") or "", force=params.get("force_source", False),
                                 apply=apply)
    elif source == "load":
        change = ensure_loaded(store, ref, params["load_path"], force=params.get("force_source", False),
                               apply=apply)
    else:
        before = _inspect(store, ref)
        if before is None:
            raise NotFound(f"No such image: {reference.parse(ref).familiar} (source is local; use source "
                           "import or load to make it)", field="name", value=name)
        change = Change.none(before)
    if params.get("repository"):
        if not apply and change.changed and change.after is not None and "Id" not in change.after:
            return Change(True, change.before, change.after,
                          change.actions + (f"tag {params['repository']}",))
        if not apply and change.changed and not store.exists(ref):
            return Change(True, change.before, change.after, change.actions + (f"tag {params['repository']}",))
        tagged = ensure_tagged(store, ref, params["repository"], force=params.get("force_tag", False),
                               apply=apply)
        if tagged.changed:
            after = store.inspect(ref) if apply else tagged.after
            return Change(True, change.before, after, change.actions + tagged.actions)
    return change
