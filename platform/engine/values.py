"""Turn input values into the stored form of a field, or say plainly why they cannot be.

One function per field type. The same code serves the API, imports and the telephony
engine, so a phone number or a date is stored one way whatever door it came through.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from .model import Field
from .phones import normalize_phone

CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # tab and newlines are text
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
URL = re.compile(r"^https?://[^\s/$.?#].[^\s]*$", re.IGNORECASE)
TRUE = {"true", "1", "yes", "y", "on", "có", "co", "x", "是"}
INT64 = 2**63 - 1  # numbers are stored, compared and bound as 64-bit values
FALSE = {"false", "0", "no", "n", "off", "không", "khong", "", "否"}


class Invalid(ValueError):
    """A value a field cannot take; the message is for the person who typed it."""


@dataclass(frozen=True)
class Context:
    """What coercion needs beyond the field: the tenant's region and time zone, and
    resolvers for user references (id or e-mail -> user id of this tenant)."""

    region: str = "VN"
    timezone: str = "UTC"
    strict_phones: bool = True
    resolve_user: Callable[[Any], int | None] | None = None
    day_first: bool = True


def coerce(field: Field, value: Any, ctx: Context) -> Any:
    """The stored form of `value` for `field`; None for empty; raises Invalid."""
    if value is None or (isinstance(value, str) and not value.strip()
                         and field.type != "boolean"):
        return [] if field.type in ("multiselect", "table") or field.multiple else None
    if field.multiple and field.type in ("link", "user", "file"):
        items = value if isinstance(value, list) else _split(value)
        out = [_COERCE[field.type](field, v, ctx) for v in items]
        return list(dict.fromkeys(v for v in out if v is not None))
    return _COERCE[field.type](field, value, ctx)


def _split(value: Any) -> list[Any]:
    if isinstance(value, str):
        return [p.strip() for p in value.split(",") if p.strip()]
    return [value]


def _text(field: Field, value: Any, ctx: Context) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise Invalid("must be text")
    text = str(value) if not isinstance(value, float) or not value.is_integer() \
        else str(int(value))
    if field.type == "text":
        text = text.strip()
    if CONTROL.search(text):
        raise Invalid("contains a control character")
    if field.max_length and len(text) > field.max_length:
        raise Invalid(f"must be at most {field.max_length} characters")
    if field.pattern and not re.search(field.pattern, text):
        raise Invalid(f"does not have the expected form ({field.pattern})")
    return text


def _integer(field: Field, value: Any, ctx: Context) -> int:
    if isinstance(value, bool):
        raise Invalid("must be a whole number")
    try:
        number = Decimal(str(value).strip().replace(" ", "")) if not isinstance(
            value, int) else Decimal(value)
    except InvalidOperation:
        raise Invalid("must be a whole number") from None
    if number.is_finite() and number.adjusted() > 18:  # before any arithmetic on it
        raise Invalid("is too large")
    if not number.is_finite() or number != number.to_integral_value():
        raise Invalid("must be a whole number")
    if abs(number) > INT64:
        raise Invalid("is too large")
    return _bounded(field, int(number))


def _decimal(field: Field, value: Any, ctx: Context) -> int | float:
    if isinstance(value, bool):
        raise Invalid("must be a number")
    try:
        number = Decimal(str(value).strip().replace(" ", ""))
    except InvalidOperation:
        raise Invalid("must be a number") from None
    if not number.is_finite():
        raise Invalid("must be a number")
    if number.adjusted() > 18:  # 1e1000000 would take minutes to turn into an int
        raise Invalid("is too large")
    if abs(number) > INT64:
        raise Invalid("is too large")
    out = int(number) if number == number.to_integral_value() else float(number)
    return _bounded(field, out)


def _bounded(field: Field, number: int | float) -> int | float:
    if field.min is not None and number < field.min:
        raise Invalid(f"must be at least {field.min}")
    if field.max is not None and number > field.max:
        raise Invalid(f"must be at most {field.max}")
    return number


def _boolean(field: Field, value: Any, ctx: Context) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise Invalid("must be true or false")


def parse_date(value: Any, *, day_first: bool = True) -> date:
    """ISO `2026-01-31`, `31/01/2026` (day first), or a spreadsheet serial number."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if 1 <= value < 2958466:
            return date(1899, 12, 30) + timedelta(days=int(value))
        raise Invalid("is not a date")
    text = str(value).strip()
    try:
        if re.match(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
                    r"(?:Z|[+-]\d{2}:?\d{2})?)?$", text):
            return date.fromisoformat(text[:10])  # a date, or the date of a date-time
        return _dmy(text, day_first)
    except ValueError:
        raise Invalid(f"'{text}' is not a date (use 2026-01-31 or 31/01/2026)") from None


