"""ContainerService: docker's container life cycle over the store, runtime, network and volumes.

create resolves the image, prepares the snapshot, makes volumes and writes config.json; start
mounts the rootfs, joins networks, resolves the user inside the rootfs, writes the OCI spec and
RunOptions and hands them to the runtime. Every command takes a full id, a unique id prefix or
a name. Commands on one container serialise on its lock; a failing create removes what it made.
"""
from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import fsutil
from ..errors import BerthError, Conflict, InvalidSpec, NotFound, RuntimeFailure
from ..types import Change
from . import etcfiles, ocispec, userdb
from .mounts import MountPlanner
from .names import random_name
from .records import ContainerRecord, ContainerStore
from .spec import ContainerSpec, Resources, RestartPolicy

if TYPE_CHECKING:  # pragma: no cover
    from ..engine import Engine

ETC_FILES = {"/etc/hostname": "hostname", "/etc/hosts": "hosts", "/etc/resolv.conf": "resolv.conf"}


def image_config_of(config: dict[str, Any]) -> dict[str, Any]:
    """The runtime part (Cmd, Env...) of an image config document, or the dict itself."""
    inner = config.get("config") if isinstance(config, dict) else None
    if isinstance(inner, dict) or (isinstance(config, dict) and "rootfs" in config):
        return dict(inner or {})
    return dict(config or {})


