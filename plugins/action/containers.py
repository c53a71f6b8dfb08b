"""Runs berth.engine.containers with the engine installed once per host (plugin_utils/engine_action.py)."""
from __future__ import annotations

from ansible_collections.berth.engine.plugins.plugin_utils.engine_action import EngineAction


class ActionModule(EngineAction):
    pass
