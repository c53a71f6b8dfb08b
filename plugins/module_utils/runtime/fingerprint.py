"""A cheap stand-in for the engine's content hash: a digest of its files' names and stat data.

Shared by install.py (which maps it to the content hash in run/engine-hashes) and the berth
command's fast path (cli/fastpath.py), which must not import anything heavier than os to
find out whether the monitor server runs the checkout's current code.
"""
from __future__ import annotations

import os

try:  # the builtin module: hashlib would load OpenSSL (~2 ms) for the same digest
    from _sha256 import sha256
except ImportError:  # pragma: no cover - interpreters built without it
    from hashlib import sha256

SKIP_DIRS = ("__pycache__",)


def fingerprint(root: str, skip_top: tuple[str, ...] = ()) -> str:
    """Digest of every .py file's path, inode, size and mtime below ``root``."""
    h = sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        top = dirpath == root
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not (top and d in skip_top))
        for name in sorted(filenames):
            if name.endswith(".py"):
                st = os.stat(os.path.join(dirpath, name))
                h.update(f"{dirpath}/{name}\0{st.st_ino}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:32]
