"""Build stages: a Dockerfile read into what the executor walks.

    dockerfile = parse_dockerfile(text, build_args={"VERSION": "3.19"})
    for stage in dockerfile.stages: ...          # FROM already expanded with the meta ARGs
    target = dockerfile.target("build")          # --target, by name (or index)

ARGs before the first FROM are the meta ARGs: their values (build args win over defaults,
defaults may use earlier meta ARGs and BuildKit's automatic platform ARGs) expand the FROM
lines, and a stage sees one only after re-declaring it with ``ARG NAME``. ``StageVars`` keeps
the variables in force while a stage runs (the base image's ENV, then ENV and ARG as they
come) and gives the expander and the RUN environment at each point.
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from ..errors import BuildError
from . import parser as dfparser
from .instructions import Arg, Copy, Env, From, Instruction, Run, instructions_from
from .shell import Expander, ExpansionError

# Docker passes these through from --build-arg without an ARG line, and leaves them out of
# the image history and the cache key.
PROXY_ARGS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
              "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
         "armv7l": "arm", "armv6l": "arm", "i386": "386", "i686": "386", "ppc64le": "ppc64le",
         "s390x": "s390x", "riscv64": "riscv64"}


def platform_args(target: str | None = None, build: str | None = None) -> dict[str, str]:
    """BuildKit's automatic ARGs (TARGETPLATFORM, TARGETOS, TARGETARCH, TARGETVARIANT and the
    BUILD* ones), for ``os/arch[/variant]`` platforms; the host's by default."""
    machine = os.uname().machine.lower()
    host = f"linux/{_ARCH.get(machine, machine)}"
    if machine == "armv7l":
        host += "/v7"
    out: dict[str, str] = {}
    for prefix, value in (("BUILD", build or host), ("TARGET", target or host)):
        parts = value.split("/")
        out[prefix + "PLATFORM"] = value
        out[prefix + "OS"] = parts[0]
        out[prefix + "ARCH"] = parts[1] if len(parts) > 1 else ""
        out[prefix + "VARIANT"] = parts[2] if len(parts) > 2 else ""
    return out


@dataclass(frozen=True, kw_only=True)
class Stage:
    index: int
    name: str | None                   # lower-cased, from FROM ... AS name
    base: str                          # the FROM image after meta-ARG expansion
    platform: str | None               # --platform after expansion
    base_stage: int | None             # index of the earlier stage named by FROM, if any
    from_: From
    instructions: tuple[Instruction, ...]

    @property
    def scratch(self) -> bool:
        return self.base_stage is None and self.base == "scratch"


