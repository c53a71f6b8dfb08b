"""The one file that imports AnsibleModule: params in, a Change out, errors to fail_json.

A module's main() is a few lines:

    with ansible_task(ARGUMENT_SPEC, supports_check_mode=True) as task:
        change = task.engine.volumes.ensure(..., apply=not task.check_mode)
        task.exit(change, volume=change.after)
"""
from __future__ import annotations

import contextlib
import traceback
from collections.abc import Iterator
from typing import Any

from ansible.module_utils.basic import AnsibleModule

from .engine import Engine
from .errors import BerthError
from .paths import Paths
from .types import Change


class AnsibleTask:
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self._engine: Engine | None = None

    @property
    def params(self) -> dict[str, Any]:
        return self.module.params

    @property
    def check_mode(self) -> bool:
        return bool(self.module.check_mode)

    @property
    def diff_mode(self) -> bool:
        return bool(getattr(self.module, "_diff", False))

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = Engine(Paths.from_env())
        return self._engine

    def exit(self, change: Change, **result: Any) -> None:
        out: dict[str, Any] = {"changed": change.changed, "actions": list(change.actions)}
        if self.diff_mode:
            out["diff"] = {"before": change.before if change.before is not None else {},
                           "after": change.after if change.after is not None else {}}
        out.update(result)
        self.module.exit_json(**out)

    def fail(self, msg: str, **result: Any) -> None:
        self.module.fail_json(msg=msg, **result)


@contextlib.contextmanager
def ansible_task(argument_spec: dict[str, Any], supports_check_mode: bool = True,
                 **kwargs: Any) -> Iterator[AnsibleTask]:
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=supports_check_mode, **kwargs)
    task = AnsibleTask(module)
    try:
        yield task
    except BerthError as exc:
        details = {k: v for k, v in exc.details.items() if v is not None}
        module.fail_json(msg=str(exc), error=type(exc).__name__, **({"details": details} if details else {}))
    except Exception as exc:  # a bug: report it as one, with its traceback
        module.fail_json(msg=f"berth internal error (please report): {type(exc).__name__}: {exc}",
                         exception=traceback.format_exc())
