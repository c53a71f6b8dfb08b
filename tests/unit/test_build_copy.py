"""Pure and plain-filesystem parts of the builder: source globs, destinations, content hashes,
--chmod/--chown parsing, cache keys, contexts with .dockerignore, and COPY into a folder."""
from __future__ import annotations

import io
import os
import tarfile

import pytest
from ansible_collections.berth.engine.plugins.module_utils.build import copy as copying
from ansible_collections.berth.engine.plugins.module_utils.build.builder import BuildResult
from ansible_collections.berth.engine.plugins.module_utils.build.cache import CacheRecord, cache_key
from ansible_collections.berth.engine.plugins.module_utils.build.context import (
    BuildContext,
    clean_source,
    glob_match,
)
from ansible_collections.berth.engine.plugins.module_utils.errors import BuildError
from ansible_collections.berth.engine.plugins.module_utils.paths import Paths


@pytest.mark.parametrize("pattern,path,expected", [
    ("*.txt", "a.txt", True),
    ("*.txt", "dir/a.txt", False),          # * never crosses a '/'
    ("dir/*.txt", "dir/a.txt", True),
    ("d?r/[ab].txt", "dir/b.txt", True),
    ("d?r/[^ab].txt", "dir/b.txt", False),
    ("d?r/[^ab].txt", "dir/c.txt", True),
    ("src", "src", True),
    ("src", "src/x", False),
])
def test_glob_match(pattern, path, expected):
    assert glob_match(pattern, path) is expected


@pytest.mark.parametrize("source,expected", [
    (".", ""), ("./", ""), ("/", ""), ("./a/../b", "b"), ("../../etc/passwd", "etc/passwd"), ("a//b/", "a/b"),
])
def test_clean_source_stays_in_the_context(source, expected):
    assert clean_source(source) == expected


@pytest.mark.parametrize("dest,workdir,expected", [
    ("/app/", "/", ("/app", True)),
    ("app", "/srv", ("/srv/app", False)),
    (".", "/srv", ("/srv", True)),
    ("./", "/srv", ("/srv", True)),
    ("/x/../y", "/", ("/y", False)),
    ("rel/", "", ("/rel", True)),
])
def test_destination(dest, workdir, expected):
    assert copying.destination(dest, workdir) == expected


def test_parse_chmod():
    assert copying.parse_chmod("", 3) is None
    assert copying.parse_chmod("0755", 3) == 0o755
    with pytest.raises(BuildError, match="chmod") as info:
        copying.parse_chmod("rwx", 3)
    assert info.value.line == 3 and info.value.details["value"] == "rwx"


