"""Compile field definitions: type-specific keys, defaults, options, patterns, expressions."""
from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from . import expressions as ex
from .locate import Loc
from .model import BUILTIN_COLUMNS, Field, Label, Option

# Which field types each type-specific key applies to.
APPLIES = {
    "options": {"select", "multiselect"},
    "entity": {"link"},
    "fields": {"table"},
    "multiple": {"link", "user", "file"},
    "min": {"integer", "decimal", "rating", "date", "datetime"},
    "max": {"integer", "decimal", "rating", "date", "datetime"},
    "max_length": {"text", "longtext", "email", "url", "phone"},
    "pattern": {"text", "longtext", "email", "url"},
    "unique": {"text", "integer", "decimal", "phone", "email", "url"},
    "lookup": {"text", "integer", "phone", "email", "url"},
    "index": {"text", "integer", "decimal", "boolean", "date", "datetime", "select",
              "phone", "email", "url", "link", "user", "rating", "multiselect"},
    "search": {"text", "longtext", "phone", "email", "url", "select", "multiselect"},
}
NUMERIC = {"integer", "decimal", "rating"}
BUILTIN_TYPES = {"id": "integer", "owner": "user", "created_at": "datetime",
                 "updated_at": "datetime", "created_by": "user", "updated_by": "user"}


def article(word: str) -> str:
    """`a date`, `an integer`: the word with its article."""
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"


def humanize(name: str) -> str:
    """`meter_no` -> `Meter no`: the label of a field that was given none."""
    return name.replace("_", " ").strip().capitalize() or name


class Scope(dict):
    """Names an expression may use. Names cut from a broken file are "ghosts": accepted
    without complaint, since their own file's problem has already been reported."""

    def __init__(self, *args: Any, open_prefixes: set[str] | None = None):
        super().__init__(*args)
        self.open_prefixes = set(open_prefixes or ())

    def _open(self, key: object) -> bool:
        return isinstance(key, str) and any(key.startswith(p) for p in self.open_prefixes)

    def __contains__(self, key: object) -> bool:
        return super().__contains__(key) or self._open(key)

    def __missing__(self, key: str) -> ex.NameInfo:
        if self._open(key):
            return ex.NameInfo("text")
        raise KeyError(key)


def scope_of(fields: Mapping[str, Field], prefix: str = "",
             ghosts: set[str] = frozenset()) -> Scope:
    """The names an expression may use over these fields (plus the built-in columns)."""
    scope = Scope({f"{prefix}{n}": ex.NameInfo(t) for n, t in BUILTIN_TYPES.items()})
    for f in fields.values():
        scope[f"{prefix}{f.name}"] = ex.NameInfo(f.type, f.option_values)
    for g in ghosts:
        if g == "*":
            scope.open_prefixes.add(prefix)
        else:
            scope.open_prefixes.add(f"{prefix}{g}")  # a cut field: accept it unseen
    return scope


def parse_expression(loc: Loc, source: Any) -> ex.Expression | None:
    if not isinstance(source, str):
        return None
    try:
        return ex.parse(source)
    except ex.ExpressionError as e:
        loc.expr_errors([e])
        return None


def check_expression(loc: Loc, expr: ex.Expression | None,
                     scope: Mapping[str, ex.NameInfo]) -> None:
    if expr is not None:
        loc.expr_errors(ex.check(expr, scope))


def compile_options(loc: Loc, raw: Any) -> tuple[Option, ...]:
    out: list[Option] = []
    seen: set[str] = set()
    for i, item in enumerate(raw or ()):
        if isinstance(item, Mapping):
            value, label = item.get("value"), item.get("label")
        else:
            value, label = item, None
        if isinstance(value, bool):
            value = "true" if value else "false"
        value = str(value)
        if value in seen:
            loc.at(i).err(f"option '{value}' is listed twice")
            continue
        seen.add(value)
        out.append(Option(value, Label.of(label, value)))
    return tuple(out)