def _dmy(text: str, day_first: bool) -> date:
    m = re.fullmatch(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})", text)
    if not m:
        raise ValueError(text)
    a, b, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
    day, month = (a, b) if day_first else (b, a)
    return date(year, month, day)


def _date(field: Field, value: Any, ctx: Context) -> str:
    if value == "today":
        return date.today().isoformat()
    d = parse_date(value, day_first=ctx.day_first)
    if field.min is not None and d.isoformat() < str(field.min):
        raise Invalid(f"must be on or after {field.min}")
    if field.max is not None and d.isoformat() > str(field.max):
        raise Invalid(f"must be on or before {field.max}")
    return d.isoformat()


def parse_datetime(value: Any, timezone: str = "UTC") -> datetime:
    """An aware datetime; naive input is read in the tenant's time zone."""
    from zoneinfo import ZoneInfo

    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime(value.year, value.month, value.day)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        dt = datetime(1899, 12, 30) + timedelta(days=float(value))
    else:
        text = str(value).strip().replace("Z", "+00:00")
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            m = re.fullmatch(r"(\d{1,2}/\d{1,2}/\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?",
                             text)
            if not m:
                raise Invalid(f"'{text}' is not a date and time (use 2026-01-31T08:30)") \
                    from None
            d = _dmy(m.group(1), True)
            dt = datetime(d.year, d.month, d.day, int(m.group(2) or 0), int(m.group(3) or 0),
                          int(m.group(4) or 0))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=ZoneInfo(timezone))
    return dt.astimezone(UTC)


def _datetime(field: Field, value: Any, ctx: Context) -> str:
    if value == "now":
        dt = datetime.now(UTC)
    else:
        try:
            dt = parse_datetime(value, ctx.timezone)
        except (ValueError, OverflowError) as e:
            raise Invalid(str(e) if isinstance(e, Invalid) else "is not a date and time") \
                from None
    return format_datetime(dt)


