"""The JSON Schemas of the four kinds of bundle file, and validation against them."""
from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any, Literal

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from .messages import problems_from
from .problems import Problem
from .yamlsource import Document

Kind = Literal["tenant", "entity", "ticket_type", "ivr"]
KINDS: tuple[Kind, ...] = ("tenant", "entity", "ticket_type", "ivr")


def load_schema(name: str) -> dict:
    """The JSON Schema `name` (tenant, entity, ticket_type, ivr or common)."""
    text = resources.files(__package__).joinpath("schemas", f"{name}.json").read_text("utf-8")
    return json.loads(text)


@cache
def _validator(kind: Kind) -> Draft202012Validator:
    registry: Registry = Registry()
    for name in ("common", *KINDS):
        schema = load_schema(name)
        registry = registry.with_resource(schema["$id"], Resource.from_contents(schema))
    return Draft202012Validator(load_schema(kind), registry=registry)


def validate(kind: Kind, doc: Document) -> list[Problem]:
    """Every schema problem of `doc` as a `kind` file, in plain words."""
    return problems_from(doc, _validator(kind).iter_errors(doc.data))


# How deep to cut a document at a schema error: one broken field, node or queue is dropped
# on its own, so the rest of the file is still compiled and checked.
_DEPTH = {"fields": 2, "nodes": 2, "queues": 2, "schedules": 2}


def prune(kind: Kind, data: Any) -> tuple[Any, dict[str, set[str]]]:
    """`data` without the parts that fail the schema, and the names cut ("ghosts").

    Returns (None, …) when the document itself is unusable. A ghost set holding "*" means
    every name of that kind may have been cut.
    """
    ghosts: dict[str, set[str]] = {}
    data = copy.deepcopy(data)
    for _ in range(10):
        paths = [tuple(e.absolute_path) for e in _validator(kind).iter_errors(data)]
        if not paths:
            return data, ghosts
        for path in paths:
            if not path or not isinstance(data, dict):
                return None, ghosts
            top = path[0]
            depth = _DEPTH.get(str(top), 1) if len(path) > 1 else 1
            if depth == 2 and isinstance(data.get(top), dict):
                data[top].pop(path[1], None)
                ghosts.setdefault(str(top), set()).add(str(path[1]))
            else:
                data.pop(top, None)
                ghosts.setdefault(str(top), set()).add("*")
    return None, ghosts