def compile_field(loc: Loc, name: str, spec: Mapping[str, Any], *, system: bool = False,
                  in_table: bool = False, known_entities: frozenset[str] = frozenset()
                  ) -> Field | None:
    """One field from its (schema-valid) definition; problems go to `loc`."""
    ftype = spec.get("type")
    if ftype is None:
        loc.at("type").err("'type' is required for a new field", key=True)
        return None
    for key, types in APPLIES.items():
        value = spec.get(key)
        if value not in (None, False) and ftype not in types:
            loc.at(key).err(f"'{key}' does not apply to {article(ftype)} field "
                            f"(only {', '.join(sorted(types))})", key=True)
    if in_table:
        for key in ("unique", "lookup", "index", "fields"):
            if spec.get(key):
                loc.at(key).err(f"'{key}' is not allowed on a field of a table's rows",
                                key=True)
    options = compile_options(loc.at("options"), spec.get("options"))
    if ftype in ("select", "multiselect") and not options and not system:
        loc.at("options").err(f"{article(ftype)} field needs options", key=True)
    entity = spec.get("entity")
    if ftype == "link":
        if entity is None:
            loc.at("entity").err("a link field needs 'entity': the entity it points to",
                                 key=True)
        elif entity != "*" and known_entities and entity not in known_entities:
            loc.at("entity").missing("entity", entity, known_entities)
    children: tuple[Field, ...] = ()
    if ftype == "table" and not in_table:
        raw_children = spec.get("fields")
        if not raw_children:
            loc.at("fields").err("a table field needs 'fields': the columns of its rows",
                                 key=True)
        else:
            children = tuple(
                f for cname, cspec in raw_children.items()
                if (f := compile_field(loc.at("fields", cname), cname, cspec or {},
                                       in_table=True, known_entities=known_entities)))
    pattern = spec.get("pattern")
    if isinstance(pattern, str):
        try:
            re.compile(pattern)
        except re.error as e:
            loc.at("pattern").err(f"not a valid regular expression: {e}")
    lo, hi = _bounds(loc, ftype, spec)
    field = Field(
        name=name, type=ftype, label=Label.of(spec.get("label"), humanize(name)),
        system=system, required=bool(spec.get("required")), unique=bool(spec.get("unique")),
        lookup=bool(spec.get("lookup")), index=bool(spec.get("index")),
        search=bool(spec.get("search")), readonly=bool(spec.get("readonly")),
        hidden=bool(spec.get("hidden")), multiple=bool(spec.get("multiple")),
        default=spec.get("default"), options=options, min=lo, max=hi,
        max_length=spec.get("max_length"), pattern=pattern,
        help=Label.of(spec["help"]) if spec.get("help") else None,
        visible_if=parse_expression(loc.at("visible_if"), spec.get("visible_if")),
        required_if=parse_expression(loc.at("required_if"), spec.get("required_if")),
        entity=entity, fields=children)
    if "default" in spec and spec["default"] is not None:
        problem = default_problem(field, spec["default"])
        if problem:
            loc.at("default").err(problem)
    return field


def _bounds(loc: Loc, ftype: str, spec: Mapping[str, Any]) -> tuple[Any, Any]:
    lo, hi = spec.get("min"), spec.get("max")
    if ftype == "rating":
        lo = 1 if lo is None else lo
        hi = 5 if hi is None else hi
    for key, value in (("min", lo), ("max", hi)):
        if value is None or ftype not in APPLIES["min"]:
            continue
        if ftype in NUMERIC and not isinstance(value, int | float):
            loc.at(key).err(f"{key} of {article(ftype)} field must be a number")
            return None, None
        if ftype in ("date", "datetime") and _when(ftype, value) is None:
            loc.at(key).err(f"{value!r} is not {article(ftype)} (use ISO form like 2026-01-31)")
            return None, None
    if lo is not None and hi is not None and ftype in APPLIES["min"]:
        a, b = (lo, hi) if ftype in NUMERIC else (_when(ftype, lo), _when(ftype, hi))
        if a is not None and b is not None and a > b:
            loc.at("min").err(f"min {lo} is greater than max {hi}")
    return lo, hi


def _when(ftype: str, value: Any) -> date | datetime | None:
    if not isinstance(value, str):
        return None
    try:
        if ftype == "date":
            return date.fromisoformat(value)
        moment = datetime.fromisoformat(value)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # comparable
    except ValueError:
        return None


def default_problem(field: Field, value: Any) -> str | None:
    """Why `value` cannot be the default of `field`, or None when it can."""
    t = field.type
    if t in ("link", "file", "table"):
        return f"{article(t)} field cannot have a default"
    if t == "select":
        if str(value) not in field.option_values:
            return (f"default {value!r} is not one of the options "
                    f"({', '.join(field.option_values)})")
    elif t == "multiselect":
        values = value if isinstance(value, list) else [value]
        bad = [v for v in values if str(v) not in field.option_values]
        if bad:
            return (f"default {bad[0]!r} is not one of the options "
                    f"({', '.join(field.option_values)})")
    elif t == "boolean":
        if not isinstance(value, bool):
            return f"default of a boolean field must be true or false, not {value!r}"
    elif t in NUMERIC:
        if isinstance(value, bool) or not isinstance(value, int | float) or (
                t != "decimal" and not isinstance(value, int)):
            return f"default {value!r} is not {'a number' if t == 'decimal' else 'a whole number'}"
        if field.min is not None and value < field.min:
            return f"default {value} is below min {field.min}"
        if field.max is not None and value > field.max:
            return f"default {value} is above max {field.max}"
    elif t == "date":
        if value != "today" and _when("date", value) is None:
            return f"default {value!r} is not a date (2026-01-31 or today)"
    elif t == "datetime":
        if value != "now" and _when("datetime", value) is None:
            return f"default {value!r} is not a date and time (2026-01-31T08:00 or now)"
    elif t == "user":
        if value != "me":
            return "the only default of a user field is 'me' (the user creating the record)"
    elif not isinstance(value, str):
        return f"default of {article(t)} field must be text, not {value!r}"
    return None


def check_field_expressions(loc: Loc, field: Field, scope: Mapping[str, ex.NameInfo]) -> None:
    check_expression(loc.at("visible_if"), field.visible_if, scope)
    check_expression(loc.at("required_if"), field.required_if, scope)


def check_names(loc: Loc, names: Any, known: Mapping[str, Any] | set[str], what: str,
                *, ghosts: set[str] = frozenset()) -> None:
    """Each name in the list at `loc` must be a field (or a built-in column)."""
    if "*" in ghosts:
        return
    allowed = set(known) | set(BUILTIN_COLUMNS) | set(ghosts)
    seen: set[str] = set()
    for i, name in enumerate(names or ()):
        if name in seen:
            loc.at(i).err(f"'{name}' is listed twice")
        seen.add(name)
        if name not in allowed:
            loc.at(i).missing("field", name, allowed, where=what)
