"""Pure parts of the store: chain ids, manifests and configs, tar headers, paths, changes, times."""
from __future__ import annotations

import hashlib
import io
import json
import tarfile

import pytest
from ansible_collections.berth.engine.plugins.module_utils.errors import (
    InvalidSpec,
    LimitExceeded,
    UnsafeContent,
)
from ansible_collections.berth.engine.plugins.module_utils.store import oci
from ansible_collections.berth.engine.plugins.module_utils.store.changes import apply_changes
from ansible_collections.berth.engine.plugins.module_utils.store.imageview import until_epoch
from ansible_collections.berth.engine.plugins.module_utils.store.layerdiff import tar_header
from ansible_collections.berth.engine.plugins.module_utils.store.layers import split_path
from ansible_collections.berth.engine.plugins.module_utils.store.snapshots import chain_ids
from ansible_collections.berth.engine.plugins.module_utils.store.tarstream import (
    DecompressedStream,
    Limits,
    TarReader,
    compression_of,
)


def test_chain_ids_follow_the_oci_definition():
    a, b, c = ("sha256:" + ch * 64 for ch in "abc")
    ab = "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()
    abc = "sha256:" + hashlib.sha256(f"{ab} {c}".encode()).hexdigest()
    assert chain_ids([a, b, c]) == [a, ab, abc]
    assert chain_ids([]) == []
    with pytest.raises(InvalidSpec):
        chain_ids(["md5:x"])


def test_config_bytes_use_oci_field_order_and_go_escaping():
    cfg = {"rootfs": {"diff_ids": [], "type": "layers"}, "os": "linux", "config": {"Labels": {"b": "1", "a": "<&>"},
           "Cmd": ["sh"], "User": "u"}, "architecture": "amd64", "created": "2026-01-01T00:00:00Z",
           "history": [{"comment": "c", "created": "x"}]}
    out = oci.config_bytes(cfg).decode()
    assert out == ('{"created":"2026-01-01T00:00:00Z","architecture":"amd64","os":"linux","config":{"User":"u",'
                   '"Cmd":["sh"],"Labels":{"a":"\\u003c\\u0026\\u003e","b":"1"}},"rootfs":{"type":"layers",'
                   '"diff_ids":[]},"history":[{"created":"x","comment":"c"}]}')
    assert json.loads(out)["config"]["Labels"]["a"] == "<&>"


def test_parse_manifest_checks():
    good = {"schemaVersion": 2, "mediaType": oci.OCI_MANIFEST,
            "config": {"digest": "sha256:" + "a" * 64, "size": 1}, "layers": [{"digest": "sha256:" + "b" * 64,
                                                                              "size": 3}]}
    assert oci.parse_manifest(json.dumps(good).encode())["layers"][0]["size"] == 3
    with pytest.raises(InvalidSpec, match="index"):
        oci.parse_manifest(json.dumps({"schemaVersion": 2, "manifests": []}).encode())
    with pytest.raises(InvalidSpec, match="layers\\[0\\].digest"):
        oci.parse_manifest(json.dumps(dict(good, layers=[{"digest": "sha256:../x", "size": 1}])).encode())
    with pytest.raises(LimitExceeded):
        oci.parse_manifest(b" " * 100, Limits(max_manifest=10))
    with pytest.raises(InvalidSpec, match="not valid JSON"):
        oci.parse_manifest(b"{")


def test_times():
    assert oci.rfc3339(0) == "1970-01-01T00:00:00Z"
    assert oci.rfc3339(1.5) == "1970-01-01T00:00:01.5Z"
    assert oci.parse_time("2026-11-23T14:34:13.123456789Z") == pytest.approx(1795444453.123456789)
    assert oci.parse_time("2026-11-23T16:34:13+02:00") == 1795444453.0
    assert oci.parse_time("garbage") == 0.0
    assert until_epoch("24h", now=100_000) == 100_000 - 86400
    assert until_epoch("1h30m", now=10_000) == 10_000 - 5400
    assert until_epoch("1700000000") == 1700000000.0
    with pytest.raises(InvalidSpec, match="until"):
        until_epoch("soon")


