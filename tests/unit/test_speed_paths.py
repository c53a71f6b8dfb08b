"""The pieces that keep `berth run --rm` fast: seccomp filters built once per profile, the
engine copy's hash found by a stat walk, and removals finished after the command answered."""
from __future__ import annotations

import os
import time

import pytest
from ansible_collections.berth.engine.plugins.module_utils import fsutil
from ansible_collections.berth.engine.plugins.module_utils.paths import Paths
from ansible_collections.berth.engine.plugins.module_utils.runtime import install, seccomp

PROFILE = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "architectures": ["SCMP_ARCH_X86_64"],
    "syscalls": [{"names": ["read", "write", "exit_group", "openat"], "action": "SCMP_ACT_ALLOW"}],
}


def test_frames_round_trip_and_reject_torn_entries():
    progs = [b"\x06\x00\x00\x00\x00\x00\xff\x7f", b"\x20" * 16]
    assert seccomp._unframe(seccomp._frame(progs)) == progs
    for bad in (b"", seccomp._frame(progs)[:-3], b"\x05\x00\x00\x00abcde"):
        with pytest.raises(ValueError):
            seccomp._unframe(bad)


def test_compiled_filter_is_built_once_and_read_back(tmp_path):
    if seccomp._pyseccomp is None:
        pytest.skip("libseccomp is missing")
    first = seccomp.compiled(PROFILE, str(tmp_path))
    assert first and all(len(p) % 8 == 0 and p for p in first)
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and files[0].suffix == ".bpf"
    # A second call reads the file: make building impossible to prove it.
    real = seccomp._build
    seccomp._build = None  # type: ignore[assignment]
    try:
        assert seccomp.compiled(PROFILE, str(tmp_path)) == first
    finally:
        seccomp._build = real
    # Another profile is another entry.
    other = dict(PROFILE, syscalls=PROFILE["syscalls"] + [{"names": ["close"], "action": "SCMP_ACT_ALLOW"}])
    assert seccomp.compiled(other, str(tmp_path)) != first
    assert len(list(tmp_path.iterdir())) == 2


def test_profiles_with_load_flags_are_not_precompiled(tmp_path):
    assert seccomp.compiled(dict(PROFILE, flags=["SECCOMP_FILTER_FLAG_LOG"]), str(tmp_path)) is None
    assert seccomp.compiled({}, str(tmp_path)) is None
    assert list(tmp_path.iterdir()) == []


def test_engine_copy_hash_is_found_again_without_reading_sources(tmp_path, monkeypatch):
    paths = Paths(tmp_path / "root", tmp_path / "run")
    monkeypatch.setattr(install, "_copies", {})
    monkeypatch.setattr(install, "_cache", None)
    digest, base = install.ensure_engine_copy(paths)
    assert (base / ".complete").exists()
    assert [p.read_text().strip() for p in (paths.run / "engine-hashes").iterdir()] == [digest]

    def no_reading():
        raise AssertionError("the sources were read again")

    monkeypatch.setattr(install, "_copies", {})
    monkeypatch.setattr(install, "_cache", None)
    monkeypatch.setattr(install, "engine_hash", no_reading)
    assert install.ensure_engine_copy(paths) == (digest, base)


def test_a_stale_stat_entry_falls_back_to_the_content_hash(tmp_path, monkeypatch):
    paths = Paths(tmp_path / "root", tmp_path / "run")
    monkeypatch.setattr(install, "_copies", {})
    fp = install._fingerprint()
    assert fp
    fsutil.atomic_write(paths.run / "engine-hashes" / fp, "0123456789abcdef01234567\n", durable=False)
    digest, base = install.ensure_engine_copy(paths)  # that copy does not exist: hash for real
    assert digest == install.engine_hash()[0] and (base / ".complete").exists()


def test_discards_wait_for_finish_when_deferred(tmp_path, monkeypatch):
    monkeypatch.setattr(fsutil, "_deferred", None)
    trash = tmp_path / "trash"
    victim = tmp_path / "victim"
    (victim / "sub").mkdir(parents=True)
    (victim / "sub" / "f").write_text("x")
    calls = []
    fsutil.defer_discards()
    fsutil.discard_into(trash, victim)
    fsutil.later(lambda: calls.append(1))
    assert not victim.exists()                      # out of sight at once
    assert [p.name for p in trash.iterdir()][0].startswith("del-")
    assert calls == []                              # the rest waits
    pid_before = os.getpid()
    fsutil.finish_discards()
    assert os.getpid() == pid_before and fsutil._deferred is None
    deadline = time.monotonic() + 20                # a bound against hangs, not a timing check
    while any(trash.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert list(trash.iterdir()) == []
    assert calls == []                              # it ran in the detached process, not here


def test_discards_are_immediate_by_default(tmp_path, monkeypatch):
    monkeypatch.setattr(fsutil, "_deferred", None)
    victim = tmp_path / "victim"
    victim.mkdir()
    calls = []
    fsutil.discard_into(tmp_path / "trash", victim)
    fsutil.later(lambda: calls.append(1))
    assert not victim.exists() and list((tmp_path / "trash").iterdir()) == [] and calls == [1]