def test_parse_chown_looks_up_names(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\napp:x:1001:1002::/home/app:/bin/sh\n")
    (tmp_path / "etc/group").write_text("root:x:0:\nappgrp:x:1002:\nstaff:x:50:\napp:x:1500:\n")
    assert copying.parse_chown("app", str(tmp_path), 1) == copying.Owner(1001, 1500)   # group named like the user
    assert copying.parse_chown("app:staff", str(tmp_path), 1) == copying.Owner(1001, 50)
    assert copying.parse_chown("42", str(tmp_path), 1) == copying.Owner(42, 42)
    assert copying.parse_chown("42:7", str(tmp_path), 1) == copying.Owner(42, 7)
    with pytest.raises(BuildError, match="ghost"):
        copying.parse_chown("ghost", str(tmp_path), 1)
    with pytest.raises(BuildError, match="nogroup"):
        copying.parse_chown("app:nogroup", str(tmp_path), 1)


def test_cache_key_depends_on_every_part():
    base = cache_key("sha256:" + "a" * 64, "RUN x", "c")
    assert base == cache_key("sha256:" + "a" * 64, "RUN x", "c")
    assert len(base) == 64
    assert base != cache_key("sha256:" + "b" * 64, "RUN x", "c")
    assert base != cache_key("sha256:" + "a" * 64, "RUN y", "c")
    assert base != cache_key("sha256:" + "a" * 64, "RUN x", "d")
    assert cache_key(None, "x") != cache_key("", "y")


def test_cache_record_round_trip():
    rec = CacheRecord(key="k" * 64, image_id="sha256:" + "1" * 64, parent="", description="RUN x",
                      created=1.0, last_used=2.0, usage_count=3, layer=None)
    assert CacheRecord.from_dict(rec.to_dict()) == rec
    res = BuildResult("sha256:" + "2" * 64, ("docker.io/library/a:latest",), 4, 1)
    assert res.to_dict()["cached_steps"] == 1 and res.to_dict()["tags"] == ["docker.io/library/a:latest"]


def _context(tmp_path, files: dict[str, str]) -> BuildContext:
    root = tmp_path / "ctx"
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(data)
    return BuildContext.open(Paths(tmp_path / "root", tmp_path / "run"), root)


def test_content_hash_ignores_mtime_but_not_content_or_mode(tmp_path):
    ctx = _context(tmp_path, {"Dockerfile": "FROM x\n", "a": "1", "d/b": "2"})
    items = lambda: copying.collect(ctx, ["a", "d"], "COPY", 1)  # noqa: E731
    h = copying.content_hash(items())
    os.utime(ctx.root / "a", (5, 5))
    assert copying.content_hash(items()) == h
    os.chmod(ctx.root / "d/b", 0o600)
    h2 = copying.content_hash(items())
    assert h2 != h
    (ctx.root / "a").write_text("changed")
    assert copying.content_hash(items()) != h2


def test_context_match_honours_dockerignore_and_globs(tmp_path):
    ctx = _context(tmp_path, {"Dockerfile": "FROM x\n", ".dockerignore": "*.log\n", "a.txt": "",
                              "b.txt": "", "c.log": "", "sub/d.txt": ""})
    assert ctx.match("*.txt") == ["a.txt", "b.txt"]
    assert ctx.match("./sub/../a.txt") == ["a.txt"]
    with pytest.raises(BuildError, match="excluded by .dockerignore"):
        ctx.match("c.log")
    with pytest.raises(BuildError, match="no source files"):
        ctx.match("*.nothing")
    assert "c.log" not in ctx.kept()


def test_context_finds_dockerfile_and_reports_missing(tmp_path):
    paths = Paths(tmp_path / "root", tmp_path / "run")
    (tmp_path / "c").mkdir()
    with pytest.raises(BuildError, match="cannot find Dockerfile"):
        BuildContext.open(paths, tmp_path / "c")
    (tmp_path / "c" / "custom.df").write_text("FROM a\n")
    with BuildContext.open(paths, tmp_path / "c", dockerfile="custom.df") as ctx:
        assert ctx.dockerfile_text == "FROM a\n"
    with pytest.raises(BuildError, match="cannot be found"):
        BuildContext.open(paths, tmp_path / "c", dockerfile="nope.df")


def test_tar_context_is_unpacked_and_removed(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in (("Dockerfile", b"FROM a\n"), ("x/y", b"y")):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    buf.seek(0)
    ctx = BuildContext.open(Paths(tmp_path / "root", tmp_path / "run"), None, context_tar=buf)
    root = ctx.root
    assert ctx.dockerfile_text == "FROM a\n" and ctx.match("x/*") == ["x/y"]
    ctx.close()
    assert not root.exists()


@pytest.mark.root          # files are chowned to root or --chown
def test_apply_copies_with_docker_rules(tmp_path):
    ctx = _context(tmp_path, {"Dockerfile": "FROM x\n", "f.txt": "f", "dir/sub/g.txt": "g"})
    os.symlink("sub/g.txt", ctx.root / "dir" / "link")
    rootfs = tmp_path / "rootfs"
    (rootfs / "existing").mkdir(parents=True)
    items = copying.collect(ctx, ["f.txt"], "COPY", 1)
    copying.apply(items, str(rootfs), "existing", "/", None, None, "COPY", 1)
    assert (rootfs / "existing/f.txt").read_text() == "f"          # into an existing directory
    copying.apply(items, str(rootfs), "/new/name", "/", None, 0o600, "COPY", 1)
    assert (rootfs / "new/name").read_text() == "f"                # a new file name
    assert (os.stat(rootfs / "new/name").st_mode & 0o7777) == 0o600
    items = copying.collect(ctx, ["dir"], "COPY", 1)
    copying.apply(items, str(rootfs), "/d", "/", copying.Owner(7, 8), None, "COPY", 1)
    assert (rootfs / "d/sub/g.txt").read_text() == "g"             # contents, not the folder itself
    assert os.readlink(rootfs / "d/link") == "sub/g.txt"
    st = os.stat(rootfs / "d/sub/g.txt")
    assert (st.st_uid, st.st_gid) == (7, 8)
    both = copying.collect(ctx, ["f.txt", "dir"], "COPY", 1)
    with pytest.raises(BuildError, match="end with a /"):
        copying.apply(both, str(rootfs), "/multi", "/", None, None, "COPY", 1)


@pytest.mark.root
def test_apply_never_writes_outside_the_rootfs(tmp_path):
    ctx = _context(tmp_path, {"Dockerfile": "FROM x\n", "f.txt": "f"})
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(str(outside), rootfs / "escape")
    copying.apply(copying.collect(ctx, ["f.txt"], "COPY", 1), str(rootfs), "/escape/", "/", None, None, "COPY", 1)
    assert not (outside / "f.txt").exists()
    assert list(rootfs.rglob("f.txt"))


def test_is_archive(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ti = tarfile.TarInfo("a")
        tf.addfile(ti, io.BytesIO(b""))
    (tmp_path / "t.tar").write_bytes(buf.getvalue())
    (tmp_path / "t.gz").write_bytes(b"\x1f\x8b" + b"\0" * 20)
    (tmp_path / "plain").write_text("just text")
    assert copying.is_archive(str(tmp_path / "t.tar")) and copying.is_archive(str(tmp_path / "t.gz"))
    assert not copying.is_archive(str(tmp_path / "plain"))


def test_digest_memo_reuses_and_notices_changes(tmp_path):
    ctx = _context(tmp_path, {"Dockerfile": "FROM x\n", "a": "one"})
    memo_file = tmp_path / "memo.json"
    memo = copying.DigestMemo(str(memo_file), str(ctx.root))
    first = copying.content_hash(copying.collect(ctx, ["a"], "COPY", 1), memo=memo)
    memo.save()
    assert str(ctx.root / "a") in memo_file.read_text()
    again = copying.DigestMemo(str(memo_file), str(ctx.root))
    assert copying.content_hash(copying.collect(ctx, ["a"], "COPY", 1), memo=again) == first
    assert not again.changed                        # answered from the memo
    (ctx.root / "a").write_text("two")              # same size, new content: a new ctime
    assert copying.content_hash(copying.collect(ctx, ["a"], "COPY", 1), memo=again) != first
    outside = copying.DigestMemo(str(memo_file), str(tmp_path / "elsewhere"))
    copying.content_hash(copying.collect(ctx, ["a"], "COPY", 1), memo=outside)
    assert not outside.changed                      # files outside the context are not kept


def test_a_dockerfiles_own_dockerignore_wins(tmp_path):
    paths = Paths(tmp_path / "root", tmp_path / "run")
    root = tmp_path / "c"
    (root / "sub").mkdir(parents=True)
    for name in ("a.txt", "b.txt"):
        (root / name).write_text(name)
    (root / ".dockerignore").write_text("a.txt\n")
    (root / "sub" / "app.Dockerfile").write_text("FROM x\n")
    (root / "sub" / "app.Dockerfile.dockerignore").write_text("b.txt\n")
    (root / "Dockerfile").write_text("FROM x\n")
    with BuildContext.open(paths, root) as ctx:
        assert "a.txt" not in ctx.kept() and "b.txt" in ctx.kept()
    with BuildContext.open(paths, root, dockerfile=str(root / "sub" / "app.Dockerfile")) as ctx:
        assert "a.txt" in ctx.kept() and "b.txt" not in ctx.kept()
