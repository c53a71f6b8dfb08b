"""`berth pull/push/login/logout` as a user runs them: output piped and on a terminal."""
import os
import pty
import subprocess
import sys

import pytest

from tests.fixtures.registry import USERS, basic_registry, docker_config, push_image, registry  # noqa: F401
from tests.integration.test_registry_pull import import_tar

pytestmark = [pytest.mark.root, pytest.mark.peers]
BERTH = [sys.executable, "-m", "ansible_collections.berth.engine.plugins.module_utils.cli.main"]


def berth(*args, stdin=None):
    return subprocess.run([*BERTH, *args], capture_output=True, text=True, input=stdin, timeout=120)


def test_pull_piped_prints_only_the_final_lines(registry, engine, docker_config):  # noqa: F811
    img = push_image(registry, "cli/app", "1", [{"a": b"1"}, {"b": b"2"}])
    name = f"{registry.host}/cli/app:1"
    out = berth("pull", name)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [f"Digest: {img.manifest_digest}",
                                       f"Status: Downloaded newer image for {name}", name]
    out = berth("pull", name)
    assert f"Status: Image is up to date for {name}" in out.stdout
    out = berth("pull", "-q", name)
    assert out.stdout.splitlines() == [name]


def test_pull_on_a_terminal_draws_layer_progress(registry, engine, docker_config):  # noqa: F811
    img = push_image(registry, "cli/tty", "1", [{"a": os.urandom(300_000)}, {"b": b"2"}])
    pid, fd = pty.fork()
    if pid == 0:  # the child: berth with its stdout on the terminal
        os.execv(sys.executable, [*BERTH, "pull", f"{registry.host}/cli/tty:1"])
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    text = b"".join(chunks).decode()
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "1: Pulling from cli/tty" in text
    for d in img.layer_digests:
        assert f"{d[7:19]}: Pulling fs layer" in text
        assert f"{d[7:19]}: Pull complete" in text
    assert "\x1b[" in text                      # lines redrawn in place
    assert f"Digest: {img.manifest_digest}" in text


def test_push_piped(registry, engine, busybox_tar, docker_config):  # noqa: F811
    name = f"{registry.host}/cli/busybox:v2"
    rec = import_tar(engine, busybox_tar, name)
    out = berth("push", name)
    assert out.returncode == 0, out.stderr
    size = len(engine.content.read(rec.manifest_digest))
    assert out.stdout.splitlines() == [f"The push refers to repository [{registry.host}/cli/busybox]",
                                       f"v2: digest: {rec.manifest_digest} size: {size}"]


def test_login_logout_and_errors(basic_registry, engine, docker_config):  # noqa: F811
    host = basic_registry.host
    out = berth("login", "-u", "alice", "--password-stdin", host, stdin="bad\n")
    assert out.returncode == 125 and "unauthorized" in out.stderr.lower()
    assert not (docker_config / "config.json").exists()
    out = berth("login", "-u", "alice", "--password-stdin", host, stdin=USERS["alice"] + "\n")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "Login Succeeded"
    assert host in (docker_config / "config.json").read_text()
    out = berth("login", "-u", "alice", "-p", USERS["alice"], host)
    assert "WARNING! Using --password via the CLI is insecure" in out.stderr
    assert berth("logout", host).stdout.strip() == f"Removing login credentials for {host}"
    assert berth("logout", host).stdout.strip() == f"Not logged in to {host}"
    out = berth("login", host, stdin="")
    assert out.returncode == 125 and "non TTY" in out.stderr


def test_pull_errors_are_actionable(registry, engine, docker_config):  # noqa: F811
    out = berth("pull", f"{registry.host}/nothing/here:1")
    assert out.returncode == 125
    assert out.stderr.startswith("Error: ")
    assert "unknown" in out.stderr
    out = berth("pull", "127.0.0.1:1/x:1")
    assert out.returncode == 125 and "127.0.0.1:1" in out.stderr
    out = berth("pull", "Alpine")
    assert out.returncode == 125 and "lowercase" in out.stderr
    out = berth("pull", "--platform", "linux", f"{registry.host}/x/y@sha256:" + "z" * 64)
    assert out.returncode == 125 and "digest" in out.stderr


def test_course_flow_import_push_pull_run(registry, paths, tmp_path, busybox_tar, docker_config):  # noqa: F811
    """The courses' lesson: tag and push to a private registry, pull on a clean host, run it."""
    from tests.conftest import unmount_below
    first = dict(os.environ, BERTH_ROOT=str(paths.root), BERTH_RUN=str(paths.run))
    clean = dict(os.environ, BERTH_ROOT=str(tmp_path / "clean" / "root"), BERTH_RUN=str(tmp_path / "clean" / "run"))
    name = f"{registry.host}/courses/busybox:1"

    def run(env, *args):
        p = subprocess.run([*BERTH, *args], env=env, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, (args, p.stderr)
        return p.stdout

    try:
        run(first, "import", str(busybox_tar), "busybox:course")
        run(first, "tag", "busybox:course", name)
        assert "1: digest: sha256:" in run(first, "push", name)
        assert "Downloaded newer image" in run(clean, "pull", name)
        assert run(clean, "run", "--rm", name, "echo", "hello from the registry").strip() == "hello from the registry"
    finally:
        from ansible_collections.berth.engine.plugins.module_utils.network.cleanup import release_all
        from ansible_collections.berth.engine.plugins.module_utils.paths import Paths
        from ansible_collections.berth.engine.plugins.module_utils.runtime.cleanup import stop_all
        clean_paths = Paths(tmp_path / "clean" / "root", tmp_path / "clean" / "run")
        stop_all(clean_paths)
        release_all(clean_paths)     # the default bridge its `run` made
        stop_all(paths)
        unmount_below(tmp_path / "clean")
