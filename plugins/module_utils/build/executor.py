"""The build executor: a stage's instructions, one committed image per step, with the cache.

This is Docker's classic builder model. Every step starts from the image the previous step
made (its id is the step's parent), produces a new image, and the layer cache maps
(parent, step text, copied content) to that image. RUN, COPY and ADD add a layer; the other
instructions change the config only, and their history entries say ``empty_layer``.
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import BerthError, BuildError, NotFound
from ..fsutil import ensure_dir, remove_tree, resolve_in_root
from . import copy as copying
from .cache import BuildCache, cache_key
from .instructions import (
    Add,
    Arg,
    Cmd,
    Copy,
    Entrypoint,
    Env,
    Expose,
    Healthcheck,
    Instruction,
    Label,
    Maintainer,
    Onbuild,
    Run,
    Shell,
    StopSignal,
    User,
    Volume,
    Workdir,
    parse_instruction,
    render_step,
)
from .stages import Dockerfile, Stage, StageVars

if TYPE_CHECKING:  # pragma: no cover
    from ..engine import Engine
    from .context import BuildContext

NOP = "/bin/sh -c #(nop) "
DEFAULT_SHELL = ["/bin/sh", "-c"]


@dataclass
class ImageState:
    """The image so far: its id (None before the first commit of a scratch stage), its whole
    config document and its layers."""

    image_id: str | None
    config: dict[str, Any]
    layers: list[dict[str, Any]] = field(default_factory=list)

    @property
    def run(self) -> dict[str, Any]:
        return self.config.setdefault("config", {})

    @property
    def shell(self) -> list[str]:
        return list(self.run.get("Shell") or DEFAULT_SHELL)


@dataclass(frozen=True)
class BuildOptions:
    build_args: Mapping[str, str] = field(default_factory=dict)
    no_cache: bool = False
    pull: bool = False
    network: str = "default"


def _go_quote_list(items: list[str]) -> str:
    return "[" + " ".join(json.dumps(i) for i in items) + "]"


class StageExecutor:
    """Runs the stages of one Dockerfile; ``progress`` gets Docker's classic output lines."""

    def __init__(self, engine: Engine, dockerfile: Dockerfile, context: BuildContext, options: BuildOptions,
                 progress: Callable[[str], None] | None) -> None:
        self.engine = engine
        self.dockerfile = dockerfile
        self.context = context
        self.options = options
        self.progress = progress
        self.cache = BuildCache(engine)
        self.results: dict[int, ImageState] = {}
        self.steps = 0
        self.cached_steps = 0
        self.used_args: set[str] = set()
        self.cmd_set = False
        self.numbers = {id(instr): (n, total) for n, total, instr in dockerfile.steps()}
        sweep_stale(engine)
        lasting = context.scratch is None
        self.memo = copying.DigestMemo(str(engine.paths.buildcache / "digests.json") if lasting else None,
                                       str(context.root))
        self.scratch = tempfile.mkdtemp(prefix=f"build-{os.getpid()}-", dir=ensure_dir(engine.paths.tmp, 0o700))

    def close(self) -> None:
        self.memo.save()
        remove_tree(self.scratch)

    def say(self, text: str) -> None:
        if self.progress is not None:
            self.progress(text)

    def step_line(self, instr: Instruction) -> None:
        n, total = self.numbers.get(id(instr), (0, 0))
        if n:
            self.say(render_step(n, total, instr))

    # --- stages -------------------------------------------------------------------------
    def build(self, target: Stage) -> ImageState:
        for instr in self.dockerfile.meta_args:
            self.step_line(instr)
        for stage in self.dockerfile.stages[: target.index + 1]:
            self.results[stage.index] = self.build_stage(stage)
        return self.results[target.index]

    def build_stage(self, stage: Stage) -> ImageState:
        self.cmd_set = False
        self.step_line(stage.from_)
        state = self.from_image(stage)
        vars = StageVars(self.dockerfile, state.run.get("Env") or [], self.options.build_args)
        triggers = list(state.run.get("OnBuild") or [])
        if triggers:
            state.run["OnBuild"] = None
            self.say(f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}")
            for text in triggers:
                trigger = vars.expand(parse_instruction(text, self.dockerfile.escape))
                vars.apply(trigger)
                state = self.execute(trigger, state, vars)
        self.say(f" ---> {state.image_id[7:19] if state.image_id else ''}".rstrip())
        for instr in stage.instructions:
            self.step_line(instr)
            expanded = vars.expand(instr)
            vars.apply(expanded)
            state = self.execute(expanded, state, vars)
            self.say(f" ---> {state.image_id[7:19] if state.image_id else ''}".rstrip())
        self.used_args |= set(vars.args)
        return state

    def from_image(self, stage: Stage) -> ImageState:
        if stage.base_stage is not None:
            src = self.results[stage.base_stage]
            return ImageState(src.image_id, json.loads(json.dumps(src.config)), [dict(x) for x in src.layers])
        if stage.scratch:
            from ..store.oci import host_platform
            os_name, arch, variant = host_platform()
            cfg: dict[str, Any] = {"architecture": arch, "os": os_name, "config": {},
                                   "rootfs": {"type": "layers", "diff_ids": []}, "history": []}
            if variant:
                cfg["variant"] = variant
            return ImageState(None, cfg, [])
        return self.load(self.resolve_image(stage.base, stage.from_.line, stage.platform))

    def resolve_image(self, ref: str, line: int, platform: str | None = None) -> str:
        images = self.engine.images
        if not self.options.pull and images.exists(ref):
            return images.resolve_id(ref)
        try:
            if self.options.pull:
                self.engine.registry.ensure_pulled(ref, force=True, platform=platform)
            else:
                self.engine.registry.ensure_pulled(ref, platform=platform)
        except BerthError as exc:
            if images.exists(ref) and not ref.startswith("sha256:"):
                return images.resolve_id(ref)     # --pull with no registry: keep the local one
            raise BuildError(f"line {line}: cannot get the image {ref!r}: {exc}", line=line,
                             field="from", value=ref) from exc
        return images.resolve_id(ref)

    def load(self, image_id: str) -> ImageState:
        rec = self.engine.images.get(image_id)
        cfg = json.loads(json.dumps(rec.config))
        return ImageState(rec.id, cfg, [dict(x) for x in rec.layers])

    # --- commits and the cache ------------------------------------------------------------
    def cached(self, key: str) -> ImageState | None:
        if self.options.no_cache:
            return None
        image_id = self.cache.lookup(key)
        if image_id is None:
            return None
        try:
            state = self.load(image_id)
        except NotFound:
            return None
        self.say(" ---> Using cache")
        self.cached_steps += 1
        return state

    def commit(self, state: ImageState, created_by: str, key: str, layer: dict[str, Any] | None = None,
               chain: str | None = None, description: str = "") -> ImageState:
        from ..store.oci import rfc3339
        now = rfc3339()
        doc = {k: v for k, v in state.config.items() if k not in ("container", "container_config")}
        history = list(doc.get("history") or [])
        entry: dict[str, Any] = {"created": now, "created_by": created_by}
        if layer is None:
            entry["empty_layer"] = True
        history.append(entry)
        layers = [dict(x) for x in state.layers] + ([layer] if layer is not None else [])
        doc.update(created=now, history=history,
                   rootfs={"type": "layers", "diff_ids": [x["diff_id"] for x in layers]})
        doc["config"] = {k: v for k, v in state.run.items() if v not in (None, [], {})}
        rec = self.engine.images.create(doc, layers, (), parent=state.image_id or "")
        self.cache.store(key, rec.id, state.image_id, description or created_by, chain)
        return ImageState(rec.id, json.loads(json.dumps(rec.config)), [dict(x) for x in rec.layers])

    def apply_labels(self, state: ImageState, labels: dict[str, str]) -> ImageState:
        """``--label``: the final image's labels, as one more config step."""
        new = ImageState(state.image_id, json.loads(json.dumps(state.config)), state.layers)
        new.run["Labels"] = {**(new.run.get("Labels") or {}), **labels}
        created_by = NOP + " LABEL " + " ".join(f"{k}={v}" for k, v in sorted(labels.items()))
        key = cache_key(state.image_id, created_by)
        return self.cached_quietly(key) or self.commit(new, created_by, key)

    def ensure_image(self, state: ImageState) -> ImageState:
        """RUN needs an image to make its container from (FROM scratch has none yet)."""
        if state.image_id is not None:
            return state
        key = cache_key(None, NOP + "FROM scratch")
        return self.cached_quietly(key) or self.commit(state, NOP + " FROM scratch", key)

    def cached_quietly(self, key: str) -> ImageState | None:
        image_id = None if self.options.no_cache else self.cache.lookup(key)
        return self.load(image_id) if image_id else None

    # --- instructions -----------------------------------------------------------------------
    def execute(self, instr: Instruction, state: ImageState, vars: StageVars) -> ImageState:
        self.steps += 1
        if isinstance(instr, Run):
            return self.run(instr, state, vars)
        if isinstance(instr, (Copy, Add)):
            return self.copy(instr, state)
        if isinstance(instr, Workdir):
            return self.workdir(instr, state)
        new = ImageState(state.image_id, json.loads(json.dumps(state.config)), state.layers)
        created_by = self.configure(instr, new)
        key = cache_key(state.image_id, created_by)
        return self.cached(key) or self.commit(new, created_by, key)

    def configure(self, instr: Instruction, state: ImageState) -> str:
        """Apply a config-only instruction to ``state``; returns its history text."""
        run = state.run
        if isinstance(instr, Env):
            env = {e.split("=", 1)[0]: e for e in run.get("Env") or []}
            for k, v in instr.pairs:
                env[k] = f"{k}={v}"
            run["Env"] = list(env.values())
            return NOP + " ENV " + " ".join(f"{k}={v}" for k, v in instr.pairs)
        if isinstance(instr, Label):
            labels = dict(run.get("Labels") or {})
            labels.update(instr.pairs)
            run["Labels"] = labels
            return NOP + " LABEL " + " ".join(f"{k}={v}" for k, v in instr.pairs)
        if isinstance(instr, Arg):
            return NOP + " ARG " + " ".join(k if v is None else f"{k}={v}" for k, v in instr.args)
        if isinstance(instr, Expose):
            ports = dict(run.get("ExposedPorts") or {})
            for p in instr.ports:
                ports[p if "/" in p else f"{p}/tcp"] = {}
            run["ExposedPorts"] = ports
            return NOP + " EXPOSE " + " ".join(sorted(ports))
        if isinstance(instr, Volume):
            vols = dict(run.get("Volumes") or {})
            for p in instr.paths:
                vols[p] = {}
            run["Volumes"] = vols
            return NOP + " VOLUME " + _go_quote_list(list(instr.paths))
        if isinstance(instr, User):
            run["User"] = instr.user
            return NOP + " USER " + instr.user
        if isinstance(instr, Cmd):
            run["Cmd"] = instr.argv(state.shell)
            self.cmd_set = True
            return NOP + " CMD " + _go_quote_list(run["Cmd"])
        if isinstance(instr, Entrypoint):
            run["Entrypoint"] = instr.argv(state.shell) or None
            if not self.cmd_set:
                run["Cmd"] = None   # an inherited CMD does not survive a new ENTRYPOINT
            return NOP + " ENTRYPOINT " + _go_quote_list(list(run["Entrypoint"] or []))
        if isinstance(instr, Shell):
            run["Shell"] = list(instr.shell)
            return NOP + " SHELL " + _go_quote_list(list(instr.shell))
        if isinstance(instr, StopSignal):
            run["StopSignal"] = instr.signal
            return NOP + " STOPSIGNAL " + instr.signal
        if isinstance(instr, Healthcheck):
            run["Healthcheck"] = instr.config()
            return NOP + " " + instr.text
        if isinstance(instr, Onbuild):
            run["OnBuild"] = list(run.get("OnBuild") or []) + [instr.expression]
            return NOP + " ONBUILD " + instr.expression
        if isinstance(instr, Maintainer):
            state.config["author"] = instr.maintainer
            return NOP + " MAINTAINER " + instr.maintainer
        raise BuildError(f"line {instr.line}: {instr.NAME} is not supported here", line=instr.line)

    def run(self, instr: Run, state: ImageState, vars: StageVars) -> ImageState:
        from .runstep import run_step
        plan = instr.plan(state.shell)
        args = vars.declared_args()
        display = " ".join(plan.args)
        created_by = (f"|{len(args)} " + " ".join(f"{k}={v}" for k, v in args) + " " if args else "") + display
        if instr.heredocs:
            created_by += "".join("\n" + h.content for h in instr.heredocs)
        key = cache_key(state.image_id, created_by, json.dumps([m.spec for m in instr.mounts]) if instr.mounts else "")
        hit = self.cached(key)
        if hit is not None:
            return hit
        state = self.ensure_image(state)
        network = instr.network or self.options.network
        assert state.image_id is not None
        res = run_step(self.engine, state.image_id, plan, vars.run_env(), network, instr.mounts,
                       display, instr.line, self.progress, context_root=str(self.context.root))
        layer = self._layer(res.digest, res.diff_id)
        return self.commit(state, created_by, key, layer, res.chain_id, description=f"[{instr.line}] {instr.text}")

    def _layer(self, digest: str, diff_id: str) -> dict[str, Any]:
        from ..store.oci import OCI_LAYER
        return {"digest": digest, "media_type": OCI_LAYER, "size": self.engine.content.size(digest),
                "diff_id": diff_id}

    # --- files ----------------------------------------------------------------------------
    def copy(self, instr: Copy | Add, state: ImageState) -> ImageState:
        name = instr.NAME
        chmod = copying.parse_chmod(instr.chmod, instr.line)
        tree: Any = self.context
        release: Callable[[], None] | None = None
        items: list[copying.Item] = []
        try:
            if isinstance(instr, Copy) and instr.from_:
                tree, release = self._from_tree(instr.from_, instr.line)
            local = [s for s in instr.sources if not (isinstance(instr, Add) and _is_url(s))]
            items = copying.collect(tree, local, name, instr.line, instr.exclude) if local else []
            if isinstance(instr, Add):
                items = self._add_items(instr, items)
            for inline in instr.inline:
                items.append(self._inline_item(inline.name, inline.data))
            digest = copying.content_hash(items, f"{instr.chown}|{instr.chmod}", self.memo)
            kind = "multi" if len(items) > 1 else ("dir" if items and items[0].is_dir else "file")
            created_by = f"{NOP}{name} {kind}:{digest[7:]} in {instr.dest} "
            key = cache_key(state.image_id, created_by)
            hit = self.cached(key)
            if hit is not None:
                return hit
            workdir = state.run.get("WorkingDir") or "/"
            return self._write_layer(state, created_by, key, lambda root: copying.apply(
                items, root, instr.dest, workdir, copying.parse_chown(instr.chown, root, instr.line), chmod,
                name, instr.line, parents=isinstance(instr, Copy) and instr.parents), f"[{instr.line}] {instr.text}")
        finally:
            if release is not None:
                release()

    def _add_items(self, instr: Add, local: list[copying.Item]) -> list[copying.Item]:
        out: list[copying.Item] = []
        for item in local:
            e = item.entries[0]
            if not item.is_dir and e.kind == "file" and instr.unpack is not False and copying.is_archive(e.host):
                out.append(copying.extract_archive(e.host, self.scratch))
            else:
                out.append(item)
        for src in instr.sources:
            if _is_url(src):
                out.append(copying.fetch_url(src, self.scratch, instr.line, instr.checksum))
        return out

    def _inline_item(self, name: str, data: str) -> copying.Item:
        path = os.path.join(self.scratch, f"inline-{secrets.token_hex(4)}")
        with open(path, "w") as f:
            f.write(data)
        os.chmod(path, 0o644)
        os.utime(path, (0, 0))
        item = copying.Item(name, [copying._entry("", path)])
        return item

    def _from_tree(self, ref: str, line: int) -> tuple[copying.RootfsTree, Callable[[], None]]:
        """COPY --from: an earlier stage's or an image's rootfs, mounted read-only for the step."""
        index = self.dockerfile.stage_index(ref)
        if index is not None:
            if index not in self.results:
                raise BuildError(f"line {line}: COPY --from={ref}: stage {ref} has not been built", line=line)
            image_id = self.results[index].image_id
        else:
            image_id = self.resolve_image(ref, line)
        key = _snapshot_key()
        snaps = self.engine.snapshots
        chain = self.engine.images.rootfs_chain(self.engine.images.get(image_id)) if image_id else None
        snaps.prepare(key, chain)
        try:
            root = str(snaps.mount(key))
        except BaseException:
            snaps.remove(key)
            raise
        return copying.RootfsTree(root), lambda: snaps.remove(key)

    def _write_layer(self, state: ImageState, created_by: str, key: str, write: Callable[[str], None],
                     description: str) -> ImageState:
        """A layer made by writing into a mounted snapshot of the image so far."""
        snaps = self.engine.snapshots
        skey = _snapshot_key()
        snaps.prepare(skey, self._chain(state))
        try:
            write(str(snaps.mount(skey)))
            snaps.unmount(skey)
            chain, diff_id, digest = snaps.commit(skey, remove=True)
        except OSError as exc:
            raise BuildError(f"{description}: {exc.strerror}: {exc.filename}", value=str(exc.filename)) from exc
        finally:
            with contextlib.suppress(BerthError, OSError):
                snaps.remove(skey)
        return self.commit(state, created_by, key, self._layer(digest, diff_id), chain, description)

    def workdir(self, instr: Workdir, state: ImageState) -> ImageState:
        path = instr.path
        if not path.startswith("/"):
            path = os.path.join(state.run.get("WorkingDir") or "/", path)
        path = os.path.normpath(path)
        new = ImageState(state.image_id, json.loads(json.dumps(state.config)), state.layers)
        new.run["WorkingDir"] = path
        created_by = f"{NOP}WORKDIR {path}"
        key = cache_key(state.image_id, created_by)
        hit = self.cached(key)
        if hit is not None:
            return hit
        if self._exists(state, path):
            return self.commit(new, created_by, key)

        def mkdir(root: str) -> None:
            copying._Maker(root, copying.Owner(0, 0)).mkdirs(path)
        return self._write_layer(new, created_by, key, mkdir, f"[{instr.line}] {instr.text}")

    def _chain(self, state: ImageState) -> str | None:
        """The top layer's chain id of the image so far (None without layers)."""
        chains = self.engine.snapshots.chain_id([x["diff_id"] for x in state.layers])
        return chains[-1] if chains else None

    def _exists(self, state: ImageState, path: str) -> bool:
        if not state.layers:
            return path == "/"
        snaps = self.engine.snapshots
        skey = _snapshot_key()
        snaps.prepare(skey, self._chain(state))
        try:
            return os.path.isdir(resolve_in_root(str(snaps.mount(skey)), path))
        finally:
            snaps.remove(skey)


