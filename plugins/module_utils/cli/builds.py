"""`berth build` and `berth builder prune`: thin over engine.builder, with the classic output."""
from __future__ import annotations

import argparse
import io
import os
from typing import Any, BinaryIO

from ..errors import BuildError, InvalidSpec
from .base import Command, Context

_ARCHIVE_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")


def _pairs(values: list[str], flag: str, from_env: bool = False) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in values:
        key, sep, value = v.partition("=")
        if not key:
            raise InvalidSpec(f"invalid {flag} {v!r}: expected key=value", field=flag, value=v)
        if not sep and from_env:
            # docker: `--build-arg NAME` takes NAME's value from the environment, if set
            if key in os.environ:
                out[key] = os.environ[key]
            continue
        out[key] = value
    return out


def _is_tar(head: bytes) -> bool:
    if any(head.startswith(m) for m in _ARCHIVE_MAGIC):
        return True
    return len(head) >= 263 and head[257:262] == b"ustar"


def _stdin_bytes(ctx: Context) -> BinaryIO:
    stream = getattr(ctx.stdin, "buffer", ctx.stdin)
    return stream  # type: ignore[return-value]


# --- build ----------------------------------------------------------------------------------

def _configure_build(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", metavar="PATH | -")
    p.add_argument("-t", "--tag", action="append", default=[], help="Name and optionally a tag in the "
                   "'name:tag' format")
    p.add_argument("-f", "--file", help="Name of the Dockerfile (Default is 'PATH/Dockerfile')")
    p.add_argument("--build-arg", action="append", default=[], help="Set build-time variables")
    p.add_argument("--target", help="Set the target build stage to build.")
    p.add_argument("--no-cache", action="store_true", help="Do not use cache when building the image")
    p.add_argument("--pull", action="store_true", help="Always attempt to pull a newer version of the image")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress the build output and print image "
                   "ID on success")
    p.add_argument("--network", default="default", help="Set the networking mode for the RUN instructions "
                   "during build (default \"default\")")
    p.add_argument("--label", action="append", default=[], help="Set metadata for an image")
    p.add_argument("--rm", default="true", nargs="?", const="true",
                   help="Remove intermediate containers after a successful build (always)")
    p.add_argument("--force-rm", action="store_true", help="Always remove intermediate containers (always)")
    p.add_argument("--iidfile", help="Write the image ID to the file")
    p.add_argument("--progress", default="auto", help="Set type of progress output (auto, plain, tty)")


def cmd_build(ctx: Context, args: argparse.Namespace) -> int:
    if args.path.startswith(("http://", "https://", "git@", "git://")):
        raise InvalidSpec(f"unable to prepare context: remote contexts are not supported: {args.path}",
                          field="path", value=args.path)
    kwargs: dict[str, Any] = {
        "tags": args.tag, "build_args": _pairs(args.build_arg, "build-arg", from_env=True),
        "target": args.target, "no_cache": args.no_cache, "pull": args.pull, "network": args.network,
        "labels": _pairs(args.label, "label"), "dockerfile": args.file,
    }
    context: str | None = args.path
    if args.path == "-":
        if args.file == "-":
            raise InvalidSpec("invalid argument: can't use stdin for both build context and dockerfile",
                              field="file", value="-")
        data = _stdin_bytes(ctx).read()
        context = None
        if _is_tar(data[:512]):
            kwargs["context_tar"] = io.BytesIO(data)
        else:
            kwargs["dockerfile_text"] = data.decode("utf-8", "surrogateescape")
            kwargs["dockerfile"] = None
    elif args.file == "-":
        kwargs["dockerfile_text"] = _stdin_bytes(ctx).read().decode("utf-8", "surrogateescape")
        kwargs["dockerfile"] = None

    def progress(line: str) -> None:
        ctx.out(line)
        ctx.flush()

    try:
        result = ctx.engine.builder.build(context, progress=None if args.quiet else progress, **kwargs)
    except BuildError as exc:
        ctx.flush()
        if exc.details.get("exit_code") is not None:
            ctx.err(str(exc))
        else:
            ctx.err(f"Error: {exc}")
        return 1
    if args.iidfile:
        from ..fsutil import atomic_write
        atomic_write(args.iidfile, result.image_id, durable=False)
    if args.quiet:
        ctx.out(result.image_id)
    return 0


# --- builder prune --------------------------------------------------------------------------

def _configure_prune(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true", help="Remove all unused build cache, not just "
                   "dangling ones")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")


def cmd_prune(ctx: Context, args: argparse.Namespace) -> int:
    from .output import confirm, human_size, print_deleted
    if not args.force:
        what = "all build cache" if args.all else "all dangling build cache"
        if not confirm(ctx, f"WARNING! This will remove {what}."):
            return 0
    res = ctx.engine.builder.prune(all=args.all)
    print_deleted(ctx, "Deleted build cache objects:", res.get("CachesDeleted"))
    ctx.out(f"Total reclaimed space: {human_size(int(res.get('SpaceReclaimed') or 0))}")
    return 0


COMMANDS = {
    "build": Command("Build an image from a Dockerfile", _configure_build, cmd_build,
                     usage="berth build [OPTIONS] PATH | -"),
    "builder prune": Command("Remove build cache", _configure_prune, cmd_prune),
}

__all__ = ["COMMANDS"]
