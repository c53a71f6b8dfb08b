"""Typed Dockerfile instructions: what the builder executes.

``instructions_from(result)`` turns the parse tree of parser.py into frozen dataclasses, one per
instruction, checking what BuildKit checks when it reads them: the flags each instruction takes
(anything else is ``unknown flag``), flag values, argument counts, HEALTHCHECK durations, the
JSON form where only JSON is allowed (SHELL), ONBUILD triggers. Errors are BuildError with
``Dockerfile:LINE:`` in front and ``line`` set.

Every instruction keeps ``original`` (the logical line as written, continuations joined): the
classic builder prints it as ``Step N/M : ...`` and the layer cache keys on it (plus the heredoc
bodies, see ``cache_text``). Arguments are kept unexpanded; ``instr.expand(expander)`` returns
a copy with variables substituted for the instructions Docker expands (ADD COPY ENV EXPOSE
LABEL STOPSIGNAL USER VOLUME WORKDIR ARG; FROM is expanded with the meta ARGs by stages.py).
RUN, CMD, ENTRYPOINT, SHELL and HEALTHCHECK are never expanded by the builder.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, ClassVar

from ..errors import BuildError
from . import parser as dfparser
from .mounts import MountError, RunMount, parse_mount
from .parser import GO_SPACE, Heredoc, Node
from .shell import Expander
from .values import go_duration

NETWORK_MODES = ("default", "none", "host")
SECURITY_MODES = ("sandbox", "insecure")
MINIMUM_HEALTH_DURATION = 1_000_000      # 1ms, in ns (Docker's container.MinimumDuration)
PIPES_DIR = "/dev/pipes/"                # where a RUN heredoc with #! is mounted and run from


class InstructionError(Exception):
    """Raised while reading one instruction; wrapped into BuildError with its line."""


# -- the model -------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class Instruction:
    NAME: ClassVar[str] = ""
    line: int = 0                      # first line (1-based)
    end_line: int = 0                  # last line, heredoc bodies included
    original: str = ""                 # the logical line as written
    flags: tuple[str, ...] = ()        # the --flags as written

    @property
    def text(self) -> str:
        """The instruction as the classic builder prints it after ``Step N/M :``."""
        return self.original.strip(GO_SPACE)

    @property
    def cache_text(self) -> str:
        """The text the layer cache hashes: the line, plus heredoc bodies where there are."""
        return self.text

    def expand(self, expander: Expander) -> Instruction:
        """A copy with variables substituted; instructions Docker does not expand return self."""
        return self

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["instruction"] = self.NAME
        return d


@dataclass(frozen=True, kw_only=True)
class From(Instruction):
    NAME = "FROM"
    image: str                         # as written; stages.py expands it with the meta ARGs
    name: str | None = None            # the stage name after AS, lower-cased
    platform: str | None = None


@dataclass(frozen=True)
class InlineFile:
    """A file a RUN step needs that is not in its rootfs (a heredoc run as a script)."""
    path: str
    data: str
    mode: int


@dataclass(frozen=True)
class RunPlan:
    args: tuple[str, ...]              # the process arguments, shell prepended for shell form
    files: tuple[InlineFile, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Run(Instruction):
    NAME = "RUN"
    command: tuple[str, ...]           # exec form: the array; shell form: one string
    shell_form: bool = True
    mounts: tuple[RunMount, ...] = ()
    network: str | None = None         # default | none | host
    security: str | None = None        # sandbox | insecure
    heredocs: tuple[Heredoc, ...] = ()

    @property
    def cache_text(self) -> str:
        return _with_heredocs(self.text, self.heredocs)

    def expand(self, expander: Expander) -> Run:
        if not self.mounts:
            return self
        try:
            mounts = tuple(parse_mount(m.spec, expander, i) for i, m in enumerate(self.mounts))
        except MountError as exc:
            raise BuildError(f"line {self.line}: RUN --mount: {exc}", line=self.line) from None
        return replace(self, mounts=mounts)

    def plan(self, shell: Sequence[str]) -> RunPlan:
        """What to execute, as BuildKit turns heredocs into processes: ``RUN <<EOF`` alone runs
        the body with the shell (or, when it starts with ``#!``, as a script file under
        /dev/pipes); heredocs inside a longer command are handed to the shell as written."""
        args = list(self.command)
        files: list[InlineFile] = []
        if self.heredocs and len(args) == 1:
            first = self.heredocs[0]
            whole = dfparser.parse_heredoc(args[0])
            if whole is not None:
                data = first.body
                if data.startswith("#!"):
                    files.append(InlineFile(PIPES_DIR + first.name, data, 0o755))
                    args = [PIPES_DIR + first.name]
                else:
                    args = [data]
            else:
                args = [args[0] + "".join("\n" + h.content + h.name for h in self.heredocs)]
        if self.shell_form:
            args = list(shell) + args
        return RunPlan(tuple(args), tuple(files))


@dataclass(frozen=True)
class InlineSource:
    """``COPY <<EOF /dest``: a file whose content is in the Dockerfile."""
    name: str
    data: str
    expand: bool                       # False when the delimiter was quoted


@dataclass(frozen=True, kw_only=True)
class _CopyBase(Instruction):
    sources: tuple[str, ...]
    dest: str
    inline: tuple[InlineSource, ...] = ()
    chown: str = ""
    chmod: str = ""
    link: bool = False
    exclude: tuple[str, ...] = ()

    @property
    def cache_text(self) -> str:
        return self.text + "".join("\n" + s.data + s.name for s in self.inline)

    def _expanded(self, ex: Expander, **extra: Any) -> dict[str, Any]:
        inline = tuple(replace(s, data=ex.raw(s.data)) if s.expand else s for s in self.inline)
        return dict(sources=tuple(ex(s) for s in self.sources), dest=ex(self.dest), inline=inline,
                    chown=ex(self.chown), chmod=ex(self.chmod),
                    exclude=tuple(ex(e) for e in self.exclude), **extra)


@dataclass(frozen=True, kw_only=True)
class Copy(_CopyBase):
    NAME = "COPY"
    from_: str = ""                    # stage name or index, or an image
    parents: bool = False

    def expand(self, expander: Expander) -> Copy:
        return replace(self, **self._expanded(expander, from_=expander(self.from_)))


@dataclass(frozen=True, kw_only=True)
class Add(_CopyBase):
    NAME = "ADD"
    checksum: str = ""
    keep_git_dir: bool = False
    unpack: bool | None = None         # None: Docker's default (local archives are extracted)

    def expand(self, expander: Expander) -> Add:
        return replace(self, **self._expanded(expander, checksum=expander(self.checksum)))


@dataclass(frozen=True, kw_only=True)
class Workdir(Instruction):
    NAME = "WORKDIR"
    path: str

    def expand(self, expander: Expander) -> Workdir:
        return replace(self, path=expander(self.path))


@dataclass(frozen=True, kw_only=True)
class Env(Instruction):
    NAME = "ENV"
    pairs: tuple[tuple[str, str], ...]

    def expand(self, expander: Expander) -> Env:
        # all pairs see the variables as they were before this instruction, as in Docker
        return replace(self, pairs=tuple((expander(k), expander(v)) for k, v in self.pairs))


@dataclass(frozen=True, kw_only=True)
class Label(Instruction):
    NAME = "LABEL"
    pairs: tuple[tuple[str, str], ...]

    def expand(self, expander: Expander) -> Label:
        return replace(self, pairs=tuple((expander(k), expander(v)) for k, v in self.pairs))


@dataclass(frozen=True, kw_only=True)
class Arg(Instruction):
    NAME = "ARG"
    args: tuple[tuple[str, str | None], ...]    # (name, default or None)

    def expand(self, expander: Expander) -> Arg:
        return replace(self, args=tuple((expander(k), None if v is None else expander(v))
                                        for k, v in self.args))


@dataclass(frozen=True, kw_only=True)
class Expose(Instruction):
    NAME = "EXPOSE"
    ports: tuple[str, ...]

    def expand(self, expander: Expander) -> Expose:
        return replace(self, ports=tuple(expander(p) for p in self.ports))


@dataclass(frozen=True, kw_only=True)
class Volume(Instruction):
    NAME = "VOLUME"
    paths: tuple[str, ...]

    def expand(self, expander: Expander) -> Volume:
        paths = tuple(expander(p) for p in self.paths)
        if any(not p.strip(GO_SPACE) for p in paths):
            raise BuildError(f"line {self.line}: VOLUME specified can not be an empty string", line=self.line)
        return replace(self, paths=paths)


@dataclass(frozen=True, kw_only=True)
class User(Instruction):
    NAME = "USER"
    user: str

    def expand(self, expander: Expander) -> User:
        return replace(self, user=expander(self.user))


@dataclass(frozen=True, kw_only=True)
class _CommandBase(Instruction):
    command: tuple[str, ...]           # exec form: the array; shell form: one string
    shell_form: bool = True

    def argv(self, shell: Sequence[str]) -> list[str]:
        """The value for the image config: shell form runs through the stage's SHELL."""
        if self.shell_form and self.command:
            return list(shell) + list(self.command)
        return list(self.command)


