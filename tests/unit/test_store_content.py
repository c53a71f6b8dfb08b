"""ContentStore: verified, atomic, resumable blob writes (plain files in a temp folder)."""
from __future__ import annotations

import hashlib
import os
import time

import pytest
from ansible_collections.berth.engine.plugins.module_utils.errors import (
    Conflict,
    IntegrityError,
    InvalidSpec,
    LimitExceeded,
    NotFound,
)
from ansible_collections.berth.engine.plugins.module_utils.paths import Paths
from ansible_collections.berth.engine.plugins.module_utils.store import content as content_mod
from ansible_collections.berth.engine.plugins.module_utils.store.content import ContentStore


@pytest.fixture
def store(tmp_path):
    return ContentStore(Paths(tmp_path / "root", tmp_path / "run"))


def _d(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_put_read_list_delete(store):
    d = store.put(b"hello")
    assert d == _d(b"hello") and store.has(d) and store.size(d) == 5
    assert store.read(d) == b"hello" and store.put(b"hello") == d
    assert list(store.list()) == [(d, 5)]
    with pytest.raises(LimitExceeded):
        store.read(d, limit=4)
    store.delete(d)
    assert not store.has(d)
    with pytest.raises(NotFound):
        store.open(d)


def test_put_refuses_wrong_digest_and_bad_digests(store):
    with pytest.raises(IntegrityError):
        store.put(b"x", expected=_d(b"y"))
    with pytest.raises(InvalidSpec):
        store.has("sha256:../../etc/passwd")
    assert list(store.list()) == []


def test_ingest_resumes_after_interruption(store):
    data = os.urandom(300_000)
    digest = _d(data)
    w = store.ingest(digest, expected=digest, size=len(data))
    w.write(data[:100_000])
    w.close()                        # the download was cut
    assert not store.has(digest)
    w = store.ingest(digest, expected=digest, size=len(data))
    assert w.offset == 100_000       # resume from here (an HTTP Range request)
    w.write(data[100_000:])
    assert w.commit() == digest and store.read(digest) == data
    assert not any(store.paths.ingest.iterdir())


def test_ingest_mismatch_leaves_nothing(store):
    data = b"a" * 1000
    w = store.ingest("k", expected=_d(b"other"), size=1000)
    w.write(data)
    with pytest.raises(IntegrityError):
        w.commit()
    assert list(store.list()) == [] and not any(store.paths.ingest.iterdir())
    w = store.ingest("k2", size=10)
    with pytest.raises(IntegrityError):
        w.write(b"x" * 11)
    w.abort()
    with pytest.raises(IntegrityError):
        with store.ingest("k3", size=10) as w3:
            w3.write(b"short")
            w3.commit()


def test_concurrent_writer_of_same_key_is_refused(store):
    w = store.ingest("same")
    with pytest.raises(Conflict):
        store.ingest("same")
    w.abort()


def test_stale_temp_files_are_cleaned(store, monkeypatch):
    store.put(b"first")
    stale = store.paths.blobs / ".put-crashed"
    stale.write_bytes(b"partial")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    fresh = ContentStore(store.paths)
    monkeypatch.setattr(content_mod, "STALE_TEMP", 60)
    fresh.put(b"second")
    assert not stale.exists()
