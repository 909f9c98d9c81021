"""The small expression language of ``visible_if``, ``required_if``, ``when`` and IVR ``condition``.

Tokenised and parsed by hand (never ``eval``), checked against the fields in scope at load
time, and evaluated safely against a map of values keyed by (dotted) field name.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

__all__ = ["Expression", "ExpressionError", "NameInfo", "check", "evaluate", "parse"]

KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false", "null"})
NUMERIC_TYPES = frozenset({"integer", "decimal", "rating"})
CHOICE_TYPES = frozenset({"select", "multiselect"})
ORDERING = frozenset({"<", "<=", ">", ">="})
COMPARISONS = ORDERING | {"==", "!=", "in", "not in"}
MAX_DEPTH = 64
_CONSTANTS: dict[str, Any] = {"true": True, "false": False, "null": None}


class ExpressionError(Exception):
    """A problem in an expression: a plain-words ``message`` and the 0-based ``offset``."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message, offset)
        self.message = message
        self.offset = offset

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class NameInfo:
    """What the checker knows about a name in scope: its field type and select options."""

    type: str
    options: tuple[str, ...] = ()


# ---- syntax tree
@dataclass(frozen=True)
class _Node:
    kind: str  # name, lit, list, not, and, or, or a comparison: == != < <= > >= in, not in
    offset: int  # where the node starts; for a comparison, where its operator is
    value: Any = None  # a name's dotted text, a literal's value
    kids: tuple[_Node, ...] = ()


@dataclass(frozen=True)
class Expression:
    """A parsed expression: its ``source``, every dotted name it references, and its tree."""

    source: str
    names: frozenset[str]
    tree: _Node = field(repr=False, compare=False)


# ---- tokenizer
@dataclass(frozen=True)
class _Tok:
    kind: str  # name kw str num op ( ) [ ] , eof
    text: str  # as written in the source
    offset: int
    value: Any = None


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_NUMBER_TAIL = re.compile(r"[A-Za-z0-9_.]+")
_OPS = ("==", "!=", "<=", ">=", "<", ">")
_HINTS = {
    "=": "use '==' to compare", "!": "use 'not' or '!='", "&&": "use 'and'", "&": "use 'and'",
    "||": "use 'or'", "|": "use 'or'",
}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}