class ContainerService:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.paths = engine.paths
        self.store = ContainerStore(engine.paths)

    # --- lookup ---------------------------------------------------------------------------
    def resolve(self, ref: str) -> str:
        return self.store.resolve(ref)

    def get(self, ref: str) -> ContainerRecord:
        return self.store.read(self.resolve(ref))

    def state(self, cid: str) -> dict[str, Any]:
        """Docker's State for ``cid`` (reconciled by the runtime), with RestartCount."""
        return self.engine.runtime.state(cid)

    # --- create ---------------------------------------------------------------------------
    def create(self, spec: ContainerSpec) -> ContainerRecord:
        image = self.engine.images.get(spec.image)
        image_cfg = image_config_of(image.config)
        args = ocispec.process_args(spec, image_cfg)        # "No command specified" before any work
        self._check_security(spec)
        cid = os.urandom(32).hex()
        name = spec.name or random_name(lambda n: self.store.name_owner(n) is not None)
        durable = not spec.auto_remove
        # The container's lock is held for the whole create: a name link whose owner holds its
        # lock is a create in progress, never a stale link to reclaim.
        with self.store.locked(cid):
            return self._create_locked(spec, cid, name, image, image_cfg, args, durable)

    def _create_locked(self, spec: ContainerSpec, cid: str, name: str, image: Any, image_cfg: dict[str, Any],
                       args: list[str], durable: bool) -> ContainerRecord:
        undo: list[Callable[[], Any]] = []
        try:
            self.store.reserve_name(name, cid)
            undo.append(lambda: self.store.release_name(name, cid))
            cdir = fsutil.ensure_dir(self.store.dir(cid), 0o710)
            undo.append(lambda: fsutil.remove_tree(cdir))
            chain = self.engine.images.rootfs_chain(image)
            self.engine.snapshots.prepare(cid, chain, init=True, durable=durable)
            undo.append(lambda: self.engine.snapshots.remove(cid))
            mounts, anonymous = MountPlanner(self.engine).plan(cid, spec, image_cfg, undo)
            hostname = self._hostname(spec, cid)
            rec = ContainerRecord(
                id=cid, name=name, created=_now(), spec=spec, image_id=image.id,
                image_name=spec.image, image_config=image_cfg, path=args[0], args=tuple(args[1:]),
                hostname=hostname, mounts=tuple(mounts), anonymous_volumes=tuple(anonymous))
            self._write_etc_files(rec, ips=())
            self.store.write(rec, durable=durable)
        except BaseException:
            for fn in reversed(undo):
                with contextlib.suppress(Exception):
                    fn()
            raise
        return rec

    def _check_security(self, spec: ContainerSpec) -> None:
        from ..runtime import caps
        caps.resolve(list(spec.cap_add), list(spec.cap_drop), spec.privileged)

    def _hostname(self, spec: ContainerSpec, cid: str) -> str:
        if spec.hostname:
            return spec.hostname
        if spec.network_mode == "host":
            return socket.gethostname()
        return cid[:12]

    # --- /etc files -----------------------------------------------------------------------
    def _etc_path(self, cid: str, dest: str) -> Path:
        return self.store.dir(cid) / ETC_FILES[dest]

    def _write_etc_files(self, rec: ContainerRecord, ips: tuple[str, ...], aliases: tuple[str, ...] = (),
                         resolv: str | None = None) -> None:
        spec = rec.spec
        durable = not spec.auto_remove
        fsutil.atomic_write(self._etc_path(rec.id, "/etc/hostname"), rec.hostname + "\n", durable=durable)
        if spec.network_mode == "host":
            hosts = etcfiles.host_hosts()
            if spec.extra_hosts:
                hosts += etcfiles.hosts_file("", (), spec.extra_hosts)[len(etcfiles.HOSTS_BASE):]
        else:
            hosts = etcfiles.hosts_file(rec.hostname, ips, spec.extra_hosts, aliases)
        fsutil.atomic_write(self._etc_path(rec.id, "/etc/hosts"), hosts, durable=durable)
        if resolv is None:
            resolv = etcfiles.resolv_conf(etcfiles.host_resolv_conf(), spec.dns, spec.dns_search,
                                          spec.dns_options, keep_local=spec.network_mode == "host")
        fsutil.atomic_write(self._etc_path(rec.id, "/etc/resolv.conf"), resolv, durable=durable)

    # --- start ----------------------------------------------------------------------------
    def start(self, ref: str) -> ContainerRecord:
        cid = self.resolve(ref)
        # The lock is held through the launch: the exit command of the previous run (run by
        # its monitor, asynchronously) takes it too, and must find this run started rather
        # than undo its preparation (unmount the rootfs, release the network) under it.
        with self.store.locked(cid):
            rec = self._prepare_start_locked(cid)
            if rec is None:
                return self.store.read(cid)
            try:
                self.engine.runtime.start(rec.id)
            except BaseException:
                self._exit_cleanup_locked(rec.id, removing=False)
                raise
        return rec

    def start_attached(self, ref: str, stdin: Any = None, stdout: Any = None, stderr: Any = None,
                       detach_keys: str | None = "ctrl-p,ctrl-q") -> int | None:
        """`run` without -d, `start -a`: launch with the attach in place (nothing printed is
        missed); the container's exit code, or None when the user detached.

        As ``start``, the lock is held until the launch is done. Conflict when it is running."""
        cid = self.resolve(ref)
        with contextlib.ExitStack() as held:
            held.enter_context(self.store.locked(cid))
            if self._prepare_start_locked(cid) is None:
                raise Conflict(f"container {cid[:12]} is already running", id=cid)
            try:
                return self.engine.runtime.attach(cid, stdin, stdout, stderr, detach_keys=detach_keys,
                                                  start=True, launched=held.close)
            except BaseException:
                held.close()
                self.exit_cleanup(cid, removing=False)
                raise
        return None  # pragma: no cover - the with block returns or raises

    def prepare_start(self, ref: str) -> ContainerRecord | None:
        """Everything before the launch (rootfs, network, spec files); None when already running.

        `run` without -d launches through ``runtime.attach(start=True)`` after this, so that
        the attach is in place before the first byte is written.
        """
        cid = self.resolve(ref)
        with self.store.locked(cid):
            return self._prepare_start_locked(cid)

    def _prepare_start_locked(self, cid: str) -> ContainerRecord | None:
        rec = self.store.read(cid)
        st = self.state(cid)
        if st["Status"] == "paused":
            raise Conflict("cannot start a paused container, try unpause instead", id=cid)
        if st["Running"] or st["Status"] == "restarting":
            return None
        return self._start_locked(rec)

    def _start_locked(self, rec: ContainerRecord) -> ContainerRecord:
        cid = rec.id
        undo: list[Callable[[], Any]] = []
        try:
            rootfs = str(self.engine.snapshots.mount(cid, volatile=rec.spec.auto_remove))
            rec = MountPlanner(self.engine).prepare_start(rec, rootfs)
            from .networking import NetworkAttacher
            # Endpoints left by a monitor that died before its exit command ran.
            rec = NetworkAttacher(self).release(rec)
            rec, dns = NetworkAttacher(self).attach(rec, undo)
            user = userdb.lookup(rootfs, ocispec.effective_user(rec.spec, rec.image_config))
            inputs = ocispec.SpecInputs(
                cid=cid, rootfs=rootfs, user=user, hostname=rec.hostname,
                files={dest: str(self._etc_path(cid, dest)) for dest in ETC_FILES},
                mounts=tuple(MountPlanner(self.engine).runtime_mounts(rec)), netns=rec.netns,
                cgroups_path=f"/berth/{cid}", cgroupns=os.path.exists("/proc/self/ns/cgroup"))
            oci = ocispec.build_runtime_spec(rec.spec, rec.image_config, inputs)
            opts = ocispec.run_options(rec.spec, rec.image_config, str(self.store.log_path(cid)),
                                       on_exit=self.exit_command(cid), dns=dns)
            run_dir = fsutil.ensure_dir(self.store.run_dir(cid), 0o700)
            fsutil.write_json(run_dir / "spec.json", oci, durable=False)
            fsutil.write_json(run_dir / "options.json", opts, durable=False)
            self.store.write(rec, durable=not rec.spec.auto_remove)
        except BaseException:
            for fn in reversed(undo):
                with contextlib.suppress(Exception):
                    fn()
            raise
        return rec

    def exit_command(self, cid: str) -> list[str]:
        """What the monitor runs after the container's final exit: release and --rm cleanup."""
        from . import exitcleanup
        return exitcleanup.command(self.paths, cid)

    def run(self, spec: ContainerSpec) -> ContainerRecord:
        rec = self.create(spec)
        try:
            return self.start(rec.id)
        except BaseException:
            if spec.auto_remove:
                with contextlib.suppress(BerthError):
                    self.remove(rec.id, force=True, volumes=True)
            raise

    # --- signals and stops ----------------------------------------------------------------
    def stop(self, ref: str, timeout: int | None = None, signal: str | None = None) -> str:
        cid = self.resolve(ref)
        rec = self.store.read(cid)
        st = self.state(cid)
        if st["Status"] not in ("running", "paused", "restarting"):
            return cid
        t = rec.spec.effective_stop_timeout if timeout is None else timeout
        sig = signal or ocispec.stop_signal(rec.spec, rec.image_config)
        self.engine.runtime.stop(cid, t, sig)
        return cid

    def kill(self, ref: str, signal: str = "SIGKILL") -> str:
        cid = self.resolve(ref)
        st = self.state(cid)
        if not st["Running"]:
            raise Conflict(f"Cannot kill container: {ref}: container {cid} is not running", id=cid)
        self.engine.runtime.kill(cid, _signame(signal))
        return cid

    def restart(self, ref: str, timeout: int | None = None) -> str:
        cid = self.stop(ref, timeout)
        self.wait(cid, condition="not-running")
        self.start(cid)
        return cid

    def pause(self, ref: str) -> str:
        cid = self.resolve(ref)
        st = self.state(cid)
        if not st["Running"]:
            raise Conflict(f"Container {cid} is not running", id=cid)
        if st["Paused"]:
            raise Conflict(f"Container {cid} is already paused", id=cid)
        self.engine.runtime.pause(cid)
        return cid

    def unpause(self, ref: str) -> str:
        cid = self.resolve(ref)
        if not self.state(cid)["Paused"]:
            raise Conflict(f"Container {cid} is not paused", id=cid)
        self.engine.runtime.resume(cid)
        return cid

    def wait(self, ref: str, condition: str = "not-running", timeout: float | None = None) -> int:
        if condition == "healthy":
            self.wait_healthy(ref, timeout)
            return 0
        cid = self.resolve(ref)
        st = self.state(cid)
        if condition == "next-exit" or st["Status"] in ("running", "paused", "restarting"):
            return int(self.engine.runtime.wait(cid))
        return int(st["ExitCode"])

    def wait_healthy(self, ref: str, timeout: float | None = None) -> dict[str, Any]:
        """Block until the container's healthcheck passes; its State.Health then.

        Conflict when it has no healthcheck, stops running, or its check reports unhealthy
        (the message carries the last probe's output); BerthError once ``timeout`` s pass.
        """
        import time

        from ..runtime.health import run_config

        rec = self.get(ref)
        override = rec.spec.healthcheck.to_docker() if rec.spec.healthcheck is not None else None
        if run_config(rec.image_config.get("Healthcheck"), override) is None:
            raise Conflict(f"container {rec.name} has no healthcheck to wait for", id=rec.id, field="healthcheck")
        deadline = None if timeout is None else time.monotonic() + float(timeout)
        while True:
            st = self.state(rec.id)
            health = st.get("Health") or {}
            if st["Status"] not in ("running", "paused", "restarting"):
                raise Conflict(f"container {rec.name} is not running ({st['Status']}, exit code "
                               f"{st['ExitCode']}) while waiting for it to be healthy", id=rec.id)
            if st["Status"] == "running" and health.get("Status") == "healthy":
                return dict(health)
            if st["Status"] == "running" and health.get("Status") == "unhealthy":
                last = (health.get("Log") or [{}])[-1]
                raise Conflict(f"container {rec.name} is unhealthy: its healthcheck failed "
                               f"{health.get('FailingStreak')} times (last exit code {last.get('ExitCode')}"
                               f", output {str(last.get('Output', '')).strip()!r})", id=rec.id)
            if deadline is not None and time.monotonic() >= deadline:
                raise BerthError(f"container {rec.name} did not become healthy within {timeout} s "
                                 f"(health: {health.get('Status', 'starting')})", id=rec.id, timeout=timeout)
            time.sleep(0.05)  # health lives in state.json, written by the monitor at each probe

    # --- remove ---------------------------------------------------------------------------
    def remove(self, ref: str, force: bool = False, volumes: bool = False) -> str:
        cid = self.resolve(ref)
        with self.store.locked(cid):
            rec = self.store.try_read(cid)
            if rec is None:
                raise NotFound(f"No such container: {ref}", id=ref)
            st = self.state(cid)
            if st["Status"] in ("running", "paused", "restarting"):
                if not force:
                    word = "paused" if st["Paused"] else "running"
                    raise Conflict(f"cannot remove container \"/{rec.name}\": container is {word}: stop the "
                                   "container before removing or force remove", id=cid)
                self.engine.runtime.kill(cid, "SIGKILL")
                with contextlib.suppress(BerthError):
                    self.engine.runtime.wait(cid)
            self._remove_locked(rec, volumes)
        return cid

    def _remove_locked(self, rec: ContainerRecord, volumes: bool) -> None:
        cid = rec.id
        from .networking import NetworkAttacher
        NetworkAttacher(self).release(rec)
        MountPlanner(self.engine).release(rec)
        with contextlib.suppress(NotFound, FileNotFoundError):
            self.engine.runtime.delete(cid)
        self.engine.snapshots.remove(cid)
        if volumes:
            MountPlanner(self.engine).remove_anonymous(rec)
        self.store.release_name(rec.name, cid)
        fsutil.remove_tree(self.store.run_dir(cid))
        fsutil.discard_into(self.paths.tmp, self.store.dir(cid))

    def exit_cleanup(self, cid: str, removing: bool = True) -> None:
        """After the final exit: release the network, unmount, and remove for --rm.

        ``removing=False`` (a failed start) keeps a --rm container for the caller to remove.
        """
        try:
            with self.store.locked(cid):
                self._exit_cleanup_locked(cid, removing)
        except NotFound:
            return

    def _exit_cleanup_locked(self, cid: str, removing: bool) -> None:
        rec = self.store.try_read(cid)
        if rec is None:
            return
        if self.state(cid)["Status"] in ("running", "paused", "restarting"):
            return  # started again meanwhile
        if rec.spec.auto_remove and removing:
            self._remove_locked(rec, volumes=True)
            return
        from .networking import NetworkAttacher
        rec = NetworkAttacher(self).release(rec)
        MountPlanner(self.engine).release(rec)
        self.store.write(rec)
        with contextlib.suppress(BerthError, OSError):
            self.engine.snapshots.unmount(cid)

    # --- networks of an existing container ------------------------------------------------
    def network_connect(self, ref: str, network: str, aliases: tuple[str, ...] | list[str] = (),
                        ip: str | None = None) -> dict[str, Any] | None:
        """Join ``network``: recorded in the stored spec, plugged in at once when running
        (the endpoint is returned), at the next start otherwise."""
        from .networking import NetworkAttacher

        cid = self.resolve(ref)
        with self.store.locked(cid):
            rec = self.store.read(cid)
            running = self.state(cid)["Status"] in ("running", "paused")
            rec, ep = NetworkAttacher(self).connect(rec, network, tuple(aliases), ip, running)
            self.store.write(rec, durable=not rec.spec.auto_remove)
        return ep

    def network_disconnect(self, ref: str, network: str, force: bool = False) -> None:
        """Leave ``network`` (now when running) and drop it from the stored spec."""
        from .networking import NetworkAttacher

        cid = self.resolve(ref)
        with self.store.locked(cid):
            rec = self.store.read(cid)
            running = self.state(cid)["Status"] in ("running", "paused")
            rec = NetworkAttacher(self).disconnect(rec, network, force, running)
            self.store.write(rec, durable=not rec.spec.auto_remove)

    # --- rename and update ----------------------------------------------------------------
    def rename(self, ref: str, new_name: str) -> str:
        cid = self.resolve(ref)
        new_name = new_name.lstrip("/")
        with self.store.locked(cid):
            rec = self.store.read(cid)
            if new_name == rec.name:
                raise Conflict("Renaming a container with the same name as its current name", id=cid)
            self.store.reserve_name(new_name, cid)
            try:
                spec = rec.spec
                if spec.name is not None:
                    from dataclasses import replace
                    spec = replace(spec, name=new_name)
                self.store.write(rec.replace(name=new_name, spec=spec))
            except BaseException:
                self.store.release_name(new_name, cid)
                raise
            self.store.release_name(rec.name, cid)
        return cid

    def update(self, ref: str, resources: Resources | None = None,
               restart_policy: RestartPolicy | None = None, apply: bool = True,
               replace_resources: bool = False) -> Change:
        """Change resources and the restart policy in place; running containers get new limits.

        `berth update` merges the flags given into the stored resources; the module's ensure
        sets them exactly (``replace_resources``)."""
        from dataclasses import replace

        cid = self.resolve(ref)
        with self.store.locked(cid):
            rec = self.store.read(cid)
            spec = rec.spec
            if resources is None:
                new_res = spec.resources
            else:
                new_res = resources if replace_resources else spec.resources.merged(resources)
            new_spec = replace(spec, resources=Resources.from_dict(new_res.to_dict()),
                               restart_policy=restart_policy or spec.restart_policy)
            if new_spec.auto_remove and new_spec.restart_policy.name != "no":
                raise InvalidSpec("Restart policy cannot be updated because AutoRemove is enabled for the "
                                  "container", field="restart_policy", value=str(new_spec.restart_policy))
            if new_spec == spec:
                return Change.none(spec.to_dict())
            actions = []
            if new_spec.resources != spec.resources:
                actions.append("update resources")
            if new_spec.restart_policy != spec.restart_policy:
                actions.append("update restart policy")
            if apply:
                if self.state(cid)["Running"] and new_spec.resources != spec.resources:
                    self.engine.runtime.update(cid, ocispec.oci_resources(new_spec))
                self.store.write(rec.replace(spec=new_spec))
                if new_spec.restart_policy != spec.restart_policy:
                    self._update_run_options(rec.replace(spec=new_spec))
            return Change(True, spec.to_dict(), new_spec.to_dict(), tuple(actions))

    def _update_run_options(self, rec: ContainerRecord) -> None:
        path = self.store.run_dir(rec.id) / "options.json"
        opts = fsutil.read_json(path, default=None)
        if opts is None:
            return
        opts["restart"] = {"name": rec.spec.restart_policy.name,
                           "max_retries": rec.spec.restart_policy.max_retries}
        fsutil.write_json(path, opts, durable=False)

    def ensure(self, name: str, spec: ContainerSpec | None, state: str = "started", apply: bool = True,
               recreate: bool = False, ignore: tuple[str, ...] = ()) -> Change:
        """The module's idempotent entry point (see containers/ensure.py)."""
        from .ensure import ensure
        return ensure(self, name, spec, state, apply=apply, recreate=recreate, ignore=ignore)

    # --- queries --------------------------------------------------------------------------
    def list(self, all: bool = False, filters: dict[str, list[str]] | None = None,
             last: int | None = None, size: bool = False) -> list[dict[str, Any]]:
        from .listing import list_containers
        return list_containers(self, all=all, filters=filters or {}, last=last, size=size)

    def inspect(self, ref: str, size: bool = False) -> dict[str, Any]:
        from .inspect import inspect_container
        rec = self.get(ref)
        return inspect_container(self, rec, self.state(rec.id), size=size)

    def port(self, ref: str) -> list[dict[str, Any]]:
        rec = self.get(ref)
        if not self.state(rec.id)["Running"]:
            return []
        return [dict(p) for p in rec.ports]

    def prune(self, filters: dict[str, list[str]] | None = None) -> dict[str, Any]:
        from .listing import match_filters
        deleted, reclaimed = [], 0
        for rec in self.store.all():
            st = self.state(rec.id)
            if st["Status"] not in ("exited", "created", "dead"):
                continue
            if filters and not match_filters(self, rec, st, filters, prune=True):
                continue
            with contextlib.suppress(BerthError):
                reclaimed += self.size_rw(rec.id)
                self.remove(rec.id)
                deleted.append(rec.id)
        return {"ContainersDeleted": deleted, "SpaceReclaimed": reclaimed}

    def size_rw(self, cid: str) -> int:
        try:
            return int(self.engine.snapshots.upper_size(cid))
        except (BerthError, OSError):
            return 0

    def image_ids_in_use(self) -> set[str]:
        return {rec.image_id for rec in self.store.all()}

    def rootfs(self, ref: str) -> tuple[str, Callable[[], None]]:
        """The merged rootfs of a container, mounted; the callback unmounts it when we mounted it."""
        cid = self.resolve(ref)
        st = self.state(cid)
        merged = str(self.engine.snapshots.mount(cid))
        if st["Running"]:
            return merged, lambda: None
        return merged, lambda: self._unmount_quietly(cid)

    def _unmount_quietly(self, cid: str) -> None:
        with contextlib.suppress(BerthError, OSError):
            if not self.state(cid)["Running"]:
                self.engine.snapshots.unmount(cid)


def _now() -> str:
    from ..runtime.state import now_rfc3339
    return now_rfc3339()


def _signame(sig: str | int) -> str:
    import signal as _signal

    s = str(sig).upper()
    if s.isdigit():
        try:
            return _signal.Signals(int(s)).name
        except ValueError:
            raise InvalidSpec(f"Invalid signal: {sig}", field="signal", value=sig) from None
    if not s.startswith("SIG"):
        s = "SIG" + s
    if s not in _signal.Signals.__members__ and not s.startswith("SIGRTM"):
        raise InvalidSpec(f"Invalid signal: {sig}", field="signal", value=sig)
    return s


def python_command() -> list[str]:
    return [sys.executable, "-s"]


__all__ = ["ContainerService", "RuntimeFailure"]
