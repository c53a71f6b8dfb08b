"""seccomp: Docker's default profile, Docker-format profile files, and loading a filter.

The default profile is equivalent to Docker's (moby's profiles/seccomp/default.json, Apache-2.0,
as of Docker 26-28: the syscall list of moby PR 47341 included). Its rules were learnt from that
file and are written here as berth's own table; ``docker_default_profile()`` renders the table in
Docker's file format and ``default_profile(caps)`` turns it into the OCI runtime-spec form for one
container, exactly as ``--security-opt seccomp=FILE`` files are turned (``load_docker_profile``):
rules are kept or dropped by the container's capabilities (``includes.caps``/``excludes.caps``),
the host architecture (``arches``) and kernel (``minKernel``).

What the default does: every syscall not listed fails with EPERM; clone is allowed only without
namespace flags and clone3 fails with ENOSYS (so glibc falls back to clone) unless the container
has CAP_SYS_ADMIN; personality only for the harmless personas; socket for every family but
AF_VSOCK; mount, unshare, setns, keyctl, bpf, ptrace, reboot, module loading... only with the
capability that would make them legitimate.

``apply(oci_seccomp)`` loads the filter in the calling process with libseccomp (pyseccomp, a
ctypes binding; libseccomp2 is on every Debian host), adding the compat architectures Docker
adds (x86 and x32 on x86_64). Like runc it loads a second, tiny filter so that syscalls newer
than the profile fail with ENOSYS rather than EPERM: programs (glibc among them) probe new
syscalls and fall back only on ENOSYS.

Call order in the launcher: loading a filter needs either no_new_privs or CAP_SYS_ADMIN.
With ``process.noNewPrivileges`` (``--security-opt no-new-privileges``) set it first, then load
the filter last, just before execve. Without it (Docker's default) load the filter *before*
dropping capabilities (caps.apply): the default profile allows everything caps.apply does
(prctl, capset, setgroups, setresuid/gid). execve itself is always allowed.
"""
from __future__ import annotations

import ctypes
import errno
import json
import os
import struct
from typing import Any

from ..errors import InvalidSpec, RuntimeFailure


def _import_pyseccomp() -> tuple[Any, str]:
    """pyseccomp, imported now: the launcher loads filters after sealing imports (no module can
    be read from a file once it may see the container's files), so it cannot be lazy.

    pyseccomp finds libc and libseccomp with ctypes.util.find_library, which runs ldconfig in a
    subprocess (about 20 ms on every import); the sonames of every glibc host are tried first.
    """
    import ctypes.util

    search = ctypes.util.find_library
    sonames = {"c": "libc.so.6", "seccomp": "libseccomp.so.2"}

    def find(name: str) -> str | None:
        so = sonames.get(name)
        if so is not None:
            try:
                ctypes.CDLL(so)
                return so
            except OSError:
                pass
        return search(name)

    ctypes.util.find_library = find
    try:
        import pyseccomp
        return pyseccomp, ""
    except (ImportError, RuntimeError, OSError) as exc:
        return None, str(exc)
    finally:
        ctypes.util.find_library = search


_pyseccomp, _pyseccomp_error = _import_pyseccomp()
_libc = ctypes.CDLL(None, use_errno=True)
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]

# --- the default profile: berth's table of Docker's rules -----------------------------------

