"""The Dockerfile syntax, read the way BuildKit's frontend reads it.

``parse(text)`` turns a Dockerfile into a tree of ``Node``s, one child of the root per
instruction, in the shape BuildKit builds: each instruction node holds the lower-cased
instruction, its ``--flags`` as written, and its arguments as a chain of ``next`` nodes whose
form depends on the instruction (a JSON array, whitespace-separated words, key/value triples,
one string, or a nested instruction for ONBUILD). ``Node.dump()`` prints that tree in
BuildKit's s-expression format, which the peer test set compares byte for byte.

What this layer handles: parser directives (``# syntax=``, ``# escape=``, ``# check=``) on
the first lines only, comments, line continuations with the escape character (comments and
empty lines inside a continuation are skipped, the latter with a warning), heredocs
(``RUN <<EOF``, ``<<-EOF``, quoted delimiters, several per line), a UTF-8 byte-order mark,
and line numbers. Meaning (flags per instruction, argument counts) is checked by
instructions.py; variables are expanded by shell.py.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace

from ..errors import BuildError
from .shell import Lexer

DEFAULT_ESCAPE = "\\"
KNOWN_DIRECTIVES = ("syntax", "escape", "check")

# Go's unicode.IsSpace set, for strings.TrimSpace-like trimming
GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008" \
           "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"

INSTRUCTIONS = ("add", "arg", "cmd", "copy", "entrypoint", "env", "expose", "from", "healthcheck",
                "label", "maintainer", "onbuild", "run", "shell", "stopsignal", "user", "volume",
                "workdir")

_RE_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
# Go's RE2 \s is [\t\n\f\r ]; spelt out so Python's Unicode \s does not widen it
_RE_DIRECTIVE = re.compile(r"#[\t\n\f\r ]*([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*\Z")
_RE_HEREDOC = re.compile(r"([0-9]*)<<(-?)([^<]*)\Z")
_RE_LEADING_TABS = re.compile(r"^\t+", re.MULTILINE)
_CONTINUATION = {
    esc: re.compile(r"([^" + re.escape(esc) + r"])" + re.escape(esc) + r"[ \t]*\Z|\A" + re.escape(esc) + r"[ \t]*\Z")
    for esc in ("\\", "`")
}
_HEREDOC_INSTRUCTIONS = frozenset({"add", "copy", "run"})
_JSON = json.JSONDecoder(parse_constant=lambda c: _reject_constant(c))


def _reject_constant(name: str) -> None:
    # Go's encoding/json has no NaN/Infinity: such text is not JSON, so not the exec form
    raise ValueError(f"invalid JSON literal {name}")


class NotStringArray(Exception):
    """A JSON array with something other than strings in it (an error, not shell form)."""


@dataclass(frozen=True)
class Heredoc:
    name: str                  # the delimiter word, quotes removed
    expand: bool = True        # False when any part of the delimiter was quoted
    chomp: bool = False        # <<- : leading tabs stripped from the body and the terminator
    file_descriptor: int = 0   # the digits before <<, as in 3<<EOF
    content: str = ""          # the body, each line with its newline

    @property
    def body(self) -> str:
        """The content as the instruction uses it (tabs stripped for <<-)."""
        return chomp_heredoc(self.content) if self.chomp else self.content


@dataclass(eq=False, slots=True)
class Node:
    """One node of the parse tree; see the module docstring for the shape."""

    value: str = ""
    next: Node | None = None
    children: list[Node] = field(default_factory=list)
    heredocs: list[Heredoc] = field(default_factory=list)
    json: bool = False               # the arguments were a JSON array (exec form)
    original: str = ""               # the logical line, continuations joined
    flags: list[str] = field(default_factory=list)
    start_line: int = 0
    end_line: int = 0
    comments: list[str] = field(default_factory=list)   # comment lines just above

    @property
    def args(self) -> list[str]:
        """The argument values in order; a nested instruction (ONBUILD) contributes its name
        and then its own arguments, as BuildKit's instruction parser reads them."""
        out: list[str] = []
        node = self.next
        while node is not None:
            if not node.children:
                out.append(node.value)
            elif len(node.children) == 1:
                child = node.children[0]
                out.append(child.value)
                out.extend(child.args)
            node = node.next
        return out

    @property
    def child(self) -> Node | None:
        """The nested instruction of an ONBUILD node."""
        if self.next is not None and self.next.children:
            return self.next.children[0]
        return None

    def dump(self) -> str:
        """BuildKit's ``Node.Dump()``: e.g. ``(copy ["--from=a"] "x" "/y")``."""
        parts = [self.value.lower()]
        if self.flags:
            parts.append(" [" + " ".join(go_quote(f) for f in self.flags) + "]")
        for c in self.children:
            parts.append("(" + c.dump() + ")\n")
        n = self.next
        while n is not None:
            parts.append(" " + (n.dump() if n.children else go_quote(n.value)))
            n = n.next
        return "".join(parts).strip(GO_SPACE)

    def can_contain_heredoc(self) -> bool:
        node: Node = self
        if node.value == "onbuild" and node.child is not None:
            node = node.child
        return node.value in _HEREDOC_INSTRUCTIONS and not node.json