@dataclass(frozen=True, kw_only=True)
class Cmd(_CommandBase):
    NAME = "CMD"


@dataclass(frozen=True, kw_only=True)
class Entrypoint(_CommandBase):
    NAME = "ENTRYPOINT"                # an empty command (ENTRYPOINT []) clears it


@dataclass(frozen=True, kw_only=True)
class Shell(Instruction):
    NAME = "SHELL"
    shell: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class StopSignal(Instruction):
    NAME = "STOPSIGNAL"
    signal: str

    def expand(self, expander: Expander) -> StopSignal:
        value = expander(self.signal)
        try:
            check_signal(value)
        except InstructionError as exc:
            raise BuildError(f"line {self.line}: {exc}", line=self.line) from None
        return replace(self, signal=value)


@dataclass(frozen=True, kw_only=True)
class Healthcheck(Instruction):
    NAME = "HEALTHCHECK"
    test: tuple[str, ...]              # ("NONE",) | ("CMD", *argv) | ("CMD-SHELL", command)
    interval: int = 0                  # nanoseconds, 0 = Docker's default
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0

    def config(self) -> dict[str, Any]:
        """The image config's Healthcheck object (Docker's field names)."""
        out: dict[str, Any] = {"Test": list(self.test)}
        for key, value in (("Interval", self.interval), ("Timeout", self.timeout),
                           ("StartPeriod", self.start_period), ("StartInterval", self.start_interval),
                           ("Retries", self.retries)):
            if value:
                out[key] = value
        return out


