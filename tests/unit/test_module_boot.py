"""module_utils/_boot.py: the engine's version hash and its installation from an archive."""
from __future__ import annotations

import pytest
from ansible_collections.berth.engine.plugins.module_utils import _boot
from ansible_collections.berth.engine.plugins.module_utils.runtime import install


def test_tree_hash_follows_names_and_contents():
    base = {"a.py": b"x = 1\n", "pkg/b.py": b"y = 2\n"}
    h = _boot.tree_hash(base)
    assert len(h) == _boot.HASH_LEN and h == _boot.tree_hash(dict(reversed(base.items())))
    assert _boot.tree_hash({**base, "a.py": b"x = 2\n"}) != h
    assert _boot.tree_hash({"c.py": b"x = 1\n", "pkg/b.py": b"y = 2\n"}) != h


def test_install_archive_installs_the_engine_once(tmp_path):
    digest, sources = install.engine_hash()
    archive = tmp_path / "engine.zip"
    archive.write_bytes(_boot.pack(sources))
    base = _boot.install_archive(str(archive), str(tmp_path / "engine"), digest)
    pkg = tmp_path / "engine" / digest / _boot.PACKAGE_PATH
    assert (tmp_path / "engine" / digest / ".complete").exists()
    assert (pkg / "engine.py").read_bytes() == sources["engine.py"]
    assert (tmp_path / "engine" / digest / "ansible_collections" / "__init__.py").exists()
    # a second install (a concurrent task) finds it done and leaves it as it was
    assert _boot.install_archive(str(archive), str(tmp_path / "engine"), digest) == base
    assert sorted(p.name for p in (tmp_path / "engine").iterdir()) == [digest]


def test_install_archive_refuses_files_that_do_not_hash_to_the_name(tmp_path):
    digest, sources = install.engine_hash()
    tampered = dict(sources, **{"engine.py": sources["engine.py"] + b"\nimport os\n"})
    archive = tmp_path / "engine.zip"
    archive.write_bytes(_boot.pack(tampered))
    with pytest.raises(ValueError, match=f"not {digest}"):
        _boot.install_archive(str(archive), str(tmp_path / "engine"), digest)
    assert not (tmp_path / "engine").exists() or not list((tmp_path / "engine").iterdir())


@pytest.mark.parametrize("name", ["../escape.py", "/abs.py", "pkg/../../x.py", "data.txt", "a/.hidden.py"])
def test_install_archive_refuses_unexpected_names(tmp_path, name):
    archive = tmp_path / "engine.zip"
    archive.write_bytes(_boot.pack({name: b"x = 1\n"}))
    with pytest.raises(ValueError, match="unexpected file"):
        _boot.install_archive(str(archive), str(tmp_path / "engine"), _boot.tree_hash({name: b"x = 1\n"}))
    assert not (tmp_path / "engine").exists()


def test_engine_copy_is_the_copy_a_module_installs(tmp_path, monkeypatch):
    """The CLI's stable copy (runtime/install.py) and a module's copy are one folder per version."""
    from ansible_collections.berth.engine.plugins.module_utils.paths import Paths

    paths = Paths(tmp_path / "root", tmp_path / "run")
    digest, sources = install.engine_hash()
    archive = tmp_path / "engine.zip"
    archive.write_bytes(_boot.pack(sources))
    base = _boot.install_archive(str(archive), str(paths.engine_copies), digest)
    monkeypatch.setattr(install, "_copies", {})
    assert install.ensure_engine_copy(paths) == (digest, paths.engine_copies / digest)
    assert str(paths.engine_copies / digest) == base
