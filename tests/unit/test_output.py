"""Docker-shaped output: sizes, durations, times, tabwriter alignment, list and inspect printing."""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from ansible_collections.berth.engine.plugins.module_utils.cli import output
from ansible_collections.berth.engine.plugins.module_utils.cli.output import (
    Table,
    bytes_size,
    default_header,
    display_width,
    format_local_time,
    format_time,
    format_time_ns,
    human_duration,
    human_size,
    parse_time,
    parse_time_ns,
    print_inspect,
    print_list,
    render_inspect,
    render_list,
    short_id,
    since,
    tabwrite,
)
from ansible_collections.berth.engine.plugins.module_utils.errors import InvalidSpec

from tests.fixtures.formatting import (
    CONTAINER,
    IMAGES_DEFAULT,
    IMAGES_HEADERS,
    NETWORK,
    PS_DEFAULT,
    PS_HEADERS,
    VOLUME,
    image_rows,
    ps_rows,
)


class Ctx:
    """What print_list and print_inspect need of a cli.base.Context."""

    def __init__(self) -> None:
        self.stdout = io.StringIO()
        self.stderr = io.StringIO()


# --- sizes ---------------------------------------------------------------------------------

@pytest.mark.parametrize("n, expected", [
    (0, "0B"), (1, "1B"), (999, "999B"), (1000, "1kB"), (1001, "1.001kB"), (1000.4, "1kB"), (1500, "1.5kB"),
    (9999, "9.999kB"), (99_999, "100kB"), (999_499, "999.5kB"), (999_950, "1000kB"),
    (1_000_000, "1MB"), (5_582_000, "5.582MB"), (7_799_581, "7.8MB"), (72_900_000, "72.9MB"),
    (138_500_000, "138.5MB"), (1_230_000_000, "1.23GB"), (1_089_000_000, "1.089GB"),
    (10**12, "1TB"), (10**15, "1PB"), (10**18, "1EB"), (10**21, "1ZB"), (10**24, "1YB"),
    (10**27, "1000YB"), (12.5, "12.5B"),
])
def test_human_size_is_docker_decimal(n, expected):
    assert human_size(n) == expected


@pytest.mark.parametrize("n, expected", [
    (0, "0B"), (1023, "1023B"), (1024, "1KiB"), (1536, "1.5KiB"), (1_048_575, "1024KiB"),
    (1_048_576, "1MiB"), (1_572_864, "1.5MiB"), (123_456_789, "117.7MiB"), (2**30, "1GiB"),
    (2**40 * 3, "3TiB"), (2**60, "1EiB"),
])
def test_bytes_size_is_docker_binary(n, expected):
    assert bytes_size(n) == expected


# --- durations and times -------------------------------------------------------------------

H, D = 3600, 86400


@pytest.mark.parametrize("seconds, expected", [
    (-5, "Less than a second"), (0, "Less than a second"), (0.999, "Less than a second"),
    (1, "1 second"), (1.9, "1 second"), (2, "2 seconds"), (59.99, "59 seconds"),
    (60, "About a minute"), (119, "About a minute"), (120, "2 minutes"), (3599, "59 minutes"),
    (3600, "About an hour"), (5399, "About an hour"), (5400, "2 hours"), (47 * H, "47 hours"),
    (47.5 * H, "2 days"), (2 * D, "2 days"), (13 * D, "13 days"), (14 * D - 1, "2 weeks"),
    (59 * D, "8 weeks"), (60 * D, "2 months"), (729 * D, "24 months"), (730 * D, "2 years"),
    (3650 * D, "10 years"),
])
def test_human_duration_boundaries(seconds, expected):
    assert human_duration(seconds) == expected


def test_since_takes_epochs_and_rfc3339():
    now = 1_700_000_000.0
    assert since(now - 180, now=now) == "3 minutes ago"
    assert since("2023-11-14T22:10:20Z", now=now) == "3 minutes ago"
    assert since(int(now) - 2 * D, now=now) == "2 days ago"
    assert since(None) == since("") == since(output.ZERO_TIME) == "N/A"
    assert since(time.time() - 0.2) == "Less than a second ago"


