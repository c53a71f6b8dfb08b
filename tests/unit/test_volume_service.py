"""Volumes as plain folders (no mounts): records, names, filters, removal, prune and ensure."""
import os

import pytest
from ansible_collections.berth.engine.plugins.module_utils.errors import Conflict, InvalidSpec, NotFound
from ansible_collections.berth.engine.plugins.module_utils.volumes import VolumeService, VolumeSpec
from ansible_collections.berth.engine.plugins.module_utils.volumes.model import (
    MS_BIND,
    MS_NOEXEC,
    MS_RDONLY,
    MS_REC,
    check_name,
    parse_o,
)
from ansible_collections.berth.engine.plugins.module_utils.volumes.usage import volume_users


@pytest.fixture
def vols(paths):
    return VolumeService(paths)


@pytest.mark.parametrize("name", ["a", "-x", "x/y", "../up", "a b", "", "é"])
def test_bad_names_are_refused_before_any_path(name):
    with pytest.raises(InvalidSpec, match="invalid volume name"):
        check_name(name)


@pytest.mark.parametrize("opts, message", [
    ({"colour": "red"}, "invalid option key"),
    ({"device": "/dev/sdb1"}, "missing required option: type"),
    ({"type": "ext4"}, "missing required option: device"),
    ({"type": "none", "device": "relative/dir", "o": "bind"}, "absolute host path"),
])
def test_driver_options_are_checked(opts, message):
    with pytest.raises(InvalidSpec, match=message) as exc:
        VolumeSpec(options=opts)
    assert exc.value.details["field"] == "driver_options"


def test_mount_option_words():
    flags, data = parse_o("bind,ro,noexec,size=10m,uid=1000")
    assert flags == MS_BIND | MS_RDONLY | MS_NOEXEC and data == ["size=10m", "uid=1000"]
    assert parse_o("rbind,ro,rw")[0] == MS_BIND | MS_REC
    assert VolumeSpec(options={"type": "tmpfs"}).mounted and not VolumeSpec().mounted
    with pytest.raises(InvalidSpec, match="driver"):
        VolumeSpec(driver="nfs-plugin")


def test_create_inspect_and_idempotent_create(vols, paths):
    data = vols.create("data", labels={"app": "db"})
    assert data == {"CreatedAt": data["CreatedAt"], "Driver": "local", "Labels": {"app": "db"},
                    "Mountpoint": str(paths.volumes / "data" / "_data"), "Name": "data", "Options": {},
                    "Scope": "local"}
    assert data["CreatedAt"].endswith("Z") and os.path.isdir(data["Mountpoint"])
    assert vols.create("data", labels={"app": "db"}) == data
    with pytest.raises(Conflict, match="already exists with other options"):
        vols.create("data", labels={"app": "web"})
    with pytest.raises(NotFound, match="get nope: no such volume"):
        vols.inspect("nope")
    assert not list(paths.tmp.iterdir())          # nothing staged was left behind


def test_anonymous_volumes_and_prune(vols):
    anon = vols.create(anonymous=True)
    assert len(anon["Name"]) == 64 and anon["Labels"] == {"com.docker.volume.anonymous": ""}
    unnamed = vols.create()                       # `volume create` with no name: not anonymous
    assert unnamed["Labels"] == {}
    vols.create("keep")
    used = vols.create(anonymous=True)["Name"]
    (vols.data_dir(anon["Name"]) / "f").write_bytes(b"x" * 10000)
    result = vols.prune(in_use={used})
    assert result["VolumesDeleted"] == [anon["Name"]] and result["SpaceReclaimed"] >= 10000
    result = vols.prune(in_use={used}, all=True, filters={"label": []})
    assert sorted(result["VolumesDeleted"]) == sorted([unnamed["Name"], "keep"])
    assert vols.names() == [used]


