"""Shell-word lexing and variable expansion, as the Dockerfile builder does it.

This is not a shell: it is the small subset of POSIX word rules that Docker applies to the
arguments of some instructions before running them (quotes, the escape character, ``$VAR`` and
``${VAR...}`` forms). RUN, CMD and ENTRYPOINT are *not* expanded by the builder: the shell in
the container does that at run time.

    process_word('"$HOME"/bin', {"HOME": "/root"})      -> '/root/bin'
    process_words('a "b c" $X', {"X": "d e"})            -> ['a', 'b c', 'd', 'e']

The escape character is the Dockerfile's (``\\`` or a backtick after ``# escape=```).
Unset variables expand to nothing; ``${VAR:?msg}`` and malformed forms raise ExpansionError.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import BuildError

# Instructions whose arguments the builder expands with the variables in scope. ONBUILD is
# listed because its trigger is expanded when it runs in a child build, not when it is read.
EXPANDED_INSTRUCTIONS = frozenset({
    "add", "copy", "env", "expose", "from", "label", "stopsignal", "user", "volume", "workdir",
    "onbuild", "arg",
})

# Go's unicode.IsSpace; Python's str.isspace also counts the ASCII separators 0x1c-0x1f.
_NOT_GO_SPACE = frozenset("\x1c\x1d\x1e\x1f")
_SPECIAL_PARAMS = frozenset("@*#?-$!0")


def is_space(ch: str) -> bool:
    return ch.isspace() and ch not in _NOT_GO_SPACE


def expands(instruction: str) -> bool:
    """Whether the builder expands variables in the arguments of this instruction."""
    return instruction.lower() in EXPANDED_INSTRUCTIONS


class ExpansionError(BuildError):
    """A word could not be expanded (unterminated quote, bad substitution, ``${X:?}``...)."""


@dataclass(frozen=True)
class ProcessResult:
    word: str                     # the expanded word, spaces kept
    words: tuple[str, ...]        # the same, split into fields after expansion
    matched: frozenset[str]       # variable names looked up and found
    unmatched: frozenset[str]     # variable names looked up and not set


class _Fields:
    """Collects the fields of a word: unquoted spaces (also from expansions) split them."""

    __slots__ = ("word", "words", "in_word")

    def __init__(self) -> None:
        self.word = ""
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if is_space(ch):
            # an empty quoted string ("") opens a field without content: a space then does
            # not close it, exactly as BuildKit's lexer behaves
            if self.in_word and self.word:
                self.words.append(self.word)
                self.word = ""
                self.in_word = False
        else:
            self.word += ch
            self.in_word = True

    def add_raw_char(self, ch: str) -> None:
        self.word += ch
        self.in_word = True

    def add_string(self, s: str) -> None:
        for ch in s:
            self.add_char(ch)

    def add_raw_string(self, s: str) -> None:
        self.word += s
        self.in_word = True

    def finish(self) -> list[str]:
        if self.word:
            self.words.append(self.word)
            self.word = ""
            self.in_word = False
        return self.words


class Lexer:
    """BuildKit's shell lexer with its switches.

    raw_quotes keeps quote characters in the output, raw_escapes keeps escape characters,
    skip_unset_env leaves ``$X``/``${X...}`` of unset variables as written, and
    skip_process_quotes treats quotes as plain characters (used for heredoc bodies).
    """

    __slots__ = ("escape", "raw_quotes", "raw_escapes", "skip_unset_env", "skip_process_quotes")

    def __init__(self, escape: str = "\\", *, raw_quotes: bool = False, raw_escapes: bool = False,
                 skip_unset_env: bool = False, skip_process_quotes: bool = False) -> None:
        if escape not in ("\\", "`"):
            raise BuildError(f"invalid escape token {escape!r}: must be ` or \\", field="escape")
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_unset_env = skip_unset_env
        self.skip_process_quotes = skip_process_quotes

    def process(self, word: str, env: Mapping[str, str]) -> ProcessResult:
        state = _State(self, word, env)
        try:
            result, fields = state.stop_on(None, self.raw_escapes)
        except ExpansionError as exc:
            raise ExpansionError(f"failed to process {_go_quote(word)}: {exc.msg}", word=word) from None
        return ProcessResult(result, tuple(fields), frozenset(state.matched), frozenset(state.unmatched))

    def process_word(self, word: str, env: Mapping[str, str]) -> str:
        return self.process(word, env).word

    def process_words(self, word: str, env: Mapping[str, str]) -> list[str]:
        return list(self.process(word, env).words)


class _State:
    __slots__ = ("lex", "src", "pos", "env", "raw_escapes", "matched", "unmatched")

    def __init__(self, lex: Lexer, src: str, env: Mapping[str, str]) -> None:
        self.lex = lex
        self.src = src
        self.pos = 0
        self.env = env
        self.raw_escapes = lex.raw_escapes
        self.matched: set[str] = set()
        self.unmatched: set[str] = set()

    # -- scanning -------------------------------------------------------------------------
    def peek(self) -> str | None:
        return self.src[self.pos] if self.pos < len(self.src) else None

    def next(self) -> str | None:
        if self.pos < len(self.src):
            ch = self.src[self.pos]
            self.pos += 1
            return ch
        return None

    def lookup(self, name: str) -> str | None:
        value = self.env.get(name)
        if value is None:
            self.unmatched.add(name)
        else:
            self.matched.add(name)
        return value

    # -- words ----------------------------------------------------------------------------
    def stop_on(self, stop: str | None, raw_escapes: bool) -> tuple[str, list[str]]:
        """Process up to ``stop`` (consumed) or the end; returns the text and its fields."""
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        try:
            return self._stop_on(stop)
        finally:
            self.raw_escapes = saved

    def _stop_on(self, stop: str | None) -> tuple[str, list[str]]:
        out: list[str] = []
        fields = _Fields()
        esc = self.lex.escape
        quotes = not self.lex.skip_process_quotes
        src = self.src
        n = len(src)
        while self.pos < n:
            ch = src[self.pos]
            if ch == stop:
                self.pos += 1
                return "".join(out), fields.finish()
            if ch == "$":
                tmp = self.dollar()
                out.append(tmp)
                fields.add_string(tmp)
            elif quotes and ch == "'":
                tmp = self.single_quote()
                out.append(tmp)
                fields.add_raw_string(tmp)
            elif quotes and ch == '"':
                tmp = self.double_quote()
                out.append(tmp)
                fields.add_raw_string(tmp)
            elif ch == esc:
                self.pos += 1
                if self.raw_escapes:
                    fields.add_raw_char(ch)
                    out.append(ch)
                nxt = self.next()
                if nxt is None:
                    break          # a trailing escape character is dropped
                fields.add_raw_char(nxt)
                out.append(nxt)
            else:
                self.pos += 1
                fields.add_char(ch)
                out.append(ch)
        if stop is not None:
            raise ExpansionError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(out), fields.finish()

    def single_quote(self) -> str:
        # everything up to the next ' is literal; nothing escapes inside single quotes
        raw = self.lex.raw_quotes
        self.pos += 1
        end = self.src.find("'", self.pos)
        if end < 0:
            raise ExpansionError("unexpected end of statement while looking for matching single-quote")
        body = self.src[self.pos:end]
        self.pos = end + 1
        return f"'{body}'" if raw else body

    def double_quote(self) -> str:
        raw = self.lex.raw_quotes
        esc = self.lex.escape
        self.pos += 1
        out = ['"'] if raw else []
        while True:
            ch = self.peek()
            if ch is None:
                raise ExpansionError("unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                self.pos += 1
                if raw:
                    out.append('"')
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            self.pos += 1
            if ch == esc:
                nxt = self.peek()
                if nxt is None:
                    if self.raw_escapes:
                        out.append(ch)
                    continue
                if nxt in ('"', "$", esc):
                    # only these can be escaped inside double quotes; other escapes stay literal
                    if self.raw_escapes:
                        out.append(ch)
                    self.pos += 1
                    out.append(nxt)
                    continue
            out.append(ch)

    # -- parameters -----------------------------------------------------------------------
    def name(self) -> str:
        """A variable name: letters, digits and _; or all the digits of a positional
        parameter; or one special parameter character."""
        src = self.src
        start = self.pos
        n = len(src)
        if start < n:
            first = src[start]
            if first.isdecimal():
                end = start
                while end < n and src[end].isdecimal():
                    end += 1
                self.pos = end
                return src[start:end]
            if first in _SPECIAL_PARAMS:
                self.pos += 1
                return first
        end = start
        while end < n and (src[end].isalpha() or src[end].isdecimal() or src[end] == "_"):
            end += 1
        self.pos = end
        return src[start:end]

    def dollar(self) -> str:
        self.pos += 1      # the $
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value = self.lookup(name)
            if value is None:
                return "$" + name if self.lex.skip_unset_env else ""
            return value

        self.pos += 1      # the {
        ch = self.peek()
        if ch is None:
            raise ExpansionError("syntax error: missing '}'")
        if ch in "{}:":
            raise ExpansionError("syntax error: bad substitution")
        name = self.name()
        op = self.next()
        if op == "}":
            value = self.lookup(name)
            if value is None:
                return "${" + name + "}" if self.lex.skip_unset_env else ""
            return value
        if op == "/":
            return self._replace(name)
        if op is None:
            raise ExpansionError("syntax error: missing '}'")
        ops = op
        null_is_unset = False
        if op == ":":
            null_is_unset = True
            op = self.next()
            if op is None:
                raise ExpansionError("syntax error: missing '}'")
            ops += op
        if op not in "+-?#%" or (null_is_unset and op in "#%"):
            # consume the rest so the message is about the modifier, not a missing brace
            raise ExpansionError(f"unsupported modifier ({ops}) in substitution")
        word = self._until_brace(raw_escapes=op in "#%")
        value = self.lookup(name)
        if value is None and self.lex.skip_unset_env:
            return "${" + name + ops + word + "}"
        empty = value is None or (null_is_unset and value == "")
        if op == "-":
            return word if empty else value  # type: ignore[return-value]
        if op == "+":
            return "" if empty else word
        if op == "?":
            if value is None:
                raise ExpansionError(f"{name}: {word or 'is not allowed to be unset'}")
            if null_is_unset and value == "":
                raise ExpansionError(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        # '#' trims a prefix, '%' a suffix; doubled, the longest match
        longest = word.startswith(op)
        if longest:
            word = word[1:]
        return trim_pattern(value or "", word, suffix=op == "%", longest=longest)

    def _until_brace(self, raw_escapes: bool) -> str:
        try:
            word, _ = self.stop_on("}", raw_escapes)
        except ExpansionError:
            if self.peek() is None:
                raise ExpansionError("syntax error: missing '}'") from None
            raise
        return word

    def _replace(self, name: str) -> str:
        replace_all = self.peek() == "/"
        if replace_all:
            self.pos += 1
        try:
            pattern, _ = self.stop_on("/", True)
        except ExpansionError:
            if self.peek() is None:
                raise ExpansionError("syntax error: missing '/' in ${}") from None
            raise
        replacement = self._until_brace(raw_escapes=True)
        value = self.lookup(name)
        if value is None and self.lex.skip_unset_env:
            return "${" + name + ("//" if replace_all else "/") + pattern + "/" + replacement + "}"
        return replace_pattern(value or "", pattern, replacement, replace_all)


# -- shell patterns (for ${VAR#...}, ${VAR%...} and ${VAR/...}) ------------------------------

def pattern_regex(pattern: str) -> str:
    """Translate a shell pattern into a regular expression (``*`` also crosses '/')."""
    out: list[str] = []
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            if i < n:
                out.append(re.escape(pattern[i]))
                i += 1
            else:
                out.append(re.escape("\\"))
        elif ch == "[":
            end, cls = _bracket(pattern, i)
            if end < 0:
                out.append(re.escape("["))
            else:
                out.append(cls)
                i = end
        else:
            out.append(re.escape(ch))
    return "".join(out)


def _bracket(pattern: str, i: int) -> tuple[int, str]:
    """Parse a bracket expression starting after '['; returns (index after ']', regex class)
    or (-1, '') when the bracket is not closed (then '[' is a literal)."""
    n = len(pattern)
    negate = False
    if i < n and pattern[i] in "!^":
        negate = True
        i += 1
    items: list[str] = []
    first = True
    while i < n:
        ch = pattern[i]
        if ch == "]" and not first:
            body = "".join(items)
            return i + 1, f"[{'^' if negate else ''}{body}]"
        first = False
        if ch == "\\" and i + 1 < n:
            i += 1
            ch = pattern[i]
        if i + 2 < n and pattern[i + 1] == "-" and pattern[i + 2] != "]":
            hi = pattern[i + 2]
            if hi == "\\" and i + 3 < n:
                hi = pattern[i + 3]
                i += 1
            items.append(f"{re.escape(ch)}-{re.escape(hi)}")
            i += 3
            continue
        items.append(re.escape(ch))
        i += 1
    return -1, ""


def trim_pattern(value: str, pattern: str, *, suffix: bool, longest: bool) -> str:
    """Remove the shortest (or longest) prefix/suffix of value matching the shell pattern."""
    try:
        rx = re.compile(pattern_regex(pattern), re.DOTALL)
    except re.error as exc:
        raise ExpansionError(f"invalid pattern ({pattern}) in substitution: {exc}") from None
    n = len(value)
    if suffix:
        cuts = range(0, n + 1) if longest else range(n, -1, -1)
        for cut in cuts:
            if rx.fullmatch(value, cut):
                return value[:cut]
    else:
        cuts = range(n, -1, -1) if longest else range(0, n + 1)
        for cut in cuts:
            if rx.fullmatch(value, 0, cut):
                return value[cut:]
    return value


def replace_pattern(value: str, pattern: str, replacement: str, replace_all: bool) -> str:
    if not pattern:
        return value
    try:
        rx = re.compile(pattern_regex(pattern), re.DOTALL)
    except re.error as exc:
        raise ExpansionError(f"invalid pattern ({pattern}) in substitution: {exc}") from None
    return rx.sub(lambda _m: replacement, value, count=0 if replace_all else 1)


# -- the entry points ----------------------------------------------------------------------

_LEXERS = {"\\": Lexer("\\"), "`": Lexer("`")}


def process_word(word: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """Expand one word: quotes removed, variables substituted, spaces kept."""
    return (_LEXERS.get(escape) or Lexer(escape)).process_word(word, env)


def process_words(word: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """Expand and split into fields (spaces from expansions split too; quoted ones do not)."""
    return (_LEXERS.get(escape) or Lexer(escape)).process_words(word, env)


class Expander:
    """What instructions call to expand their arguments with the variables in scope.

    Calling it expands one word with the Dockerfile's escape character; ``raw`` expands a
    heredoc body (quotes kept, as BuildKit does for ``COPY <<EOF`` files). ``matched``
    collects the names that expansion used, for the build-arg bookkeeping of the cache.
    """

    def __init__(self, env: Mapping[str, str], escape: str = "\\") -> None:
        self.env = env
        self.lexer = _LEXERS.get(escape) or Lexer(escape)
        self.matched: set[str] = set()

    def __call__(self, word: str) -> str:
        result = self.lexer.process(word, self.env)
        self.matched |= result.matched
        return result.word

    def words(self, word: str) -> list[str]:
        result = self.lexer.process(word, self.env)
        self.matched |= result.matched
        return list(result.words)

    def raw(self, text: str) -> str:
        result = _RAW_LEXER.process(text, self.env)
        self.matched |= result.matched
        return result.word


_RAW_LEXER = Lexer("\\", skip_process_quotes=True)


def _go_quote(s: str) -> str:
    # imported lazily: parser imports this module
    from .parser import go_quote
    return go_quote(s)
