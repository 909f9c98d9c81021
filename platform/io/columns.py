"""Which column holds which field, and spreadsheet cells as the values the API takes.

A header matches a field by its name or by its label in any locale (case, spaces and a
trailing `*` ignored; `Label (name)` works too), so a Vietnamese template and an English
one import alike. Cells are only reshaped here (numbers that are whole become integers,
phones that lost their leading 0 get it back); the record service validates them.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

import phonenumbers

from callboard.engine.model import Entity, Field, Label, TenantModel
from callboard.engine.phones import is_valid

from .sheets import FileProblem

OWNER = Field("owner", "user", Label.of({"en": "Owner", "vi": "Người phụ trách",
                                         "zh": "负责人"}), system=True)
RECORD_ID = Field("id", "integer", Label.of({"en": "ID", "vi": "Mã", "zh": "编号"}),
                  system=True)
IGNORED = {"error", "row", "lỗi", "dòng", "错误", "行"}  # columns of a rejected-rows file
SKIPPED_TYPES = ("table",)


def importable_fields(model: TenantModel, ent: Entity) -> dict[str, Field]:
    """Fields a file may fill: the entity's (a ticket's: of every type) and its owner."""
    fields: dict[str, Field] = {}
    groups = [ent.fields]
    if ent.name == "ticket":
        groups += [tt.fields for tt in model.ticket_types.values()]
    for group in groups:
        for f in group:
            if f.type not in SKIPPED_TYPES and not f.hidden:
                fields.setdefault(f.name, f)
    fields.setdefault("owner", OWNER)
    return fields


def _norm(text: Any) -> str:
    return " ".join(str(text).replace("\n", " ").split()).rstrip("*").strip().casefold()


class Columns:
    """The field of each column of a header row."""

    def __init__(self, fields: Mapping[str, Field], header: list[Any], region: str,
                 *, id_column: bool = True):
        self.fields, self.region = dict(fields), region
        names: dict[str, str] = {}
        for f in self.fields.values():
            for text in f.label.texts.values():
                names.setdefault(_norm(text), f.name)
        for f in self.fields.values():
            names[_norm(f.name)] = f.name  # a name wins over another field's label
        if id_column:
            names.setdefault("id", "id")
            for text in RECORD_ID.label.texts.values():
                names.setdefault(_norm(text), "id")
        self.labels: dict[str, dict[str, str]] = {}
        for f in self.fields.values():
            if f.type == "select" and f.options:
                table: dict[str, str] = {}
                for o in f.options:
                    for text in o.label.texts.values():
                        table.setdefault(text.casefold(), o.value)
                self.labels[f.name] = table
        self.by_index: dict[int, str] = {}
        self.unknown: list[str] = []
        seen: dict[str, int] = {}
        for i, cell in enumerate(header):
            if cell in (None, ""):
                continue
            key = _norm(cell)
            name = names.get(key)
            if name is None:
                inner = re.search(r"[(\[]([a-z][a-z0-9_]*)[)\]]\s*\*?$", str(cell).strip())
                name = names.get(inner.group(1)) if inner else None
            if name is None:
                if key not in IGNORED:
                    self.unknown.append(str(cell))
                continue
            if name in seen:
                raise FileProblem(f"columns {_letter(seen[name])} and {_letter(i)} are both "
                                  f"'{name}'; keep one")
            seen[name] = i
            self.by_index[i] = name
        if not self.by_index:
            raise FileProblem("no column matches a field: the first row must hold field "
                              f"names or labels (such as {', '.join(list(self.fields)[:4])})")
        self.header = header

    def is_name_row(self, cells: list[Any]) -> bool:
        """The template's second row: each mapped column holds its field's name."""
        named = [(i, n) for i, n in self.by_index.items() if i < len(cells)
                 and cells[i] not in (None, "")]
        return bool(named) and all(str(cells[i]).strip() == n for i, n in named)

    def values(self, cells: list[Any]) -> dict[str, Any] | None:
        """{field: value} of a row (empty cells left out); None for an empty row."""
        out: dict[str, Any] = {}
        for i, name in self.by_index.items():
            if i >= len(cells):
                continue
            value = self.cell(name, cells[i])
            if value is not None:
                out[name] = value
        return out or None

    def cell(self, name: str, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, str):
            value = value.strip()
            if value and name in self.labels:  # an option's label: its value, as coerce
                return self.labels[name].get(value.casefold(), value)  # would find it
            return value or None
        f = self.fields.get(name)
        ftype = f.type if f else "integer"
        if isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
            value = int(value)
        if isinstance(value, int) and ftype == "phone":
            return self._phone(value)
        if isinstance(value, datetime):
            return value if ftype in ("date", "datetime") else value.isoformat(sep=" ")
        if isinstance(value, date):
            return value if ftype in ("date", "datetime") else value.isoformat()
        if isinstance(value, time | timedelta):
            return str(value)
        if ftype in ("text", "longtext", "user", "email", "url", "select", "multiselect"):
            return str(value)
        return value

    def _phone(self, number: int) -> str:
        return restore_phone(number, self.region)


def restore_phone(number: int, region: str) -> str:
    """A phone a spreadsheet kept as a number: its trunk 0 back where the region's
    numbering plan says the number is only valid with it."""
    digits = str(number)
    try:
        if not is_valid(digits, region):
            zero = "0" + digits
            if is_valid(zero, region):
                return zero
    except phonenumbers.NumberParseException:
        pass
    return digits


def _letter(index: int) -> str:
    out = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out