def test_remove_refuses_a_volume_in_use_with_dockers_message(vols):
    vols.create("busy")
    with pytest.raises(Conflict) as exc:
        vols.remove("busy", in_use={"busy": ["c0ffee", "beef"]})
    assert str(exc.value) == "remove busy: volume is in use - [c0ffee, beef]"
    with pytest.raises(Conflict):
        vols.remove("busy", force=True, in_use={"busy"})
    vols.remove("busy")
    with pytest.raises(NotFound):
        vols.remove("busy")
    vols.remove("busy", force=True)               # -f: a missing volume is no error


def test_list_filters(vols):
    vols.create("alpha", labels={"env": "prod"})
    vols.create("beta", labels={"env": "dev", "team": ""})
    names = lambda **f: [v["Name"] for v in vols.list(f, in_use={"alpha"})]  # noqa: E731
    assert names() == ["alpha", "beta"]
    assert names(name=["alp"]) == ["alpha"]
    assert names(label=["env=dev"]) == ["beta"]
    assert names(label=["team"]) == ["beta"]
    assert names(dangling=["true"]) == ["beta"]
    assert names(dangling=["false"]) == ["alpha"]
    assert names(driver=["local"]) == ["alpha", "beta"]
    with pytest.raises(InvalidSpec, match="invalid filter"):
        vols.list({"colour": ["red"]})


def test_ensure_plans_then_applies(vols, paths):
    spec = VolumeSpec(labels={"v": "1"})
    change = vols.ensure("app", spec, apply=False)
    assert change.changed and change.before is None and change.after["Labels"] == {"v": "1"}
    assert not vols.exists("app") and not paths.volumes.exists()      # check mode touches nothing
    change = vols.ensure("app", spec)
    assert change.changed and vols.exists("app")
    assert not vols.ensure("app", spec).changed
    (vols.data_dir("app") / "precious").write_text("data")
    other = VolumeSpec(labels={"v": "2"})
    assert not vols.ensure("app", other, recreate="never").changed
    change = vols.ensure("app", other, apply=False, recreate="options-changed")
    assert change.changed and change.actions == ("remove volume app", "create volume app")
    assert (vols.data_dir("app") / "precious").exists()
    with pytest.raises(Conflict, match="in use"):
        vols.ensure("app", other, recreate="options-changed", in_use={"app": ["c1"]})
    change = vols.ensure("app", other, recreate="options-changed")
    assert change.changed and change.after["Labels"] == {"v": "2"}
    assert not (vols.data_dir("app") / "precious").exists()
    assert vols.ensure("app", other, recreate="always").changed
    with pytest.raises(InvalidSpec, match="recreate"):
        vols.ensure("app", other, recreate="sometimes")
    assert vols.ensure("app", None, apply=False).changed and vols.exists("app")
    with pytest.raises(Conflict):
        vols.ensure("app", None, in_use={"app": ["c1"]})
    assert vols.ensure("app", None).changed and not vols.exists("app")
    assert not vols.ensure("app", None).changed


def test_mount_of_a_plain_volume_is_a_bind(vols):
    vols.create("plain")
    m = vols.mount("plain", user="c1", target="/data")
    assert (m.type, m.source, m.target, m.options) == ("bind", str(vols.data_dir("plain")), "/data", ("rbind",))
    vols.release("plain", "c1")


def test_volume_users_without_a_container_service():
    class NoContainers:
        @property
        def containers(self):
            raise ImportError("containers not installed")
    assert volume_users(NoContainers()) == {}


def test_volume_json_is_dockers_inspect_shape(vols):
    import json
    vols.create("shaped", labels={"a": "b"}, opts={"type": "tmpfs"})
    on_disk = json.loads((vols.dir("shaped") / "volume.json").read_text())
    assert {k: on_disk[k] for k in ("Name", "Driver", "Labels", "Options", "Scope", "Mountpoint")} == {
        "Name": "shaped", "Driver": "local", "Labels": {"a": "b"}, "Options": {"type": "tmpfs"},
        "Scope": "local", "Mountpoint": str(vols.data_dir("shaped"))}
    assert on_disk["Anonymous"] is False and on_disk["Used"] is False
