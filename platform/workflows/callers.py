"""Who is calling: caller identification by normalised phone, and first-time callers.

A number is looked up in every phone field of customers (the system `phone`, `phone2`,
any phone field a bundle adds), then of contacts, whose customer is the caller. Reads go
through the record service as the platform (the system actor); an unknown caller becomes a
customer with source `call`.
"""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Connection

from callboard.engine.access import system_actor
from callboard.engine.errors import NotFound, ValidationFailed
from callboard.engine.phones import normalize_phone
from callboard.engine.records import RecordService

from .blacklist import is_anonymous

log = logging.getLogger(__name__)


def identify(svc: RecordService, number: str | None) -> dict[str, Any] | None:
    """The customer whose (or whose contact's) phone field holds `number`, or None."""
    if not number or is_anonymous(number):
        return None
    e164 = normalize_phone(number, svc.model.settings.phone_region, strict=False)
    if not e164:
        return None
    system = system_actor(svc.tenant.id)
    found = svc.find_by_key(system, e164, entities=("customer", "contact"))
    for entity in ("customer", "contact"):
        ent = svc.model.entities.get(entity)
        if ent is None:
            continue
        phones = [f.name for f in ent.fields if f.type == "phone"]
        for rec in found:
            if rec["entity"] != entity or not any(rec.get(p) == e164 for p in phones):
                continue
            if entity == "customer":
                return rec
            if rec.get("customer"):
                try:
                    return svc.get(system, "customer", rec["customer"])
                except NotFound:
                    continue
    return None


def new_customer(svc: RecordService, tx: Connection, number: str) -> dict[str, Any] | None:
    """A first-time caller becomes a customer (source `call`), on the caller's
    transaction; a concurrent call from the same new number finds the one the other call
    made (None when the bundle's required fields make it impossible)."""
    values = {"name": number, "phone": number, "source": "call"}
    try:
        with tx.begin_nested():
            return svc.create(system_actor(svc.tenant.id), "customer", values, conn=tx)
    except ValidationFailed as e:
        found = identify(svc, number)
        if found is None:
            log.warning("caller %s could not become a customer: %s", number, e)
        return found
