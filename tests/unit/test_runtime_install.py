"""The engine copy reads sources through the import system, so a zip (Ansible's) works too."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from ansible_collections.berth.engine.plugins.module_utils.runtime import install

REPO = Path(__file__).resolve().parents[2]


def test_hash_is_the_same_from_a_zip(tmp_path, monkeypatch):
    monkeypatch.setattr(install, "_cache", None)  # this process may have hashed an older tree
    digest, sources = install.engine_hash()
    assert "runtime/monitor.py" in sources and "__init__.py" in sources
    assert "cli/main.py" in sources  # the server runs commands too (cli/fastpath.py)
    archive = tmp_path / "ansiballz.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in ("ansible_collections", "ansible_collections/berth", "ansible_collections/berth/engine",
                     "ansible_collections/berth/engine/plugins"):
            zf.writestr(f"{part}/__init__.py", "")
        for path in (REPO / "plugins/module_utils").rglob("*.py"):
            rel = path.relative_to(REPO)
            zf.write(path, f"ansible_collections/berth/engine/{rel}")
    code = ("import sys; sys.path[:0] = [sys.argv[1]];"
            "from ansible_collections.berth.engine.plugins.module_utils.runtime import install as i;"
            "m = sys.modules['ansible_collections.berth.engine.plugins.module_utils'];"
            "assert m.__spec__.origin.startswith(sys.argv[1]), m.__spec__.origin;"
            "print(i.engine_hash()[0])")
    out = subprocess.run([sys.executable, "-S", "-c", code, str(archive)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == digest


def test_copy_is_made_once(tmp_path):
    from ansible_collections.berth.engine.plugins.module_utils.paths import Paths

    paths = Paths(tmp_path / "root", tmp_path / "run")
    digest, base = install.ensure_engine_copy(paths)
    assert base.name == digest and (base / ".complete").exists()
    copied = (base / install.PACKAGE_PATH / "runtime/launcher.py").read_bytes()
    assert copied == (REPO / "plugins/module_utils/runtime/launcher.py").read_bytes()
    assert [p.name for p in paths.engine_copies.iterdir()] == [digest]
