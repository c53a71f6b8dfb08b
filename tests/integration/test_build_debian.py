"""A Debian base made with debootstrap, and a RUN step that installs a package with apt-get
through the engine's default bridge (NAT to the Debian mirror). Slow the first time: the
debootstrap tarball is kept in /var/cache/berth-tests for later runs."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from ansible_collections.berth.engine.plugins.module_utils.fsutil import locked

from tests.conftest import unmount_below
from tests.fixtures import build as fx
from tests.fixtures.build import build, leftovers, run_cli, write_context

busybox_layer, bengine = fx.busybox_layer, fx.bengine  # fixtures

pytestmark = [pytest.mark.root, pytest.mark.slow]

CACHE = Path("/var/cache/berth-tests")
MIRROR = "http://deb.debian.org/debian"


def _mirror_reachable() -> str | None:
    import requests
    try:
        r = requests.head(f"{MIRROR}/dists/bookworm/Release", timeout=15, allow_redirects=True)
    except requests.RequestException as exc:
        return str(exc)
    return None if r.status_code == 200 else f"HTTP {r.status_code}"


def debian_tarball() -> Path:
    """debootstrap --variant=minbase bookworm, as a tarball made once and kept."""
    tarball = CACHE / "debian-bookworm-minbase.tar"
    CACHE.mkdir(parents=True, exist_ok=True)
    with locked(CACHE / ".debootstrap.lock"):
        if tarball.exists():
            return tarball
        if shutil.which("debootstrap") is None:
            pytest.skip("debootstrap is not installed (scripts/setup.sh installs it)")
        why = _mirror_reachable()
        if why is not None:
            pytest.skip(f"the Debian mirror {MIRROR} is unreachable: {why}")
        work = CACHE / f"debootstrap-{os.getpid()}"
        try:
            r = subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(work), MIRROR],
                               capture_output=True, text=True, timeout=1800)
            if r.returncode != 0:
                pytest.skip(f"debootstrap failed (mirror trouble?): {r.stdout[-500:]}{r.stderr[-500:]}")
            tmp = tarball.with_suffix(".tmp")
            subprocess.run(["tar", "--numeric-owner", "--xattrs", "-C", str(work), "-cf", str(tmp), "."],
                           check=True)
            os.replace(tmp, tarball)
        finally:
            unmount_below(work)
            shutil.rmtree(work, ignore_errors=True)
    return tarball


def test_debian_apt_get_install_through_the_bridge(bengine, tmp_path):
    tarball = debian_tarball()
    with open(tarball, "rb") as f:
        bengine.images.import_rootfs(f, names=["debian:bookworm"])
    ctx = write_context(tmp_path / "deb", {"Dockerfile": (
        "FROM debian:bookworm\n"
        "ENV DEBIAN_FRONTEND=noninteractive\n"
        "RUN apt-get update && apt-get install -y --no-install-recommends hello "
        "&& rm -rf /var/lib/apt/lists/*\n"
        'CMD ["hello"]\n')})
    result, lines = build(bengine, ctx, tags=["debian-hello"])
    assert any("Setting up hello" in line for line in lines), lines[-20:]
    cp = run_cli(bengine, "run", "--rm", "debian-hello", timeout=120)
    assert cp.returncode == 0 and cp.stdout.decode() == "Hello, world!\n"
    assert leftovers(bengine) == {"containers": [], "snapshots": [], "mounts": []}
    again, lines = build(bengine, ctx)
    assert again.image_id == result.image_id and lines.count(" ---> Using cache") == 3
