"""The courses' Dockerfiles, built on a busybox-static base imported into a temporary store and
run with `berth run`. There is no internet here, so the "node hello-world" is the same shape
(a base image, WORKDIR, COPY of the app, CMD running it) with a shell script instead of node."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.fixtures import build as fx
from tests.fixtures.build import build, leftovers, run_cli, write_context
from tests.fixtures.build import ok_out as out

busybox_layer, bengine = fx.busybox_layer, fx.bengine  # fixtures

pytestmark = pytest.mark.root


def test_node_style_hello_world(bengine, tmp_path):
    ctx = write_context(tmp_path / "app", {
        "Dockerfile": "FROM busybox\nWORKDIR /usr/src/app\nCOPY package.json app.sh ./\n"
                      "RUN chmod +x app.sh && echo installed > node_modules.txt\nEXPOSE 8080\n"
                      'CMD ["./app.sh"]\n',
        "package.json": '{"name": "hello"}\n',
        "app.sh": "#!/bin/sh\necho \"Hello world from $(cat package.json) $(cat node_modules.txt)\"\n",
    })
    result, lines = build(bengine, ctx, tags=["hello-node:1.0"])
    assert result.tags == ("docker.io/library/hello-node:1.0",)
    assert result.steps == 5 and result.cached_steps == 0
    assert lines[0] == "Step 1/6 : FROM busybox"
    assert "Successfully tagged hello-node:1.0" in lines
    assert f"Successfully built {result.image_id[7:19]}" in lines
    assert out(run_cli(bengine, "run", "--rm", "hello-node:1.0")) == \
        'Hello world from {"name": "hello"} installed\n'
    info = bengine.images.inspect("hello-node:1.0")
    assert info["Config"]["WorkingDir"] == "/usr/src/app"
    assert info["Config"]["ExposedPorts"] == {"8080/tcp": {}}
    assert leftovers(bengine) == {"containers": [], "snapshots": [], "mounts": []}


def test_entrypoint_cmd_percussion_with_env_overrides(bengine, tmp_path):
    ctx = write_context(tmp_path / "perc", {
        "Dockerfile": "FROM busybox\nENV INSTRUMENT=drum SOUND=boom\nCOPY percussion.sh /usr/local/bin/\n"
                      'ENTRYPOINT ["percussion.sh"]\nCMD ["2"]\n',
        "percussion.sh": '#!/bin/sh\ni=0\nwhile [ $i -lt "$1" ]; do echo "$INSTRUMENT: $SOUND"; i=$((i+1)); done\n',
    }, modes={"percussion.sh": 0o755})
    build(bengine, ctx, tags=["percussion"])
    assert out(run_cli(bengine, "run", "--rm", "percussion")) == "drum: boom\ndrum: boom\n"
    assert out(run_cli(bengine, "run", "--rm", "--env", "SOUND=tss", "-e", "INSTRUMENT=cymbal",
                       "percussion", "3")) == "cymbal: tss\n" * 3
    cfg = bengine.images.inspect("percussion")["Config"]
    assert cfg["Entrypoint"] == ["percussion.sh"] and cfg["Cmd"] == ["2"]


def test_entrypoint_drops_inherited_cmd(bengine, tmp_path):
    ctx = write_context(tmp_path / "ep", {"Dockerfile": 'FROM busybox\nENTRYPOINT ["echo", "hi"]\n'})
    build(bengine, ctx, tags=["ep"])
    cfg = bengine.images.inspect("ep")["Config"]
    assert cfg["Entrypoint"] == ["echo", "hi"] and not cfg.get("Cmd")
    assert out(run_cli(bengine, "run", "--rm", "ep")) == "hi\n"


def test_arg_env_label_show_in_inspect(bengine, tmp_path):
    ctx = write_context(tmp_path / "labels", {
        "Dockerfile": "ARG BASE=busybox\nFROM $BASE\nARG VERSION=1.0\nARG AUTHOR\n"
                      "ENV APP_VERSION=$VERSION APP_HOME=/opt/app\n"
                      'LABEL version="$VERSION" author="${AUTHOR:-nobody}" description="labelled image"\n'
                      "MAINTAINER course@example.com\n"
                      'RUN echo "v=$VERSION a=$AUTHOR home=$APP_HOME" > /build-info\n',
    })
    result, lines = build(bengine, ctx, tags=["labelled"], build_args={"VERSION": "2.5", "UNUSED": "x"})
    info = json.loads(out(run_cli(bengine, "image", "inspect", "labelled")))[0]
    assert info["Config"]["Labels"] == {"version": "2.5", "author": "nobody", "description": "labelled image"}
    assert "APP_VERSION=2.5" in info["Config"]["Env"] and "APP_HOME=/opt/app" in info["Config"]["Env"]
    assert info["Author"] == "course@example.com"
    # ARG values reach RUN but are not kept in the image's environment
    assert out(run_cli(bengine, "run", "--rm", "labelled", "cat", "/build-info")) == "v=2.5 a= home=/opt/app\n"
    assert not any(e.startswith("VERSION=") for e in info["Config"]["Env"])
    assert "[Warning] One or more build-args [UNUSED] were not consumed" in lines
    assert result.warnings
    history = bengine.images.history("labelled")
    run_entry = next(h for h in history if "build-info" in h["CreatedBy"])
    assert run_entry["CreatedBy"].startswith("|1 VERSION=2.5 /bin/sh -c")


def test_multi_stage_final_image_lacks_first_stage_files(bengine, tmp_path):
    ctx = write_context(tmp_path / "ms", {
        "Dockerfile": "FROM busybox AS builder\nRUN mkdir /work && echo compiled > /work/app && "
                      "echo junk > /work/tmp-object\n"
                      "FROM busybox\nCOPY --from=builder /work/app /app\nCMD [\"cat\", \"/app\"]\n",
    })
    result, _ = build(bengine, ctx, tags=["ms"])
    assert out(run_cli(bengine, "run", "--rm", "ms")) == "compiled\n"
    cp = run_cli(bengine, "run", "--rm", "ms", "ls", "/work")
    assert cp.returncode != 0
    names = fx.layer_names(bengine, "ms")
    assert names == ["app"]
    # --target stops at the first stage, which has the files
    first, _ = build(bengine, ctx, target="builder", tags=["ms-builder"])
    assert out(run_cli(bengine, "run", "--rm", "ms-builder", "ls", "/work")) == "app\ntmp-object\n"
    assert first.image_id != result.image_id


def _static_hello(tmp_path) -> bytes:
    """A static hello-world binary: compiled when a C compiler is there, else busybox-static."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc:
        src = tmp_path / "hello.c"
        src.write_text('#include <unistd.h>\nint main(void){write(1,"Hello from scratch!\\n",20);return 0;}\n')
        binary = tmp_path / "hello-bin"
        r = subprocess.run([cc, "-static", "-Os", "-o", str(binary), str(src)], capture_output=True)
        if r.returncode == 0:
            return binary.read_bytes()
    pytest.skip("no C compiler able to link statically")


