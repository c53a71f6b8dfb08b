"""`berth network ...` through the CLI's dispatch, on a temporary root."""
from __future__ import annotations

import io
import json

import pytest
from ansible_collections.berth.engine.plugins.module_utils.cli.base import Context
from ansible_collections.berth.engine.plugins.module_utils.cli.main import main
from ansible_collections.berth.engine.plugins.module_utils.cli.networks import until_epoch

from ..fixtures.network import Lab, open_lab

pytestmark = pytest.mark.root


@pytest.fixture
def lab(paths):
    yield from open_lab(paths)


def berth(paths, *argv: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    ctx = Context(root=str(paths.root), run=str(paths.run), stdout=out, stderr=err, stdin=io.StringIO(stdin))
    code = main(list(argv), ctx)
    return code, out.getvalue(), err.getvalue()


def test_network_verbs(lab, paths):
    subnet = Lab.subnet()
    code, out, _ = berth(paths, "network", "create", "--subnet", subnet, "--label", "tier=web", "webnet")
    assert code == 0 and len(out.strip()) == 64
    nid = out.strip()
    lab.networks.append(nid)
    lab.links.add(f"br-{nid[:12]}")

    code, out, _ = berth(paths, "network", "ls")
    lines = out.splitlines()
    assert lines[0].split() == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
    rows = [line.split() for line in lines[1:]]
    assert [r[1:] for r in rows] == [["bridge", "bridge", "local"], ["host", "host", "local"],
                                     ["none", "null", "local"], ["webnet", "bridge", "local"]]
    assert rows[3][0] == nid[:12]

    code, out, _ = berth(paths, "network", "ls", "--filter", "type=custom", "--format", "{{.Name}} {{.Label \"tier\"}}")
    assert out == "webnet web\n"
    code, out, _ = berth(paths, "network", "ls", "-q", "--no-trunc", "-f", "label=tier=web")
    assert out.strip() == nid

    code, out, _ = berth(paths, "network", "inspect", "webnet")
    data = json.loads(out)
    assert data[0]["Id"] == nid and data[0]["IPAM"]["Config"][0]["Subnet"] == subnet
    code, out, _ = berth(paths, "network", "inspect", "-f", "{{.Driver}} {{.Internal}}", nid[:8])
    assert out == "bridge false\n"

    code, _, err = berth(paths, "network", "create", "webnet")
    assert code == 125 and "network with name webnet already exists" in err
    code, _, err = berth(paths, "network", "create", "--subnet", "10.0.0.1/8", "bad")
    assert code == 125 and "did you mean 10.0.0.0/8" in err
    code, _, err = berth(paths, "network", "rm", "host")
    assert code == 1 and "pre-defined network" in err
    code, out, err = berth(paths, "network", "rm", "-f", "nosuchnet")
    assert (code, out) == (0, "")

    code, out, _ = berth(paths, "network", "prune", stdin="n\n")
    assert "WARNING!" in out and "Deleted" not in out
    code, out, _ = berth(paths, "network", "prune", "-f")
    assert out == "Deleted Networks:\nwebnet\n"
    code, out, _ = berth(paths, "network", "ls", "-q")
    assert len(out.splitlines()) == 3


def test_until_accepts_durations_and_times():
    assert until_epoch("1h30m", now=10_000) == 10_000 - 5400
    assert until_epoch("1700000000") == 1_700_000_000
    assert until_epoch("2024-01-02T03:04:05Z") == 1704164645
    with pytest.raises(Exception, match="until"):
        until_epoch("yesterday")
