"""What each Ansible module does, once its parameters are valid: one function per module.

``TASKS[name](engine, params, apply) -> (Change, result)``: ``apply`` is False in check mode,
``result`` holds the keys the module returns beside changed/actions/diff. They run in the
module's own process, or warm in a child of the monitor server (_ansible.py, clihost.py),
the same code either way. ``PREPARE[name](params)`` runs first, always in the module's
process: the work that needs Ansible's own module_utils (the server has none of Ansible).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .engine import Engine
from .types import Change

Task = Callable[[Engine, dict[str, Any], bool], tuple[Change, dict[str, Any]]]


def container(engine: Engine, p: dict[str, Any], apply: bool) -> tuple[Change, dict[str, Any]]:
    from .containers.task import run_container_task

    return run_container_task(engine, p, apply=apply)


def containers(engine: Engine, p: dict[str, Any], apply: bool) -> tuple[Change, dict[str, Any]]:
    from .containers.task import converge_containers

    change, results = converge_containers(engine, p["items"], apply=apply)  # prepared: validated
    return change, {"containers": results}


def prepare_containers(p: dict[str, Any]) -> dict[str, Any]:
    from .containers.argspec import validate_items

    return {"items": validate_items(p["containers"], p["defaults"])}


def host_info(engine: Engine, p: dict[str, Any], apply: bool) -> tuple[Change, dict[str, Any]]:
    from .hostinfo import host_info as facts

    return Change(False), facts(engine, p)


def image(engine: Engine, p: dict[str, Any], apply: bool) -> tuple[Change, dict[str, Any]]:
    from .image_task import run_image_task

    return run_image_task(engine, p, apply=apply)


def network(engine: Engine, p: dict[str, Any], apply: bool) -> tuple[Change, dict[str, Any]]:
    from .network.task import run_network_task

    change = run_network_task(engine, p, apply=apply)
    return change, {"network": change.after}


def registry(engine: Engine, p: dict[str, Any], apply: bool) -> tuple[Change, dict[str, Any]]:
    reg = engine.registry
    if p["state"] == "logged_in":
        change = reg.ensure_login(p["registry_url"], p["username"], p["password"], p["reauthorize"],
                                  p["config_path"], apply=apply)
    else:
        change = reg.ensure_logout(p["registry_url"], p["config_path"], apply=apply)
    return change, {"login_result": change.after}


def volume(engine: Engine, p: dict[str, Any], apply: bool) -> tuple[Change, dict[str, Any]]:
    from .volumes import VolumeSpec
    from .volumes.usage import volume_users

    spec = VolumeSpec.from_params(p) if p["state"] == "present" else None
    change = engine.volumes.ensure(p["name"], spec, apply=apply, recreate=p["recreate"],
                                   in_use=volume_users(engine))
    return change, {"volume": change.after}


TASKS: dict[str, Task] = {
    "container": container, "containers": containers, "host_info": host_info, "image": image,
    "network": network, "registry": registry, "volume": volume,
}

PREPARE: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {"containers": prepare_containers}

# Run warm in the monitor server when one serves this engine: short, frequent, looped tasks.
# Pulls, pushes, builds and logins keep their own process (long, or touching credentials).
WARM = frozenset({"container", "containers", "host_info", "network", "volume"})
# What they import on their way: the monitor server has these loaded before it forks a task.
WARM_MODULES = ("tasks", "containers.task", "containers.argspec", "containers.ensure", "containers.params",
                "hostinfo", "network.task", "volumes", "volumes.usage", "runtime.install")


def error_answer(exc: BaseException) -> dict[str, Any]:
    """A failure as the module reports it: berth's own errors by name, anything else as a bug."""
    from .errors import BerthError

    if isinstance(exc, BerthError):
        details = {k: v for k, v in exc.details.items() if v is not None}
        return {"msg": str(exc), "error": type(exc).__name__, **({"details": details} if details else {})}
    import traceback

    return {"msg": f"berth internal error (please report): {type(exc).__name__}: {exc}",
            "exception": traceback.format_exc()}


def answer_warm(req: dict[str, Any]) -> int:
    """In a child of the monitor server: run the task of ``req`` and write its answer, JSON, on
    stdout: Change.to_dict() and "result", or {"error": {...}}. Anything
    the task itself prints goes to stderr, so the answer stays whole."""
    import json
    import os
    import sys

    from .paths import Paths

    out = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        change, result = TASKS[req["task"]](Engine(Paths.from_env()), req["params"], bool(req.get("apply")))
        answer: dict[str, Any] = {**change.to_dict(), "result": result}
    except Exception as exc:  # noqa: BLE001 - every failure is the module's to report
        answer = {"error": error_answer(exc)}
    data = json.dumps(answer, default=str).encode()
    while data:
        data = data[os.write(out, data):]
    os.close(out)
    return 0