@dataclass(frozen=True, kw_only=True)
class Onbuild(Instruction):
    NAME = "ONBUILD"
    expression: str                    # stored in the image config, run by child builds
    trigger: Instruction

    @property
    def cache_text(self) -> str:
        return self.expression


@dataclass(frozen=True, kw_only=True)
class Maintainer(Instruction):
    NAME = "MAINTAINER"
    maintainer: str


def _with_heredocs(text: str, heredocs: Sequence[Heredoc]) -> str:
    return text + "".join("\n" + h.content + h.name for h in heredocs)


# -- flags -----------------------------------------------------------------------------------

_STR, _BOOL, _MULTI = "string", "bool", "strings"
FLAGS: dict[str, dict[str, str]] = {
    "from": {"platform": _STR},
    "run": {"mount": _MULTI, "network": _STR, "security": _STR},
    "copy": {"from": _STR, "chown": _STR, "chmod": _STR, "link": _BOOL, "parents": _BOOL,
             "exclude": _MULTI},
    "add": {"chown": _STR, "chmod": _STR, "link": _BOOL, "keep-git-dir": _BOOL, "checksum": _STR,
            "exclude": _MULTI, "unpack": _BOOL},
    "healthcheck": {"interval": _STR, "timeout": _STR, "start-period": _STR, "start-interval": _STR,
                    "retries": _STR},
}


