import pytest
from ansible_collections.berth.engine.plugins.module_utils import reference
from ansible_collections.berth.engine.plugins.module_utils.errors import InvalidSpec


@pytest.mark.parametrize("given, full, familiar", [
    ("alpine", "docker.io/library/alpine:latest", "alpine:latest"),
    ("alpine:3.19", "docker.io/library/alpine:3.19", "alpine:3.19"),
    ("library/alpine", "docker.io/library/alpine:latest", "alpine:latest"),
    ("index.docker.io/library/alpine", "docker.io/library/alpine:latest", "alpine:latest"),
    ("user/app:v1", "docker.io/user/app:v1", "user/app:v1"),
    ("localhost:5000/a/b:tag", "localhost:5000/a/b:tag", "localhost:5000/a/b:tag"),
    ("localhost/app", "localhost/app:latest", "localhost/app:latest"),
    ("quay.io/org/app", "quay.io/org/app:latest", "quay.io/org/app:latest"),
    ("[::1]:5000/app:1", "[::1]:5000/app:1", "[::1]:5000/app:1"),
    ("a" * 3 + "@sha256:" + "a" * 64, "docker.io/library/aaa@sha256:" + "a" * 64, "aaa@sha256:" + "a" * 64),
    ("reg:5000/x:t@sha256:" + "b" * 64, "reg:5000/x:t@sha256:" + "b" * 64, "reg:5000/x:t@sha256:" + "b" * 64),
    ("my_app.name-x__y", "docker.io/library/my_app.name-x__y:latest", "my_app.name-x__y:latest"),
])
def test_normalises_like_docker(given, full, familiar):
    ref = reference.parse(given)
    assert str(ref) == full
    assert ref.familiar == familiar


@pytest.mark.parametrize("bad", [
    "", "Alpine", "alpine:", ":tag", "a//b", "a/b/", "-a", "a@sha256:abc", "a@md5:" + "0" * 32,
    "a:" + "t" * 129, "a" * 64 + "b" * 0, "b" * 64, "a b", "a/../b",
    "a@sha256:" + "A" * 64, "host:notaport/x",
])
def test_rejects_bad_references(bad):
    with pytest.raises(InvalidSpec):
        reference.parse(bad)


def test_uppercase_registry_host_is_a_domain():
    ref = reference.parse("Example.COM/app")
    assert ref.domain == "Example.COM" and ref.path == "app"


def test_no_default_tag_for_repository_and_digest():
    assert reference.parse_repository("alpine").tag is None
    assert reference.parse("alpine@sha256:" + "c" * 64).tag is None


def test_registry_host_for_docker_hub():
    assert reference.parse("alpine").registry_host == "registry-1.docker.io"
    assert reference.parse("localhost:5000/x").registry_host == "localhost:5000"
