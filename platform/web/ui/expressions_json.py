"""Parsed `visible_if` / `required_if` expressions as JSON, for the browser to evaluate."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from callboard.engine.model import Field


def tree(node: Any) -> dict[str, Any]:
    """One node of a parsed expression: kind, value, children."""
    out: dict[str, Any] = {"k": node.kind}
    if node.value is not None:
        out["v"] = node.value
    if node.kids:
        out["c"] = [tree(kid) for kid in node.kids]
    return out


def expressions(fields: Iterable[Field]) -> dict[str, dict[str, Any]]:
    """Source text -> parsed tree of every condition on `fields` (table rows included)."""
    out: dict[str, dict[str, Any]] = {}
    for f in fields:
        for expr in (f.visible_if, f.required_if):
            if expr is not None:
                out[expr.source] = tree(expr.tree)
        if f.fields:
            out.update(expressions(f.fields))
    return out
