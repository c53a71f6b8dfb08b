"""Linux capabilities: names, Docker's defaults and rules, and the child-side system calls.

Two halves:

- pure policy, used when the OCI spec is written: ``resolve(cap_add, cap_drop, privileged)``
  applies Docker's rules to its default set, ``oci_capabilities(caps)`` shapes the result as
  the spec's ``process.capabilities``;
- primitives for the launcher, run in the container's child process just before exec:
  ``drop_bounding``, ``set_keepcaps``, ``capset``, ``set_ambient`` and ``apply`` that does the
  whole sequence in the one order that works.

The order around a uid change matters, because the kernel clears the permitted and effective
sets when a process goes from uid 0 to another uid:

1. ``drop_bounding(keep)`` -- needs CAP_SETPCAP, so it happens while still root;
2. ``set_keepcaps(True)`` -- keep the permitted set across the uid change;
3. ``os.setgroups`` / ``os.setresgid`` / ``os.setresuid`` -- groups first: they need CAP_SETGID;
4. ``set_keepcaps(False)``;
5. ``capset(effective, permitted, inheritable)`` -- effective was cleared by step 3;
6. ``set_ambient(ambient)`` -- ambient caps must already be permitted and inheritable.

Then execve: a non-root process keeps only its ambient caps across it (file caps aside), so a
non-root user ends with an empty effective set unless ambient caps were asked for; root gets
its bounding set. Only ctypes and the standard library: the monitor imports this module.
"""
from __future__ import annotations

import ctypes
import os
from collections.abc import Iterable
from typing import Any

from ..errors import InvalidSpec, RuntimeFailure

# Kernel numbering (include/uapi/linux/capability.h). The position in this tuple is the number.
CAP_NAMES: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN",
    "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON",
    "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)
CAP_NUMBERS: dict[str, int] = {name: i for i, name in enumerate(CAP_NAMES)}

# Docker's default set (moby oci/caps), in Docker's order: what `docker inspect` users expect.
DEFAULT_CAPS: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
)

_PR_SET_KEEPCAPS = 8
_PR_CAPBSET_READ = 23
_PR_CAPBSET_DROP = 24
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_RAISE = 2
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def last_cap() -> int:
    """The highest capability number this kernel knows."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return len(CAP_NAMES) - 1


def cap_number(name: str) -> int:
    """``net_admin``, ``NET_ADMIN`` or ``CAP_NET_ADMIN`` -> 12; unknown names raise InvalidSpec."""
    canonical = normalize(name)
    return CAP_NUMBERS[canonical]


def cap_name(number: int) -> str:
    if 0 <= number < len(CAP_NAMES):
        return CAP_NAMES[number]
    # A kernel newer than this table: still printable, never silently dropped.
    return f"CAP_{number}"


def all_caps() -> list[str]:
    """Every capability that both this table and the running kernel know (Docker's "ALL")."""
    top = min(last_cap(), len(CAP_NAMES) - 1)
    return list(CAP_NAMES[: top + 1])


def normalize(name: str, field: str = "capability") -> str:
    """Canonical ``CAP_X`` spelling; raises InvalidSpec for names the kernel cannot provide."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidSpec(f"invalid {field} {name!r}", field=field, value=name)
    up = name.strip().upper()
    if not up.startswith("CAP_"):
        up = "CAP_" + up
    if up not in CAP_NUMBERS:
        raise InvalidSpec(f"unknown capability: {name!r}", field=field, value=name)
    if CAP_NUMBERS[up] > last_cap():
        raise InvalidSpec(f"capability not supported by your kernel or not available in the "
                          f"current environment: {name!r}", field=field, value=name)
    return up


def _normalize_list(names: Iterable[str] | None, field: str) -> tuple[list[str], bool]:
    """Docker's normalizeCaps: ("ALL" present?, the other names canonical and de-duplicated)."""
    out: list[str] = []
    has_all = False
    for n in names or ():
        if isinstance(n, str) and n.strip().upper() in ("ALL", "CAP_ALL"):
            has_all = True
            continue
        c = normalize(n, field)
        if c not in out:
            out.append(c)
    return out, has_all


def resolve(cap_add: Iterable[str] | None = None, cap_drop: Iterable[str] | None = None,
            privileged: bool = False, base: Iterable[str] = DEFAULT_CAPS) -> list[str]:
    """The container's capability list, by Docker's rules (moby TweakCapabilities).

    privileged -> every capability; ``--cap-add ALL`` -> every capability but those dropped;
    ``--cap-drop ALL`` -> only those added; otherwise the defaults minus drops plus adds.
    Names may omit ``CAP_`` and use any case; unknown names raise InvalidSpec naming them.
    """
    adds, add_all = _normalize_list(cap_add, "cap_add")
    drops, drop_all = _normalize_list(cap_drop, "cap_drop")
    if privileged:
        return all_caps()
    if add_all:
        caps = [c for c in all_caps() if c not in drops]
    elif drop_all:
        caps = list(adds)
    else:
        caps = [c for c in base if c not in drops]
        caps += [c for c in adds if c not in caps]
    return caps


def oci_capabilities(caps: Iterable[str], ambient: Iterable[str] | None = None) -> dict[str, list[str]]:
    """``process.capabilities`` as Docker writes it and runc applies it.

    Docker sets bounding, effective and permitted to the list and leaves inheritable empty
    (since CVE-2022-24769), for root and non-root users alike: for a non-root user the kernel
    empties effective and permitted at execve. ``ambient`` (a berth extension: Docker offers no
    flag for it) lets a non-root process keep those caps; the kernel requires them in
    inheritable too, so they are added there.
    """
    caps = [normalize(c) for c in caps]
    amb = [normalize(c, "ambient") for c in (ambient or ())]
    missing = [c for c in amb if c not in caps]
    if missing:
        raise InvalidSpec(f"ambient capabilities must also be granted: {', '.join(missing)}",
                          field="ambient", value=missing)
    return {"bounding": list(caps), "effective": list(caps), "permitted": list(caps),
            "inheritable": list(amb), "ambient": list(amb)}


# --- child side -------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_libc.prctl.restype = ctypes.c_int


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def _prctl(option: int, a2: int = 0, a3: int = 0, a4: int = 0, a5: int = 0) -> int:
    rc = _libc.prctl(option, a2, a3, a4, a5)
    if rc < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({option}, {a2}): {os.strerror(err)}")
    return int(rc)


def _numbers(caps: Iterable[str | int]) -> set[int]:
    return {c if isinstance(c, int) else cap_number(c) for c in caps}


def _mask(caps: Iterable[str | int]) -> int:
    m = 0
    for n in _numbers(caps):
        m |= 1 << n
    return m


def bounding_set() -> set[int]:
    """This process's bounding set, asked of the kernel (no /proc needed: the launcher calls this
    inside the container, whatever is mounted there yet)."""
    held = set()
    for n in range(64):
        rc = _libc.prctl(_PR_CAPBSET_READ, n, 0, 0, 0)
        if rc < 0:
            break  # EINVAL: past the last capability this kernel knows
        if rc == 1:
            held.add(n)
    return held


def drop_bounding(keep: Iterable[str | int]) -> None:
    """Drop every capability not in ``keep`` from the bounding set (needs CAP_SETPCAP)."""
    keep_n = _numbers(keep)
    for n in sorted(bounding_set() - keep_n):
        _prctl(_PR_CAPBSET_DROP, n)


def set_keepcaps(on: bool) -> None:
    _prctl(_PR_SET_KEEPCAPS, 1 if on else 0)


def capset(effective: Iterable[str | int], permitted: Iterable[str | int],
           inheritable: Iterable[str | int]) -> None:
    """The capset system call, version 3 (two 32-bit words per set), on this thread."""
    masks = [_mask(effective), _mask(permitted), _mask(inheritable)]
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for word in range(2):
        shift = 32 * word
        data[word].effective = (masks[0] >> shift) & 0xFFFFFFFF
        data[word].permitted = (masks[1] >> shift) & 0xFFFFFFFF
        data[word].inheritable = (masks[2] >> shift) & 0xFFFFFFFF
    if _libc.capset(ctypes.byref(header), data) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"capset: {os.strerror(err)}")


