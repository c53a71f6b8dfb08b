"""Named and anonymous volumes of the ``local`` driver (see service.py)."""
from __future__ import annotations

from .model import VolumeRecord, VolumeSpec
from .service import VolumeService

__all__ = ["VolumeRecord", "VolumeService", "VolumeSpec"]