def parse_flags(instruction: str, flags: Sequence[str]) -> dict[str, Any]:
    """Check ``--name[=value]`` flags against what the instruction takes (BuildKit's BFlags)."""
    allowed = FLAGS.get(instruction, {})
    out: dict[str, Any] = {}
    for arg in flags:
        if not arg.startswith("--"):
            raise InstructionError(f"arg should start with -- : {arg}")
        if arg == "--":
            break
        name, eq, value = arg[2:].partition("=")
        kind = allowed.get(name)
        if kind is None:
            hint = _closest(name, allowed)
            raise InstructionError(f"unknown flag: {name}" + (f" (did you mean {hint}?)" if hint else ""))
        if name in out and kind != _MULTI:
            raise InstructionError(f"duplicate flag specified: {name}")
        if kind == _BOOL:
            if eq and value == "":
                raise InstructionError(f"missing a value on flag: {name}")
            if value.lower() in ("true", ""):
                out[name] = True
            elif value.lower() == "false":
                out[name] = False
            else:
                raise InstructionError(f"expecting boolean value for flag {name}, not: {value}")
        else:
            if not eq:
                raise InstructionError(f"missing a value on flag: {name}")
            if kind == _MULTI:
                out.setdefault(name, []).append(value)
            else:
                out[name] = value
    return out


def _closest(name: str, options: Sequence[str]) -> str:
    for option in options:
        if option.startswith(name) or name.startswith(option):
            return option
    return ""


# -- reading instructions from the parse tree ------------------------------------------------

_STAGE_NAME = re.compile(r"[a-z][a-z0-9\-_.]*\Z")
_ONBUILD_PREFIX = re.compile(r"^\s*ONBUILD\s*", re.IGNORECASE)


def check_signal(sig: str) -> None:
    """Docker's signal.ParseSignal: a number, or a name with or without SIG."""
    import signal  # its enums cost milliseconds to build; only STOPSIGNAL needs them
    if sig.isdigit():
        if 0 < int(sig) <= 64:
            return
        raise InstructionError(f"invalid signal: {sig}")
    name = sig.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    if name in signal.Signals.__members__ or re.fullmatch(r"SIGRTM(IN\+\d+|AX-\d+|IN|AX)", name):
        return
    raise InstructionError(f"invalid signal: {sig}")


def _one(args: list[str], what: str) -> str:
    if len(args) != 1:
        raise InstructionError(f"{what} requires exactly one argument")
    return args[0]


def _at_least_one(args: list[str], what: str) -> None:
    if not args:
        raise InstructionError(f"{what} requires at least one argument")


def _kvps(args: list[str], what: str) -> tuple[tuple[str, str], ...]:
    _at_least_one(args, what)
    if len(args) % 3:
        raise InstructionError(f"Bad input to {what}, too many arguments")
    pairs = []
    for i in range(0, len(args), 3):
        if not args[i]:
            raise InstructionError(f"{what} names can not be blank")
        pairs.append((args[i], args[i + 1]))
    return tuple(pairs)


def _json_args(node: Node, args: list[str]) -> tuple[str, ...]:
    """Exec form keeps the array; shell form is one string (its words joined by spaces)."""
    if not args:
        return ()
    if node.json:
        return tuple(args)
    return (" ".join(args),)


def _duration(flags: dict[str, Any], name: str) -> int:
    value = flags.get(name, "")
    if not value:
        return 0
    try:
        ns = go_duration(value)
    except ValueError as exc:
        raise InstructionError(f"--{name}: {exc}") from None
    if ns == 0:
        return 0
    if ns < MINIMUM_HEALTH_DURATION:
        raise InstructionError(f'Interval "{name}" cannot be less than 1ms')
    return ns