def _snapshot_key() -> str:
    return f"build-{os.getpid()}-{secrets.token_hex(6)}"


def _dead(pid_text: str) -> bool:
    return pid_text.isdigit() and int(pid_text) != os.getpid() and not os.path.exists(f"/proc/{pid_text}")


def sweep_stale(engine: Engine) -> None:
    """What a build killed with -9 left: its snapshots and scratch folders (named with the
    builder's pid) and its RUN containers (labelled berth.build)."""
    snaps = engine.snapshots
    for meta in snaps.list_active():
        key = str(meta.get("key") or "")
        parts = key.split("-")
        if len(parts) == 3 and parts[0] == "build" and _dead(parts[1]):
            with contextlib.suppress(BerthError, OSError):
                snaps.remove(key)
    with contextlib.suppress(FileNotFoundError), os.scandir(engine.paths.tmp) as it:
        for e in it:
            parts = e.name.split("-")
            if len(parts) >= 3 and parts[0] in ("build", "buildrun", "buildctx") and _dead(parts[1]):
                remove_tree(e.path)
    # RUN steps mark their builder's pid under buildcache/running: only a dead builder's mark
    # costs a look at the containers (and the import of the container service).
    running = engine.paths.buildcache / "running"
    dead: list[str] = []
    with contextlib.suppress(FileNotFoundError), os.scandir(running) as it:
        dead = [e.name for e in it if _dead(e.name)]
    if not dead:
        return
    svc = engine.containers
    with contextlib.suppress(BerthError, OSError):
        for rec in svc.store.all():
            labels = rec.spec.labels
            if labels.get("berth.build") == "true" and labels.get("berth.build.pid", "") in dead:
                with contextlib.suppress(BerthError, OSError):
                    svc.remove(rec.id, force=True)
    for pid in dead:
        remove_tree(running / pid)


def _is_url(src: str) -> bool:
    return src.startswith(("http://", "https://"))
