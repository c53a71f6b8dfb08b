"""The layer cache (hits, invalidation by one file, --no-cache, .dockerignore), failing RUN
cleanup, heredocs, ADD of local archives, COPY rules, and cache usage and prune."""
from __future__ import annotations

import io
import os
import tarfile

import pytest
from ansible_collections.berth.engine.plugins.module_utils.errors import BuildError

from tests.fixtures import build as fx
from tests.fixtures.build import build, leftovers, run_cli, write_context
from tests.fixtures.build import ok_out as out

busybox_layer, bengine = fx.busybox_layer, fx.bengine  # fixtures

pytestmark = pytest.mark.root

DOCKERFILE = ("FROM busybox\nENV A=1\nCOPY one.txt /one.txt\nCOPY two.txt /two.txt\n"
              "RUN cat /one.txt /two.txt > /both.txt\nCMD [\"cat\", \"/both.txt\"]\n")


def using_cache(lines: list[str]) -> list[int]:
    """The step numbers that printed ` ---> Using cache`."""
    steps, current = [], 0
    for line in lines:
        if line.startswith("Step "):
            current = int(line.split()[1].split("/")[0])
        elif line == " ---> Using cache":
            steps.append(current)
    return steps


def test_rebuild_hits_cache_and_one_changed_file_reruns_from_its_step(bengine, tmp_path):
    ctx = write_context(tmp_path / "c", {"Dockerfile": DOCKERFILE, "one.txt": "1\n", "two.txt": "2\n"})
    first, lines = build(bengine, ctx, tags=["cached"])
    assert using_cache(lines) == [] and first.cached_steps == 0
    again, lines = build(bengine, ctx, tags=["cached"])
    assert again.image_id == first.image_id
    assert using_cache(lines) == [2, 3, 4, 5, 6] and again.cached_steps == again.steps == 5
    assert not any("Running in" in x for x in lines)
    # an mtime change alone is not a change
    os.utime(ctx / "one.txt", (1, 1))
    assert build(bengine, ctx)[0].image_id == first.image_id
    # changing the second copied file re-runs from its COPY on
    (ctx / "two.txt").write_text("two\n")
    changed, lines = build(bengine, ctx, tags=["cached"])
    assert using_cache(lines) == [2, 3] and changed.image_id != first.image_id
    assert out(run_cli(bengine, "run", "--rm", "cached")) == "1\ntwo\n"
    # a mode change is a change
    os.chmod(ctx / "two.txt", 0o600)
    _, lines = build(bengine, ctx)
    assert using_cache(lines) == [2, 3]
    # --no-cache runs everything again
    fresh, lines = build(bengine, ctx, no_cache=True)
    assert using_cache(lines) == [] and fresh.cached_steps == 0
    assert any("Running in" in x for x in lines)


def test_build_args_are_part_of_the_run_key(bengine, tmp_path):
    ctx = write_context(tmp_path / "args", {"Dockerfile": "FROM busybox\nARG V=1\nRUN echo $V > /v\n"})
    a, _ = build(bengine, ctx)
    b, lines = build(bengine, ctx, build_args={"V": "2"})
    assert a.image_id != b.image_id and using_cache(lines) == [2]
    c, lines = build(bengine, ctx, build_args={"V": "2"})
    assert c.image_id == b.image_id and using_cache(lines) == [2, 3]


def test_dockerignore_excludes_files_and_their_changes(bengine, tmp_path):
    ctx = write_context(tmp_path / "ign", {
        "Dockerfile": "FROM busybox\nCOPY . /app/\n",
        ".dockerignore": "*.log\nsecret/\n!secret/keep.txt\n",
        "main.txt": "main\n", "debug.log": "noise\n", "secret/key": "k\n", "secret/keep.txt": "kept\n",
        "sub/x.log": "sub log is kept: *.log matches the top only\n",
    })
    first, _ = build(bengine, ctx, tags=["ign"])
    names = fx.layer_names(bengine, "ign")
    assert "app/main.txt" in names and "app/secret/keep.txt" in names and "app/sub/x.log" in names
    assert "app/debug.log" not in names and "app/secret/key" not in names
    (ctx / "debug.log").write_text("more noise\n")
    again, lines = build(bengine, ctx)
    assert again.image_id == first.image_id and using_cache(lines) == [2]
    # naming an ignored file is an error, as in Docker
    write_context(ctx, {"Dockerfile": "FROM busybox\nCOPY debug.log /\n"})
    with pytest.raises(BuildError, match="excluded by .dockerignore"):
        build(bengine, ctx)


