"""Lexer and parser for Go's text/template language (the syntax Docker's --format takes).

The grammar and the error wording follow Go's text/template/parse package, so that a bad
template reads as it would under docker: ``template: :1: function "foo" not defined``.
"""
from __future__ import annotations

import re
from typing import Any

from ..errors import InvalidSpec
from .gotemplate_nodes import (
    ActionNode,
    BoolNode,
    BranchNode,
    BreakNode,
    ChainNode,
    CommandNode,
    ContinueNode,
    DotNode,
    FieldNode,
    IdentifierNode,
    ListNode,
    NilNode,
    Node,
    NumberNode,
    PipeNode,
    StringNode,
    TemplateNode,
    TextNode,
    VariableNode,
    _Else,
    _End,
    quote_go,
)

KEYWORDS = {"block", "break", "continue", "define", "else", "end", "if", "range", "nil",
            "template", "with"}
_SPACE = " \t\r\n"
_NUMBER_RE = re.compile(
    r"[+-]?(?:0[xX][0-9a-fA-F_]*(?:\.[0-9a-fA-F_]*)?(?:[pP][+-]?[0-9_]*)?"
    r"|0[bB][01_]+|0[oO][0-7_]+"
    r"|(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9_]*)?)i?")
_IDENT_RE = re.compile(r"[A-Za-z_0-9\u0080-\U0010ffff]*")


class ParseError(InvalidSpec):
    pass


class Tok:
    __slots__ = ("kind", "val", "pos")

    def __init__(self, kind: str, val: str, pos: int) -> None:
        self.kind, self.val, self.pos = kind, val, pos


# --- lexer ---------------------------------------------------------------------------------

class Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks: list[Tok] = []

    def error(self, pos: int, msg: str) -> ParseError:
        return ParseError(f"template: :{line_of(self.text, pos)}: {msg}", position=pos)

    def run(self) -> list[Tok]:
        text, n, i = self.text, len(self.text), 0
        trim_next = False
        while True:
            j = text.find("{{", i)
            chunk_end = n if j < 0 else j
            left_trim = j >= 0 and text.startswith("-", j + 2) and j + 3 < n and text[j + 3] in _SPACE
            start = i
            if trim_next:
                while start < chunk_end and text[start] in _SPACE:
                    start += 1
            end = chunk_end
            if left_trim:
                while end > start and text[end - 1] in _SPACE:
                    end -= 1
            if end > start:
                self.toks.append(Tok("text", text[start:end], start))
            if j < 0:
                break
            k = j + 2 + (2 if left_trim else 0)
            if text.startswith("/*", k):
                close = text.find("*/", k + 2)
                if close < 0:
                    raise self.error(j, "unclosed comment")
                k = close + 2
                if text.startswith("}}", k):
                    i, trim_next = k + 2, False
                elif k + 3 < n + 1 and text[k:k + 1] in tuple(_SPACE) and text.startswith("-}}", k + 1):
                    i, trim_next = k + 4, True
                else:
                    raise self.error(j, "comment ends before closing delimiter")
                continue
            self.toks.append(Tok("left", "{{", j))
            try:
                i, trim_next = self.lex_action(k)
            except ParseError as exc:
                # like Go's lexer, hand the error on as a token: the parser may find an
                # earlier mistake in the tokens before it
                self.toks.append(Tok("error", str(exc), j))
                break
        self.toks.append(Tok("eof", "", n))
        return self.toks

    def lex_action(self, i: int) -> tuple[int, bool]:
        text, n = self.text, len(self.text)
        depth = 0
        while True:
            if i >= n:
                raise self.error(i, "unclosed action")
            if text[i] in _SPACE and text.startswith("-}}", i + 1):
                if depth > 0:
                    raise self.error(i, "unclosed left paren")
                self.toks.append(Tok("right", "}}", i + 1))
                return i + 4, True
            if text.startswith("}}", i):
                if depth > 0:
                    raise self.error(i, "unclosed left paren")
                self.toks.append(Tok("right", "}}", i))
                return i + 2, False
            c = text[i]
            if c in _SPACE:
                j = i
                while j < n and text[j] in _SPACE and not (text.startswith("-}}", j + 1)):
                    j += 1
                if j == i:  # a lone space right before " -}}" is handled above
                    j = i + 1
                self.toks.append(Tok("space", text[i:j], i))
                i = j
            elif c == "=":
                self.toks.append(Tok("assign", "=", i))
                i += 1
            elif c == ":":
                if not text.startswith(":=", i):
                    raise self.error(i, "expected :=")
                self.toks.append(Tok("declare", ":=", i))
                i += 2
            elif c == "|":
                self.toks.append(Tok("pipe", "|", i))
                i += 1
            elif c == '"':
                i = self.lex_quote(i)
            elif c == "`":
                close = text.find("`", i + 1)
                if close < 0:
                    raise self.error(i, "unterminated raw quoted string")
                self.toks.append(Tok("rawstring", text[i:close + 1], i))
                i = close + 1
            elif c == "'":
                i = self.lex_char(i)
            elif c == "$":
                m = _IDENT_RE.match(text, i + 1)
                assert m is not None
                self.toks.append(Tok("var", "$" + m.group(0), i))
                i = m.end()
            elif c == "." and not (i + 1 < n and text[i + 1].isdigit()):
                m = _IDENT_RE.match(text, i + 1)
                assert m is not None
                if m.group(0):
                    self.toks.append(Tok("field", m.group(0), i))
                    i = m.end()
                else:
                    self.toks.append(Tok("dot", ".", i))
                    i += 1
            elif c in "+-." or c.isdigit():
                m = _NUMBER_RE.match(text, i)
                end = m.end() if m is not None and m.group(0) else i + 1  # a lone sign
                if end < n and (text[end].isalnum() or text[end] == "_"):
                    raise self.error(i, f'bad number syntax: "{text[i:end + 1]}"')
                self.toks.append(Tok("number", text[i:end], i))
                i = end
            elif c.isalpha() or c == "_":
                m = _IDENT_RE.match(text, i)
                assert m is not None
                word = m.group(0)
                kind = "keyword" if word in KEYWORDS else "bool" if word in ("true", "false") else "ident"
                if word == "nil":
                    kind = "nil"
                self.toks.append(Tok(kind, word, i))
                i = m.end()
            elif c == "(":
                depth += 1
                self.toks.append(Tok("lparen", "(", i))
                i += 1
            elif c == ")":
                depth -= 1  # an unbalanced one is the parser's to report, as Go does
                self.toks.append(Tok("rparen", ")", i))
                i += 1
            elif c == ",":
                self.toks.append(Tok("comma", ",", i))
                i += 1
            elif " " < c < "\x7f":
                # Go hands other printable ASCII to the parser, which names it in its error
                self.toks.append(Tok("other", c, i))
                i += 1
            else:
                raise self.error(i, f"unrecognized character in action: U+{ord(c):04X} {c!r}")

    def lex_quote(self, i: int) -> int:
        text, n, j = self.text, len(self.text), i + 1
        while True:
            if j >= n or text[j] == "\n":
                raise self.error(i, "unterminated quoted string")
            if text[j] == "\\":
                j += 2
                continue
            if text[j] == '"':
                break
            j += 1
        self.toks.append(Tok("string", text[i:j + 1], i))
        return j + 1

    def lex_char(self, i: int) -> int:
        text, n, j = self.text, len(self.text), i + 1
        while True:
            if j >= n or text[j] == "\n":
                raise self.error(i, "unterminated character constant")
            if text[j] == "\\":
                j += 2
                continue
            if text[j] == "'":
                break
            j += 1
        self.toks.append(Tok("char", text[i:j + 1], i))
        return j + 1


def line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


# --- literal decoding ----------------------------------------------------------------------

_ESC = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}


def unquote(s: str) -> str:
    """strconv.Unquote for "..." `...` and '.' literals."""
    q = s[0]
    body = s[1:-1]
    if q == "`":
        return body.replace("\r", "")
    out: list[str] = []
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c == q and q == "'" and n > 1:
            raise ValueError("invalid syntax")
        if c != "\\":
            out.append(c)
            i += 1
            continue
        if i + 1 >= n:
            raise ValueError("invalid syntax")
        e = body[i + 1]
        if e in _ESC:
            out.append(_ESC[e])
            i += 2
        elif e == q:
            out.append(q)
            i += 2
        elif e in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[e]
            digits = body[i + 2:i + 2 + width]
            if len(digits) != width or not re.fullmatch(r"[0-9a-fA-F]+", digits):
                raise ValueError("invalid syntax")
            cp = int(digits, 16)
            if cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
                raise ValueError("invalid syntax")
            out.append(chr(cp))
            i += 2 + width
        elif e in "01234567":
            digits = body[i + 1:i + 4]
            if len(digits) != 3 or not re.fullmatch(r"[0-7]{3}", digits) or int(digits, 8) > 255:
                raise ValueError("invalid syntax")
            out.append(chr(int(digits, 8)))
            i += 4
        else:
            raise ValueError("invalid syntax")
    result = "".join(out)
    if q == "'" and len(result) != 1:
        raise ValueError("invalid syntax")
    return result