def test_rfc3339_round_trips_with_nanoseconds():
    assert parse_time_ns("2024-03-05T10:11:12.123456789Z") == 1709633472123456789
    assert format_time_ns(1709633472123456789) == "2024-03-05T10:11:12.123456789Z"
    assert format_time_ns(1709633472_100_000_000) == "2024-03-05T10:11:12.1Z"
    assert format_time(1709633472) == "2024-03-05T10:11:12Z"
    assert format_time(1709633472.5) == "2024-03-05T10:11:12.5Z"
    assert parse_time("2024-03-05T12:11:12+02:00") == 1709633472.0
    assert parse_time("2024-03-05t10:11:12.5z") == 1709633472.5
    assert format_time(None) == "0001-01-01T00:00:00Z"
    assert format_time_ns(parse_time_ns("0001-01-01T00:00:00Z")) == "0001-01-01T00:00:00Z"
    for bad in ("yesterday", "2024-13-01T00:00:00Z", "2024-02-30T00:00:00Z", "2024-03-05 10:11"):
        with pytest.raises(InvalidSpec, match="invalid time"):
            parse_time(bad)


def test_go_time_string_for_created_at_columns(monkeypatch):
    if not Path("/usr/share/zoneinfo/Europe/Paris").exists():
        pytest.skip("no tzdata")
    monkeypatch.setenv("TZ", "Europe/Paris")
    time.tzset()
    try:
        assert format_local_time(1615331705) == "2021-03-10 00:15:05 +0100 CET"
        assert format_local_time(1615326089.5, utc=True) == "2021-03-09 21:41:29.5 +0000 UTC"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_short_id():
    assert short_id("sha256:" + "ab" * 32) == "abababababab"
    assert short_id("3b2cbf074c99db4a0cad") == "3b2cbf074c99"
    assert short_id("abc") == "abc"


# --- tabwriter -----------------------------------------------------------------------------

# (input, what Docker's tabwriter(minwidth 10, tabwidth 1, padding 3, ' ') writes); the ASCII
# ones are checked against Go's text/tabwriter when a Go toolchain is installed
TABS = [
    ("a\tbb\tc\nlonger cell\tx\ty\n", "a             bb        c\nlonger cell   x         y\n"),
    ("ID\tNAME\n1\tweb\n", "ID        NAME\n1         web\n"),
    ("six666\tb\n", "six666    b\n"),  # minwidth 10 holds until a cell is 8 long
    ("seven77\tb\n", "seven77   b\n"),
    ("eight888\tb\n", "eight888   b\n"),
    # Go's package example: columns are runs of lines with a cell there
    ("aaaa\tbbb\td\naa\tb\tdd\na\t\naa\tcccc\teee\n",
     "aaaa      bbb       d\naa        b         dd\na         \naa        cccc      eee\n"),
    ("x\ny\tz\n", "x\ny         z\n"),
    ("one\ttwo\nno tabs here at all\nthree\tfour\n", "one       two\nno tabs here at all\nthree     four\n"),
    ("\t\tc\n", "                    c\n"),
    ("a\tb\t\n", "a         b         \n"),
    ("unterminated\tlast", "unterminated   last"),
    ("", ""),
    ("a\tb\fccccccccccccc\td\n", "a         b\nccccccccccccc   d\n"),
    ("a\vb\n", "a         b\n"),
]


@pytest.mark.parametrize("text, expected", TABS, ids=[repr(t[0][:30]) for t in TABS])
def test_tabwriter_aligns_like_docker(text, expected):
    assert tabwrite(text) == expected


def test_tabwriter_counts_terminal_cells_like_go_runewidth():
    # CJK is two cells wide, a combining accent none; Docker's fork of tabwriter counts so
    assert display_width("日本") == 4
    assert display_width("e\u0301") == 1
    assert display_width("naïve") == 5
    text = "名前\tX\nab\tY\n日本語のなまえ\tZ\n"
    assert tabwrite(text) == "名前" + " " * 13 + "X\nab" + " " * 15 + "Y\n日本語のなまえ   Z\n"
    rows = tabwrite(text).splitlines()
    assert len({display_width(r[:-1]) for r in rows}) == 1