def _tokenize(src: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c.isspace():
            i += 1
        elif c in "'\"":
            i = _string(src, i, toks)
        elif c in "()[],":
            toks.append(_Tok(c, c, i))
            i += 1
        elif m := _NUMBER.match(src, i):
            end = m.end()
            if tail := _NUMBER_TAIL.match(src, end):
                raise ExpressionError(f"malformed number '{src[i:tail.end()]}'", i)
            text = m.group()
            if len(text) > 40:
                raise ExpressionError(f"number '{text[:20]}...' is too long", i)
            toks.append(_Tok("num", text, i, float(text) if "." in text else int(text)))
            i = end
        elif m := _WORD.match(src, i):
            i = _word(src, m, toks)
        elif op := next((o for o in _OPS if src.startswith(o, i)), None):
            toks.append(_Tok("op", op, i))
            i += len(op)
        else:
            bad = src[i : i + 2] if src[i : i + 2] in _HINTS else c
            if bad in _HINTS:
                raise ExpressionError(f"unknown operator '{bad}'; {_HINTS[bad]}", i)
            if c in "+-*/%":
                raise ExpressionError(f"unknown operator '{c}'; arithmetic is not supported", i)
            raise ExpressionError(f"unexpected character '{c}'", i)
    toks.append(_Tok("eof", "end of the expression", n))
    return toks


def _string(src: str, start: int, toks: list[_Tok]) -> int:
    quote, i, out = src[start], start + 1, []
    while i < len(src):
        c = src[i]
        if c == quote:
            toks.append(_Tok("str", src[start : i + 1], start, "".join(out)))
            return i + 1
        if c == "\\" and i + 1 < len(src):
            out.append(_ESCAPES.get(src[i + 1], src[i + 1]))
            i += 2
        else:
            out.append(c)
            i += 1
    raise ExpressionError("unterminated string", start)


def _word(src: str, m: re.Match[str], toks: list[_Tok]) -> int:
    word, start, end = m.group(), m.start(), m.end()
    if word in KEYWORDS and not src.startswith(".", end):
        toks.append(_Tok("kw", word, start))
        return end
    if word.lower() in KEYWORDS and not src.startswith(".", end):
        raise ExpressionError(f"write '{word}' in lower case: '{word.lower()}'", start)
    while src.startswith(".", end):
        part = _WORD.match(src, end + 1)
        if part is None:
            raise ExpressionError(f"expected a field name after '{src[start:end + 1]}'", end + 1)
        end = part.end()
    toks.append(_Tok("name", src[start:end], start))
    return end


# ---- parser
class _Parser:
    def __init__(self, src: str) -> None:
        self.toks = _tokenize(src)
        self.pos = 0
        self.depth = 0

    @property
    def tok(self) -> _Tok:
        return self.toks[self.pos]

    def take(self) -> _Tok:
        self.pos += 1
        return self.toks[self.pos - 1]

    def at(self, kind: str, text: str | None = None) -> bool:
        return self.tok.kind == kind and (text is None or self.tok.text == text)

    def nested(self, tok: _Tok, build: Callable[[], _Node]) -> _Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError("expression is nested too deeply", tok.offset)
        node = build()
        self.depth -= 1
        return node

    def close(self, opener: _Tok, closer: str, wanted: str) -> None:
        if self.at(closer):
            self.take()
        elif self.at("eof"):
            raise ExpressionError(f"unclosed '{opener.text}'", opener.offset)
        else:
            raise ExpressionError(f"expected {wanted}, found {_show(self.tok)}", self.tok.offset)

    def parse(self) -> _Node:
        node = self.or_()
        tok = self.tok
        if tok.kind == ")":
            raise ExpressionError("unmatched ')'", tok.offset)
        if tok.kind != "eof":
            raise ExpressionError(f"unexpected {_show(tok)} after the end of the expression",
                                  tok.offset)
        return node

    def or_(self) -> _Node:
        return self.chain("or", self.and_)

    def and_(self) -> _Node:
        return self.chain("and", self.not_)

    def chain(self, op: str, sub: Callable[[], _Node]) -> _Node:
        first = sub()
        items = [first]
        while self.at("kw", op):
            self.take()
            items.append(sub())
        return first if len(items) == 1 else _Node(op, first.offset, kids=tuple(items))

    def not_(self) -> _Node:
        if self.at("kw", "not"):
            tok = self.take()
            return self.nested(tok, lambda: _Node("not", tok.offset, kids=(self.not_(),)))
        return self.cmp()

    def cmp(self) -> _Node:
        left = self.operand()
        tok = self.tok
        if tok.kind == "op" or (tok.kind == "kw" and tok.text == "in"):
            op = self.take().text
        elif tok.kind == "kw" and tok.text == "not":
            self.take()
            if not self.at("kw", "in"):
                raise ExpressionError("expected 'in' after 'not'", self.tok.offset)
            self.take()
            op = "not in"
        else:
            return left
        node = _Node(op, tok.offset, kids=(left, self.operand()))
        if self.tok.kind == "op" or self.at("kw", "in"):
            raise ExpressionError("comparisons cannot be chained; join them with 'and'",
                                  self.tok.offset)
        return node

    def operand(self) -> _Node:
        tok = self.tok
        if tok.kind == "name":
            self.take()
            return _Node("name", tok.offset, tok.text)
        if tok.kind in ("str", "num") or (tok.kind == "kw" and tok.text in _CONSTANTS):
            self.take()
            return _Node("lit", tok.offset, _CONSTANTS.get(tok.text, tok.value))
        if tok.kind in ("(", "["):
            self.take()
            return self.nested(tok, lambda: self.paren(tok) if tok.kind == "(" else self.list_(tok))
        if self.pos == 0:
            raise ExpressionError(f"unexpected {_show(tok)} at the start of the expression",
                                  tok.offset)
        prev = self.toks[self.pos - 1]
        found = "" if tok.kind == "eof" else f", found {_show(tok)}"
        raise ExpressionError(f"expected a value after {_show(prev)}{found}", tok.offset)

    def paren(self, open_: _Tok) -> _Node:
        node = self.or_()
        self.close(open_, ")", "')'")
        return node

    def list_(self, open_: _Tok) -> _Node:
        items: list[_Node] = []
        if not self.at("]"):
            items.append(self.operand())
            while self.at(","):
                self.take()
                items.append(self.operand())
        self.close(open_, "]", "',' or ']' in the list")
        return _Node("list", open_.offset, kids=tuple(items))


def _show(tok: _Tok) -> str:
    if tok.kind == "eof":
        return tok.text
    text = tok.text if len(tok.text) <= 30 else tok.text[:27] + "..."
    return f"'{text}'"


def _walk(node: _Node) -> Iterator[_Node]:
    yield node
    for kid in node.kids:
        yield from _walk(kid)


def parse(source: str) -> Expression:
    """Parse ``source``; raise :class:`ExpressionError` (with its offset) on a syntax error."""
    if not source.strip():
        raise ExpressionError("empty expression", 0)
    tree = _Parser(source).parse()
    names = frozenset(n.value for n in _walk(tree) if n.kind == "name")
    return Expression(source, names, tree)


# ---- checker
def check(expr: Expression, scope: Mapping[str, NameInfo]) -> list[ExpressionError]:
    """Every problem of ``expr`` against the names in ``scope`` (empty list when clean)."""
    errors: list[ExpressionError] = []
    for node in _walk(expr.tree):
        if node.kind == "name" and node.value not in scope:
            errors.append(ExpressionError(_unknown(node.value, scope), node.offset))
        elif node.kind in COMPARISONS:
            errors.extend(_check_cmp(node, scope))
    return sorted(errors, key=lambda e: e.offset)


def _unknown(name: str, scope: Mapping[str, NameInfo]) -> str:
    head = name.split(".")[0]
    heads = {k.split(".")[0] for k in scope if "." in k}
    if "." in name and head not in heads:
        msg = f"unknown field '{name}': '{head}' is not available here"
        close = difflib.get_close_matches(head, sorted(heads), n=1)
        if close:
            return f"{msg} (did you mean '{close[0]}'?)"
        return f"{msg} (available: {', '.join(sorted(heads))})" if heads else msg
    close = difflib.get_close_matches(name, sorted(scope), n=1)
    if not close and "." not in name:
        close = sorted(k for k in scope if k.endswith("." + name))[:1]
    return f"unknown field '{name}'" + (f" (did you mean '{close[0]}'?)" if close else "")


def _check_cmp(node: _Node, scope: Mapping[str, NameInfo]) -> list[ExpressionError]:
    errors: list[ExpressionError] = []
    left, right = node.kids
    fields = [(n, scope[n.value]) if n.kind == "name" and n.value in scope else None
              for n in node.kids]

    def literal(name: _Node, info: NameInfo, lit: _Node) -> None:
        if lit.kind != "lit" or not isinstance(lit.value, str):
            return
        if info.type in CHOICE_TYPES and info.options and lit.value not in info.options:
            errors.append(ExpressionError(f"'{lit.value}' is not an option of {name.value} "
                                          f"({', '.join(info.options)})", lit.offset))
        elif info.type in NUMERIC_TYPES:
            errors.append(ExpressionError(f"{name.value} is a number; compare it with a "
                                          f"number, not '{lit.value}'", lit.offset))

    if node.kind in ORDERING:
        for name, info in filter(None, fields):
            if info.type == "boolean":
                errors.append(ExpressionError(f"'{node.kind}' does not apply to {name.value}, "
                                              "which is true or false; use '==' or '!='",
                                              node.offset))
    if node.kind not in ("in", "not in"):
        for this, other in ((fields[0], right), (fields[1], left)):
            if this:
                literal(*this, other)
    elif right.kind == "list":
        for item in right.kids if fields[0] else ():
            literal(*fields[0], item)
    elif fields[1] and fields[1][1].type == "multiselect":
        literal(*fields[1], left)
    elif right.kind != "name" or fields[1]:  # an unknown name is reported already
        errors.append(ExpressionError(f"the right side of '{node.kind}' must be a list like "
                                      "['a', 'b'] or a multiselect field", right.offset))
    return errors


# ---- evaluator
def evaluate(expr: Expression, values: Mapping[str, Any]) -> Any:
    """Evaluate ``expr`` with ``values`` keyed by dotted name; missing names are None.

    Operators return booleans; a bare operand returns its value. Never raises on data.
    """
    return _eval(expr.tree, values)


def _eval(node: _Node, values: Mapping[str, Any]) -> Any:
    kind = node.kind
    if kind == "lit":
        return node.value
    if kind == "name":
        return _lookup(values, node.value)
    if kind == "list":
        return [_eval(kid, values) for kid in node.kids]
    if kind == "not":
        return not _truth(_eval(node.kids[0], values))
    if kind in ("and", "or"):
        stop = kind == "or"  # or: stop at the first true item; and: at the first false one
        return stop if any(_truth(_eval(k, values)) is stop for k in node.kids) else not stop
    a, b = (_eval(kid, values) for kid in node.kids)
    if kind in ("==", "!="):
        return _eq(a, b) is (kind == "==")
    if kind in ("in", "not in"):
        return _in(a, b) is (kind == "in")
    return _order(_ORDER[kind], a, b)


def _lookup(values: Mapping[str, Any], name: str) -> Any:
    if name in values:
        return values[name]
    cur: Any = values
    for part in name.split("."):  # fall back to nested maps: {"customer": {"tier": ...}}
        if not isinstance(cur, Mapping) or part not in cur:
            return None
        cur = cur[part]
    return cur


def _truth(value: Any) -> bool:
    try:
        return bool(value)
    except Exception:
        return False


_NUMERIC_TEXT = re.compile(r"\s*[-+]?[0-9]+(?:\.[0-9]*)?\s*")
_ORDER: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}


