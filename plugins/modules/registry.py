#!/usr/bin/python
# Copyright: (c) 2026, berth developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module berth.engine.registry: log in to and out of registries."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: registry
short_description: Log in to or out of a container registry
description:
  - Stores or removes registry credentials in the file Docker uses
    (C($DOCKER_CONFIG/config.json) or C(~/.docker/config.json)), or in the credential helper
    configured there, so that C(berth pull), C(berth push) and Docker itself use them.
  - Credentials are checked against the registry's C(/v2/) endpoint before they are stored.
  - Idempotent - stored credentials equal to the given ones are not checked or written again
    unless O(reauthorize=true).
version_added: "0.1.0"
author:
  - berth developers (@berth-developers)
options:
  registry_url:
    description:
      - The registry, as C(host[:port]) or a URL. Docker Hub by default.
    type: str
    default: https://index.docker.io/v1/
    aliases: [registry, url]
  username:
    description: The user name. Required when O(state=logged_in).
    type: str
  password:
    description: The password or access token. Required when O(state=logged_in).
    type: str
  reauthorize:
    description: Check the credentials and store them again even when the same ones are stored.
    type: bool
    default: false
    aliases: [reauth]
  state:
    description: Whether credentials for the registry should be stored or removed.
    type: str
    choices: [logged_in, logged_out]
    default: logged_in
  config_path:
    description: The Docker client configuration file to use instead of the default.
    type: path
    aliases: [dockercfg_path]
notes:
  - Supports check mode and diff mode. The password never appears in the diff or the result.
"""

EXAMPLES = r"""
- name: Log in to a private registry
  berth.engine.registry:
    registry_url: registry.example.com:5000
    username: deploy
    password: "{{ registry_password }}"

- name: Log out of Docker Hub
  berth.engine.registry:
    state: logged_out
"""

RETURN = r"""
login_result:
  description: The registry and user name now stored (none after a logout).
  returned: always
  type: dict
  sample: {"registry": "registry.example.com:5000", "username": "deploy"}
actions:
  description: What was done (or would be done in check mode).
  returned: always
  type: list
  elements: str
"""

from ansible_collections.berth.engine.plugins.module_utils._boot import engine  # noqa: E402

ARGUMENT_SPEC = {
    "registry_url": {"type": "str", "default": "https://index.docker.io/v1/", "aliases": ["registry", "url"]},
    "username": {"type": "str"},
    "password": {"type": "str", "no_log": True},
    "reauthorize": {"type": "bool", "default": False, "aliases": ["reauth"]},
    "state": {"type": "str", "default": "logged_in", "choices": ["logged_in", "logged_out"]},
    "config_path": {"type": "path", "aliases": ["dockercfg_path"]},
}


def main() -> None:
    engine("_ansible").run_module("registry", ARGUMENT_SPEC, required_if=[("state", "logged_in", ("username", "password"))])


if __name__ == "__main__":
    main()
