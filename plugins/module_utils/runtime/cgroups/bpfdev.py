"""Device access control on cgroup v2: a small eBPF program per container.

cgroup v2 has no devices controller; the kernel instead runs BPF_PROG_TYPE_CGROUP_DEVICE
programs attached to the cgroup for every open() and mknod() of a device node. berth compiles
the OCI device rules into such a program: the rules are tried from the last to the first and the
first match decides (so later rules override earlier ones, as successive writes to the v1
devices.allow/devices.deny files do); no match denies. A rule matches when its type and numbers
match and, for an allow rule, every requested access is in the rule; for a deny rule, any is
(so denying "w" also refuses an open for read and write, as the v1 controller does).

The program is attached without BPF_F_ALLOW_MULTI, so attaching a new one (``docker update``)
replaces the old in one step and nothing inside the container can add programs below it. The
attachment keeps the program alive after the loader's file descriptor is closed.

``compile_rules`` is pure and ``evaluate`` interprets the compiled bytes, so the rule semantics
are unit tested without a kernel; ``attach`` needs root and a cgroup2 directory.
"""
from __future__ import annotations

import ctypes
import os
import struct
from typing import Any

from ...errors import InvalidSpec, RuntimeFailure
from .plan import device_rule_string

# linux/bpf.h
_BPF_PROG_LOAD = 5
_BPF_PROG_ATTACH = 8
_BPF_PROG_QUERY = 16
_BPF_PROG_TYPE_CGROUP_DEVICE = 15
_BPF_CGROUP_DEVICE = 6
ACC_MKNOD, ACC_READ, ACC_WRITE = 1, 2, 4
DEV_BLOCK, DEV_CHAR = 1, 2

_SYS_BPF = {"x86_64": 321, "aarch64": 280, "armv7l": 386, "armv6l": 386, "ppc64le": 361,
            "s390x": 351, "riscv64": 280, "i686": 357, "i386": 357}

# opcodes of the few instructions the filter needs
_LDX_W = 0x61      # dst = *(u32 *)(src + off)
_MOV32_X = 0xBC    # dst = (u32) src
_AND32_K = 0x54    # dst &= imm
_RSH32_K = 0x74    # dst >>= imm
_JNE_K = 0x55      # if dst != imm goto pc + off
_JEQ_K = 0x15      # if dst == imm goto pc + off
_MOV64_K = 0xB7    # dst = imm
_EXIT = 0x95

_ACCESS_BITS = {"m": ACC_MKNOD, "r": ACC_READ, "w": ACC_WRITE}


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def compile_rules(rules: list[dict[str, Any]]) -> bytes:
    """OCI ``linux.resources.devices`` rules -> the instructions of a cgroup device program."""
    # r2 = access_type, r3 = device type, r4 = requested access, r5 = major, r6 = minor
    prog = [
        _insn(_LDX_W, 2, 1, 0),
        _insn(_MOV32_X, 3, 2), _insn(_AND32_K, 3, imm=0xFFFF),
        _insn(_MOV32_X, 4, 2), _insn(_RSH32_K, 4, imm=16),
        _insn(_LDX_W, 5, 1, 4),
        _insn(_LDX_W, 6, 1, 8),
    ]
    for rule in reversed(rules):
        allow, line = device_rule_string(rule)  # validates
        typ, nums, access = line.split(" ")
        major, minor = nums.split(":")
        # each check is (instructions before the jump, jump opcode, register, value): a check
        # that jumps skips the rest of this rule's block
        checks: list[tuple[list[bytes], int, int, int]] = []
        if typ != "a":
            checks.append(([], _JNE_K, 3, DEV_BLOCK if typ == "b" else DEV_CHAR))
        mask = _access_mask(access)
        if mask != 7 and allow:
            # an allow rule covers a request only if every requested access is in the rule
            checks.append(([_insn(_MOV32_X, 7, 4), _insn(_AND32_K, 7, imm=~mask & 7)], _JNE_K, 7, 0))
        elif mask != 7:
            # a deny rule hits a request that asks for any access it names (v1's semantics)
            checks.append(([_insn(_MOV32_X, 7, 4), _insn(_AND32_K, 7, imm=mask)], _JEQ_K, 7, 0))
        if major != "*":
            checks.append(([], _JNE_K, 5, int(major)))
        if minor != "*":
            checks.append(([], _JNE_K, 6, int(minor)))
        block: list[bytes] = []
        patches: list[tuple[int, int, int, int]] = []  # (position, opcode, register, value)
        for pre, op, reg, value in checks:
            block += pre
            patches.append((len(block), op, reg, value))
            block.append(b"")  # the jump, written once the block's length is known
        block += [_insn(_MOV64_K, 0, imm=1 if allow else 0), _insn(_EXIT)]
        for pos, op, reg, value in patches:
            block[pos] = _insn(op, reg, off=len(block) - pos - 1, imm=value)
        prog += block
        if not checks:
            # a rule that matches everything decides every request: the verifier refuses
            # the unreachable code that the earlier rules would be
            return b"".join(prog)
    prog += [_insn(_MOV64_K, 0, imm=0), _insn(_EXIT)]
    return b"".join(prog)


