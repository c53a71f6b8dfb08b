"""`berth build` and `berth builder prune` as a user runs them: output, stdin contexts, -f,
-q, --label, --network, errors and exit codes."""
from __future__ import annotations

import io
import tarfile

import pytest

from tests.fixtures import build as fx
from tests.fixtures.build import leftovers, run_cli, write_context
from tests.fixtures.build import ok_out as text

busybox_layer, bengine = fx.busybox_layer, fx.bengine  # fixtures

pytestmark = pytest.mark.root


def test_build_output_and_quiet(bengine, tmp_path):
    ctx = write_context(tmp_path / "c", {"Dockerfile": "FROM busybox\nRUN echo hello-from-run\nCMD [\"true\"]\n"})
    lines = text(run_cli(bengine, "build", "-t", "cli:1", "-t", "cli:2", str(ctx))).splitlines()
    assert lines[0] == "Step 1/3 : FROM busybox"
    assert lines[2] == "Step 2/3 : RUN echo hello-from-run"
    assert lines[3].startswith(" ---> Running in ") and len(lines[3].split()[-1]) == 12
    assert lines[4] == "hello-from-run"
    assert lines[5] == f"Removing intermediate container {lines[3].split()[-1]}"
    image12 = lines[-3].split()[-1]
    assert lines[-3] == f"Successfully built {image12}"
    assert lines[-2:] == ["Successfully tagged cli:1", "Successfully tagged cli:2"]
    iid = tmp_path / "iid"
    quiet = text(run_cli(bengine, "build", "-q", "--iidfile", str(iid), str(ctx))).strip()
    assert quiet.startswith("sha256:") and quiet[7:19] == image12
    assert iid.read_text() == quiet
    again = text(run_cli(bengine, "build", str(ctx)))
    assert again.count(" ---> Using cache") == 2


def test_context_tar_and_dockerfile_on_stdin(bengine, tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in (("Dockerfile", b"FROM busybox\nCOPY msg /msg\nCMD [\"cat\", \"/msg\"]\n"),
                           ("msg", b"from a tar context\n")):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    assert run_cli(bengine, "build", "-t", "tarctx", "-", stdin=buf.getvalue()).returncode == 0
    assert text(run_cli(bengine, "run", "--rm", "tarctx")) == "from a tar context\n"
    # a plain Dockerfile on stdin: no context at all
    cp = run_cli(bengine, "build", "-t", "nocontext", "-", stdin=b"FROM busybox\nLABEL from=stdin\n")
    assert cp.returncode == 0, cp.stderr
    assert bengine.images.inspect("nocontext")["Config"]["Labels"] == {"from": "stdin"}
    # -f - : the Dockerfile from stdin, the folder as context
    ctx = write_context(tmp_path / "dir", {"data.txt": "dir context\n"})
    cp = run_cli(bengine, "build", "-f", "-", "-t", "dashf", str(ctx),
                 stdin=b"FROM busybox\nCOPY data.txt /\nCMD [\"cat\", \"/data.txt\"]\n")
    assert cp.returncode == 0, cp.stderr
    assert text(run_cli(bengine, "run", "--rm", "dashf")) == "dir context\n"


def test_build_arg_from_the_environment(bengine, tmp_path):
    import os
    import subprocess
    ctx = write_context(tmp_path / "args", {"Dockerfile": "FROM busybox\nARG FROM_ENV\nARG GIVEN\n"
                                                          "RUN echo \"$FROM_ENV $GIVEN\" > /args\n"})
    env = dict(os.environ, BERTH_ROOT=str(bengine.paths.root), BERTH_RUN=str(bengine.paths.run),
               FROM_ENV="env-value")
    cp = subprocess.run(["berth", "build", "--build-arg", "FROM_ENV", "--build-arg", "GIVEN=given",
                         "--build-arg", "UNSET_IN_ENV", "-t", "args", str(ctx)], env=env, capture_output=True)
    assert cp.returncode == 0, cp.stderr
    assert text(run_cli(bengine, "run", "--rm", "args", "cat", "/args")) == "env-value given\n"


def test_dockerfile_outside_the_context_and_labels(bengine, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"f.txt": "f\n"})
    other = write_context(tmp_path / "elsewhere", {"build.Dockerfile": "FROM busybox\nCOPY f.txt /\n"})
    cp = run_cli(bengine, "build", "-f", str(other / "build.Dockerfile"), "--label", "team=infra",
                 "--label", "tier=1", "-t", "outside", str(ctx))
    assert cp.returncode == 0, cp.stderr
    assert bengine.images.inspect("outside")["Config"]["Labels"] == {"team": "infra", "tier": "1"}
    assert fx.layer_names(bengine, "outside") == ["f.txt"]