def test_tabwrite_lines_and_table():
    assert tabwrite(["A\tB", "long value\tC"]) == "A            B\nlong value   C\n"
    t = Table(["NAME", "SIZE"])
    t.add("vol", 12)
    t.add("a-much-longer-name", "1kB")
    assert t.render() == "NAME                 SIZE\nvol                  12\na-much-longer-name   1kB\n"


# --- lists ---------------------------------------------------------------------------------

def test_images_default_table():
    out = render_list(image_rows(), None, IMAGES_DEFAULT, IMAGES_HEADERS)
    assert out == (
        "REPOSITORY   TAG       IMAGE ID       CREATED        SIZE\n"
        "<none>       <none>    77af4d6b9913   19 hours ago   1.089GB\n"
        "committ      latest    b6fa739cedf5   19 hours ago   1.089GB\n"
        "postgres     9.3.5     746b819f315e   4 days ago     213.4MB\n")
    assert render_list(image_rows(), "table", IMAGES_DEFAULT, IMAGES_HEADERS) == out


def test_images_doc_examples():
    rows = image_rows()
    assert render_list(rows, "{{.ID}}: {{.Repository}}", IMAGES_DEFAULT, IMAGES_HEADERS) == (
        "77af4d6b9913: <none>\nb6fa739cedf5: committ\n746b819f315e: postgres\n")
    assert render_list(rows, "table {{.ID}}\\t{{.Repository}}\\t{{.Tag}}", IMAGES_DEFAULT, IMAGES_HEADERS) == (
        "IMAGE ID       REPOSITORY   TAG\n"
        "77af4d6b9913   <none>       <none>\n"
        "b6fa739cedf5   committ      latest\n"
        "746b819f315e   postgres     9.3.5\n")
    lines = render_list(rows, "json", IMAGES_DEFAULT, IMAGES_HEADERS).splitlines()
    assert len(lines) == 3
    first = json.loads(lines[0])
    assert list(first) == sorted(first) and first["ID"] == "77af4d6b9913"
    assert '"Digest":"\\u003cnone\\u003e"' in lines[0]  # json.Marshal's HTML escaping, as docker prints


def test_ps_default_table_and_doc_examples():
    rows = ps_rows()
    assert render_list(rows, None, PS_DEFAULT, PS_HEADERS) == (
        "CONTAINER ID   IMAGE     COMMAND                  CREATED             STATUS                   "
        "PORTS                                       NAMES\n"
        'a87ecb4f327c   busybox   "top"                    16 minutes ago      Up 16 minutes            '
        "                                            i_am_nostalgic\n"
        '01946d9d34d8   redis:7   "docker-entrypoint.s…"   About an hour ago   Exited (0) 2 hours ago   '
        "0.0.0.0:6379->6379/tcp, :::6379->6379/tcp   database\n")
    assert render_list(rows, "table {{.ID}}\\t{{.Labels}}", PS_DEFAULT, PS_HEADERS) == (
        "CONTAINER ID   LABELS\n"
        "a87ecb4f327c   com.docker.swarm.node=ubuntu,com.docker.swarm.storage=ssd\n"
        "01946d9d34d8   \n")
    assert render_list(rows, 'table {{.ID}}\\t{{join .IPAddresses ", "}}', PS_DEFAULT, PS_HEADERS) == (
        "CONTAINER ID   IP ADDRESSES\n"
        "a87ecb4f327c   bridge/172.17.0.3\n"
        "01946d9d34d8   bridge/172.17.0.2, mynetwork/172.19.0.2\n")
    assert render_list(rows, "{{.ID}}: {{.Command}}", PS_DEFAULT) == (
        'a87ecb4f327c: "top"\n01946d9d34d8: "docker-entrypoint.s…"\n')


def test_ps_json_lines_leave_out_methods():
    line = render_list(ps_rows()[:1], "json", PS_DEFAULT, PS_HEADERS)
    obj = json.loads(line)
    assert "Label" not in obj and obj["IPAddresses"] == ["bridge/172.17.0.3"]
    assert list(obj) == sorted(obj) and line.endswith("}\n") and line.count("\n") == 1


def test_label_method_and_its_header():
    rows = ps_rows()
    out = render_list(rows, 'table {{.Names}}\\t{{.Label "com.docker.swarm.storage"}}\\t{{.Label "my_app-x"}}',
                      PS_DEFAULT, PS_HEADERS)
    assert out.splitlines() == ["NAMES            storage   my app x", "i_am_nostalgic   ssd       ",
                                "database                   "]


