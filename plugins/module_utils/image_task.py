"""The image module's one call: pull, build, import, load or local; then tag and push.

Pull and push go through the registry service's ``ensure_pulled``/``ensure_pushed``; import,
load, local and absent through store/ensure.py; builds through ``engine.builder.build``, whose
layer cache makes a rebuild of an unchanged context cheap: a build is changed only when the
name ends up on another image than before.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import reference
from .errors import InvalidSpec, NotFound
from .store.ensure import _looks_like_id, ensure_image, ensure_tagged, full_name
from .types import Change

if TYPE_CHECKING:  # pragma: no cover
    from .engine import Engine


def _inspect(engine: Engine, ref: str) -> dict[str, Any] | None:
    try:
        return engine.images.inspect(ref)
    except NotFound:
        return None


def ensure_built(engine: Engine, ref: str, build: dict[str, Any], force: bool = False,
                 apply: bool = True) -> tuple[Change, dict[str, Any] | None]:
    """``ref`` names the image built from ``build`` (community.docker's spelling of its keys).

    Check mode cannot know what a build would make without building: it reports a change when
    the image is missing (or ``force``)."""
    if not build.get("path"):
        raise InvalidSpec("build: path is required when source is build", field="build.path")
    before = _inspect(engine, ref)
    familiar = reference.parse(ref).familiar
    action = f"build {familiar} from {build['path']}"
    if not apply:
        if before is None or force:
            return Change(True, before, {"RepoTags": [familiar]}, (action,)), None
        return Change.none(before), None
    args = {str(k): "" if v is None else str(v) for k, v in (build.get("args") or {}).items()}
    result = engine.builder.build(build["path"], dockerfile=build.get("dockerfile"), tags=[ref], build_args=args,
                                  target=build.get("target"), no_cache=bool(build.get("nocache")),
                                  pull=bool(build.get("pull")), network=build.get("network") or "default")
    after = engine.images.inspect(ref)
    summary = result.to_dict()
    if before is not None and before["Id"] == after["Id"]:
        return Change.none(after), summary
    return Change(True, before, after, (action,)), summary


def run_image_task(engine: Engine, p: dict[str, Any], apply: bool = True) -> tuple[Change, dict[str, Any]]:
    """The module's params in; (the Change, extra result keys)."""
    # "message" is reserved by Ansible; store/ensure.py reads the import's message under it
    p = dict(p, message=p.get("import_message") or p.get("message") or "")
    source = p.get("source") or "local"
    extra: dict[str, Any] = {}
    if p["state"] == "absent" or source in ("import", "load", "local"):
        base = ensure_image(engine, dict(p, repository=None), apply=apply)
        if p["state"] == "absent":
            return base, {"image": base.after}
        ref = p["name"] if _looks_like_id(p["name"]) else full_name(p["name"], p.get("tag"))
    else:
        ref = full_name(p["name"], p.get("tag"))
        if source == "pull":
            base = engine.registry.ensure_pulled(ref, force=bool(p.get("force_source")), platform=p.get("platform"),
                                                 apply=apply)
        elif source == "build":
            base, summary = ensure_built(engine, ref, p.get("build") or {}, force=bool(p.get("force_source")),
                                         apply=apply)
            if summary is not None:
                extra["build"] = summary
        else:
            raise InvalidSpec(f"source: unknown source {source!r}", field="source", value=source)
    actions = list(base.actions)
    changed = base.changed
    present = engine.images.exists(ref)
    target = ref
    if p.get("repository"):
        target = full_name(p["repository"], p.get("tag"))
        if present:
            tagged = ensure_tagged(engine.images, ref, target, force=bool(p.get("force_tag")), apply=apply)
            changed |= tagged.changed
            actions += tagged.actions
        else:  # check mode: the image would be made first
            actions.append(f"tag {reference.parse(target).familiar}")
    if p.get("push"):
        if engine.images.exists(target):
            pushed = engine.registry.ensure_pushed(target, apply=apply)
            changed |= pushed.changed
            actions += pushed.actions
            extra["push"] = pushed.after
        elif apply:
            raise NotFound(f"push: no image {reference.parse(target).familiar} to push", field="push")
        else:
            actions.append(f"push {reference.parse(target).familiar}")
            changed = True
    after = _inspect(engine, ref) if apply or not base.changed else base.after
    image = after if after is not None else base.after
    return Change(changed, base.before, image, tuple(actions)), {"image": image, **extra}
