"""The screen-pop payload (CONTRACT §5): who is calling, as the agent may see it.

The caller's record is found by its normalised phone among customers (then contacts, whose
customer is shown), through the record service with the agent as actor, so the one
visibility rule applies: a record the agent may not see is not popped (`known: false`).
Fields come from the entity's `screen_pop.fields` (its list columns when it has none),
related lists from `screen_pop.related`, each as many as its `limit`, newest first.
"""
from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Connection, bindparam, or_, select, union_all

from callboard.engine.access import Actor, scope
from callboard.engine.model import Entity, Field
from callboard.engine.phones import normalize_phone
from callboard.engine.queries import iso
from callboard.engine.records import RecordService
from callboard.engine.tables import record_keys, record_links, records

_COLUMNS = (records.c.id, records.c.entity, records.c.title, records.c.status,
            records.c.created_at, records.c.updated_at, records.c.data)


@functools.lru_cache(maxsize=1024)
def _visible(actor: Actor, entity: str) -> Any:
    """`access.scope(actor, entity)`, built once per actor and entity: the expression is
    immutable, and building it (and, on PostgreSQL, planning the general form that serves
    every entity) is a good part of a pop's cost."""
    return scope(actor, entity)


@functools.lru_cache(maxsize=512)
def _caller_query(actor: Actor) -> Any:
    """Customers and contacts with a key equal to :number that `actor` may see."""
    return select(*_COLUMNS, record_keys.c.field).join(
        record_keys, record_keys.c.record_id == records.c.id).where(
        or_(_visible(actor, "customer"), _visible(actor, "contact")),
        record_keys.c.tenant_id == actor.tenant_id,
        record_keys.c.value == bindparam("number")).order_by(records.c.id)


@functools.lru_cache(maxsize=512)
def _related_query(actor: Actor, entity: str, limits: tuple[tuple[str, int], ...]) -> Any:
    """The newest records of each (entity, limit) linked to record :record_id, that
    `actor` may see: a branch per entity, each on the link index."""
    branches = []
    for name, limit in limits:
        linked = select(record_links.c.from_id).where(
            record_links.c.tenant_id == actor.tenant_id, record_links.c.to_entity == entity,
            record_links.c.to_id == bindparam("record_id"),
            record_links.c.from_entity == name)
        branches.append(select(*_COLUMNS).where(
            _visible(actor, name), records.c.id.in_(linked))
            .order_by(records.c.created_at.desc(), records.c.id.desc())
            .limit(max(1, limit)).subquery().select())
    return union_all(*branches)


def _record(row: Any) -> dict[str, Any]:
    return {**(row.data or {}), "id": row.id, "entity": row.entity, "title": row.title}


def find_caller(svc: RecordService, conn: Connection, actor: Actor,
                number: str) -> dict[str, Any] | None:
    """The record a call from `number` is about, among those `actor` may see: a customer
    with that number in any phone field, else the customer of a contact with it (else
    that contact)."""
    rows = conn.execute(_caller_query(actor), {"number": number}).all()
    for entity in ("customer", "contact"):
        ent = svc.model.entities.get(entity)
        if ent is None:
            continue
        for row in rows:
            field = ent.field(row.field) if row.entity == entity else None
            if field is None or field.type != "phone":
                continue
            rec = _record(row)
            if entity == "contact" and rec.get("customer"):
                owner = _customer(conn, actor, rec["customer"])
                if owner is not None:
                    return owner
            return rec
    return None


def _customer(conn: Connection, actor: Actor, record_id: Any) -> dict[str, Any] | None:
    try:
        rid = int(record_id)
    except (TypeError, ValueError):
        return None
    row = conn.execute(select(*_COLUMNS).where(_visible(actor, "customer"),
                                               records.c.id == rid)).first()
    return _record(row) if row is not None else None


def build(svc: RecordService, actor: Actor, number: Any, *, locale: str = "en",
          record_id: int | None = None, blocked: bool = False,
          call: dict[str, Any] | None = None,
          conn: Connection | None = None) -> dict[str, Any]:
    """The payload for a call from `number` (or about customer `record_id`), for `actor`
    (on `conn` when given: one connection for the whole pop)."""
    region = svc.model.settings.phone_region
    e164 = normalize_phone(str(number or ""), region, strict=False) if number else None
    out: dict[str, Any] = {"number": e164, "known": False, "record": None,
                           "fields": [], "related": {}, "vip": False, "blocked": blocked}
    if call:
        out["call"] = call
    if actor.tenant_id != svc.tenant.id:
        return out
    if conn is None:
        with svc.engine.connect() as own:
            return build(svc, actor, number, locale=locale, record_id=record_id,
                         blocked=blocked, call=call, conn=own)
    record = _customer(conn, actor, record_id) if record_id is not None else None
    if record is None and e164:
        record = find_caller(svc, conn, actor, e164)
    if record is None:
        return out
    ent = svc.entity(record["entity"])
    out["known"] = True
    out["record"] = {"entity": ent.name, "id": record["id"], "title": record["title"]}
    out["fields"] = [_field(f, record, locale) for f in _pop_fields(ent)]
    priority = record.get("priority")
    out["vip"] = isinstance(priority, int) and \
        priority >= svc.model.settings.vip_min_priority
    if ent.screen_pop is not None:
        limits = {r.entity: r.limit for r in ent.screen_pop.related
                  if r.entity in svc.model.entities}
        out["related"] = _related(svc, conn, actor, ent.name, record["id"], limits)
    return out


def _pop_fields(ent: Entity) -> list[Field]:
    names = ent.screen_pop.fields if ent.screen_pop else ent.list.columns
    return [f for n in names if (f := ent.field(n)) is not None and not f.hidden]


def _field(f: Field, record: dict[str, Any], locale: str) -> dict[str, Any]:
    value = record.get(f.name)
    item: dict[str, Any] = {"name": f.name, "label": f.label.text(locale), "value": value}
    if f.options and value is not None:
        labels = {o.value: o.label.text(locale) for o in f.options}
        item["display"] = ", ".join(labels.get(v, str(v)) for v in value) \
            if isinstance(value, list) else labels.get(value, str(value))
    return item


def _related(svc: RecordService, conn: Connection, actor: Actor, entity: str,
             record_id: int, limits: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
    """The newest records of each related entity linked to the record, as many as its
    limit, that `actor` may see: one query (a branch per entity), whatever the size of
    the tenant (the link index gives the ids; the record service's `scope` decides
    visibility)."""
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in limits}
    if not limits:
        return out
    query = _related_query(actor, entity, tuple(limits.items()))
    rows = sorted(conn.execute(query, {"record_id": record_id}), reverse=True,
                  key=lambda r: (r.created_at, r.id))  # newest first, whatever the branch
    for row in rows:
        ent = svc.model.entities[row.entity]
        columns = [c for c in ent.list.columns if c in ent.field_map]
        data = row.data or {}
        out[row.entity].append({
            "id": row.id, "entity": row.entity, "title": row.title, "status": row.status,
            "created_at": iso(row.created_at), "updated_at": iso(row.updated_at),
            **{c: data.get(c) for c in columns}})
    return out
