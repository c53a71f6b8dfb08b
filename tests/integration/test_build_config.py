"""Config instructions as RUN and the image see them (USER, WORKDIR, SHELL, ENV, HEALTHCHECK,
STOPSIGNAL, VOLUME, EXPOSE), ADD of URLs with --checksum, COPY --parents and --exclude, and
RUN --mount cache, bind and tmpfs."""
from __future__ import annotations

import hashlib
import http.server
import threading

import pytest
from ansible_collections.berth.engine.plugins.module_utils.errors import BuildError

from tests.fixtures import build as fx
from tests.fixtures.build import build, run_cli, write_context
from tests.fixtures.build import ok_out as out

busybox_layer, bengine = fx.busybox_layer, fx.bengine  # fixtures

pytestmark = pytest.mark.root


def test_config_instructions_reach_run_and_the_image(bengine, tmp_path):
    ctx = write_context(tmp_path / "cfg", {"Dockerfile": (
        "FROM busybox\n"
        "ENV GREETING=hi\n"
        "WORKDIR /srv\nWORKDIR sub\n"
        "USER user\n"
        "RUN echo \"$(id -u):$(id -g) $(pwd) $GREETING\" > /tmp/who\n"
        'SHELL ["/bin/sh", "-ec"]\n'
        "RUN echo \"shell $0\" > /tmp/shell\n"
        "USER root\n"
        "HEALTHCHECK --interval=5s --retries=2 CMD true\n"
        "STOPSIGNAL SIGUSR1\nVOLUME /data\nEXPOSE 80 53/udp\n"
        "CMD echo $GREETING\n")})
    build(bengine, ctx, tags=["cfg"])
    assert out(run_cli(bengine, "run", "--rm", "cfg", "cat", "/tmp/who", "/tmp/shell")) == \
        "1000:1000 /srv/sub hi\nshell /bin/sh\n"
    cfg = bengine.images.inspect("cfg")["Config"]
    assert cfg["WorkingDir"] == "/srv/sub" and cfg["User"] == "root"
    assert cfg["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000, "Retries": 2}
    assert cfg["StopSignal"] == "SIGUSR1"
    assert cfg["Volumes"] == {"/data": {}}
    assert cfg["ExposedPorts"] == {"53/udp": {}, "80/tcp": {}}
    assert cfg["Cmd"] == ["/bin/sh", "-ec", "echo $GREETING"]     # shell form through SHELL
    assert out(run_cli(bengine, "run", "--rm", "cfg")) == "hi\n"
    history = bengine.images.get("cfg").config["history"]
    layered = [h["created_by"] for h in history if not h.get("empty_layer")]
    assert len(layered) == 1 + 2 + 2       # the base, WORKDIR /srv and sub, two RUNs


class _Files(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}

    def do_GET(self) -> None:  # noqa: N802
        data = self.files.get(self.path)
        if data is None:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Last-Modified", "Wed, 21 Oct 2026 07:28:00 GMT")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def http_files():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Files.files
    server.shutdown()
    server.server_close()
    _Files.files.clear()


def test_add_url_with_checksum(bengine, tmp_path, http_files):
    base, files = http_files
    files["/dl/tool.txt"] = b"downloaded\n"
    good = "sha256:" + hashlib.sha256(b"downloaded\n").hexdigest()
    ctx = write_context(tmp_path / "url", {"Dockerfile": (
        f"FROM busybox\nADD --checksum={good} {base}/dl/tool.txt /opt/\nADD {base}/dl/tool.txt /renamed\n")})
    build(bengine, ctx, tags=["url"])
    cp = run_cli(bengine, "run", "--rm", "url", "sh", "-c",
                 "cat /opt/tool.txt /renamed; stat -c '%a %Y' /opt/tool.txt")
    assert out(cp) == "downloaded\ndownloaded\n600 1792567680\n"
    # the content is what the cache compares: a changed download re-runs the step
    files["/dl/tool.txt"] = b"changed!!!\n"
    write_context(ctx, {"Dockerfile": f"FROM busybox\nADD {base}/dl/tool.txt /renamed\n"})
    _, lines = build(bengine, ctx, tags=["url2"])
    assert " ---> Using cache" not in lines
    assert out(run_cli(bengine, "run", "--rm", "url2", "cat", "/renamed")) == "changed!!!\n"
    write_context(ctx, {"Dockerfile": f"FROM busybox\nADD --checksum={good} {base}/dl/tool.txt /x\n"})
    with pytest.raises(BuildError, match="digest mismatch"):
        build(bengine, ctx)
    write_context(ctx, {"Dockerfile": f"FROM busybox\nADD {base}/missing /x\n"})
    with pytest.raises(BuildError, match="404"):
        build(bengine, ctx)


def test_copy_parents_and_exclude(bengine, tmp_path):
    ctx = write_context(tmp_path / "par", {
        "Dockerfile": ("FROM busybox\nCOPY --parents a/x.txt b/c/y.txt /keep/\n"
                       "COPY --from=busybox:latest /etc/group /keep/from-image-group\n"
                       "COPY --exclude=*.tmp --exclude=skip tree /tree/\n"),
        "a/x.txt": "x\n", "b/c/y.txt": "y\n", "tree/keep.txt": "k\n", "tree/drop.tmp": "d\n",
        "tree/skip/z": "z\n", "tree/deep/also.tmp": "t\n",
    })
    build(bengine, ctx, tags=["par"])
    cp = run_cli(bengine, "run", "--rm", "par", "find", "/keep", "/tree", "-type", "f")
    assert sorted(out(cp).split()) == ["/keep/a/x.txt", "/keep/b/c/y.txt", "/keep/from-image-group",
                                       "/tree/deep/also.tmp", "/tree/keep.txt"]


def test_run_mounts_cache_bind_tmpfs(bengine, tmp_path):
    ctx = write_context(tmp_path / "mnt", {
        "Dockerfile": ("FROM busybox\n"
                       "RUN --mount=type=cache,target=/cache echo run >> /cache/log && cat /cache/log > /seen\n"
                       "RUN --mount=type=bind,source=conf,target=/conf cat /conf/setting > /setting\n"
                       "RUN --mount=type=tmpfs,target=/scratch touch /scratch/t && ls /scratch > /tmpfs-seen\n"),
        "conf/setting": "from the context\n",
    })
    build(bengine, ctx, tags=["mnt"])
    assert out(run_cli(bengine, "run", "--rm", "mnt", "cat", "/seen", "/setting", "/tmpfs-seen")) == \
        "run\nfrom the context\nt\n"
    build(bengine, ctx, tags=["mnt"], no_cache=True)
    assert out(run_cli(bengine, "run", "--rm", "mnt", "cat", "/seen")) == "run\nrun\n"   # the cache persisted
    assert out(run_cli(bengine, "run", "--rm", "mnt", "ls", "-a", "/cache", "/scratch", "/conf")).split() == \
        ["/cache:", ".", "..", "/conf:", ".", "..", "/scratch:", ".", ".."]
    write_context(ctx, {"Dockerfile": "FROM busybox\nRUN --mount=type=secret,id=x true\n"})
    with pytest.raises(BuildError, match="not supported"):
        build(bengine, ctx)