def test_headers_default_to_split_camel_case_and_header_functions_pass_through():
    assert default_header("CreatedSince") == "CREATED SINCE"
    assert default_header("IPAddresses") == "IP ADDRESSES"
    assert default_header("ID") == "ID" and default_header("LocalVolumes") == "LOCAL VOLUMES"
    out = render_list(image_rows()[:1], "table {{upper .Repository}}\\t{{lower .Digest}}\\t{{pad .Tag 1 1}}|",
                      IMAGES_DEFAULT, IMAGES_HEADERS)
    assert out.splitlines() == ["REPOSITORY   DIGEST     TAG |", "<NONE>       <none>     <none> |"]


def test_formats_are_trimmed_and_escapes_expanded():
    rows = image_rows()[:2]
    assert render_list(rows, "  {{.ID}}\\n  ", IMAGES_DEFAULT) == "77af4d6b9913\n\nb6fa739cedf5\n\n"
    assert render_list(rows, "{{.ID}}\\t{{.Tag}}", IMAGES_DEFAULT) == "77af4d6b9913\t<none>\nb6fa739cedf5\tlatest\n"


def test_empty_list_prints_the_header_only():
    assert render_list([], None, IMAGES_DEFAULT, IMAGES_HEADERS) == (
        "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n")
    assert render_list([], "{{.ID}}", IMAGES_DEFAULT) == ""
    assert render_list([], "json", IMAGES_DEFAULT) == ""


def test_quiet_prints_ids_and_warns_about_a_custom_format():
    ctx = Ctx()
    print_list(ctx, image_rows(), None, IMAGES_DEFAULT, IMAGES_HEADERS, quiet=True)
    assert ctx.stdout.getvalue() == "77af4d6b9913\nb6fa739cedf5\n746b819f315e\n"
    assert ctx.stderr.getvalue() == ""
    ctx = Ctx()
    print_list(ctx, [{"Name": "vol1"}], "{{.Name}} x", "table {{.Name}}", quiet=True, quiet_field="Name")
    assert ctx.stdout.getvalue() == "vol1\n"
    assert "Ignoring custom format" in ctx.stderr.getvalue()


def test_template_errors_name_the_problem():
    with pytest.raises(InvalidSpec) as info:
        render_list(image_rows(), "{{.Nope}}", IMAGES_DEFAULT)
    assert str(info.value) == ('template parsing error: template: :1:2: executing "" at <.Nope>: '
                               'map has no entry for key "Nope"')
    with pytest.raises(InvalidSpec, match='template parsing error: template: :1: function "nope" not defined'):
        render_list(image_rows(), "{{nope .ID}}", IMAGES_DEFAULT)
    with pytest.raises(InvalidSpec, match="unclosed action"):
        render_list([], "table {{.ID", IMAGES_DEFAULT)


def test_volume_and_network_ls_examples():
    vols = [{"Driver": "local", "Name": n, "Labels": "", "Mountpoint": f"/v/{n}", "Scope": "local",
             "Links": "N/A", "Size": "N/A"} for n in ("vol1", "vol2", "vol3")]
    assert render_list(vols, "{{.Name}}: {{.Driver}}", "table {{.Driver}}\t{{.Name}}") == (
        "vol1: local\nvol2: local\nvol3: local\n")
    assert render_list(vols[:1], None, "table {{.Driver}}\t{{.Name}}", {"Name": "VOLUME NAME"}) == (
        "DRIVER    VOLUME NAME\nlocal     vol1\n")
    assert json.loads(render_list(vols[:1], "json", "")) == {
        "Driver": "local", "Labels": "", "Links": "N/A", "Mountpoint": "/v/vol1", "Name": "vol1",
        "Scope": "local", "Size": "N/A"}
    nets = [{"ID": "afaaab448eb2", "Name": "bridge", "Driver": "bridge", "Scope": "local"},
            {"ID": "d1584f8dc718", "Name": "host", "Driver": "host", "Scope": "local"},
            {"ID": "391df270dc66", "Name": "none", "Driver": "null", "Scope": "local"}]
    default = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
    assert render_list(nets, "{{.ID}}: {{.Driver}}", default) == (
        "afaaab448eb2: bridge\nd1584f8dc718: host\n391df270dc66: null\n")
    assert render_list(nets, None, default, {"ID": "NETWORK ID"}) == (
        "NETWORK ID     NAME      DRIVER    SCOPE\n"
        "afaaab448eb2   bridge    bridge    local\n"
        "d1584f8dc718   host      host      local\n"
        "391df270dc66   none      null      local\n")


