"""Export the records an actor may see, filtered, as .xlsx (openpyxl write-only) or .csv.

Rows are read by id in chunks and written as they come, so memory stays flat whatever the
count. Headers are the fields' labels in the chosen locale; every text that a spreadsheet
could take for a formula is neutralised (`cells.safe_text`).
"""
from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from sqlalchemy import select

from callboard.engine.access import Actor
from callboard.engine.bulk import count_records, iter_records
from callboard.engine.model import Field, Label
from callboard.engine.queries import Query
from callboard.engine.records import RecordService
from callboard.engine.tables import members

from .cells import Display, safe_text
from .columns import OWNER, RECORD_ID, importable_fields
from .sheets import FileProblem

_STAMP = Field("stamp", "datetime", Label.of("stamp"))
STAMPS = {"created_at": {"en": "Created", "vi": "Ngày tạo", "zh": "创建时间"},
          "updated_at": {"en": "Updated", "vi": "Ngày cập nhật", "zh": "更新时间"}}


def export_records(svc: RecordService, actor: Actor, entity: str, path: Path, *,
                   query: Query | None = None, locale: str | None = None,
                   progress: Callable[[float], None] = lambda f: None) -> dict[str, Any]:
    """Write the records to `path` (.xlsx, or .csv by its suffix); {"rows": n, ...}."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        raise FileProblem(f"'{path.name}': export to .xlsx or .csv")
    query = query or Query()
    ent = svc._entity_for(actor, entity)
    settings = svc.model.settings
    locale = locale if locale in settings.locales else settings.locale
    fields = [f for n, f in importable_fields(svc.model, ent).items() if n != "owner"]
    columns = [RECORD_ID, *fields, OWNER]
    with svc.engine.connect() as conn:
        users = {r.user_id: r.email for r in conn.execute(
            select(members.c.user_id, members.c.email).where(
                members.c.tenant_id == svc.tenant.id))}
    display = Display(locale, settings.phone_region, users, typed_dates=suffix == ".xlsx")
    header = [f.label.text(locale) for f in columns] + [
        STAMPS[s].get(locale, STAMPS[s]["en"]) for s in STAMPS]
    total = max(count_records(svc, actor, entity, query), 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = 0

    def lines() -> Any:
        nonlocal rows
        for record in iter_records(svc, actor, entity, query):
            rows += 1
            if rows % 2000 == 0:
                progress(rows / total)
            yield [record["id"], *[display.value(f, record.get(f.name)) for f in fields],
                   users.get(record["owner"]) if record["owner"] else None,
                   display.value(_STAMP, record["created_at"]),
                   display.value(_STAMP, record["updated_at"])]

    if suffix == ".csv":
        with path.open("w", encoding="utf-8-sig", newline="") as f:
            out = csv.writer(f)
            out.writerow([safe_text(h) for h in header])
            out.writerows(lines())
    else:
        wb = Workbook(write_only=True)
        ws = wb.create_sheet(ent.plural.text(locale)[:31] or entity)
        ws.append([safe_text(h) for h in header])
        for line in lines():
            ws.append(line)
        wb.save(path)
    return {"rows": rows, "file": path.name, "files": [path.name], "entity": entity}
