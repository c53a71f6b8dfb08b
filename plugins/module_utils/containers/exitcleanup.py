"""The command a container's monitor runs after the final exit (RunOptions.on_exit).

It releases the network endpoints, unmounts the rootfs, and removes ``--rm`` containers with
their anonymous volumes. It runs from the same engine tree as the monitor (the stable copy
under root/engine when there is one), never from a folder an Ansible run may delete.
"""
from __future__ import annotations

import sys

from ..paths import Paths

_PACKAGE = __name__.rsplit(".", 1)[0]


def command(paths: Paths, cid: str) -> list[str]:
    from ..runtime import install

    # The monitor outlives the command that started it: run from the engine's stable copy.
    _digest, base = install.ensure_engine_copy(paths)
    root = str(base)
    # Most often the command that ran the container has removed it already: then this costs
    # one interpreter start and a stat, not the engine's imports.
    code = (f"import os, sys\nif os.path.exists(os.path.join(sys.argv[1], 'containers', sys.argv[3], "
            f"'config.json')):\n sys.path[:0] = [{root!r}]\n sys.path.extend({install.site_paths()!r})\n from {_PACKAGE}.exitcleanup import main; main()")
    return [sys.executable, "-s", "-S", "-c", code, str(paths.root), str(paths.run), cid]


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 3:
        raise SystemExit("usage: exitcleanup ROOT RUN CONTAINER_ID")
    from ..engine import Engine

    Engine(Paths.from_env(args[0], args[1])).containers.exit_cleanup(args[2])


if __name__ == "__main__":  # pragma: no cover
    main()
