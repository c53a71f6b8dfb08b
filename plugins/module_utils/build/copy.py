"""COPY and ADD: which files a step copies, their content hash (the cache key), and the copy.

Two phases, so that a cache hit reads the sources only once and writes nothing:
``collect`` finds the files each source names (globs, directories, symlinks resolved inside
their tree) and ``content_hash`` hashes them; on a miss ``apply`` writes them into the step's
mounted rootfs with Docker's rules:

- a directory source copies its contents, not the directory itself;
- a file lands at ``dest/basename`` when dest ends with '/' or is a directory, else at dest;
- several sources (globs included) need a dest that ends with '/';
- relative destinations are relative to WORKDIR; missing parents are made (0755);
- files belong to root (or ``--chown``, names looked up in the image's passwd and group),
  keep their mode (or ``--chmod``) and mtime; symlinks inside directories stay symlinks.
- ADD extracts local tar archives (gzip, bzip2, xz, zstd or plain) with the store's safe
  extractor, keeping their owners, and downloads URLs (mode 0600, Last-Modified as mtime).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import posixpath
import shutil
import stat
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import BuildError
from ..fsutil import resolve_in_root
from .context import glob_match, has_glob

_ARCHIVE_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")


class SourceTree(Protocol):
    root: Any

    def match(self, source: str, instr: str = "COPY", line: int | None = None) -> list[str]: ...
    def host_path(self, rel: str) -> str: ...
    def walk(self, host_dir: str) -> Iterator[tuple[str, str]]: ...


class RootfsTree:
    """A mounted image rootfs as a COPY --from source."""

    def __init__(self, root: str) -> None:
        self.root = root

    def host_path(self, rel: str) -> str:
        return resolve_in_root(self.root, rel)

    def match(self, source: str, instr: str = "COPY", line: int | None = None) -> list[str]:
        rel = posixpath.normpath("/" + source).lstrip("/")
        rel = "" if rel == "." else rel
        if not has_glob(rel):
            if not os.path.lexists(self.host_path(rel)):
                raise BuildError(f"{instr} failed: stat {source}: file does not exist", line=line,
                                 field="source", value=source)
            return [rel]
        found = [""]
        for part in rel.split("/"):
            nxt = []
            for base in found:
                if not has_glob(part):
                    cand = f"{base}/{part}" if base else part
                    if os.path.lexists(self.host_path(cand)):
                        nxt.append(cand)
                    continue
                host = self.host_path(base)
                if not os.path.isdir(host):
                    continue
                for name in sorted(os.listdir(host)):
                    if glob_match(part, name):
                        nxt.append(f"{base}/{name}" if base else name)
            found = nxt
        if not found:
            raise BuildError(f"{instr} failed: no source files were specified", line=line,
                             field="source", value=source)
        return sorted(found)

    def walk(self, host_dir: str) -> Iterator[tuple[str, str]]:
        def rec(folder: str, prefix: str) -> Iterator[tuple[str, str]]:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: os.fsencode(e.name))
            for e in entries:
                rel = prefix + e.name
                yield rel, e.path
                if e.is_dir(follow_symlinks=False):
                    yield from rec(e.path, rel + "/")
        yield from rec(host_dir, "")


@dataclass(frozen=True)
class Entry:
    rel: str                # path below the copied item ('' for the item itself)
    host: str
    kind: str               # dir | file | symlink | other
    mode: int
    uid: int
    gid: int
    size: int
    mtime_ns: int
    link: str = ""
    stamp: tuple[int, ...] = ()     # dev, ino, size, mtime, ctime: what the digest memo keys on


@dataclass
class Item:
    """One thing a source names: a file, or a directory with its contents."""
    name: str               # basename used when the item is a file copied into a directory
    entries: list[Entry] = field(default_factory=list)
    is_dir: bool = False
    keep_owner: bool = False        # extracted archives keep their owners
    fixed_mode: int | None = None   # downloads: 0600
    rel: str = ""                   # the source path, kept below dest by COPY --parents


def _entry(rel: str, host: str) -> Entry:
    st = os.lstat(host)
    m = st.st_mode
    kind = "dir" if stat.S_ISDIR(m) else "file" if stat.S_ISREG(m) else "symlink" if stat.S_ISLNK(m) else "other"
    return Entry(rel, host, kind, stat.S_IMODE(m), st.st_uid, st.st_gid, st.st_size if kind == "file" else 0,
                 st.st_mtime_ns, os.readlink(host) if kind == "symlink" else "",
                 (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))


def collect(tree: SourceTree, sources: Sequence[str], instr: str, line: int | None,
            exclude: Sequence[str] = ()) -> list[Item]:
    """The items the sources name; ``exclude`` (--exclude) patterns, matched like .dockerignore
    lines against source paths, leave files out."""
    matcher = None
    if exclude:
        from .ignore import IgnoreMatcher
        matcher = IgnoreMatcher(exclude)
    items: list[Item] = []
    for source in sources:
        for rel in tree.match(source, instr, line):
            if matcher is not None and rel and (matcher.excludes(rel)
                                                or matcher.excludes(posixpath.basename(rel))):
                continue
            host = tree.host_path(rel)
            top = _entry("", host)
            name = posixpath.basename(rel) or posixpath.basename(host)
            if top.kind == "dir":
                item = Item(name, [top], is_dir=True, rel=rel)
                for sub, h in tree.walk(host):
                    # patterns are relative to the folder being copied, as BuildKit reads them
                    if matcher is not None and matcher.excludes(sub):
                        continue
                    item.entries.append(_entry(sub, h))
            else:
                item = Item(name, [top], rel=rel)
            items.append(item)
    return items


def is_archive(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return False
    if any(head.startswith(m) for m in _ARCHIVE_MAGIC):
        return True
    return len(head) >= 263 and head[257:262] == b"ustar"


def extract_archive(path: str, scratch: str) -> Item:
    """A local tar (compressed or not) unpacked into ``scratch`` by the store's extractor."""
    from ..store.layers import extract
    dest = tempfile.mkdtemp(prefix="add-", dir=scratch)
    with open(path, "rb") as f:
        try:
            extract(f, dest)
        except BuildError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported with the archive's name
            raise BuildError(f"ADD failed: cannot extract {os.path.basename(path)}: {exc}",
                             field="source", value=path) from exc
    tree = RootfsTree(dest)
    item = Item(os.path.basename(path), [_entry("", dest)], is_dir=True, keep_owner=True)
    item.entries += [_entry(sub, h) for sub, h in tree.walk(dest)]
    return item


