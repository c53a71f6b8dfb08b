"""stdin through `run -i`, `exec -i` and `-it`: piped input reaches the container and its EOF
ends it; a terminal on the caller's side gives the container a pty."""
from __future__ import annotations

import os
import select
import subprocess
import time

import pytest

from tests.fixtures import containers as fx
from tests.fixtures.containers import out, run_cli

busybox_layer, cengine = fx.busybox_layer, fx.cengine  # fixtures

pytestmark = pytest.mark.root


def test_piped_stdin_reaches_run_and_eof_ends_it(cengine):
    cp = run_cli(cengine, "run", "-i", "--rm", "busybox", "sh", "-c", "wc -l; echo after-eof",
                 stdin=b"one\ntwo\nthree\n", timeout=30)
    assert cp.returncode == 0, cp.stderr
    assert out(cp).split() == ["3", "after-eof"]


def test_piped_script_to_a_shell(cengine):
    cp = run_cli(cengine, "run", "-i", "--rm", "busybox", "sh", stdin=b"echo $((6*7))\nexit 4\n", timeout=30)
    assert cp.returncode == 4 and out(cp) == "42\n"


def test_large_piped_stdin_is_delivered_whole(cengine):
    data = os.urandom(3 << 20)  # more than a pipe holds: the monitor buffers, then the EOF
    cp = run_cli(cengine, "run", "-i", "--rm", "busybox", "md5sum", stdin=data, timeout=60)
    assert cp.returncode == 0, cp.stderr
    import hashlib
    assert out(cp).split()[0] == hashlib.md5(data).hexdigest()  # noqa: S324 - a checksum, not security


def test_empty_stdin_is_an_immediate_eof(cengine):
    cp = run_cli(cengine, "run", "-i", "--rm", "busybox", "cat", stdin=b"", timeout=30)
    assert cp.returncode == 0 and cp.stdout == b""


def test_exec_i_gets_stdin_and_eof(cengine):
    cid = out(run_cli(cengine, "run", "-d", "busybox", "sleep", "60")).strip()
    cp = run_cli(cengine, "exec", "-i", cid, "sh", "-c", "cat > /tmp/in; wc -c < /tmp/in", stdin=b"x" * 1000,
                 timeout=30)
    assert cp.returncode == 0 and out(cp).strip() == "1000"
    assert out(run_cli(cengine, "exec", cid, "cat", "/tmp/in")) == "x" * 1000


def _read_until_exit(master: int, proc: subprocess.Popen, limit: float = 30.0) -> bytes:
    got = bytearray()
    deadline = time.monotonic() + limit  # a hang guard, not a speed assertion
    while time.monotonic() < deadline:
        r, _, _ = select.select([master], [], [], 0.2)
        if r:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: every slave is closed
                break
            if not chunk:
                break
            got += chunk
        elif proc.poll() is not None:
            break
    return bytes(got)


def test_run_it_gives_a_terminal(cengine):
    master, slave = os.openpty()
    env = dict(os.environ, BERTH_ROOT=str(cengine.paths.root), BERTH_RUN=str(cengine.paths.run))
    proc = subprocess.Popen([fx.berth_command(), "run", "-it", "--rm", "busybox", "sh"], stdin=slave,
                            stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    try:
        os.write(master, b"tty; stty size; echo sum=$((40+2)); exit 3\r")
        output = _read_until_exit(master, proc)
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    text = output.decode(errors="replace")
    assert code == 3, text
    assert "/dev/pts/" in text and "sum=42" in text


def test_stdin_from_a_regular_file(cengine, tmp_path):
    src = tmp_path / "input"
    src.write_bytes(b"line\n" * 5000)
    env = dict(os.environ, BERTH_ROOT=str(cengine.paths.root), BERTH_RUN=str(cengine.paths.run))
    with open(src, "rb") as f:
        cp = subprocess.run([fx.berth_command(), "run", "-i", "--rm", "busybox", "wc", "-l"], stdin=f,
                            capture_output=True, env=env, timeout=30)
    assert cp.returncode == 0, cp.stderr
    assert out(cp).strip() == "5000"


def test_detach_keys_in_piped_input_are_data(cengine):
    cp = run_cli(cengine, "run", "-i", "--rm", "busybox", "wc", "-c", stdin=b"a\x10\x11b\n", timeout=30)
    assert cp.returncode == 0 and out(cp).strip() == "5"


def test_stdin_from_dev_null(cengine):
    env = dict(os.environ, BERTH_ROOT=str(cengine.paths.root), BERTH_RUN=str(cengine.paths.run))
    with open(os.devnull, "rb") as f:
        cp = subprocess.run([fx.berth_command(), "run", "-i", "--rm", "busybox", "wc", "-c"], stdin=f,
                            capture_output=True, env=env, timeout=30)
    assert cp.returncode == 0, cp.stderr
    assert out(cp).strip() == "0"
