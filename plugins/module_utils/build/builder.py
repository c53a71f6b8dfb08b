"""Builder: ``berth build`` and ``source: build`` over the executor, the context and the cache.

    result = engine.builder.build("app/", tags=["hello:1"], build_args={"V": "2"},
                                  progress=print)
    result.image_id, result.steps, result.cached_steps

``progress`` receives Docker's classic builder lines (``Step N/M : ...``, `` ---> Using
cache``, the RUN output, ``Successfully built ...``). A failing step raises BuildError naming
the Dockerfile line; nothing of that step is left (no container, no mount, no image), while
the images of the steps before it stay in the cache, as Docker keeps them.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from ..errors import BerthError, BuildError, InvalidSpec

if TYPE_CHECKING:  # pragma: no cover
    from ..engine import Engine

NETWORKS = ("default", "bridge", "none", "host")


@dataclass(frozen=True)
class BuildResult:
    image_id: str
    tags: tuple[str, ...]
    steps: int
    cached_steps: int
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"image_id": self.image_id, "tags": list(self.tags), "steps": self.steps,
                "cached_steps": self.cached_steps, "warnings": list(self.warnings)}


class Builder:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def build(self, context: str | Path | None, *, dockerfile: str | None = None,
              dockerfile_text: str | None = None, context_tar: BinaryIO | None = None,
              tags: Sequence[str] = (), build_args: Mapping[str, str] | None = None,
              target: str | None = None, no_cache: bool = False, pull: bool = False,
              network: str = "default", labels: Mapping[str, str] | None = None,
              progress: Callable[[str], None] | None = None) -> BuildResult:
        from .. import reference
        from .context import BuildContext
        from .executor import BuildOptions, StageExecutor
        from .stages import PROXY_ARGS, parse_dockerfile

        if network not in NETWORKS:
            raise InvalidSpec(f"invalid network mode {network!r} for a build: use default, none or host",
                              field="network", value=network)
        names = []
        for t in tags:
            try:
                names.append(reference.parse(t).tagged)
            except InvalidSpec as exc:
                raise InvalidSpec(f"invalid argument {t!r} for \"-t, --tag\" flag: {exc}", field="tags",
                                  value=t) from None
        args = dict(build_args or {})
        with BuildContext.open(self.engine.paths, context, dockerfile=dockerfile,
                               dockerfile_text=dockerfile_text, context_tar=context_tar) as ctx:
            df = parse_dockerfile(ctx.dockerfile_text, args, filename=ctx.dockerfile_name)
            stage = df.target(target)
            options = BuildOptions(build_args=args, no_cache=no_cache, pull=pull,
                                   network="default" if network == "bridge" else network)
            ex = StageExecutor(self.engine, df, ctx, options, progress)
            try:
                state = ex.build(stage)
                if labels:
                    state = ex.apply_labels(state, dict(labels))
                state = ex.ensure_image(state)
            except BuildError:
                raise
            except BerthError as exc:
                # a step failed in the store, the runtime or a lookup: still a failed build
                details = {k: v for k, v in exc.details.items() if k != "line"}
                raise BuildError(str(exc), line=exc.details.get("line"), **details) from exc
            finally:
                ex.close()
            assert state.image_id is not None
            declared = ex.used_args | set(df.meta_values)
            unused = sorted(k for k in args if k not in declared and k not in PROXY_ARGS)
        warnings = []
        if unused:
            warnings.append(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed")
        for name in names:
            self.engine.images.tag(state.image_id, name)
        if progress is not None:
            for w in warnings:
                progress(w)
            progress(f"Successfully built {state.image_id[7:19]}")
            for name in names:
                progress(f"Successfully tagged {reference.parse(name).familiar}")
        return BuildResult(state.image_id, tuple(names), ex.steps, ex.cached_steps, tuple(warnings))

    # --- the cache --------------------------------------------------------------------------
    def cache_usage(self) -> list[dict[str, Any]]:
        from .cache import BuildCache
        return BuildCache(self.engine).usage()

    def prune(self, all: bool = False) -> dict[str, Any]:  # noqa: A002 - docker's flag name
        from .cache import BuildCache
        return BuildCache(self.engine).prune(all=all)


__all__ = ["BuildError", "BuildResult", "Builder"]