def fetch_url(url: str, scratch: str, line: int | None, checksum: str = "") -> Item:
    """ADD <url>: the file downloaded into ``scratch`` (mode 0600, mtime from Last-Modified);
    ``checksum`` (ADD --checksum=sha256:...) must match what arrived."""
    import email.utils

    import requests
    name = posixpath.basename(url.split("?", 1)[0].split("#", 1)[0].rstrip("/")) or "download"
    fd, target = tempfile.mkstemp(prefix="url-", dir=scratch)
    try:
        with os.fdopen(fd, "wb") as out, requests.get(url, stream=True, timeout=(10, 300)) as resp:
            if resp.status_code >= 400:
                raise BuildError(f"ADD failed: {url}: {resp.status_code} {resp.reason}", line=line,
                                 field="source", value=url)
            for chunk in resp.iter_content(1 << 20):
                out.write(chunk)
            modified = resp.headers.get("Last-Modified")
    except requests.RequestException as exc:
        raise BuildError(f"ADD failed: cannot fetch {url}: {exc}", line=line, field="source", value=url) from exc
    if checksum:
        algo, _, want = checksum.partition(":")
        if algo != "sha256" or len(want) != 64:
            raise BuildError(f"ADD --checksum={checksum}: expected sha256:<64 hex digits>", line=line,
                             field="checksum", value=checksum)
        with open(target, "rb") as f:
            got = hashlib.file_digest(f, "sha256").hexdigest()
        if got != want:
            raise BuildError(f"ADD failed: {url}: digest mismatch: expected {checksum}, got sha256:{got}",
                             line=line, field="checksum", value=checksum)
    mtime = 0
    if modified:
        try:
            mtime = int(email.utils.parsedate_to_datetime(modified).timestamp())
        except (TypeError, ValueError):
            mtime = 0
    os.utime(target, (mtime, mtime))
    return Item(name, [_entry("", target)], fixed_mode=0o600)


