#!/usr/bin/python
"""The berth.engine.image module: images present from a tarball or an archive, tagged, or absent."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: image
short_description: Manage berth images
version_added: "0.1.0"
description:
  - Makes an image present in the berth store from a rootfs tarball (C(berth import)) or from an
    image archive (C(berth load)), tags it with another repository name, or removes it.
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
      - V(local) requires the image to be in the store already.
    type: str
    choices: [import, load, local]
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
  message:
    description: Commit message recorded in the imported image's history (C(berth import -m)).
    type: str
    default: ""
  repository:
    description:
      - Another name (C(name:tag)) to give the image once it is present.
      - Moving a name that already belongs to a different image needs O(force_tag=true).
    type: str
  force_tag:
    description: Move O(repository) even when it names another image.
    type: bool
    default: false
  force_source:
    description: Import or load again even when the image is already up to date.
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
  - Pulling, pushing and building come with the registry and builder parts of berth.
seealso:
  - module: berth.engine.volume
  - module: berth.engine.network
author:
  - berth developers
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
    message: busybox from the static build

- name: An image saved on another host with docker save
  berth.engine.image:
    name: myapp:2.1
    source: load
    load_path: /srv/images/myapp-2.1.tar

- name: A second name for it
  berth.engine.image:
    name: myapp:2.1
    repository: registry.local:5000/myapp:2.1

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
actions:
  description: What was done (or would be done in check mode).
  returned: always
  type: list
  elements: str
  sample: ["import /srv/images/busybox-rootfs.tar.gz as busybox:1.36"]
"""

from ansible_collections.berth.engine.plugins.module_utils._ansible import ansible_task  # noqa: E402

ARGUMENT_SPEC = {
    "name": {"type": "str", "required": True},
    "tag": {"type": "str", "default": "latest"},
    "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
    "source": {"type": "str", "default": "local", "choices": ["import", "load", "local"]},
    "import_path": {"type": "path"},
    "load_path": {"type": "path"},
    "changes": {"type": "list", "elements": "str", "default": []},
    "message": {"type": "str", "default": ""},
    "repository": {"type": "str"},
    "force_tag": {"type": "bool", "default": False},
    "force_source": {"type": "bool", "default": False},
    "force_absent": {"type": "bool", "default": False},
}
REQUIRED_IF = [("source", "import", ["import_path"]), ("source", "load", ["load_path"])]


def main() -> None:
    with ansible_task(ARGUMENT_SPEC, supports_check_mode=True, required_if=REQUIRED_IF) as task:
        from ansible_collections.berth.engine.plugins.module_utils.store.ensure import ensure_image
        change = ensure_image(task.engine, task.params, apply=not task.check_mode)
        task.exit(change, image=change.after)


if __name__ == "__main__":
    main()