def parse_number(text: str) -> int | float | complex:
    if text.endswith("i"):
        return complex(0, parse_number(text[:-1]))
    t = text.replace("_", "")
    sign = -1 if t.startswith("-") else 1
    body = t.lstrip("+-")
    low = body.lower()
    if low.startswith("0x"):
        if "." in low or "p" in low:
            return sign * float.fromhex(body)
        return sign * int(body, 16)
    if low.startswith(("0b", "0o")):
        return sign * int(body, 0)
    if re.fullmatch(r"0[0-7]+", body):
        return sign * int(body, 8)
    if re.fullmatch(r"[0-9]+", body):
        return sign * int(body)
    return sign * float(body)


# --- parser --------------------------------------------------------------------------------

_OPERAND_START = {"bool", "char", "dot", "field", "ident", "number", "nil", "rawstring", "string",
                  "var", "lparen"}


class Parser:
    def __init__(self, text: str, funcs: set[str]) -> None:
        self.text = text
        self.funcs = funcs
        self.toks = Lexer(text).run()
        self.i = 0
        self.vars: list[str] = ["$"]
        self.range_depth = 0
        self.defines: dict[str, ListNode] = {}

    # token helpers
    def next(self) -> Tok:
        t = self.peek()
        self.i += 1
        return t

    def peek(self) -> Tok:
        t = self.toks[self.i]
        if t.kind == "error":
            raise ParseError(t.val, position=t.pos)
        return t

    def next_non_space(self) -> Tok:
        t = self.next()
        while t.kind == "space":
            t = self.next()
        return t

    def peek_non_space(self) -> Tok:
        while self.toks[self.i].kind == "space":
            self.i += 1
        return self.peek()

    def error(self, msg: str, pos: int | None = None) -> ParseError:
        p = self.toks[max(self.i - 1, 0)].pos if pos is None else pos
        return ParseError(f"template: :{line_of(self.text, p)}: {msg}", position=p)

    def unexpected(self, tok: Tok, context: str) -> ParseError:
        if tok.kind == "eof":
            return self.error(f"unexpected EOF in {context}", tok.pos)
        val = "}}" if tok.kind == "right" else tok.val
        return self.error(f"unexpected {_describe(tok, val)} in {context}", tok.pos)

    # grammar
    def parse(self) -> tuple[ListNode, dict[str, ListNode]]:
        root = ListNode(0)
        while self.peek().kind != "eof":
            tok = self.peek()
            if tok.kind == "left" and self._peek_keyword_after_left() == "define":
                self.next()
                self.next_non_space()
                self.parse_define()
                continue
            n = self.text_or_action()
            if isinstance(n, (_End, _Else)):
                raise self.error(f"unexpected {{{{{'end' if isinstance(n, _End) else 'else'}}}}}", n.pos)
            if n is not None:
                root.nodes.append(n)
        return root, self.defines

    def _peek_keyword_after_left(self) -> str | None:
        j = self.i + 1
        while j < len(self.toks) and self.toks[j].kind == "space":
            j += 1
        if j >= len(self.toks):
            return None
        t = self.toks[j]
        return t.val if t.kind == "keyword" else None

    def parse_define(self) -> None:
        name_tok = self.next_non_space()
        if name_tok.kind not in ("string", "rawstring"):
            raise self.unexpected(name_tok, "define clause")
        name = unquote(name_tok.val)
        if self.next_non_space().kind != "right":
            raise self.error("unexpected token in define clause", name_tok.pos)
        saved_vars, self.vars = self.vars, ["$"]
        body, end = self.item_list()
        self.vars = saved_vars
        if not isinstance(end, _End):
            raise self.error("unexpected {{else}} in define clause", end.pos)
        self.add_define(name, body, name_tok.pos)

    def add_define(self, name: str, body: ListNode, pos: int) -> None:
        old = self.defines.get(name)
        if old is None or _is_empty(old):
            self.defines[name] = body
        elif not _is_empty(body):
            raise self.error(f'template: multiple definition of template "{name}"', pos)

    def item_list(self) -> tuple[ListNode, Node]:
        lst = ListNode(self.peek().pos)
        while True:
            if self.peek().kind == "eof":
                raise self.error("unexpected EOF", self.peek().pos)
            n = self.text_or_action()
            if isinstance(n, (_End, _Else)):
                return lst, n
            if n is not None:
                lst.nodes.append(n)

    def text_or_action(self) -> Node | None:
        t = self.next()
        if t.kind == "text":
            return TextNode(t.pos, t.val)
        if t.kind == "left":
            return self.action()
        raise self.unexpected(t, "input")

    def action(self) -> Node | None:
        t = self.next_non_space()
        if t.kind == "keyword":
            kw = t.val
            if kw == "end":
                self.expect_right("end")
                return _End(t.pos)
            if kw == "else":
                nxt = self.peek_non_space()
                if nxt.kind == "keyword" and nxt.val in ("if", "with"):
                    return _Else(t.pos)  # "else if"/"else with": the keyword stays pending
                self.expect_right("else")
                return _Else(t.pos)
            if kw in ("if", "with", "range"):
                return self.control(kw, t.pos)
            if kw in ("break", "continue"):
                if self.range_depth == 0:
                    raise self.error(f"{{{{{kw}}}}} outside {{{{range}}}}", t.pos)
                self.expect_right(kw)
                return BreakNode(t.pos) if kw == "break" else ContinueNode(t.pos)
            if kw in ("template", "block"):
                return self.template_control(kw, t.pos)
            if kw == "define":
                raise self.error("unexpected define: only allowed at top level", t.pos)
            raise self.unexpected(t, "command")
        else:
            self.i -= 1
        start = self.peek_non_space()
        return ActionNode(start.pos, self.pipeline("command", "right"))

    def expect_right(self, context: str) -> None:
        t = self.next_non_space()
        if t.kind != "right":
            raise self.unexpected(t, context)

    def control(self, kind: str, pos: int) -> BranchNode:
        mark = len(self.vars)
        pipe = self.pipeline(kind, "right")
        if kind == "range":
            self.range_depth += 1
        body, nxt = self.item_list()
        if kind == "range":
            self.range_depth -= 1
        else_body = None
        if isinstance(nxt, _Else):
            t = self.peek_non_space()
            if kind in ("if", "with") and t.kind == "keyword" and t.val == kind:
                self.next()
                else_body = ListNode(nxt.pos, [self.control(kind, t.pos)])
            else:
                else_body, end = self.item_list()
                if not isinstance(end, _End):
                    raise self.error("expected end; found {{else}}", end.pos)
        del self.vars[mark:]
        # Go positions a control node at its pipeline (errors then point at the operand)
        return BranchNode(pipe.pos, kind, pipe, body, else_body)

    def template_control(self, kind: str, pos: int) -> Node:
        name_tok = self.next_non_space()
        if name_tok.kind not in ("string", "rawstring"):
            raise self.unexpected(name_tok, f"{kind} clause")
        name = unquote(name_tok.val)
        pipe = None
        if self.peek_non_space().kind != "right":
            pipe = self.pipeline(f"{kind} clause", "right")
        else:
            self.next()
        if kind == "block":
            saved_vars, self.vars = self.vars, ["$"]
            body, end = self.item_list()
            self.vars = saved_vars
            if not isinstance(end, _End):
                raise self.error("unexpected {{else}} in block clause", end.pos)
            self.add_define(name, body, name_tok.pos)
        return TemplateNode(name_tok.pos, name, pipe)

    def pipeline(self, context: str, end: str) -> PipeNode:
        start = self.peek_non_space()
        pipe = PipeNode(start.pos)
        while True:  # declarations
            v = self.peek_non_space()
            if v.kind != "var":
                break
            save = self.i
            self.next()
            nxt = self.peek_non_space()
            if nxt.kind in ("assign", "declare"):
                pipe.is_assign = nxt.kind == "assign"
                self.next()
                pipe.decl.append(VariableNode(v.pos, [v.val]))
                # an assignment to an undeclared variable fails when executed, as in Go
                self.vars.append(v.val)
                break
            if nxt.kind == "comma":
                self.next()
                pipe.decl.append(VariableNode(v.pos, [v.val]))
                self.vars.append(v.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().kind in ("var", "right", "rparen"):
                        continue
                    raise self.error("range can only initialize variables", v.pos)
                raise self.error(f"too many declarations in {context}", v.pos)
            self.i = save  # "$x foo": the variable is an operand, not a declaration
            break
        while True:
            t = self.next_non_space()
            if t.kind == end:
                self.check_pipeline(pipe, context)
                return pipe
            if t.kind in _OPERAND_START:
                self.i -= 1
                pipe.cmds.append(self.command())
            else:
                raise self.unexpected(t, context)

    def check_pipeline(self, pipe: PipeNode, context: str) -> None:
        if not pipe.cmds:
            raise self.error(f"missing value for {context}", pipe.pos)
        for i, c in enumerate(pipe.cmds[1:]):
            if isinstance(c.args[0], (BoolNode, DotNode, NilNode, NumberNode, StringNode)):
                raise self.error(f"non executable command in pipeline stage {i + 2}", c.pos)

    def command(self) -> CommandNode:
        cmd = CommandNode(self.peek_non_space().pos)
        while True:
            self.peek_non_space()
            op = self.operand()
            if op is not None:
                cmd.args.append(op)
            t = self.next()
            if t.kind == "space":
                continue
            if t.kind in ("right", "rparen"):
                self.i -= 1
            elif t.kind != "pipe":
                raise self.unexpected(t, "operand")
            break
        if not cmd.args:
            raise self.error("empty command", cmd.pos)
        return cmd

    def operand(self) -> Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().kind == "field":
            fields = []
            chain_pos = self.peek().pos
            while self.peek().kind == "field":
                fields.append(self.next().val)
            # Go positions a chained field at its second part (errors point there)
            if isinstance(node, FieldNode):
                return FieldNode(chain_pos, node.idents + fields)
            if isinstance(node, VariableNode):
                return VariableNode(chain_pos, node.idents + fields)
            if isinstance(node, (BoolNode, StringNode, NumberNode, NilNode, DotNode)):
                raise self.error(f"unexpected . after term {quote_go(str(node))}", chain_pos)
            return ChainNode(chain_pos, node, fields)
        return node

    def term(self) -> Node | None:
        t = self.next_non_space()
        k = t.kind
        if k == "ident":
            if t.val not in self.funcs:
                raise self.error(f'function "{t.val}" not defined', t.pos)
            return IdentifierNode(t.pos, t.val)
        if k == "dot":
            return DotNode(t.pos)
        if k == "nil":
            return NilNode(t.pos)
        if k == "var":
            return self.use_var(t)
        if k == "field":
            return FieldNode(t.pos, [t.val])
        if k == "bool":
            return BoolNode(t.pos, t.val == "true")
        if k == "number":
            try:
                return NumberNode(t.pos, parse_number(t.val), t.val)
            except ValueError:
                raise self.error(f"illegal number syntax: {quote_go(t.val)}", t.pos) from None
        if k == "char":
            return NumberNode(t.pos, ord(self.char_constant(t)), t.val)
        if k == "lparen":
            return self.pipeline("parenthesized pipeline", "rparen")
        if k in ("string", "rawstring"):
            try:
                return StringNode(t.pos, unquote(t.val), t.val)
            except ValueError:
                raise self.error("invalid syntax", t.pos) from None
        self.i -= 1
        return None

    def char_constant(self, t: Tok) -> str:
        """strconv.UnquoteChar: one character or escape, then the closing quote."""
        body = t.val[1:-1]
        if body.startswith("\\"):
            e = body[1:2]
            width = {"x": 4, "u": 6, "U": 10}.get(e, 4 if e in "01234567" else 2)
            first, rest = body[:width], body[width:]
            try:
                value = unquote("'" + first + "'")
            except ValueError:
                raise self.error("invalid syntax", t.pos) from None
        else:
            value, rest = body[:1], body[1:]
        if rest or not value:
            raise self.error(f"malformed character constant: {t.val}", t.pos)
        return value

    def use_var(self, t: Tok) -> VariableNode:
        if t.val not in self.vars:
            raise self.error(f'undefined variable "{t.val}"', t.pos)
        return VariableNode(t.pos, [t.val])


def _is_empty(body: ListNode) -> bool:
    return all(isinstance(n, TextNode) and not n.text.strip() for n in body.nodes)


def _describe(tok: Tok, val: str) -> str:
    if tok.kind in ("space",):
        return "space"
    return f'"{val}"' if tok.kind not in ("string", "rawstring", "char") else val


def parse_tree(text: str, funcs: set[str]) -> tuple[ListNode, dict[str, Any]]:
    return Parser(text, funcs).parse()
