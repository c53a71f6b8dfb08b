"""Unpacked layers and the writable overlays stacked on them.

``layers/<chain-id hex>/fs`` holds one layer's own files (whiteouts in overlayfs form), so images
that share a chain prefix share those folders. A layer appears by a rename of a fully unpacked
and verified temporary folder, never partly. ``active/<key>/`` holds the upper, work and merged
folders of a container or a build step. Overlay mount options name lower layers through short
links in ``l/`` (as Docker's overlay2 does) so that deep images fit in the kernel's one-page
limit for mount data.
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import os
import re
import secrets
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import Conflict, IntegrityError, InvalidSpec, NotFound, RuntimeFailure, UnsafeContent
from ..fsutil import discard_into, ensure_dir, fsync_dir, read_json, remove_tree, write_json
from ..paths import Paths
from ..types import Mount, check_digest
from .layerdiff import changes as _changes
from .layerdiff import write_layer
from .layers import extract, tree_size
from .tarstream import DEFAULT_LIMITS, Limits

_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_MNT_DETACH = 2
_libc = ctypes.CDLL(None, use_errno=True)


def chain_ids(diff_ids: list[str]) -> list[str]:
    """containerd/Docker chain ids: the first is the diff_id, then sha256("<parent> <diff_id>")."""
    out: list[str] = []
    for d in diff_ids:
        check_digest(d, "diff_id")
        out.append(d if not out else "sha256:" + hashlib.sha256(f"{out[-1]} {d}".encode()).hexdigest())
    return out


def child_chain(parent: str | None, diff_id: str) -> str:
    return chain_ids([parent, diff_id])[1] if parent else check_digest(diff_id, "diff_id")


_FS_IOC_GETFLAGS = 0x80086601
_FS_IOC_SETFLAGS = 0x40086602
_FS_TOPDIR_FL = 0x00020000


def spread_subdirs(folder: Path) -> None:
    """Mark ``folder`` as the top of unrelated trees for ext2/3/4's Orlov allocator (chattr +T),
    best effort (an ioctl to read the flags, one more the first time).

    Every layer unpacks into its own folder here. Without the mark, ext4 puts each one's inodes
    in the flex group of ``tmp`` itself, where earlier pulls, builds and removals churned; on a
    filesystem without a journal, ext4 then steps over every free inode whose deletion is less
    than ``dirtytime_expire_seconds`` (12 h) old and still cached (``recently_deleted``), one by
    one, so each file creation costs up to a millisecond. With the mark, each new folder (a fresh
    name each time) goes to a block group chosen across the disk with free inodes to spare.
    """
    import fcntl
    import struct

    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        flags = struct.unpack("i", fcntl.ioctl(fd, _FS_IOC_GETFLAGS, struct.pack("i", 0)))[0]
        if not flags & _FS_TOPDIR_FL:
            fcntl.ioctl(fd, _FS_IOC_SETFLAGS, struct.pack("i", flags | _FS_TOPDIR_FL))
    except OSError:
        pass   # not ext2/3/4 (tmpfs, xfs, overlayfs...): the hint does not apply there
    finally:
        os.close(fd)


def _mounted(path: Path) -> bool:
    target = os.fsencode(os.path.realpath(path))
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            point = line.split(b" ", 5)[4]
            if point == target or point.replace(b"\\040", b" ") == target:
                return True
    return False


class Snapshotter:
    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.base = paths.snapshots
        self._content: Any = None

    # --- layers -----------------------------------------------------------------------
    def chain_id(self, diff_ids: list[str]) -> list[str]:
        return chain_ids(diff_ids)

    def _layer_root(self, chain_id: str) -> Path:
        return self.base / "layers" / check_digest(chain_id, "chain_id")[7:]

    def has_layer(self, chain_id: str) -> bool:
        return (self._layer_root(chain_id) / "meta.json").exists()

    def layer_dir(self, chain_id: str) -> Path:
        root = self._layer_root(chain_id)
        if not (root / "meta.json").exists():
            raise NotFound(f"layer {chain_id} is not unpacked", chain_id=chain_id)
        return root / "fs"

    def layer_meta(self, chain_id: str) -> dict[str, Any]:
        try:
            return read_json(self._layer_root(chain_id) / "meta.json")
        except FileNotFoundError:
            raise NotFound(f"layer {chain_id} is not unpacked", chain_id=chain_id) from None

    def layers(self) -> list[dict[str, Any]]:
        out = []
        with contextlib.suppress(FileNotFoundError), os.scandir(self.base / "layers") as it:
            for e in it:
                with contextlib.suppress(FileNotFoundError, ValueError):
                    out.append(read_json(Path(e.path) / "meta.json"))
        return out

    def lower_chain(self, chain_id: str | None) -> list[str]:
        """Chain ids from ``chain_id`` down to the base layer (top first)."""
        out: list[str] = []
        cur = chain_id
        while cur:
            out.append(cur)
            cur = self.layer_meta(cur).get("parent")
            if len(out) > 1000:
                raise IntegrityError(f"layer chain of {chain_id} loops", chain_id=chain_id)
        return out

    def unpack(self, chain_id: str | None, parent_chain_id: str | None, fileobj: BinaryIO,
               expected_diff_id: str | None = None, verify: Callable[[], Any] | None = None,
               limits: Limits = DEFAULT_LIMITS, parent_ready: Callable[[], Any] | None = None) -> str:
        """Unpack one layer on top of ``parent_chain_id``; returns its diff_id.

        ``chain_id`` may be None when the diff_id is not known beforehand (imports); it is then
        computed. ``verify`` runs after the content was checked and before the layer appears
        (the registry client commits the compressed blob there). With ``parent_ready`` the
        parent may still be on its way: a layer's own files do not depend on its parent, so
        they are extracted first and ``parent_ready()`` waits for the parent just before the
        layer is installed (a pull unpacks its layers in parallel this way)."""
        if parent_ready is None and parent_chain_id is not None and not self.has_layer(parent_chain_id):
            raise NotFound(f"parent layer {parent_chain_id} is not unpacked", chain_id=parent_chain_id)
        if chain_id is not None and self.has_layer(chain_id):
            diff_id = self.layer_meta(chain_id)["diff_id"]
            if verify is not None:
                from .layers import digest_stream
                got = digest_stream(fileobj, limits).diff_id
                if got != diff_id:
                    raise IntegrityError(f"layer content {got} does not match diff_id {diff_id}",
                                         expected=diff_id, digest=got)
                verify()
            return diff_id
        tmp = self._temp("unpack")
        try:
            (tmp / "fs").mkdir()
            try:
                info = extract(fileobj, tmp / "fs", limits)
            except (InvalidSpec, UnsafeContent) as exc:
                if verify is not None:
                    self._blame_transport(fileobj, verify, exc)
                raise
            if expected_diff_id is not None and info.diff_id != expected_diff_id:
                raise IntegrityError(f"layer diff_id mismatch: expected {expected_diff_id}, got {info.diff_id}",
                                     expected=expected_diff_id, digest=info.diff_id)
            want = child_chain(parent_chain_id, info.diff_id)
            if chain_id is not None and chain_id != want:
                raise IntegrityError(f"layer {info.diff_id} on {parent_chain_id} has chain id {want}, "
                                     f"not {chain_id}", expected=chain_id, digest=want)
            if verify is not None:
                verify()
            if parent_ready is not None:
                parent_ready()
                if parent_chain_id is not None and not self.has_layer(parent_chain_id):
                    raise NotFound(f"parent layer {parent_chain_id} is not unpacked", chain_id=parent_chain_id)
            self._install(tmp, want, parent_chain_id, info.diff_id, info.size, info.max_mtime)
        finally:
            remove_tree(tmp)
        return info.diff_id

    @staticmethod
    def _blame_transport(fileobj: BinaryIO, verify: Callable[[], Any], exc: BaseException) -> None:
        """A layer that will not unpack may just be corrupt on the wire: read the rest and let
        ``verify`` (the blob's digest check) speak first; a digest mismatch is the real error.
        A blob that verifies but is malformed or hostile stays unreferenced in the content
        store (image prune sweeps such blobs)."""
        try:
            while fileobj.read(1 << 20):
                pass
            verify()
        except IntegrityError as integrity:
            raise integrity from exc
        except Exception:  # noqa: BLE001 - the content error is the one to report
            return

    def _install(self, tmp: Path, chain_id: str, parent: str | None, diff_id: str, size: int,
                 max_mtime: int = 0) -> None:
        short = secrets.token_hex(5)
        write_json(tmp / "meta.json", {"chain_id": chain_id, "diff_id": diff_id, "parent": parent,
                                       "size": size, "max_mtime": max_mtime, "link": short,
                                       "created": time.time()})
        links = ensure_dir(self.base / "l", 0o700)
        hexid = chain_id[7:]
        os.symlink(f"../layers/{hexid}/fs", links / short)
        target = self._layer_root(chain_id)
        ensure_dir(target.parent, 0o700)
        try:
            os.rename(tmp, target)
        except OSError as exc:
            os.unlink(links / short)
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY) and self.has_layer(chain_id):
                return  # another process unpacked the same layer first
            raise
        fsync_dir(target.parent)

    def _temp(self, what: str) -> Path:
        tmpdir = ensure_dir(self.paths.tmp, 0o700)
        spread_subdirs(tmpdir)
        self._clean_temps(tmpdir)
        return Path(tempfile.mkdtemp(prefix=f"{what}-{os.getpid()}-", dir=tmpdir))

    @staticmethod
    def _clean_temps(tmpdir: Path) -> None:
        """Remove temp folders whose process died (a crash mid-unpack): one listing, cheap."""
        with contextlib.suppress(FileNotFoundError), os.scandir(tmpdir) as it:
            for e in it:
                parts = e.name.split("-")
                if len(parts) >= 3 and parts[0] in ("unpack", "commit", "load") and parts[1].isdigit():
                    pid = int(parts[1])
                    if pid != os.getpid() and not os.path.exists(f"/proc/{pid}"):
                        remove_tree(e.path)

    def remove_layer(self, chain_id: str) -> None:
        if chain_id in self.active_chains():
            raise Conflict(f"layer {chain_id} is in use by a container or build step", chain_id=chain_id)
        root = self._layer_root(chain_id)
        with contextlib.suppress(NotFound, FileNotFoundError, ValueError):
            link = self.layer_meta(chain_id).get("link")
            if link:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.base / "l" / link)
        discard_into(self.paths.tmp, root)

    # --- active snapshots ---------------------------------------------------------------
    def _active(self, key: str) -> Path:
        if not isinstance(key, str) or not _KEY_RE.match(key):
            raise InvalidSpec(f"invalid snapshot key {key!r}", field="key", value=key)
        return self.base / "active" / key

    def _active_meta(self, key: str) -> dict[str, Any]:
        try:
            return read_json(self._active(key) / "meta.json")
        except FileNotFoundError:
            raise NotFound(f"no snapshot {key!r}", key=key) from None

    def exists(self, key: str) -> bool:
        return (self._active(key) / "meta.json").exists()

    def prepare(self, key: str, parent_chain_id: str | None, init: bool = False,
                durable: bool = True) -> list[Mount]:
        """A writable snapshot over ``parent_chain_id``.

        ``init`` (containers) puts Docker's init layer between the image and the upper folder:
        the mount points the runtime needs (/proc, /sys, /dev, /etc/hosts...) already exist
        there, so they never land in the upper folder, ``diff`` or a commit, and an image whose
        /etc/hosts is a symlink or a FIFO has it hidden under a plain file."""
        folder = self._active(key)
        if folder.exists():
            raise Conflict(f"snapshot {key!r} already exists", key=key)
        if parent_chain_id is not None:
            self.lower_chain(parent_chain_id)   # every lower layer must be there
        ensure_dir(folder.parent, 0o700)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=folder.parent))
        try:
            for d in ("upper", "work", "merged"):
                (tmp / d).mkdir()
            os.chmod(tmp / "upper", 0o755)
            os.chmod(tmp / "merged", 0o755)
            if init:
                _make_init_layer(tmp / "init")
            # durable=False: a --rm container's snapshot, which no crash recovery will look for.
            write_json(tmp / "meta.json", {"key": key, "parent": parent_chain_id, "created": time.time(),
                                           "init": init}, durable=durable)
            try:
                os.rename(tmp, folder)
            except OSError as exc:
                if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                    raise Conflict(f"snapshot {key!r} already exists", key=key) from None
                raise
        finally:
            remove_tree(tmp)
        return self.mounts(key)

    def _lowers(self, parent: str | None) -> list[tuple[Path, str | None]]:
        """(layer fs, short link) top first; the empty folder for an image without layers."""
        out = []
        for cid in self.lower_chain(parent):
            out.append((self._layer_root(cid) / "fs", self.layer_meta(cid).get("link")))
        if not out:
            out.append((ensure_dir(self.base / "empty", 0o755), None))
        return out

    def _key_lowers(self, key: str, meta: dict[str, Any] | None = None) -> list[tuple[Path, str | None]]:
        """A snapshot's lower folders, top first: its init layer, then the image's layers."""
        meta = meta if meta is not None else self._active_meta(key)
        if not meta.get("init"):
            return self._lowers(meta.get("parent"))
        image = self._lowers(meta.get("parent")) if meta.get("parent") else []
        return [(self._active(key) / "init", None), *image]

    def _options(self, key: str, relative: bool = False) -> list[str]:
        meta = self._active_meta(key)
        folder = self._active(key)
        lowers = []
        for fs, link in self._key_lowers(key, meta):
            if link:
                lowers.append(f"l/{link}" if relative else str(self.base / "l" / link))
            else:
                lowers.append(os.path.relpath(fs, self.base) if relative else str(fs))
        return [f"lowerdir={':'.join(lowers)}", f"upperdir={folder / 'upper'}", f"workdir={folder / 'work'}"]

    def mounts(self, key: str) -> list[Mount]:
        return [Mount("overlay", "overlay", "", tuple(self._options(key)))]

    def upper_dir(self, key: str) -> Path:
        self._active_meta(key)
        return self._active(key) / "upper"

    def merged_dir(self, key: str) -> Path:
        self._active_meta(key)
        return self._active(key) / "merged"

    def parent(self, key: str) -> str | None:
        return self._active_meta(key).get("parent")

    def mount(self, key: str, volatile: bool = False) -> Path:
        """Mount the merged folder in this (the host's) mount namespace; idempotent.

        ``volatile`` (for throwaway containers, as podman does for --rm): the overlay never
        syncs its upper folder, so its unmount does not wait for a syncfs of the whole host
        filesystem (10-100 ms on a busy disk). After a crash such an upper folder is not to be
        trusted, which does not matter for a snapshot that is removed at exit anyway.
        """
        merged = self.merged_dir(key)
        if _mounted(merged):
            return merged
        opts = ",".join(self._options(key) + (["volatile"] if volatile else []))
        if volatile:
            # Left by an earlier volatile mount of this snapshot; the kernel refuses a new
            # mount while it exists (its content is disposable, see above).
            with contextlib.suppress(FileNotFoundError, OSError):
                os.rmdir(self._active(key) / "work" / "work" / "incompat" / "volatile")
        if len(opts) < _PAGE - 64:
            rc = _libc.mount(b"overlay", os.fsencode(merged), b"overlay", 0, opts.encode())
            if rc != 0:
                err = ctypes.get_errno()
                raise RuntimeFailure(f"cannot mount the overlay for {key!r}: {os.strerror(err)}",
                                     key=key, errno=err)
            return merged
        # Too long for one page with absolute paths: mount from the snapshots folder so the
        # kernel resolves short relative names (a child process, to leave our cwd alone).
        opts = ",".join(self._options(key, relative=True) + (["volatile"] if volatile else []))
        r = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(merged)],
                           cwd=self.base, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeFailure(f"cannot mount the overlay for {key!r}: {r.stderr.strip()}", key=key)
        return merged

    def unmount(self, key: str) -> None:
        merged = self._active(key) / "merged"
        while _mounted(merged):
            if _libc.umount2(os.fsencode(merged), 0) != 0:
                err = ctypes.get_errno()
                if err == errno.EINVAL:
                    break
                if err == errno.EBUSY:
                    _libc.umount2(os.fsencode(merged), _MNT_DETACH)
                    continue
                raise RuntimeFailure(f"cannot unmount {merged}: {os.strerror(err)}", key=key, errno=err)

    def remove(self, key: str) -> None:
        folder = self._active(key)
        if not folder.exists():
            return
        self.unmount(key)
        discard_into(self.paths.tmp, folder)

    def list_active(self) -> list[dict[str, Any]]:
        out = []
        with contextlib.suppress(FileNotFoundError), os.scandir(self.base / "active") as it:
            for e in it:
                if not e.name.startswith("."):
                    with contextlib.suppress(FileNotFoundError, ValueError):
                        out.append(read_json(Path(e.path) / "meta.json"))
        return out

    def active_chains(self) -> set[str]:
        """Every layer some active snapshot stands on (its parent and all below it)."""
        used: set[str] = set()
        for meta in self.list_active():
            with contextlib.suppress(NotFound):
                used.update(self.lower_chain(meta.get("parent")))
        return used

    def upper_size(self, key: str) -> int:
        return tree_size(self.upper_dir(key))

    def changes(self, key: str) -> list[tuple[str, str]]:
        """``docker diff`` of a snapshot: (A|C|D, /path), sorted by path."""
        lowers = [fs for fs, _ in self._key_lowers(key)]
        return _changes(self.upper_dir(key), lowers)

    def commit(self, key: str, remove: bool = False, compress: str | None = None) -> tuple[str, str, str]:
        """Turn the upper folder into a layer; returns (chain_id, diff_id, blob digest).

        The layer tar is written into the content store. With ``remove`` (build steps) the
        snapshot is consumed: its upper folder is moved into the layer instead of being
        unpacked again, and the snapshot is gone afterwards."""
        from .content import ContentStore
        parent = self.parent(key)
        content = self._content or ContentStore(self.paths)
        self._content = content
        upper = self.upper_dir(key)
        with content.ingest(f"commit-{key}-{secrets.token_hex(4)}") as w:
            written = write_layer(upper, w, compress=compress)
            digest = w.commit()
        chain = child_chain(parent, written.diff_id)
        if not self.has_layer(chain):
            tmp = self._temp("commit")
            try:
                if remove:
                    self.unmount(key)
                    os.rename(upper, tmp / "fs")
                    self._install(tmp, chain, parent, written.diff_id, written.data_size)
                else:
                    (tmp / "fs").mkdir()
                    with content.open(digest) as f:
                        info = extract(f, tmp / "fs")
                    self._install(tmp, chain, parent, info.diff_id, info.size, info.max_mtime)
            finally:
                remove_tree(tmp)
        if remove:
            self.remove(key)
        return chain, written.diff_id, digest

    # --- inspect ------------------------------------------------------------------------
    def graph_driver(self, key: str) -> dict[str, Any]:
        """Docker's GraphDriver of a container: overlay2 with its four folders."""
        folder = self._active(key)
        lowers = [str(fs) for fs, _ in self._key_lowers(key)]
        return {"Name": "overlay2", "Data": {
            "LowerDir": ":".join(lowers), "MergedDir": str(folder / "merged"),
            "UpperDir": str(folder / "upper"), "WorkDir": str(folder / "work")}}

    def image_graph_driver(self, chain_id: str | None) -> dict[str, Any]:
        """Docker's GraphDriver of an image: its top layer as UpperDir, the rest below."""
        if chain_id is None:
            return {"Name": "overlay2", "Data": None}
        chain = self.lower_chain(chain_id)
        top = self._layer_root(chain[0])
        data = {"MergedDir": str(top / "merged"), "UpperDir": str(top / "fs"), "WorkDir": str(top / "work")}
        if len(chain) > 1:
            data["LowerDir"] = ":".join(str(self._layer_root(c) / "fs") for c in chain[1:])
        return {"Name": "overlay2", "Data": dict(sorted(data.items()))}


# What the runtime mounts over (runtime/mounts.py), as Docker's init layer has it.
INIT_DIRS = ("dev", "proc", "sys", "etc")
INIT_FILES = ("etc/hostname", "etc/hosts", "etc/resolv.conf")


def _make_init_layer(folder: Path) -> None:
    folder.mkdir(0o755)
    for d in INIT_DIRS:
        (folder / d).mkdir(0o755)
    for f in INIT_FILES:
        fd = os.open(folder / f, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        os.close(fd)
