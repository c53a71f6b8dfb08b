"""The one file that imports AnsibleModule: params in, the task run, a result or a failure out.

A module is its documentation, its argument spec and one call:

    def main() -> None:
        engine("_ansible").run_module("volume", ARGUMENT_SPEC)

``run_module`` validates the parameters here, then runs ``tasks.TASKS[name]`` warm in a child
of the monitor server when one serves this engine version and root (tasks.WARM: no interpreter
start, no imports), or else in this process. Both give the same answer.
"""
from __future__ import annotations

import os
from typing import Any

from ansible.module_utils.basic import AnsibleModule

from .paths import Paths
from .tasks import PREPARE, TASKS, WARM, error_answer
from .types import Change


def run_module(name: str, argument_spec: dict[str, Any], supports_check_mode: bool = True, **kwargs: Any) -> None:
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=supports_check_mode, **kwargs)
    apply = not module.check_mode
    params = module.params
    try:
        if name in PREPARE:
            params = PREPARE[name](params)
    except Exception as exc:  # noqa: BLE001 - reported as the module's failure
        module.fail_json(**error_answer(exc))
    answer = _run_warm(name, params, apply) if name in WARM else None
    if answer is None and name in WARM and _stale_server_replaced():
        answer = _run_warm(name, params, apply)  # this task and the next ones warm again
    if answer is None:
        try:
            from .engine import Engine

            change, result = TASKS[name](Engine(Paths.from_env()), params, apply)
        except Exception as exc:  # noqa: BLE001 - reported as the module's failure
            module.fail_json(**error_answer(exc))
    elif "error" in answer:
        module.fail_json(**answer["error"])
    else:
        change, result = Change.from_dict(answer), answer["result"]
    out: dict[str, Any] = {"changed": change.changed, "actions": list(change.actions)}
    if getattr(module, "_diff", False):
        out["diff"] = {"before": change.before if change.before is not None else {},
                       "after": change.after if change.after is not None else {}}
    out.update(result)
    module.exit_json(**out)


def _stale_server_replaced() -> bool:
    """After an upgrade the host's server still runs the old engine until a container operation
    replaces it: replace it now (once), so that the tasks that follow run warm again."""
    from . import _boot
    from .cli import fastpath

    if _boot.LOADED is None or fastpath.disabled():
        return False
    paths = Paths.from_env()
    if os.path.dirname(_boot.LOADED[1]) != str(paths.engine_copies):
        return False  # a check run from the task's folder (BERTH_ENGINE_TRANSIENT): start nothing
    if not os.path.exists(paths.run / fastpath.SOCKET_NAME):
        return False  # no server at all: a host without containers does not get one from a task
    try:
        from .engine import Engine

        return Engine(paths).runtime.replace_stale_server()
    except Exception:  # noqa: BLE001 - the task then runs here, as it would have anyway
        return False


def _run_warm(name: str, params: dict[str, Any], apply: bool) -> dict[str, Any] | None:
    """The task's answer from a child of the monitor server; None when no server took it (not
    running, another engine version, another namespace): nothing ran then."""
    from . import _boot
    from .cli import fastpath

    if _boot.LOADED is None:
        return None  # a checkout's engine: no hash to match a server with
    if fastpath.disabled():
        return None  # as for the berth command: everything in this process
    import json

    paths = Paths.from_env()
    try:
        request = json.dumps({"op": "task", "hash": _boot.LOADED[0], "task": name, "params": params,
                              "apply": apply, "env": dict(os.environ), "umask": fastpath.current_umask(),
                              "ns": fastpath.namespaces()}, default=str).encode()
    except (TypeError, ValueError):
        return None
    out = os.memfd_create("berth-task-answer", os.MFD_CLOEXEC)
    devnull = -1
    try:
        devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        status = fastpath.exchange(str(paths.run / fastpath.SOCKET_NAME), request, (devnull, out, 2))
        if status is None:
            return None
        os.lseek(out, 0, os.SEEK_SET)
        chunks = []
        while chunk := os.read(out, 1 << 20):
            chunks.append(chunk)
    finally:
        os.close(out)
        if devnull >= 0:
            os.close(devnull)
    try:
        answer = json.loads(b"".join(chunks))
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        # It ran (or began to) in the server: never run it a second time here.
        return {"error": {"msg": f"berth's monitor server ran the {name} task but gave no answer "
                                 f"(exit status {status}); see {paths.run / 'monitor.log'}"}}
    return answer
