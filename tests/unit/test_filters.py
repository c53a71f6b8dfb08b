"""--filter parsing and the matchers that ls and prune commands apply."""
from __future__ import annotations

import calendar
import json
import time

import pytest
from ansible_collections.berth.engine.plugins.module_utils import filters as f
from ansible_collections.berth.engine.plugins.module_utils.errors import InvalidSpec

ALLOWED = {"label", "label!", "name", "dangling", "until", "status", "id"}


def test_parse_filters_groups_values_by_key():
    got = f.parse_filters(["label=a=b", " Name = web ", "label=a=b", "label=c", "NAME=db"], ALLOWED)
    assert got == {"label": ["a=b", "c"], "name": ["web", "db"]}
    assert f.parse_filters(None, ALLOWED) == {} == f.parse_filters([], ALLOWED)
    assert f.parse_filters(["name="], ALLOWED) == {"name": [""]}


def test_parse_filters_refuses_unknown_keys_and_bad_format():
    with pytest.raises(InvalidSpec) as info:
        f.parse_filters(["foo=1"], ALLOWED)
    assert str(info.value) == "invalid filter 'foo'" and info.value.details["key"] == "foo"
    with pytest.raises(InvalidSpec, match=r"bad format of filter \(expected name=value\): 'dangling'"):
        f.parse_filters(["dangling"], ALLOWED)


def test_parse_filters_takes_the_api_json_form():
    assert f.parse_filters(['{"label":{"a=b":true,"off":false},"name":["web"]}'], ALLOWED) == {
        "label": ["a=b"], "name": ["web"]}
    with pytest.raises(InvalidSpec, match="invalid filter 'bogus'"):
        f.parse_filters(['{"bogus":["x"]}'], ALLOWED)
    for bad in ['{"label": 3}', "{nope", '{"label": [1]}', "[1]"]:
        with pytest.raises(InvalidSpec):
            f.parse_filters([bad], ALLOWED)
    round_trip = f.parse_filters([f.to_json({"label": ["a", "b=c"]})], ALLOWED)
    assert round_trip == {"label": ["a", "b=c"]}
    assert json.loads(f.to_json({"name": ["x"]})) == {"name": {"x": True}}


def test_check_values():
    f.check_values({"status": ["running", "exited"]}, "status", {"running", "exited", "paused"})
    with pytest.raises(InvalidSpec, match="invalid filter 'status=jogging'"):
        f.check_values({"status": ["running", "jogging"]}, "status", {"running"})


@pytest.mark.parametrize("value, expected", [
    ("true", True), ("TRUE", True), ("1", True), ("false", False), ("False", False), ("0", False), (True, True),
])
def test_parse_bool(value, expected):
    assert f.parse_bool(value, "dangling") is expected


def test_parse_bool_refuses_and_get_bool():
    with pytest.raises(InvalidSpec, match="invalid filter 'dangling=maybe'"):
        f.parse_bool("maybe", "dangling")
    assert f.get_bool({"dangling": ["true"]}, "dangling") is True
    assert f.get_bool({}, "dangling", False) is False
    assert f.get_bool({}, "dangling") is None
    with pytest.raises(InvalidSpec, match="conflicting"):
        f.get_bool({"dangling": ["true", "0"]}, "dangling")


LABELS = {"com.example.vendor": "ACME", "version": "1.0", "empty": ""}


@pytest.mark.parametrize("wanted, expected", [
    ([], True), (["version"], True), (["version=1.0"], True), (["version=2.0"], False), (["nope"], False),
    (["version", "com.example.vendor=ACME"], True), (["version", "nope"], False), (["empty="], True),
    (["empty"], True), (["version!=2.0"], True), (["version!=1.0"], False), (["nope!=x"], True),
    (["com.example.vendor=ACME=x"], False),
])
def test_match_labels(wanted, expected):
    assert f.match_labels(LABELS, wanted) is expected


def test_match_labels_with_no_labels():
    assert f.match_labels(None, []) is True
    assert f.match_labels(None, ["a"]) is False
    assert f.match_labels({}, ["a!=b"]) is True


