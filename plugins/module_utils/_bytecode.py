"""A bytecode cache for the engine when Ansible runs it from a module's zip.

Python keeps no bytecode for modules imported from a zip, so every task would compile the
engine's sources again: for the container module that is most of its own run time (about
130 ms of 170 ms on a warm host). Installed by _ansible.py, this finder serves the engine's
modules from the zip as usual but keeps their compiled code under
``BERTH_ROOT/engine/bytecode``, keyed by the sha256 of the source and the interpreter, so a
file compiled once is only unmarshalled afterwards. Sources on disk (a checkout, the engine's
stable copy) keep Python's own __pycache__ and are left alone. Any cache problem falls back
to compiling; the cache never decides what code runs, the source's hash does.
"""
from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import marshal
import os
import sys
import zipimport
from typing import Any

PACKAGE = __name__.rsplit(".", 1)[0]
_TAG = f"berth2-{sys.implementation.cache_tag}-{sys.version_info.releaselevel}-{marshal.version}".encode()


def cache_dir() -> str:
    root = os.environ.get("BERTH_ROOT") or "/var/lib/berth"
    return os.path.join(root, "engine", "bytecode")


class _Loader(importlib.abc.Loader):
    """Delegates to the zip's loader, but compiles through the cache."""

    def __init__(self, inner: Any, folder: str) -> None:
        self.inner = inner
        self.folder = folder

    def __getattr__(self, name: str) -> Any:  # get_source, get_data, is_package, get_filename...
        return getattr(self.inner, name)

    def create_module(self, spec: Any) -> None:
        return None

    def exec_module(self, module: Any) -> None:
        source = self.inner.get_source(module.__name__)
        if source is None:
            self.inner.exec_module(module)
            return
        data = source.encode()
        key = hashlib.sha256(_TAG + b"\0" + data).hexdigest()
        path = os.path.join(self.folder, key)
        code = None
        try:
            with open(path, "rb") as f:
                code = marshal.loads(f.read())
        except (OSError, ValueError, EOFError, TypeError):
            code = None
        if code is None:
            # a name relative to the zip: the cached code outlives the temporary zip it came from
            origin = module.__spec__.origin or module.__name__
            archive = getattr(self.inner, "archive", "")
            name = os.path.relpath(origin, archive) if archive and origin.startswith(archive) else origin
            code = compile(data, name, "exec", dont_inherit=True)
            self._store(path, code)
        exec(code, module.__dict__)

    def _store(self, path: str, code: Any) -> None:
        tmp = f"{path}.{os.getpid()}.tmp"
        try:
            os.makedirs(self.folder, mode=0o700, exist_ok=True)
            with open(tmp, "wb") as f:
                f.write(marshal.dumps(code))
            os.replace(tmp, path)  # concurrent tasks write the same bytes: last one wins
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self, folder: str) -> None:
        self.folder = folder

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if not fullname.startswith(PACKAGE + "."):
            return None
        # zipimporter.find_spec compiles the module once just to name its file (Python 3.11):
        # build the spec from the zip's directory instead, and compile only through the cache.
        tail = fullname.rpartition(".")[2]
        for entry in path or sys.path:
            try:
                zi = zipimport.zipimporter(entry)  # the zip's directory is read once and cached
                is_pkg = zi.is_package(fullname)
            except (zipimport.ZipImportError, OSError, TypeError):
                continue
            base = os.path.join(zi.archive, zi.prefix, tail)
            origin = os.path.join(base, "__init__.py") if is_pkg else base + ".py"
            spec = importlib.machinery.ModuleSpec(fullname, _Loader(zi, self.folder), origin=origin,
                                                  is_package=is_pkg)
            spec.has_location = True
            if is_pkg:
                spec.submodule_search_locations = [base]
            return spec
        return None


def install() -> None:
    """Serve the engine's modules through the cache when they come from a zip (idempotent)."""
    if not isinstance(globals().get("__loader__"), zipimport.zipimporter) and \
            not isinstance(getattr(sys.modules.get(PACKAGE), "__loader__", None), zipimport.zipimporter):
        return
    if any(isinstance(f, _Finder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _Finder(cache_dir()))
