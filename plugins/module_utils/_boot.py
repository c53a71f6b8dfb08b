"""How a berth module finds the engine on the host it runs on.

Ansible bundles into each module's payload every module_utils file the module imports, and
parses all of them on the controller to find the next ones: for berth's engine (about 1.4 MB
of source) that cost about 0.6 s per playbook and module kind, and each task then unpacked
and compiled the engine again from a zip, where Python keeps no bytecode. So a module imports
only this file (standard library only), and the engine is installed once per host and engine
version, as plain files with their own ``__pycache__``, in ``BERTH_ROOT/engine/<hash>``: the
same folder the monitor server runs from (runtime/install.py).

The module's action plugin (plugin_utils/engine_action.py) passes the controller's engine hash
in ``BERTH_ENGINE``. When that copy is missing, the module answers ``berth_engine_missing``
before touching anything; the action plugin then uploads the engine as a zip and runs the
module again with ``BERTH_ENGINE_ARCHIVE`` naming it, and this file unpacks it, checking that
the files hash to the name they are installed under (in check mode, with
``BERTH_ENGINE_TRANSIENT=1``, into the archive's temporary folder instead of the root). Without ``BERTH_ENGINE`` (a checkout,
``ansible-test``, the controller), the engine is imported from beside this file.
"""
from __future__ import annotations

import importlib
import os
import re
import sys

PACKAGE = __name__.rsplit(".", 1)[0]            # ansible_collections.berth.engine.plugins.module_utils
PACKAGE_PATH = PACKAGE.replace(".", "/")
DEFAULT_ROOT = "/var/lib/berth"                 # paths.DEFAULT_ROOT (this file imports nothing of the engine)
HASH_LEN = 24
_SAFE_NAME = re.compile(r"^(?:[A-Za-z0-9_]+/)*[A-Za-z0-9_]+\.py$")

LOADED: tuple[str, str] | None = None           # (hash, base) of the copy this process imports


def tree_hash(sources: dict[str, bytes]) -> str:
    """The engine's version: its files' names and contents (paths relative to module_utils)."""
    import hashlib

    h = hashlib.sha256()
    for rel in sorted(sources):
        h.update(rel.encode() + b"\0" + hashlib.sha256(sources[rel]).digest())
    return h.hexdigest()[:HASH_LEN]


def engine(name: str):  # -> module
    """Import ``module_utils.<name>`` of the engine, installing the engine first if needed."""
    _ensure_loaded()
    return importlib.import_module(f"{PACKAGE}.{name}")


def _ensure_loaded() -> None:
    global LOADED
    if LOADED is not None:
        return
    digest = os.environ.get("BERTH_ENGINE", "")
    if not digest:
        if not any(os.path.exists(os.path.join(p, "engine.py")) for p in _package().__path__):
            _exit_json({"failed": True, "msg": "berth's engine is not beside this module: berth.engine modules run "
                                               "through their action plugin, which installs it (BERTH_ENGINE unset)"})
        return                                  # a checkout or an installed collection: the engine is here
    if not re.fullmatch(f"[0-9a-f]{{{HASH_LEN}}}", digest):
        _exit_json({"failed": True, "msg": f"BERTH_ENGINE={digest!r} is not an engine hash"})
    copies = os.path.join(os.path.abspath(os.environ.get("BERTH_ROOT") or DEFAULT_ROOT), "engine")
    base = os.path.join(copies, digest)
    if not os.path.exists(os.path.join(base, ".complete")):
        archive = os.environ.get("BERTH_ENGINE_ARCHIVE")
        if not archive:
            _exit_json({"failed": True, "berth_engine_missing": True,
                        "msg": f"berth's engine {digest} is not installed on this host yet"})
        import zipfile

        if os.environ.get("BERTH_ENGINE_TRANSIENT") == "1":
            # check mode on a host without this engine: unpack beside the archive (the task's
            # temporary folder, removed after it), so that the task leaves nothing behind
            copies = os.path.join(os.path.dirname(os.path.abspath(archive)), "engine")
            base = os.path.join(copies, digest)
        try:
            install_archive(archive, copies, digest)
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            _exit_json({"failed": True, "msg": f"could not install berth's engine {digest} from {archive}: {exc}"})
    # The copy's module_utils goes first in the package's path: every engine module then comes
    # from plain files (with bytecode), and only this file came from the module's payload.
    _package().__path__.insert(0, os.path.join(base, PACKAGE_PATH))
    LOADED = (digest, base)


def pack(sources: dict[str, bytes]) -> bytes:
    """The engine's files (paths relative to module_utils) as the zip install_archive takes."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for rel in sorted(sources):
            z.writestr(rel, sources[rel])
    return buf.getvalue()


def install_archive(archive: str, copies: str, digest: str) -> str:
    """Unpack an engine zip (paths relative to module_utils) into ``copies/<digest>``, once."""
    import zipfile

    with zipfile.ZipFile(archive) as z:
        sources: dict[str, bytes] = {}
        for info in z.infolist():
            if info.is_dir():
                continue
            if not _SAFE_NAME.match(info.filename):
                raise ValueError(f"unexpected file {info.filename!r} in the engine archive")
            sources[info.filename] = z.read(info)
    if tree_hash(sources) != digest:
        raise ValueError(f"the archive's files hash to {tree_hash(sources)}, not {digest}")
    return place_tree(copies, digest, sources)


def place_tree(copies: str, digest: str, sources: dict[str, bytes]) -> str:
    """``copies/<digest>`` with the engine's files: written in a temporary folder beside it and
    renamed into place whole, so a copy is there complete or not at all; one already there wins."""
    import shutil
    import tempfile

    base = os.path.join(copies, digest)
    os.makedirs(copies, mode=0o755, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{digest}.", dir=copies)
    try:
        write_tree(tmp, sources)
        os.chmod(tmp, 0o755)
        try:
            os.rename(tmp, base)
        except OSError:
            if not os.path.exists(os.path.join(base, ".complete")):
                raise
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return base


def write_tree(base: str, sources: dict[str, bytes]) -> None:
    """The engine's files below ``base/ansible_collections/...``, with regular packages all the way
    down (no other ansible_collections on sys.path can merge into the copy), then ``.complete``."""
    pkg_dir = os.path.join(base, PACKAGE_PATH)
    for rel, data in sources.items():
        dest = os.path.join(pkg_dir, rel)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with open(dest, "wb") as f:
            f.write(data)
            os.fsync(f.fileno())            # contents on disk before the marker that says they are whole
    parts = PACKAGE.split(".")
    for i in range(1, len(parts)):
        init = os.path.join(base, *parts[:i], "__init__.py")
        if not os.path.exists(init):
            with open(init, "wb"):
                pass
    with open(os.path.join(base, ".complete"), "wb"):
        pass


def _package():
    return sys.modules[PACKAGE]


def _exit_json(result: dict) -> None:
    import json

    print(json.dumps(result))
    sys.exit(1)
