"""Bulk delete from a file of phones, e-mails or other lookup values (a Facebook id kept in
a `lookup` text field, an account number…): every non-empty cell names records to remove.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from callboard.engine.access import Actor
from callboard.engine.bulk import match_keys, soft_delete
from callboard.engine.deferral import deferring, no_progress
from callboard.engine.errors import Forbidden
from callboard.engine.records import RecordService

from .columns import restore_phone
from .sheets import FileProblem, open_table

CHUNK = 2000
SAMPLE = 100


def _looks_like_header(cells: list[Any]) -> bool:
    return all(not any(ch.isdigit() or ch == "@" for ch in str(c))
               for c in cells if c not in (None, ""))


def delete_from_file(svc: RecordService, actor: Actor, entity: str, path: Path, *,
                     name: str | None = None,
                     progress: Callable[..., None] = no_progress) -> dict[str, Any]:
    """Soft-delete the records of `entity` matched by the file's values (owner only)."""
    if actor.role != "owner":
        raise Forbidden("only the tenant's owner may delete in bulk")
    svc._entity_for(actor, entity)
    table = open_table(Path(path), name)
    region = svc.model.settings.phone_region
    counts = {"deleted": 0, "not_found": 0, "values": 0}
    missing: list[str] = []
    pending: list[str] = []
    seen: set[str] = set()

    def flush() -> None:
        if not pending:
            return
        with svc.transaction() as tx:
            matches = match_keys(svc, tx, actor, entity, pending)
            ids = sorted({i for found in matches.values() for i in found})
            counts["deleted"] += len(soft_delete(svc, tx, actor, entity, ids,
                                                 comment="bulk delete"))
        for value, found in matches.items():
            if not found:
                counts["not_found"] += 1
                if len(missing) < SAMPLE:
                    missing.append(value)
        pending.clear()
        step(counts["values"] / max(table.total + 1, counts["values"], 1))

    # listeners' follow-up (search) once, at the end, with its share of the progress
    with deferring(progress) as step:
        if not _looks_like_header(table.header):
            _take(table.header, region, seen, pending, counts)
        for _, cells in table.rows:
            _take(cells, region, seen, pending, counts)
            if len(pending) >= CHUNK:
                flush()
        flush()
    if counts["values"] == 0:
        raise FileProblem("the file holds no phone, e-mail or id to delete")
    return {**counts, "not_found_values": missing, "entity": entity}


def _take(cells: list[Any], region: str, seen: set[str], pending: list[str],
          counts: dict[str, int]) -> None:
    for c in cells:
        if c in (None, ""):
            continue
        if isinstance(c, float) and c.is_integer():
            c = int(c)
        value = restore_phone(c, region) if isinstance(c, int) and not isinstance(c, bool) \
            else str(c).strip()
        if value and value not in seen:
            seen.add(value)
            pending.append(value)
            counts["values"] += 1
