"""The berth command's fast path (cli/fastpath.py -> runtime/clihost.py) against the local path.

Each test runs the real `berth` entry point on a temporary root. The fast path is observed
through a probe that calls the client directly and exits 200 when the client fell back (it
never runs a command locally), and through BERTH_FASTPATH_CHILD, which the server's child
sets in its environment (`run -e NAME` copies it into the container).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from ansible_collections.berth.engine.plugins.module_utils.runtime import clihost

pytestmark = pytest.mark.root

REPO = Path(__file__).resolve().parents[2]
BERTH = str(REPO / ".venv/bin/berth")
FELL_BACK = 200
PROBE = (
    "import sys\n"
    "from ansible_collections.berth.engine.plugins.module_utils.cli.fastpath import run\n"
    "code = run(sys.argv[1:])\n"
    f"sys.exit({FELL_BACK} if code is None else code)\n"
)


@pytest.fixture
def env(paths, busybox_tar):
    e = dict(os.environ, BERTH_ROOT=str(paths.root), BERTH_RUN=str(paths.run))
    e.pop("BERTH_NO_FASTPATH", None)
    r = subprocess.run([BERTH, "import", str(busybox_tar), "fastbox:latest"], env=e,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    # A first container starts the monitor server and records the checkout's engine hash.
    r = subprocess.run([BERTH, "run", "--rm", "--network", "none", "fastbox", "true"], env=e,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return e


def berth(env, *argv, local=False, timeout=60):
    e = dict(env, BERTH_NO_FASTPATH="1") if local else env
    return subprocess.run([BERTH, *argv], env=e, capture_output=True, text=True, timeout=timeout)


def probe(env, *argv, **kw):
    """The fast-path client alone: exit FELL_BACK when it would have run the command here."""
    return subprocess.run([sys.executable, "-sP", "-c", PROBE, *argv], env=env,
                          capture_output=True, text=True, timeout=60, **kw)


def _name(tag):
    return f"fp-{tag}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def test_fast_path_runs_the_command_in_the_servers_child(env, paths):
    r = berth(env, "run", "--rm", "--network", "none", "-e", clihost.MARK_ENV, "fastbox",
              "sh", "-c", f"echo marker=${clihost.MARK_ENV}")
    assert r.returncode == 0, r.stderr
    pid = r.stdout.strip().removeprefix("marker=")
    assert pid.isdigit(), r.stdout
    server_pid = int((paths.run / "monitor.pid").read_text().split()[0])
    assert int(pid) != server_pid
    local = berth(env, "run", "--rm", "--network", "none", "-e", clihost.MARK_ENV, "fastbox",
                  "sh", "-c", f"echo marker=${clihost.MARK_ENV}", local=True)
    assert local.returncode == 0, local.stderr
    assert local.stdout == "marker=\n"


@pytest.mark.parametrize("argv", [
    ["run", "--rm", "--network", "none", "fastbox", "echo", "hello"],
    ["run", "--rm", "--network", "none", "fastbox", "sh", "-c", "echo out; echo err >&2; exit 3"],
    ["run", "--bogus-flag", "fastbox"],
    ["run", "--rm", "--network", "none", "fastbox", "/no/such/command"],
    ["run", "--rm", "--network", "none", "fastbox", "/etc"],
    ["ps", "-a"],
    ["images", "--format", "{{.Repository}}:{{.Tag}}"],
    ["inspect", "--format", "{{.Config.Cmd}}", "fastbox"],
    ["nosuchverb"],
], ids=["echo", "exit3", "badflag", "notfound", "notexec", "ps", "images", "inspect",
        "unknown"])
def test_same_output_and_exit_code_as_the_local_path(env, argv):
    fast = probe(env, *argv)
    local = berth(env, *argv, local=True)
    if argv[0] == "nosuchverb":
        assert fast.returncode == FELL_BACK  # not on the allow-list
        return
    assert fast.returncode != FELL_BACK, fast.stderr
    assert (fast.returncode, fast.stdout, fast.stderr) == (local.returncode, local.stdout, local.stderr)


def test_exit_codes(env):
    cases = {("fastbox", "sh", "-c", "exit 3"): 3, ("--bogus-flag", "fastbox"): 125,
             ("fastbox", "/no/such/command"): 127, ("fastbox", "/etc"): 126}
    for tail, code in cases.items():
        argv = ["run", "--rm", "--network", "none", *tail] if tail[0] == "fastbox" else ["run", *tail]
        r = probe(env, *argv)
        assert r.returncode == code, (argv, r.stderr)


def test_inspect_and_ps_of_a_running_container(env):
    name = _name("ps")
    r = berth(env, "run", "-d", "--network", "none", "--name", name, "fastbox", "sleep", "60")
    assert r.returncode == 0, r.stderr
    try:
        for argv in (["ps", "--format", "{{.Names}} {{.Status}}"],
                     ["inspect", "--format", "{{.State.Status}} {{.Name}}", name],
                     ["container", "inspect", "--format", "{{.Id}}", name]):
            fast, local = probe(env, *argv), berth(env, *argv, local=True)
            assert fast.returncode == 0, fast.stderr
            assert (fast.stdout, fast.stderr) == (local.stdout, local.stderr)
        assert f"running /{name}" in fast.stdout or fast.stdout.strip()
    finally:
        berth(env, "rm", "-f", name, local=True)


def test_global_root_and_run_flags(env, paths):
    e = {k: v for k, v in env.items() if k not in ("BERTH_ROOT", "BERTH_RUN")}
    argv = ["--root", str(paths.root), f"--run={paths.run}", "images", "--format", "{{.Repository}}"]
    fast = probe(e, *argv)
    assert fast.returncode == 0, fast.stderr
    assert fast.stdout == "fastbox\n"
    assert probe(e, "--root").returncode == FELL_BACK  # a flag without its value: main() says so


def test_stdin_is_the_clients(env):
    # `run` without -i does not read stdin, but the child holds the client's descriptor.
    r = probe(env, "run", "--rm", "--network", "none", "fastbox", "echo", "x", stdin=subprocess.DEVNULL)
    assert r.returncode == 0 and r.stdout == "x\n", r.stderr


def test_working_folder_and_umask_are_the_clients(env, tmp_path):
    # `--env-file` is read from the client's working folder by the child.
    (tmp_path / "vars").write_text("GREETING=from-cwd\n")
    r = subprocess.run([sys.executable, "-sP", "-c", PROBE, "run", "--rm", "--network", "none",
                        "--env-file", "vars", "fastbox", "sh", "-c", "echo $GREETING"],
                       env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "from-cwd\n"


def test_fallback_when_the_server_is_stale(env, paths):
    hashes = list((paths.run / "engine-hashes").iterdir())
    assert hashes
    saved = {h: h.read_text() for h in hashes}
    try:
        for h in hashes:
            h.write_text("0" * 24 + "\n")  # the checkout "changed": its code is another version
        r = probe(env, "ps", "-a")
        assert r.returncode == FELL_BACK, r.stderr
        assert r.stdout == "" and r.stderr == ""
    finally:
        for h, text in saved.items():
            h.write_text(text)
    assert probe(env, "ps", "-a").returncode == 0


def test_fallback_without_a_recorded_hash_or_a_server(env, paths):
    hashes = paths.run / "engine-hashes"
    moved = paths.run / "engine-hashes.moved"
    os.rename(hashes, moved)
    try:
        assert probe(env, "ps").returncode == FELL_BACK
    finally:
        os.rename(moved, hashes)
    sock = paths.run / "monitor.sock"
    os.rename(sock, paths.run / "monitor.sock.moved")
    try:
        assert probe(env, "ps").returncode == FELL_BACK
        r = berth(env, "ps")  # the entry point runs it locally
        assert r.returncode == 0 and r.stdout.startswith("CONTAINER ID"), r.stderr
    finally:
        os.rename(paths.run / "monitor.sock.moved", sock)


def test_no_fastpath_variable_and_interactive_flags_stay_local(env):
    e = dict(env, BERTH_NO_FASTPATH="1")
    assert probe(e, "ps").returncode == FELL_BACK
    for argv in (["run", "-i", "--rm", "fastbox", "true"], ["run", "-it", "--rm", "fastbox", "true"],
                 ["run", "--tty", "--rm", "fastbox", "true"], ["logs", "-f", "x"],
                 ["attach", "x"], ["load"], ["cp", "-", "x:/"], ["exec", "-i", "x", "true"]):
        assert probe(env, *argv).returncode == FELL_BACK, argv


def test_non_root_clients_are_refused(env):
    def drop():
        os.setgid(65534)
        os.setuid(65534)

    r = probe(env, "ps", preexec_fn=drop)
    assert r.returncode == FELL_BACK, r.stderr


def test_clients_in_other_namespaces_are_refused(env):
    r = subprocess.run(["unshare", "--net", sys.executable, "-sP", "-c", PROBE, "ps"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == FELL_BACK, r.stderr


def _wait_running(env, name):
    for _ in range(200):
        r = berth(env, "inspect", "--format", "{{.State.Status}}", name, local=True)
        if r.stdout.strip() == "running":
            return
        time.sleep(0.05)
    raise AssertionError(f"{name} never ran: {r.stdout} {r.stderr}")


def _fastpath_children(env):
    """Pids of the monitor server's command children (by their name, see clihost.py)."""
    with open(Path(env["BERTH_RUN"]) / "monitor.pid") as f:
        server = f.read().split()[0]
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        if fields[1] == server and comm == clihost.CHILD_NAME and fields[0] != "Z":
            out.append(int(pid))
    return out


