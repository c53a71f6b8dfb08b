"""Idempotent convergence of one container: plan (pure) and apply, for the container modules.

The comparison is between the spec stored in config.json when the container was made and the
desired spec, field by field: values the image supplies are never in either (an absent command
is None in both), so they cannot cause a false "changed". Resources and the restart policy
change in place, as do the networks a container joins (when the service can connect and
disconnect); an image whose id changed, or any other difference, re-creates.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..errors import BerthError, InvalidSpec, NotFound
from ..types import Change
from .spec import ContainerSpec

if TYPE_CHECKING:  # pragma: no cover
    from .records import ContainerRecord
    from .service import ContainerService

STATES = ("present", "started", "stopped", "absent", "restarted", "healthy")
NOT_COMPARED = ("name",)
NETWORK_FIELDS = ("networks", "network_mode")
RUNNING = ("running", "paused", "restarting")


@dataclass(frozen=True)
class ContainerPlan:
    actions: tuple[str, ...] = ()       # remove, create, update, network, start, stop, restart (in order)
    differences: tuple[str, ...] = ()   # spec fields (resources.x, or "image") that differ

    @property
    def changed(self) -> bool:
        return bool(self.actions)


def flat_spec(spec: ContainerSpec) -> dict[str, Any]:
    """The spec as a dict whose resources are compared one limit at a time."""
    d = spec.to_dict()
    for k, v in d.pop("resources").items():
        d[f"resources.{k}"] = v
    return d


def diff_specs(current: ContainerSpec, desired: ContainerSpec, ignore: Iterable[str] = ()) -> list[str]:
    """Names of the fields whose desired value differs from the stored one."""
    skip = set(NOT_COMPARED) | set(ignore)
    a, b = flat_spec(current), flat_spec(desired)
    return [k for k in b if k not in skip and a.get(k) != b[k]]


def _bridged(mode: str) -> bool:
    return mode not in ("host", "none") and not mode.startswith("container:")


def network_names(spec: ContainerSpec) -> list[str]:
    """The networks a spec joins, first the one of its network mode (as NetworkAttacher does)."""
    if not _bridged(spec.network_mode):
        return []
    names = ["bridge" if spec.network_mode == "default" else spec.network_mode]
    return names + [n.name for n in spec.networks if n.name not in names]


def in_place(diff: str, current: ContainerSpec, desired: ContainerSpec, networks_in_place: bool) -> bool:
    """Whether one difference can be applied to the existing container."""
    if diff == "restart_policy":
        return True
    if diff.startswith("resources."):
        # a limit lifted cannot be taken off a live cgroup by an update: only set or change one
        key = diff.split(".", 1)[1]
        return getattr(desired.resources, key) not in (None, 0, False) or \
            getattr(current.resources, key) in (None, 0, False)
    if diff in NETWORK_FIELDS:
        # re-joining the only network would leave none for a moment (mode none refuses joins)
        only = network_names(current) == network_names(desired) and len(network_names(desired)) == 1
        return networks_in_place and _bridged(current.network_mode) and _bridged(desired.network_mode) \
            and not only
    return False


def plan_container(current: ContainerRecord | None, status: str | None, desired: ContainerSpec | None,
                   state: str, image_id: str | None = None, recreate: bool = False,
                   ignore: Iterable[str] = (), networks_in_place: bool = False) -> ContainerPlan:
    """What to do to reach ``state`` (pure). ``status`` is the current run status."""
    if state not in STATES:
        raise InvalidSpec(f"state: invalid state {state!r}: one of {', '.join(STATES)}", field="state",
                          value=state)
    if state == "absent":
        return ContainerPlan(("remove",) if current is not None else ())
    if desired is None:
        raise InvalidSpec("image: an image is required unless state is absent", field="image")
    running = status in RUNNING
    actions: list[str] = []
    diffs: list[str] = []
    if current is None:
        actions.append("create")
        running = False
    else:
        diffs = diff_specs(current.spec, desired, ignore)
        if image_id and image_id != current.image_id and "image" not in set(ignore):
            diffs.append("image")
        if recreate or any(not in_place(d, current.spec, desired, networks_in_place) for d in diffs):
            actions += ["remove", "create"]
            running = False
        else:
            if any(d == "restart_policy" or d.startswith("resources.") for d in diffs):
                actions.append("update")
            if any(d in NETWORK_FIELDS for d in diffs):
                actions.append("network")
    if state in ("started", "restarted", "healthy"):
        if not running:
            actions.append("start")
        elif state == "restarted":
            actions.append("restart")
    elif state == "stopped" and running:
        actions.append("stop")
    elif state == "present" and current is not None and "create" in actions and status == "running":
        actions.append("start")  # a re-created container keeps running if it was running
    return ContainerPlan(tuple(actions), tuple(dict.fromkeys(diffs)))


@dataclass(frozen=True)
class EnsureOptions:
    """How to converge, besides the spec: the module's non-spec options."""

    state: str = "started"
    recreate: bool = False
    ignore: tuple[str, ...] = ()
    pull: str = "missing"                   # missing | always | never
    platform: str | None = None
    force_kill: bool = False                # kill instead of stopping, on stop and remove
    keep_volumes: bool = True               # keep anonymous volumes on remove
    stop_timeout: int | None = None         # for stops and restarts; None: the container's own
    healthy_timeout: float | None = 300.0
    detach: bool = True                     # False: wait for the exit (started containers)