def evaluate(program: bytes, dev_type: str, major: int, minor: int, access: str) -> bool:
    """Run a compiled program on one request, as the kernel would (for tests and checks)."""
    regs = [0] * 11
    ctx = {0: (_access_mask(access) << 16) | (DEV_BLOCK if dev_type == "b" else DEV_CHAR),
           4: major, 8: minor}
    insns = [struct.unpack("<BBhi", program[i:i + 8]) for i in range(0, len(program), 8)]
    pc = 0
    while True:
        code, regbyte, off, imm = insns[pc]
        dst, src = regbyte & 0xF, regbyte >> 4
        pc += 1
        if code == _LDX_W:
            regs[dst] = ctx[off]
        elif code == _MOV32_X:
            regs[dst] = regs[src] & 0xFFFFFFFF
        elif code == _AND32_K:
            regs[dst] = (regs[dst] & imm) & 0xFFFFFFFF
        elif code == _RSH32_K:
            regs[dst] = (regs[dst] & 0xFFFFFFFF) >> imm
        elif code == _JNE_K:
            if regs[dst] != imm:
                pc += off
        elif code == _JEQ_K:
            if regs[dst] == imm:
                pc += off
        elif code == _MOV64_K:
            regs[dst] = imm
        elif code == _EXIT:
            return regs[0] == 1
        else:
            raise ValueError(f"unexpected opcode {code:#x}")


def _access_mask(access: str) -> int:
    return sum(_ACCESS_BITS[c] for c in set(access))


# --- the kernel side ----------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class _LoadAttr(ctypes.Structure):
    _fields_ = [("prog_type", ctypes.c_uint32), ("insn_cnt", ctypes.c_uint32),
                ("insns", ctypes.c_uint64), ("license", ctypes.c_uint64),
                ("log_level", ctypes.c_uint32), ("log_size", ctypes.c_uint32),
                ("log_buf", ctypes.c_uint64), ("kern_version", ctypes.c_uint32),
                ("prog_flags", ctypes.c_uint32), ("prog_name", ctypes.c_char * 16),
                ("prog_ifindex", ctypes.c_uint32), ("expected_attach_type", ctypes.c_uint32)]


class _AttachAttr(ctypes.Structure):
    _fields_ = [("target_fd", ctypes.c_uint32), ("attach_bpf_fd", ctypes.c_uint32),
                ("attach_type", ctypes.c_uint32), ("attach_flags", ctypes.c_uint32),
                ("replace_bpf_fd", ctypes.c_uint32)]


class _QueryAttr(ctypes.Structure):
    _fields_ = [("target_fd", ctypes.c_uint32), ("attach_type", ctypes.c_uint32),
                ("query_flags", ctypes.c_uint32), ("attach_flags", ctypes.c_uint32),
                ("prog_ids", ctypes.c_uint64), ("prog_cnt", ctypes.c_uint32)]


def _bpf(cmd: int, attr: ctypes.Structure) -> int:
    nr = _SYS_BPF.get(os.uname().machine)  # platform.machine(), without importing platform
    if nr is None:
        raise RuntimeFailure(f"device control on cgroup v2: unknown bpf syscall number for {os.uname().machine}")
    rc = _libc.syscall(ctypes.c_long(nr), ctypes.c_int(cmd), ctypes.byref(attr), ctypes.c_uint(ctypes.sizeof(attr)))
    if rc < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return int(rc)


def load(program: bytes) -> int:
    """Load a device program; returns its file descriptor (close it once attached)."""
    buf = ctypes.create_string_buffer(program, len(program))
    lic = ctypes.create_string_buffer(b"Apache-2.0")
    log = ctypes.create_string_buffer(65536)
    attr = _LoadAttr(prog_type=_BPF_PROG_TYPE_CGROUP_DEVICE, insn_cnt=len(program) // 8,
                     insns=ctypes.addressof(buf), license=ctypes.addressof(lic),
                     log_level=1, log_size=len(log), log_buf=ctypes.addressof(log),
                     prog_name=b"berth_devices")
    try:
        return _bpf(_BPF_PROG_LOAD, attr)
    except OSError as exc:
        detail = log.value.decode(errors="replace").strip().splitlines()[-3:]
        raise RuntimeFailure(f"cannot load the device filter for cgroup v2: {exc.strerror}"
                             + (f" ({' / '.join(detail)})" if detail else "")) from exc


def attach(cgroup_dir: str | os.PathLike[str], rules: list[dict[str, Any]]) -> None:
    """Enforce ``rules`` on a cgroup2 directory, replacing any program berth attached before."""
    if not isinstance(rules, list):
        raise InvalidSpec("linux.resources.devices must be a list", field="devices", value=rules)
    program = compile_rules(rules)
    prog_fd = load(program)
    try:
        cg_fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            _bpf(_BPF_PROG_ATTACH, _AttachAttr(target_fd=cg_fd, attach_bpf_fd=prog_fd,
                                               attach_type=_BPF_CGROUP_DEVICE, attach_flags=0))
        except OSError as exc:
            raise RuntimeFailure(f"cannot attach the device filter to {cgroup_dir}: {exc.strerror}") from exc
        finally:
            os.close(cg_fd)
    finally:
        os.close(prog_fd)


def attached_count(cgroup_dir: str | os.PathLike[str]) -> int:
    """How many device programs are attached directly to this cgroup (for tests)."""
    ids = (ctypes.c_uint32 * 64)()
    fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        attr = _QueryAttr(target_fd=fd, attach_type=_BPF_CGROUP_DEVICE, prog_ids=ctypes.addressof(ids),
                          prog_cnt=64)
        _bpf(_BPF_PROG_QUERY, attr)
        return int(attr.prog_cnt)
    finally:
        os.close(fd)
