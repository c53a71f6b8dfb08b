"""Foreign (non-distributable) layers: fetched from their own URLs with no credentials, skipped on push."""
import hashlib
import http.server
import json
import threading

import pytest
import requests

from tests.fixtures.registry import USERS, RegistryServer, docker_config, make_layer  # noqa: F401

pytestmark = [pytest.mark.root, pytest.mark.peers]
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


@pytest.fixture
def foreign_host():
    """A plain web server on another loopback address, as a vendor's CDN would be."""
    state = {"blobs": {}, "seen": []}

    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):  # noqa: N802
            state["seen"].append((self.path, self.headers.get("Authorization")))
            body = state["blobs"].get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

    srv = http.server.ThreadingHTTPServer(("127.0.0.2", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    state["url"] = f"http://127.0.0.2:{srv.server_address[1]}"
    yield state
    srv.shutdown()
    srv.server_close()


def test_foreign_layer_pull_and_push(tmp_path, engine, foreign_host, docker_config):  # noqa: F811
    reg = RegistryServer(tmp_path / "registry", auth="htpasswd", users=USERS,
                         allow_urls=r"^http://127\.0\.0\.2").start()
    try:
        s = requests.Session()
        s.auth = ("alice", USERS["alice"])
        base_blob, base_diff = make_layer({"Windows/system.dll": b"\x4d\x5a" + b"\0" * 5000})
        top_blob, top_diff = make_layer({"app/run.txt": b"ours\n"})
        base_digest = "sha256:" + hashlib.sha256(base_blob).hexdigest()
        foreign_host["blobs"][f"/layers/{base_digest[7:]}"] = base_blob
        top_digest = reg.put_blob("vendor/app", top_blob, session=s)
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": [base_diff, top_diff]}}).encode()
        config_digest = reg.put_blob("vendor/app", config, session=s)
        manifest = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
                               "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                                          "digest": config_digest, "size": len(config)},
                               "layers": [{"mediaType": DOCKER_FOREIGN, "digest": base_digest, "size": len(base_blob),
                                           "urls": [f"{foreign_host['url']}/layers/{base_digest[7:]}"]},
                                          {"mediaType": DOCKER_LAYER, "digest": top_digest,
                                           "size": len(top_blob)}]}).encode()
        reg.put_manifest("vendor/app", "1", manifest, DOCKER_MANIFEST, session=s)

        engine.registry.login(reg.host, "alice", USERS["alice"])
        rec = engine.registry.pull(f"{reg.host}/vendor/app:1")
        assert rec.id == config_digest
        assert engine.content.read(base_digest) == base_blob
        # the foreign host was asked, and never saw the registry's credentials
        assert foreign_host["seen"] == [(f"/layers/{base_digest[7:]}", None)]

        engine.images.tag(f"{reg.host}/vendor/app:1", f"{reg.host}/vendor/copy:1")
        seen = []
        engine.registry.push(f"{reg.host}/vendor/copy:1", progress=seen.append)
        assert {"id": base_digest[7:19], "status": "Skipped foreign layer"} in seen
        r = s.head(f"{reg.url}/v2/vendor/copy/blobs/{base_digest}")
        assert r.status_code == 404            # not uploaded, as Docker does
    finally:
        reg.stop()
