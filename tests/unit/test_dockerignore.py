import os

import pytest
from ansible_collections.berth.engine.plugins.module_utils.build.ignore import (
    IgnoreMatcher,
    go_clean,
    read_patterns,
    walk_context,
)
from ansible_collections.berth.engine.plugins.module_utils.errors import BuildError


def excluded(patterns: str, path: str) -> bool:
    return IgnoreMatcher.from_text(patterns).excludes(path)


# -- the examples of Docker's .dockerignore documentation ------------------------------------------

DOC_EXAMPLE = "# comment\n*/temp*\n*/*/temp*\ntemp?\n"


@pytest.mark.parametrize("path, expected", [
    ("somedir/temporary.txt", True), ("somedir/temp", True),        # */temp*
    ("somedir/subdir/temporary.txt", True),                          # */*/temp*
    ("tempa", True), ("tempb", True),                                # temp?
    ("temp", False), ("temporary.txt", False), ("a/b/c/temp.txt", False), ("comment", False),
    ("somedir/temp/inside.txt", True),                               # below an excluded dir
])
def test_documented_example(path, expected):
    assert excluded(DOC_EXAMPLE, path) is expected


@pytest.mark.parametrize("patterns, path, expected", [
    ("**/*.go", "main.go", True), ("**/*.go", "a/b/c.go", True), ("**/*.go", "a/b/c.gox", False),
    ("*.md\n!README.md", "README.md", False), ("*.md\n!README.md", "CHANGES.md", True),
    # the exception and the re-exclusion: order decides
    ("*.md\n!README*.md\nREADME-secret.md", "README-secret.md", True),
    ("*.md\n!README*.md\nREADME-secret.md", "README-a.md", False),
    ("*.md\nREADME-secret.md\n!README*.md", "README-secret.md", False),
    ("*.md", "docs/a.md", False),                                   # * does not cross '/'
    ("/node_modules", "node_modules/x/y.js", True), ("./build/", "build/out", True),
    ("a/../b", "b", True), ("src/**", "src/x/y", True), ("src/**", "src", False),
    ("**", "anything/at/all", True), ("f[ab]o", "fbo", True), ("f[^ab]o", "fbo", False),
    ("f[^ab]o", "fco", True), ("f[a-c]o", "fco", True), ("f\\*o", "f*o", True), ("f\\*o", "fxo", False),
    ("a.b", "axb", False), ("a+(b)", "a+(b)", True), ("x", ".", False),
    ("dir\n!dir/keep", "dir/keep", False), ("dir\n!dir/keep", "dir/drop", True),
    ("  spaced  ", "spaced", True), ("#comment", "#comment", False), (" #not-comment", "#not-comment", True),
])
def test_pattern_rules(patterns, path, expected):
    assert excluded(patterns, path) is expected


def test_read_patterns_cleans_like_docker():
    text = "\ufeff# c\n\n  /abs/path/  \n!  ./keep/../kept\n*.tmp\n/\n!\n"
    assert read_patterns(text) == ["abs/path", "!kept", "*.tmp", "/", "!"]


@pytest.mark.parametrize("bad", ["!", "a[", "a\\", "[]"])
def test_bad_patterns_are_errors(bad):
    with pytest.raises(BuildError) as err:
        IgnoreMatcher([bad])
    assert err.value.details["field"] == "dockerignore"


@pytest.mark.parametrize("path, clean", [
    ("", "."), ("./a/", "a"), ("a//b/./c/..", "a/b"), ("/../a", "/a"), ("../a", "../a"), ("/", "/"),
])
def test_go_clean(path, clean):
    assert go_clean(path) == clean


def test_match_with_parent_agrees_with_excludes():
    m = IgnoreMatcher.from_text("a\n!a/b\na/b/c\n!**/keep\n*.log\n")
    for path in ["a", "a/b", "a/b/c", "a/b/c/d", "a/b/c/keep", "a/x.log", "z/keep", "z/y.log", "a/b/keep"]:
        assert m.match_with_parent(path)[0] == m.excludes(path), path


@pytest.mark.parametrize("patterns, directory, expected", [
    ("*\n!src/keep", "src", True), ("*\n!src/keep", "docs", False),
    ("*\n!**/*.go", "any/depth", True), ("*\n!src/*/x", "src/a", True), ("*\n!src/*/x", "src/a/b", False),
    ("build", "build", False), ("*\n!src", "src", False), ("*\n!s[r]c/k", "src", True),
])
def test_could_include_below(patterns, directory, expected):
    assert IgnoreMatcher.from_text(patterns).could_include_below(directory) is expected


# -- the walker ------------------------------------------------------------------------------------

def make_tree(root, paths):
    for p in paths:
        full = root / p
        if p.endswith("/"):
            full.mkdir(parents=True, exist_ok=True)
        else:
            full.parent.mkdir(parents=True, exist_ok=True)
            full.write_text(p)


def walked(root, text=None):
    matcher = IgnoreMatcher.from_text(text) if text is not None else None
    return [e.path + ("/" if e.is_dir() else "") for e in walk_context(root, matcher)]


def test_walk_without_ignore_lists_everything_in_order(tmp_path):
    make_tree(tmp_path, ["b.txt", "a/z", "a/c/d", "empty/", "A"])
    os.symlink("a", tmp_path / "link")
    assert walked(tmp_path) == ["A", "a/", "a/c/", "a/c/d", "a/z", "b.txt", "empty/", "link"]


def test_walk_reincludes_below_excluded_dirs_with_their_parents(tmp_path):
    make_tree(tmp_path, ["node_modules/x/index.js", "node_modules/keep/me.js", "src/app.py",
                         "src/app.pyc", "docs/a.md", "README.md", "Dockerfile"])
    text = "node_modules\n!node_modules/keep\n**/*.pyc\ndocs\n*.md\n!README.md\n"
    assert walked(tmp_path, text) == ["Dockerfile", "README.md", "node_modules/", "node_modules/keep/",
                                      "node_modules/keep/me.js", "src/", "src/app.py"]


def test_walk_wildcard_exception_reaches_deep_files(tmp_path):
    make_tree(tmp_path, ["a/b/c/x.go", "a/b/c/x.txt", "top.go", "top.txt", "e/f/"])
    assert walked(tmp_path, "*\n!**/*.go\n") == ["a/", "a/b/", "a/b/c/", "a/b/c/x.go", "top.go"]


def test_walk_prunes_excluded_dirs(tmp_path, monkeypatch):
    make_tree(tmp_path, [f"big/{i}/f" for i in range(5)] + ["keep/f", "other/g"])
    import ansible_collections.berth.engine.plugins.module_utils.build.ignore as ignore
    visited = []
    real = os.scandir

    def spy(path):
        visited.append(os.path.relpath(path, tmp_path))
        return real(path)

    monkeypatch.setattr(ignore.os, "scandir", spy)
    assert walked(tmp_path, "big\nother\n!other/g\n") == ["keep/", "keep/f", "other/", "other/g"]
    assert not any(v.startswith("big") for v in visited)
    assert "other" in visited


def test_from_context_reads_dockerignore(tmp_path):
    assert not IgnoreMatcher.from_context(tmp_path)
    (tmp_path / ".dockerignore").write_text(".git\n")
    assert IgnoreMatcher.from_context(tmp_path).excludes(".git/config")
