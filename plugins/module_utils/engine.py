"""The facade: one Engine per root, the only place that wires the packages together.

Modules and the CLI build an ``Engine`` and call its services; nothing else is a public API.
Services are created on first use, so a command that only lists images never imports the
network stack or the HTTP client.

    engine = Engine()                    # BERTH_ROOT / BERTH_RUN or the defaults
    engine.images.list()
    engine.containers.run(spec)
"""
from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from .paths import Paths

if TYPE_CHECKING:  # pragma: no cover
    from .build.builder import Builder
    from .containers.service import ContainerService
    from .network.service import NetworkService
    from .registry.service import RegistryService
    from .runtime.service import Runtime
    from .store.content import ContentStore
    from .store.images import ImageStore
    from .store.snapshots import Snapshotter
    from .volumes import VolumeService


class Engine:
    def __init__(self, paths: Paths | None = None) -> None:
        self.paths = paths or Paths.from_env()

    # --- leaves -----------------------------------------------------------------------
    @cached_property
    def content(self) -> ContentStore:
        from .store.content import ContentStore
        return ContentStore(self.paths)

    @cached_property
    def snapshots(self) -> Snapshotter:
        from .store.snapshots import Snapshotter
        return Snapshotter(self.paths)

    @cached_property
    def images(self) -> ImageStore:
        from .store.images import ImageStore
        return ImageStore(self.paths, self.content, self.snapshots)

    @cached_property
    def registry(self) -> RegistryService:
        from .registry.service import RegistryService
        return RegistryService(self.paths, self.content, self.images)

    @cached_property
    def runtime(self) -> Runtime:
        from .runtime.service import Runtime
        return Runtime(self.paths)

    @cached_property
    def volumes(self) -> VolumeService:
        from .volumes import VolumeService
        return VolumeService(self.paths)

    @cached_property
    def networks(self) -> NetworkService:
        from .network import bridge
        from .network.service import NetworkService
        # Netlink work runs in the warm monitor server: importing pyroute2 here would cost
        # every `berth run` ~110 ms.
        return NetworkService(self.paths, links=self.runtime.in_server(bridge))

    # --- orchestrators: they reach the leaves through this engine ------------------------
    @cached_property
    def containers(self) -> ContainerService:
        from .containers.service import ContainerService
        return ContainerService(self)

    @cached_property
    def builder(self) -> Builder:
        from .build.builder import Builder
        return Builder(self)

    def system_df(self) -> dict[str, Any]:
        from .system import disk_usage
        return disk_usage(self)

    def system_prune(self, all_images: bool = False, volumes: bool = False) -> dict[str, Any]:
        from .system import prune
        return prune(self, all_images=all_images, volumes=volumes)
