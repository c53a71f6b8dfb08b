#!/usr/bin/python
# Copyright: (c) 2026, berth developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The berth.engine.containers module: many containers converged in one task."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: containers
short_description: Manage many berth containers in one task
version_added: "0.1.0"
description:
  - Converges a list of containers in one task, as containers.podman.podman_containers does. Each
    item takes the options of M(berth.engine.container), with the same idempotence, check mode
    and diff mode.
  - One task instead of a loop pays Ansible's per-task cost once, so converging many containers
    that are already as wanted takes a fraction of the time.
  - Items are converged in order; the first failure stops the task with a message naming the
    container and the option.
author:
  - berth developers (@berth-developers)
options:
  containers:
    description:
      - The containers, each a dict of M(berth.engine.container) options (C(name) is required,
        C(image) to create one, C(state) defaults to V(started)).
      - A name may appear only once.
    type: list
    elements: dict
    required: true
  defaults:
    description:
      - Options applied to every item that does not set them itself, such as C(image),
        C(network_mode) or C(restart_policy).
    type: dict
    default: {}
notes:
  - Supports check mode (nothing is touched) and diff mode (for each container that changes, its
    stored options and run status before and after, keyed by name).
seealso:
  - module: berth.engine.container
"""

EXAMPLES = r"""
- name: Three workers and a cache
  berth.engine.containers:
    defaults:
      image: busybox
      command: sleep 3600
      network_mode: none
      restart_policy: unless-stopped
    containers:
      - name: worker-0
      - name: worker-1
      - name: worker-2
        memory: 64m
      - name: cache
        image: redis:7
        command: ~
        memory: 256m

- name: Many of them, from a variable (a list of dicts with at least a name)
  berth.engine.containers:
    defaults: {image: busybox, command: sleep 3600, network_mode: none}
    containers: "{{ workers }}"

- name: Stop two of them
  berth.engine.containers:
    containers:
      - {name: worker-0, state: stopped}
      - {name: worker-1, state: stopped}
"""

RETURN = r"""
containers:
  description: One entry per item, in order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The container's name.
      type: str
    changed:
      description: Whether this container changed (or would, in check mode).
      type: bool
    actions:
      description: What was done to it, as the container module reports it.
      type: list
      elements: str
    container:
      description: Its inspect data, as M(berth.engine.container) returns it.
      type: dict
  sample:
    - name: worker-0
      changed: false
      actions: []
      container: {Id: 3c0ef0d2a1b7b1b2c0ef0d2a1b7b1b2c0ef0d2a1b7b1b2c0ef0d2a1b7b1b2c0e, Name: /worker-0}
actions:
  description: What was done, each entry prefixed with the container's name.
  returned: always
  type: list
  elements: str
  sample: ["worker-3: create", "worker-3: start"]
"""

from ansible_collections.berth.engine.plugins.module_utils._boot import engine  # noqa: E402

ARGUMENT_SPEC = {
    "containers": {"type": "list", "elements": "dict", "required": True},
    "defaults": {"type": "dict", "default": {}},
}


def main() -> None:
    engine("_ansible").run_module("containers", ARGUMENT_SPEC)


if __name__ == "__main__":
    main()