def test_failing_run_leaves_nothing(bengine, tmp_path):
    ctx = write_context(tmp_path / "fail", {
        "Dockerfile": "FROM busybox\nRUN echo before-failing && echo to-stderr >&2 && exit 7\nCMD [\"true\"]\n"})
    images_before = {r.id for r in bengine.images.list()}
    with pytest.raises(BuildError) as info:
        build(bengine, ctx, tags=["never"])
    assert str(info.value) == ("The command '/bin/sh -c echo before-failing && echo to-stderr >&2 && exit 7' "
                               "returned a non-zero code: 7")
    assert info.value.line == 2 and info.value.details["exit_code"] == 7
    assert not bengine.images.exists("never")
    assert {r.id for r in bengine.images.list()} == images_before
    assert leftovers(bengine) == {"containers": [], "snapshots": [], "mounts": []}
    # the output was streamed before the error
    lines: list[str] = []
    with pytest.raises(BuildError):
        bengine.builder.build(ctx, progress=lines.append)
    assert "before-failing" in lines and "to-stderr" in lines
    assert not list((bengine.paths.tmp).glob("build*"))


def test_heredoc_runs_and_copy(bengine, tmp_path):
    ctx = write_context(tmp_path / "here", {"Dockerfile": (
        "FROM busybox\n"
        "RUN <<EOF\nmkdir -p /out\necho first > /out/a\necho second >> /out/a\nEOF\n"
        "RUN <<EOF\n#!/bin/sh\necho \"script $0\" > /out/b\nEOF\n"
        "ENV WHO=builder\nCOPY <<EOF /out/c\ninline $WHO\nEOF\nCOPY <<'EOF' /out/d\nquoted $WHO\nEOF\n")})
    build(bengine, ctx, tags=["here"])
    assert out(run_cli(bengine, "run", "--rm", "here", "cat", "/out/a", "/out/b", "/out/c", "/out/d")) == \
        "first\nsecond\nscript /dev/pipes/EOF\ninline builder\nquoted $WHO\n"
    # no mount point of the runtime leaks into RUN layers
    for index in (-4, -3):
        names = fx.layer_names(bengine, "here", index)
        assert not any(n.startswith(("etc", "proc", "sys", "dev")) for n in names), names


def _tar(files: dict[str, bytes], gz: bool) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w") as tf:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.uid, ti.gid = len(data), 0o640, 1000, 1000
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def test_add_local_archives_are_extracted(bengine, tmp_path):
    ctx = write_context(tmp_path / "add", {
        "Dockerfile": "FROM busybox\nADD bundle.tar.gz /opt/\nADD plain.tar /plain\nADD notes.txt /notes/\n"
                      "COPY bundle.tar.gz /copied/\n",
        "bundle.tar.gz": _tar({"pkg/lib.txt": b"lib\n"}, gz=True),
        "plain.tar": _tar({"p.txt": b"plain\n"}, gz=False),
        "notes.txt": "notes\n",
    })
    build(bengine, ctx, tags=["added"])
    cp = run_cli(bengine, "run", "--rm", "added", "sh", "-c",
                 "cat /opt/pkg/lib.txt /plain/p.txt /notes/notes.txt; stat -c '%u:%g %a' /opt/pkg/lib.txt; "
                 "ls /copied")
    assert out(cp) == "lib\nplain\nnotes\n1000:1000 640\nbundle.tar.gz\n"


