#!/usr/bin/python
# Copyright: (c) 2026, berth developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The berth.engine.image module: images pulled, built, imported or loaded; tagged, pushed, removed."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: image
short_description: Manage berth images
version_added: "0.1.0"
description:
  - Makes an image present in the berth store, pulled from a registry (C(berth pull)), built from
    a Dockerfile (C(berth build)), from a rootfs tarball (C(berth import)) or from an image
    archive (C(berth load)); tags it with another repository name, pushes it, or removes it.
  - A pull is skipped when the image is present, unless O(force_source=true), which pulls only
    when the registry has another manifest under the name.
  - A build always runs (its layer cache makes an unchanged rebuild cheap) and reports a change
    only when the name ends up on another image ID than before.
  - Idempotent. An imported image remembers the sha256 of its tarball with the changes and message
    used, so running the same task again reports no change without importing again; a changed
    tarball is imported again and the name moves to the new image. A load looks at the archive's
    metadata first and loads only when the name would get a different image.
  - Importing the same tarball with the same changes always gives the same image ID (the image's
    creation time is the newest time found in the tarball).
  - No Docker daemon is needed; the engine keeps its state under E(BERTH_ROOT).
options:
  name:
    description:
      - Image name, C(name), C(name:tag) or C(name@digest), normalised as Docker does
        (C(busybox) is C(docker.io/library/busybox:latest)).
      - With O(state=absent), an image ID (full or a 12-character prefix) removes that image.
    type: str
    required: true
  tag:
    description: Tag used when O(name) carries none.
    type: str
    default: latest
  state:
    description:
      - V(present) makes sure the image exists (from O(source)); V(absent) removes the name, and
        the image once no name is left.
    type: str
    choices: [present, absent]
    default: present
  source:
    description:
      - Where a missing or outdated image comes from.
      - V(import) reads a rootfs tarball from O(import_path) and makes a one-layer image, as
        C(berth import) does.
      - V(load) reads an image archive from O(load_path) (written by C(docker save), C(podman save),
        C(berth save), or an OCI image layout folder or tarball), as C(berth load) does.
      - V(pull) pulls it from its registry, as C(berth pull) does.
      - V(build) builds it from O(build), as C(berth build) does.
      - V(local) requires the image to be in the store already.
    type: str
    choices: [pull, build, import, load, local]
    default: local
  import_path:
    description:
      - Path on the managed host of the rootfs tarball for O(source=import) (plain, gzip, zstd,
        xz or bzip2).
    type: path
  load_path:
    description: Path on the managed host of the image archive or OCI layout for O(source=load).
    type: path
  changes:
    description:
      - Dockerfile instructions applied to the imported image's config, as C(berth import --change)
        takes them (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR).
    type: list
    elements: str
    default: []
  import_message:
    description: Commit message recorded in the imported image's history (C(berth import -m)).
    type: str
    default: ""
  build:
    description: How to build the image, for O(source=build).
    type: dict
    suboptions:
      path:
        description: The build context, a folder on the managed host.
        type: path
        required: true
      dockerfile:
        description: The Dockerfile, relative to O(build.path) (default C(Dockerfile)).
        type: str
      args:
        description: Build arguments (C(--build-arg)).
        type: dict
      target:
        description: The stage to build in a multi-stage Dockerfile.
        type: str
      nocache:
        description: Do not use the layer cache.
        type: bool
        default: false
      pull:
        description: Pull newer versions of the base images.
        type: bool
        default: false
      network:
        description: The network of RUN steps.
        type: str
        choices: [default, none, host]
        default: default
  platform:
    description: The platform to pull, such as C(linux/arm64) (default - the host's).
    type: str
  repository:
    description:
      - Another name (C(name:tag)) to give the image once it is present.
      - Moving a name that already belongs to a different image needs O(force_tag=true).
      - With O(push=true), the name that is pushed.
    type: str
  push:
    description:
      - Push the image (or O(repository)) to its registry, unless the registry already has this
        exact manifest under that name.
    type: bool
    default: false
  force_tag:
    description: Move O(repository) even when it names another image.
    type: bool
    default: false
  force_source:
    description:
      - Import or load again even when the image is already up to date; for O(source=pull), ask the
        registry whether the name points to another manifest and pull it if so.
    type: bool
    default: false
  force_absent:
    description:
      - With O(state=absent), remove the image even when containers use it or, for an image ID,
        when it is named in several repositories (C(berth rmi -f)).
    type: bool
    default: false
notes:
  - Supports check mode (nothing is touched) and diff mode (the inspect data before and after).
  - In check mode a build cannot know its result without building; it reports a change when the
    image is missing (or O(force_source=true)).
seealso:
  - module: berth.engine.volume
  - module: berth.engine.network
author:
  - berth developers (@berth-developers)
"""

EXAMPLES = r"""
- name: A busybox image from a rootfs tarball
  berth.engine.image:
    name: busybox
    tag: "1.36"
    source: import
    import_path: /srv/images/busybox-rootfs.tar.gz
    changes:
      - 'CMD ["/bin/sh"]'
      - ENV LANG=C.UTF-8
    import_message: busybox from the static build

- name: An image saved on another host with docker save
  berth.engine.image:
    name: myapp:2.1
    source: load
    load_path: /srv/images/myapp-2.1.tar

- name: A second name for it
  berth.engine.image:
    name: myapp:2.1
    repository: registry.local:5000/myapp:2.1

- name: Pulled from Docker Hub, and re-pulled when the tag moves
  berth.engine.image:
    name: alpine:3.20
    source: pull
    force_source: true

- name: Built from a Dockerfile
  berth.engine.image:
    name: myapp:2.2
    source: build
    build:
      path: /srv/src/myapp
      args:
        VERSION: "2.2"

- name: Pushed to a private registry
  berth.engine.image:
    name: myapp:2.2
    repository: registry.local:5000/myapp:2.2
    push: true

- name: Remove a name (and the image, once it has no other)
  berth.engine.image:
    name: myapp:2.0
    state: absent
"""

RETURN = r"""
image:
  description: The image as C(berth image inspect) (and C(docker image inspect)) shows it; null once removed.
  returned: always
  type: dict
  sample:
    Id: sha256:6e31a5dbf57ce5a48b1903a5b9dc6497d417f88c1577416a20e4dcd0261f43ff
    RepoTags: ["busybox:1.36"]
    RepoDigests: []
    Created: "2026-11-23T14:34:13Z"
    Architecture: amd64
    Os: linux
    Size: 1982424
    Config: {Cmd: ["/bin/sh"], Env: ["LANG=C.UTF-8"]}
    RootFS: {Type: layers, Layers: ["sha256:b12cb6a80a8bfb17f6390cf80acc67df169f8188379e6fc5e316a9b930003479"]}
build:
  description: What the build did.
  returned: when O(source=build) and not in check mode
  type: dict
  sample: {image_id: "sha256:6e31a5dbf57ce5a48b1903a5b9dc6497d417f88c1577416a20e4dcd0261f43ff", tags: ["myapp:2.2"], steps: 4, cached_steps: 4, warnings: []}
push:
  description: The pushed name and its manifest digest in the registry.
  returned: when O(push=true) and the image exists
  type: dict
  sample: {name: "registry.local:5000/myapp:2.2", digest: "sha256:0d5f3c2b1e0d9c8b7a6f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a09"}
actions:
  description: What was done (or would be done in check mode).
  returned: always
  type: list
  elements: str
  sample: ["import /srv/images/busybox-rootfs.tar.gz as busybox:1.36"]
"""

from ansible_collections.berth.engine.plugins.module_utils._boot import engine  # noqa: E402

ARGUMENT_SPEC = {
    "name": {"type": "str", "required": True},
    "tag": {"type": "str", "default": "latest"},
    "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
    "source": {"type": "str", "default": "local", "choices": ["pull", "build", "import", "load", "local"]},
    "build": {"type": "dict", "options": {
        "path": {"type": "path", "required": True},
        "dockerfile": {"type": "str"},
        "args": {"type": "dict"},
        "target": {"type": "str"},
        "nocache": {"type": "bool", "default": False},
        "pull": {"type": "bool", "default": False},
        "network": {"type": "str", "default": "default", "choices": ["default", "none", "host"]},
    }},
    "platform": {"type": "str"},
    "push": {"type": "bool", "default": False},
    "import_path": {"type": "path"},
    "load_path": {"type": "path"},
    "changes": {"type": "list", "elements": "str", "default": []},
    "import_message": {"type": "str", "default": ""},
    "repository": {"type": "str"},
    "force_tag": {"type": "bool", "default": False},
    "force_source": {"type": "bool", "default": False},
    "force_absent": {"type": "bool", "default": False},
}
REQUIRED_IF = [("source", "import", ["import_path"]), ("source", "load", ["load_path"]),
               ("source", "build", ["build"])]


def main() -> None:
    engine("_ansible").run_module("image", ARGUMENT_SPEC, required_if=REQUIRED_IF)


if __name__ == "__main__":
    main()
