"""RUN: a command in a real container of the image so far, its changes committed as a layer.

The container is an ordinary one made by the container service (so RUN gets the same
isolation, user, working directory, environment, seccomp and networks as ``berth run``); it
exists only while the step runs and is removed, with its snapshot, whatever happens. The
mount points the runtime has to create for /etc/hosts, /etc/hostname, /etc/resolv.conf,
/proc, /sys and /dev are dropped from the layer when the image did not have them, as Docker's
init layer keeps them out of its commits.
"""
from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import BerthError, BuildError, RuntimeFailure
from ..fsutil import ensure_dir, remove_tree, resolve_in_root
from .instructions import RunPlan

if TYPE_CHECKING:  # pragma: no cover
    from ..containers.spec import MountSpec
    from ..engine import Engine
    from .mounts import RunMount

RUNTIME_MOUNTPOINTS = ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/proc", "/sys", "/dev", "/etc")


@dataclass(frozen=True)
class RunResult:
    chain_id: str
    diff_id: str
    digest: str
    size: int


class _Lines(threading.Thread):
    """Reads the step's output from a pipe and hands it on line by line."""

    def __init__(self, fd: int, progress: Callable[[str], None] | None) -> None:
        super().__init__(daemon=True)
        self.fd = fd
        self.progress = progress

    def run(self) -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            if self.progress is None:
                continue
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                self.progress(line.decode("utf-8", "replace"))
        if pending and self.progress is not None:
            self.progress(pending.decode("utf-8", "replace"))
        os.close(self.fd)


def run_step(engine: Engine, image_id: str, plan: RunPlan, env: Mapping[str, str], network: str,
             mounts: Sequence[RunMount], display: str, line: int,
             progress: Callable[[str], None] | None, context_root: str | None = None) -> RunResult:
    """Run ``plan`` in a container of ``image_id``; returns the layer its changes became.

    A non-zero exit raises BuildError with Docker's message; the output has been streamed."""
    from ..containers.spec import ContainerSpec, MountSpec

    svc = engine.containers
    scratch = tempfile.mkdtemp(prefix=f"buildrun-{os.getpid()}-", dir=ensure_dir(engine.paths.tmp, 0o700))
    try:
        extra: list[MountSpec] = []
        if plan.files:
            pipes = os.path.join(scratch, "pipes")
            os.mkdir(pipes, 0o755)
            for f in plan.files:
                path = os.path.join(pipes, os.path.basename(f.path))
                with open(path, "w") as out:
                    out.write(f.data)
                os.chmod(path, f.mode)
            extra.append(MountSpec(type="bind", target=os.path.dirname(plan.files[0].path), source=pipes,
                                   read_only=True))
        tmpfs: dict[str, str] = {}
        for m in mounts:
            extra_mount, tmp = _run_mount(engine, m, line, context_root)
            if extra_mount is not None:
                extra.append(extra_mount)
            if tmp is not None:
                tmpfs[m.target] = tmp
        spec = ContainerSpec(image=image_id, command=tuple(plan.args), entrypoint=(),
                             env=tuple(f"{k}={v}" for k, v in env.items()),
                             network_mode={"default": "bridge"}.get(network, network), log_driver="none",
                             labels={"berth.build": "true", "berth.build.pid": str(os.getpid())},
                             mounts=tuple(extra), tmpfs=tmpfs)
        # a mark first, so that a build killed from here on is swept by the next one
        ensure_dir(engine.paths.buildcache / "running" / str(os.getpid()), 0o700)
        rec = svc.create(spec)
        cid = rec.id
        if progress is not None:
            progress(f" ---> Running in {cid[:12]}")
        try:
            before = _mountpoints(engine, cid)
            try:
                code = _attach(engine, cid, progress)
            except RuntimeFailure as exc:      # the command could not be started at all
                raise BuildError(f"The command '{display}' could not be run: {exc}", line=line,
                                 exit_code=exc.exit_code) from exc
            if code != 0:
                raise BuildError(f"The command '{display}' returned a non-zero code: {code}", line=line,
                                 exit_code=code)
            with svc.store.locked(cid):
                _drop_mountpoints(engine.snapshots.upper_dir(cid), before)
                chain, diff_id, digest = engine.snapshots.commit(cid, remove=True)
            size = int(engine.snapshots.layer_meta(chain).get("size") or 0)
            return RunResult(chain, diff_id, digest, size)
        finally:
            with contextlib.suppress(BerthError, OSError):
                svc.remove(cid, force=True)
            if progress is not None:
                progress(f"Removing intermediate container {cid[:12]}")
    finally:
        remove_tree(scratch)
        with contextlib.suppress(OSError):
            os.rmdir(engine.paths.buildcache / "running" / str(os.getpid()))


