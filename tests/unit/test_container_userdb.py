"""-u user[:group] with Docker's rules, read safely inside a rootfs."""
from __future__ import annotations

import os

import pytest
from ansible_collections.berth.engine.plugins.module_utils.containers.userdb import (
    ExecUser,
    lookup,
    resolve_user,
)
from ansible_collections.berth.engine.plugins.module_utils.errors import InvalidSpec

PASSWD = "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n# c\nbroken\n"
GROUP = "root:x:0:\nuser:x:1000:\nstaff:x:50:user,other\naudio:x:63:user\nwheel:x:10:root\n"


def test_default_is_root_with_root_home_and_groups():
    assert resolve_user(None, PASSWD, GROUP) == ExecUser(0, 0, (10,), "/root")


def test_name_gets_primary_and_supplementary_groups():
    assert resolve_user("user", PASSWD, GROUP) == ExecUser(1000, 1000, (50, 63), "/home/user")


def test_explicit_group_drops_supplementary():
    assert resolve_user("user:staff", PASSWD, GROUP) == ExecUser(1000, 50, (), "/home/user")
    assert resolve_user("user:77", PASSWD, GROUP) == ExecUser(1000, 77, (), "/home/user")


def test_numeric_ids_need_no_entry():
    assert resolve_user("4242", PASSWD, GROUP) == ExecUser(4242, 0, (), "/")
    assert resolve_user("4242:4343", "", "") == ExecUser(4242, 4343, (), "/")
    assert resolve_user("1000", PASSWD, GROUP).home == "/home/user"


def test_unknown_names():
    with pytest.raises(InvalidSpec, match="unable to find user foo: no matching entries in passwd file"):
        resolve_user("foo", PASSWD, GROUP)
    with pytest.raises(InvalidSpec, match="unable to find group bar: no matching entries in group file"):
        resolve_user("user:bar", PASSWD, GROUP)
    with pytest.raises(InvalidSpec, match="range"):
        resolve_user(str(2**32), PASSWD, GROUP)


def test_lookup_stays_inside_the_rootfs(tmp_path):
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    host = tmp_path / "host-passwd"
    host.write_text("evil:x:0:0::/evil:/bin/sh\n")
    # An absolute symlink must resolve inside the rootfs, never to the host's file.
    os.symlink(str(host), root / "etc/passwd")
    with pytest.raises(InvalidSpec, match="unable to find user evil"):
        lookup(root, "evil")
    os.unlink(root / "etc/passwd")
    os.symlink("../../../../../etc/real", root / "etc/passwd")
    (root / "etc/real").write_text(PASSWD)
    assert lookup(root, "user").uid == 1000


def test_lookup_ignores_fifos_and_missing_files(tmp_path):
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    os.mkfifo(root / "etc/passwd")
    assert lookup(root, "0") == ExecUser(0, 0, (), "/")  # no hang, no entry
    with pytest.raises(InvalidSpec):
        lookup(root, "user")
