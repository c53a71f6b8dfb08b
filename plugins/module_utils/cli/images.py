"""`berth images`, `image inspect`, `import`, `save`, `load`, `tag`, `rmi`, `image prune`, `history`.

Thin over engine.images, printing what docker prints.
"""
from __future__ import annotations

import argparse
import fnmatch
import os
import sys
from typing import Any

from ..errors import BerthError, InvalidSpec
from .base import Command, Context, add_format_option

IMAGES_FORMAT = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
IMAGES_DIGESTS_FORMAT = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
IMAGE_HEADERS = {"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "Digest": "DIGEST",
                 "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
                 "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE", "VirtualSize": "VIRTUAL SIZE",
                 "Containers": "CONTAINERS"}
HISTORY_FORMAT = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
HISTORY_HEADERS = {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
                   "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"}
IMAGE_FILTERS = ("dangling", "label", "reference", "before", "since")


def _out() -> Any:
    from . import output
    return output


def parse_filters(values: list[str], allowed: tuple[str, ...]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for v in values:
        key, sep, value = v.partition("=")
        if not sep:
            raise InvalidSpec(f"bad format of filter (expected name=value): {v}", field="filter", value=v)
        key = key.strip().lower()
        if key not in allowed:
            raise InvalidSpec(f"invalid filter '{key}'", field="filter", value=key)
        out.setdefault(key, []).append(value)
    return out


def _bool_filter(values: list[str], name: str) -> bool:
    v = values[-1].lower()
    if v in ("true", "1"):
        return True
    if v in ("false", "0"):
        return False
    raise InvalidSpec(f"invalid filter '{name}={values[-1]}'", field="filter", value=values[-1])


def _split_ref(full: str) -> tuple[str, str]:
    """(familiar repository, tag or digest) of a normalised name."""
    from ..store.images import familiar
    fam = familiar(full)
    if "@" in fam:
        repo, digest = fam.split("@", 1)
        return repo, digest
    repo, _, tag = fam.rpartition(":")
    if "/" in tag:   # a port, not a tag
        return fam, "<none>"
    return repo, tag


# --- images ---------------------------------------------------------------------------------

def _configure_images(p: argparse.ArgumentParser) -> None:
    p.add_argument("repository", nargs="?", metavar="REPOSITORY[:TAG]")
    p.add_argument("-a", "--all", action="store_true", help="Show all images (default hides intermediate images)")
    p.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
    p.add_argument("--digests", action="store_true", help="Show digests")
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("-f", "--filter", action="append", default=[], help="Filter output based on conditions provided")
    p.add_argument("--format", help="Format output using a custom template: 'table', 'table TEMPLATE', "
                                    "'json', or a Go template")


def image_rows(ctx: Context, args: argparse.Namespace) -> list[dict[str, Any]]:
    from ..store import oci
    out = _out()
    filters = parse_filters(args.filter, IMAGE_FILTERS)
    images = ctx.engine.images.list()
    parents = {r.parent for r in images if r.parent}
    if "before" in filters or "since" in filters:
        def created(ref: str) -> float:
            return oci.parse_time(ctx.engine.images.get(ref).created)
        before = min((created(v) for v in filters.get("before", [])), default=None)
        since = max((created(v) for v in filters.get("since", [])), default=None)
    else:
        before = since = None
    rows = []
    for rec in images:
        dangling = not rec.repo_tags
        if "dangling" in filters and _bool_filter(filters["dangling"], "dangling") != dangling:
            continue
        if not args.all and dangling and rec.id in parents and "dangling" not in filters:
            continue
        t = oci.parse_time(rec.created)
        if before is not None and t >= before:
            continue
        if since is not None and t <= since:
            continue
        labels = (rec.config.get("config") or {}).get("Labels") or {}
        if not all(_label_match(labels, want) for want in filters.get("label", [])):
            continue
        pairs = [_split_ref(tag) for tag in rec.repo_tags]
        digests = [_split_ref(d) for d in rec.repo_digests]
        if not pairs:
            pairs = [(repo, "<none>") for repo, _ in digests] or [("<none>", "<none>")]
            pairs = list(dict.fromkeys(pairs))
        for repo, tag in pairs:
            if args.repository and not _repo_match(args.repository, repo, tag):
                continue
            if filters.get("reference") and not any(_reference_match(p, repo, tag)
                                                     for p in filters["reference"]):
                continue
            digest = next((d for r, d in digests if r == repo), "<none>")
            image_id = rec.id if args.no_trunc else out.short_id(rec.id)
            rows.append({
                "Repository": repo, "Tag": tag, "ID": image_id, "Digest": digest,
                "CreatedSince": out.since(t) if t else "N/A", "CreatedAt": _created_at(t),
                "Size": out.human_size(rec.size), "VirtualSize": out.human_size(rec.size),
                "SharedSize": "N/A", "UniqueSize": "N/A", "Containers": "N/A",
                "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
            })
    return rows


def _created_at(t: float) -> str:
    import time as _t
    if not t:
        return ""
    return _t.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", _t.gmtime(t))


def _label_match(labels: dict[str, str], want: str) -> bool:
    k, eq, v = want.partition("=")
    return k in labels and (not eq or labels[k] == v)


def _repo_match(arg: str, repo: str, tag: str) -> bool:
    from .. import reference
    try:
        r = reference.parse(arg, default_tag=False)
    except BerthError:
        return False
    want_repo = r.familiar_name
    return repo == want_repo and (r.tag is None or r.tag == tag)


def _reference_match(pattern: str, repo: str, tag: str) -> bool:
    if repo == "<none>":
        return False
    if ":" in pattern.rsplit("/", 1)[-1]:
        return fnmatch.fnmatchcase(f"{repo}:{tag}", pattern)
    return fnmatch.fnmatchcase(repo, pattern)


def cmd_images(ctx: Context, args: argparse.Namespace) -> int:
    rows = image_rows(ctx, args)
    out = _out()
    if args.quiet:
        seen: set[str] = set()
        rows = [r for r in rows if not (r["ID"] in seen or seen.add(r["ID"]))]  # type: ignore[func-returns-value]
    out.print_list(ctx, rows, args.format, IMAGES_DIGESTS_FORMAT if args.digests else IMAGES_FORMAT,
                   IMAGE_HEADERS, quiet=args.quiet, quiet_field="ID")
    return 0


# --- inspect --------------------------------------------------------------------------------

def _configure_inspect(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", nargs="+", metavar="IMAGE")
    add_format_option(p)


def cmd_inspect(ctx: Context, args: argparse.Namespace) -> int:
    from ..errors import NotFound
    objs, missing = [], []
    for ref in args.images:
        try:
            objs.append(ctx.engine.images.inspect(ref))
        except NotFound:
            missing.append(ref)
    _out().print_inspect(ctx, objs, args.format)
    for ref in missing:
        ctx.err(f"Error: No such image: {ref}")
    return 1 if missing else 0


# --- import, save, load ---------------------------------------------------------------------

def _configure_import(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="file|URL|-")
    p.add_argument("repository", nargs="?", metavar="REPOSITORY[:TAG]")
    p.add_argument("-c", "--change", action="append", default=[], help="Apply Dockerfile instruction to the created image")
    p.add_argument("-m", "--message", default="", help="Set commit message for imported image")
    p.add_argument("--platform", help="Set platform if server is multi-platform capable")


def cmd_import(ctx: Context, args: argparse.Namespace) -> int:
    from ..store.archive import open_source
    stdin = getattr(ctx.stdin, "buffer", None) if args.source == "-" else None
    f, name = open_source(args.source, stdin)
    try:
        rec = ctx.engine.images.import_rootfs(f, changes=args.change, message=args.message,
                                              names=[args.repository] if args.repository else [],
                                              source=name, platform=args.platform)
    finally:
        if f is not stdin and hasattr(f, "close"):
            f.close()
    ctx.out(rec.id)
    return 0


def _configure_save(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("-o", "--output", help="Write to a file, instead of STDOUT")


def cmd_save(ctx: Context, args: argparse.Namespace) -> int:
    if args.output:
        ctx.engine.images.save(args.images, args.output)
        return 0
    if ctx.interactive:
        raise InvalidSpec("cowardly refusing to save to a terminal. Use the -o flag or redirect",
                          field="output")
    ctx.flush()
    stream = getattr(ctx.stdout, "buffer", None) or sys.stdout.buffer
    ctx.engine.images.save(args.images, stream)
    stream.flush()
    return 0


def _configure_load(p: argparse.ArgumentParser) -> None:
    p.add_argument("-i", "--input", help="Read from tar archive file, instead of STDIN")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress the load output")


def cmd_load(ctx: Context, args: argparse.Namespace) -> int:
    progress = None
    if ctx.interactive and not args.quiet:
        def progress(msg: str) -> None:
            ctx.stdout.write("\r\x1b[2K" + msg)
            ctx.flush()
    if args.input:
        messages = ctx.engine.images.load(args.input, progress)
    else:
        stdin = getattr(ctx.stdin, "buffer", ctx.stdin)
        try:
            if os.isatty(stdin.fileno()):
                raise InvalidSpec("requested load from stdin, but stdin is empty", field="input")
        except (AttributeError, OSError, ValueError):
            pass
        messages = ctx.engine.images.load(stdin, progress)
    if progress is not None:
        ctx.stdout.write("\r\x1b[2K")
    for m in messages:
        ctx.out(m)
    return 0


# --- tag, rmi, prune ------------------------------------------------------------------------

def _configure_tag(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="SOURCE_IMAGE[:TAG]")
    p.add_argument("target", metavar="TARGET_IMAGE[:TAG]")


def cmd_tag(ctx: Context, args: argparse.Namespace) -> int:
    ctx.engine.images.tag(args.source, args.target)
    return 0


def _in_use(ctx: Context) -> dict[str, list[str]]:
    from ..system import images_in_use
    return images_in_use(ctx.engine)


def _configure_rmi(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("-f", "--force", action="store_true", help="Force removal of the image")
    p.add_argument("--no-prune", action="store_true", help="Do not delete untagged parents")


def _print_deletions(ctx: Context, items: list[dict[str, str]], lower: bool = False) -> None:
    for item in items:
        for k, v in item.items():
            ctx.out(f"{k.lower() if lower else k}: {v}")


def cmd_rmi(ctx: Context, args: argparse.Namespace) -> int:
    users = _in_use(ctx)
    failed = False
    for ref in args.images:
        try:
            _print_deletions(ctx, ctx.engine.images.remove(ref, force=args.force, in_use_ids=users,
                                                               prune_parents=not args.no_prune))
        except BerthError as exc:
            ctx.flush()
            ctx.err(f"Error: {exc}")
            failed = True
    return 1 if failed else 0


def _configure_prune(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true", help="Remove all unused images, not just dangling ones")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.add_argument("--filter", action="append", default=[], help="Provide filter values (e.g. 'until=<timestamp>')")


def cmd_prune(ctx: Context, args: argparse.Namespace) -> int:
    filters = parse_filters(args.filter, ("until", "label", "label!"))
    if not args.force:
        warning = ("WARNING! This will remove all images without at least one container associated to them."
                   if args.all else "WARNING! This will remove all dangling images.")
        if not _out().confirm(ctx, warning):
            return 0
    res = ctx.engine.images.prune(all=args.all, in_use_ids=_in_use(ctx), filters=filters)
    if res["ImagesDeleted"]:
        ctx.out("Deleted Images:")
        _print_deletions(ctx, res["ImagesDeleted"], lower=True)
        ctx.out("")
    ctx.out(f"Total reclaimed space: {_out().human_size(res['SpaceReclaimed'])}")
    return 0


# --- history --------------------------------------------------------------------------------

def _configure_history(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("-H", "--human", default="true", nargs="?", const="true",
                   help="Print sizes and dates in human readable format (default true)")
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
    p.add_argument("--format", help="Format output using a custom template")


def _truncate(s: str, n: int) -> str:
    return s if len(s) <= n else s[:n - 1] + "…"


def cmd_history(ctx: Context, args: argparse.Namespace) -> int:
    out = _out()
    human = str(args.human).lower() not in ("false", "0")
    rows = []
    for h in ctx.engine.images.history(args.image):
        hid = h["Id"]
        if hid != "<missing>" and not args.no_trunc:
            hid = out.short_id(hid)
        created_by = h["CreatedBy"].replace("\t", " ")
        if not args.no_trunc:
            created_by = _truncate(created_by, 45)
        rows.append({
            "ID": hid,
            "CreatedSince": (out.since(h["Created"]) if h["Created"] else "N/A") if human
            else out.format_time(h["Created"]),
            "CreatedAt": out.format_time(h["Created"]) if h["Created"] else "",
            "CreatedBy": created_by,
            "Size": out.human_size(h["Size"]) if human else str(h["Size"]),
            "Comment": h["Comment"],
        })
    out.print_list(ctx, rows, args.format, HISTORY_FORMAT, HISTORY_HEADERS, quiet=args.quiet, quiet_field="ID")
    return 0


COMMANDS = {
    "images": Command("List images", _configure_images, cmd_images, "berth images [OPTIONS] [REPOSITORY[:TAG]]"),
    "image inspect": Command("Display detailed information on one or more images", _configure_inspect,
                             cmd_inspect, "berth image inspect [OPTIONS] IMAGE [IMAGE...]"),
    "import": Command("Import the contents from a tarball to create a filesystem image", _configure_import,
                      cmd_import, "berth import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]"),
    "save": Command("Save one or more images to a tar archive (streamed to STDOUT by default)",
                    _configure_save, cmd_save, "berth save [OPTIONS] IMAGE [IMAGE...]"),
    "load": Command("Load an image from a tar archive or STDIN", _configure_load, cmd_load,
                    "berth load [OPTIONS]"),
    "tag": Command("Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", _configure_tag, cmd_tag,
                   "berth tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]"),
    "rmi": Command("Remove one or more images", _configure_rmi, cmd_rmi, "berth rmi [OPTIONS] IMAGE [IMAGE...]"),
    "image prune": Command("Remove unused images", _configure_prune, cmd_prune, "berth image prune [OPTIONS]"),
    "history": Command("Show the history of an image", _configure_history, cmd_history,
                       "berth history [OPTIONS] IMAGE"),
}