def format_datetime(dt: datetime) -> str:
    """The stored form of a moment: ISO 8601 in UTC, to the second, with a Z."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)  # naive values come from the database, kept in UTC
    return dt.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _select(field: Field, value: Any, ctx: Context) -> str:
    text = str(value).strip() if not isinstance(value, bool) else str(value).lower()
    if text in field.option_values:
        return text
    for option in field.options:  # a label in any locale selects its option too
        if text.casefold() in (t.casefold() for t in option.label.texts.values()):
            return option.value
    raise Invalid(f"'{text}' is not one of {', '.join(field.option_values)}")


def _multiselect(field: Field, value: Any, ctx: Context) -> list[str]:
    items = value if isinstance(value, list) else _split(value)
    return list(dict.fromkeys(_select(field, v, ctx) for v in items))


def _phone(field: Field, value: Any, ctx: Context) -> str:
    number = normalize_phone(value, ctx.region, strict=ctx.strict_phones)
    if number is None:
        raise Invalid(f"'{value}' is not a phone number")
    return number


def _email(field: Field, value: Any, ctx: Context) -> str:
    text = _text(field, value, ctx).strip().lower()
    if not EMAIL.match(text):
        raise Invalid(f"'{text}' is not an e-mail address")
    return text


def _url(field: Field, value: Any, ctx: Context) -> str:
    text = _text(field, value, ctx).strip()
    if not URL.match(text):
        raise Invalid("must be an http:// or https:// address")
    return text


def _link(field: Field, value: Any, ctx: Context) -> Any:
    if field.entity == "*":
        if isinstance(value, Mapping) and isinstance(value.get("entity"), str):
            return {"entity": value["entity"], "id": _id(value.get("id"))}
        raise Invalid('must be {"entity": name, "id": number}')
    if isinstance(value, Mapping):
        value = value.get("id")
    return _id(value)


def _id(value: Any) -> int:
    if isinstance(value, bool):
        raise Invalid("must be a record id")
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise Invalid("must be a record id") from None
    if number <= 0 or number > 2**62:
        raise Invalid("must be a record id")
    return number


def _user(field: Field, value: Any, ctx: Context) -> int:
    if isinstance(value, Mapping):
        value = value.get("id")
    user = ctx.resolve_user(value) if ctx.resolve_user else None
    if user is None:
        raise Invalid(f"no user '{value}' in this tenant")
    return user


def _rating(field: Field, value: Any, ctx: Context) -> int:
    return _integer(field, value, ctx)


def _file(field: Field, value: Any, ctx: Context) -> Any:
    if isinstance(value, Mapping) and "id" in value:
        return dict(value)
    return _text(field, value, ctx)


def _table(field: Field, value: Any, ctx: Context) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(r, Mapping) for r in value):
        raise Invalid("must be a list of rows")
    rows, problems = [], []
    children = {c.name: c for c in field.fields}
    for i, row in enumerate(value):
        out: dict[str, Any] = {}
        failed = set()
        for key, cell in row.items():
            child = children.get(key)
            if child is None:
                problems.append(f"row {i + 1}: unknown column '{key}'")
                continue
            try:
                out[key] = coerce(child, cell, ctx)
            except Invalid as e:
                problems.append(f"row {i + 1}, {key}: {e}")
                failed.add(key)
        for child in field.fields:
            if child.name in failed:
                continue
            if out.get(child.name) in (None, "", []) and child.default is not None:
                try:
                    out[child.name] = coerce(child, child.default, ctx)
                except Invalid as e:
                    problems.append(f"row {i + 1}, {child.name}: default: {e}")
            if child.required and out.get(child.name) in (None, "", []):
                problems.append(f"row {i + 1}, {child.name}: required")
        rows.append(out)
    if problems:
        raise Invalid("; ".join(problems))
    return rows


_COERCE: dict[str, Callable[[Field, Any, Context], Any]] = {
    "text": _text, "longtext": _text, "integer": _integer, "decimal": _decimal,
    "boolean": _boolean, "date": _date, "datetime": _datetime, "select": _select,
    "multiselect": _multiselect, "phone": _phone, "email": _email, "url": _url,
    "link": _link, "user": _user, "rating": _rating, "file": _file, "table": _table,
}


_PURE = {"text", "longtext", "integer", "decimal", "boolean", "select", "email", "url",
         "rating"}  # field types whose coercion reads nothing from the context


class DefaultCoercer:
    """`coerce(field, default, ctx)` for field defaults, remembered per field for the
    types whose coercion depends on nothing but the field and the value, when the result
    is immutable (a default is coerced for every record created)."""

    def __init__(self) -> None:
        self._seen: dict[int, tuple[Field, Any, Any]] = {}

    def __call__(self, field: Field, default: Any, ctx: Context) -> Any:
        if field.type not in _PURE:
            return coerce(field, default, ctx)
        seen = self._seen.get(id(field))
        if seen is not None and seen[0] is field and seen[1] == default:
            return seen[2]
        value = coerce(field, default, ctx)  # Invalid is raised every time, not kept
        if isinstance(value, str | int | float | bool):
            self._seen[id(field)] = (field, default, value)
        return value


def key_values(field: Field, value: Any) -> list[str]:
    """The normalised strings a key field is looked up by (several for multi-values)."""
    if value is None:
        return []
    values = value if isinstance(value, list) else [value]
    return [str(v).lower() if field.type in ("email", "text") else str(v)
            for v in values if v not in (None, "")]