def test_split_path():
    assert split_path(b"./a//b/./c") == (b"a", b"b", b"c")
    assert split_path(b"./") == ()
    for bad in (b"/etc/passwd", b"a/../../b", b".."):
        with pytest.raises(UnsafeContent):
            split_path(bad)
    with pytest.raises(LimitExceeded):
        split_path(b"x" * 256)


def test_compression_magic():
    assert compression_of(b"\x1f\x8b\x08") == "gzip"
    assert compression_of(b"\x28\xb5\x2f\xfd") == "zstd"
    assert compression_of(b"\xfd7zXZ\x00") == "xz"
    assert compression_of(b"BZh9") == "bzip2"
    assert compression_of(b"etc/\0\0") == "none"


def _entries(data: bytes):
    stream = DecompressedStream(io.BytesIO(data), threaded=False)
    return [(e.path, e.type, e.size, e.uid, e.mtime_ns, e.linkname) for e in TarReader(stream)], stream.diff_id()


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_tar_reader_reads_every_format(fmt):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        long = "d" * 90 + "/" + "n" * 90
        for name, data in (("a", b"1"), (long, b"22")):
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime, ti.uid = len(data), 1234, 7
            tf.addfile(ti, io.BytesIO(data))
        ti = tarfile.TarInfo("l")
        ti.type, ti.linkname = tarfile.SYMTYPE, "t" * 120 if fmt != tarfile.USTAR_FORMAT else "t"
        tf.addfile(ti)
    entries, diff_id = _entries(buf.getvalue())
    assert [e[0] for e in entries] == [b"a", long.encode(), b"l"]
    assert entries[1][2] == 2 and entries[0][3] == 7 and entries[0][4] == 1234 * 10**9
    assert diff_id == "sha256:" + hashlib.sha256(buf.getvalue()).hexdigest()


def test_tar_header_writer_round_trips_through_tarfile():
    data = tar_header("é/" .encode() + b"x" * 120, b"0", 0o4755, 3_000_000, 5, 0, 1700000000,
                      xattrs=[("user.k", b"\x00\xffbin")]) + b"\0" * 1024
    members = tarfile.open(fileobj=io.BytesIO(data)).getmembers()
    m = members[0]
    assert m.name == "é/" + "x" * 120 and m.uid == 3_000_000 and m.mode == 0o4755
    entries, _ = _entries(data)
    assert entries[0][0] == "é/".encode() + b"x" * 120


def test_bad_checksum_is_refused():
    buf = bytearray(tar_header(b"a", b"0", 0o644, 0, 0, 0, 0) + b"\0" * 1024)
    buf[10] ^= 0x55
    with pytest.raises(InvalidSpec, match="checksum"):
        _entries(bytes(buf))


def test_changes():
    cfg = apply_changes({"Env": ["A=0"]}, ['CMD ["/bin/sh", "-c"]', "ENV A=1 B=\"two words\"", "EXPOSE 80 53/udp",
                                           "LABEL x=y", "VOLUME /data", "USER 1000:1000", "WORKDIR /app",
                                           "STOPSIGNAL SIGINT", "ONBUILD RUN make", "ENTRYPOINT echo hi"])
    assert cfg["Env"] == ["A=1", "B=two words"]
    assert cfg["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert cfg["Entrypoint"] == ["/bin/sh", "-c", "echo hi"] and cfg["Cmd"] is None
    assert cfg["User"] == "1000:1000" and cfg["OnBuild"] == ["RUN make"] and cfg["StopSignal"] == "SIGINT"
    with pytest.raises(InvalidSpec, match="RUN is not a valid change command"):
        apply_changes({}, ["RUN rm -rf /"])
    with pytest.raises(InvalidSpec):
        apply_changes({}, ["EXPOSE http"])
