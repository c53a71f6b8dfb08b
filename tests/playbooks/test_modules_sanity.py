"""`ansible-test sanity` for the collection's modules, from a copy of the collection laid out as
ansible-test requires (ansible_collections/berth/engine), in ansible-test's own venvs.

The module-level tests cover the modules, their action plugins and the module_utils files that
serve only them; the engine's other files are checked by ruff and mypy.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TESTS = ("validate-modules", "pep8", "compile", "import", "yamllint", "shebang", "ansible-doc",
         "no-assert", "no-get-exception", "use-argspec-type-path", "runtime-metadata", "line-endings",
         "no-smart-quotes", "empty-init", "action-plugin-docs", "symlinks")
MODULE_UTILS = ("_ansible.py", "_boot.py", "hostinfo.py", "image_task.py", "tasks.py", "containers/argspec.py", "containers/task.py",
                "containers/ensure.py")

pytestmark = pytest.mark.slow


def test_ansible_test_sanity(tmp_path):
    dest = tmp_path / "ansible_collections" / "berth" / "engine"
    dest.mkdir(parents=True)
    for name in ("galaxy.yml", "meta", "plugins"):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, dest / name)
    modules = sorted(f"plugins/modules/{p.name}" for p in (REPO / "plugins/modules").glob("*.py"))
    actions = sorted(f"plugins/action/{p.name}" for p in (REPO / "plugins/action").glob("*.py"))
    targets = modules + actions + ["plugins/plugin_utils/engine_action.py"] + \
        [f"plugins/module_utils/{m}" for m in MODULE_UTILS]
    cmd = [str(Path(sys.executable).parent / "ansible-test"), "sanity", "--python", "3.11", "--venv",
           "--color", "no"] + [a for t in TESTS for a in ("--test", t)] + targets
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    proc = subprocess.run(cmd, cwd=dest, env=env, capture_output=True, text=True, timeout=1800)
    errors = [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith(("ERROR", "FATAL"))]
    assert proc.returncode == 0, "\n".join(errors) or proc.stderr[-4000:]
    for test in ("validate-modules", "pep8", "import"):
        assert f'Running sanity test "{test}"' in proc.stdout + proc.stderr
