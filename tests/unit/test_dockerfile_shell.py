from collections.abc import Mapping

import pytest
from ansible_collections.berth.engine.plugins.module_utils.build import shell
from ansible_collections.berth.engine.plugins.module_utils.build.shell import (
    Expander,
    ExpansionError,
    Lexer,
    process_word,
    process_words,
)

from tests.fixtures.dockerfile import env_var_cases, words_cases

PEER_ENV = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": ""}


class CaseInsensitiveEnv(dict):
    """Windows looks variables up regardless of case ($pwd is $PWD)."""

    def get(self, key, default=None):
        for k, v in self.items():
            if k.lower() == key.lower():
                return v
        return default


@pytest.mark.parametrize("case", env_var_cases())
def test_peer_env_var_expansion(case):
    platform, source, expected = case
    env: Mapping[str, str] = CaseInsensitiveEnv(PEER_ENV) if platform == "W" else PEER_ENV
    if expected == "error":
        with pytest.raises(ExpansionError):
            process_word(source, env)
    else:
        assert process_word(source, env) == expected


@pytest.mark.parametrize("case", words_cases())
def test_peer_word_splitting(case):
    env, source, expected = case
    if expected == ["error"]:
        with pytest.raises(ExpansionError):
            process_words(source, env)
    else:
        assert process_words(source, env) == expected


@pytest.mark.parametrize("word, expected", [
    ("${V#*/}", "b/c.tar.gz"), ("${V##*/}", "c.tar.gz"),
    ("${V%.*}", "a/b/c.tar"), ("${V%%.*}", "a/b/c"),
    ("${V#x}", "a/b/c.tar.gz"), ("${V%[gz]z}", "a/b/c.tar."), ("${V#[!b]/}", "b/c.tar.gz"),
    ("${V/\\//:}", "a:b/c.tar.gz"), ("${V//\\//:}", "a:b:c.tar.gz"), ("${V/b*/x}", "a/x"),
    ("${V/?/}", "/b/c.tar.gz"), ("${UNSET#a}", ""), ("${V#\\a}", "/b/c.tar.gz"),
    ("${E-d}", ""), ("${E:-d}", "d"), ("${E+a}", "a"), ("${E:+a}", ""), ("${U-d}", "d"),
])
def test_pattern_forms(word, expected):
    assert process_word(word, {"V": "a/b/c.tar.gz", "E": ""}) == expected


@pytest.mark.parametrize("word, message", [
    ("${U:?need it}", "U: need it"), ("${U?}", "U: is not allowed to be unset"),
    ("${E:?}", "E: is not allowed to be empty"), ("${V:#x}", "unsupported modifier (:#)"),
    ("${V/x", "missing '/'"), ("${V/x/y", "missing '}'"),
])
def test_expansion_errors_name_the_problem(word, message):
    with pytest.raises(ExpansionError) as err:
        process_word(word, {"V": "v", "E": ""})
    assert message in str(err.value)
    assert "failed to process" in str(err.value)


def test_backtick_escape():
    assert process_word("a`$b`\\c", {"b": "B"}, escape="`") == "a$b\\c"
    assert process_words('x` y "`"z"', {}, escape="`") == ["x y", '"z']
    with pytest.raises(Exception, match="invalid escape token"):
        Lexer("x")


def test_lexer_switches():
    raw = Lexer(raw_quotes=True, raw_escapes=True, skip_unset_env=True)
    assert raw.process_words("a 'b c' \\d $U ${U:-x}", {}) == ["a", "'b c'", "\\d", "$U", "${U:-x}"]
    assert Lexer(skip_process_quotes=True).process_word("'$A' \"$A\"", {"A": "1"}) == "'1' \"1\""


def test_process_reports_matched_names():
    result = Lexer().process("$A ${B:-x} $C", {"A": "1", "C": "3"})
    assert result.word == "1 x 3"
    assert result.matched == {"A", "C"} and result.unmatched == {"B"}


def test_expander_words_raw_and_bookkeeping():
    ex = Expander({"A": "1 2", "Q": "q"})
    assert ex('"$A"') == "1 2"
    assert ex.words("$A x") == ["1", "2", "x"]
    assert ex.raw('echo "$Q" \'$Q\'\n') == "echo \"q\" 'q'\n"
    assert ex.matched == {"A", "Q"}


def test_which_instructions_expand():
    assert all(shell.expands(i) for i in ("ADD", "copy", "ENV", "FROM", "WORKDIR", "ARG", "ONBUILD"))
    assert not any(shell.expands(i) for i in ("RUN", "CMD", "ENTRYPOINT", "SHELL", "HEALTHCHECK"))