def ensure(service: ContainerService, name: str, desired: ContainerSpec | None, state: str = "started",
           apply: bool = True, recreate: bool = False, ignore: Iterable[str] = (),
           options: EnsureOptions | None = None) -> Change:
    """Converge the container called ``name``; check mode is ``apply=False`` (nothing touched)."""
    opts = options or EnsureOptions(state=state, recreate=recreate, ignore=tuple(ignore))
    if desired is not None and desired.name != name:
        desired = replace(desired, name=name)
    try:
        current: ContainerRecord | None = service.get(name)
    except NotFound:
        current = None
    status = service.state(current.id)["Status"] if current is not None else None
    pull_actions: tuple[str, ...] = ()
    image_id = None
    if desired is not None and opts.state != "absent":
        pull_actions = _pull(service, desired.image, opts, apply)
        try:
            image_id = service.engine.images.get(desired.image).id
        except NotFound:
            if opts.pull == "never" or apply:
                raise NotFound(f"image: No such image: {desired.image}", field="image",
                               value=desired.image) from None
    plan = plan_container(current, status, desired, opts.state, image_id, opts.recreate, opts.ignore,
                          networks_in_place=_can_connect(service))
    before = _view(current, status)
    actions = pull_actions + plan.actions + tuple(f"differs: {d}" for d in plan.differences)
    if not plan.changed:
        if apply and opts.state == "healthy" and current is not None:
            _wait_healthy(service, current.id, opts)
        return Change(bool(pull_actions), before, before, actions)
    if not apply:
        after = None if opts.state == "absent" else {
            "id": current.id if current is not None and "create" not in plan.actions else None,
            "name": name, "image_id": image_id, "spec": desired.to_dict() if desired else None,
            "status": _expected_status(plan, status)}
        return Change(True, before, after, actions)
    cid = _apply(service, plan, current, desired, opts)
    after_rec = None if cid is None else service.get(cid)
    after = _view(after_rec, service.state(after_rec.id)["Status"] if after_rec else None)
    return Change(True, before, after, actions)


def _apply(service: ContainerService, plan: ContainerPlan, current: ContainerRecord | None,
           desired: ContainerSpec | None, opts: EnsureOptions) -> str | None:
    cid = current.id if current is not None else None
    for action in plan.actions:
        if action == "remove":
            _remove(service, cid, opts)  # type: ignore[arg-type]
            cid = None
        elif action == "create":
            cid = service.create(desired).id  # type: ignore[arg-type]
        elif action == "update":
            service.update(cid, resources=desired.resources,  # type: ignore[arg-type, union-attr]
                           restart_policy=desired.restart_policy, replace_resources=True)  # type: ignore[union-attr]
        elif action == "network":
            _reconnect(service, cid, desired)  # type: ignore[arg-type]
        elif action == "start":
            if current is not None and cid == current.id:
                _settle(service, cid)
            service.start(cid)  # type: ignore[arg-type]
        elif action == "stop":
            _stop(service, cid, opts)  # type: ignore[arg-type]
        elif action == "restart":
            _stop(service, cid, opts)  # type: ignore[arg-type]
            service.wait(cid, condition="not-running")  # type: ignore[arg-type]
            _settle(service, cid)  # type: ignore[arg-type]
            service.start(cid)  # type: ignore[arg-type]
    if cid is not None and opts.state == "healthy":
        _wait_healthy(service, cid, opts)
    return cid