def set_ambient(caps: Iterable[str | int]) -> None:
    """Replace the ambient set (each cap must be permitted and inheritable already)."""
    _prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL)
    for n in sorted(_numbers(caps)):
        _prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_RAISE, n)


def apply(oci_caps: dict[str, Any] | None, uid: int = 0, gid: int | None = None,
          additional_gids: Iterable[int] | None = None) -> None:
    """Switch to ``uid``/``gid`` and set every capability set, in the order documented above.

    ``oci_caps`` is the spec's ``process.capabilities`` (None: no capabilities at all, as the
    runtime spec reads an absent object). ``gid``/``additional_gids`` left at None are not
    changed. Capabilities that this process itself lacks in its bounding set are left out.
    Raises RuntimeFailure naming the step that the kernel refused.
    """
    oci_caps = oci_caps or {}
    # A capability missing from the engine's own bounding set (a nested or restricted host)
    # cannot be granted by anyone: asking the kernel for it would only fail the start.
    held = bounding_set()

    def sets(key: str) -> set[int]:
        return _numbers(oci_caps.get(key) or ()) & held

    step = "bounding set"
    try:
        drop_bounding(sets("bounding"))
        step = "keepcaps"
        set_keepcaps(True)
        if additional_gids is not None:
            step = "setgroups"
            os.setgroups(list(additional_gids))
        if gid is not None:
            step = "setgid"
            os.setresgid(gid, gid, gid)
        step = "setuid"
        os.setresuid(uid, uid, uid)
        step = "keepcaps"
        set_keepcaps(False)
        step = "capset"
        capset(sets("effective"), sets("permitted"), sets("inheritable"))
        step = "ambient set"
        set_ambient(sets("ambient"))
    except OSError as exc:
        raise RuntimeFailure(f"cannot set capabilities ({step}): {exc.strerror or exc}",
                             step=step) from exc


_STATUS_KEYS = {"CapInh": "inheritable", "CapPrm": "permitted", "CapEff": "effective",
                "CapBnd": "bounding", "CapAmb": "ambient"}


def _status_masks(pid: int | str = "self") -> dict[str, int]:
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in _STATUS_KEYS:
                out[_STATUS_KEYS[k]] = int(v.strip(), 16)
    return out


def current(pid: int | str = "self") -> dict[str, list[str]]:
    """The capability sets of a process, from /proc/<pid>/status (for tests and inspection)."""
    return {k: [cap_name(n) for n in range(m.bit_length()) if m >> n & 1]
            for k, m in _status_masks(pid).items()}
