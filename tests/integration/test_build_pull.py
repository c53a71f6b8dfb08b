"""FROM an image that is only in a registry (pulled on first use), and --pull picking up a newer
base, against Debian's reference registry on 127.0.0.1."""
from __future__ import annotations

import pytest

from tests.fixtures import build as fx
from tests.fixtures.build import build, write_context
from tests.fixtures.registry import docker_config, registry  # noqa: F401 - fixtures

busybox_layer, bengine = fx.busybox_layer, fx.bengine  # fixtures

pytestmark = [pytest.mark.root, pytest.mark.peers]


def test_from_pulls_a_missing_base_and_pull_refreshes_it(bengine, registry, docker_config, tmp_path):  # noqa: F811
    name = f"{registry.host}/base/busybox:1"
    old = bengine.images.get("busybox:latest").id
    bengine.images.tag("busybox:latest", name)
    bengine.registry.push(name)
    bengine.images.remove(name)
    assert not bengine.images.exists(name)

    ctx = write_context(tmp_path / "pull", {"Dockerfile": f"FROM {name}\nRUN echo built > /x\n"})
    first, lines = build(bengine, ctx, tags=["on-pulled"])
    assert bengine.images.resolve_id(name) == old
    assert lines[1] == f" ---> {old[7:19]}"

    # the registry gets a newer base under the same tag; the local name keeps the old one
    newer, _ = build(bengine, write_context(tmp_path / "newer", {"Dockerfile": "FROM busybox\nLABEL v=2\n"}),
                     tags=[name])
    bengine.registry.push(name)
    bengine.images.tag(old, name)
    same, lines = build(bengine, ctx)
    assert same.image_id == first.image_id and lines.count(" ---> Using cache") == 1
    pulled, lines = build(bengine, ctx, pull=True)
    assert bengine.images.resolve_id(name) == newer.image_id
    assert lines[1] == f" ---> {newer.image_id[7:19]}"
    assert pulled.image_id != first.image_id and " ---> Using cache" not in lines
