"""Random two-word container names ("steady_harbor"), from berth's own harbour-themed lists."""
from __future__ import annotations

import secrets
from collections.abc import Callable

ADJECTIVES = (
    "amber", "ample", "brave", "brisk", "bright", "calm", "candid", "clever", "coastal", "cosy",
    "crisp", "daring", "deft", "eager", "early", "easy", "fair", "fleet", "fond", "frank",
    "gentle", "glad", "golden", "grand", "hardy", "hearty", "honest", "humble", "jolly", "keen",
    "kind", "lively", "loyal", "lucid", "mellow", "merry", "mighty", "modest", "nimble", "noble",
    "patient", "plucky", "polite", "proud", "quick", "quiet", "rapid", "ready", "robust", "rosy",
    "salty", "serene", "sharp", "silver", "snug", "sober", "solid", "sound", "spry", "stable",
    "steady", "stout", "sturdy", "sunny", "swift", "tidal", "tidy", "trusty", "upbeat", "valiant",
    "vivid", "warm", "wary", "wise", "witty", "zesty",
)

NOUNS = (
    "anchor", "atoll", "ballast", "barge", "beacon", "bollard", "bosun", "bow", "breaker", "buoy",
    "cabin", "capstan", "cargo", "channel", "compass", "coral", "cove", "crane", "current", "cutter",
    "davit", "deck", "dinghy", "dock", "dory", "drifter", "estuary", "ferry", "fjord", "galley",
    "gull", "halyard", "harbor", "hatch", "haven", "helm", "hull", "inlet", "jetty", "keel",
    "ketch", "lagoon", "lantern", "launch", "ledger", "lighthouse", "mast", "mooring", "narrows",
    "oar", "otter", "pelican", "pier", "pilot", "porthole", "quay", "rudder", "sail", "schooner",
    "seal", "shoal", "skiff", "sloop", "sounding", "spinnaker", "starboard", "tern", "tide",
    "tiller", "trawler", "tugboat", "wake", "wharf", "winch", "yawl",
)


def random_name(taken: Callable[[str], bool] = lambda _: False, attempts: int = 20) -> str:
    """A free name: two words, then with a digit suffix once the plain pairs keep colliding."""
    for i in range(attempts):
        name = f"{secrets.choice(ADJECTIVES)}_{secrets.choice(NOUNS)}"
        if i >= 3:
            name += str(secrets.randbelow(10 ** min(i, 6)))
        if not taken(name):
            return name
    return f"{secrets.choice(ADJECTIVES)}_{secrets.choice(NOUNS)}{secrets.token_hex(4)}"
