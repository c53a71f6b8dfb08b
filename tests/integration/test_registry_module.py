"""berth.engine.registry against localhost: check mode, login, idempotence, reauthorize, logout."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.registry import USERS, basic_registry  # noqa: F401 - fixture

pytestmark = [pytest.mark.root, pytest.mark.peers]
REPO = Path(__file__).resolve().parents[2]

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  vars:
    reg: "{{ registry_host }}"
  tasks:
    - name: login in check mode
      berth.engine.registry: {registry_url: "{{ reg }}", username: alice, password: "{{ pw }}", config_path: "{{ cfg }}"}
      check_mode: true
      register: r1
    - assert: {that: ["r1 is changed", "not (cfg is exists)"]}
    - name: login
      berth.engine.registry: {registry_url: "{{ reg }}", username: alice, password: "{{ pw }}", config_path: "{{ cfg }}"}
      register: r2
    - assert: {that: ["r2 is changed", "r2.login_result.username == 'alice'", "r2.diff.after.username == 'alice'"]}
    - name: login again
      berth.engine.registry: {registry_url: "{{ reg }}", username: alice, password: "{{ pw }}", config_path: "{{ cfg }}"}
      register: r3
    - assert: {that: ["r3 is not changed"]}
    - name: reauthorize
      berth.engine.registry: {registry_url: "{{ reg }}", username: alice, password: "{{ pw }}", config_path: "{{ cfg }}", reauthorize: true}
      register: r4
    - assert: {that: ["r4 is changed"]}
    - name: wrong password
      berth.engine.registry: {registry_url: "{{ reg }}", username: alice, password: wrong, config_path: "{{ cfg }}"}
      register: r5
      ignore_errors: true
    - assert: {that: ["r5 is failed", "'unauthorized' in r5.msg or 'login to' in r5.msg", "'wrong' not in r5.msg"]}
    - name: logout in check mode
      berth.engine.registry: {registry_url: "{{ reg }}", state: logged_out, config_path: "{{ cfg }}"}
      check_mode: true
      register: r6
    - assert: {that: ["r6 is changed"]}
    - name: logout
      berth.engine.registry: {registry_url: "{{ reg }}", state: logged_out, config_path: "{{ cfg }}"}
      register: r7
    - name: logout again
      berth.engine.registry: {registry_url: "{{ reg }}", state: logged_out, config_path: "{{ cfg }}"}
      register: r8
    - assert: {that: ["r7 is changed", "r8 is not changed"]}
    - name: a missing password names the option
      berth.engine.registry: {registry_url: "{{ reg }}", username: alice, config_path: "{{ cfg }}"}
      register: r9
      ignore_errors: true
    - assert: {that: ["r9 is failed", "'password' in r9.msg"]}
"""


def test_registry_module(paths, basic_registry, tmp_path):  # noqa: F811
    book = tmp_path / "registry.yml"
    book.write_text(PLAYBOOK)
    cfg = tmp_path / "docker" / "config.json"
    env = dict(os.environ, BERTH_ROOT=str(paths.root), BERTH_RUN=str(paths.run),
               ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "--diff", str(book),
                           "-e", json.dumps({"registry_host": basic_registry.host, "pw": USERS["alice"],
                                             "cfg": str(cfg)})],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "failed=0" in proc.stdout
    assert USERS["alice"] not in proc.stdout
    assert json.loads(cfg.read_text())["auths"] == {}
