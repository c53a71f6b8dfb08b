"""Units as docker spells them: sizes, Go durations, signals, CPUs, RFC 3339."""
from __future__ import annotations

import signal

import pytest
from ansible_collections.berth.engine.plugins.module_utils import units
from ansible_collections.berth.engine.plugins.module_utils.errors import InvalidSpec

KiB, MiB, GiB, TiB, PiB = 1 << 10, 1 << 20, 1 << 30, 1 << 40, 1 << 50


@pytest.mark.parametrize("value, expected", [
    ("32", 32), ("32b", 32), ("32B", 32), ("32k", 32 * KiB), ("32K", 32 * KiB), ("32kb", 32 * KiB),
    ("32Kib", 32 * KiB), ("32KIB", 32 * KiB), ("32m", 32 * MiB), ("32mb", 32 * MiB), ("32Mib", 32 * MiB),
    ("32g", 32 * GiB), ("32Gb", 32 * GiB), ("32t", 32 * TiB), ("32p", 32 * PiB), ("32.3", 32),
    ("0.3m", int(0.3 * MiB)), ("1.5g", 1536 * MiB), ("512m", 536870912), ("32 MB", 32 * MiB),
    ("0", 0), (".5k", 512), ("1e3", 1000), (1024, 1024), (0, 0), (2.9, 2),
])
def test_parse_bytes_is_rams_in_bytes(value, expected):
    assert units.parse_bytes(value) == expected


@pytest.mark.parametrize("value", ["", "m", "abc", "-1", "32x", "32kbb", "32mib2", "32.3.3m", "32bb",
                                   "32 m b", -5, True, None, [1], "1kbs", "3xb"])
def test_parse_bytes_refuses_and_names_the_value(value):
    with pytest.raises(InvalidSpec) as info:
        units.parse_bytes(value, "memory")
    assert "memory" in str(info.value)
    assert info.value.details["field"] == "memory"


def test_decimal_sizes():
    assert units.parse_size_decimal("1kB") == 1000
    assert units.parse_size_decimal("1.5MB") == 1_500_000
    assert units.parse_size_decimal("2g") == 2 * 10**9


@pytest.mark.parametrize("value, seconds", [
    ("0", 0), ("10s", 10), ("1m30s", 90), ("500ms", 0.5), ("1h", 3600), ("-1.5h", -5400),
    ("+5s", 5), ("1h2m3s4ms5us6ns", 3723.004005006), ("1µs", 1e-6), ("1μs", 1e-6), ("1us", 1e-6),
    ("100ns", 1e-7), (".5s", 0.5), ("1.s", 1), ("2h45m", 9900), ("0s", 0), (12, 12.0), (1.5, 1.5),
])
def test_parse_duration_is_go(value, seconds):
    assert units.parse_duration(value) == pytest.approx(seconds, abs=1e-12)


@pytest.mark.parametrize("value, why", [
    ("", "invalid duration"), ("10", "missing unit"), ("1x", 'unknown unit "x"'), (".s", "invalid duration"),
    ("s", "invalid duration"), ("1d", 'unknown unit "d"'), ("-", "invalid duration"), ("1h-1m", "unknown unit"),
    ("3000000h", "overflows"), (None, "invalid"),
])
def test_parse_duration_errors_read_like_go(value, why):
    with pytest.raises(InvalidSpec) as info:
        units.parse_duration(value, "interval")
    assert why in str(info.value) and "interval" in str(info.value)


@pytest.mark.parametrize("ns, text", [
    (0, "0s"), (1, "1ns"), (999, "999ns"), (1000, "1µs"), (1500, "1.5µs"), (10**6, "1ms"),
    (1_500_000, "1.5ms"), (10**9, "1s"), (1_500_000_000, "1.5s"), (60 * 10**9, "1m0s"),
    (90 * 10**9, "1m30s"), (3600 * 10**9, "1h0m0s"), (5400 * 10**9, "1h30m0s"),
    (100_000_250_000_000, "27h46m40.25s"), (-90 * 10**9, "-1m30s"), (-1, "-1ns"),
])
def test_format_duration_is_go(ns, text):
    assert units.format_duration_ns(ns) == text
    assert units.parse_duration_ns(text) == ns