@dataclass
class Result:
    ast: Node                                   # the root: one child per instruction
    escape: str = DEFAULT_ESCAPE
    directives: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


# -- Go's strconv.Quote --------------------------------------------------------------------

_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
               "\v": "\\v", '"': '\\"', "\\": "\\\\"}
_PLAIN = re.compile(r'[ !#-\[\]-~]*\Z')


def go_quote(s: str) -> str:
    """Go's strconv.Quote. Raw bytes that were not UTF-8 (decoded with surrogateescape) come
    out as \\xNN, as Go prints invalid UTF-8."""
    if _PLAIN.match(s):
        return '"' + s + '"'
    out = ['"']
    for ch in s:
        esc = _GO_ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
            continue
        o = ord(ch)
        if 0xDC80 <= o <= 0xDCFF:
            out.append(f"\\x{o - 0xDC00:02x}")
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif ch.isprintable():
            out.append(ch)
        elif 0xD800 <= o <= 0xDFFF:
            out.append("\\ufffd")
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


# -- argument parsers, one per instruction form ----------------------------------------------

def _parse_words(rest: str, escape: str) -> list[str]:
    """Split on unquoted whitespace, keeping quotes and escapes in the words (they are
    removed later, when the words are expanded)."""
    words: list[str] = []
    word: list[str] = []
    blank_ok = False
    quote = ""
    i = 0
    n = len(rest)
    in_word = False
    while i < n:
        ch = rest[i]
        if not in_word:
            if _is_space(ch):
                i += 1
                continue
            in_word = True
        if quote:
            if ch == quote:
                quote = ""
            elif ch == escape and quote != "'":
                if i + 1 == n:
                    break            # a trailing escape is dropped
                word.append(ch)
                i += 1
                ch = rest[i]
            word.append(ch)
            i += 1
            continue
        if _is_space(ch):
            if blank_ok or word:
                words.append("".join(word))
            word = []
            blank_ok = False
            in_word = False
            i += 1
            continue
        if ch in ("'", '"'):
            quote = ch
            blank_ok = True
        if ch == escape:
            if i + 1 == n:
                break
            # outside quotes the escape and the next character stay together, even a quote
            word.append(ch)
            i += 1
            ch = rest[i]
        word.append(ch)
        i += 1
    if in_word and (blank_ok or word):
        words.append("".join(word))
    return words


def _is_space(ch: str) -> bool:
    return ch in GO_SPACE


def _chain(values: list[str]) -> Node | None:
    head: Node | None = None
    for v in reversed(values):
        head = Node(value=v, next=head)
    return head


def _key_value(key: str, value: str, sep: str) -> list[str]:
    return [key, value, sep]


def _parse_name_val(rest: str, what: str, escape: str) -> Node | None:
    """ENV and LABEL: ``KEY value`` (the legacy form) or ``k=v k2="v 2" ...``. Each pair
    becomes three nodes: key, value, and "=" (or "" for the legacy form)."""
    words = _parse_words(rest, escape)
    if not words:
        return None
    if "=" not in words[0]:
        parts = _RE_WHITESPACE.split(rest, 1)
        if len(parts) < 2:
            raise _Malformed(f"{what} must have two arguments")
        return _chain(_key_value(parts[0], parts[1], ""))
    values: list[str] = []
    for w in words:
        if "=" not in w:
            raise _Malformed(f"Syntax error - can't find = in {go_quote(w)}. Must be of the form: name=value")
        k, v = w.split("=", 1)
        values += _key_value(k, v, "=")
    return _chain(values)


