"""The one error hierarchy of the engine.

The library raises these; only ``_ansible.py`` and the CLI report them. Each error carries a
message for people and ``details`` for machines (the offending field, value, line...).
The CLI maps ``exit_code`` to its process status, as docker does: 125 for berth's own
errors, 126 when a command cannot be invoked, 127 when it cannot be found.
"""
from __future__ import annotations

from typing import Any


class BerthError(Exception):
    exit_code = 125

    def __init__(self, msg: str, **details: Any) -> None:
        super().__init__(msg)
        self.msg = msg
        self.details = details

    def __str__(self) -> str:
        return self.msg


class InvalidSpec(BerthError):
    """Bad user input: names the field and the value."""


class NotFound(BerthError):
    """No such image, container, volume, network, blob..."""


class Conflict(BerthError):
    """The request clashes with existing state (name in use, image in use...)."""


class IntegrityError(BerthError):
    """Content does not match its digest, or the store is damaged."""


class LimitExceeded(InvalidSpec):
    """Hostile or absurd sizes: manifests, headers, entry counts, uncompressed bytes."""


class UnsafeContent(BerthError):
    """A layer or archive tried to escape its target (traversal, links)."""


class RegistryError(BerthError):
    """A registry said no, or could not be reached."""

    def __init__(self, msg: str, status: int | None = None, **details: Any) -> None:
        super().__init__(msg, status=status, **details)
        self.status = status


class Unauthorized(RegistryError):
    pass


class RuntimeFailure(BerthError):
    """The kernel or the container process refused."""


class CommandNotInvokable(RuntimeFailure):
    exit_code = 126


class CommandNotFound(RuntimeFailure):
    exit_code = 127


class NetworkError(BerthError):
    pass


class BuildError(BerthError):
    """A Dockerfile or a build step failed; ``line`` is the Dockerfile line when known."""

    def __init__(self, msg: str, line: int | None = None, **details: Any) -> None:
        super().__init__(msg, line=line, **details)
        self.line = line


class ClusterError(BerthError):
    pass


class MissingDependency(BerthError):
    """An optional library or host tool is not installed."""


def require(module: str, purpose: str) -> Any:
    """Import an optional library, or explain what is missing and why it is needed."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(
            f"the Python package {module!r} is needed for {purpose}; install it on this host",
            module=module,
        ) from exc