_ALLOWED = """
accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown chown32
clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2
dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait
epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64
fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown fchown32 fchownat
fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64
fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex futex_requeue futex_time64
futex_wait futex_waitv futex_wake futimesat getcpu getcwd getdents getdents64 getegid getegid32
geteuid geteuid32 getgid getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp
getpid getppid getpriority getrandom getresgid getresgid32 getresuid getresuid32 getrlimit
get_robust_list getrusage getsid getsockname getsockopt get_thread_area gettid gettimeofday
getuid getuid32 getxattr inotify_add_watch inotify_init inotify_init1 inotify_rm_watch
io_cancel ioctl io_destroy io_getevents io_pgetevents io_pgetevents_time64 ioprio_get
ioprio_set io_setup io_submit io_uring_enter io_uring_register io_uring_setup ipc kill
landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link
linkat listen listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise
map_shadow_stack membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock
mlock2 mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive
mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv
msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep newfstatat _newselect open
openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect
poll ppoll ppoll_time64 prctl pread64 preadv preadv2 prlimit64 process_mrelease pselect6
pselect6_time64 pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv recv recvfrom
recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr rename renameat renameat2
restart_syscall rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo
rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo
sched_getaffinity sched_getattr sched_getparam sched_get_priority_max sched_get_priority_min
sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity
sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select semctl semget semop
semtimedop semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto setfsgid
setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid
setpriority setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32
setrlimit set_robust_list setsid setsockopt set_thread_area set_tid_address setuid setuid32
setxattr shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask sigreturn
socketcall socketpair splice stat stat64 statfs statfs64 statx symlink symlinkat sync
sync_file_range syncfs sysinfo tee tgkill time timer_create timer_delete timer_getoverrun
timer_gettime timer_gettime64 timer_settime timer_settime64 timerfd_create timerfd_gettime
timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill truncate truncate64 ugetrlimit
umask uname unlink unlinkat utime utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid
waitpid write writev
"""

_AF_VSOCK = 40
_PER_LINUX32, _UNAME26, _PER_QUERY = 0x0008, 0x0020000, 0xFFFFFFFF
# CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
_CLONE_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000

# (syscalls, extra fields of the Docker-format rule); the action is ALLOW unless given
_CAP_RULES: list[tuple[str, str]] = [
    ("open_by_handle_at", "CAP_DAC_READ_SEARCH"),
    ("bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie mount mount_setattr "
     "move_mount open_tree perf_event_open quotactl quotactl_fd setdomainname sethostname setns syslog "
     "umount umount2 unshare", "CAP_SYS_ADMIN"),
    ("reboot", "CAP_SYS_BOOT"),
    ("chroot", "CAP_SYS_CHROOT"),
    ("delete_module init_module finit_module", "CAP_SYS_MODULE"),
    ("acct", "CAP_SYS_PACCT"),
    ("kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace", "CAP_SYS_PTRACE"),
    ("iopl ioperm", "CAP_SYS_RAWIO"),
    ("settimeofday stime clock_settime clock_settime64", "CAP_SYS_TIME"),
    ("vhangup", "CAP_SYS_TTY_CONFIG"),
    ("get_mempolicy mbind set_mempolicy set_mempolicy_home_node", "CAP_SYS_NICE"),
    ("syslog", "CAP_SYSLOG"),
    ("bpf", "CAP_BPF"),
    ("perf_event_open", "CAP_PERFMON"),
]
_ARCH_RULES: list[tuple[str, list[str]]] = [
    ("sync_file_range2 swapcontext", ["ppc64le"]),
    ("arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls", ["arm", "arm64"]),
    ("arch_prctl", ["amd64", "x32"]),
    ("modify_ldt", ["amd64", "x32", "x86"]),
    ("s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr", ["s390", "s390x"]),
    ("riscv_flush_icache", ["riscv64"]),
]
# native architecture (Go's names, which Docker profiles use in includes.arches) -> sub-arches
_ARCH_MAP: dict[str, list[str]] = {
    "SCMP_ARCH_X86_64": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "SCMP_ARCH_AARCH64": ["SCMP_ARCH_ARM"],
    "SCMP_ARCH_MIPS64": ["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"],
    "SCMP_ARCH_MIPS64N32": ["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64"],
    "SCMP_ARCH_MIPSEL64": ["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"],
    "SCMP_ARCH_MIPSEL64N32": ["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64"],
    "SCMP_ARCH_S390X": ["SCMP_ARCH_S390"],
    "SCMP_ARCH_RISCV64": [],
}
_MACHINE_TO_GOARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
                      "armv7l": "arm", "armv6l": "arm", "arm": "arm", "i686": "386", "i386": "386",
                      "x86": "386", "386": "386", "ppc64le": "ppc64le", "s390x": "s390x",
                      "riscv64": "riscv64", "mips64": "mips64", "mips64el": "mips64le"}
_GOARCH_TO_SCMP = {"amd64": "SCMP_ARCH_X86_64", "arm64": "SCMP_ARCH_AARCH64", "arm": "SCMP_ARCH_ARM",
                   "386": "SCMP_ARCH_X86", "ppc64le": "SCMP_ARCH_PPC64LE", "s390x": "SCMP_ARCH_S390X",
                   "riscv64": "SCMP_ARCH_RISCV64", "mips64": "SCMP_ARCH_MIPS64",
                   "mips64le": "SCMP_ARCH_MIPSEL64"}