@dataclass(frozen=True)
class Dockerfile:
    stages: tuple[Stage, ...]
    meta_args: tuple[Arg, ...]
    meta_values: Mapping[str, str]      # resolved meta ARG values (set ones only)
    escape: str = "\\"
    directives: Mapping[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def stage_index(self, ref: str, before: int | None = None) -> int | None:
        """The stage a FROM/--from reference names: a stage name (any case) or an index.
        ``before`` limits the search to earlier stages. None: it is an image."""
        limit = len(self.stages) if before is None else before
        if ref.isdigit():
            return int(ref) if int(ref) < limit else None
        lowered = ref.lower()
        for stage in self.stages[:limit]:
            if stage.name == lowered:
                return stage.index
        return None

    def target(self, name: str | None = None) -> Stage:
        """The stage ``--target`` names (the last one when none is given)."""
        if not name:
            return self.stages[-1]
        lowered = name.lower()
        for stage in self.stages:
            if stage.name == lowered:
                return stage
        raise BuildError(f"target stage {name!r} could not be found", field="target", value=name)

    def dependencies(self, index: int) -> set[int]:
        """Stages that stage ``index`` needs (through FROM, COPY --from and RUN --mount from=),
        transitively; references that use variables are resolved with the meta ARGs."""
        seen: set[int] = set()
        todo = [index]
        expander = Expander(self.meta_values, self.escape)
        while todo:
            i = todo.pop()
            if i in seen:
                continue
            seen.add(i)
            stage = self.stages[i]
            refs: list[str] = []
            if stage.base_stage is not None:
                todo.append(stage.base_stage)
            for instr in stage.instructions:
                if isinstance(instr, Copy) and instr.from_:
                    refs.append(instr.from_)
                elif isinstance(instr, Run):
                    refs.extend(m.from_ for m in instr.mounts if m.from_)
            for ref in refs:
                try:
                    ref = expander(ref)
                except ExpansionError:
                    continue
                dep = self.stage_index(ref, before=i)
                if dep is not None:
                    todo.append(dep)
        return seen

    def steps(self) -> list[tuple[int, int, Instruction]]:
        """(number, total, instruction) in the order the classic builder prints them: the meta
        ARGs, then each stage's FROM and its instructions."""
        flat: list[Instruction] = list(self.meta_args)
        for stage in self.stages:
            flat.append(stage.from_)
            flat.extend(stage.instructions)
        return [(n, len(flat), instr) for n, instr in enumerate(flat, 1)]


def _meta_values(meta_args: Sequence[Arg], build_args: Mapping[str, str],
                 auto: Mapping[str, str], escape: str) -> dict[str, str]:
    values: dict[str, str] = dict(auto)
    for instr in meta_args:
        for key, default in instr.args:
            try:
                key = Expander(values, escape)(key)
                if key in build_args:
                    values[key] = build_args[key]
                elif default is not None:
                    values[key] = Expander(values, escape)(default)
            except ExpansionError as exc:
                raise BuildError(f"line {instr.line}: {exc.msg}", line=instr.line) from None
    return values


def parse_dockerfile(source: str | bytes, build_args: Mapping[str, str] | None = None, *,
                     filename: str = "Dockerfile", auto_args: Mapping[str, str] | None = None) -> Dockerfile:
    build_args = dict(build_args or {})
    result = dfparser.parse(source, filename)
    instructions = instructions_from(result, filename)
    meta: list[Arg] = []
    i = 0
    while i < len(instructions) and isinstance(instructions[i], Arg):
        meta.append(instructions[i])  # type: ignore[arg-type]
        i += 1
    if i == len(instructions) or not isinstance(instructions[i], From):
        line = instructions[i].line if i < len(instructions) else instructions[-1].line
        what = instructions[i].NAME if i < len(instructions) else "end of file"
        raise BuildError(f"{filename}:{line}: no build stage in current context "
                         f"({what} before the first FROM)", line=line)
    auto = platform_args() if auto_args is None else dict(auto_args)
    values = _meta_values(meta, build_args, auto, result.escape)
    stages: list[Stage] = []
    names: set[str] = set()
    current: From | None = None
    body: list[Instruction] = []

    def close() -> None:
        assert current is not None
        stages.append(_stage(len(stages), current, body, values, stages, filename, result.escape))

    for instr in instructions[i:]:
        if isinstance(instr, From):
            if current is not None:
                close()
            if instr.name is not None:
                if instr.name in names:
                    raise BuildError(f"{filename}:{instr.line}: duplicate stage name {instr.name!r}",
                                     line=instr.line)
                names.add(instr.name)
            current, body = instr, []
        else:
            body.append(instr)
            if isinstance(instr, Copy) and instr.from_.isdigit() and int(instr.from_) >= len(stages):
                raise BuildError(f"{filename}:{instr.line}: invalid from flag value {instr.from_}: "
                                 "it must name an earlier stage", line=instr.line)
    close()
    return Dockerfile(stages=tuple(stages), meta_args=tuple(meta), meta_values=values,
                      escape=result.escape, directives=result.directives,
                      warnings=tuple(result.warnings))


def _stage(index: int, instr: From, body: list[Instruction], values: Mapping[str, str],
           earlier: list[Stage], filename: str, escape: str) -> Stage:
    expand = Expander(values, escape)
    try:
        base = expand(instr.image)
        platform = expand(instr.platform) if instr.platform else None
    except ExpansionError as exc:
        raise BuildError(f"{filename}:{instr.line}: {exc.msg}", line=instr.line) from None
    if not base:
        raise BuildError(f"{filename}:{instr.line}: base name ({instr.image}) should not be blank",
                         line=instr.line)
    base_stage = None
    lowered = base.lower()
    for stage in earlier:
        if stage.name == lowered:
            base_stage = stage.index
    return Stage(index=index, name=instr.name, base=base, platform=platform or None,
                 base_stage=base_stage, from_=instr, instructions=tuple(body))


def parse_stages(source: str | bytes, build_args: Mapping[str, str] | None = None) -> list[Stage]:
    return list(parse_dockerfile(source, build_args).stages)


class StageVars:
    """The variables in force while a stage runs.

    ENV values come from the base image and ENV instructions; ARG values from the stage's ARG
    lines (build args win over defaults; a bare ``ARG NAME`` takes the meta value, if any).
    ENV wins over ARG when both name a variable, as in Docker.
    """

    def __init__(self, dockerfile: Dockerfile, image_env: Mapping[str, str] | Sequence[str] = (),
                 build_args: Mapping[str, str] | None = None) -> None:
        self.dockerfile = dockerfile
        self.build_args = dict(build_args or {})
        self.env: dict[str, str] = _env_dict(image_env)
        self.args: dict[str, str | None] = {k: v for k, v in self.build_args.items() if k in PROXY_ARGS}
        self.used: set[str] = set()

    def lookup(self) -> dict[str, str]:
        merged = {k: v for k, v in self.args.items() if v is not None}
        merged.update(self.env)
        return merged

    def expander(self) -> Expander:
        return Expander(self.lookup(), self.dockerfile.escape)

    def expand(self, instr: Instruction) -> Instruction:
        expander = self.expander()
        out = instr.expand(expander)
        self.used |= expander.matched & set(self.args)
        return out

    def apply(self, instr: Instruction) -> None:
        """Record what an (expanded) ENV or ARG instruction sets."""
        if isinstance(instr, Env):
            self.env.update(instr.pairs)
        elif isinstance(instr, Arg):
            meta = self.dockerfile.meta_values
            for key, default in instr.args:
                if key in self.build_args:
                    self.args[key] = self.build_args[key]
                elif default is not None:
                    self.args[key] = default
                else:
                    self.args[key] = meta.get(key)

    def run_env(self) -> dict[str, str]:
        """The environment of a RUN step: ARG values (not persisted) under the ENV."""
        return self.lookup()

    def declared_args(self) -> list[tuple[str, str]]:
        """The declared ARGs with a value, in order, without proxies: what Docker folds into
        the cache key of RUN steps (``|N a=b ...``)."""
        return [(k, v) for k, v in self.args.items() if v is not None and k not in PROXY_ARGS]

    def unused_build_args(self) -> list[str]:
        declared = set(self.args) | set(self.dockerfile.meta_values)
        return sorted(k for k in self.build_args if k not in declared and k not in PROXY_ARGS)


def _env_dict(env: Mapping[str, str] | Sequence[str]) -> dict[str, str]:
    if isinstance(env, Mapping):
        return dict(env)
    out: dict[str, str] = {}
    for item in env:
        key, _, value = item.partition("=")
        out.setdefault(key, value)
    return out


def iter_expanded(stage: Stage, vars: StageVars) -> Iterator[Instruction]:
    """Each instruction of the stage expanded with the variables in force at that point;
    ENV and ARG take effect as they are passed."""
    for instr in stage.instructions:
        out = vars.expand(instr)
        vars.apply(out)
        yield out