class DigestMemo:
    """File digests remembered by (path, dev, inode, size, mtime, ctime), so that a rebuild of an
    unchanged context does not read every file again. Any write changes the ctime."""

    LIMIT = 100_000

    def __init__(self, path: str | None = None, under: str = "/") -> None:
        self.path = path
        self.under = under.rstrip("/") + "/"     # only files of a lasting context are worth it
        self.known: dict[str, list[Any]] = {}
        self.changed = False
        if path is not None:
            try:
                with open(path) as f:
                    self.known = json.load(f)
            except (OSError, ValueError):
                self.known = {}

    def digest(self, e: Entry) -> bytes:
        stamp = list(e.stamp)
        hit = self.known.get(e.host)
        if hit is not None and hit[:-1] == stamp:
            return bytes.fromhex(hit[-1])
        with open(e.host, "rb") as f:
            value = hashlib.file_digest(f, "sha256").digest()
        if e.stamp and self.path is not None and e.host.startswith(self.under):
            self.known[e.host] = stamp + [value.hex()]
            self.changed = True
        return value

    def save(self) -> None:
        if self.path is None or not self.changed:
            return
        from ..fsutil import write_json
        if len(self.known) > self.LIMIT:
            self.known = {}
        with contextlib.suppress(OSError):
            write_json(self.path, self.known, durable=False)   # a lost memo only costs a re-read
        self.changed = False


def content_hash(items: Sequence[Item], extra: str = "", memo: DigestMemo | None = None) -> str:
    """What the cache compares: names, kinds, modes, link targets and file contents."""
    memo = memo or DigestMemo()
    h = hashlib.sha256(extra.encode())
    for item in items:
        h.update(f"\0item {item.name} {item.rel} {int(item.is_dir)} {int(item.keep_owner)} {item.fixed_mode}\n".encode())
        for e in item.entries:
            owner = f"{e.uid}:{e.gid}" if item.keep_owner else ""
            h.update(f"{e.rel}\0{e.kind}\0{e.mode:o}\0{owner}\0{e.size}\0{e.link}\0".encode())
            if e.kind == "file":
                h.update(memo.digest(e))
    return "sha256:" + h.hexdigest()


# --- writing ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Owner:
    uid: int
    gid: int


def parse_chmod(value: str, line: int | None) -> int | None:
    if not value:
        return None
    try:
        mode = int(value, 8)
    except ValueError:
        raise BuildError(f"invalid --chmod value {value!r}: expected an octal mode", line=line,
                         field="chmod", value=value) from None
    if mode < 0 or mode > 0o7777:
        raise BuildError(f"invalid --chmod value {value!r}", line=line, field="chmod", value=value)
    return mode


def parse_chown(value: str, rootfs: str, line: int | None) -> Owner | None:
    """--chown=user[:group], names resolved through the image's /etc/passwd and /etc/group."""
    if not value:
        return None
    from ..containers.userdb import read_db
    user, _, group = value.partition(":")
    passwd = [r.split(":") for r in read_db(rootfs, "/etc/passwd").splitlines() if r.count(":") >= 6]
    groups = [r.split(":") for r in read_db(rootfs, "/etc/group").splitlines() if r.count(":") >= 2]

    def user_id(name: str) -> tuple[int, int | None]:
        if name.isdigit():
            return int(name), None
        for row in passwd:
            if row[0] == name:
                return int(row[2]), int(row[3])
        raise BuildError(f"unable to convert uid/gid chown string to host mapping: can't find uid for "
                         f"user {name}: no such user: {name}", line=line, field="chown", value=value)

    def group_id(name: str) -> int | None:
        if name.isdigit():
            return int(name)
        for row in groups:
            if row[0] == name:
                return int(row[2])
        return None

    uid, primary = user_id(user)
    if group:
        gid = group_id(group)
        if gid is None:
            raise BuildError(f"unable to convert uid/gid chown string to host mapping: can't find gid for "
                             f"group {group}: no such group: {group}", line=line, field="chown", value=value)
    else:
        # docker uses the name for both; a numeric user gives the same numeric group
        named = None if user.isdigit() else group_id(user)
        gid = uid if user.isdigit() else (named if named is not None else (primary or 0))
    return Owner(uid, gid)


def destination(dest: str, workdir: str) -> tuple[str, bool]:
    """(absolute destination, names a directory by its form)."""
    as_dir = dest.endswith("/") or dest in (".", "") or dest.endswith("/.")
    path = dest if dest.startswith("/") else posixpath.join(workdir or "/", dest)
    path = posixpath.normpath(path)
    return ("/" if path == "//" else path), as_dir


