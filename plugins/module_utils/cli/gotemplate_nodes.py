"""The parse tree of a Go template, as Go's text/template/parse builds it.

Nodes print themselves back as Go does, for the ``at <...>`` part of execution errors.
"""
from __future__ import annotations

# --- nodes ---------------------------------------------------------------------------------
# Plain slotted classes rather than dataclasses: `berth ps` imports this module on every run.

class Node:
    __slots__ = ("pos",)

    def __init__(self, pos: int) -> None:
        self.pos = pos

    def __str__(self) -> str:  # pragma: no cover - every node overrides
        return "?"


class TextNode(Node):
    __slots__ = ("text",)

    def __init__(self, pos: int, text: str = "") -> None:
        self.pos, self.text = pos, text


class FieldNode(Node):
    __slots__ = ("idents",)

    def __init__(self, pos: int, idents: list[str]) -> None:
        self.pos, self.idents = pos, idents

    def __str__(self) -> str:
        return "".join("." + i for i in self.idents)


class VariableNode(Node):
    __slots__ = ("idents",)  # idents[0] is "$x"

    def __init__(self, pos: int, idents: list[str]) -> None:
        self.pos, self.idents = pos, idents

    def __str__(self) -> str:
        return self.idents[0] + "".join("." + i for i in self.idents[1:])


class ChainNode(Node):
    __slots__ = ("node", "fields")

    def __init__(self, pos: int, node: Node, fields: list[str]) -> None:
        self.pos, self.node, self.fields = pos, node, fields

    def __str__(self) -> str:
        inner = f"({self.node})" if isinstance(self.node, PipeNode) else str(self.node)
        return inner + "".join("." + f for f in self.fields)


class IdentifierNode(Node):
    __slots__ = ("name",)

    def __init__(self, pos: int, name: str) -> None:
        self.pos, self.name = pos, name

    def __str__(self) -> str:
        return self.name


class DotNode(Node):
    __slots__ = ()

    def __str__(self) -> str:
        return "."


class NilNode(Node):
    __slots__ = ()

    def __str__(self) -> str:
        return "nil"


class BoolNode(Node):
    __slots__ = ("value",)

    def __init__(self, pos: int, value: bool) -> None:
        self.pos, self.value = pos, value

    def __str__(self) -> str:
        return "true" if self.value else "false"


class NumberNode(Node):
    __slots__ = ("value", "text")

    def __init__(self, pos: int, value: int | float | complex, text: str) -> None:
        self.pos, self.value, self.text = pos, value, text

    def __str__(self) -> str:
        return self.text


class StringNode(Node):
    __slots__ = ("value", "quoted")

    def __init__(self, pos: int, value: str, quoted: str) -> None:
        self.pos, self.value, self.quoted = pos, value, quoted

    def __str__(self) -> str:
        return self.quoted


class CommandNode(Node):
    __slots__ = ("args",)

    def __init__(self, pos: int) -> None:
        self.pos, self.args = pos, []

    def __str__(self) -> str:
        return " ".join(f"({a})" if isinstance(a, PipeNode) else str(a) for a in self.args)


class PipeNode(Node):
    __slots__ = ("decl", "is_assign", "cmds")

    def __init__(self, pos: int) -> None:
        self.pos = pos
        self.decl: list[VariableNode] = []
        self.is_assign = False
        self.cmds: list[CommandNode] = []

    def __str__(self) -> str:
        s = ""
        if self.decl:
            s = ", ".join(str(d) for d in self.decl) + (" = " if self.is_assign else " := ")
        return s + " | ".join(str(c) for c in self.cmds)


class ListNode(Node):
    __slots__ = ("nodes",)

    def __init__(self, pos: int, nodes: list[Node] | None = None) -> None:
        self.pos, self.nodes = pos, nodes if nodes is not None else []

    def __str__(self) -> str:
        return "".join(str(n) for n in self.nodes)


class ActionNode(Node):
    __slots__ = ("pipe",)

    def __init__(self, pos: int, pipe: PipeNode) -> None:
        self.pos, self.pipe = pos, pipe

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


class BranchNode(Node):
    __slots__ = ("kind", "pipe", "body", "else_body")

    def __init__(self, pos: int, kind: str, pipe: PipeNode, body: ListNode,
                 else_body: ListNode | None) -> None:
        self.pos, self.kind, self.pipe, self.body, self.else_body = pos, kind, pipe, body, else_body

    def __str__(self) -> str:
        s = "{{" + self.kind + " " + str(self.pipe) + "}}" + str(self.body)
        if self.else_body is not None:
            s += "{{else}}" + str(self.else_body)
        return s + "{{end}}"


class BreakNode(Node):
    __slots__ = ()

    def __str__(self) -> str:
        return "{{break}}"


class ContinueNode(Node):
    __slots__ = ()

    def __str__(self) -> str:
        return "{{continue}}"


class TemplateNode(Node):
    __slots__ = ("name", "pipe")

    def __init__(self, pos: int, name: str, pipe: PipeNode | None) -> None:
        self.pos, self.name, self.pipe = pos, name, pipe

    def __str__(self) -> str:
        return "{{template " + quote_go(self.name) + (" " + str(self.pipe) if self.pipe else "") + "}}"


class _End(Node):
    __slots__ = ()


class _Else(Node):
    __slots__ = ()


def quote_go(s: str) -> str:
    from .gofmt import quote
    return quote(s)
