"""Fixtures shared by every test: temporary berth roots and small real images.

Integration tests run as root against the real kernel; every fixture that creates kernel
state (mounts, processes) removes it on teardown, so the machine is left as it was found.
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from ansible_collections.berth.engine.plugins.module_utils.engine import Engine
from ansible_collections.berth.engine.plugins.module_utils.paths import Paths

BUSYBOX = "/bin/busybox"
REPO = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(config, items):
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)


def unmount_below(path: str | os.PathLike[str]) -> None:
    """Lazily unmount everything mounted at or below ``path`` (deepest first)."""
    base = os.path.realpath(path).rstrip("/") + "/"
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    points = [p.encode().decode("unicode_escape") for p in points]
    for p in sorted((p for p in points if (p + "/").startswith(base)), key=len, reverse=True):
        subprocess.run(["umount", "-l", p], check=False, capture_output=True)


@pytest.fixture
def paths(tmp_path_factory) -> Paths:
    base = tmp_path_factory.mktemp("berth")
    p = Paths(base / "root", base / "run")
    yield p
    # Monitors, the monitor server and containers started under this root, and their cgroups.
    from ansible_collections.berth.engine.plugins.module_utils.runtime.cleanup import stop_all
    stop_all(p)
    # Bridges, veths, namespaces and the firewall table its networks made (none: no import).
    from ansible_collections.berth.engine.plugins.module_utils.network.cleanup import release_all
    release_all(p)
    unmount_below(base)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def engine(paths, monkeypatch) -> Engine:
    monkeypatch.setenv("BERTH_ROOT", str(paths.root))
    monkeypatch.setenv("BERTH_RUN", str(paths.run))
    return Engine(paths)


def busybox_rootfs(dest: Path) -> Path:
    """A minimal real rootfs: busybox-static with its applets linked, /etc/passwd and /etc/group."""
    if not os.path.exists(BUSYBOX):
        pytest.skip("busybox-static is not installed (scripts/setup.sh installs it)")
    for d in ("bin", "etc", "tmp", "root", "proc", "sys", "dev", "home/user"):
        (dest / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, dest / "bin/busybox")
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for a in applets:
        link = dest / "bin" / a
        if a != "busybox" and not link.exists():
            link.symlink_to("busybox")
    (dest / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n"
                                     "user:x:1000:1000:user:/home/user:/bin/sh\n"
                                     "nobody:x:65534:65534:nobody:/:/bin/false\n")
    (dest / "etc/group").write_text("root:x:0:\nuser:x:1000:\nstaff:x:50:user\nnogroup:x:65534:\n")
    os.chmod(dest / "tmp", 0o1777)
    return dest


def tar_of(folder: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for entry in sorted(folder.rglob("*")):
            tf.add(entry, arcname=str(entry.relative_to(folder)), recursive=False)
    return buf.getvalue()


@pytest.fixture(scope="session")
def busybox_tar(tmp_path_factory) -> Path:
    """A rootfs tarball of busybox-static, as `berth import` takes it."""
    base = tmp_path_factory.mktemp("busybox")
    root = busybox_rootfs(base / "rootfs")
    out = base / "busybox.tar"
    out.write_bytes(tar_of(root))
    return out
