"""List queries: `field__op=value` filters on any field, `q`, sort and paging, as SQL.

Filters work on every field of the entity, custom ones included, through the JSON column
(expression-indexed where the field says `index: true`), and on the built-in columns.
"""
from __future__ import annotations

import json
import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from sqlalchemy import and_, cast, exists, func, literal, literal_column, not_, or_, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnElement

from .db import json_field
from .errors import ValidationFailed
from .fields import article
from .model import Entity, Field, Label, TenantModel
from .phones import normalize_phone
from .tables import record_keys, record_links, records
from .values import Context, Invalid, coerce, format_datetime, parse_datetime

OPS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "contains", "startswith", "isnull")
RESERVED = {"q", "sort", "page", "per_page", "view", "format", "fields"}
MAX_PER_PAGE = 500
MAX_PAGE = 2**31 - 1
BUILTIN = {
    "id": Field("id", "integer", Label.of({"en": "ID", "vi": "Mã", "zh": "编号"}), system=True),
    "owner": Field("owner", "user", Label.of(
        {"en": "Owner", "vi": "Người phụ trách", "zh": "负责人"}), system=True),
    "created_by": Field("created_by", "user", Label.of(
        {"en": "Created by", "vi": "Người tạo", "zh": "创建人"}), system=True),
    "updated_by": Field("updated_by", "user", Label.of(
        {"en": "Updated by", "vi": "Người cập nhật", "zh": "更新人"}), system=True),
    "created_at": Field("created_at", "datetime", Label.of(
        {"en": "Created", "vi": "Ngày tạo", "zh": "创建时间"}), system=True),
    "updated_at": Field("updated_at", "datetime", Label.of(
        {"en": "Updated", "vi": "Cập nhật lúc", "zh": "更新时间"}), system=True),
    "title": Field("title", "text", Label.of({"en": "Title", "vi": "Tiêu đề", "zh": "标题"}),
                   system=True),
}
NOT_NULL = {"id", "created_at", "updated_at", "title"}  # columns that never hold NULL
COLUMNS = {"id": records.c.id, "owner": records.c.owner_id, "created_by": records.c.created_by,
           "updated_by": records.c.updated_by, "created_at": records.c.created_at,
           "updated_at": records.c.updated_at, "title": records.c.title}


@dataclass(frozen=True)
class Filter:
    field: str
    op: str
    value: Any


@dataclass(frozen=True)
class Query:
    filters: tuple[Filter, ...] = ()
    q: str | None = None
    sort: tuple[str, ...] = ("-updated_at",)
    page: int = 1
    per_page: int = 50


@dataclass
class Page:
    items: list[dict[str, Any]]
    total: int
    page: int = 1
    per_page: int = 50
    extra: dict[str, Any] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        return {"items": self.items, "total": self.total, "page": self.page,
                "per_page": self.per_page, **self.extra}


def filterable_fields(model: TenantModel, entity: Entity) -> dict[str, Field]:
    """Fields a list of `entity` may be filtered on; tickets add every type's fields."""
    fields = {**BUILTIN, **entity.field_map}
    if entity.name == "ticket":
        for tt in model.ticket_types.values():
            for f in tt.fields:
                fields.setdefault(f.name, f)
    return fields


def parse_query(params: Mapping[str, Any] | Iterable[tuple[str, Any]],
                fields: Mapping[str, Field], *, extra: Iterable[str] = ()) -> Query:
    """A Query from request arguments; 422 naming every bad parameter."""
    items = params.items() if isinstance(params, Mapping) else params
    errors: dict[str, list[str]] = {}
    filters, q, sort, page, per_page = [], None, ("-updated_at",), 1, 50
    skip = RESERVED | set(extra)
    for key, value in items:
        if isinstance(value, list):
            value = value[-1] if value else ""
        if key == "q":
            q = str(value).strip() or None
        elif key == "sort":
            sort = tuple(s.strip() for s in str(value).split(",") if s.strip())
            for s in sort:
                if s.lstrip("-") not in fields:
                    errors.setdefault("sort", []).append(f"unknown field '{s.lstrip('-')}'")
        elif key in ("page", "per_page"):
            try:
                number = int(value)
                if number < 1:
                    raise ValueError
            except (TypeError, ValueError):
                errors.setdefault(key, []).append("must be a whole number of at least 1")
                continue
            if key == "page":
                if number > MAX_PAGE:  # the row offset must fit the database's integers
                    errors.setdefault(key, []).append(f"must be at most {MAX_PAGE}")
                    continue
                page = number
            else:
                per_page = min(number, MAX_PER_PAGE)
        elif key in skip:
            continue
        else:
            name, _, op = key.partition("__")
            op = op or "eq"
            if name not in fields:
                errors.setdefault(key, []).append(f"unknown field '{name}'")
            elif op not in OPS:
                errors.setdefault(key, []).append(
                    f"unknown operator '{op}' (use {', '.join(OPS)})")
            else:
                filters.append(Filter(name, op, value))
    if errors:
        raise ValidationFailed(errors)
    return Query(tuple(filters), q, sort, page, per_page)