ACTIONS = ("SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
           "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG")
OPERATORS = ("SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
             "SCMP_CMP_MASKED_EQ")
ARCHES = ("SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64",
          "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL",
          "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64",
          "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_PARISC",
          "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64")
FLAGS = ("SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW")


def _allow(names: str, **extra: Any) -> dict[str, Any]:
    return {"names": names.split(), "action": "SCMP_ACT_ALLOW", **extra}


def _arg(index: int, value: int, op: str = "SCMP_CMP_EQ") -> dict[str, Any]:
    return {"index": index, "value": value, "op": op}


def docker_default_profile() -> dict[str, Any]:
    """The default profile in Docker's file format (what ``seccomp=FILE`` takes)."""
    rules: list[dict[str, Any]] = [
        _allow(_ALLOWED),
        _allow("process_vm_readv process_vm_writev ptrace", includes={"minKernel": "4.8"}),
        _allow("socket", args=[_arg(0, _AF_VSOCK, "SCMP_CMP_NE")]),
    ]
    for persona in (0, _PER_LINUX32, _UNAME26, _UNAME26 | _PER_LINUX32, _PER_QUERY):
        rules.append(_allow("personality", args=[_arg(0, persona)]))
    rules += [_allow(names, includes={"arches": arches}) for names, arches in _ARCH_RULES]
    rules += [_allow(names, includes={"caps": [cap]}) for names, cap in _CAP_RULES[:2]]
    rules += [
        _allow("clone", args=[_arg(0, _CLONE_NAMESPACES, "SCMP_CMP_MASKED_EQ")],
               excludes={"caps": ["CAP_SYS_ADMIN"], "arches": ["s390", "s390x"]}),
        # s390 passes the clone flags as the second argument
        _allow("clone", args=[_arg(1, _CLONE_NAMESPACES, "SCMP_CMP_MASKED_EQ")],
               includes={"arches": ["s390", "s390x"]}, excludes={"caps": ["CAP_SYS_ADMIN"]}),
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS,
         "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
    ]
    rules += [_allow(names, includes={"caps": [cap]}) for names, cap in _CAP_RULES[2:]]
    return {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": errno.EPERM,
            "archMap": [{"architecture": a, "subArchitectures": subs} for a, subs in _ARCH_MAP.items()],
            "syscalls": rules}


# --- Docker format -> OCI ---------------------------------------------------------------------

def _goarch(arch: str | None) -> str:
    name = arch or os.uname().machine  # platform.machine(), without importing platform (2 ms)
    if name.startswith("SCMP_ARCH_"):
        for go, scmp in _GOARCH_TO_SCMP.items():
            if scmp == name:
                return go
    found = _MACHINE_TO_GOARCH.get(name.lower())
    if found is None:
        raise InvalidSpec(f"seccomp: unknown architecture {name!r}", field="arch", value=name)
    return found


def _kernel_version(release: str) -> tuple[int, int]:
    parts = release.split(".")
    try:
        return int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or 0)
    except (IndexError, ValueError):
        return (0, 0)


def _fail(where: str, msg: str, value: Any = None) -> InvalidSpec:
    return InvalidSpec(f"seccomp profile: {where}: {msg}", field=where, value=value)


def _str_list(v: Any, where: str) -> list[str]:
    if v is None:
        return []
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise _fail(where, f"expected a list of strings, got {v!r}", v)
    return v


def _filter(cond: Any, where: str) -> dict[str, Any]:
    if cond is None:
        return {}
    if not isinstance(cond, dict):
        raise _fail(where, f"expected an object, got {cond!r}", cond)
    unknown = set(cond) - {"caps", "arches", "minKernel"}
    if unknown:
        raise _fail(where, f"unknown field(s) {', '.join(sorted(unknown))}", sorted(unknown))
    out: dict[str, Any] = {"caps": _str_list(cond.get("caps"), f"{where}.caps"),
           "arches": _str_list(cond.get("arches"), f"{where}.arches")}
    mk = cond.get("minKernel")
    if mk is not None:
        if not isinstance(mk, str) or _kernel_version(mk) == (0, 0):
            raise _fail(f"{where}.minKernel", f"invalid kernel version {mk!r}", mk)
        out["minKernel"] = mk
    return out


