"""Go text/template for ``--format``: the language Docker's commands take, run on Python data.

    render('{{.Name}} {{json .Config.Labels}}', inspect_dict)
    tmpl = parse('{{range $k, $v := .Labels}}{{$k}}={{$v}} {{end}}')
    tmpl.execute(row)

Fields reach dict keys and object attributes; a callable value is a method (``{{.Label
"com.example"}}`` calls it with the argument). Maps range and print in sorted key order, as
Go does; an absent key prints ``<no value>``, a present None ``<nil>``. Errors are
errors.InvalidSpec with Go's wording and position: ``template: :1:2: executing "" at <.Foo>:
can't evaluate field Foo in type string``.
"""
from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from ..errors import InvalidSpec
from .gofmt import MISSING, format_value, sort_keys, type_name, typed_nil
from .gotemplate_funcs import FUNCS, HEADER_FUNCS, FuncError, GoFunc, truth
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
)
from .gotemplate_parse import parse_tree

__all__ = ["Template", "TemplateError", "parse", "render", "FUNCS", "HEADER_FUNCS", "GoFunc", "MISSING"]

_NOFINAL = object()  # "no value piped in", distinct from an absent map key (MISSING)
_MAX_DEPTH = 500


class TemplateError(InvalidSpec):
    """A template failed while executing; the message names the position and the node."""


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class Template:
    """A parsed template; immutable, so parse() can cache and share it."""

    def __init__(self, text: str, extra_funcs: frozenset[str] = frozenset()) -> None:
        self.text = text
        self.root, self.defines = parse_tree(text, set(FUNCS) | set(extra_funcs))

    def execute(self, data: Any, funcs: Mapping[str, GoFunc] | None = None,
                missingkey: str = "default") -> str:
        """Run the template on ``data``. ``funcs`` adds or replaces functions (Docker's header
        functions, for instance); ``missingkey="error"`` makes an absent map key an error."""
        if missingkey not in ("default", "invalid", "zero", "error"):
            raise InvalidSpec(f"invalid missingkey option {missingkey!r}", field="missingkey")
        table = dict(FUNCS)
        if funcs:
            table.update(funcs)
        state = _State(self, table, missingkey, data)
        try:
            state.walk(data, self.root)
        except TemplateError as exc:
            exc.details["partial"] = "".join(state.out)  # Go leaves what it wrote in the output
            raise
        except RecursionError:
            raise TemplateError("template: : exceeded maximum template depth") from None
        return "".join(state.out)


@lru_cache(maxsize=256)
def parse(text: str, extra_funcs: frozenset[str] = frozenset()) -> Template:
    """Parse (and cache) a template. ``extra_funcs`` names functions supplied at execute()."""
    if not isinstance(text, str):
        raise InvalidSpec(f"template must be a string, not {type(text).__name__}", field="format")
    return Template(text, extra_funcs)


def render(text: str, data: Any, funcs: Mapping[str, GoFunc] | None = None,
           missingkey: str = "default") -> str:
    return parse(text, frozenset(funcs or ())).execute(data, funcs=funcs, missingkey=missingkey)