def test_format_duration_from_seconds():
    assert units.format_duration(90) == "1m30s"
    assert units.format_duration(0.25) == "250ms"
    assert units.format_duration(units.parse_duration("1h2m")) == "1h2m0s"


@pytest.mark.parametrize("value, num", [
    ("SIGTERM", 15), ("TERM", 15), ("term", 15), ("sigkill", 9), ("15", 15), (9, 9), ("SIGHUP", 1),
    ("SIGUSR1", signal.SIGUSR1), ("SIGRTMIN", 34), ("SIGRTMIN+3", 37), ("RTMIN+15", 49),
    ("SIGRTMAX", 64), ("SIGRTMAX-1", 63), ("RTMAX-14", 50), ("SIGIOT", 6), ("SIGCHLD", 17),
    ("SIGWINCH", 28), (" 2 ", 2),
])
def test_parse_signal(value, num):
    assert units.parse_signal(value) == num


@pytest.mark.parametrize("value", ["SIGFOO", "0", "65", "-9", "", "RTMIN+16", "RTMAX-15", 0, 99, None, "SIG"])
def test_parse_signal_refuses(value):
    with pytest.raises(InvalidSpec, match="invalid stop_signal"):
        units.parse_signal(value, "stop_signal")


@pytest.mark.parametrize("num, name", [
    (15, "SIGTERM"), (9, "SIGKILL"), (2, "SIGINT"), (6, "SIGABRT"), (17, "SIGCHLD"), (29, "SIGIO"),
    (31, "SIGSYS"), (34, "SIGRTMIN"), (37, "SIGRTMIN+3"), (49, "SIGRTMIN+15"), (50, "SIGRTMAX-14"),
    (63, "SIGRTMAX-1"), (64, "SIGRTMAX"),
])
def test_signal_name_round_trips(num, name):
    assert units.signal_name(num) == name
    assert units.parse_signal(name) == num


def test_every_signal_number_has_a_name():
    for n in range(1, 65):
        if n in (32, 33):  # glibc keeps these for itself; there is no name for them
            continue
        assert units.parse_signal(units.signal_name(n)) == n
    with pytest.raises(InvalidSpec):
        units.signal_name(32)


@pytest.mark.parametrize("value, nano", [
    ("1.5", 1_500_000_000), ("2", 2_000_000_000), (2, 2_000_000_000), ("0.000000001", 1),
    ("0.01", 10_000_000), (0.5, 500_000_000), ("0", 0), ("3/2", 1_500_000_000),
])
def test_parse_cpus_as_nano_cpus(value, nano):
    assert units.parse_cpus(value) == nano


@pytest.mark.parametrize("value, why", [
    ("x", "rational number"), ("0.0000000001", "too precise"), ("-1", "negative"), (True, "invalid"),
    ("", "rational number"),
])
def test_parse_cpus_refuses(value, why):
    with pytest.raises(InvalidSpec, match=why):
        units.parse_cpus(value)


def test_format_cpus():
    assert units.format_cpus(1_500_000_000) == "1.5"
    assert units.format_cpus(2_000_000_000) == "2"
    assert units.format_cpus(1) == "0.000000001"


def test_rfc3339():
    assert units.parse_rfc3339_ns("1970-01-01T00:00:01.5Z") == 1_500_000_000
    assert units.parse_rfc3339_ns("1970-01-01T01:00:00+01:00") == 0
    assert units.parse_rfc3339_ns("1969-12-31T23:59:59Z") == -10**9
    with pytest.raises(InvalidSpec) as info:
        units.parse_rfc3339_ns("2024-01-01", "created")
    assert info.value.details["field"] == "created"