def _errno(v: Any, where: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 4095:
        raise _fail(where, f"invalid errno {v!r}", v)
    return v


def _args(v: Any, where: str) -> list[dict[str, Any]]:
    if v is None:
        return []
    if not isinstance(v, list):
        raise _fail(where, f"expected a list, got {v!r}", v)
    out = []
    for i, a in enumerate(v):
        w = f"{where}[{i}]"
        if not isinstance(a, dict):
            raise _fail(w, f"expected an object, got {a!r}", a)
        idx = a.get("index")
        if isinstance(idx, bool) or not isinstance(idx, int) or not 0 <= idx <= 5:
            raise _fail(f"{w}.index", f"must be 0 to 5, got {idx!r}", idx)
        if a.get("op") not in OPERATORS:
            raise _fail(f"{w}.op", f"unknown operator {a.get('op')!r}", a.get("op"))
        arg = {"index": idx, "value": a.get("value", 0), "op": a["op"]}
        if "valueTwo" in a:
            arg["valueTwo"] = a["valueTwo"]
        for k in ("value", "valueTwo"):
            x = arg.get(k, 0)
            if isinstance(x, bool) or not isinstance(x, int) or not 0 <= x < 1 << 64:
                raise _fail(f"{w}.{k}", f"expected an unsigned 64-bit integer, got {x!r}", x)
        out.append(arg)
    return out


def convert_docker_profile(profile: Any, caps: list[str] | None = None, arch: str | None = None,
                           kernel: str | None = None) -> dict[str, Any]:
    """A Docker-format profile -> OCI ``linux.seccomp`` for a container with ``caps``."""
    if not isinstance(profile, dict):
        raise _fail("(top)", f"expected a JSON object, got {type(profile).__name__}")
    caps_set = {c.upper() if c.upper().startswith("CAP_") else "CAP_" + c.upper() for c in caps or []}
    goarch = _goarch(arch)
    kver = _kernel_version(kernel or os.uname().release)
    default = profile.get("defaultAction")
    if default not in ACTIONS:
        raise _fail("defaultAction", f"unknown or missing action {default!r}", default)
    out: dict[str, Any] = {"defaultAction": default}
    if profile.get("defaultErrnoRet") is not None:
        out["defaultErrnoRet"] = _errno(profile["defaultErrnoRet"], "defaultErrnoRet")
    if profile.get("architectures") and profile.get("archMap"):
        raise _fail("architectures", "'architectures' and 'archMap' were both given; use one of them")
    arches: list[str] = _str_list(profile.get("architectures"), "architectures")
    arch_map = profile.get("archMap") or []
    if not isinstance(arch_map, list):
        raise _fail("archMap", f"expected a list, got {arch_map!r}", arch_map)
    native = _GOARCH_TO_SCMP.get(goarch)
    for i, entry in enumerate(arch_map):
        if not isinstance(entry, dict) or not isinstance(entry.get("architecture"), str):
            raise _fail(f"archMap[{i}]", f"expected {{architecture, subArchitectures}}, got {entry!r}", entry)
        if native is not None and entry["architecture"] == native:
            arches = [native] + _str_list(entry.get("subArchitectures"), f"archMap[{i}].subArchitectures")
    for i, a in enumerate(arches):
        if a not in ARCHES:
            raise _fail(f"architectures[{i}]", f"unknown architecture {a!r}", a)
    if arches:
        out["architectures"] = arches
    flags = _str_list(profile.get("flags"), "flags")
    for f in flags:
        if f not in FLAGS:
            raise _fail("flags", f"unsupported flag {f!r}", f)
    if flags:
        out["flags"] = flags
    if profile.get("listenerPath"):
        raise _fail("listenerPath", "seccomp user notification is not supported by berth")
    syscalls = profile.get("syscalls") or []
    if not isinstance(syscalls, list):
        raise _fail("syscalls", f"expected a list, got {syscalls!r}", syscalls)
    rules = []
    for i, sc in enumerate(syscalls):
        where = f"syscalls[{i}]"
        if not isinstance(sc, dict):
            raise _fail(where, f"expected an object, got {sc!r}", sc)
        if sc.get("name") and sc.get("names"):
            raise _fail(where, "'name' and 'names' were both given; use one of them")
        names = [sc["name"]] if sc.get("name") else _str_list(sc.get("names"), f"{where}.names")
        if not names or not all(names):
            raise _fail(f"{where}.names", "no syscall names given")
        action = sc.get("action")
        if action not in ACTIONS:
            raise _fail(f"{where}.action", f"unknown action {action!r}", action)
        inc, exc = _filter(sc.get("includes"), f"{where}.includes"), _filter(sc.get("excludes"), f"{where}.excludes")
        args = _args(sc.get("args"), f"{where}.args")
        if inc.get("arches") and goarch not in inc["arches"]:
            continue
        if any(c not in caps_set for c in inc.get("caps", [])):
            continue
        if "minKernel" in inc and kver < _kernel_version(inc["minKernel"]):
            continue
        if goarch in exc.get("arches", []) or any(c in caps_set for c in exc.get("caps", [])):
            continue
        if "minKernel" in exc and kver >= _kernel_version(exc["minKernel"]):
            continue
        rule: dict[str, Any] = {"names": list(names), "action": action}
        if args:
            rule["args"] = args
        if sc.get("errnoRet") is not None:
            rule["errnoRet"] = _errno(sc["errnoRet"], f"{where}.errnoRet")
        rules.append(rule)
    out["syscalls"] = rules
    return out


def default_profile(caps: list[str], arch: str | None = None, kernel: str | None = None) -> dict[str, Any]:
    """Docker's default profile, in OCI form, for a container whose bounding set is ``caps``."""
    return convert_docker_profile(docker_default_profile(), caps, arch, kernel)


def load_docker_profile(path_or_json: str | os.PathLike[str] | dict[str, Any], caps: list[str] | None = None,
                        arch: str | None = None, kernel: str | None = None) -> dict[str, Any]:
    """``--security-opt seccomp=FILE``: a path, a JSON text or a parsed dict -> OCI form."""
    if isinstance(path_or_json, dict):
        data: Any = path_or_json
    else:
        text = os.fspath(path_or_json)
        if not text.lstrip().startswith(("{", "[")):
            try:
                with open(text, encoding="utf-8") as f:
                    text = f.read()
            except OSError as exc:
                raise InvalidSpec(f"seccomp profile {path_or_json}: {exc.strerror}", field="seccomp",
                                  value=str(path_or_json)) from exc
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise InvalidSpec(f"seccomp profile: invalid JSON: {exc}", field="seccomp") from exc
    return convert_docker_profile(data, caps, arch, kernel)


# --- loading the filter (child side) ---------------------------------------------------------

_PR_SET_SECCOMP = 22
_PR_GET_NO_NEW_PRIVS = 39
_SECCOMP_MODE_FILTER = 2
_SECCOMP_RET_ERRNO = 0x00050000
_SECCOMP_RET_ALLOW = 0x7FFF0000
_X32_BIT = 0x40000000
_AUDIT_ARCH = {"amd64": 0xC000003E, "arm64": 0xC00000B7, "arm": 0x40000028, "386": 0x40000003,
               "ppc64le": 0xC0000015, "s390x": 0x80000016, "riscv64": 0xC00000F3}


def _action(sc: Any, name: str, errno_ret: int | None) -> int:
    table = {"SCMP_ACT_KILL": sc.KILL_THREAD, "SCMP_ACT_KILL_THREAD": sc.KILL_THREAD,
             "SCMP_ACT_KILL_PROCESS": sc.KILL_PROCESS, "SCMP_ACT_TRAP": sc.TRAP,
             "SCMP_ACT_ALLOW": sc.ALLOW, "SCMP_ACT_LOG": sc.LOG}
    if name == "SCMP_ACT_ERRNO":
        return int(sc.ERRNO(errno.EPERM if errno_ret is None else errno_ret))
    if name == "SCMP_ACT_TRACE":
        return int(sc.TRACE(errno.EPERM if errno_ret is None else errno_ret))
    if name not in table:
        raise InvalidSpec(f"linux.seccomp: unknown action {name!r}", field="seccomp", value=name)
    return int(table[name])


def _arg_groups(args: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    # libseccomp ANDs the conditions of one rule and allows one condition per argument; a
    # rule naming an argument twice means "any of these" (runc's reading): one rule each
    indexes = [a["index"] for a in args]
    if len(set(indexes)) == len(indexes):
        return [args]
    return [[a] for a in args]


def _enosys_stub(native_max: int, goarch: str) -> bytes | None:
    """A classic-BPF filter: native syscalls numbered above ``native_max`` fail with ENOSYS."""
    audit = _AUDIT_ARCH.get(goarch)
    if audit is None or native_max <= 0:
        return None
    ld, jeq, jgt, jge, ret = 0x20, 0x15, 0x25, 0x35, 0x06

    def ins(code: int, jt: int, jf: int, k: int) -> bytes:
        return struct.pack("<HBBI", code, jt, jf, k)

    return b"".join([
        ins(ld, 0, 0, 4),                          # A = arch
        ins(jeq, 0, 4, audit),                     # not native: allow
        ins(ld, 0, 0, 0),                          # A = nr
        ins(jgt, 0, 2, native_max),                # known to the profile: allow
        ins(jge, 1, 0, _X32_BIT),                  # x32 numbers are the main filter's business
        ins(ret, 0, 0, _SECCOMP_RET_ERRNO | errno.ENOSYS),
        ins(ret, 0, 0, _SECCOMP_RET_ALLOW),
    ])


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _load_classic(program: bytes) -> None:
    buf = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, ctypes.addressof(buf))
    if _libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _load_error(exc: OSError) -> RuntimeFailure:
    if exc.errno == errno.EACCES:
        return RuntimeFailure("cannot load the seccomp filter: the process has neither no_new_privs nor "
                              "CAP_SYS_ADMIN (load it before dropping capabilities, or set no_new_privs)")
    return RuntimeFailure(f"cannot load the seccomp filter: {exc.strerror or exc}")


def _may_load() -> bool:
    """The kernel's rule: no_new_privs, or CAP_SYS_ADMIN in the effective set."""
    if _libc.prctl(_PR_GET_NO_NEW_PRIVS, 0, None, 0, 0) == 1:
        return True
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> 21 & 1)
    except OSError:
        pass  # no /proc yet: let the kernel answer
    return True