def _attach(engine: Engine, cid: str, progress: Callable[[str], None] | None) -> int:
    svc = engine.containers
    r, w = os.pipe()
    reader = _Lines(r, progress)
    reader.start()
    try:
        if svc.prepare_start(cid) is None:
            raise BuildError(f"build container {cid[:12]} is already running")
        code = engine.runtime.attach(cid, None, w, w, detach_keys=None, start=True)
    except BaseException:
        svc.exit_cleanup(cid, removing=False)
        raise
    finally:
        os.close(w)
        reader.join()
    return int(code if code is not None else 0)


def _mountpoints(engine: Engine, cid: str) -> dict[str, tuple[int, int, int] | None]:
    """What the rootfs had at each runtime mount point before the step (mode, uid, gid)."""
    merged = str(engine.snapshots.mount(cid))
    out: dict[str, tuple[int, int, int] | None] = {}
    for path in RUNTIME_MOUNTPOINTS:
        try:
            st = os.lstat(resolve_in_root(merged, path, follow_last=False))
            out[path] = (st.st_mode, st.st_uid, st.st_gid)
        except OSError:
            out[path] = None
    return out


def _drop_mountpoints(upper: os.PathLike[str] | str, before: Mapping[str, tuple[int, int, int] | None]) -> None:
    """Remove from the upper folder what only the runtime's mount points put there."""
    for path in RUNTIME_MOUNTPOINTS:          # files first, /etc last
        host = os.path.join(upper, path.lstrip("/"))
        try:
            st = os.lstat(host)
        except OSError:
            continue
        was = before.get(path)
        if stat.S_ISREG(st.st_mode) and st.st_size == 0 and was is None:
            os.unlink(host)
        elif stat.S_ISDIR(st.st_mode) and not os.listdir(host) and not _opaque(host):
            # a folder the runtime made, or one overlay copied up only for a mount point
            if was is None or (was[0], was[1], was[2]) == (st.st_mode, st.st_uid, st.st_gid):
                os.rmdir(host)


def _opaque(path: str) -> bool:
    for name in ("trusted.overlay.opaque", "user.overlay.opaque"):
        with contextlib.suppress(OSError):
            if os.getxattr(path, name, follow_symlinks=False) == b"y":
                return True
    return False


def _run_mount(engine: Engine, m: RunMount, line: int,
               context_root: str | None) -> tuple[MountSpec | None, str | None]:
    """RUN --mount: cache folders kept under the build cache, tmpfs, and binds of the context."""
    from ..containers.spec import MountSpec  # noqa: F811 - runtime import of the type above

    if m.type == "tmpfs":
        return None, f"size={m.size}" if m.size else ""
    if m.type == "cache":
        import hashlib
        ident = hashlib.sha256((m.id or m.target).encode()).hexdigest()
        folder = ensure_dir(engine.paths.buildcache / "mounts" / ident, 0o755)
        return MountSpec(type="bind", target=m.target, source=str(folder), read_only=False), None
    if m.type == "bind" and not m.from_ and context_root is not None:
        source = resolve_in_root(context_root, m.source or "/")
        return MountSpec(type="bind", target=m.target, source=source, read_only=m.readonly), None
    raise BuildError(f"line {line}: RUN --mount=type={m.type}"
                     f"{',from=' + m.from_ if m.from_ else ''} is not supported by berth's builder",
                     line=line, field="mount", value=m.spec)
