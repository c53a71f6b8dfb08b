"""Idempotent convergence of one container: plan (pure) and apply, for the `container` module.

The comparison is between the spec stored in config.json when the container was made and the
desired spec, field by field: values the image supplies are never in either (an absent command
is None in both), so they cannot cause a false "changed". Resources and the restart policy
change in place; an image whose id changed, or any other difference, re-creates.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import InvalidSpec, NotFound
from ..types import Change
from .spec import ContainerSpec

if TYPE_CHECKING:  # pragma: no cover
    from .records import ContainerRecord
    from .service import ContainerService

STATES = ("present", "started", "stopped", "absent", "restarted")
IN_PLACE = ("resources", "restart_policy")
NOT_COMPARED = ("name",)


@dataclass(frozen=True)
class ContainerPlan:
    actions: tuple[str, ...] = ()       # remove, create, update, start, stop, restart (in order)
    differences: tuple[str, ...] = ()   # spec fields (or "image") that differ

    @property
    def changed(self) -> bool:
        return bool(self.actions)


def diff_specs(current: ContainerSpec, desired: ContainerSpec, ignore: Iterable[str] = ()) -> list[str]:
    """Names of the fields whose desired value differs from the stored one."""
    skip = set(NOT_COMPARED) | set(ignore)
    a, b = current.to_dict(), desired.to_dict()
    return [k for k in b if k not in skip and a.get(k) != b[k]]


def plan_container(current: ContainerRecord | None, status: str | None, desired: ContainerSpec | None,
                   state: str, image_id: str | None = None, recreate: bool = False,
                   ignore: Iterable[str] = ()) -> ContainerPlan:
    """What to do to reach ``state`` (pure). ``status`` is the current run status."""
    if state not in STATES:
        raise InvalidSpec(f"invalid state {state!r}: one of {', '.join(STATES)}", field="state", value=state)
    if state == "absent":
        return ContainerPlan(("remove",) if current is not None else ())
    if desired is None:
        raise InvalidSpec("an image is required unless state is absent", field="image")
    running = status in ("running", "paused", "restarting")
    actions: list[str] = []
    diffs: list[str] = []
    if current is None:
        actions.append("create")
        running = False
    else:
        diffs = diff_specs(current.spec, desired, ignore)
        if image_id and image_id != current.image_id and "image" not in set(ignore):
            diffs.append("image")
        if recreate or any(d not in IN_PLACE for d in diffs):
            actions += ["remove", "create"]
            running = False
        elif diffs:
            actions.append("update")
    if state in ("started", "restarted"):
        if not running:
            actions.append("start")
        elif state == "restarted":
            actions.append("restart")
    elif state == "stopped" and running:
        actions.append("stop")
    elif state == "present" and current is not None and "create" in actions and status == "running":
        actions.append("start")  # a re-created container keeps running if it was running
    return ContainerPlan(tuple(actions), tuple(dict.fromkeys(diffs)))


def ensure(service: ContainerService, name: str, desired: ContainerSpec | None, state: str = "started",
           apply: bool = True, recreate: bool = False, ignore: Iterable[str] = ()) -> Change:
    """Converge the container called ``name``; check mode is ``apply=False`` (nothing touched)."""
    from dataclasses import replace

    if desired is not None and desired.name != name:
        desired = replace(desired, name=name)
    try:
        current: ContainerRecord | None = service.get(name)
    except NotFound:
        current = None
    status = service.state(current.id)["Status"] if current is not None else None
    image_id = None
    if desired is not None and state != "absent":
        try:
            image_id = service.engine.images.get(desired.image).id
        except NotFound:
            image_id = None  # the create will name the missing image
    plan = plan_container(current, status, desired, state, image_id, recreate, ignore)
    before = _view(current, status)
    if not plan.changed:
        return Change(False, before, before, ())
    if not apply:
        after = None if state == "absent" else {"spec": desired.to_dict() if desired else None,
                                                "status": _expected_status(plan, status)}
        return Change(True, before, after, plan.actions + tuple(f"differs: {d}" for d in plan.differences))
    cid = current.id if current is not None else None
    for action in plan.actions:
        if action == "remove":
            service.remove(cid or name, force=True)
            cid = None
        elif action == "create":
            cid = service.create(desired).id  # type: ignore[arg-type]
        elif action == "update":
            service.update(cid or name, resources=desired.resources,  # type: ignore[union-attr]
                           restart_policy=desired.restart_policy, replace_resources=True)  # type: ignore[union-attr]
        elif action == "start":
            service.start(cid or name)
        elif action == "stop":
            service.stop(cid or name)
        elif action == "restart":
            service.restart(cid or name)
    after_rec = None if state == "absent" else service.get(cid or name)
    after = _view(after_rec, service.state(after_rec.id)["Status"] if after_rec else None)
    return Change(True, before, after, plan.actions + tuple(f"differs: {d}" for d in plan.differences))


def _expected_status(plan: ContainerPlan, status: str | None) -> str | None:
    if "start" in plan.actions or "restart" in plan.actions:
        return "running"
    if "stop" in plan.actions:
        return "exited"
    if "create" in plan.actions:
        return "created"
    return status


def _view(rec: ContainerRecord | None, status: str | None) -> dict[str, Any] | None:
    if rec is None:
        return None
    return {"id": rec.id, "name": rec.name, "image_id": rec.image_id, "spec": rec.spec.to_dict(), "status": status}
