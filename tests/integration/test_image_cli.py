"""The image verbs of the berth command, with docker's output shapes."""
from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from ansible_collections.berth.engine.plugins.module_utils.cli.base import Context
from ansible_collections.berth.engine.plugins.module_utils.cli.main import main

pytestmark = pytest.mark.root
BERTH = [sys.executable, "-c", "import sys; from ansible_collections.berth.engine.plugins.module_utils.cli.main "
         "import main; sys.exit(main())"]


def run(paths, *argv, stdin: str = ""):
    out, err = io.StringIO(), io.StringIO()
    ctx = Context(root=str(paths.root), run=str(paths.run), stdout=out, stderr=err, stdin=io.StringIO(stdin))
    code = main(list(argv), ctx)
    return code, out.getvalue(), err.getvalue()


def sh(paths, *argv, input: bytes | None = None):
    env = dict(os.environ, BERTH_ROOT=str(paths.root), BERTH_RUN=str(paths.run))
    return subprocess.run(BERTH + list(argv), input=input, capture_output=True, env=env)


def test_import_images_tag_history_inspect(paths, busybox_tar):
    code, out, _ = run(paths, "import", "-c", 'CMD ["/bin/sh"]', "-m", "hello", str(busybox_tar), "bb:1")
    assert code == 0 and out.startswith("sha256:") and len(out.strip()) == 71
    image_id = out.strip()
    assert run(paths, "tag", "bb:1", "localhost:5000/team/bb")[0] == 0
    code, out, _ = run(paths, "images")
    lines = out.splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert lines[1].split()[:3] == ["bb", "1", image_id[7:19]]
    assert lines[2].split()[:3] == ["localhost:5000/team/bb", "latest", image_id[7:19]]
    assert run(paths, "images", "-q")[1] == image_id[7:19] + "\n"
    assert run(paths, "images", "--format", "{{.Repository}}:{{.Tag}}", "bb")[1] == "bb:1\n"
    assert run(paths, "images", "--filter", "reference=localhost*/*/*", "--format", "{{.Tag}}")[1] == "latest\n"
    assert run(paths, "images", "--no-trunc", "-q")[1] == image_id + "\n"
    code, out, _ = run(paths, "history", "bb:1")
    assert out.splitlines()[0].split() == ["IMAGE", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"]
    assert image_id[7:19] in out and "hello" in out
    assert run(paths, "image", "inspect", "-f", "{{.Config.Cmd}} {{.Comment}}", "bb:1")[1] == "[/bin/sh] \n"
    code, out, err = run(paths, "image", "inspect", "bb:1", "nope")
    assert code == 1 and '"Id": "' + image_id in out and "No such image: nope" in err
    code, out, err = run(paths, "inspect", "--type", "image", "-f", "{{.Id}}", image_id[7:19])
    assert out == image_id + "\n"


def test_save_load_rmi_prune(paths, busybox_tar, tmp_path):
    image_id = run(paths, "import", str(busybox_tar), "bb:1")[1].strip()
    assert run(paths, "save", "-o", str(tmp_path / "x.tar"), "bb:1")[0] == 0
    code, out, _ = run(paths, "rmi", "bb:1")
    assert out.splitlines()[0] == "Untagged: bb:1" and out.splitlines()[1] == f"Deleted: {image_id}"
    code, out, err = run(paths, "rmi", "bb:1")
    assert code == 1 and "No such image: bb:1" in err
    assert run(paths, "load", "-i", str(tmp_path / "x.tar"))[1] == "Loaded image: bb:1\n"
    # piped, as people use it: save | load into another store
    saved = sh(paths, "save", "bb:1")
    assert saved.returncode == 0 and saved.stdout[:512].rstrip(b"\0").startswith(b"blobs/")
    other = type(paths)(tmp_path / "other-root", tmp_path / "other-run")
    loaded = sh(other, "load", input=saved.stdout)
    assert loaded.stdout == b"Loaded image: bb:1\n", loaded.stderr
    assert sh(other, "images", "-q", "--no-trunc").stdout.decode().strip() == image_id
    # import from stdin, untagged, then prune it
    piped = sh(paths, "import", "-", input=(busybox_tar.read_bytes()))
    assert piped.returncode == 0
    code, out, _ = run(paths, "image", "prune", "-f")
    assert code == 0 and out.startswith("Total reclaimed space:")   # same id as bb:1: nothing dangling
    run(paths, "import", "-c", "ENV X=1", str(busybox_tar))
    code, out, _ = run(paths, "image", "prune", stdin="y\n")
    assert "Deleted Images:" in out and "deleted: sha256:" in out and "Total reclaimed space:" in out
    code, out, _ = run(paths, "system", "df")
    assert out.splitlines()[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert out.splitlines()[1].split()[:3] == ["Images", "1", "0"]


def test_errors_read_like_docker(paths, tmp_path):
    code, _, err = run(paths, "import", str(tmp_path / "missing.tar"))
    assert code == 125 and "no such file or directory" in err
    code, _, err = run(paths, "images", "--filter", "colour=red")
    assert code == 125 and "invalid filter 'colour'" in err
    code, _, err = run(paths, "tag", "nothing", "x")
    assert code == 125 and "No such image: nothing" in err
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"not an archive" * 100)
    code, _, err = run(paths, "load", "-i", str(bad))
    assert code == 125 and err.startswith("Error: ")
    for verb in (["images"], ["import"], ["save"], ["load"], ["tag"], ["rmi"], ["history"], ["image", "prune"],
                 ["image", "inspect"], ["system", "df"]):
        r = sh(paths, *verb, "--help")
        assert r.returncode == 0 and b"usage:" in r.stdout.lower(), verb


def test_import_from_url(paths, busybox_tar):
    import functools
    import http.server
    import threading
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(busybox_tar.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.RequestHandlerClass.log_message = lambda *a: None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{busybox_tar.name}"
        code, out, err = run(paths, "import", url, "fromurl:1")
        assert code == 0, err
        code, hist, _ = run(paths, "history", "--format", "{{.Comment}}", "fromurl:1")
        assert hist == f"Imported from {url}\n"
        code, _, err = run(paths, "import", url + ".missing")
        assert code == 125 and "404" in err
    finally:
        server.shutdown()
        server.server_close()