def _parse_json(rest: str) -> list[str]:
    rest = rest.lstrip(GO_SPACE)
    if not rest.startswith("["):
        raise ValueError("not a JSON array")
    value, _ = _JSON.raw_decode(rest)    # like Go's json.Decoder, text after the array is ignored
    if not isinstance(value, list):
        raise ValueError("not a JSON array")
    if not all(isinstance(v, str) for v in value):
        raise NotStringArray()
    return value


def _maybe_json(rest: str, to_list: bool) -> tuple[Node | None, bool]:
    try:
        values = _parse_json(rest)
    except NotStringArray:
        raise _Malformed("when using JSON array syntax, arrays must be comprised of strings only") from None
    except ValueError:
        if to_list:
            return (_chain(_RE_WHITESPACE.split(rest)) if rest else None), False
        return (Node(value=rest) if rest else None), False
    return _chain(values), True


class _Malformed(Exception):
    """Raised inside the line parsers; turned into BuildError with the line number."""


class _Parser:
    def __init__(self, filename: str, strict: bool) -> None:
        self.filename = filename
        self.strict = strict
        self.escape = DEFAULT_ESCAPE
        self.continuation = _CONTINUATION[DEFAULT_ESCAPE]
        self.directives: dict[str, str] = {}
        self.directives_done = False

    def error(self, msg: str, line: int, end_line: int | None = None) -> BuildError:
        return BuildError(f"{self.filename}:{line}: {msg}", line=line, end_line=end_line or line,
                          file=self.filename)

    def directive(self, text: str, line: int) -> None:
        """Parser directives count only before anything else: the first line that is not one
        ends the search, whatever it is."""
        if self.directives_done:
            return
        m = _RE_DIRECTIVE.match(text)
        if not m:
            self.directives_done = True
            return
        key = m.group(1).lower()
        if key not in KNOWN_DIRECTIVES:
            self.directives_done = True
            return
        if key in self.directives:
            raise self.error(f"only one {key} parser directive can be used", line)
        value = m.group(2)
        self.directives[key] = value
        if key == "escape":
            if value not in ("\\", "`"):
                raise self.error(f"invalid escape token '{value}' does not match ` or \\", line)
            self.escape = value
            self.continuation = _CONTINUATION[value]

    def trim_continuation(self, line: str) -> tuple[str, bool]:
        """Strip a trailing escape character; returns (text, whether the line ends here)."""
        m = self.continuation.search(line)
        if m is None:
            return line, True
        return line[:m.start()] + (m.group(1) or ""), False

    def node_from_line(self, line: str, comments: list[str], lineno: int) -> Node:
        cmd, flags, args = _split_command(line)
        parse = _DISPATCH.get(cmd)
        if parse is None:
            if self.strict:
                raise _Unknown(cmd)
            nxt, is_json = Node(), False
        elif parse is _SUBCOMMAND:
            nxt, is_json = (Node(children=[self.node_from_line(args, [], lineno)]) if args else None), False
        else:
            nxt, is_json = parse(args, self.escape)
        return Node(value=cmd, next=nxt, json=is_json, original=line, flags=flags, comments=comments)

    def run(self, text: str) -> Result:
        lines = _split_lines(text)
        root = Node(start_line=-1)
        warnings: list[str] = []
        comments: list[str] = []
        i = 0
        total = len(lines)
        while i < total:
            raw = lines[i]
            i += 1
            lineno = i
            stripped = _trim_newline(raw).lstrip(GO_SPACE)
            self.directive(stripped, lineno)
            if stripped.startswith("#"):
                comment = stripped[1:].strip(GO_SPACE)
                if comment:
                    comments.append(comment)
                continue
            logical, done = self.trim_continuation(stripped)
            if done and not logical:
                continue
            start = lineno
            empty_continuation = False
            while not done and i < total:
                raw = lines[i]
                i += 1
                text_line = _trim_newline(raw)
                self.directive(text_line, i)
                bare = text_line.lstrip(GO_SPACE)
                if bare.startswith("#"):
                    continue        # comments inside a continuation are dropped
                if not bare:
                    empty_continuation = True
                    continue
                part, done = self.trim_continuation(text_line)
                logical += part
            end = i
            if empty_continuation:
                warnings.append(f"{self.filename}:{end}: empty continuation line found in: {logical}")
            try:
                node = self.node_from_line(logical, comments, start)
            except _Unknown as exc:
                raise self.error(f"unknown instruction: {exc.name.upper()}{_suggest(exc.name)}", start, end) from None
            except _Malformed as exc:
                raise self.error(str(exc), start, end) from None
            if "<<" in logical and node.can_contain_heredoc():
                try:
                    docs = heredocs_from_line(logical)
                except BuildError as exc:
                    raise self.error(exc.msg, start, end) from None
                for doc in docs:
                    content: list[str] = []
                    terminated = False
                    while i < total:
                        raw = lines[i]
                        i += 1
                        candidate = _trim_newline(raw)
                        if doc.chomp:
                            candidate = candidate.lstrip("\t")
                        if candidate == doc.name:
                            terminated = True
                            break
                        content.append(raw)
                    if not terminated:
                        raise self.error(f"unterminated heredoc {doc.name}", start, i)
                    node.heredocs.append(replace(doc, content="".join(content)))
                end = i
            node.start_line, node.end_line = start, end
            if root.start_line < 0:
                root.start_line = start
            root.end_line = end
            root.children.append(node)
            comments = []
        if root.start_line < 0:
            raise self.error("file with no instructions", max(total, 1))
        return Result(ast=root, escape=self.escape, directives=dict(self.directives), warnings=warnings)


