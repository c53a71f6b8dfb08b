"""`berth volume ...` through the CLI's dispatch, on a temporary root (plain folders only)."""
from __future__ import annotations

import io
import json

from ansible_collections.berth.engine.plugins.module_utils.cli.base import Context
from ansible_collections.berth.engine.plugins.module_utils.cli.main import main


def berth(paths, *argv: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    ctx = Context(root=str(paths.root), run=str(paths.run), stdout=out, stderr=err, stdin=io.StringIO(stdin))
    return main(list(argv), ctx), out.getvalue(), err.getvalue()


def test_volume_verbs(paths):
    assert berth(paths, "volume", "create", "--label", "app=db", "data")[1] == "data\n"
    code, out, _ = berth(paths, "volume", "create")
    anon = out.strip()
    assert code == 0 and len(anon) == 64
    code, out, _ = berth(paths, "volume", "ls")
    assert out.splitlines()[0].split() == ["DRIVER", "VOLUME", "NAME"]
    assert sorted(line.split()[1] for line in out.splitlines()[1:]) == sorted([anon, "data"])
    assert berth(paths, "volume", "ls", "-q", "-f", "label=app=db")[1] == "data\n"
    assert berth(paths, "volume", "ls", "--format", "{{.Name}}:{{.Label \"app\"}}", "-f", "name=dat")[1] == "data:db\n"
    data = json.loads(berth(paths, "volume", "inspect", "data")[1])
    assert data[0]["Name"] == "data" and data[0]["Labels"] == {"app": "db"}
    assert berth(paths, "volume", "inspect", "-f", "{{.Driver}}", "data")[1] == "local\n"
    code, _, err = berth(paths, "volume", "create", "-o", "colour=red", "bad")
    assert code == 125 and "invalid option key" in err
    code, out, err = berth(paths, "volume", "rm", "data", "ghost")
    assert code == 1 and out == "data\n" and "get ghost: no such volume" in err
    code, out, _ = berth(paths, "volume", "prune", "-f")
    assert out == "Total reclaimed space: 0B\n"            # a `volume create` volume is not anonymous
    code, out, _ = berth(paths, "volume", "prune", "-f", "-a")
    assert out.startswith(f"Deleted Volumes:\n{anon}\n\nTotal reclaimed space:")
    assert berth(paths, "volume", "ls", "-q")[1] == ""