def _stop(service: ContainerService, cid: str, opts: EnsureOptions) -> None:
    if opts.force_kill:
        if service.state(cid)["Running"]:
            service.kill(cid)
        return
    service.stop(cid, timeout=opts.stop_timeout)


def _settle(service: ContainerService, cid: str, timeout: float = 10.0) -> None:
    """Wait for the exit command of a container that just stopped (it unmounts the rootfs
    under the container's lock, asynchronously): a start racing it would launch into a rootfs
    unmounted under it."""
    import os
    import time

    merged = str(service.engine.snapshots.merged_dir(cid))
    deadline = time.monotonic() + timeout
    while os.path.ismount(merged) and time.monotonic() < deadline:
        time.sleep(0.01)
    with service.store.locked(cid):
        pass  # the exit command holds this lock until it is done


def _remove(service: ContainerService, cid: str, opts: EnsureOptions) -> None:
    if opts.force_kill or service.state(cid)["Status"] not in RUNNING:
        service.remove(cid, force=True, volumes=not opts.keep_volumes)
        return
    # a graceful stop first (the stop signal and timeout), as docker_container does
    service.stop(cid, timeout=opts.stop_timeout)
    service.remove(cid, force=True, volumes=not opts.keep_volumes)


def _pull(service: ContainerService, image: str, opts: EnsureOptions, apply: bool) -> tuple[str, ...]:
    images = service.engine.images
    if opts.pull == "never" or (opts.pull == "missing" and images.exists(image)):
        return ()
    if opts.pull not in ("always", "missing"):
        raise InvalidSpec(f"pull: one of missing, always, never, not {opts.pull!r}", field="pull",
                          value=opts.pull)
    change = service.engine.registry.ensure_pulled(image, force=opts.pull == "always", platform=opts.platform,
                                                   apply=apply)
    return tuple(change.actions) if change.changed else ()


def _can_connect(service: ContainerService) -> bool:
    return hasattr(service, "network_connect") and hasattr(service, "network_disconnect")


def _reconnect(service: ContainerService, cid: str, desired: ContainerSpec) -> None:
    """Join and leave networks in place, then record the desired network settings."""
    rec = service.get(cid)
    have = _attachments(rec.spec)
    want = _attachments(desired)
    # join first, then re-join what changed, then leave: a container left with no network
    # falls to mode none, which refuses every join
    for name, att in want.items():
        if name not in have:
            service.network_connect(cid, name, aliases=att[0], ip=att[1])  # type: ignore[attr-defined]
    for name, att in want.items():
        if name in have and have[name] != att:
            service.network_disconnect(cid, name, force=True)  # type: ignore[attr-defined]
            service.network_connect(cid, name, aliases=att[0], ip=att[1])  # type: ignore[attr-defined]
    for name in have:
        if name not in want:
            service.network_disconnect(cid, name, force=True)  # type: ignore[attr-defined]
    _write_networks(service, cid, desired)


def _write_networks(service: ContainerService, cid: str, desired: ContainerSpec) -> None:
    """Record the desired network mode and attachments in the stored spec."""
    with service.store.locked(cid):
        rec = service.store.read(cid)
        spec = replace(rec.spec, network_mode=desired.network_mode, networks=desired.networks)
        service.store.write(rec.replace(spec=spec), durable=not spec.auto_remove)


def _attachments(spec: ContainerSpec) -> dict[str, tuple[tuple[str, ...], str | None]]:
    by_name = {n.name: n for n in spec.networks}
    out = {}
    for name in network_names(spec):
        att = by_name.get(name)
        out[name] = (tuple(att.aliases), att.ipv4) if att else ((), None)
    return out


def _wait_healthy(service: ContainerService, cid: str, opts: EnsureOptions) -> None:
    wait = getattr(service, "wait_healthy", None)
    if wait is None:
        raise BerthError("state: healthy needs an engine that runs healthchecks (ContainerService.wait_healthy)",
                         field="state")
    wait(cid, timeout=opts.healthy_timeout)


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
