"""berth.engine.image against a reference registry on 127.0.0.1 (push, pull, force_source) and
source: build with the layer cache; check mode, idempotence, errors."""
from __future__ import annotations

import pytest

from tests.fixtures.modules import REPO, assert_ok, run_playbook
from tests.fixtures.registry import docker_config, registry  # noqa: F401 - fixtures

pytestmark = [pytest.mark.root, pytest.mark.peers]


def test_image_registry_and_build(paths, busybox_tar, registry, docker_config, tmp_path):  # noqa: F811
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM bb:1\nARG GREETING=hi\nCOPY note.txt /note.txt\n"
                                        "RUN echo \"$GREETING\" > /greeting\nCMD [\"cat\", \"/greeting\"]\n")
    (context / "note.txt").write_text("a file from the context\n")
    proc = run_playbook(paths, REPO / "tests/playbooks/image/registry_build.yml",
                        {"rootfs": str(busybox_tar), "reg": registry.host, "context": str(context)})
    assert_ok(proc)
