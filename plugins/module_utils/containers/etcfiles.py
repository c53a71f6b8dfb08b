"""The /etc/hostname, /etc/hosts and /etc/resolv.conf that the engine writes for a container.

They live in root/containers/<id>/ and are bind-mounted over the image's files, so an image
whose /etc/hosts is a symlink or a FIFO never makes the engine write inside the rootfs.
"""
from __future__ import annotations

import os
from collections.abc import Iterable

HOSTS_BASE = ("127.0.0.1\tlocalhost\n"
              "::1\tlocalhost ip6-localhost ip6-loopback\n"
              "fe00::0\tip6-localnet\n"
              "ff00::0\tip6-mcastprefix\n"
              "ff02::1\tip6-allnodes\n"
              "ff02::2\tip6-allrouters\n")
FALLBACK_NAMESERVERS = ("8.8.8.8", "8.8.4.4")


def hosts_file(hostname: str, ips: Iterable[str] = (), extra_hosts: Iterable[str] = (),
               aliases: Iterable[str] = (), host_gateway: str | None = None) -> str:
    lines = [HOSTS_BASE]
    for entry in extra_hosts:
        name, _, ip = entry.partition(":")
        if ip == "host-gateway":
            if not host_gateway:
                continue
            ip = host_gateway
        lines.append(f"{ip}\t{name}\n")
    names = " ".join(dict.fromkeys([hostname, *aliases]))
    for ip in ips:
        lines.append(f"{ip}\t{names}\n")
    return "".join(lines)


def _is_local(ns: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(ns.split("%")[0]).is_loopback
    except ValueError:
        return False


def resolv_conf(host_text: str, dns: Iterable[str] = (), search: Iterable[str] = (),
                options: Iterable[str] = (), keep_local: bool = False) -> str:
    """The host's resolv.conf as Docker adapts it: loopback servers dropped (they would be the
    container's own loopback), Google's public servers when nothing is left, overrides applied."""
    servers: list[str] = []
    searches: list[str] = []
    opts: list[str] = []
    for raw in host_text.splitlines():
        parts = raw.split("#", 1)[0].split()
        if not parts:
            continue
        if parts[0] == "nameserver" and len(parts) > 1:
            servers.append(parts[1])
        elif parts[0] in ("search", "domain"):
            searches = parts[1:]
        elif parts[0] == "options":
            opts.extend(parts[1:])
    if not keep_local:
        servers = [s for s in servers if not _is_local(s)]
    dns, search, options = list(dns), list(search), list(options)
    if dns:
        servers = dns
    if not servers:
        servers = list(FALLBACK_NAMESERVERS)
    if search:
        searches = [] if search == ["."] else search
    if options:
        opts = options
    out = [f"nameserver {s}\n" for s in servers]
    if searches:
        out.append("search " + " ".join(searches) + "\n")
    if opts:
        out.append("options " + " ".join(opts) + "\n")
    return "".join(out)


def host_resolv_conf() -> str:
    for path in ("/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"):
        try:
            with open(path) as f:
                return f.read(65536)
        except OSError:
            continue
    return ""


def host_hosts() -> str:
    try:
        with open("/etc/hosts") as f:
            return f.read(1 << 20)
    except OSError:
        return HOSTS_BASE


def write_in_place(path: str | os.PathLike[str], text: str) -> None:
    """Overwrite a file keeping its inode (bind-mounted into a running container)."""
    fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        data = text.encode()
        view = memoryview(data)
        offset = 0
        while offset < len(data):
            offset += os.pwrite(fd, view[offset:], offset)
        os.ftruncate(fd, len(data))
    finally:
        os.close(fd)
