"""The action plugin behind every berth module: it installs the engine on a host once.

A berth module's payload holds only module_utils/_boot.py; the engine itself lives on the
managed host in ``BERTH_ROOT/engine/<hash>`` (see _boot.py for why). This plugin runs the
module with ``BERTH_ENGINE=<hash of the controller's engine>``. On the first task on a host
(or after an upgrade) the module answers ``berth_engine_missing`` without doing anything;
the plugin then uploads the engine as a zip into the task's remote temporary folder and runs
the module once more with ``BERTH_ENGINE_ARCHIVE`` naming it (and, in check mode,
``BERTH_ENGINE_TRANSIENT=1``: the engine is unpacked in that folder and installed nowhere).
Every later task runs with one round trip and a payload the size of ``ansible.builtin.ping``'s.
"""
from __future__ import annotations

import os
from typing import Any

from ansible import constants as C
from ansible.plugins.action import ActionBase
from ansible_collections.berth.engine.plugins.module_utils import _boot, fsutil
from ansible_collections.berth.engine.plugins.module_utils.runtime import install

_archives: dict[str, str] = {}   # engine hash -> zip on the controller, this process


def engine_archive(digest: str, sources: dict[str, bytes]) -> str:
    """The engine as a zip in Ansible's local temporary folder, made once per run."""
    path = _archives.get(digest)
    if path and os.path.exists(path):
        return path
    path = os.path.join(C.DEFAULT_LOCAL_TMP, f"berth-engine-{digest}.zip")  # type: ignore[attr-defined]
    if not os.path.exists(path):
        fsutil.atomic_write(path, _boot.pack(sources), mode=0o600, durable=False)
    _archives[digest] = path
    return path


class EngineAction(ActionBase):
    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        del tmp
        digest, sources = install.engine_hash()
        env = {"BERTH_ENGINE": digest}
        wrap_async = bool(self._task.async_val) and not self._connection.has_native_async
        try:
            if wrap_async:  # an async job cannot ask back: it takes the engine along every time
                env["BERTH_ENGINE_ARCHIVE"] = self._upload(engine_archive(digest, sources))
            answer = self._run_module(env, task_vars, wrap_async)
            if answer.get("berth_engine_missing"):
                env["BERTH_ENGINE_ARCHIVE"] = self._upload(engine_archive(digest, sources))
                if self._task.check_mode:  # touch nothing: the engine runs from the task's folder
                    env["BERTH_ENGINE_TRANSIENT"] = "1"
                answer = self._run_module(env, task_vars, wrap_async)
        finally:
            if not wrap_async:  # the async wrapper removes its folder when the job ends
                self._remove_tmp_path(self._connection._shell.tmpdir)
        result.update(answer)
        return result

    def _upload(self, archive: str) -> str:
        tmpdir = self._connection._shell.tmpdir or self._make_tmp_path()
        remote = self._connection._shell.join_path(tmpdir, os.path.basename(archive))
        self._transfer_file(archive, remote)
        self._fixup_perms2((tmpdir, remote), execute=False)
        return remote

    def _run_module(self, env: dict[str, str], task_vars: dict[str, Any] | None,
                    wrap_async: bool) -> dict[str, Any]:
        # The task's own environment list, with ours last (as core's async support does it).
        saved = self._task.environment
        current = saved if isinstance(saved, list) else [saved] if saved else []
        self._task.environment = [*current, env]
        try:
            return self._execute_module(module_name=self._task.action, module_args=self._task.args,
                                        task_vars=task_vars, wrap_async=wrap_async)
        finally:
            self._task.environment = saved
