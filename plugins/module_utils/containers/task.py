"""The container modules' one call each: their params in, a Change and the result out.

``run_container_task`` serves berth.engine.container, ``run_containers_task`` the one-task form
(berth.engine.containers) over one engine: each item is validated against the container
module's own argument spec, converged in order, and reported one result per container.
"""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..errors import BerthError, InvalidSpec, NotFound, RuntimeFailure
from ..types import Change
from .argspec import validate_items
from .ensure import EnsureOptions, ensure
from .params import given_options, ignored_fields, spec_from_params

if TYPE_CHECKING:  # pragma: no cover
    from ..engine import Engine

OUTPUT_LIMIT = 1 << 20  # a non-detached container's output kept in the result


def options_from_params(p: dict[str, Any]) -> EnsureOptions:
    return EnsureOptions(
        state=p.get("state") or "started", recreate=bool(p.get("recreate")),
        ignore=ignored_fields(p.get("comparisons"), given_options(p)), pull=p.get("pull") or "missing",
        platform=p.get("platform"), force_kill=bool(p.get("force_kill")),
        keep_volumes=p.get("keep_volumes", True) is not False, stop_timeout=p.get("stop_timeout"),
        healthy_timeout=p.get("healthy_wait_timeout", 300.0), detach=p.get("detach", True) is not False)


def run_container_task(engine: Engine, p: dict[str, Any], apply: bool = True) -> tuple[Change, dict[str, Any]]:
    """Converge one container; (the Change, extra result keys: container, status)."""
    opts = options_from_params(p)
    spec = None
    if opts.state != "absent":
        if not p.get("image"):
            # no image: converge an existing container's state only, whatever made it
            try:
                spec = engine.containers.get(p["name"]).spec
            except NotFound:
                raise InvalidSpec(f"image: is required to create container {p['name']!r}", field="image",
                                  value=p["name"]) from None
            # the task named no image: a newer image behind the stored name is not its business
            opts = replace(opts, ignore=(*opts.ignore, "image"), pull="never")
        else:
            spec = spec_from_params(p)
            if not apply:
                _check_caps(spec)  # a create checks them; check mode has no create to do it
    try:
        change = ensure(engine.containers, p["name"], spec, opts.state, apply=apply, options=opts)
    except InvalidSpec as exc:
        raise _named(exc) from None
    extra: dict[str, Any] = {}
    container = _inspect(engine, p["name"]) if (apply or not change.changed) else None
    if apply and not opts.detach and "start" in change.actions and opts.state in ("started", "restarted"):
        status, output = _wait_output(engine, change.after["id"] if change.after else p["name"])
        extra["status"] = status
        container = _inspect(engine, p["name"])
        if container is not None:
            container["Output"] = output
        if status != 0:
            raise RuntimeFailure(f"container {p['name']} exited with code {status}: {output[-2000:]}",
                                 status=status)
    if container is None and not apply and change.changed and opts.state != "absent":
        container = _inspect(engine, p["name"])
    extra["container"] = container if container is not None else {}
    return change, extra


def _check_caps(spec: Any) -> None:
    from ..runtime import caps
    try:
        caps.resolve(list(spec.cap_add), list(spec.cap_drop), spec.privileged)
    except InvalidSpec as exc:
        raise _named(exc) from None


def _named(exc: InvalidSpec) -> InvalidSpec:
    """The engine's errors name the CLI's fields: say which module option to fix."""
    option = {"cap_add": "capabilities", "cap_drop": "cap_drop"}.get(str(exc.details.get("field")))
    if option is None or exc.msg.startswith(f"{option}:"):
        return exc
    return InvalidSpec(f"{option}: {exc.msg}", field=option, value=exc.details.get("value"))


def _inspect(engine: Engine, name: str) -> dict[str, Any] | None:
    try:
        return engine.containers.inspect(name)
    except NotFound:
        return None


def _wait_output(engine: Engine, ref: str) -> tuple[int, str]:
    """Wait for a non-detached container's exit; its exit code and output."""
    svc = engine.containers
    try:
        cid = svc.resolve(ref)
    except NotFound:
        return 0, ""
    status = svc.wait(cid)
    chunks: list[bytes] = []
    size = 0
    try:
        for _stream, _time, data in engine.runtime.logs(cid):
            chunks.append(data)
            size += len(data)
            if size > OUTPUT_LIMIT:
                break
    except (BerthError, OSError):
        pass  # an auto-removed container took its log with it
    return status, b"".join(chunks)[:OUTPUT_LIMIT].decode("utf-8", "replace")


def run_containers_task(engine: Engine, items: list[Any], defaults: dict[str, Any] | None = None,
                        apply: bool = True) -> tuple[Change, list[dict[str, Any]]]:
    """Validate the items (argspec.validate_items), then converge them."""
    return converge_containers(engine, validate_items(items, defaults), apply)


def converge_containers(engine: Engine, params: list[dict[str, Any]],
                        apply: bool = True) -> tuple[Change, list[dict[str, Any]]]:
    """Converge every validated item in order; (one Change for the task, one result per container)."""
    results: list[dict[str, Any]] = []
    changed = False
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    actions: list[str] = []
    for p in params:
        try:
            change, extra = run_container_task(engine, p, apply=apply)
        except BerthError as exc:
            # the items before this one were converged: say which changed, not only what failed
            exc.msg = f"{p['name']}: {exc.msg}"
            exc.details["changed_before_failure"] = [r["name"] for r in results if r["changed"]]
            raise
        changed |= change.changed
        if change.changed:
            before[p["name"]] = change.before
            after[p["name"]] = change.after
            actions += [f"{p['name']}: {a}" for a in change.actions]
        results.append({"name": p["name"], "changed": change.changed, "actions": list(change.actions), **extra})
    return Change(changed, before, after, tuple(actions)), results