def _sources(node: Node, args: list[str], what: str, heredocs: Sequence[Heredoc]) -> dict[str, Any]:
    if len(args) < 2:
        raise InstructionError(f"{what} requires at least two arguments, but only one was provided. "
                               "Destination could not be determined")
    dest = args[-1]
    if dfparser.parse_heredoc(dest) is not None and heredocs:
        raise InstructionError(f"{what} cannot accept a heredoc as a destination")
    bodies = {h.name: h for h in heredocs}
    sources: list[str] = []
    inline: list[InlineSource] = []
    for src in args[:-1]:
        doc = dfparser.parse_heredoc(src) if heredocs else None
        if doc is not None:
            known = bodies.get(doc.name)
            data = known.body if known is not None else ""
            inline.append(InlineSource(doc.name, data, doc.expand))
        else:
            sources.append(src)
    return {"sources": tuple(sources), "dest": dest, "inline": tuple(inline)}


def _read(node: Node, heredocs: Sequence[Heredoc]) -> Instruction:
    cmd = node.value
    args = node.args
    flags = parse_flags(cmd, node.flags)
    base: dict[str, Any] = {"line": node.start_line, "end_line": node.end_line,
                            "original": node.original, "flags": tuple(node.flags)}
    if cmd == "from":
        if len(args) == 3 and args[1].lower() == "as":
            name = args[2].lower()
            if not _STAGE_NAME.match(name):
                raise InstructionError(f"invalid name for build stage: {dfparser.go_quote(args[2])}, "
                                       "name can't start with a number or contain symbols")
        elif len(args) == 1:
            name = None
        else:
            raise InstructionError("FROM requires either one or three arguments")
        return From(image=args[0], name=name, platform=flags.get("platform"), **base)
    if cmd == "run":
        mounts = []
        for i, spec in enumerate(flags.get("mount", [])):
            try:
                mounts.append(parse_mount(spec, None, i))
            except MountError as exc:
                raise InstructionError(f"--mount={spec}: {exc}") from None
        network = flags.get("network")
        if network is not None and network.lower() not in NETWORK_MODES:
            raise InstructionError(f"unsupported network mode {network!r}")
        security = flags.get("security")
        if security is not None and security.lower() not in SECURITY_MODES:
            raise InstructionError(f"unsupported security mode {security!r}")
        return Run(command=_json_args(node, args), shell_form=not node.json, mounts=tuple(mounts),
                   network=network.lower() if network else None,
                   security=security.lower() if security else None,
                   heredocs=tuple(heredocs), **base)
    if cmd in ("copy", "add"):
        fields = _sources(node, args, cmd.upper(), heredocs)
        common = dict(chown=flags.get("chown", ""), chmod=flags.get("chmod", ""),
                      link=flags.get("link", False), exclude=tuple(flags.get("exclude", ())))
        if cmd == "copy":
            return Copy(from_=flags.get("from", ""), parents=flags.get("parents", False),
                        **fields, **common, **base)
        return Add(checksum=flags.get("checksum", ""), keep_git_dir=flags.get("keep-git-dir", False),
                   unpack=flags.get("unpack"), **fields, **common, **base)
    if cmd == "env":
        return Env(pairs=_kvps(args, "ENV"), **base)
    if cmd == "label":
        return Label(pairs=_kvps(args, "LABEL"), **base)
    if cmd == "arg":
        _at_least_one(args, "ARG")
        pairs: list[tuple[str, str | None]] = []
        for a in args:
            key, eq, value = a.partition("=")
            if not key:
                raise InstructionError("ARG names can not be blank")
            pairs.append((key, value if eq else None))
        return Arg(args=tuple(pairs), **base)
    if cmd == "workdir":
        return Workdir(path=_one(args, "WORKDIR"), **base)
    if cmd == "user":
        return User(user=_one(args, "USER"), **base)
    if cmd == "maintainer":
        return Maintainer(maintainer=_one(args, "MAINTAINER"), **base)
    if cmd == "stopsignal":
        sig = _one(args, "STOPSIGNAL")
        if "$" not in sig:
            check_signal(sig)
        return StopSignal(signal=sig, **base)
    if cmd == "expose":
        _at_least_one(args, "EXPOSE")
        return Expose(ports=tuple(sorted(args)), **base)
    if cmd == "volume":
        _at_least_one(args, "VOLUME")
        paths = tuple(v.strip(GO_SPACE) for v in args)
        if any(not p for p in paths):
            raise InstructionError("VOLUME specified can not be an empty string")
        return Volume(paths=paths, **base)
    if cmd in ("cmd", "entrypoint"):
        cls = Cmd if cmd == "cmd" else Entrypoint
        return cls(command=_json_args(node, args), shell_form=not node.json, **base)
    if cmd == "shell":
        shell = _json_args(node, args)
        if not shell:
            raise InstructionError("SHELL requires at least one argument")
        if not node.json:
            raise InstructionError("SHELL requires the arguments to be in JSON form")
        return Shell(shell=shell, **base)
    if cmd == "healthcheck":
        return _healthcheck(node, args, flags, base)
    if cmd == "onbuild":
        return _onbuild(node, args, heredocs, base)
    raise InstructionError(f"unknown instruction: {cmd.upper()}")


