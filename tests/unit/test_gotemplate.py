"""Go text/template semantics and the Docker documentation's --format examples.

Each case says what Go prints. Cases marked ``go`` are also run through Go's own
text/template by ``test_cases_agree_with_go`` when a Go toolchain is installed.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from ansible_collections.berth.engine.plugins.module_utils.cli import gotemplate
from ansible_collections.berth.engine.plugins.module_utils.cli.gotemplate import parse, render
from ansible_collections.berth.engine.plugins.module_utils.errors import InvalidSpec

from tests.fixtures.formatting import CID, CONTAINER, IMAGE, NETWORK, VOLUME
from tests.fixtures.gotemplate_cases import PROBE_ERRORS, PROBES

D = {
    "Name": "/web", "Args": ["a", "b", "c"], "Empty": [], "Map": {"b": 2, "a": 1, "c": 3},
    "Str": "hello", "Num": 42, "Neg": -7, "F": 1.5, "T": True, "F0": False,
    "Nested": {"X": {"Y": "deep"}}, "Nil": None, "Labels": {"com.example.vendor": "ACME", "version": "1.0"},
}
DATA = {"d": D, "c": CONTAINER, "net": NETWORK, "vol": VOLUME, "img": IMAGE, "s": "just text", "n": 7}
PATH_ENV = CONTAINER["Config"]["Env"][0]

# (template, data, expected, also checked against Go)
CASES = [
    # text, fields, printing
    ("plain text", "d", "plain text", True),
    ("{{.Name}}", "d", "/web", True),
    ("{{ .Name }}", "d", "/web", True),
    ("{{.Nested.X.Y}}", "d", "deep", True),
    ("{{.}}", "s", "just text", True),
    ("{{.}}", "n", "7", True),
    ("{{.Args}}", "d", "[a b c]", True),
    ("{{.Map}}", "d", "map[a:1 b:2 c:3]", True),
    ("{{.Nested}}", "d", "map[X:map[Y:deep]]", True),
    ("{{.Empty}}", "d", "[]", True),
    ("{{.Missing}}", "d", "<no value>", True),
    ("{{.Missing.Deeper}}", "d", "<no value>", True),
    ("{{(.Nil).Bar}} {{(.Nested).Foo.Bar}}", "d", "<no value> <no value>", True),
    ("{{.T}} {{.F0}} {{.Neg}}", "d", "true false -7", True),
    ("{{.F}}", "d", "1.5", True),
    ("{{1.0}} {{1e6}} {{123456.0}} {{0.0001}} {{0.00001}} {{-2.5}} {{1e21}}", "d",
     "1 1e+06 123456 0.0001 1e-05 -2.5 1e+21", True),
    ("{{0x1F}} {{0o17}} {{017}} {{0b101}} {{1_000}} {{'a'}} {{'\\n'}} {{-3}} {{+4}}", "d",
     "31 15 15 5 1000 97 10 -3 4", True),
    ('{{"a\\tb\\u00e9\\x41\\"\\\\"}}', "d", 'a\tbéA"\\', True),
    ("{{`raw \\n {{ x`}}", "d", "raw \\n {{ x", True),
    ("{{true}} {{false}}", "d", "true false", True),
    # trimming and comments
    ("a  {{- .Name -}}  b", "d", "a/webb", True),
    ("a {{- /* c */ -}} b", "d", "ab", True),
    ("a \n{{- /* c */}} b", "d", "a b", True),
    ("{{.Name -}}\n\n  x", "d", "/webx", True),
    ("x{{/* a comment\n spanning lines */}}y", "d", "xy", True),
    ("{{- 3}}", "d", "3", True),
    ("{{3 -}} {{- 4}}", "d", "34", True),
    # if / else if / else
    ("{{if .T}}yes{{end}}", "d", "yes", True),
    ("{{if .Empty}}y{{else}}n{{end}}", "d", "n", True),
    ("{{if .Missing}}y{{else if .Num}}num{{else}}n{{end}}", "d", "num", True),
    ("{{if .F0}}1{{else if .Empty}}2{{else if .Str}}3{{else}}4{{end}}", "d", "3", True),
    ("{{if and .T .Num}}{{.Num}}{{end}}", "d", "42", True),
    ("{{if not .F0}}ok{{end}}", "d", "ok", True),
    ("{{if .Nil}}x{{else}}nil is false{{end}}", "d", "nil is false", True),
    ("{{if 0.0}}x{{else}}zero{{end}}", "d", "zero", True),
    # with
    ("{{with .Nested.X}}{{.Y}}{{end}}", "d", "deep", True),
    ("{{with .Missing}}x{{else}}none{{end}}", "d", "none", True),
    ("{{with $v := .Str}}{{$v}} {{.}}{{end}}", "d", "hello hello", True),
    # range
    ("{{range .Args}}[{{.}}]{{end}}", "d", "[a][b][c]", True),
    ("{{range $i, $e := .Args}}{{$i}}={{$e}} {{end}}", "d", "0=a 1=b 2=c ", True),
    ("{{range $e := .Args}}{{$e}}{{end}}", "d", "abc", True),
    ("{{range .Map}}{{.}}{{end}}", "d", "123", True),
    ("{{range $k, $v := .Map}}{{$k}}{{$v}}{{end}}", "d", "a1b2c3", True),
    ("{{range .Empty}}x{{else}}empty{{end}}", "d", "empty", True),
    ("{{range .Missing}}x{{else}}none{{end}}", "d", "none", True),
    ('{{range .Args}}{{if eq . "b"}}{{break}}{{end}}{{.}}{{end}}', "d", "a", True),
    ('{{range .Args}}{{if eq . "b"}}{{continue}}{{end}}{{.}}{{end}}', "d", "ac", True),
    ("{{range $i, $e := .Args}}{{if $i}}, {{end}}{{$e}}{{end}}", "d", "a, b, c", True),
    ("{{range .Args}}{{$.Name}}:{{.}} {{end}}", "d", "/web:a /web:b /web:c ", True),
    ("{{range .Args}}{{range $.Args}}{{.}}{{end}}|{{end}}", "d", "abc|abc|abc|", True),
    # variables
    ("{{$x := 1}}{{$x}}{{$x = 2}}{{$x}}", "d", "12", True),
    ('{{$x := .Name}}{{if .T}}{{$x = "in"}}{{end}}{{$x}}', "d", "in", True),
    ("{{if .T}}{{$y := 1}}{{$y}}{{end}}", "d", "1", True),
    ("{{$}}", "s", "just text", True),
    ("{{$x := .Nested}}{{$x.X.Y}}", "d", "deep", True),
    ("{{$.Nested.X.Y}}", "d", "deep", True),
    # pipelines and parentheses
    ('{{.Str | printf "%s!"}}', "d", "hello!", True),
    ('{{"x" | printf "%s-%s" "y"}}', "d", "y-x", True),
    ("{{.Name | len}}", "d", "4", True),
    ("{{(index .Args 1) | upper}}", "d", "B", True),
    ("{{(.Nested.X).Y}}", "d", "deep", True),
    ('{{(index .Labels "version")}}', "d", "1.0", True),
    ('{{printf "%s" (printf "%d" (len .Args))}}', "d", "3", True),
    # print, println, printf
    ('{{print "a" 1 2 "b"}}', "d", "a1 2b", True),
    ('{{print 1 2}}{{print "x" "y"}}', "d", "1 2xy", True),
    ('{{println "a" 1}}', "d", "a 1\n", True),
    ('{{printf "%d|%5d|%-5d|%05d|%x|%X|%o|%b|%c|%q|%U" 42 42 42 42 255 255 8 5 65 66 65}}', "d",
     "42|   42|42   |00042|ff|FF|10|101|A|'B'|U+0041", True),
    ('{{printf "%s|%10s|%-10s|%.2s|%q|%x|% x" "go" "go" "go" "golang" "a\\"b" "hi" "hi"}}', "d",
     'go|        go|go        |go|"a\\"b"|6869|68 69', True),
    ('{{printf "%v %v %v %v" .Args .Map .T .Nil}}', "d", "[a b c] map[a:1 b:2 c:3] true <nil>", True),
    ('{{printf "%.2f|%8.3f|%e|%g|%g|%v" 3.14159 2.5 1234.5678 0.000012 100000000.0 0.5}}', "d",
     "3.14|   2.500|1.234568e+03|1.2e-05|1e+08|0.5", True),
    ('{{printf "%t %v" true false}}', "d", "true false", True),
    ('{{printf "%d" "x"}}', "d", "%!d(string=x)", True),
    ('{{printf "%s" 5}}', "d", "%!s(int=5)", True),
    ('{{printf "%d %d" 1}}', "d", "1 %!d(MISSING)", True),
    ('{{printf "%d" 1 2}}', "d", "1%!(EXTRA int=2)", True),
    ('{{printf "%5.1f%%" 99.44}}', "d", " 99.4%", True),
    ('{{printf "%+d % d %+.1f" 5 5 2.0}}', "d", "+5  5 +2.0", True),
    ('{{printf "%#x %#o %#v" 255 8 "s"}}', "d", '0xff 010 "s"', True),
    ('{{printf "%*d|%-*d|" 5 42 4 7}}', "d", "   42|7   |", True),
    ('{{printf "%s" .Args}}', "d", "[a b c]", True),
    ('{{printf "%d" .Map}}', "d", "map[%!d(string=a):1 %!d(string=b):2 %!d(string=c):3]", True),
    ('{{printf "%q" .Args}}', "d", '["a" "b" "c"]', True),
    ('{{printf "%v" 1.0}}', "d", "1", True),
    ('{{printf "%08.3f|%-8.2f|%x" -3.14159 2.5 "é"}}', "d", "-003.142|2.50    |c3a9", True),
    ('{{printf "%6.2f%%" 12.3456}}', "d", " 12.35%", True),
    ('{{printf "%[2]d %[1]d" 1 2}}', "d", "2 1", True),
    ('{{printf "%q" "tab\\there\\x00"}}', "d", '"tab\\there\\x00"', True),
    # len, index, slice
    ('{{len .Args}} {{len .Map}} {{len .Str}} {{len "é"}}', "d", "3 3 5 2", True),
    ("{{index .Args 0}}", "d", "a", True),
    ('{{index .Map "b"}}', "d", "2", True),
    ('{{index .Nested "X" "Y"}}', "d", "deep", True),
    ('{{index "abc" 1}}', "d", "98", True),
    ('{{index .Map "zz"}}', "d", "<no value>", True),
    ("{{index .Args}}", "d", "[a b c]", True),
    ("{{slice .Args 1}}", "d", "[b c]", True),
    ("{{slice .Args 1 2}}", "d", "[b]", True),
    ("{{slice .Str 1 3}}", "d", "el", True),
    ("{{slice .Args}}", "d", "[a b c]", True),
    # comparisons and logic
    ('{{eq 1 1}} {{eq 1 2}} {{eq .Str "hello"}} {{eq "a" "b" "a"}} {{ne 1 2}} {{lt 1 2}} {{le 2 2}} '
     '{{gt "b" "a"}} {{ge 1.5 2.5}}', "d", "true false true true true true true true false", True),
    ("{{eq .Num 42}} {{lt .Neg 0}} {{eq .T true}}", "d", "true true true", True),
    ('{{and 1 0 2}}|{{and 1 2}}|{{or 0 "" "z"}}|{{or 0 ""}}', "d", "0|2|z|", True),
    ("{{and .T .Str}}", "d", "hello", True),
    ('{{not 0}} {{not .Args}} {{not ""}}', "d", "true false true", True),
    ('{{if or .Missing (eq .Num 42)}}or{{end}}', "d", "or", True),
    # html, js, urlquery
    ("{{html \"<a href='x'>&\\\"</a>\"}}", "d", "&lt;a href=&#39;x&#39;&gt;&amp;&#34;&lt;/a&gt;", True),
    ("{{js \"it's <b>\\\"q\\\"\\n=\"}}", "d", "it\\'s \\u003Cb\\u003E\\\"q\\\"\\u000A\\u003D", True),
    ('{{urlquery "a b&c=d/é"}}', "d", "a+b%26c%3Dd%2F%C3%A9", True),
    ('{{html 1 "<"}}', "d", "1&lt;", True),
    # define, template, block
    ('{{define "T"}}<{{.}}>{{end}}{{template "T" .Str}}{{template "T" 1}}', "d", "<hello><1>", True),
    ('{{block "B" .Name}}[{{.}}]{{end}}', "d", "[/web]", True),
    ('{{define "R"}}{{if .}}{{len .}}{{template "R" slice . 1}}{{end}}{{end}}{{template "R" .Args}}',
     "d", "321", True),
    ('{{define "N"}}no dot: {{.}}{{end}}{{template "N"}}', "d", "no dot: <no value>", True),
    # Docker's functions
    ('{{join .Args " , "}}', "d", "a , b , c", True),
    ("{{json .Map}}", "d", '{"a":1,"b":2,"c":3}', True),
    ("{{json .Args}} {{json .Str}} {{json .Missing}} {{json .F}}", "d", '["a","b","c"] "hello" null 1.5', True),
    ('{{json "<&>"}}', "d", '"<&>"', True),
    ('{{split "a:b:c" ":"}}', "d", "[a b c]", True),
    ('{{split .Name "/"}}', "d", "[ web]", True),
    ('{{title "hello wORLD-foo_bar"}}', "d", "Hello WORLD-Foo_bar", True),
    ('{{lower "ABC Déj"}} {{upper .Str}}', "d", "abc déj HELLO", True),
    ('{{pad .Str 2 3}}|{{pad "" 2 3}}', "d", "  hello   |", True),
    ("{{truncate .Str 3}}|{{truncate .Str 10}}", "d", "hel|hello", True),
    # the Docker documentation's examples (inspect, formatting, network/volume/image inspect)
    ("{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "c", "172.17.0.3172.19.0.2", True),
    ("{{range .NetworkSettings.Networks}}{{.MacAddress}}{{end}}", "c", "02:42:ac:11:00:0302:42:ac:13:00:02", True),
    ("{{.LogPath}}", "c", CONTAINER["LogPath"], True),
    ("{{.Config.Image}}", "c", "redis:7", True),
    ("{{range $p, $conf := .NetworkSettings.Ports}} {{$p}} -> {{(index $conf 0).HostPort}} {{end}}", "c",
     " 6379/tcp -> 6379  8787/tcp -> 32768 ", True),
    ('{{(index (index .NetworkSettings.Ports "8787/tcp") 0).HostPort}}', "c", "32768", True),
    ("{{ .SizeRootFs }}|{{ .SizeRw }}", "c", "123125760|12288", True),
    ('{{join .Args " , "}}', "c", "redis-server , --appendonly , yes", True),
    ("{{lower .Name}} {{title .Name}} {{upper .Name}}", "c", "/database /Database /DATABASE", True),
    ('{{split .Image ":"}}', "c", "[sha256 " + CONTAINER["Image"].split(":")[1] + "]", True),
    ("{{range .NetworkSettings.Networks}}{{println .IPAddress}}{{end}}", "c", "172.17.0.3\n172.19.0.2\n", True),
    ("{{ .NetworkSettings.Networks.shopnet.IPAddress }}", "c", "172.19.0.2", True),
    ("{{ .State.Pid }} {{.State.Status}} {{.State.Running}}", "c", "4242 running true", True),
    ("Container {{ .Name }} listens on {{ range $index, $elem := .Config.ExposedPorts }}{{ $index }} {{ end }}",
     "c", "Container /database listens on 6379/tcp 8787/tcp ", True),
    ("{{ if eq 0 .State.ExitCode }}{{.Name}} {{.State.ExitCode}}{{end}}", "c", "/database 0", True),
    ("{{ range $k, $v := .Config.Labels -}} {{ $k }}={{ $v }} {{ end -}}", "c",
     "com.docker.compose.project=shop com.example.vendor=ACME ", True),
    ("{{range $conf := .Config.Env}}{{$conf}};{{end}}", "c", PATH_ENV + ";REDIS_VERSION=7.2.4;", True),
    ("{{.Config.Env}}", "c", f"[{PATH_ENV} REDIS_VERSION=7.2.4]", True),
    ("{{.HostConfig.LogConfig.Type}}", "c", "json-file", True),
    ('{{index .Config.Labels "com.example.vendor"}}', "c", "ACME", True),
    ("{{ index (index .Config.Env) 0 }}", "c", PATH_ENV, True),
    ("{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.Memory}}", "c", "always:268435456", True),
    ("{{range .Mounts}}{{.Name}}:{{.Destination}}{{end}}", "c", "redis-data:/data", True),
    ("{{json .NetworkSettings.Ports}}", "c",
     '{"6379/tcp":[{"HostIp":"0.0.0.0","HostPort":"6379"},{"HostIp":"::","HostPort":"6379"}],'
     '"8787/tcp":[{"HostIp":"0.0.0.0","HostPort":"32768"}]}', True),
    ("{{range $c, $n := .Containers}}{{$n.Name}} {{end}}", "net", "web database ", True),
    ('{{range $k, $v := index .IPAM.Config 0}}{{.| printf "%s: %s " $k}}{{end}}', "net",
     "Gateway: 172.19.0.1 Subnet: 172.19.0.0/16 ", True),
    ("{{.Id}} {{.Driver}} {{.Scope}} {{.Internal}}", "net", f"{NETWORK['Id']} bridge local false", True),
    ("{{.Mountpoint}}", "vol", VOLUME["Mountpoint"], True),
    ("{{json .Options}}", "vol", '{"device":"tmpfs","o":"size=100m,uid=1000","type":"tmpfs"}', True),
    ("{{.Name}}: {{.Driver}}", "vol", "redis-data: local", True),
    ("{{index .RepoTags 0}} {{.Os}}/{{.Architecture}}", "img", "redis:7 linux/amd64", True),
    ("{{range .RootFS.Layers}}{{println .}}{{end}}", "img", "sha256:" + "1" * 64 + "\nsha256:" + "2" * 64 + "\n", True),
    ("{{json .Config.Labels}}", "img", "null", True),
    # Docker's typed structs print a nil map or slice as map[] or []
    ("{{.Config.Labels}}|{{len .Config.Labels}}|{{if .Config.Labels}}x{{end}}", "img", "map[]|0|", False),
    ("{{.NetworkSettings.Networks.bridge.Aliases}}", "c", "[]", False),
    ("{{.NetworkSettings.Networks.bridge.IPAMConfig}}", "c", "<nil>", False),
    # insertion order of struct-like dicts is Docker's field order (Go would sort a map)
    ("{{json .Mounts}}", "c", json.dumps(CONTAINER["Mounts"], separators=(",", ":")), False),
    ("{{json .HostConfig.RestartPolicy}}", "c", '{"Name":"always","MaximumRetryCount":0}', False),
    # a missing key of a map of strings indexes to "" (Docker's Labels are map[string]string)
    ('{{index .Config.Labels "nope"}}', "c", "", False),
    # newer Go: range over an integer, else with
    ("{{range 3}}{{.}}{{end}}", "d", "012", False),
    ("{{with .Missing}}a{{else with .Str}}{{.}}{{else}}c{{end}}", "d", "hello", False),
]

# (template, data, Go's error message, also checked against Go)
ERRORS = [
    ("{{.Name.Foo}}", "d", 'template: :1:7: executing "" at <.Name.Foo>: can\'t evaluate field Foo in type string', False),
    ("{{foo}}", "d", 'template: :1: function "foo" not defined', True),
    ("{{.Name", "d", "template: :1: unclosed action", True),
    ("{{end}}", "d", "template: :1: unexpected {{end}}", True),
    ("{{index .Args 5}}", "d", 'template: :1:2: executing "" at <index .Args 5>: error calling index: index out of range: 5', True),
    ("{{len}}", "d", 'template: :1:2: executing "" at <len>: wrong number of args for len: want 1 got 0', True),
    ("{{upper 5}}", "d", 'template: :1:8: executing "" at <5>: expected string; found 5', True),
    ("{{upper .Num}}", "d", 'template: :1:8: executing "" at <.Num>: wrong type for value; expected string; got int', True),
    ("{{$x}}", "d", 'template: :1: undefined variable "$x"', True),
    ("{{if}}{{end}}", "d", "template: :1: missing value for if", True),
    ("{{range .Name}}{{end}}", "d", 'template: :1:8: executing "" at <.Name>: range can\'t iterate over /web', True),
    ("{{eq 1 1.0}}", "d", 'template: :1:2: executing "" at <eq 1 1.0>: error calling eq: incompatible types for comparison', True),
    ("{{lt .T .F0}}", "d", 'template: :1:2: executing "" at <lt .T .F0>: error calling lt: invalid type for comparison', True),
    ('{{"x" | "y"}}', "d", "template: :1: non executable command in pipeline stage 2", True),
    ("{{break}}", "d", "template: :1: {{break}} outside {{range}}", True),
    ("{{.Nil.Foo}}", "d", 'template: :1:6: executing "" at <.Nil.Foo>: nil pointer evaluating interface {}.Foo', True),
    ("{{.Str 1}}", "d", 'template: :1:2: executing "" at <.Str>: Str is not a method but has arguments', True),
    ("{{1 2}}", "d", 'template: :1:2: executing "" at <1>: can\'t give argument to non-function 1', True),
    ("{{nil}}", "d", 'template: :1:2: executing "" at <nil>: nil is not a command', True),
    ('{{template "nope"}}', "d", 'template: :1:11: executing "" at <{{template "nope"}}>: template "nope" not defined', True),
    ("{{.Args.Foo}}", "d", 'template: :1:7: executing "" at <.Args.Foo>: can\'t evaluate field Foo in type []interface {}', False),
    ("{{slice .Args 2 1}}", "d", 'template: :1:2: executing "" at <slice .Args 2 1>: error calling slice: invalid slice index: 2 > 1', True),
    ('{{"unterminated}}', "d", "template: :1: unterminated quoted string", True),
    ("{{.Name}} {{else}}", "d", "template: :1: unexpected {{else}}", True),
    ("{{if .T}}x", "d", "template: :1: unexpected EOF", True),
    ("{{.Name)}}", "d", 'template: :1: unexpected ")" in command', True),
    ("{{3x}}", "d", 'template: :1: bad number syntax: "3x"', True),
    ("{{$x := 1}}{{$y = 2}}", "d", 'template: :1:18: executing "" at <2>: undefined variable: $y', True),
    ("{{printf}}", "d", 'template: :1:2: executing "" at <printf>: wrong number of args for printf: want at least 1 got 0', True),
]


@pytest.mark.parametrize("tmpl, key, expected, go", CASES, ids=[c[0][:60] for c in CASES])
def test_template_output(tmpl, key, expected, go):
    assert render(tmpl, DATA[key]) == expected


@pytest.mark.parametrize("tmpl, key, message, go", ERRORS, ids=[e[0] for e in ERRORS])
def test_template_errors_read_like_go(tmpl, key, message, go):
    with pytest.raises(InvalidSpec) as info:
        render(tmpl, DATA[key])
    assert str(info.value) == message


@pytest.mark.parametrize("tmpl, data, expected", PROBES, ids=[p[0][:60] for p in PROBES])
def test_go_verified_output(tmpl, data, expected):
    assert render(tmpl, data) == expected


@pytest.mark.parametrize("tmpl, data, message", PROBE_ERRORS, ids=[p[0][:60] for p in PROBE_ERRORS])
def test_go_verified_errors(tmpl, data, message):
    with pytest.raises(InvalidSpec) as info:
        render(tmpl, data)
    assert str(info.value) == message


def test_typed_nil_and_missing_render_as_docker_prints_them():
    # a missing key has no value; a null pointer field prints <nil>; docker's nil maps and
    # slices print empty; a present null under another name is a nil pointer
    data = {"State": {"Health": None}, "Config": {"Labels": None, "Entrypoint": None}}
    assert render("{{.State.Missing}}|{{.State.Health}}|{{.Config.Labels}}|{{.Config.Entrypoint}}", data) \
        == "<no value>|<nil>|map[]|[]"
    assert render("{{json .Config.Labels}} {{json .Config.Entrypoint}} {{range .Config.Entrypoint}}x{{end}}", data) \
        == "null null "


def test_json_orders_struct_fields_as_built_and_map_keys_sorted():
    data = {"HostConfig": {"Memory": 1, "CpuShares": 2, "Binds": ["/a:/b"]},
            "Labels": {"zeta": "1", "Alpha": "2", "beta": "3"}}
    assert render("{{json .HostConfig}}", data) == '{"Memory":1,"CpuShares":2,"Binds":["/a:/b"]}'
    assert render("{{json .Labels}}", data) == '{"Alpha":"2","beta":"3","zeta":"1"}'


def test_json_numbers_print_as_go_prints_them():
    assert render("{{json .}}", [1.0, 0.5, 0.00001, 1e-7, 2e21, -0.0001, 123456789.5]) \
        == "[1,0.5,0.00001,1e-7,2e+21,-0.0001,123456789.5]"


# --- beyond what Go's data can express: methods, objects, call, options ---------------------

@dataclasses.dataclass
class Box:
    Name: str
    Items: list

    def Label(self, key: str) -> str:
        return f"label:{key}"

    def Upper(self) -> str:
        return self.Name.upper()


def test_methods_on_dicts_take_arguments():
    row = {"ID": "abc", "Label": lambda name: {"com.x": "1"}.get(name, ""), "Size": lambda: "5B"}
    assert render('{{.Label "com.x"}}|{{.Label "other"}}|{{.Size}}', row) == "1||5B"
    assert render('{{"com.x" | .Label}}', row) == "1"


def test_objects_expose_attributes_and_methods():
    box = Box("crate", [1, 2])
    assert render('{{.Name}} {{.Items}} {{.Upper}} {{.Label "k"}}', box) == "crate [1 2] CRATE label:k"
    with pytest.raises(InvalidSpec, match=r"can't evaluate field Nope in type Box"):
        render("{{.Nope}}", box)
    with pytest.raises(InvalidSpec, match="can't evaluate field _secret"):
        render("{{._secret}}", box)


def test_call_invokes_a_function_value():
    data = {"Add": lambda a, b: a + b, "Fail": lambda: 1 / 0}
    assert render("{{call .Add 2 3}}", data) == "5"
    with pytest.raises(InvalidSpec, match="error calling call: division by zero"):
        render("{{call .Fail}}", data)
    with pytest.raises(InvalidSpec, match="error calling call: non-function"):
        render("{{call .Missing}}", {"Missing": 3})


def test_a_failing_method_is_reported_with_its_name():
    with pytest.raises(InvalidSpec, match=r'at <\.Size>: error calling Size: boom'):
        render("{{.Size}}", {"Size": lambda: (_ for _ in ()).throw(ValueError("boom"))})


def test_missingkey_error_names_the_key():
    with pytest.raises(InvalidSpec, match='map has no entry for key "Foo"'):
        parse("{{.Foo}}").execute({}, missingkey="error")
    assert parse("{{.Foo}}").execute({}, missingkey="zero") == "<nil>"
    with pytest.raises(InvalidSpec, match="missingkey"):
        parse("x").execute({}, missingkey="bogus")


def test_extra_functions_replace_builtins_for_one_execution():
    header = {"upper": gotemplate.GoFunc(lambda v: v, ("any",))}
    assert render("{{upper .X}}", {"X": "Names"}, funcs=header) == "Names"
    assert render("{{upper .X}}", {"X": "Names"}) == "NAMES"


def test_parsed_templates_are_cached_and_reusable():
    t = parse("{{.A}}-{{.B}}")
    assert parse("{{.A}}-{{.B}}") is t
    assert [t.execute({"A": i, "B": i * 2}) for i in range(3)] == ["0-0", "1-2", "2-4"]


def test_partial_output_is_kept_on_error():
    with pytest.raises(InvalidSpec) as info:
        render("abc{{.X}}{{.X.Y}}", {"X": "s"})
    assert info.value.details["partial"] == "abcs"


def test_variables_do_not_leak_out_of_their_block():
    with pytest.raises(InvalidSpec, match='undefined variable "\\$y"'):
        parse("{{if .}}{{$y := 1}}{{end}}{{$y}}")


def test_range_variables_reset_each_iteration():
    assert render("{{range .}}{{$n := .}}{{$n}}{{end}}", [1, 2, 3]) == "123"


def test_deep_recursion_is_an_error_not_a_crash():
    with pytest.raises(InvalidSpec, match="maximum template depth"):
        render('{{define "L"}}{{template "L" .}}{{end}}{{template "L" .}}', 1)


def test_data_is_not_modified():
    data = json.loads(json.dumps(D))
    render("{{range $k, $v := .Map}}{{$k}}{{end}}{{$x := .Args}}{{json .}}", data)
    assert data == json.loads(json.dumps(D))


# --- the real thing ------------------------------------------------------------------------

REF = Path(__file__).resolve().parent.parent / "fixtures" / "gotemplate_ref.go"


@pytest.mark.skipif(shutil.which("go") is None, reason="no Go toolchain to compare with")
def test_cases_agree_with_go(tmp_path):
    """Run every case marked ``go`` through Go's text/template and compare."""
    cases = ([(t, DATA[k], e) for t, k, e, go in CASES if go]
             + [(t, DATA[k], ("error", m)) for t, k, m, go in ERRORS if go]
             + [(t, d, e) for t, d, e in PROBES] + [(t, d, ("error", m)) for t, d, m in PROBE_ERRORS])
    payload = json.dumps([{"tmpl": t, "data": d} for t, d, _ in cases])
    src = tmp_path / "main.go"
    src.write_text(REF.read_text())
    env = {"GOCACHE": str(tmp_path / "cache"), "GOPATH": str(tmp_path / "gopath"), "HOME": str(tmp_path),
           "PATH": "/usr/bin:/bin", "GO111MODULE": "off"}
    proc = subprocess.run(["go", "run", str(src)], input=payload, capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    mismatches = []
    for (tmpl, _, expected), got in zip(cases, results, strict=True):
        if isinstance(expected, tuple):
            if got["err"] != expected[1]:
                mismatches.append((tmpl, expected[1], got))
        elif got["err"] or got["out"] != expected:
            mismatches.append((tmpl, expected, got))
    assert not mismatches, "\n".join(map(repr, mismatches))
    assert CID  # the fixtures were the ones Go saw
