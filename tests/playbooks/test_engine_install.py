"""How modules get the engine: payloads without it, and one installation per host and version."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ansible_collections.berth.engine.plugins.module_utils.runtime import install

from tests.fixtures.modules import REPO, assert_ok, run_playbook

MODULES = sorted(p.stem for p in (REPO / "plugins/modules").glob("*.py"))


PAYLOADS = r"""
import base64, io, json, re, sys, zipfile
from ansible.executor import module_common
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader, module_loader
from ansible.template import Templar

init_plugin_loader()
out = {}
for module in sys.argv[1:]:
    ctx = module_loader.find_plugin_with_context("berth.engine." + module)
    built = module_common.modify_module(module_name=ctx.resolved_fqcn, module_path=ctx.plugin_resolved_path,
                                        module_args={}, templar=Templar(loader=DataLoader()),
                                        task_vars={"ansible_python_interpreter": sys.executable})
    text = built.b_module_data.decode()
    data = re.search(r"zip_data='([A-Za-z0-9+/=]+)'", text).group(1)
    out[module] = zipfile.ZipFile(io.BytesIO(base64.b64decode(data))).namelist()
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def payloads() -> dict[str, list[str]]:
    """Each module's AnsiballZ payload, as Ansible builds it for a task: the files it holds."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / ".collections"), ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    proc = subprocess.run([sys.executable, "-c", PAYLOADS, *MODULES], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@pytest.mark.parametrize("module", MODULES)
def test_module_payload_carries_only_the_boot_file(payloads, module):
    names = payloads[module]
    ours = [n for n in names if n.startswith("ansible_collections/berth/") and not n.endswith("__init__.py")]
    assert sorted(ours) == sorted(["ansible_collections/berth/engine/plugins/module_utils/_boot.py",
                                   f"ansible_collections/berth/engine/plugins/modules/{module}.py"]), ours
    assert any(n.startswith("ansible/module_utils/basic") for n in names)


@pytest.mark.root
def test_first_task_installs_the_engine_once(paths, tmp_path, monkeypatch):
    monkeypatch.setattr(install, "_cache", None)   # the files as they are now, as the controller reads them
    digest = install.engine_hash()[0]
    play = tmp_path / "play.yml"
    vol = f"engine-install-{os.getpid()}"
    play.write_text(f"""
- hosts: localhost
  gather_facts: false
  tasks:
    - berth.engine.host_info: {{}}
      register: first
    - berth.engine.volume: {{name: "{vol}"}}
    - berth.engine.volume: {{name: "{vol}a", labels: {{via: async}}}}
      async: 60
      poll: 1
      register: later
    - berth.engine.volume: {{name: "{vol}", state: absent}}
    - berth.engine.volume: {{name: "{vol}a", state: absent}}
    - ansible.builtin.assert:
        that: [first.can_talk_to_engine, not first.changed, later.changed, later.volume.Labels.via == 'async']
""")
    assert not (paths.engine_copies / digest).exists()
    proc = run_playbook(paths, play, {})
    assert_ok(proc)
    assert (paths.engine_copies / digest / ".complete").exists()
    # one copy of the engine for every module kind, the one the CLI's monitor server runs from
    assert sorted(p.name for p in paths.engine_copies.iterdir() if not p.name.startswith(".")) == [digest]
    engine_py = paths.engine_copies / digest / install.PACKAGE_PATH / "engine.py"
    assert engine_py.read_bytes() == install.engine_hash()[1]["engine.py"]
    # nothing the controller uploaded is left in the remote temporary folder (the async job's
    # wrapper removes its own folder just after the job ends)
    remote = Path(paths.run) / "ansible-remote"
    for _ in range(100):
        if not list(remote.glob("**/berth-engine-*.zip")):
            break
        time.sleep(0.1)
    assert not list(remote.glob("**/berth-engine-*.zip"))


@pytest.mark.root
def test_check_mode_on_a_fresh_host_leaves_nothing(paths, tmp_path):
    """In check mode the engine runs from the task's temporary folder: no root, no copy."""
    play = tmp_path / "check.yml"
    play.write_text(f"""
- hosts: localhost
  gather_facts: false
  tasks:
    - berth.engine.volume: {{name: "check-{os.getpid()}"}}
      register: vol
    - berth.engine.host_info: {{volumes: true}}
      register: facts
    - ansible.builtin.assert:
        that: [vol.changed, "facts.volumes | length == 0"]
""")
    proc = run_playbook(paths, play, {}, "--check")
    assert_ok(proc)
    assert not paths.root.exists()
    remote = Path(paths.run) / "ansible-remote"
    assert not [p for p in remote.glob("**/*") if p.is_file()] if remote.exists() else True