def test_from_scratch_hello_world(bengine, tmp_path):
    ctx = write_context(tmp_path / "scratch", {
        "Dockerfile": 'FROM scratch\nCOPY hello /\nCMD ["/hello"]\n',
        "hello": _static_hello(tmp_path),
    }, modes={"hello": 0o755})
    result, lines = build(bengine, ctx, tags=["hello-scratch"])
    assert lines[:2] == ["Step 1/3 : FROM scratch", " --->"]
    assert out(run_cli(bengine, "run", "--rm", "hello-scratch")) == "Hello from scratch!\n"
    rec = bengine.images.get("hello-scratch")
    assert len(rec.layers) == 1 and fx.layer_names(bengine, "hello-scratch") == ["hello"]
    hist = rec.config["history"]
    assert [h.get("empty_layer", False) for h in hist] == [False, True]


def test_onbuild_triggers_run_in_child(bengine, tmp_path):
    parent = write_context(tmp_path / "parent", {
        "Dockerfile": "FROM busybox\nONBUILD COPY marker.txt /marker.txt\nONBUILD RUN echo triggered >> /marker.txt\n",
    })
    build(bengine, parent, tags=["onbuild-base"])
    assert bengine.images.inspect("onbuild-base")["Config"]["OnBuild"] == [
        "COPY marker.txt /marker.txt", "RUN echo triggered >> /marker.txt"]
    child = write_context(tmp_path / "child", {"Dockerfile": "FROM onbuild-base\n", "marker.txt": "child\n"})
    _, lines = build(bengine, child, tags=["onbuild-child"])
    assert "# Executing 2 build triggers" in lines
    assert out(run_cli(bengine, "run", "--rm", "onbuild-child", "cat", "/marker.txt")) == "child\ntriggered\n"
    assert not bengine.images.inspect("onbuild-child")["Config"].get("OnBuild")