@pytest.mark.parametrize("local", [False, True], ids=["fast", "local"])
def test_ctrl_c_stops_an_attached_run(env, local):
    name = _name("int")
    e = dict(env, BERTH_NO_FASTPATH="1") if local else env
    proc = subprocess.Popen([BERTH, "run", "--rm", "--network", "none", "--name", name, "fastbox",
                             "sleep", "60"], env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_running(env, name)
        children = _fastpath_children(env)
        assert bool(children) is not local
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        assert proc.returncode == 130
        # (a process the command left to delete files after it answered may still be there)
        assert not any(_alive(p) for p in children)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        berth(env, "rm", "-f", name, local=True)


def test_sigterm_is_forwarded_and_a_dead_client_kills_its_command(env):
    name = _name("term")
    r = berth(env, "run", "-d", "--network", "none", "--name", name, "fastbox", "sleep", "60")
    assert r.returncode == 0, r.stderr
    try:
        proc = subprocess.Popen([BERTH, "wait", name], env=env, stdout=subprocess.PIPE)
        children = _until(lambda: _fastpath_children(env))
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGTERM  # as the local interpreter ends on SIGTERM
        _until(lambda: not any(_alive(p) for p in children))

        proc = subprocess.Popen([BERTH, "wait", name], env=env, stdout=subprocess.PIPE)
        children = _until(lambda: _fastpath_children(env))
        proc.kill()
        proc.wait()
        _until(lambda: not any(_alive(p) for p in children))
    finally:
        berth(env, "rm", "-f", name, local=True)


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _until(fn):
    for _ in range(400):
        v = fn()
        if v:
            return v
        time.sleep(0.025)
    raise AssertionError("condition never held")