class _Unknown(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _suggest(name: str) -> str:
    best, best_d = "", 3
    for candidate in INSTRUCTIONS:
        d = _distance(name.lower(), candidate)
        if d < best_d:
            best, best_d = candidate, d
    return f" (did you mean {best.upper()}?)" if best else ""


def _distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _split_lines(text: str) -> list[str]:
    """Lines with their endings, split on \\n only (bufio's line scanner, endings kept)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _trim_newline(line: str) -> str:
    return line.rstrip("\r\n")


def _split_command(line: str) -> tuple[str, list[str], str]:
    parts = _RE_WHITESPACE.split(line.strip(GO_SPACE), 1)
    cmd = parts[0].lower()
    if len(parts) < 2:
        return cmd, [], ""
    args, flags = _extract_flags(parts[1])
    return cmd, flags, args.strip(GO_SPACE)


def _extract_flags(line: str) -> tuple[str, list[str]]:
    """Leading ``--name[=value]`` words; ``--`` ends them. Quotes and backslashes inside a
    flag are processed (``--label="a b"`` gives ``--label=a b``)."""
    flags: list[str] = []
    i = 0
    n = len(line)
    while True:
        while i < n and _is_space(line[i]):
            i += 1
        if i >= n:
            return "", flags
        if not line.startswith("--", i):
            return line[i:], flags
        word: list[str] = []
        blank_ok = False
        quote = ""
        while i < n:
            ch = line[i]
            if quote:
                if ch == quote:
                    quote = ""
                    i += 1
                    continue
                if ch == "\\":
                    if i + 1 == n:
                        quote = ""
                        i += 1
                        continue
                    i += 1
                    ch = line[i]
                word.append(ch)
                i += 1
                continue
            if _is_space(ch):
                break
            if ch in ("'", '"'):
                quote = ch
                blank_ok = True
                i += 1
                continue
            if ch == "\\":
                if i + 1 == n:
                    i += 1
                    continue
                i += 1
                ch = line[i]
            word.append(ch)
            i += 1
        text = "".join(word)
        if text == "--":
            return (line[i:] if i < n else ""), flags
        if blank_ok or text:
            flags.append(text)


def _parse_strings(rest: str, escape: str) -> tuple[Node | None, bool]:
    return (_chain(_RE_WHITESPACE.split(rest)) if rest else None), False


def _parse_string(rest: str, escape: str) -> tuple[Node | None, bool]:
    return (Node(value=rest) if rest else None), False


def _parse_maybe_json(rest: str, escape: str) -> tuple[Node | None, bool]:
    if not rest:
        return None, False
    return _maybe_json(rest, to_list=False)


def _parse_maybe_json_list(rest: str, escape: str) -> tuple[Node | None, bool]:
    return _maybe_json(rest, to_list=True)


def _parse_env(rest: str, escape: str) -> tuple[Node | None, bool]:
    return _parse_name_val(rest, "ENV", escape), False


def _parse_label(rest: str, escape: str) -> tuple[Node | None, bool]:
    return _parse_name_val(rest, "LABEL", escape), False


def _parse_name_or_name_val(rest: str, escape: str) -> tuple[Node | None, bool]:
    return _chain(_parse_words(rest, escape)), False


def _parse_health(rest: str, escape: str) -> tuple[Node | None, bool]:
    """HEALTHCHECK: a type word (CMD, NONE) then, for CMD, the command in either form."""
    sep = 0
    while sep < len(rest) and not _is_space(rest[sep]):
        sep += 1
    if sep == 0:
        return None, False
    nxt = sep
    while nxt < len(rest) and _is_space(rest[nxt]):
        nxt += 1
    cmd, is_json = _parse_maybe_json(rest[nxt:], escape)
    return Node(value=rest[:sep], next=cmd), is_json


_SUBCOMMAND = object()
_DISPATCH: dict[str, object] = {
    "add": _parse_maybe_json_list, "arg": _parse_name_or_name_val, "cmd": _parse_maybe_json,
    "copy": _parse_maybe_json_list, "entrypoint": _parse_maybe_json, "env": _parse_env,
    "expose": _parse_strings, "from": _parse_strings, "healthcheck": _parse_health,
    "label": _parse_label, "maintainer": _parse_string, "onbuild": _SUBCOMMAND,
    "run": _parse_maybe_json, "shell": _parse_maybe_json, "stopsignal": _parse_string,
    "user": _parse_string, "volume": _parse_maybe_json_list, "workdir": _parse_string,
}


# -- heredocs --------------------------------------------------------------------------------

_HEREDOC_SCAN = Lexer("\\", raw_quotes=True, raw_escapes=True, skip_unset_env=True)
_HEREDOC_WORD = Lexer("\\", skip_unset_env=True)
_HEREDOC_WORD_RAW = Lexer("\\", raw_quotes=True, skip_unset_env=True)


def parse_heredoc(word: str) -> Heredoc | None:
    """The heredoc a word introduces (``<<EOF``, ``<<-"EOF"``, ``3<<EOF``), or None."""
    m = _RE_HEREDOC.match(word)
    if m is None or not m.group(3):
        return None
    rest = m.group(3)
    words = _HEREDOC_WORD.process_words(rest, {})
    if len(words) != 1:
        return None
    raw = _HEREDOC_WORD_RAW.process_words(rest, {})
    if len(raw) != 1:
        raise BuildError(f"internal lexing of heredoc produced inconsistent results: {rest}")
    name = words[0]
    # any quoting in the delimiter (it disappears when quotes are processed) disables expansion
    expand = name.count("'") + name.count('"') == raw[0].count("'") + raw[0].count('"')
    return Heredoc(name=name, expand=expand, chomp=m.group(2) == "-",
                   file_descriptor=int(m.group(1) or 0))


def heredocs_from_line(line: str) -> list[Heredoc]:
    try:
        words = _HEREDOC_SCAN.process_words(line, {})
    except BuildError:
        return []
    docs = []
    for w in words:
        doc = parse_heredoc(w)
        if doc is not None:
            docs.append(doc)
    return docs


def chomp_heredoc(content: str) -> str:
    return _RE_LEADING_TABS.sub("", content)


# -- entry point -------------------------------------------------------------------------------

def parse(source: str | bytes, filename: str = "Dockerfile", *, strict: bool = True) -> Result:
    """Parse a Dockerfile. Raises BuildError naming ``filename:line`` for malformed lines and,
    when ``strict`` (the default), for unknown instructions; BuildKit's own parser accepts
    those and fails later, and ``strict=False`` does the same."""
    if isinstance(source, bytes):
        source = source.decode("utf-8", "surrogateescape")
    return _Parser(filename, strict).run(source)
