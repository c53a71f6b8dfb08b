"""Where berth keeps things.

Persistent state lives under one root (BERTH_ROOT, default /var/lib/berth) and runtime state
under BERTH_RUN (default /run/berth). Every component takes a ``Paths`` and builds nothing
from strings of its own, so a test can point the whole engine at temporary folders.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ROOT = "/var/lib/berth"
DEFAULT_RUN = "/run/berth"


@dataclass(frozen=True)
class Paths:
    root: Path
    run: Path

    @classmethod
    def from_env(cls, root: str | os.PathLike[str] | None = None,
                 run: str | os.PathLike[str] | None = None) -> Paths:
        root = root or os.environ.get("BERTH_ROOT") or DEFAULT_ROOT
        run = run or os.environ.get("BERTH_RUN") or DEFAULT_RUN
        return cls(Path(root).absolute(), Path(run).absolute())

    # persistent
    @property
    def content(self) -> Path:
        return self.root / "content"

    @property
    def blobs(self) -> Path:
        return self.content / "blobs" / "sha256"

    @property
    def ingest(self) -> Path:
        return self.content / "ingest"

    @property
    def snapshots(self) -> Path:
        return self.root / "snapshots"

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def containers(self) -> Path:
        return self.root / "containers"

    @property
    def volumes(self) -> Path:
        return self.root / "volumes"

    @property
    def networks(self) -> Path:
        return self.root / "networks"

    @property
    def buildcache(self) -> Path:
        return self.root / "buildcache"

    @property
    def engine_copies(self) -> Path:
        """Stable copies of the engine that long-lived processes run from."""
        return self.root / "engine"

    @property
    def config_file(self) -> Path:
        return self.root / "config.json"

    @property
    def tmp(self) -> Path:
        """Scratch space on the same filesystem as the store, so renames are atomic."""
        return self.root / "tmp"

    # runtime
    @property
    def locks(self) -> Path:
        return self.run / "locks"

    @property
    def run_containers(self) -> Path:
        return self.run / "containers"

    @property
    def netns(self) -> Path:
        return self.run / "netns"

    @property
    def run_networks(self) -> Path:
        """Network state that lives as long as the kernel's: endpoints, published ports."""
        return self.run / "networks"

    @property
    def run_volumes(self) -> Path:
        """Who uses which volume now (mounted volumes are unmounted when unused)."""
        return self.run / "volumes"

    def lock(self, name: str) -> Path:
        return self.locks / f"{name}.lock"
