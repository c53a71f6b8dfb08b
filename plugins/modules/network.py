#!/usr/bin/python
# Copyright: (c) 2026, berth developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module berth.engine.network: bridge networks, and which containers are on them."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: network
short_description: Manage berth networks
description:
  - Creates, re-creates and removes user-defined bridge networks of the berth engine, with their
    IPv4 address pool, and connects or disconnects containers, as Docker's C(docker network)
    commands do.
  - Each network gets its own Linux bridge (C(br-) and 12 hex digits of its id), masquerading for
    traffic leaving it (none for internal networks), isolation from other networks, and name
    resolution for the containers on it.
  - Idempotent - the settings that created a network are stored with it and compared with the
    task's; a network whose settings differ is removed and created again, which needs
    O(force=true) while containers are connected to it.
version_added: "0.1.0"
author:
  - berth developers (@berth-developers)
options:
  name:
    description: The network's name.
    type: str
    required: true
    aliases: [network_name]
  driver:
    description: The network driver. Only C(bridge) networks can be created; C(host) and C(none) exist built in.
    type: str
    default: bridge
  ipam_config:
    description:
      - The IPv4 pool of the network. When omitted, a free subnet is taken from Docker's default pools
        (172.17.0.0/16 to 172.31.0.0/16, then 192.168.0.0/20 steps).
      - At most one entry.
    type: list
    elements: dict
    suboptions:
      subnet:
        description: The subnet in CIDR notation, for example C(172.30.0.0/16).
        type: str
      gateway:
        description: The gateway address, inside the subnet. Defaults to the subnet's first address.
        type: str
      iprange:
        description: A part of the subnet, in CIDR notation, that container addresses are allocated from.
        type: str
  internal:
    description: Restrict external access to the network; containers on it get no route out.
    type: bool
    default: false
  attachable:
    description: Recorded for compatibility with Docker (every berth network is attachable).
    type: bool
    default: false
  labels:
    description: Metadata for the network, as key/value pairs.
    type: dict
  driver_options:
    description:
      - Driver options, as Docker names them. Known ones are C(com.docker.network.bridge.name),
        C(com.docker.network.driver.mtu), C(com.docker.network.bridge.enable_ip_masquerade) and
        C(com.docker.network.bridge.enable_icc).
    type: dict
  enable_ipv6:
    description: IPv6 is not supported yet; C(true) fails.
    type: bool
    default: false
  connected:
    description:
      - Containers (names or ids) that must be connected to the network.
      - With O(appends=false), containers connected to the network that are not listed are disconnected.
      - Connecting a container goes through the container service, as C(berth network connect) does.
    type: list
    elements: str
    aliases: [containers]
  appends:
    description: Only add the containers in O(connected); never disconnect others.
    type: bool
    default: false
    aliases: [incremental]
  force:
    description:
      - With O(state=absent), disconnect connected containers before removing the network.
      - With O(state=present), allow re-creating a network that has connected containers (they are
        disconnected first).
    type: bool
    default: false
  state:
    description: Whether the network should exist.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Supports check mode (nothing is touched) and diff mode (the inspect data before and after).
  - The engine's state lives under E(BERTH_ROOT) (default C(/var/lib/berth)) and E(BERTH_RUN)
    (default C(/run/berth)).
seealso:
  - module: berth.engine.container
  - module: berth.engine.volume
"""

EXAMPLES = r"""
- name: A network for an application
  berth.engine.network:
    name: app

- name: A network with a fixed subnet and a smaller range for containers
  berth.engine.network:
    name: backend
    ipam_config:
      - subnet: 172.30.0.0/16
        gateway: 172.30.0.1
        iprange: 172.30.5.0/24
    labels:
      tier: backend

- name: An internal network (no route out)
  berth.engine.network:
    name: private
    internal: true

- name: Make sure web and api are on the network, leaving others alone
  berth.engine.network:
    name: app
    connected: [web, api]
    appends: true

- name: Remove a network, disconnecting its containers
  berth.engine.network:
    name: app
    state: absent
    force: true
"""

RETURN = r"""
network:
  description: The network, as C(berth network inspect) (and C(docker network inspect)) shows it; null once removed.
  returned: always
  type: dict
  sample:
    Name: app
    Id: 0f4a3c2b1e0d9c8b7a6f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a09
    Created: "2026-11-23T10:00:00.000000000Z"
    Scope: local
    Driver: bridge
    EnableIPv6: false
    IPAM: {Driver: default, Options: {}, Config: [{Subnet: 172.18.0.0/16, Gateway: 172.18.0.1}]}
    Internal: false
    Attachable: false
    Ingress: false
    ConfigFrom: {Network: ""}
    ConfigOnly: false
    Containers: {}
    Options: {}
    Labels: {}
actions:
  description: What was done (or would be done in check mode).
  returned: always
  type: list
  elements: str
  sample: ["create network app", "connect web to app"]
"""

from ansible_collections.berth.engine.plugins.module_utils._boot import engine  # noqa: E402

ARGUMENT_SPEC = {
    "name": {"type": "str", "required": True, "aliases": ["network_name"]},
    "driver": {"type": "str", "default": "bridge"},
    "ipam_config": {"type": "list", "elements": "dict", "options": {
        "subnet": {"type": "str"}, "gateway": {"type": "str"}, "iprange": {"type": "str"}}},
    "internal": {"type": "bool", "default": False},
    "attachable": {"type": "bool", "default": False},
    "labels": {"type": "dict"},
    "driver_options": {"type": "dict"},
    "enable_ipv6": {"type": "bool", "default": False},
    "connected": {"type": "list", "elements": "str", "aliases": ["containers"]},
    "appends": {"type": "bool", "default": False, "aliases": ["incremental"]},
    "force": {"type": "bool", "default": False},
    "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
}


def main() -> None:
    engine("_ansible").run_module("network", ARGUMENT_SPEC)


if __name__ == "__main__":
    main()