def apply(oci_seccomp: dict[str, Any] | None, arch: str | None = None,
          programs: list[bytes] | None = None) -> None:
    """Load ``linux.seccomp`` into the calling process (None or an empty dict: nothing).

    ``programs``: what ``compiled(oci_seccomp)`` returned for it, loaded as they are (the
    filter costs ~15 ms to build, its load 0.1 ms).
    """
    if not oci_seccomp:
        return
    if programs:
        if not _may_load():
            raise _load_error(OSError(errno.EACCES, os.strerror(errno.EACCES)))
        for prog in programs:
            try:
                _load_classic(prog)
            except OSError as exc:
                raise _load_error(exc) from exc
        return
    if not _may_load():
        raise _load_error(OSError(errno.EACCES, os.strerror(errno.EACCES)))
    filt, stub = _build(oci_seccomp, arch)
    try:
        filt.load()
    except OSError as exc:
        raise _load_error(exc) from exc
    if stub is not None:
        try:
            _load_classic(stub)
        except OSError as exc:
            raise _load_error(exc) from exc


def compiled(oci_seccomp: dict[str, Any], cache_dir: str | None = None,
             arch: str | None = None) -> list[bytes] | None:
    """The classic-BPF programs ``apply`` would load for this profile, built once per profile
    and kept in ``cache_dir`` (None: not kept). None when the profile needs load flags
    (log, tsync, spec_allow), which only libseccomp's own load sets."""
    if not oci_seccomp or oci_seccomp.get("flags"):
        return None
    import hashlib

    key = hashlib.sha256(json.dumps([oci_seccomp, _goarch(arch)], sort_keys=True).encode()).hexdigest()[:32]
    path = os.path.join(cache_dir, f"{key}.bpf") if cache_dir else None
    if path is not None:
        try:
            with open(path, "rb") as f:
                return _unframe(f.read())
        except (OSError, ValueError):
            pass
    filt, stub = _build(oci_seccomp, arch)
    fd = os.memfd_create("berth-seccomp", os.MFD_CLOEXEC)
    try:
        with os.fdopen(os.dup(fd), "rb") as out:
            filt.export_bpf(out)
        os.lseek(fd, 0, os.SEEK_SET)
        chunks = []
        while True:
            b = os.read(fd, 1 << 16)
            if not b:
                break
            chunks.append(b)
    finally:
        os.close(fd)
    programs = [b"".join(chunks)] + ([stub] if stub is not None else [])
    if path is not None:
        from .. import fsutil

        try:
            fsutil.atomic_write(path, _frame(programs), mode=0o600, durable=False)
        except OSError:
            pass  # the cache is an optimisation only
    return programs