def _healthcheck(node: Node, args: list[str], flags: dict[str, Any], base: dict[str, Any]) -> Healthcheck:
    if not args:
        raise InstructionError("HEALTHCHECK requires at least one argument")
    kind = args[0].upper()
    rest = args[1:]
    if kind == "NONE":
        if rest:
            raise InstructionError("HEALTHCHECK NONE takes no arguments")
        if flags:
            raise InstructionError("HEALTHCHECK NONE takes no flags")
        return Healthcheck(test=("NONE",), **base)
    if kind != "CMD":
        raise InstructionError(f"unknown type for healthcheck: {kind}")
    command = _json_args(node, rest)
    if not command:
        raise InstructionError("missing command after HEALTHCHECK CMD")
    test = (("CMD",) if node.json else ("CMD-SHELL",)) + command
    retries = 0
    if flags.get("retries"):
        try:
            retries = int(flags["retries"], 10)
        except ValueError:
            raise InstructionError(f"--retries: invalid number {flags['retries']!r}") from None
        if retries < 0:
            raise InstructionError(f"--retries cannot be negative ({retries})")
    return Healthcheck(test=test, interval=_duration(flags, "interval"), timeout=_duration(flags, "timeout"),
                       start_period=_duration(flags, "start-period"),
                       start_interval=_duration(flags, "start-interval"), retries=retries, **base)


def _onbuild(node: Node, args: list[str], heredocs: Sequence[Heredoc], base: dict[str, Any]) -> Onbuild:
    child = node.child
    if not args or child is None:
        raise InstructionError("ONBUILD requires at least one argument")
    trigger_name = child.value.upper()
    if trigger_name == "ONBUILD":
        raise InstructionError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger_name in ("MAINTAINER", "FROM"):
        raise InstructionError(f"{trigger_name} isn't allowed as an ONBUILD trigger")
    child.start_line, child.end_line = node.start_line, node.end_line
    trigger = _read(child, heredocs)
    expression = _ONBUILD_PREFIX.sub("", node.original, count=1)
    expression += "".join("\n" + h.content + h.name for h in heredocs)
    return Onbuild(expression=expression, trigger=trigger, **base)


def instruction_from_node(node: Node, filename: str = "Dockerfile") -> Instruction:
    try:
        return _read(node, node.heredocs)
    except InstructionError as exc:
        raise BuildError(f"{filename}:{node.start_line}: {exc}", line=node.start_line,
                         end_line=node.end_line, file=filename) from None


def instructions_from(result: dfparser.Result, filename: str = "Dockerfile") -> list[Instruction]:
    return [instruction_from_node(n, filename) for n in result.ast.children]


def parse_instruction(text: str, escape: str = "\\") -> Instruction:
    """One instruction from text: an ONBUILD trigger kept in an image config, or an
    ``import --change`` / ``commit -c`` value."""
    source = text if escape == "\\" else f"# escape={escape}\n{text}"
    result = dfparser.parse(source, filename="instruction")
    if len(result.ast.children) != 1:
        raise BuildError(f"expected one instruction, got {len(result.ast.children)}: {text!r}")
    return instruction_from_node(result.ast.children[0], filename="instruction")


def render_step(number: int, total: int, instruction: Instruction) -> str:
    """The line Docker's classic builder prints before running an instruction."""
    return f"Step {number}/{total} : {instruction.text}"
