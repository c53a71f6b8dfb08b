#!/usr/bin/python
# Copyright: (c) 2026, berth developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The berth.engine.host_info module: engine facts and lists of the engine's objects."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: host_info
short_description: Facts about the berth engine on a host, and lists of its objects
version_added: "0.1.0"
description:
  - Returns the engine's facts (as C(berth info) and C(docker info) show them) and, when asked,
    lists of containers, images, volumes and networks, and the disk usage, as
    community.docker.docker_host_info does.
  - Reads only; never changes anything.
author:
  - berth developers (@berth-developers)
options:
  containers:
    description: List the containers (running ones unless O(containers_all=true)).
    type: bool
    default: false
  containers_all:
    description: List stopped containers too.
    type: bool
    default: false
  containers_filters:
    description:
      - "Filters for the containers, as C(berth ps --filter) takes them, such as
        C({status: running, label: [app=web]}). A list value gives alternatives."
    type: dict
  images:
    description: List the images.
    type: bool
    default: false
  images_filters:
    description: Filters for the images - C(dangling), C(label), C(reference) (a glob on names).
    type: dict
  volumes:
    description: List the volumes.
    type: bool
    default: false
  volumes_filters:
    description: Filters for the volumes, as C(berth volume ls --filter) takes them.
    type: dict
  networks:
    description: List the networks.
    type: bool
    default: false
  networks_filters:
    description: Filters for the networks, as C(berth network ls --filter) takes them.
    type: dict
  disk_usage:
    description: Report the disk usage (C(berth system df)).
    type: bool
    default: false
  verbose_output:
    description:
      - Return every field of each listed object (and the full disk usage) instead of a few
        identifying ones.
    type: bool
    default: false
notes:
  - Supports check mode; the module never changes anything.
seealso:
  - module: berth.engine.container
"""

EXAMPLES = r"""
- name: Engine facts
  berth.engine.host_info:
  register: berth

- name: The running containers of the web app, and the dangling images
  berth.engine.host_info:
    containers: true
    containers_filters:
      label: app=web
    images: true
    images_filters:
      dangling: true
  register: result

- name: How much space the engine uses
  berth.engine.host_info:
    disk_usage: true
  register: usage
"""

RETURN = r"""
can_talk_to_engine:
  description: Always true - berth has no daemon to reach; the engine runs in the task.
  returned: always
  type: bool
host_info:
  description: The engine's facts, as C(berth info --format json) shows them.
  returned: always
  type: dict
  sample:
    Containers: 3
    ContainersRunning: 2
    Images: 5
    Driver: overlay2
    CgroupVersion: "1"
    CgroupDriver: cgroupfs
    KernelVersion: 6.1.0-26-amd64
    DockerRootDir: /var/lib/berth
    ServerVersion: 0.1.0
containers:
  description: The containers (C(Id), C(Image), C(Command), C(Created), C(Status), C(Ports), C(Names) unless verbose).
  returned: when O(containers=true)
  type: list
  elements: dict
images:
  description: The images (C(Id), C(RepoTags), C(Created), C(Size) unless verbose).
  returned: when O(images=true)
  type: list
  elements: dict
volumes:
  description: The volumes (C(Driver), C(Name) unless verbose).
  returned: when O(volumes=true)
  type: list
  elements: dict
networks:
  description: The networks (C(Id), C(Driver), C(Name), C(Scope) unless verbose).
  returned: when O(networks=true)
  type: list
  elements: dict
disk_usage:
  description:
    - Counts and sizes (C(LayersSize), C(Images), C(Containers), C(Volumes), C(BuildCache) and their
      sizes); with O(verbose_output=true), Docker's whole C(/system/df) data.
  returned: when O(disk_usage=true)
  type: dict
"""

from ansible_collections.berth.engine.plugins.module_utils._boot import engine  # noqa: E402

ARGUMENT_SPEC = {
    "containers": {"type": "bool", "default": False},
    "containers_all": {"type": "bool", "default": False},
    "containers_filters": {"type": "dict"},
    "images": {"type": "bool", "default": False},
    "images_filters": {"type": "dict"},
    "volumes": {"type": "bool", "default": False},
    "volumes_filters": {"type": "dict"},
    "networks": {"type": "bool", "default": False},
    "networks_filters": {"type": "dict"},
    "disk_usage": {"type": "bool", "default": False},
    "verbose_output": {"type": "bool", "default": False},
}


def main() -> None:
    engine("_ansible").run_module("host_info", ARGUMENT_SPEC)


if __name__ == "__main__":
    main()
