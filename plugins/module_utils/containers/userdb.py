"""``-u user[:group]`` resolved through the image's /etc/passwd and /etc/group, as Docker does.

The files are read inside the rootfs (symlinks resolved as the container would see them, never
on the host), only when they are regular files, and only up to a size cap: an image cannot make
the engine read the host's files, block on a FIFO or swallow memory.

Docker's rules: numeric ids need no entry; a name must have one ("unable to find user foo: no
matching entries in passwd file"); without an explicit group, a user found by name gets its
primary group and the supplementary groups that list it in /etc/group.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from ..errors import InvalidSpec
from ..fsutil import open_in_root

MAX_DB_BYTES = 4 << 20
MAX_ID = 2**31 - 1


@dataclass(frozen=True)
class ExecUser:
    uid: int
    gid: int
    additional_gids: tuple[int, ...] = ()
    home: str = "/"

    def to_oci(self) -> dict[str, object]:
        d: dict[str, object] = {"uid": self.uid, "gid": self.gid}
        if self.additional_gids:
            d["additionalGids"] = list(self.additional_gids)
        return d


def read_db(rootfs: str | os.PathLike[str], path: str) -> str:
    """The text of ``path`` inside ``rootfs``; "" when it is missing or not a regular file."""
    root_fd = os.open(rootfs, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            fd = open_in_root(root_fd, path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
        except OSError:
            return ""
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return ""
            if st.st_size > MAX_DB_BYTES:
                raise InvalidSpec(f"{path} in the image is larger than {MAX_DB_BYTES} bytes", field="user",
                                  value=path)
            chunks, total = [], 0
            while True:
                b = os.read(fd, 65536)
                if not b:
                    break
                total += len(b)
                if total > MAX_DB_BYTES:
                    raise InvalidSpec(f"{path} in the image is larger than {MAX_DB_BYTES} bytes",
                                      field="user", value=path)
                chunks.append(b)
            return b"".join(chunks).decode("utf-8", "replace")
        finally:
            os.close(fd)
    finally:
        os.close(root_fd)


def _rows(text: str, min_fields: int) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) >= min_fields:
            rows.append(parts)
    return rows


def _int(text: str) -> int | None:
    try:
        n = int(text)
    except ValueError:
        return None
    return n if n >= 0 else None


def _check_range(n: int) -> int:
    if n > MAX_ID:
        raise InvalidSpec(f"uids and gids must be in range 0-{MAX_ID}", field="user", value=n)
    return n


def resolve_user(user: str | None, passwd: str, group: str) -> ExecUser:
    """Pure: apply Docker's rules to the text of passwd and group files."""
    spec = (user or "").strip()
    user_arg, _, group_arg = spec.partition(":")
    users = _rows(passwd, 7)
    n = _int(user_arg or "0")  # no user: root, with root's entry when the image has one
    if n is None:
        entry = next((u for u in users if u[0] == user_arg), None)
        if entry is None:
            raise InvalidSpec(f"unable to find user {user_arg}: no matching entries in passwd file",
                              field="user", value=spec)
    else:
        entry = next((u for u in users if _int(u[2]) == n), None)
    uid = _check_range(n if n is not None else (_int(entry[2]) or 0))  # type: ignore[index]
    gid, home, name = 0, "/", None
    if entry is not None:
        gid, home, name = _int(entry[3]) or 0, entry[5] or "/", entry[0]
    groups = _rows(group, 3)
    extra: list[int] = []
    if group_arg:
        g = _int(group_arg)
        if g is None:
            match = next((r for r in groups if r[0] == group_arg), None)
            if match is None or _int(match[2]) is None:
                raise InvalidSpec(f"unable to find group {group_arg}: no matching entries in group file",
                                  field="user", value=spec)
            g = _int(match[2])
        gid = _check_range(g or 0)
    elif name is not None:
        for r in groups:
            gnum = _int(r[2])
            if len(r) > 3 and name in r[3].split(",") and gnum is not None and gnum not in extra:
                extra.append(gnum)
    return ExecUser(uid, gid, tuple(extra), home)


def lookup(rootfs: str | os.PathLike[str], user: str | None) -> ExecUser:
    """Resolve ``user`` against the files of a mounted rootfs."""
    return resolve_user(user, read_db(rootfs, "/etc/passwd"), read_db(rootfs, "/etc/group"))
