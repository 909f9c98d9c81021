"""The blacklist decision: may a call from or to this number go ahead?

`check(svc, number, direction)` reads the tenant's `blocked_number` records (the number is
a phone field, so its E.164 form sits in the key table) through the record service's
scope, as the platform itself (the system actor). It answers None (allow) or a `Block`:
`reject` (refuse the call) or `announce` (play a message, then refuse). A rule's
direction is `inbound`, `outbound` or `both`. With tenant.yaml `block_anonymous: true`,
an inbound call without a caller ID is rejected too. An outbound call to a blocked number
(click-to-call) is refused whatever the rule's mode.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from callboard.engine.access import scope, system_actor
from callboard.engine.phones import normalize_phone
from callboard.engine.records import RecordService
from callboard.engine.tables import record_keys, records

__all__ = ["DIRECTIONS", "Block", "check", "is_anonymous"]

DIRECTIONS = ("inbound", "outbound")
ENTITY = "blocked_number"
_ANONYMOUS = re.compile(r"(anonymous|unknown|private|restricted|unavailable|withheld)",
                        re.IGNORECASE)
BLOCKED_PROMPTS = {
    "vi": "Số điện thoại của quý khách không thể kết nối tới tổng đài. Xin cảm ơn.",
    "en": "Calls from your number cannot be connected. Goodbye.",
    "zh": "您的号码无法接通本热线。谢谢。",
}


@dataclass(frozen=True)
class Block:
    """Why a call is refused: the rule's mode and direction, the number, the record."""

    mode: str                      # reject | announce
    direction: str                 # the rule's direction: inbound | outbound | both
    number: str | None             # E.164 (None for an anonymous caller)
    reason: str | None = None
    record_id: int | None = None
    anonymous: bool = False
    prompt: str | None = None      # the announcement (mode announce)

    def final(self) -> dict[str, Any]:
        """The final action of a refused call (CONTRACT §5: `reject`)."""
        out: dict[str, Any] = {"type": "reject", "mode": self.mode,
                               "reason": self.reason or ("anonymous caller ID"
                                                         if self.anonymous else "blocked")}
        if self.record_id is not None:
            out["blocked_number"] = self.record_id
        return out

    def actions(self) -> list[dict[str, Any]]:
        """The actions to send: the announcement (mode announce), then `reject`."""
        played = [{"type": "play", "prompt": self.prompt}] if self.mode == "announce" \
            and self.prompt else []
        return [*played, self.final()]


def is_anonymous(number: str | None) -> bool:
    """No caller ID: empty, a provider's 'anonymous'/'private'… or no digit at all."""
    text = (number or "").strip()
    return not text or bool(_ANONYMOUS.search(text)) or not re.search(r"[0-9]", text)


def check(svc: RecordService, number: str | None, direction: str, *,
          conn: Connection | None = None) -> Block | None:
    """None when a call in `direction` (inbound, outbound) with `number` may go ahead.

    `conn` runs the query on the caller's connection (inside its transaction).
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction: '{direction}' is not one of {', '.join(DIRECTIONS)}")
    settings = svc.model.settings
    prompt = settings.telephony.get("blocked_prompt") or BLOCKED_PROMPTS.get(
        settings.locale, BLOCKED_PROMPTS["en"])
    if is_anonymous(number):
        if direction == "inbound" and settings.block_anonymous:
            return Block("reject", "inbound", None, "anonymous caller ID", anonymous=True)
        return None
    e164 = normalize_phone(number, settings.phone_region, strict=False)
    if not e164:
        return None
    actor = system_actor(svc.tenant.id)
    q = (select(records.c.id, records.c.data)
         .join(record_keys, record_keys.c.record_id == records.c.id)
         .where(scope(actor, ENTITY), record_keys.c.tenant_id == svc.tenant.id,
                record_keys.c.entity == ENTITY, record_keys.c.field == "number",
                record_keys.c.value == e164)
         .order_by(records.c.id))
    if conn is not None:
        rows = conn.execute(q).all()
    else:
        with svc.engine.connect() as c:
            rows = c.execute(q).all()
    for row in rows:
        data = row.data or {}
        rule = data.get("direction") or "inbound"
        if rule not in (direction, "both"):
            continue
        mode = data.get("mode") or "reject"
        if direction == "outbound":
            mode = "reject"
        return Block(mode, rule, e164, data.get("reason"), row.id,
                     prompt=prompt if mode == "announce" else None)
    return None
