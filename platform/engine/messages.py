"""The message catalogue: JSON Schema errors said in plain words, located in the YAML.

Schemas carry three annotations the catalogue reads: `x-noun` names what an enum holds
("a field type"), `x-format` describes what a pattern wants, `x-expected` describes what a
choice (`anyOf`) accepts. Everything else is worded from the validator's own keyword.
"""
from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from jsonschema.exceptions import ValidationError

from .problems import Problem
from .yamlsource import Document

_KINDS = {
    "string": "text", "integer": "a whole number", "number": "a number",
    "boolean": "true or false", "object": "a map of keys", "array": "a list",
    "null": "nothing",
}


def kind_of(value: Any) -> str:
    """How a value reads to a person: text, a number, a list…"""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a map"
    return type(value).__name__


def show(value: Any) -> str:
    """A short quotation of a value for a message."""
    if isinstance(value, dict | list):
        return kind_of(value)
    text = repr(value) if isinstance(value, str) else str(value).lower() \
        if isinstance(value, bool) else str(value)
    return text if len(text) <= 60 else text[:57] + "…'"


def suggest(word: Any, choices: Iterable[Any]) -> str:
    """` (did you mean 'x'?)` when a choice is close to `word`, else ''."""
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def problems_from(doc: Document, errors: Iterable[ValidationError]) -> list[Problem]:
    """Turn validation errors into located problems, one per real mistake."""
    out: dict[Problem, None] = {}  # jsonschema repeats `required` once per missing key
    for error in errors:
        for leaf in _leaves(error):
            out.update(dict.fromkeys(_word(doc, leaf)))
    return list(out)


def _leaves(error: ValidationError) -> list[ValidationError]:
    """Descend into the one branch of a choice that fits the value's shape, if any."""
    if error.validator not in ("anyOf", "oneOf") or not error.context:
        return [error]
    branches: dict[Any, list[ValidationError]] = defaultdict(list)
    for sub in error.context:
        branches[sub.schema_path[0]].append(sub)
    # The branches whose shape fits the value (no type mismatch on the value itself).
    fitting = [errs for errs in branches.values()
               if not any(not sub.relative_path and sub.validator in ("type", "const")
                          for sub in errs)]
    if len(fitting) == 1:
        errs = fitting[0]
        # A plain wrong value (bad pattern, not in a list) reads better as the choice's
        # own description; a structural problem (missing key, bad key) as itself.
        shallow = all(not sub.relative_path and sub.validator in _VALUE_CHECKS
                      and "propertyNames" not in sub.schema_path for sub in errs)
        if not (shallow and isinstance(error.schema, dict) and "x-expected" in error.schema):
            return [leaf for sub in errs for leaf in _leaves(sub)]
    return [error]


_VALUE_CHECKS = ("pattern", "enum", "minLength", "minimum", "maximum", "format")


def _word(doc: Document, e: ValidationError) -> list[Problem]:
    path = tuple(e.absolute_path)
    schema = e.schema if isinstance(e.schema, dict) else {}
    v = e.validator
    if "propertyNames" in e.schema_path:
        key = e.instance
        what = schema.get("x-format") or f"matching {schema.get('pattern', '')}"
        return [doc.problem((*path, key), f"'{key}' is not a valid key here: {what}", key=True)]
    if v == "additionalProperties":
        allowed = list(schema.get("properties", {}))
        extra = [k for k in e.instance if k not in allowed]
        problems = []
        for key in extra:
            hint = suggest(key, allowed) or (
                f"; allowed: {', '.join(allowed)}" if allowed else "")
            problems.append(doc.problem((*path, key), f"unknown key '{key}'{hint}", key=True))
        return problems
    if v == "required":
        missing = e.validator_value
        present = e.instance if isinstance(e.instance, dict) else {}
        return [doc.problem((*path, key), f"'{key}' is required", key=True)
                for key in missing if key not in present] or \
            [doc.problem(path, e.message)]
    return [doc.problem(path, _message(e, schema))]


def _message(e: ValidationError, schema: dict) -> str:
    v, value, want = e.validator, e.instance, e.validator_value
    if v == "enum":
        noun = schema.get("x-noun")
        options = ", ".join(str(o) for o in want)
        head = f"{show(value)} is not {noun}" if noun else f"{show(value)} is not allowed"
        return f"{head} ({options}){suggest(value, want).replace(' (', '; ').rstrip(')')}"
    if v == "const":
        return f"expected {show(want)}, got {show(value)}"
    if v == "type":
        kinds = [want] if isinstance(want, str) else list(want)
        expected = " or ".join(_KINDS.get(k, k) for k in kinds if k != "null")
        return f"expected {expected}, got {kind_of(value)}" + (
            f" {show(value)}" if not isinstance(value, dict | list) and value is not None
            else "")
    if v == "pattern":
        fmt = schema.get("x-format")
        return f"{show(value)} is not {fmt}" if fmt else \
            f"{show(value)} does not match the pattern {want}"
    if v in ("anyOf", "oneOf"):
        expected = schema.get("x-expected")
        return f"{show(value)} is not {expected}" if expected else \
            f"{show(value)} is not valid here"
    if v in ("minimum", "exclusiveMinimum"):
        return f"{show(value)} is below the minimum {want}"
    if v in ("maximum", "exclusiveMaximum"):
        return f"{show(value)} is above the maximum {want}"
    if v == "minItems":
        return "must not be empty" if want == 1 else f"needs at least {want} items"
    if v == "minProperties":
        return "must not be empty" if want == 1 else f"needs at least {want} entries"
    if v == "minLength":
        return "must not be empty"
    if v == "maxItems":
        return f"has more than {want} items"
    return e.message