def apply(items: Sequence[Item], rootfs: str, dest: str, workdir: str, owner: Owner | None,
          chmod: int | None, instr: str, line: int | None, parents: bool = False) -> None:
    """Write the items under ``dest``; with ``parents`` (COPY --parents) each keeps its source
    path below dest."""
    target, as_dir = destination(dest, workdir)
    if parents:
        as_dir = True
    count = len(items)
    if count > 1 and not as_dir:
        raise BuildError(f"When using {instr} with more than one source file, the destination must be a "
                         "directory and end with a /", line=line, field="dest", value=dest)
    default_owner = owner or Owner(0, 0)
    made = _Maker(rootfs, default_owner)
    base = target
    for item in items:
        if parents and item.rel:
            target = posixpath.join(base, posixpath.dirname(item.rel)) if not item.is_dir \
                else posixpath.join(base, item.rel)
        else:
            target = base
        if item.is_dir:
            made.mkdirs(target)
            dirs: list[tuple[str, Entry]] = []
            for e in item.entries[1:]:
                path = posixpath.join(target, e.rel)
                own = owner or (Owner(e.uid, e.gid) if item.keep_owner else default_owner)
                if e.kind == "dir":
                    made.mkdir(path, chmod if chmod is not None else e.mode, own)
                    dirs.append((path, e))
                else:
                    made.put(path, e, own, chmod)
            for path, e in reversed(dirs):
                made.times(path, e)
        else:
            e = item.entries[0]
            into_dir = as_dir or made.is_dir(target)
            path = posixpath.join(target, item.name) if into_dir else target
            made.mkdirs(posixpath.dirname(path))
            mode = chmod if chmod is not None else item.fixed_mode
            made.put(path, e, owner or default_owner, mode)


class _Maker:
    def __init__(self, rootfs: str, owner: Owner) -> None:
        self.rootfs = rootfs
        self.owner = owner

    def host(self, path: str, follow_last: bool = False) -> str:
        return resolve_in_root(self.rootfs, path, follow_last=follow_last)

    def is_dir(self, path: str) -> bool:
        return os.path.isdir(self.host(path, follow_last=True))

    def mkdirs(self, path: str) -> None:
        """mkdir -p inside the rootfs; new folders are 0755 and belong to the copy's owner."""
        parts = [p for p in path.split("/") if p]
        cur = ""
        for part in parts:
            cur = f"{cur}/{part}"
            host = self.host(cur, follow_last=True)
            if os.path.isdir(host):
                continue
            if os.path.lexists(host):
                os.unlink(host)
            # a symlink inside the rootfs may point at several missing folders: make them all
            missing = []
            probe = host
            while not os.path.lexists(probe) and probe.startswith(self.rootfs.rstrip("/") + "/"):
                missing.append(probe)
                probe = os.path.dirname(probe)
            for folder in reversed(missing):
                os.mkdir(folder, 0o755)
                os.chmod(folder, 0o755)
                os.chown(folder, self.owner.uid, self.owner.gid)

    def mkdir(self, path: str, mode: int, owner: Owner) -> None:
        host = self.host(path, follow_last=True)
        if not os.path.isdir(host):
            if os.path.lexists(host):
                os.unlink(host)
            os.mkdir(host, 0o700)
        os.chown(host, owner.uid, owner.gid)
        os.chmod(host, mode)

    def put(self, path: str, e: Entry, owner: Owner, mode: int | None) -> None:
        host = self.host(path)
        if os.path.lexists(host):
            if os.path.isdir(host) and not os.path.islink(host):
                if e.kind == "dir":
                    return
                shutil.rmtree(host)
            else:
                os.unlink(host)
        if e.kind == "symlink":
            os.symlink(e.link, host)
            os.lchown(host, owner.uid, owner.gid)
            os.utime(host, ns=(e.mtime_ns, e.mtime_ns), follow_symlinks=False)
            return
        if e.kind == "dir":
            self.mkdir(path, mode if mode is not None else e.mode, owner)
            return
        if e.kind != "file":
            return          # sockets, fifos and devices in a context are not copied
        _copy_data(e.host, host)
        os.chown(host, owner.uid, owner.gid)
        os.chmod(host, mode if mode is not None else e.mode)
        os.utime(host, ns=(e.mtime_ns, e.mtime_ns))

    def times(self, path: str, e: Entry) -> None:
        host = self.host(path, follow_last=True)
        os.utime(host, ns=(e.mtime_ns, e.mtime_ns))


def _copy_data(src: str, dst: str) -> None:
    fd_in = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        fd_out = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            size = os.fstat(fd_in).st_size
            done = 0
            # sendfile works between any two filesystems (the context and the overlay)
            while done < size:
                n = os.sendfile(fd_out, fd_in, done, min(size - done, 1 << 30))
                if n == 0:
                    break
                done += n
        finally:
            os.close(fd_out)
    finally:
        os.close(fd_in)