class _State:
    def __init__(self, tmpl: Template, funcs: dict[str, GoFunc], missingkey: str, data: Any,
                 name: str = "") -> None:
        self.tmpl = tmpl
        self.funcs = funcs
        self.missingkey = missingkey
        self.vars: list[list[Any]] = [["$", data]]
        self.node: Node | None = None
        self.out: list[str] = []
        self.name = name
        self.depth = 0

    # --- errors and variables --------------------------------------------------------------
    def at(self, node: Node) -> None:
        self.node = node

    def error(self, msg: str) -> TemplateError:
        name = self.name
        if self.node is None:
            return TemplateError(f"template: {name}: {msg}")
        text = self.tmpl.text
        pos = self.node.pos
        before = text[:pos]
        nl = before.rfind("\n")
        col = len(before.encode()) if nl < 0 else len(before[nl + 1:].encode())
        line = before.count("\n") + 1
        context = str(self.node)
        return TemplateError(f'template: {name}:{line}:{col}: executing "{name}" at <{context}>: {msg}',
                             position=pos, node=context)

    def push(self, name: str, value: Any) -> None:
        self.vars.append([name, value])

    def set_var(self, name: str, value: Any) -> None:
        for v in reversed(self.vars):
            if v[0] == name:
                v[1] = value
                return
        raise self.error(f"undefined variable: {name}")

    def set_top_var(self, n: int, value: Any) -> None:
        self.vars[-n][1] = value

    def var_value(self, name: str) -> Any:
        for v in reversed(self.vars):
            if v[0] == name:
                return v[1]
        raise self.error(f"undefined variable: {name}")

    # --- walking ---------------------------------------------------------------------------
    def walk(self, dot: Any, node: Node) -> None:
        self.at(node)
        if isinstance(node, TextNode):
            self.out.append(node.text)
        elif isinstance(node, ListNode):
            for n in node.nodes:
                self.walk(dot, n)
        elif isinstance(node, ActionNode):
            assert node.pipe is not None
            val = self.eval_pipeline(dot, node.pipe)
            if not node.pipe.decl:
                self.at(node)
                self.out.append(format_value(val))
        elif isinstance(node, BranchNode):
            if node.kind == "range":
                self.walk_range(dot, node)
            else:
                self.walk_if_or_with(dot, node)
        elif isinstance(node, BreakNode):
            raise _Break()
        elif isinstance(node, ContinueNode):
            raise _Continue()
        elif isinstance(node, TemplateNode):
            self.walk_template(dot, node)
        else:  # pragma: no cover - the parser makes no other nodes
            raise self.error(f"unknown node: {node}")

    def walk_if_or_with(self, dot: Any, node: BranchNode) -> None:
        mark = len(self.vars)
        try:
            assert node.pipe is not None and node.body is not None
            val = self.eval_pipeline(dot, node.pipe)
            if truth(val):
                self.walk(val if node.kind == "with" else dot, node.body)
            elif node.else_body is not None:
                self.walk(dot, node.else_body)
        finally:
            del self.vars[mark:]

    def walk_range(self, dot: Any, node: BranchNode) -> None:
        outer = len(self.vars)
        pipe, body = node.pipe, node.body
        assert pipe is not None and body is not None
        try:
            val = self.eval_pipeline(dot, pipe)
            mark = len(self.vars)
            decl = pipe.decl

            def one(index: Any, elem: Any) -> None:
                if decl:
                    if pipe.is_assign:
                        self.set_var(decl[0].idents[0], index if len(decl) > 1 else elem)
                    else:
                        self.set_top_var(1, elem)
                if len(decl) > 1:
                    if pipe.is_assign:
                        self.set_var(decl[1].idents[0], elem)
                    else:
                        self.set_top_var(2, index)
                try:
                    self.walk(elem, body)
                except _Continue:
                    pass
                finally:
                    del self.vars[mark:]

            if isinstance(val, Mapping):
                items: list[tuple[Any, Any]] = [(k, val[k]) for k in sort_keys(val.keys())]
            elif isinstance(val, (list, tuple)):
                items = list(enumerate(val))
            elif isinstance(val, int) and not isinstance(val, bool):
                if len(decl) > 1:
                    raise self.error("can't use range over integer with two variables")
                items = [(i, i) for i in range(max(val, 0))]
            elif val is None or val is MISSING:
                items = []
            else:
                raise self.error(f"range can't iterate over {format_value(val)}")
            if items:
                try:
                    for index, elem in items:
                        one(index, elem)
                except _Break:
                    pass
                return
            if node.else_body is not None:
                self.walk(dot, node.else_body)
        finally:
            del self.vars[outer:]

    def walk_template(self, dot: Any, node: TemplateNode) -> None:
        body = self.tmpl.defines.get(node.name)
        if body is None:
            raise self.error(f'template "{node.name}" not defined')
        new_dot = self.eval_pipeline(dot, node.pipe) if node.pipe is not None else MISSING
        sub = _State(self.tmpl, self.funcs, self.missingkey, new_dot, node.name)
        sub.depth = self.depth + 1
        if sub.depth > _MAX_DEPTH:
            raise self.error(f"exceeded maximum template depth ({_MAX_DEPTH})")
        sub.walk(new_dot, body)
        self.out.extend(sub.out)

    # --- evaluation ------------------------------------------------------------------------
    def eval_pipeline(self, dot: Any, pipe: PipeNode) -> Any:
        self.at(pipe)
        value: Any = _NOFINAL
        for cmd in pipe.cmds:
            value = self.eval_command(dot, cmd, value)
        for var in pipe.decl:
            if pipe.is_assign:
                self.set_var(var.idents[0], value)
            else:
                self.push(var.idents[0], value)
        return value

    def not_a_function(self, args: list[Node], final: Any) -> None:
        if len(args) > 1 or final is not _NOFINAL:
            raise self.error(f"can't give argument to non-function {args[0]}")

    def eval_command(self, dot: Any, cmd: CommandNode, final: Any) -> Any:
        first = cmd.args[0]
        if isinstance(first, FieldNode):
            self.at(first)
            return self.eval_field_chain(dot, dot, first, first.idents, cmd.args, final)
        if isinstance(first, ChainNode):
            return self.eval_chain(dot, first, cmd.args, final)
        if isinstance(first, IdentifierNode):
            return self.eval_function(dot, first, cmd, cmd.args, final)
        if isinstance(first, PipeNode):
            self.not_a_function(cmd.args, final)
            return self.eval_pipeline(dot, first)
        if isinstance(first, VariableNode):
            return self.eval_variable(dot, first, cmd.args, final)
        self.at(first)
        self.not_a_function(cmd.args, final)
        if isinstance(first, BoolNode):
            return first.value
        if isinstance(first, DotNode):
            return dot
        if isinstance(first, NilNode):
            raise self.error("nil is not a command")
        if isinstance(first, NumberNode):
            return first.value
        if isinstance(first, StringNode):
            return first.value
        raise self.error(f"can't evaluate command {first}")

    def eval_variable(self, dot: Any, node: VariableNode, args: list[Node], final: Any,
                      invoke: bool = True) -> Any:
        self.at(node)
        value = self.var_value(node.idents[0])
        if len(node.idents) == 1:
            self.not_a_function(args, final)
            return value
        return self.eval_field_chain(dot, value, node, node.idents[1:], args, final, invoke)

    def eval_chain(self, dot: Any, chain: ChainNode, args: list[Node], final: Any,
                   invoke: bool = True) -> Any:
        self.at(chain)
        if isinstance(chain.node, NilNode):
            raise self.error(f"indirection through explicit nil in {chain}")
        assert chain.node is not None
        recv = self.eval_arg(dot, chain.node)
        if recv is None and isinstance(chain.node, PipeNode):
            recv = MISSING  # Go unwraps a pipeline's nil interface into no value at all
        return self.eval_field_chain(dot, recv, chain, chain.fields, args, final, invoke)

    def eval_field_chain(self, dot: Any, recv: Any, node: Node, idents: list[str],
                         args: list[Node], final: Any, invoke: bool = True) -> Any:
        for name in idents[:-1]:
            recv = self.eval_field(dot, name, node, [node], _NOFINAL, recv)
        return self.eval_field(dot, idents[-1], node, args, final, recv, invoke)

    def eval_field(self, dot: Any, name: str, node: Node, args: list[Node], final: Any,
                   recv: Any, invoke: bool = True) -> Any:
        has_args = len(args) > 1 or final is not _NOFINAL
        if recv is MISSING:
            if self.missingkey == "error":
                raise self.error(f'nil data; no entry for key "{name}"')
            return MISSING
        if recv is None:
            raise self.error(f"nil pointer evaluating interface {{}}.{name}")
        if isinstance(recv, Mapping):
            try:
                value = recv[name]
            except KeyError:
                if has_args:
                    raise self.error(f"{name} is not a method but has arguments") from None
                if self.missingkey == "error":
                    raise self.error(f'map has no entry for key "{name}"') from None
                return None if self.missingkey == "zero" else MISSING
            if value is None:
                value = typed_nil(name)
        elif isinstance(recv, (str, bytes, int, float, bool, list, tuple)) or name.startswith("_"):
            raise self.error(f"can't evaluate field {name} in type {type_name(recv)}")
        else:
            try:
                value = getattr(recv, name)
            except AttributeError:
                raise self.error(f"can't evaluate field {name} in type {type_name(recv)}") from None
        if callable(value) and not isinstance(value, type):
            if not invoke:
                return value
            call_args = [self.eval_arg(dot, a) for a in args[1:]]
            if final is not _NOFINAL:
                call_args.append(None if final is MISSING else final)
            self.at(node)
            try:
                return value(*call_args)
            except InvalidSpec as exc:
                raise self.error(f"error calling {name}: {exc}") from None
            except Exception as exc:  # noqa: BLE001 - a method's failure belongs in the message
                raise self.error(f"error calling {name}: {exc}") from None
        if has_args:
            raise self.error(f"{name} is not a method but has arguments")
        return value

    def eval_arg(self, dot: Any, node: Node) -> Any:
        self.at(node)
        if isinstance(node, DotNode):
            return dot
        if isinstance(node, NilNode):
            return None
        if isinstance(node, FieldNode):
            return self.eval_field_chain(dot, dot, node, node.idents, [node], _NOFINAL)
        if isinstance(node, VariableNode):
            return self.eval_variable(dot, node, [node], _NOFINAL)
        if isinstance(node, PipeNode):
            return self.eval_pipeline(dot, node)
        if isinstance(node, IdentifierNode):
            return self.eval_function(dot, node, node, [node], _NOFINAL)
        if isinstance(node, ChainNode):
            return self.eval_chain(dot, node, [node], _NOFINAL)
        if isinstance(node, (BoolNode, NumberNode, StringNode)):
            return node.value
        raise self.error(f"can't handle {node} for arg")

    def eval_function(self, dot: Any, ident: IdentifierNode, cmd: Node, args: list[Node],
                      final: Any) -> Any:
        self.at(ident)
        name = ident.name
        fn = self.funcs.get(name)
        if fn is None:
            raise self.error(f'"{name}" is not a defined function')
        params = args[1:]
        n_in = len(params) + (0 if final is _NOFINAL else 1)
        fixed = len(fn.params)
        if fn.variadic is not None:
            if n_in < fixed:
                raise self.error(f"wrong number of args for {name}: want at least {fixed} got {len(params)}")
        elif n_in != fixed:
            raise self.error(f"wrong number of args for {name}: want {fixed} got {n_in}")

        if fn is FUNCS.get(name) and name in ("and", "or"):
            v: Any = MISSING
            for a in params:
                v = self.eval_arg(dot, a)
                if truth(v) == (name == "or"):
                    return v
            if final is not _NOFINAL:
                v = final
            return v

        values: list[Any] = []
        for i, a in enumerate(params):
            kind = fn.params[i] if i < fixed else fn.variadic
            if fn is FUNCS.get("call") and i == 0:
                values.append(self.eval_callee(dot, a))
            else:
                values.append(self.validate(self.eval_arg(dot, a), kind or "any", a))
        if final is not _NOFINAL:
            kind = fn.params[len(params)] if len(params) < fixed else fn.variadic
            values.append(self.validate(final, kind or "any", None))
        self.at(cmd)
        try:
            if fn is FUNCS.get("call"):
                return self.call_value(values[0], values[1:])
            return fn.fn(*values)
        except FuncError as exc:
            raise self.error(f"error calling {name}: {exc}") from None

    def eval_callee(self, dot: Any, node: Node) -> Any:
        """The first argument of ``call``: a field holding a function, fetched, not invoked."""
        if isinstance(node, FieldNode):
            return self.eval_field_chain(dot, dot, node, node.idents, [node], _NOFINAL, invoke=False)
        if isinstance(node, VariableNode) and len(node.idents) > 1:
            return self.eval_variable(dot, node, [node], _NOFINAL, invoke=False)
        if isinstance(node, ChainNode):
            return self.eval_chain(dot, node, [node], _NOFINAL, invoke=False)
        return self.eval_arg(dot, node)

    def call_value(self, fn: Any, args: list[Any]) -> Any:
        if fn is None or fn is MISSING:
            raise FuncError("call of nil")
        if not callable(fn):
            raise FuncError(f"non-function of type {type_name(fn)}")
        try:
            return fn(*args)
        except Exception as exc:  # noqa: BLE001 - reported as Go reports a func's error
            raise FuncError(str(exc)) from None

    def validate(self, value: Any, kind: str, node: Node | None) -> Any:
        if kind == "value":
            return value
        if kind == "any":
            return None if value is MISSING else value
        go = {"str": "string", "int": "int", "strs": "[]string"}[kind]
        if isinstance(node, NilNode):
            raise self.error(f"cannot assign nil to {go}")
        if value is MISSING or value is None:
            if kind == "strs" and value is None:
                return []
            raise self.error(f"invalid value; expected {go}")
        if kind == "str" and isinstance(value, str):
            return value
        if kind == "int":
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(node, NumberNode) and isinstance(value, float) and value.is_integer():
                return int(value)
        if kind == "strs" and isinstance(value, (list, tuple)):
            return list(value)
        if isinstance(node, (NumberNode, StringNode, BoolNode)):
            raise self.error(f"expected {go}; found {node}")
        raise self.error(f"wrong type for value; expected {go}; got {type_name(value)}")