def _frame(programs: list[bytes]) -> bytes:
    return b"".join(struct.pack("<I", len(p)) + p for p in programs)


def _unframe(data: bytes) -> list[bytes]:
    out, i = [], 0
    while i < len(data):
        if i + 4 > len(data):
            raise ValueError("truncated seccomp cache entry")
        (n,) = struct.unpack_from("<I", data, i)
        if n == 0 or n % 8 or i + 4 + n > len(data):
            raise ValueError("bad seccomp cache entry")
        out.append(data[i + 4:i + 4 + n])
        i += 4 + n
    if not out:
        raise ValueError("empty seccomp cache entry")
    return out


def _build(oci_seccomp: dict[str, Any], arch: str | None) -> tuple[Any, bytes | None]:
    """The libseccomp filter for ``oci_seccomp`` (not loaded) and the ENOSYS stub to stack."""
    sc = _pyseccomp
    if sc is None:
        raise RuntimeFailure(f"seccomp needs the pyseccomp package and libseccomp: {_pyseccomp_error}")
    goarch = _goarch(arch)
    default_errno = oci_seccomp.get("defaultErrnoRet")
    default = _action(sc, oci_seccomp.get("defaultAction", ""), default_errno)
    filt = sc.SyscallFilter(default)
    filt.set_attr(sc.Attr.CTL_NNP, 0)  # no_new_privs is the spec's decision, not libseccomp's
    try:
        filt.set_attr(sc.Attr.API_SYSRAWRC, 1)  # the kernel's errno rather than ECANCELED
    except OSError:
        pass
    flags = oci_seccomp.get("flags") or []
    if "SECCOMP_FILTER_FLAG_LOG" in flags:
        filt.set_attr(sc.Attr.CTL_LOG, 1)
    if "SECCOMP_FILTER_FLAG_SPEC_ALLOW" in flags:
        filt.set_attr(sc.Attr.CTL_SSB, 1)
    if "SECCOMP_FILTER_FLAG_TSYNC" in flags:
        filt.set_attr(sc.Attr.CTL_TSYNC, 1)
    for a in oci_seccomp.get("architectures") or []:
        const = getattr(sc.Arch, a.removeprefix("SCMP_ARCH_"), None)
        if const is None:
            raise InvalidSpec(f"linux.seccomp: unknown architecture {a!r}", field="architectures", value=a)
        try:
            if const != sc.system_arch():
                filt.add_arch(const)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise RuntimeFailure(f"seccomp: cannot add architecture {a}: {exc.strerror}") from exc
    native_max = 0
    for i, rule in enumerate(oci_seccomp.get("syscalls") or []):
        action = _action(sc, rule.get("action", ""), rule.get("errnoRet"))
        if action == default:
            continue  # libseccomp refuses rules that repeat the default action
        groups = _arg_groups(rule.get("args") or [])
        for name in rule.get("names") or []:
            nr = sc.resolve_syscall(sc.Arch.NATIVE, name)
            if nr == -1:
                continue  # unknown to this libseccomp: the kernel cannot have it either
            native_max = max(native_max, nr)
            for group in groups:
                conds = [sc.Arg(a["index"], getattr(sc, a["op"].removeprefix("SCMP_CMP_")), a.get("value", 0),
                                a.get("valueTwo", 0)) for a in group]
                try:
                    filt.add_rule(action, nr, *conds)
                except OSError as exc:
                    raise RuntimeFailure(f"seccomp: cannot add the rule for {name} (syscalls[{i}]): "
                                         f"{exc.strerror}") from exc
    stub = _enosys_stub(native_max, goarch) if oci_seccomp.get("defaultAction") == "SCMP_ACT_ERRNO" else None
    return filt, (stub if stub is not None and default_errno != errno.ENOSYS else None)
