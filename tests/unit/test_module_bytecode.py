"""The bytecode cache for engine modules imported from a zip (as Ansible ships them)."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from ansible_collections.berth.engine.plugins.module_utils import _bytecode

REPO = Path(__file__).resolve().parents[2]
PKG = "ansible_collections/berth/engine/plugins/module_utils"


def _zip(tmp_path: Path, extra: dict[str, str]) -> Path:
    out = tmp_path / "payload.zip"
    with zipfile.ZipFile(out, "w") as z:
        for init in ("ansible_collections", "ansible_collections/berth", "ansible_collections/berth/engine",
                     "ansible_collections/berth/engine/plugins", PKG):
            z.writestr(f"{init}/__init__.py", "")
        z.writestr(f"{PKG}/_bytecode.py", (REPO / "plugins/module_utils/_bytecode.py").read_text())
        for name, text in extra.items():
            z.writestr(f"{PKG}/{name}", text)
    return out


SCRIPT = """
import sys
sys.path[:] = [sys.argv[1]] + [p for p in sys.path if ".collections" not in p and "/work/" not in p]
from ansible_collections.berth.engine.plugins.module_utils import _bytecode
_bytecode.install()
from ansible_collections.berth.engine.plugins.module_utils.sub import leaf
import ansible_collections.berth.engine.plugins.module_utils.sub as sub
print(leaf.VALUE, leaf.__file__.endswith("sub/leaf.py"), sub.__path__[0].endswith("/sub"),
      type(leaf.__loader__).__name__)
"""


def _run(zip_path: Path, root: Path) -> str:
    env = dict(os.environ, BERTH_ROOT=str(root))
    env.pop("PYTHONPATH", None)
    return subprocess.run([sys.executable, "-S", "-c", SCRIPT, str(zip_path)], env=env, capture_output=True,
                          text=True, check=True).stdout.split()


def test_modules_from_a_zip_are_compiled_once_and_then_served_from_the_cache(tmp_path):
    root = tmp_path / "root"
    zip_path = _zip(tmp_path, {"sub/__init__.py": "", "sub/leaf.py": "VALUE = 6 * 7\n"})
    assert _run(zip_path, root) == ["42", "True", "True", "_Loader"]
    cached = sorted(os.listdir(root / "engine/bytecode"))
    assert len(cached) == 2  # sub/__init__.py and sub/leaf.py (_bytecode itself came before the finder)
    assert _run(zip_path, root) == ["42", "True", "True", "_Loader"]
    assert sorted(os.listdir(root / "engine/bytecode")) == cached
    # a changed source is a new key: the old code is never used for it
    (tmp_path / "b").mkdir()
    zip2 = _zip(tmp_path / "b", {"sub/__init__.py": "", "sub/leaf.py": "VALUE = 7\n"})
    assert _run(zip2, root)[0] == "7"
    assert len(os.listdir(root / "engine/bytecode")) == 3


def test_a_corrupt_cache_entry_is_compiled_again(tmp_path):
    root = tmp_path / "root"
    zip_path = _zip(tmp_path, {"sub/__init__.py": "", "sub/leaf.py": "VALUE = 1\n"})
    _run(zip_path, root)
    for name in os.listdir(root / "engine/bytecode"):
        (root / "engine/bytecode" / name).write_bytes(b"not marshal data")
    assert _run(zip_path, root)[0] == "1"


def test_not_installed_for_sources_on_disk():
    before = list(sys.meta_path)
    _bytecode.install()
    assert sys.meta_path == before
