"""`callboard ivr simulate`: walk a tenant's IVR for one imagined call, as text lines.

The caller is looked up (read only) among the tenant's customers and contacts when a
database tenant is simulated; a bundle folder has no records, so every caller is unknown
there. Blocked numbers answer `reject` before the IVR runs, as on a real call.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from callboard.engine.access import system_actor
from callboard.engine.errors import NotFound
from callboard.engine.model import TenantModel
from callboard.engine.records import RecordService

from . import blacklist
from .ivr import IvrContext, IvrStep, resume, start, tree_for

MAX_EVENTS = 50


@dataclass
class Simulation:
    """What a simulated call did: its lines and its final action."""

    lines: list[str]
    final: dict[str, Any] | None


def find_caller(svc: RecordService, number: str) -> dict[str, Any] | None:
    """The customer a number belongs to: a customer's own phone, else a contact's customer
    (read only; the platform's view of the tenant)."""
    actor = system_actor(svc.tenant.id)
    found = svc.find_by_key(actor, number, ["customer", "contact"])
    for rec in found:
        if rec["entity"] == "customer":
            return rec
    for rec in found:
        link = rec.get("customer")
        cid = link.get("id") if isinstance(link, Mapping) else link
        if cid:
            try:
                return svc.get(actor, "customer", cid)
            except NotFound:  # a link to a deleted customer: the caller stays unknown
                continue
    return None


def describe(action: Mapping[str, Any] | None) -> str:
    """A final action in words: `queue billing priority=1 max_wait=180s`."""
    if action is None:
        return "none (still waiting at a menu)"
    kind = action["type"]
    if kind == "queue":
        wait = f" max_wait={action['max_wait']:g}s" if action.get("max_wait") else ""
        return f"queue {action['queue']} priority={action['priority']}{wait}"
    if kind == "transfer":
        for key in ("department", "extension", "number"):
            if action.get(key):
                return f"transfer {key}={action[key]}"
    if kind == "voicemail":
        return f"voicemail mailbox={action['mailbox']}"
    if kind == "reject":
        return f"reject mode={action.get('mode')} ({action.get('reason')})"
    reason = f" ({action['reason']})" if action.get("reason") else ""
    return f"{kind}{reason}"


def _lines(step: IvrStep) -> Iterator[str]:
    for t in step.trace:
        exit_ = f"-> {t['exit']}" if t["exit"] else ""
        yield f"{t['node']:<24} {t['type']:<15} {exit_:<16} {t['note']}".rstrip()


def simulate(model: TenantModel, *, number: str, to: str | None, now: datetime,
             digits: Sequence[str] = (), svc: RecordService | None = None,
             call_id: str = "simulated") -> Simulation:
    """Run one call: `digits` answer the menus in turn; once they run out, menus time out
    (which shows where a silent caller ends)."""
    customer = find_caller(svc, number) if svc is not None else None
    lines = [f"caller {number}: " + (
        f"customer #{customer['id']} {customer.get('name') or ''} "
        f"(priority {customer.get('priority') or 1})".rstrip()
        if customer else "unknown caller")]
    block = blacklist.check(svc, number, "inbound") if svc is not None else None
    if block is None and svc is None and blacklist.is_anonymous(number) \
            and model.settings.block_anonymous:
        block = blacklist.Block("reject", "inbound", None, "anonymous caller ID",
                                anonymous=True)
    if block is not None:
        final = block.final()
        lines += [f"{'(blacklist)':<24} {'blocked':<15} {block.mode}",
                  f"final: {describe(final)}"]
        return Simulation(lines, final)
    tree = tree_for(model, to)
    if tree is None:
        return Simulation([*lines, "final: hangup (the tenant has no IVR tree)"],
                          {"type": "hangup", "reason": "no IVR"})
    lines.append(f"tree {tree.name} (called {to or 'no number: default tree'})")
    ctx = IvrContext(model, customer, {"call_id": call_id, "from": number, "to": to,
                                       "direction": "inbound"}, now)
    step = start(tree, ctx)
    lines += _lines(step)
    pending = list(digits)
    for _ in range(MAX_EVENTS):
        if step.final is not None:
            break
        event = {"type": "digits", "digits": pending.pop(0)} if pending \
            else {"type": "timeout"}
        step = resume(tree, step.state, event, ctx)
        lines += _lines(step)
    lines.append(f"final: {describe(step.final)}")
    return Simulation(lines, step.final)
