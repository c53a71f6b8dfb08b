import io

from ansible_collections.berth.engine.plugins.module_utils.cli.base import Context
from ansible_collections.berth.engine.plugins.module_utils.cli.registries import (
    ProgressRenderer,
    human_size,
    progress_line,
)


def test_human_size_like_docker():
    assert human_size(345) == "345B"
    assert human_size(12_345) == "12.35kB"
    assert human_size(1_200_000) == "1.2MB"
    assert human_size(3_400_000_000) == "3.4GB"


def test_progress_line_bar():
    line = progress_line({"id": "a1b2c3d4e5f6", "status": "Downloading", "current": 1_200_000, "total": 3_400_000})
    assert line.startswith("a1b2c3d4e5f6: Downloading [")
    bar = line[line.index("[") + 1:line.index("]")]
    assert len(bar) == 50 and bar.startswith("=" * 16 + ">") and bar.endswith(" ")
    assert line.endswith("1.2MB/3.4MB")
    assert progress_line({"id": "x", "status": "Pull complete"}) == "x: Pull complete"
    assert progress_line({"status": "Digest: sha256:ab"}) == "Digest: sha256:ab"


def _ctx():
    out = io.StringIO()
    return Context(stdout=out, stderr=io.StringIO()), out


def test_piped_renderer_keeps_only_lines_without_an_id():
    ctx, out = _ctx()
    r = ProgressRenderer(ctx)
    r({"id": "1", "status": "Pulling from app"})
    r({"id": "abc", "status": "Downloading", "current": 1, "total": 2})
    r({"status": "Digest: sha256:x"})
    r({"status": "reg/app:1", "final": True})
    assert out.getvalue() == "Digest: sha256:x\nreg/app:1\n"


def test_quiet_renderer_prints_the_final_line_only():
    ctx, out = _ctx()
    r = ProgressRenderer(ctx, quiet=True)
    r({"status": "Digest: sha256:x"})
    r({"status": "reg/app:1", "final": True})
    assert out.getvalue() == "reg/app:1\n"


def test_terminal_renderer_redraws_lines_in_place():
    ctx, out = _ctx()
    r = ProgressRenderer(ctx)
    r.tty = True
    r({"id": "aaa", "status": "Pulling fs layer"})
    r({"id": "bbb", "status": "Pulling fs layer"})
    r({"id": "aaa", "status": "Pull complete"})
    text = out.getvalue()
    assert text.startswith("aaa: Pulling fs layer\nbbb: Pulling fs layer\n")
    assert "\x1b[2A\r\x1b[2Kaaa: Pull complete\r\x1b[2B" in text