def test_print_list_writes_to_the_context():
    ctx = Ctx()
    print_list(ctx, image_rows()[:1], "{{.Size}}", IMAGES_DEFAULT)
    assert ctx.stdout.getvalue() == "1.089GB\n"


# --- inspect -------------------------------------------------------------------------------

def test_inspect_prints_an_indented_array_like_docker():
    out = render_inspect([CONTAINER], None)
    assert out.startswith('[\n    {\n        "Id": "3b2cbf074c99')
    assert out.endswith("    }\n]\n")
    assert '\n            "Status": "running",\n' in out
    assert '"IPAMConfig": null,' in out and '"Volumes": {\n                "/data": {}\n            },' in out
    assert '"Config": {}\n' in out  # LogConfig.Config: an empty map stays on one line
    assert json.loads(out) == [CONTAINER]
    # struct fields keep their order; map keys (labels, networks) are sorted as Go sorts maps
    labels = out.index('"com.docker.compose.project"'), out.index('"com.example.vendor"')
    assert labels[0] < labels[1]
    nets = out.index('"bridge": {'), out.index('"shopnet": {')
    assert nets[0] < nets[1]
    assert out.index('"Id"') < out.index('"Created"') < out.index('"Path"')
    assert render_inspect([CONTAINER], "json") == out


def test_inspect_of_nothing_and_of_several():
    assert render_inspect([], None) == "[]\n"
    assert render_inspect([], "{{.Name}}") == "\n"
    two = render_inspect([VOLUME, NETWORK], None)
    assert json.loads(two) == [VOLUME, NETWORK] and two.count("\n    {\n") == 2


def test_inspect_templates_run_once_per_object():
    assert render_inspect([CONTAINER, dict(CONTAINER, Name="/other")], "{{.Name}}") == "/database\n/other\n"
    assert render_inspect([VOLUME], "{{json .Options}}") == '{"device":"tmpfs","o":"size=100m,uid=1000","type":"tmpfs"}\n'
    ctx = Ctx()
    print_inspect(ctx, [NETWORK], "{{range .IPAM.Config}}{{.Subnet}}{{end}}")
    assert ctx.stdout.getvalue() == "172.19.0.0/16\n"


def test_inspect_keeps_text_as_is():
    obj = {"Cmd": ["sh", "-c", "a && b > /dev/null"], "Name": "café\u2028"}
    out = render_inspect([obj], None)
    assert '"a && b > /dev/null"' in out and '"café\\u2028"' in out


def test_inspect_template_errors():
    with pytest.raises(InvalidSpec, match=r"template parsing error: template: :1:7: .*can't evaluate field X in type string"):
        render_inspect([CONTAINER], "{{.Name.X}}")
    with pytest.raises(InvalidSpec, match='template parsing error: template: :1: function "x" not defined'):
        render_inspect([CONTAINER], "{{x}}")


# --- the real thing ------------------------------------------------------------------------

REF = Path(__file__).resolve().parent.parent / "fixtures" / "gotemplate_ref.go"


@pytest.mark.skipif(shutil.which("go") is None, reason="no Go toolchain to compare with")
def test_tabwriter_agrees_with_go(tmp_path):
    ascii_cases = [(t, e) for t, e in TABS if t.isascii()]
    payload = json.dumps([{"tab": t} for t, _ in ascii_cases])
    src = tmp_path / "main.go"
    src.write_text(REF.read_text())
    env = {"GOCACHE": str(tmp_path / "cache"), "GOPATH": str(tmp_path / "gopath"), "HOME": str(tmp_path),
           "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GO111MODULE": "off"}
    proc = subprocess.run(["go", "run", str(src)], input=payload, capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    got = [r["out"] for r in json.loads(proc.stdout)]
    assert got == [e for _, e in ascii_cases]