def test_label_filters_as_prune_applies_them():
    assert f.match_label_filters({}, LABELS)
    assert f.match_label_filters({"label": ["version"]}, LABELS)
    assert not f.match_label_filters({"label": ["version=9"]}, LABELS)
    # label! leaves out objects that match all its values
    assert not f.match_label_filters({"label!": ["version"]}, LABELS)
    assert f.match_label_filters({"label!": ["version", "nope"]}, LABELS)
    assert f.match_label_filters({"label!": ["keep"]}, LABELS)


@pytest.mark.parametrize("name, patterns, expected", [
    ("web", [], True), ("web", ["web"], True), ("web-1", ["web"], True), ("my-web", ["^web"], False),
    ("/web-1", ["^web"], True), ("/web-1", ["^/web"], True), ("db", ["web", "db"], True),
    ("db", ["web"], False), ("web", ["[invalid"], False), ("a+b", ["a+b"], True), ("ab", ["a.b$"], False),
    ("axb", ["a.b$"], True),
])
def test_match_name_is_docker_substring_regex(name, patterns, expected):
    assert f.match_name(name, patterns) is expected


def test_match_any():
    assert f.match_any("running", [])
    assert f.match_any("running", ["exited", "running"])
    assert not f.match_any("paused", ["running"])


NOW = 1_700_000_000.0


@pytest.mark.parametrize("value, expected", [
    ("24h", NOW - 86400), ("90m", NOW - 5400), ("1.5h", NOW - 5400), ("10s", NOW - 10),
    ("2023-11-14T22:13:20Z", 1_700_000_000), ("2023-11-14T22:13:20.5Z", 1_700_000_000.5),
    ("2023-11-14T23:13:20+01:00", 1_700_000_000), ("2023-11-14Z", calendar.timegm((2023, 11, 14, 0, 0, 0))),
    ("1700000000", 1_700_000_000), ("1700000000.25", 1_700_000_000.25), ("0", 0),
])
def test_parse_timestamp_like_docker(value, expected):
    assert f.parse_timestamp(value, now=NOW) == pytest.approx(expected)


def test_parse_timestamp_without_zone_is_local_time():
    expected = time.mktime((2023, 11, 14, 22, 13, 20, 0, 0, -1))
    assert f.parse_timestamp("2023-11-14T22:13:20") == expected
    assert f.parse_timestamp("2023-11-14T22:13") == time.mktime((2023, 11, 14, 22, 13, 0, 0, 0, -1))
    assert f.parse_timestamp("2023-11-14") == time.mktime((2023, 11, 14, 0, 0, 0, 0, 0, -1))


@pytest.mark.parametrize("value", ["yesterday", "2023-13-01", "2023-11-14T25:00:00Z", "12x", "-5", "1.2.3"])
def test_parse_timestamp_refuses(value):
    with pytest.raises(InvalidSpec, match="failed to parse value as time or duration|invalid time"):
        f.parse_timestamp(value, now=NOW)


def test_until_since_before():
    old, new = NOW - 3 * 86400, NOW - 3600
    assert f.match_until(old, ["24h"], now=NOW)
    assert not f.match_until(new, ["24h"], now=NOW)
    assert f.match_until(new, [], now=NOW)
    assert f.match_until("2020-01-01T00:00:00Z", ["2021-01-01T00:00:00Z"])
    assert f.match_until(NOW - 86400, ["24h"], now=NOW)  # at the limit: included, as docker does
    with pytest.raises(InvalidSpec, match="more than one until filter"):
        f.match_until(old, ["1h", "2h"])
    assert f.match_since_time(new, ["24h"], now=NOW) and not f.match_since_time(old, ["24h"], now=NOW)
    assert f.match_before(old, new) and not f.match_before(new, old) and f.match_before(new, None)
    assert f.match_since(new, old) and not f.match_since(old, new) and not f.match_since(old, old)


def test_as_dict_normalises_module_parameters():
    assert f.as_dict({"label": "a=b", "dangling": True, "name": ["x", "y", "x"]}) == {
        "label": ["a=b"], "dangling": ["true"], "name": ["x", "y"]}
    assert f.as_dict(None) == {}