class ConditionBuilder:
    """Turns filters into SQL for one dialect, with the tenant's coercion context."""

    def __init__(self, dialect: str, fields: Mapping[str, Field], ctx: Context):
        self.dialect, self.fields, self.ctx = dialect, fields, ctx

    def conditions(self, query: Query) -> list[ColumnElement[bool]]:
        errors: dict[str, list[str]] = {}
        out = []
        for f in query.filters:
            try:
                out.append(self.condition(f))
            except Invalid as e:
                key = f.field if f.op == "eq" else f"{f.field}__{f.op}"
                errors.setdefault(key, []).append(str(e))
        if query.q:
            out.append(self.text_search(query.q))
        if errors:
            raise ValidationFailed(errors)
        return out

    def column(self, field: Field) -> ColumnElement[Any]:
        if field.name in COLUMNS and field.system and field.name in BUILTIN:
            return COLUMNS[field.name]
        return json_field(self.dialect, field)

    def value(self, field: Field, raw: Any) -> Any:
        """A filter value in the form the column holds."""
        if field.name in ("created_at", "updated_at") and field.name in BUILTIN:
            return parse_datetime(raw, self.ctx.timezone)
        if field.type == "phone":
            number = normalize_phone(raw, self.ctx.region, strict=False)
            if number is None:
                raise Invalid(f"'{raw}' is not a phone number")
            return number
        if field.type == "user" and str(raw) == "me":
            return self.ctx.resolve_user("me") if self.ctx.resolve_user else None
        if field.type in ("multiselect",):
            return coerce(field, [raw], self.ctx)[0]
        if field.type == "table":
            raise Invalid("a table field cannot be filtered")
        if field.type == "link" and field.entity == "*":
            return int(raw) if str(raw).isdigit() else _raise("must be a record id")
        single = Field(field.name, field.type, field.label, options=field.options,
                       entity=field.entity, max_length=None, pattern=None)
        value = coerce(single, raw, self.ctx)
        if field.type == "datetime" and isinstance(value, str):
            return value
        return value

    def typed(self, field: Field, value: Any) -> Any:
        """JSON values read back as text on PostgreSQL (but numbers as numerics)."""
        if field.name in COLUMNS and field.name in BUILTIN:
            return value
        if self.dialect == "postgresql":
            if isinstance(value, bool):
                return "true" if value else "false"
            if field.type in ("integer", "decimal", "rating"):
                return value
            return str(value)
        return value

    def condition(self, f: Filter) -> ColumnElement[bool]:
        field = self.fields[f.field]
        if f.op == "isnull":
            want = str(f.value).strip().lower() in ("1", "true", "yes", "")
            col = self._presence(field)
            return col if want else not_(col)
        if field.type in ("user", "link") and field.name not in COLUMNS:
            return self._link_condition(field, f)
        if field.type == "multiselect":
            return self._multi_condition(field, f)
        col = self.column(field)
        if f.op in ("contains", "startswith"):
            text = str(f.value)
            if field.type == "phone":
                return self._phone_like(col, f.op, text)
            pattern = f"%{_escape(text)}%" if f.op == "contains" else f"{_escape(text)}%"
            if self.dialect == "postgresql":
                return col.ilike(pattern, escape="\\")
            return col.like(pattern, escape="\\")
        if f.op == "in":
            raws = [v for v in str(f.value).split(",") if v.strip()]
            return col.in_([self.typed(field, self.value(field, v)) for v in raws])
        value = self.typed(field, self.value(field, f.value))
        if field.type == "datetime" and field.name not in COLUMNS and isinstance(value, str):
            value = value  # ISO strings in UTC compare in time order
        if f.op == "ne":
            return or_(col != value, col.is_(None))
        if field.type == "boolean" and f.op != "eq":
            raise Invalid(f"'{f.op}' does not apply to a yes/no field")
        compare = {"eq": operator.eq, "lt": operator.lt, "lte": operator.le, "gt": operator.gt,
                   "gte": operator.ge}[f.op]
        return compare(col, value)

    def _phone_like(self, col: ColumnElement[Any], op: str, text: str) -> ColumnElement[bool]:
        """contains / startswith on stored E.164 numbers typed in any spelling (`0901`,
        `+84 90`, `090 123`): a leading trunk 0 stands for the tenant's country code."""
        text = text.strip()
        digits = "".join(ch for ch in text if ch.isdigit())
        if not digits:
            raise Invalid(f"'{text}' has no digits to look for in a phone number")
        if text.startswith("+") or text.startswith("00"):
            digits = digits[2:] if text.startswith("00") else digits
            start = [f"+{digits}"]
            anywhere = [f"+{digits}"]
        else:
            start = [f"+{digits}", digits]  # international digits without +, or a short code
            anywhere = [digits]
            cc = phonenumbers.country_code_for_region(self.ctx.region)
            if digits.startswith("0") and cc:
                start.append(f"+{cc}{digits[1:]}")
                anywhere.append(f"+{cc}{digits[1:]}")
        patterns = [f"{p}%" for p in start] if op == "startswith" else (
            [f"%{p}%" for p in anywhere])
        return or_(*[col.like(p) for p in patterns])

    def _presence(self, field: Field) -> ColumnElement[bool]:
        if field.name in COLUMNS and field.name in BUILTIN:
            return COLUMNS[field.name].is_(None)
        if self.dialect == "postgresql":
            return literal_column(f"(data -> '{field.name}')").is_(None)
        return literal_column(f"json_type(data, '$.{field.name}')").is_(None)

    def _link_condition(self, field: Field, f: Filter) -> ColumnElement[bool]:
        raws = str(f.value).split(",") if f.op == "in" else [f.value]
        ids = []
        for raw in raws:
            if field.type == "user":
                ids.append(self.value(field, raw.strip() if isinstance(raw, str) else raw))
            else:
                ids.append(self.value(field, raw))
        linked = exists().where(record_links.c.from_id == records.c.id,
                                record_links.c.field == field.name,
                                record_links.c.to_id.in_(ids))
        if f.op in ("eq", "in", "contains"):
            return linked
        if f.op == "ne":
            return not_(linked)
        raise Invalid(f"'{f.op}' does not apply to {article(field.type)} field")

    def _multi_condition(self, field: Field, f: Filter) -> ColumnElement[bool]:
        raws = str(f.value).split(",") if f.op == "in" else [f.value]
        values = [self.value(field, r) for r in raws]
        if self.dialect == "postgresql":
            col = literal_column(f"(data -> '{field.name}')")
            # coalesce: a record without the field has none of the values (not NULL, so
            # `ne` keeps it, as it does on SQLite and for single-valued fields)
            has = func.coalesce(or_(*[col.op("@>")(cast(literal(json.dumps([v])), JSONB))
                                      for v in values]), False)
        else:
            each = func.json_each(records.c.data, f"$.{field.name}").table_valued("value")
            has = exists(select(1).select_from(each).where(each.c.value.in_(values)))
        if f.op in ("eq", "in", "contains"):
            return has
        if f.op == "ne":
            return not_(has)
        raise Invalid(f"'{f.op}' does not apply to a multiselect field")

    def text_search(self, q: str) -> ColumnElement[bool]:
        """`q` over the title and the key fields (phones, e-mails, lookups)."""
        like = "ilike" if self.dialect == "postgresql" else "like"
        pattern = f"%{_escape(q)}%"
        keys = [f"{_escape(q.lower())}%"]
        digits = "".join(ch for ch in q if ch.isdigit())
        if len(digits) >= 3 and len(digits) >= len(q.replace(" ", "")) - 1:
            keys.append(f"%{digits.lstrip('0')}%")  # 0901… matches +84901… anywhere
        key_match = exists().where(
            record_keys.c.record_id == records.c.id,
            or_(*[record_keys.c.value.like(k, escape="\\") for k in keys]))
        return or_(getattr(records.c.title, like)(pattern, escape="\\"), key_match)

    def order_by(self, sort: Iterable[str]) -> list[Any]:
        out = []
        for s in sort:
            name = s.lstrip("-")
            field = self.fields.get(name)
            if field is None:
                continue
            col = self.column(field)
            order = col.desc() if s.startswith("-") else col.asc()
            if name not in NOT_NULL:
                order = order.nulls_last()  # empty values last, on SQLite as on PostgreSQL
            out.append(order)
        out.append(records.c.id.desc())
        return out


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _raise(message: str) -> Any:
    raise Invalid(message)


def iso(value: Any) -> Any:
    """Datetimes as stored ISO text (for JSON output of built-in columns)."""
    from datetime import datetime

    return format_datetime(value) if isinstance(value, datetime) else value


__all__ = ["Filter", "Page", "Query", "and_", "filterable_fields", "parse_query"]