def test_failing_run_prints_docker_message_and_exits_1(bengine, tmp_path):
    ctx = write_context(tmp_path / "bad", {"Dockerfile": "FROM busybox\nRUN echo partial-output; exit 3\n"})
    cp = run_cli(bengine, "build", "-t", "bad", str(ctx))
    assert cp.returncode == 1
    assert "partial-output" in cp.stdout.decode()
    assert cp.stderr.decode().strip() == "The command '/bin/sh -c echo partial-output; exit 3' returned a non-zero code: 3"
    assert run_cli(bengine, "image", "inspect", "bad").returncode != 0
    assert leftovers(bengine) == {"containers": [], "snapshots": [], "mounts": []}


def test_errors_name_the_line_or_value(bengine, tmp_path):
    ctx = write_context(tmp_path / "err", {"Dockerfile": "FROM busybox\nFROBNICATE now\n"})
    cp = run_cli(bengine, "build", str(ctx))
    assert cp.returncode == 1 and b"Dockerfile:2: unknown instruction: FROBNICATE" in cp.stderr
    cp = run_cli(bengine, "build", str(tmp_path / "missing"))
    assert cp.returncode == 1 and b"missing" in cp.stderr
    write_context(ctx, {"Dockerfile": "FROM busybox\nCOPY nothere /\n"})
    cp = run_cli(bengine, "build", str(ctx))
    assert cp.returncode == 1 and b"nothere" in cp.stderr
    write_context(ctx, {"Dockerfile": 'FROM busybox\nRUN ["nosuchcmd"]\n'})
    cp = run_cli(bengine, "build", str(ctx))
    assert cp.returncode == 1 and b"The command 'nosuchcmd' could not be run" in cp.stderr
    assert leftovers(bengine) == {"containers": [], "snapshots": [], "mounts": []}
    write_context(ctx, {"Dockerfile": "FROM busybox\nUSER ghost\nRUN true\n"})
    cp = run_cli(bengine, "build", str(ctx))
    assert cp.returncode == 1 and b"unable to find user ghost" in cp.stderr
    assert leftovers(bengine) == {"containers": [], "snapshots": [], "mounts": []}
    cp = run_cli(bengine, "build", "--network", "sideways", str(ctx))
    assert cp.returncode == 125 and b"sideways" in cp.stderr
    cp = run_cli(bengine, "build", "--target", "nosuch", str(ctx))
    assert cp.returncode == 1 and b"nosuch" in cp.stderr


def test_run_networks(bengine, tmp_path):
    """RUN joins the engine's default bridge (a route out through NAT), or none, or the host."""
    ctx = write_context(tmp_path / "net", {"Dockerfile": (
        "FROM busybox\n"
        "RUN ip route > /bridge-routes && cat /proc/net/dev > /bridge-dev\n"
        "RUN --network=none cat /proc/net/dev > /none-dev\n")})
    assert run_cli(bengine, "build", "-t", "nets", str(ctx)).returncode == 0
    routes = text(run_cli(bengine, "run", "--rm", "--network", "none", "nets", "cat", "/bridge-routes"))
    assert routes.startswith("default via ")
    assert "eth0" in text(run_cli(bengine, "run", "--rm", "--network", "none", "nets", "cat", "/bridge-dev"))
    none = text(run_cli(bengine, "run", "--rm", "--network", "none", "nets", "cat", "/none-dev"))
    assert "eth0" not in none and "lo:" in none
    host = write_context(tmp_path / "host", {"Dockerfile": "FROM busybox\nRUN hostname > /h\n"})
    assert run_cli(bengine, "build", "--network", "host", "-t", "hostnet", str(host)).returncode == 0
    import socket
    assert text(run_cli(bengine, "run", "--rm", "--network", "none", "hostnet", "cat", "/h")).strip() == \
        socket.gethostname()


def test_system_df_and_builder_prune(bengine, tmp_path):
    ctx = write_context(tmp_path / "df", {"Dockerfile": "FROM busybox\nRUN echo x > /x\n"})
    assert run_cli(bengine, "build", str(ctx)).returncode == 0     # untagged: dangling cache
    df = text(run_cli(bengine, "system", "df"))
    row = next(line for line in df.splitlines() if line.startswith("Build Cache"))
    assert row.split()[2] == "1"
    cp = run_cli(bengine, "builder", "prune", stdin=b"n\n")
    assert "WARNING! This will remove all dangling build cache." in cp.stdout.decode()
    assert len(bengine.builder.cache_usage()) == 1
    cp = run_cli(bengine, "builder", "prune", "-f")
    assert "Deleted build cache objects:" in text(cp)
    assert bengine.builder.cache_usage() == []
    assert run_cli(bengine, "build", str(ctx)).returncode == 0
    cp = run_cli(bengine, "system", "prune", "-a", "-f")
    assert cp.returncode == 0 and bengine.builder.cache_usage() == []
