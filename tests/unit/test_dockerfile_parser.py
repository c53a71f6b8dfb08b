import pytest
from ansible_collections.berth.engine.plugins.module_utils.build import parser
from ansible_collections.berth.engine.plugins.module_utils.errors import BuildError

from tests.fixtures.dockerfile import parser_cases, peer_file


def dump(text: str | bytes) -> str:
    return parser.parse(text).ast.dump()


# -- the BuildKit peer test set ---------------------------------------------------------------

@pytest.mark.parametrize("case", parser_cases("testfiles"))
def test_peer_dump_matches_buildkit(case):
    source = (case / "Dockerfile").read_bytes()
    expected = (case / "result").read_bytes().decode("utf-8", "surrogateescape")
    assert parser.parse(source).ast.dump() + "\n" == expected


@pytest.mark.parametrize("case", parser_cases("testfiles-negative"))
def test_peer_negative_cases_fail(case):
    with pytest.raises(BuildError) as err:
        parser.parse((case / "Dockerfile").read_bytes())
    assert err.value.line is not None and err.value.line >= 1


def test_peer_line_numbers():
    ast = parser.parse(peer_file("parser", "testfile-line", "Dockerfile").read_bytes()).ast
    assert (ast.start_line, ast.end_line) == (5, 31)
    assert [(c.start_line, c.end_line) for c in ast.children] == [(5, 5), (11, 12), (17, 31)]


# -- directives ----------------------------------------------------------------------------------

def test_escape_directive_switches_continuation_and_escape():
    result = parser.parse("# escape=`\nFROM x\nRUN dir c:\\ `\n  /w\nLABEL a=`\"b\n")
    assert result.escape == "`"
    assert result.directives == {"escape": "`"}
    assert result.ast.dump() == '(from "x")\n(run "dir c:\\\\   /w")\n(label "a" "`\\"b" "=")'


def test_syntax_and_check_directives_are_accepted_and_recorded():
    result = parser.parse("# syntax=docker/dockerfile:1.7\n# check=skip=all\nFROM x\n")
    assert result.directives == {"syntax": "docker/dockerfile:1.7", "check": "skip=all"}
    assert result.escape == "\\"


def test_directive_after_a_comment_or_instruction_is_a_comment():
    result = parser.parse("# hello\n# escape=`\nFROM x\n# escape=`\nRUN a \\\n b\n")
    assert result.escape == "\\"
    assert result.ast.dump() == '(from "x")\n(run "a  b")'
    assert result.ast.children[0].comments == ["hello", "escape=`"]


def test_unknown_directive_ends_directives():
    assert parser.parse("# foo=bar\n# escape=`\nFROM x\n").escape == "\\"


def test_repeated_directive_is_an_error_with_its_line():
    with pytest.raises(BuildError) as err:
        parser.parse("# escape=`\n# escape=\\\nFROM x\n")
    assert err.value.line == 2
    assert "only one escape parser directive" in str(err.value)


def test_invalid_escape_token():
    with pytest.raises(BuildError, match="invalid escape token 'x'"):
        parser.parse("# escape=x\nFROM a\n")


def test_bom_and_crlf():
    assert dump("\ufeffFROM a\r\nRUN b \\\r\n c\r\n") == '(from "a")\n(run "b  c")'
    assert dump(b"\xef\xbb\xbfFROM a\n") == '(from "a")'


# -- lines, comments, continuations -------------------------------------------------------------

def test_comments_and_empty_lines_inside_continuation():
    result = parser.parse("FROM a\nRUN one \\\n  # skipped\n\n  two\n")
    assert result.ast.dump() == '(from "a")\n(run "one   two")'
    assert result.ast.children[1].start_line == 2 and result.ast.children[1].end_line == 5
    assert len(result.warnings) == 1 and "empty continuation" in result.warnings[0]


def test_original_keeps_the_joined_line():
    node = parser.parse("FROM a\n  run   --network=none  echo \\\n   hi\n").ast.children[1]
    assert node.original == "run   --network=none  echo    hi"
    assert node.value == "run" and node.flags == ["--network=none"]
    assert node.args == ["echo    hi"]


def test_indented_instructions_and_comments():
    assert dump("   FROM a\n\t# c\n  RUN b\n") == '(from "a")\n(run "b")'


# -- argument forms ------------------------------------------------------------------------------

@pytest.mark.parametrize("line, expected", [
    ('CMD ["a", "b c"]', '(cmd "a" "b c")'),
    ("CMD a b", '(cmd "a b")'),
    ('CMD ["a", 1]', None),
    ("CMD [NaN]", '(cmd "[NaN]")'),
    ('ENTRYPOINT ["x"] trailing', '(entrypoint "x")'),
    ("COPY a b c", '(copy "a" "b" "c")'),
    ('COPY ["a b", "c"]', '(copy "a b" "c")'),
    ("VOLUME /a  /b", '(volume "/a" "/b")'),
    ("EXPOSE 80/tcp 443", '(expose "80/tcp" "443")'),
    ("ENV A=1 B=\"2 3\" C", None),
    ("ENV A 1 2", '(env "A" "1 2" "")'),
    ("LABEL a=b c=d", '(label "a" "b" "=" "c" "d" "=")'),
    ('ARG a="x y" b', '(arg "a=\\"x y\\"" "b")'),
    ("USER a:b", '(user "a:b")'),
    ("HEALTHCHECK NONE", '(healthcheck "NONE")'),
    ('SHELL ["/bin/bash", "-c"]', '(shell "/bin/bash" "-c")'),
    ("ONBUILD COPY --from=x a b", '(onbuild (copy ["--from=x"] "a" "b"))'),
    ('COPY --chown="a b" --chmod=755 x y', '(copy ["--chown=a b" "--chmod=755"] "x" "y")'),
    ("STOPSIGNAL SIGKILL", '(stopsignal "SIGKILL")'),
    ("FROM a AS b", '(from "a" "AS" "b")'),
])
def test_argument_forms(line, expected):
    if expected is None:
        with pytest.raises(BuildError) as err:
            parser.parse(line + "\n")
        assert err.value.line == 1
    else:
        assert dump(line + "\n") == expected