def _number(value: Any, text_ok: bool) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int | float):
        return Decimal(value) if isinstance(value, int) else Decimal(repr(value))
    if text_ok and isinstance(value, str) and _NUMERIC_TEXT.fullmatch(value):
        return Decimal(value.strip())
    return None


def _pair(a: Any, b: Any) -> tuple[Any, Any]:
    """Bring ``a`` and ``b`` to comparable forms (numbers, ISO text) where the rules allow."""
    if _number(a, False) is not None or _number(b, False) is not None:
        na, nb = _number(a, True), _number(b, True)
        if na is not None and nb is not None:
            return na, nb
    if isinstance(a, _dt.date) and isinstance(b, _dt.date):
        mixed = isinstance(a, _dt.datetime) != isinstance(b, _dt.datetime)
        return (a.isoformat(), b.isoformat()) if mixed else (a, b)
    if isinstance(a, _dt.date) and isinstance(b, str):
        return a.isoformat(), b
    if isinstance(b, _dt.date) and isinstance(a, str):
        return a, b.isoformat()
    return a, b


def _eq(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if type(a) is str and type(b) is str:  # the common case: what `_pair` would leave
        return a == b
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_eq(x, y) for x, y in zip(a, b, strict=True))
    try:
        a, b = _pair(a, b)
        return bool(a == b)
    except Exception:
        return False


def _order(compare: Callable[[Any, Any], Any], a: Any, b: Any) -> bool:
    if a is None or b is None or isinstance(a, bool) or isinstance(b, bool):
        return False
    try:
        return bool(compare(*_pair(a, b)))
    except Exception:
        return False


def _in(a: Any, b: Any) -> bool:
    if isinstance(b, list | tuple | set | frozenset):
        if isinstance(a, list | tuple | set | frozenset):  # multiselect value: any overlap
            return any(_in(x, b) for x in a)
        return any(_eq(a, item) for item in b)
    if isinstance(b, str):
        return isinstance(a, str) and a in b
    return False
