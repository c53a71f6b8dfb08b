"""The build context: a folder (or a tar from stdin) filtered by .dockerignore, and its Dockerfile.

    with BuildContext.open(paths, "app/", dockerfile=None) as ctx:
        ctx.dockerfile_text            # the Dockerfile's text
        ctx.match("src/*.py")          # context paths a COPY source names, ignored ones left out
        ctx.host_path("src")           # where that entry is, resolved inside the context

Sources are resolved inside the context the way the kernel would if the context were ``/``:
a symlink is followed only within it, so ``COPY link /x`` can never read outside the folder.
A tar context is unpacked with the store's safe extractor into a scratch folder that
``close()`` removes.
"""
from __future__ import annotations

import fnmatch
import os
import posixpath
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ..errors import BuildError
from ..fsutil import ensure_dir, remove_tree, resolve_in_root
from ..paths import Paths
from .ignore import IgnoreMatcher, walk_context

_GLOB = set("*?[")


def has_glob(pattern: str) -> bool:
    return any(c in _GLOB for c in pattern)


def clean_source(path: str) -> str:
    """A source path as a context-relative path ('' for the root)."""
    p = posixpath.normpath("/" + path).lstrip("/")
    return "" if p == "." else p


def glob_match(pattern: str, path: str) -> bool:
    """Go's filepath.Match: ``*`` and ``?`` never cross a '/'."""
    pparts = pattern.split("/")
    parts = path.split("/")
    if len(pparts) != len(parts):
        return False
    for pat, name in zip(pparts, parts, strict=True):
        if not has_glob(pat):
            if pat != name:
                return False
            continue
        if not fnmatch.fnmatchcase(name, pat.replace("[^", "[!")):
            return False
    return True


class BuildContext:
    def __init__(self, root: Path, dockerfile_text: str, dockerfile_name: str,
                 matcher: IgnoreMatcher, scratch: Path | None = None) -> None:
        self.root = root
        self.dockerfile_text = dockerfile_text
        self.dockerfile_name = dockerfile_name
        self.matcher = matcher
        self._scratch = scratch
        self._kept: dict[str, bool] | None = None

    # --- opening ------------------------------------------------------------------------
    @classmethod
    def open(cls, paths: Paths, context: str | os.PathLike[str] | None, *, dockerfile: str | None = None,
             dockerfile_text: str | None = None, context_tar: BinaryIO | None = None) -> BuildContext:
        scratch: Path | None = None
        try:
            if context_tar is not None:
                scratch = Path(tempfile.mkdtemp(prefix=f"buildctx-{os.getpid()}-",
                                                dir=ensure_dir(paths.tmp, 0o700)))
                root = scratch / "ctx"
                root.mkdir()
                from ..store.layers import extract
                try:
                    extract(context_tar, root)
                except BuildError:
                    raise
                except Exception as exc:  # noqa: BLE001 - any unpack failure is a bad context
                    raise BuildError(f"cannot read the build context from the tar stream: {exc}",
                                     field="context") from exc
            elif context is None:
                root = Path(tempfile.mkdtemp(prefix=f"buildctx-{os.getpid()}-", dir=ensure_dir(paths.tmp, 0o700)))
                scratch = root
            else:
                root = Path(context).absolute()
                if not root.is_dir():
                    raise BuildError(f"unable to prepare context: path {str(context)!r} not found",
                                     field="context", value=str(context))
            text, name, path = cls._dockerfile(root, context_tar is not None, dockerfile, dockerfile_text)
            # BuildKit's rule: <Dockerfile>.dockerignore beside the Dockerfile wins over the context's
            own = Path(f"{path}.dockerignore") if path is not None else None
            if own is not None and own.is_file():
                matcher = IgnoreMatcher.from_text(own.read_text(encoding="utf-8", errors="surrogateescape"))
            else:
                matcher = IgnoreMatcher.from_context(root)
            return cls(root, text, name, matcher, scratch)
        except BaseException:
            if scratch is not None:
                remove_tree(scratch)
            raise

    @staticmethod
    def _dockerfile(root: Path, from_tar: bool, dockerfile: str | None,
                    text: str | None) -> tuple[str, str, Path | None]:
        if text is not None:
            return text, dockerfile or "Dockerfile", None
        if dockerfile is None:
            for candidate in ("Dockerfile", "dockerfile"):
                p = root / candidate
                if p.is_file():
                    return _read_text(p, candidate), candidate, p
            raise BuildError(f"unable to prepare context: cannot find Dockerfile in {root}: "
                             "no such file or directory", field="dockerfile", value="Dockerfile")
        if not from_tar and (os.path.isabs(dockerfile) or os.path.exists(dockerfile)):
            # docker resolves -f against the current directory; it may lie outside the context
            p = Path(dockerfile)
        else:
            p = Path(resolve_in_root(root, dockerfile))
        if not p.is_file():
            raise BuildError(f"unable to prepare context: the Dockerfile ({dockerfile}) cannot be found",
                             field="dockerfile", value=dockerfile)
        return _read_text(p, dockerfile), os.path.basename(dockerfile), p

    @property
    def scratch(self) -> Path | None:
        """The temporary folder a tar context was unpacked into (None for a folder context)."""
        return self._scratch

    def close(self) -> None:
        if self._scratch is not None:
            remove_tree(self._scratch)
            self._scratch = None

    def __enter__(self) -> BuildContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- entries ------------------------------------------------------------------------
    def kept(self) -> dict[str, bool]:
        """Every path the .dockerignore keeps -> is it a directory (not following links)."""
        if self._kept is None:
            self._kept = {e.path: e.is_dir() for e in walk_context(self.root, self.matcher)}
        return self._kept

    def size(self) -> int:
        total = 0
        for rel, is_dir in self.kept().items():
            if not is_dir:
                try:
                    total += os.lstat(self.root / rel).st_size
                except OSError:
                    pass
        return total

    def match(self, source: str, instr: str = "COPY", line: int | None = None) -> list[str]:
        """The context paths a COPY/ADD source names (sorted); an error when there are none."""
        rel = clean_source(source)
        kept = self.kept()
        if has_glob(rel):
            found = sorted(p for p in kept if glob_match(rel, p))
            if not found:
                raise BuildError(f"{instr} failed: no source files were specified", line=line,
                                 field="source", value=source)
            return found
        if rel == "":
            return [""]
        host = self.host_path(rel)
        inside = os.path.relpath(host, self.root)
        if not os.path.lexists(host) or (rel not in kept and inside not in kept):
            raise BuildError(f"{instr} failed: file not found in build context or excluded by "
                             f".dockerignore: stat {rel}: file does not exist", line=line,
                             field="source", value=source)
        return [rel]

    def host_path(self, rel: str) -> str:
        """Where a context path is, symlinks resolved inside the context."""
        return resolve_in_root(self.root, rel)

    def walk(self, host_dir: str) -> Iterator[tuple[str, str]]:
        """(path below ``host_dir``, host path) of the kept entries under a context directory,
        a directory before its contents, never following links."""
        inside = os.path.relpath(host_dir, self.root)
        prefix = "" if inside == "." else inside + "/"
        for path in self.kept():
            if path and path.startswith(prefix):
                yield path[len(prefix):], os.path.join(self.root, path)


def _read_text(path: Path, name: str) -> str:
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise BuildError(f"the Dockerfile {name} is not a regular file", field="dockerfile", value=name)
        return path.read_bytes().decode("utf-8", "surrogateescape")
    except OSError as exc:
        raise BuildError(f"cannot read the Dockerfile {name}: {exc.strerror}", field="dockerfile",
                         value=name) from exc
