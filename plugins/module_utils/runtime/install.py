"""A stable copy of the engine for processes that outlive the command that started them.

An Ansible module runs from a temporary zip that is deleted when the task ends, and a checkout
may change under a running monitor. So the monitor server runs from
``root/engine/<content hash>/ansible_collections/berth/engine/plugins/module_utils``: a copy
made once per engine version. The sources are read through the import system's loaders
(``get_source``/``get_data``), which work the same for files on disk and for a zip, and the
hash covers exactly what is copied, so a new version gets a new folder and a new server.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

from .. import _boot, fsutil
from ..paths import Paths

PACKAGE = __name__.rsplit(".", 2)[0]              # ansible_collections.berth.engine.plugins.module_utils
PACKAGE_PATH = PACKAGE.replace(".", "/")
SKIP_PACKAGES: tuple[str, ...] = ()               # the server runs the CLI too (cli/fastpath.py)

_cache: tuple[str, dict[str, bytes]] | None = None
_copies: dict[str, tuple[str, Path]] = {}          # engine_copies folder -> (hash, base), this process


def engine_sources() -> dict[str, bytes]:
    """Relative path (below module_utils) -> source bytes, for every module of the engine."""
    out: dict[str, bytes] = {}
    root = importlib.import_module(PACKAGE)
    spec = importlib.util.find_spec(PACKAGE)
    if spec is not None and spec.loader is not None:
        out["__init__.py"] = _source(spec.loader, PACKAGE)
    _collect(PACKAGE, list(root.__path__), "", out)
    return out


def _collect(pkg: str, search: list[str], rel: str, out: dict[str, bytes]) -> None:
    # Ask each path's finder directly: importlib.util.find_spec would import (run) the
    # packages on the way, and a package need not be importable to be copied.
    for info in pkgutil.iter_modules(search):
        name = f"{pkg}.{info.name}"
        if info.ispkg and rel == "" and info.name in SKIP_PACKAGES:
            continue
        spec = info.module_finder.find_spec(name)  # type: ignore[call-arg]
        if spec is None or spec.loader is None:
            continue
        if info.ispkg:
            out[f"{rel}{info.name}/__init__.py"] = _source(spec.loader, name)
            _collect(name, list(spec.submodule_search_locations or []), f"{rel}{info.name}/", out)
        else:
            out[f"{rel}{info.name}.py"] = _source(spec.loader, name)


def _source(loader: object, name: str) -> bytes:
    get_source = getattr(loader, "get_source", None)
    src = get_source(name) if get_source is not None else None
    if src is None:
        raise RuntimeError(f"cannot read the source of {name}: berth needs its .py files")
    return src if isinstance(src, bytes) else src.encode()  # Ansible's collection loader gives bytes


def engine_hash() -> tuple[str, dict[str, bytes]]:
    global _cache
    if _cache is None:
        sources = engine_sources()
        _cache = (_boot.tree_hash(sources), sources)
    return _cache


def _fingerprint() -> str | None:
    """A digest of every source file's name, inode, size and mtime, when the engine is plain
    files: it stands for the content hash (reading and hashing ~120 files costs each command
    ~5 ms, a walk 0.6 ms). None for an engine in a zip (an Ansible run)."""
    roots = list(getattr(importlib.import_module(PACKAGE), "__path__", []))
    if len(roots) != 1 or not os.path.isdir(roots[0]):
        return None
    from .fingerprint import fingerprint

    return fingerprint(roots[0], SKIP_PACKAGES)


def ensure_engine_copy(paths: Paths) -> tuple[str, Path]:
    """(hash, base): ``base`` goes first on sys.path to import the copy."""
    done = _copies.get(str(paths.engine_copies))
    if done is not None and (done[1] / ".complete").exists():
        return done
    if _boot.LOADED is not None and Path(_boot.LOADED[1]) == paths.engine_copies / _boot.LOADED[0]:
        return _boot.LOADED[0], Path(_boot.LOADED[1])   # a module running from the copy itself
    fp = _fingerprint() if _cache is None else None
    known = paths.run / "engine-hashes" / fp if fp else None
    if known is not None:
        with contextlib.suppress(OSError, ValueError):
            digest = known.read_text().strip()
            base = paths.engine_copies / digest
            if digest and (base / ".complete").exists():
                _copies[str(paths.engine_copies)] = (digest, base)
                return digest, base
    digest, base = _ensure_engine_copy(paths)
    if known is not None:
        with contextlib.suppress(OSError):
            fsutil.atomic_write(known, digest + "\n", durable=False)
    _copies[str(paths.engine_copies)] = (digest, base)
    return digest, base


def _ensure_engine_copy(paths: Paths) -> tuple[str, Path]:
    digest, sources = engine_hash()
    base = paths.engine_copies / digest
    if (base / ".complete").exists():
        return digest, base
    _boot.place_tree(str(paths.engine_copies), digest, sources)
    return digest, base


def site_paths() -> list[str]:
    """Where this interpreter finds third-party packages (pyseccomp), without any .pth extras."""
    return [p for p in sys.path if p.endswith(("site-packages", "dist-packages")) and os.path.isdir(p)]


BOOT = """
import sys, json
base, extra = sys.argv[1], json.loads(sys.argv[2])
sys.path[:0] = [base]
sys.path.extend(extra)
from ansible_collections.berth.engine.plugins.module_utils.runtime import server
server.main(sys.argv[3:])
"""


def python_argv(paths: Paths, *argv: str) -> list[str]:
    """argv that runs ``python -c BOOT``-style entry points from the engine copy."""
    digest, base = ensure_engine_copy(paths)
    return [sys.executable, "-S", "-c", BOOT, str(base), _json_paths(), *argv]


def _json_paths() -> str:
    import json

    return json.dumps(site_paths())


def start_server(paths: Paths) -> None:
    """Start a monitor server for ``paths`` and return once it accepts connections."""
    digest, _base = ensure_engine_copy(paths)
    r, w = os.pipe()
    try:
        argv = python_argv(paths, "--root", str(paths.root), "--run", str(paths.run),
                           "--hash", digest, "--ready-fd", str(w))
        devnull = os.open(os.devnull, os.O_RDWR)
        try:
            proc = subprocess.Popen(argv, stdin=devnull, stdout=devnull, stderr=_server_log(paths),
                                    pass_fds=(w,), start_new_session=True, close_fds=True,
                                    cwd="/")
        finally:
            os.close(devnull)
        os.close(w)
        w = -1
        data = b""
        while True:
            b = os.read(r, 256)
            if not b:
                break
            data += b
        if not data.startswith(b"ready"):
            proc.wait(5)
            raise RuntimeError(f"the monitor server did not start (exit {proc.returncode}); "
                               f"see {paths.run / 'monitor.log'}")
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


def _server_log(paths: Paths) -> int:
    fsutil.ensure_dir(paths.run, 0o711)
    return os.open(paths.run / "monitor.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
