"""Neutral call events (CONTRACT §5) as the pipeline takes them: checked, with what each
kind needs, and the one-row insert that makes a repeated `event_id` harmless."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from callboard.engine.errors import ValidationFailed

EVENTS = ("call.incoming", "call.digits", "call.timeout", "call.ringing", "call.answered",
          "call.ended")


def parse_event(raw: Any) -> dict[str, Any]:
    """A checked neutral event (`event` or `type` names its kind); 422 saying what is wrong."""
    if not isinstance(raw, Mapping):
        raise ValidationFailed({"_": ["expected a JSON object (a call event)"]})
    kind = raw.get("event", raw.get("type"))
    errors: dict[str, list[str]] = {}
    if kind not in EVENTS:
        errors["event"] = [f"must be one of {', '.join(EVENTS)}"]
    out: dict[str, Any] = {"event": kind}
    for key, need in (("call_id", True), ("event_id", False), ("from", False), ("to", False),
                      ("agent", False), ("digits", False), ("cause", False),
                      ("recording_url", False)):
        value = raw.get(key)
        if value is None or value == "":
            if need:
                errors[key] = ["required"]
            continue
        if isinstance(value, bool) or not isinstance(value, str | int):
            errors[key] = ["must be a string"]
            continue
        value = str(value).strip()
        if len(value) > (2000 if key == "recording_url" else 128):
            errors[key] = ["is too long"]
            continue
        out[key] = value
    if kind == "call.digits" and "digits" not in out and "digits" not in errors:
        errors["digits"] = ["required"]
    if kind in ("call.ringing",) and "agent" not in out and "agent" not in errors:
        errors["agent"] = ["required: the agent's extension"]
    at = raw.get("at")
    if at is not None:
        if kind != "call.incoming":
            errors["at"] = ["only call.incoming may say when it happens"]
        elif not isinstance(at, str) or _iso(at) is None:
            errors["at"] = ["must be an ISO date and time like 2026-12-01T09:00"]
        else:
            out["at"] = at.strip()
    duration = raw.get("duration")
    if duration is not None:
        if isinstance(duration, bool) or not isinstance(duration, int | float) \
                or not 0 <= duration < 10**7:
            errors["duration"] = ["must be a number of seconds >= 0"]
        else:
            out["duration"] = int(duration)
    if errors:
        raise ValidationFailed(errors)
    return out


def _iso(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        return None


def insert_ignore(tx: Connection, table: Any, values: Mapping[str, Any]) -> bool:
    """Insert unless a unique key already holds the row; True when inserted."""
    dialect = postgresql if tx.dialect.name == "postgresql" else sqlite
    done = tx.execute(dialect.insert(table).values(**values).on_conflict_do_nothing()
                      .returning(table.c.id))
    return done.first() is not None