def test_json_attribute_marks_exec_form():
    ast = parser.parse('RUN ["a"]\nRUN a\n').ast
    assert ast.children[0].json and not ast.children[1].json


def test_unknown_instruction_names_line_and_suggests():
    with pytest.raises(BuildError) as err:
        parser.parse("FROM a\n\n# c\n\nRUN x\n\n\nFORM b\n")
    assert err.value.line == 8
    assert str(err.value).startswith("Dockerfile:8: unknown instruction: FORM")
    assert "did you mean FROM" in str(err.value)


def test_unknown_instruction_in_onbuild_and_non_strict_mode():
    with pytest.raises(BuildError, match="unknown instruction: BOGUS"):
        parser.parse("FROM a\nONBUILD bogus x\n")
    assert parser.parse("FROM a\nBOGUS x\n", strict=False).ast.dump() == '(from "a")\n(bogus "")'


def test_error_names_the_file_given():
    with pytest.raises(BuildError) as err:
        parser.parse("FROM a\nENV X\n", filename="dev.Dockerfile")
    assert str(err.value) == "dev.Dockerfile:2: ENV must have two arguments"
    assert err.value.details["file"] == "dev.Dockerfile"


# -- heredocs ------------------------------------------------------------------------------------

def test_run_heredoc():
    result = parser.parse("FROM a\nRUN <<EOF\necho $HOME\n  two\nEOF\nRUN after\n")
    run = result.ast.children[1]
    assert run.dump() == 'run "<<EOF"'
    assert run.heredocs == [parser.Heredoc(name="EOF", expand=True, chomp=False, content="echo $HOME\n  two\n")]
    assert (run.start_line, run.end_line) == (2, 5)
    assert result.ast.children[2].start_line == 6


def test_chomped_heredoc_strips_tabs_from_body_and_terminator():
    run = parser.parse("RUN <<-EOT\n\t\techo a\n\tb\n\tEOT\n").ast.children[0]
    doc = run.heredocs[0]
    assert doc.chomp and doc.content == "\t\techo a\n\tb\n"
    assert doc.body == "echo a\nb\n"


@pytest.mark.parametrize("word, name, expand", [
    ("<<EOF", "EOF", True), ("<<'EOF'", "EOF", False), ('<<"EOF"', "EOF", False),
    ("<<E'O'F", "EOF", False), ("<<-EOF", "EOF", True), ("3<<EOF", "EOF", True),
])
def test_heredoc_delimiters(word, name, expand):
    doc = parser.parse_heredoc(word)
    assert doc is not None and (doc.name, doc.expand) == (name, expand)


@pytest.mark.parametrize("word", ["<<", "a<<EOF", '"<<EOF"', "<EOF", "<<a b"])
def test_not_heredocs(word):
    assert parser.parse_heredoc(word) is None


def test_several_heredocs_on_one_line_and_copy_heredoc():
    ast = parser.parse("RUN cat <<A <<B > f\na\nA\nb\nB\nCOPY <<X /dest\nx\nX\n").ast
    assert [(d.name, d.content) for d in ast.children[0].heredocs] == [("A", "a\n"), ("B", "b\n")]
    assert ast.children[1].dump() == 'copy "<<X" "/dest"'
    assert ast.children[1].heredocs[0].content == "x\n"
    assert ast.children[1].end_line == 8


def test_heredoc_ignored_in_exec_form_quotes_and_other_instructions():
    ast = parser.parse('RUN ["cat", "<<EOF"]\nRUN echo "<<EOF"\nLABEL a=<<EOF\n').ast
    assert all(not c.heredocs for c in ast.children)


def test_onbuild_heredoc_attaches_to_onbuild():
    node = parser.parse("ONBUILD RUN <<EOF\nx\nEOF\n").ast.children[0]
    assert node.heredocs[0].content == "x\n"


def test_unterminated_heredoc():
    with pytest.raises(BuildError, match="unterminated heredoc") as err:
        parser.parse("FROM a\nRUN <<EOF\nno end\n")
    assert err.value.line == 2


# -- Go's quoting --------------------------------------------------------------------------------

@pytest.mark.parametrize("value, quoted", [
    ("plain", '"plain"'), ('a"b\\c', '"a\\"b\\\\c"'), ("\x00\x7f\t\n", '"\\x00\\x7f\\t\\n"'),
    ("♥ 한", '"♥ 한"'), ("\u00a0", '"\\u00a0"'), ("\U0001f600", '"\U0001f600"'),
    ("\U000e0001", '"\\U000e0001"'), (b"\xff".decode("utf-8", "surrogateescape"), '"\\xff"'),
])
def test_go_quote(value, quoted):
    assert parser.go_quote(value) == quoted
