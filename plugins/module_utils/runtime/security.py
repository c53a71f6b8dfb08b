"""The launcher's side of a process's privileges: identity, capabilities, no_new_privs, seccomp.

The policy and the system calls live in caps.py and seccomp.py; this module only calls them in
the order that works for a container and for an exec'd process alike: set the identity and
capabilities while the process may still do so, then no_new_privs and the seccomp filter as the
very last steps before execve, so the filter never has to allow the launcher's own set-up.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import RuntimeFailure
from . import caps
from . import syscalls as sc

# Imported here, never lazily: the launcher loads the filter after it has sealed imports
# (launcher.seal_imports), when a file path would name a file of the container's image.
try:
    from . import seccomp as _seccomp
except ImportError:
    _seccomp = None  # type: ignore[assignment]


# Where compiled seccomp filters are kept (the monitor server sets run/seccomp): building
# Docker's default filter with libseccomp costs ~15 ms per container, loading it 0.1 ms.
seccomp_cache_dir: str | None = None


@dataclass
class ProcessSecurity:
    process: dict[str, Any]
    seccomp: dict[str, Any] | None
    programs: list[bytes] | None = None

    def precompile(self) -> None:
        """Build (or fetch) the filter now, on the host, before the process enters anything."""
        if self.seccomp and _seccomp is not None:
            try:
                self.programs = _seccomp.compiled(self.seccomp, seccomp_cache_dir)
            except Exception:  # noqa: BLE001 - the child builds it again and reports why it fails
                self.programs = None

    def early(self) -> None:
        """Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: do it while we have it.

        The rest of the set-up (capset, setuid, chdir, execve) then runs under the filter, as
        with runc; Docker's profiles allow those calls.
        """
        if self.seccomp and not self.process.get("noNewPrivileges"):
            load_seccomp(self.seccomp, self.programs)

    def set_identity(self) -> None:
        user = self.process.get("user") or {}
        caps.apply(self.process.get("capabilities"), uid=int(user.get("uid", 0)),
                   gid=int(user.get("gid", 0)),
                   additional_gids=[int(g) for g in user.get("additionalGids") or []])

    def lock_down(self) -> None:
        if self.process.get("noNewPrivileges"):
            sc.set_no_new_privs()
            if self.seccomp:
                load_seccomp(self.seccomp, self.programs)


def prepare(process: dict[str, Any], linux: dict[str, Any]) -> ProcessSecurity:
    return ProcessSecurity(process, linux.get("seccomp"))


def load_seccomp(profile: dict[str, Any], programs: list[bytes] | None = None) -> None:
    if _seccomp is None:
        raise RuntimeFailure("the OCI spec asks for a seccomp filter but berth's seccomp support "
                             "is missing")
    if programs:
        _seccomp.apply(profile, programs=programs)
        return
    fn = getattr(_seccomp, "load", None) or getattr(_seccomp, "apply", None)
    if fn is None:
        raise RuntimeFailure("berth's seccomp module offers no load()/apply()")
    fn(profile)
