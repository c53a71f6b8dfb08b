#!/usr/bin/python
# Copyright: (c) 2026, berth developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module berth.engine.volume: named volumes of the local driver."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: volume
short_description: Manage berth volumes
description:
  - Creates, re-creates and removes named volumes of the berth engine, as C(docker volume create)
    and C(docker volume rm) do.
  - A volume of the C(local) driver is a folder under the engine's root; with driver options it is
    a tmpfs, a bind of a host folder (C(o=bind)) or a filesystem on a device, mounted when a
    container first uses it.
  - Idempotent - the settings that created a volume are stored with it; what a difference does
    is chosen by O(recreate).
version_added: "0.1.0"
author:
  - berth developers (@berth-developers)
options:
  name:
    description: The volume's name (2 or more letters, digits, C(_), C(.) or C(-)).
    type: str
    required: true
    aliases: [volume_name]
  driver:
    description: The volume driver. berth has the C(local) driver.
    type: str
    default: local
  driver_options:
    description:
      - Options of the C(local) driver, as C(docker volume create -o) takes them - C(type) (C(tmpfs),
        C(none) for a bind, or a filesystem type such as C(ext4)), C(device) (the host folder or
        device) and C(o) (mount options, for example C(size=100m) or C(bind,ro)).
    type: dict
    default: {}
    aliases: [options]
  labels:
    description: Metadata for the volume, as key/value pairs.
    type: dict
  recreate:
    description:
      - When an existing volume is removed and created again, losing its data.
      - C(never) keeps the existing volume whatever its settings; C(options-changed) re-creates it
        when the driver, driver options or labels differ from the task's; C(always) re-creates it
        on every run.
      - A volume in use by a container is never re-created; the task fails instead.
    type: str
    choices: [never, options-changed, always]
    default: never
  state:
    description: Whether the volume should exist. Removing a volume in use by a container fails.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Supports check mode (nothing is touched) and diff mode (the inspect data before and after).
  - The engine's state lives under E(BERTH_ROOT) (default C(/var/lib/berth)).
seealso:
  - module: berth.engine.container
  - module: berth.engine.network
"""

EXAMPLES = r"""
- name: A volume for a database
  berth.engine.volume:
    name: pgdata
    labels:
      app: db

- name: A tmpfs volume of 64 MB, empty at each first use
  berth.engine.volume:
    name: scratch
    driver_options:
      type: tmpfs
      device: tmpfs
      o: size=64m

- name: A read-only view of a host folder
  berth.engine.volume:
    name: site
    driver_options:
      type: none
      device: /srv/site
      o: bind,ro

- name: Re-create a volume when its options change
  berth.engine.volume:
    name: scratch
    driver_options:
      type: tmpfs
      device: tmpfs
      o: size=128m
    recreate: options-changed

- name: Remove a volume
  berth.engine.volume:
    name: pgdata
    state: absent
"""

RETURN = r"""
volume:
  description: The volume, as C(berth volume inspect) (and C(docker volume inspect)) shows it; null once removed.
  returned: always
  type: dict
  sample:
    CreatedAt: "2026-11-23T10:00:00Z"
    Driver: local
    Labels: {app: db}
    Mountpoint: /var/lib/berth/volumes/pgdata/_data
    Name: pgdata
    Options: {}
    Scope: local
actions:
  description: What was done (or would be done in check mode).
  returned: always
  type: list
  elements: str
  sample: ["create volume pgdata"]
"""

from ansible_collections.berth.engine.plugins.module_utils._boot import engine  # noqa: E402

ARGUMENT_SPEC = {
    "name": {"type": "str", "required": True, "aliases": ["volume_name"]},
    "driver": {"type": "str", "default": "local"},
    "driver_options": {"type": "dict", "default": {}, "aliases": ["options"]},
    "labels": {"type": "dict"},
    "recreate": {"type": "str", "default": "never", "choices": ["never", "options-changed", "always"]},
    "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
}


def main() -> None:
    engine("_ansible").run_module("volume", ARGUMENT_SPEC)


if __name__ == "__main__":
    main()