def test_copy_rules_chown_chmod_globs_and_workdir(bengine, tmp_path):
    ctx = write_context(tmp_path / "rules", {
        "Dockerfile": ("FROM busybox\nWORKDIR /srv\nCOPY --chown=user:staff --chmod=640 a.txt rel/\n"
                       "COPY *.md docs/\nCOPY dir /dircontents\nCOPY a.txt /renamed\n"),
        "a.txt": "a\n", "x.md": "x\n", "y.md": "y\n", "dir/inner/f": "f\n",
    })
    build(bengine, ctx, tags=["rules"])
    cp = run_cli(bengine, "run", "--rm", "rules", "sh", "-c",
                 "stat -c '%n %u:%g %a' rel/a.txt; ls docs; ls /dircontents; cat /renamed; pwd")
    assert out(cp) == "rel/a.txt 1000:50 640\nx.md\ny.md\ninner\na\n/srv\n"
    write_context(ctx, {"Dockerfile": "FROM busybox\nCOPY *.md /single\n"})
    with pytest.raises(BuildError, match="must be a directory and end with a /"):
        build(bengine, ctx)


def test_symlinks_never_leave_the_context(bengine, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("host secret\n")
    ctx = write_context(tmp_path / "links", {"Dockerfile": "FROM busybox\nCOPY escape /escape\nCOPY d/ /d/\n",
                                             "d/f": "f\n"})
    os.symlink(str(outside), ctx / "escape")
    os.symlink("../../outside.txt", ctx / "d" / "rel")
    with pytest.raises(BuildError, match="file not found"):
        build(bengine, ctx)
    write_context(ctx, {"Dockerfile": "FROM busybox\nCOPY d/ /d/\n"})
    build(bengine, ctx, tags=["links"])
    cp = run_cli(bengine, "run", "--rm", "links", "readlink", "/d/rel")
    assert out(cp) == "../../outside.txt\n"     # copied as a link, not followed


def test_cache_usage_and_prune(bengine, tmp_path):
    ctx = write_context(tmp_path / "p", {"Dockerfile": "FROM busybox\nRUN echo x > /x\nENV B=2\n"})
    result, _ = build(bengine, ctx, tags=["pruned"])
    rows = bengine.builder.cache_usage()
    assert len(rows) == 2 and all(r["Shared"] for r in rows)
    assert sum(r["Size"] for r in rows) > 0
    df = bengine.system_df()
    assert len(df["BuildCache"]) == 2
    # records of a tagged image's steps are kept without --all
    assert bengine.builder.prune()["CachesDeleted"] is None
    res = bengine.builder.prune(all=True)
    assert len(res["CachesDeleted"]) == 2
    assert bengine.builder.cache_usage() == []
    assert bengine.images.get("pruned").id == result.image_id     # the image itself stays
    _, lines = build(bengine, ctx)
    assert " ---> Using cache" not in lines
    # a superseded build's records go with a plain prune, with their intermediate images
    write_context(ctx, {"Dockerfile": "FROM busybox\nRUN echo y > /y\n"})
    build(bengine, ctx, tags=["pruned"])
    before = len(bengine.images.list())
    res = bengine.builder.prune()
    assert res["CachesDeleted"] and res["SpaceReclaimed"] > 0
    assert len(bengine.images.list()) < before
    cp = run_cli(bengine, "builder", "prune", "-af")
    assert cp.returncode == 0 and "Total reclaimed space:" in cp.stdout.decode()
    assert bengine.builder.cache_usage() == []


def test_a_killed_build_is_swept_by_the_next(bengine, tmp_path):
    import subprocess
    ctx = write_context(tmp_path / "killed", {"Dockerfile": "FROM busybox\nCOPY f /f\nRUN sleep 60\n", "f": "f\n"})
    env = dict(os.environ, BERTH_ROOT=str(bengine.paths.root), BERTH_RUN=str(bengine.paths.run))
    proc = subprocess.Popen(["berth", "build", str(ctx)], env=env, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            if raw.startswith(b" ---> Running in"):
                break
    finally:
        proc.kill()
        proc.wait()
    assert leftovers(bengine)["containers"], "the RUN container outlives its killed builder"
    assert list(bengine.paths.tmp.glob("buildrun-*"))
    build(bengine, write_context(tmp_path / "next", {"Dockerfile": "FROM busybox\nENV X=1\n"}))
    assert leftovers(bengine) == {"containers": [], "snapshots": [], "mounts": []}
    assert not [p.name for p in bengine.paths.tmp.glob("build*")]
