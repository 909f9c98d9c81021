"""The call pipeline: neutral call events (CONTRACT §5) in, actions, offers and the call log out.

`CallCenter(svc).handle(event)` applies one event in one transaction (the IVR itself runs
between transactions, so a slow `http_lookup` holds up no other call):

- `call.incoming`: the blacklist (a blocked caller is answered `reject` and logged), caller
  identification by normalised phone over every phone field of customers and contacts
  (an unknown caller becomes a customer with source `call`), the `call` record, then the
  IVR (`workflows.ivr`) until it waits for digits or reaches a final action; `queue`
  puts the call in the queue (`workflows.callqueue`);
- `call.digits` / `call.timeout`: the IVR goes on from the state kept for the call;
- `call.ringing`: the agent (extension) is offered the call and gets a screen pop;
- `call.answered`: the agent turns busy; the call record gets the agent and answer time;
- `call.ended`: duration, cause and recording complete the call record; the agent goes
  to wrap-up; a caller who hung up while waiting is `abandoned`.

A repeated `event_id` is ignored. Events that arrive out of order never corrupt the log:
an answer after the end only names the agent, a second answer or an end after the end
changes nothing but missing details (a later recording URL), a ring after the end pops
nothing. Notifications for agents (`screen_pop`, `call_ended`) are handed to `notify`
after the transaction has committed; the web layer turns them into SSE events.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, insert, select, update

from callboard.engine.access import Actor, system_actor
from callboard.engine.errors import Forbidden, NotFound, ValidationFailed
from callboard.engine.phones import normalize_phone
from callboard.engine.records import RecordService
from callboard.engine.tables import call_events, call_sessions, members
from callboard.engine.values import format_datetime

from . import blacklist, callers, callqueue, ivr
from .callevents import EVENTS, insert_ignore, parse_event
from .callqueue import aware, gate, now_utc, serialised

log = logging.getLogger(__name__)
__all__ = ["EVENTS", "CallCenter", "Notify", "Originate", "Outcome", "parse_event"]

Notify = Callable[[int, str, dict[str, Any]], None]   # (user id, event kind, data)
Originate = Callable[[str, str], Mapping[str, Any]]   # (agent extension, number) -> call


@dataclass
class Outcome:
    """What handling an event produced: the reply for the provider, and what to tell agents
    once the transaction has committed."""

    reply: dict[str, Any]
    notes: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)


@dataclass(frozen=True)
class _IvrStart:
    """A recorded incoming call on its way into the IVR."""

    call_id: str
    record_id: int
    customer: dict[str, Any] | None
    number: str | None
    to: str | None
    offset: float | None = None     # the IVR's clock shift (a simulated call's `at`)


class CallCenter:
    """The call pipeline of one tenant (see the module docstring)."""

    def __init__(self, svc: RecordService, *, notify: Notify | None = None,
                 http: ivr.HttpFetcher | None = None,
                 clock: Callable[[], datetime] = now_utc):
        self.svc = svc
        self.tenant = svc.tenant
        self.model = svc.model
        self.system = system_actor(svc.tenant.id)
        self.notify = notify
        self.http = http
        self.clock = clock

    # -- entry points ------------------------------------------------------------------
    def handle(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Apply one neutral event; the reply for the provider (CONTRACT §5).

        The IVR runs outside the call's transaction (an `http_lookup` may take seconds and
        must not hold the database's write lock): `call.incoming` records the call first,
        runs the IVR, then stores where it got to; `call.digits`/`call.timeout` run the
        IVR on the state as read, and apply the step only if nobody moved the call
        meanwhile (else it is run again inside)."""
        event = parse_event(raw)
        if event["event"] == "call.incoming":
            started = self._run(event, self._incoming, dedup=False)
            if not isinstance(started, _IvrStart):
                return started
            step = self._start_ivr(started)
            return self._run(event, lambda tx, ev, now: self._ivr_started(
                tx, ev, now, started, step))
        if event["event"] in ("call.digits", "call.timeout"):
            ahead = self._ivr_ahead(event)
            return self._run(event, lambda tx, ev, now: self._ivr_event(
                tx, ev, now, ahead))
        return self._run(event, self._apply)

    def _run(self, event: dict[str, Any], step: Callable[..., Any], *,
             dedup: bool = True) -> Any:
        """One transaction: the event id (a repeat is answered `duplicate`), `step`, then
        offers to free agents; agents are told once it has committed."""
        with gate(self.svc.engine), self.svc.transaction() as tx, serialised(tx):
            now = self.clock()
            if dedup and "event_id" in event and not insert_ignore(tx, call_events, {
                    "tenant_id": self.tenant.id, "event_id": event["event_id"],
                    "call_id": event["call_id"], "kind": event["event"], "received_at": now}):
                return {"call_id": event["call_id"], "actions": [], "duplicate": True}
            out = step(tx, event, now)
            if isinstance(out, _IvrStart):
                return out
            offers = callqueue.dispatch(tx, self.tenant.id, self.model, now)
            out.notes.extend(self._offer_notes(tx, offers))
            if offers:
                out.reply["offers"] = [o.__dict__ for o in offers]
        self._tell(out.notes)
        return out.reply

    def tick(self, now: datetime | None = None) -> dict[str, Any]:
        """Time passing: wrap-ups end, unanswered offers go back, callers past `max_wait`
        leave the queue, and waiting calls are offered to free agents."""
        notes: list[tuple[int, str, dict[str, Any]]] = []
        with gate(self.svc.engine), self.svc.transaction() as tx, serialised(tx):
            now = now or self.clock()
            rung, timed_out = callqueue.expire(tx, self.tenant.id, self.model, now)
            notes.extend((c.offered_to, "call_ended", {  # the pop of a call it let ring out
                "call_id": c.call_id, "call": c.call_record_id, "result": "rang_out",
                "duration": 0}) for c in rung if c.offered_to)
            timeouts = [self._timed_out(tx, call, now) for call in timed_out]
            offers = callqueue.dispatch(tx, self.tenant.id, self.model, now)
            notes.extend(self._offer_notes(tx, offers))
        self._tell(notes)
        return {"offers": [o.__dict__ for o in offers], "timeouts": timeouts,
                "returned": [c.call_id for c in rung]}

    def set_status(self, actor: Actor, status: Any) -> dict[str, Any]:
        """An agent's own status (ready, paused, offline); going ready may bring a call."""
        notes: list[tuple[int, str, dict[str, Any]]] = []
        with gate(self.svc.engine), self.svc.transaction() as tx, serialised(tx):
            now = self.clock()
            callqueue.set_status(tx, self.tenant.id, actor.user_id or 0, status, now)
            offers = callqueue.dispatch(tx, self.tenant.id, self.model, now)
            notes.extend(self._offer_notes(tx, offers))
            me = callqueue.agent(tx, self.tenant.id, actor.user_id or 0)
        self._tell(notes)
        return _agent_json(me)

    def click_to_call(self, actor: Actor, number: Any, originate: Originate) -> dict[str, Any]:
        """Start an outbound call from the actor's extension; 403 (and a logged attempt)
        when the number is blocked for outbound calls."""
        if not isinstance(number, str | int) or isinstance(number, bool) or not str(number):
            raise ValidationFailed({"number": ["required: the number to call"]})
        e164 = normalize_phone(str(number), self.model.settings.phone_region, strict=False)
        if not e164:
            raise ValidationFailed({"number": [f"'{number}' is not a phone number"]})
        me = self._member(actor.user_id)
        if me is None or not me.extension:
            raise ValidationFailed({"agent": ["you have no extension to call from"]})
        customer = self.identify(e164)
        block = blacklist.check(self.svc, e164, "outbound")
        now = self.clock()
        base = {"direction": "outbound", "from": me.extension, "to": e164,
                "agent": actor.user_id, "started_at": format_datetime(now)}
        if customer:
            base["customer"] = customer["id"]
        if block is not None:
            with self.svc.transaction() as tx:
                self.svc.create(self.system, "call", {
                    **base, "call_id": f"blocked-{now.timestamp():.6f}-{actor.user_id}",
                    "result": "rejected", "ended_at": format_datetime(now), "duration": 0,
                    "cause": f"blocked for outbound calls: {block.reason or 'blacklist'}"},
                    conn=tx)
            raise Forbidden(f"{e164} is blocked for outbound calls"
                            + (f" ({block.reason})" if block.reason else ""))
        started = dict(originate(me.extension, e164))
        call_id = str(started.get("call_id") or "")
        if not call_id:
            raise ValidationFailed({"provider": ["the provider started no call"]})
        with gate(self.svc.engine), self.svc.transaction() as tx, serialised(tx):
            record = self.svc.create(self.system, "call", {**base, "call_id": call_id},
                                     conn=tx)
            tx.execute(insert(call_sessions).values(
                tenant_id=self.tenant.id, call_id=call_id, direction="outbound",
                from_number=me.extension, to_number=e164, state="dialing",
                agent_id=actor.user_id, call_record_id=record["id"],
                customer_id=customer["id"] if customer else None, created_at=now,
                updated_at=now))
            callqueue.make_busy(tx, self.tenant.id, actor.user_id or 0, now)
        return {**started, "call_id": call_id, "number": e164, "call": record["id"],
                "customer": customer["id"] if customer else None}

    # -- caller identification -------------------------------------------------------------
    def identify(self, number: str | None) -> dict[str, Any] | None:
        """The customer whose (or whose contact's) phone field holds `number`."""
        return callers.identify(self.svc, number)

    # -- the events --------------------------------------------------------------------
    def _apply(self, tx: Connection, event: dict[str, Any], now: datetime) -> Outcome:
        session = self._session(tx, event["call_id"])
        if session is None:
            raise NotFound(f"no call '{event['call_id']}' (send call.incoming first)")
        handler = {"call.ringing": self._ringing, "call.answered": self._answered,
                   "call.ended": self._ended}[event["event"]]
        return handler(tx, session, event, now)

    def _incoming(self, tx: Connection, event: dict[str, Any], now: datetime,
                  ) -> Outcome | _IvrStart:
        """Record a new call: blacklist, caller, call record. A blocked call ends here;
        any other goes on to the IVR (`_IvrStart`)."""
        call_id = event["call_id"]
        region = self.model.settings.phone_region
        raw_from = event.get("from")
        number = None if blacklist.is_anonymous(raw_from) else \
            normalize_phone(raw_from, region, strict=False)
        to = normalize_phone(event.get("to"), region, strict=False) if event.get("to") \
            else None
        offset = self._clock_offset(event.get("at"), now)
        if not insert_ignore(tx, call_sessions, {
                "tenant_id": self.tenant.id, "call_id": call_id, "direction": "inbound",
                "from_number": number, "to_number": to, "state": "new", "created_at": now,
                "updated_at": now, "clock_offset": offset}):
            session = self._session(tx, call_id)
            if session is not None and session.state == "new" and session.call_record_id:
                # recorded, but its IVR never got stored (a retry): go on from there
                return _IvrStart(call_id, session.call_record_id,
                                 self._customer(session.customer_id),
                                 session.from_number, session.to_number,
                                 session.clock_offset)
            return Outcome({"call_id": call_id, "actions": [], "duplicate": True})
        block = blacklist.check(self.svc, raw_from, "inbound", conn=tx)
        customer = None if block is not None else self.identify(number)
        if customer is None and number and block is None:
            customer = callers.new_customer(self.svc, tx, number)
        values: dict[str, Any] = {"call_id": call_id, "direction": "inbound",
                                  "started_at": format_datetime(now)}
        if number:
            values["from"] = number
        if to:
            values["to"] = to
        if customer:
            values["customer"] = customer["id"]
        if block is not None:
            values.update(result="rejected", ended_at=format_datetime(now), duration=0,
                          cause=f"blocked: {block.reason or 'blacklist'}"[:200])
        record = self.svc.create(self.system, "call", values, conn=tx)
        sess = {"call_record_id": record["id"],
                "customer_id": customer["id"] if customer else None, "updated_at": now}
        if block is not None:
            if "event_id" in event:
                insert_ignore(tx, call_events, {
                    "tenant_id": self.tenant.id, "event_id": event["event_id"],
                    "call_id": call_id, "kind": event["event"], "received_at": now})
            self._save(tx, call_id, state="rejected", result="rejected", ended_at=now, **sess)
            return Outcome({"call_id": call_id, "actions": block.actions(), "blocked": True})
        self._save(tx, call_id, **sess)
        return _IvrStart(call_id, record["id"], customer, number, to, offset)

    def _start_ivr(self, start: _IvrStart) -> ivr.IvrStep:
        """The IVR of the called number from its start (outside any transaction)."""
        tree = ivr.tree_for(self.model, start.to)
        if tree is None:  # no IVR at all: straight into the first queue
            first = next(iter(self.model.settings.queues), None)
            final = {"type": "queue", "queue": first,
                     "priority": int((start.customer or {}).get("priority") or 1)} \
                if first else {"type": "hangup", "reason": "no IVR and no queue"}
            return ivr.IvrStep([final], {"final": final}, final, [])
        return ivr.start(tree, self._ivr_context(start.customer, start.call_id, start.number,
                                                 start.to, self.clock(), start.offset))

    def _ivr_started(self, tx: Connection, event: dict[str, Any], now: datetime,
                     start: _IvrStart, step: ivr.IvrStep) -> Outcome:
        session = self._session(tx, start.call_id)
        if session is None or session.state != "new":
            what = {"ignored": "the call has ended"} if session is not None and \
                session.state == "ended" else {"duplicate": True}
            return Outcome({"call_id": start.call_id, "actions": [], **what})
        tree = ivr.tree_for(self.model, start.to)
        self._save(tx, start.call_id, ivr_tree=tree.name if tree else None)
        return self._after_ivr(tx, start.call_id, start.record_id, step, now)

    def _ivr_ahead(self, event: dict[str, Any]) -> tuple[Any, ivr.IvrStep] | None:
        """The IVR's next step for the call as it is now, run outside any transaction
        (None when the call is not in the IVR or the step fails: then it is run inside)."""
        with self.svc.engine.connect() as conn:
            session = conn.execute(select(call_sessions).where(
                call_sessions.c.tenant_id == self.tenant.id,
                call_sessions.c.call_id == event["call_id"])).first()
        if session is None or session.state != "ivr":
            return None
        try:
            return session.ivr_state, self._ivr_step(session, event, self.clock())
        except (ivr.IvrError, ValidationFailed):
            return None

    def _ivr_step(self, session: Any, event: dict[str, Any], now: datetime) -> ivr.IvrStep:
        tree = self.model.ivr_trees.get(session.ivr_tree or "")
        if tree is None:
            raise ValidationFailed({"call_id": ["the call's IVR tree no longer exists"]})
        customer = self._customer(session.customer_id)
        ctx = self._ivr_context(customer, session.call_id, session.from_number,
                                session.to_number, now, session.clock_offset)
        ev = {"type": "digits", "digits": event["digits"]} if event["event"] == "call.digits" \
            else {"type": "timeout"}
        try:
            return ivr.resume(tree, session.ivr_state or {}, ev, ctx)
        except ivr.IvrError as e:
            raise ValidationFailed({"digits" if "digits" in event else "_": [str(e)]}) from None

    def _ivr_event(self, tx: Connection, event: dict[str, Any], now: datetime,
                   ahead: tuple[Any, ivr.IvrStep] | None) -> Outcome:
        session = self._session(tx, event["call_id"])
        if session is None:
            raise NotFound(f"no call '{event['call_id']}' (send call.incoming first)")
        call_id = session.call_id
        if session.state != "ivr":
            return Outcome({"call_id": call_id, "actions": [],
                            "ignored": f"the call is {session.state}, not in the IVR"})
        if ahead is not None and ahead[0] == session.ivr_state:
            step = ahead[1]
        else:  # the call moved meanwhile: run the step on what it is now
            step = self._ivr_step(session, event, now)
        return self._after_ivr(tx, call_id, session.call_record_id, step, now)

    def _after_ivr(self, tx: Connection, call_id: str, record_id: int | None,
                   step: ivr.IvrStep, now: datetime) -> Outcome:
        reply = {"call_id": call_id, "actions": step.actions, "path": step.path}
        final = step.final
        if final is None:
            self._save(tx, call_id, state="ivr", ivr_state=step.state, updated_at=now)
            return Outcome(reply)
        if final.get("type") == "queue" and final.get("queue") in self.model.settings.queues:
            priority = int(final.get("priority") or 1)
            self._save(tx, call_id, state="queued", ivr_state=step.state,
                       queue=final["queue"], priority=priority, enqueued_at=now,
                       max_wait=final.get("max_wait"), updated_at=now)
            self._log(tx, record_id, {"queue": final["queue"], "result": "queued"})
            return Outcome(reply)
        self._save(tx, call_id, state="routed", ivr_state=step.state,
                   result=final.get("type"), updated_at=now)
        if final.get("type") == "voicemail":
            self._log(tx, record_id, {"result": "voicemail"})
        return Outcome(reply)

    def _ringing(self, tx: Connection, session: Any, event: dict[str, Any],
                 now: datetime) -> Outcome:
        call_id = session.call_id
        agent = self._agent_by_extension(event["agent"])
        reply: dict[str, Any] = {"call_id": call_id, "actions": []}
        if session.state in ("ended", "rejected", "answered") or session.ended_at:
            reply["ignored"] = f"the call is {session.state}"
            return Outcome(reply)
        if session.offered_to == agent.user_id and session.state == "offered":
            return Outcome(reply)  # our own offer, already popped
        if session.offered_to and session.offered_to != agent.user_id:
            self._free(tx, session.offered_to, now)
        callqueue.make_busy(tx, self.tenant.id, agent.user_id, now)
        self._save(tx, call_id, state="offered" if session.state != "dialing" else "dialing",
                   offered_to=agent.user_id, offered_at=now, updated_at=now)
        return Outcome(reply, [(agent.user_id, "screen_pop",
                                self._pop_note(session, agent.user_id))])

    def _answered(self, tx: Connection, session: Any, event: dict[str, Any],
                  now: datetime) -> Outcome:
        call_id = session.call_id
        reply: dict[str, Any] = {"call_id": call_id, "actions": []}
        if session.answered_at is not None:
            reply["ignored"] = "already answered"
            return Outcome(reply)
        if "agent" in event:
            user_id = self._agent_by_extension(event["agent"]).user_id
        else:
            user_id = session.agent_id or session.offered_to
        if session.state in ("ended", "rejected") or session.ended_at is not None:
            # The end arrived first: the call was answered, nothing else changes.
            ended = aware(session.ended_at) or now
            answered = ended - timedelta(seconds=session.duration or 0)
            self._save(tx, call_id, agent_id=user_id, answered_at=answered,
                       result="answered", updated_at=now)
            late = {"agent": user_id, "answered_at": format_datetime(answered),
                    "result": "answered"}
            if session.duration:
                late["duration"] = session.duration
            self._log(tx, session.call_record_id, late)
            reply["late"] = True
            return Outcome(reply)
        if session.offered_to and user_id and session.offered_to != user_id:
            self._free(tx, session.offered_to, now)
        if user_id:
            callqueue.make_busy(tx, self.tenant.id, user_id, now)
        self._save(tx, call_id, state="answered", agent_id=user_id, answered_at=now,
                   offered_to=user_id, updated_at=now)
        values: dict[str, Any] = {"answered_at": format_datetime(now), "result": "answered"}
        if user_id:
            values["agent"] = user_id
        if session.enqueued_at is not None:
            values["wait"] = max(0, int((now - aware(session.enqueued_at)).total_seconds()))
        self._log(tx, session.call_record_id, values)
        return Outcome(reply)

    def _ended(self, tx: Connection, session: Any, event: dict[str, Any],
               now: datetime) -> Outcome:
        call_id = session.call_id
        reply: dict[str, Any] = {"call_id": call_id, "actions": []}
        extra = {k: event[k] for k in ("recording_url", "cause") if k in event}
        if session.ended_at is not None:  # a second end: only details it lacked
            record = self._record(session.call_record_id)
            missing = {k: v for k, v in extra.items() if not (record or {}).get(k)}
            if "duration" in event and session.duration is None and session.answered_at:
                missing["duration"] = event["duration"]
                self._save(tx, call_id, duration=event["duration"], updated_at=now)
            if missing:
                self._log(tx, session.call_record_id, missing)
            reply["ignored"] = "already ended"
            return Outcome(reply)
        state = session.state
        values: dict[str, Any] = {"ended_at": format_datetime(now), **extra}
        notes: list[tuple[int, str, dict[str, Any]]] = []
        duration: int | None = None
        if state == "answered":
            result = "answered"
            duration = event.get("duration")
            if duration is None:
                duration = int((now - aware(session.answered_at)).total_seconds())
            queue = self.model.settings.queues.get(session.queue or "")
            if session.agent_id:
                callqueue.after_call(tx, self.tenant.id, session.agent_id,
                                     queue.wrapup if queue else 0, now)
                notes.append((session.agent_id, "call_ended", {
                    "call_id": call_id, "call": session.call_record_id, "result": result,
                    "duration": duration, "wrapup": queue.wrapup if queue else 0}))
        elif state in ("queued", "offered"):
            result = "abandoned"
            if session.enqueued_at is not None:
                values["wait"] = max(0, int((now - aware(session.enqueued_at))
                                            .total_seconds()))
        elif state == "dialing":
            result = "no_answer"
        elif state == "routed" and session.result == "voicemail":
            result = "voicemail"
        else:
            result = "missed"
        if (state in ("offered", "dialing") and session.offered_to) or (
                state == "dialing" and session.agent_id):
            who = session.offered_to or session.agent_id
            self._free(tx, who, now)
            notes.append((who, "call_ended", {"call_id": call_id,
                                              "call": session.call_record_id,
                                              "result": result, "duration": 0}))
        values["result"] = result
        if duration is not None:
            values["duration"] = duration
        elif result != "answered":
            values["duration"] = 0
        self._save(tx, call_id, state="ended", result=result, ended_at=now,
                   duration=duration if duration is not None else event.get("duration"),
                   updated_at=now)
        self._log(tx, session.call_record_id, values)
        return Outcome(reply, notes)

    def _timed_out(self, tx: Connection, call: Any, now: datetime) -> dict[str, Any]:
        """A caller waited past max_wait: logged `timeout`; the IVR's `on_timeout` exit
        gives the actions that follow (for the provider)."""
        wait = max(0, int((now - aware(call.enqueued_at)).total_seconds()))
        self._log(tx, call.call_record_id, {"result": "timeout", "wait": wait,
                                            "ended_at": format_datetime(now), "duration": 0})
        actions: list[dict[str, Any]] = [{"type": "hangup", "reason": "queue_timeout"}]
        tree = self.model.ivr_trees.get(call.ivr_tree or "")
        if tree is not None and call.ivr_state:
            try:
                step = ivr.resume(tree, {**call.ivr_state, "final": None},
                                  {"type": "queue_timeout"},
                                  self._ivr_context(None, call.call_id, call.from_number,
                                                    call.to_number, now, call.clock_offset))
                actions = step.actions
            except ivr.IvrError:
                pass
        return {"call_id": call.call_id, "actions": actions}

    # -- helpers -----------------------------------------------------------------------
    def _session(self, tx: Connection, call_id: str) -> Any:
        q = select(call_sessions).where(call_sessions.c.tenant_id == self.tenant.id,
                                        call_sessions.c.call_id == call_id)
        if tx.dialect.name == "postgresql":
            q = q.with_for_update()
        return tx.execute(q).first()

    def _save(self, tx: Connection, call_id: str, **values: Any) -> None:
        tx.execute(update(call_sessions).where(call_sessions.c.tenant_id == self.tenant.id,
                                               call_sessions.c.call_id == call_id)
                   .values(**values))

    def _log(self, tx: Connection, record_id: int | None, values: Mapping[str, Any]) -> None:
        """Complete the call record (the call log) through the record service."""
        if record_id is not None and values:
            self.svc.update(self.system, "call", record_id, dict(values), action="call",
                            conn=tx)

    def _free(self, tx: Connection, user_id: int | None, now: datetime) -> None:
        """An agent whose offer went elsewhere (or whose caller hung up) is ready again."""
        if user_id:
            tx.execute(update(members).where(members.c.tenant_id == self.tenant.id,
                                             members.c.user_id == user_id,
                                             members.c.status == callqueue.BUSY)
                       .values(status=callqueue.READY, status_at=now))

    def _member(self, user_id: int | None) -> Any:
        with self.svc.engine.connect() as conn:
            return conn.execute(select(members).where(
                members.c.tenant_id == self.tenant.id, members.c.user_id == user_id)).first()

    def _agent_by_extension(self, extension: str) -> Any:
        with self.svc.engine.connect() as conn:
            row = conn.execute(select(members).where(
                members.c.tenant_id == self.tenant.id, members.c.extension == extension)
                .order_by(members.c.user_id)).first()
        if row is None:
            raise ValidationFailed({"agent": [f"no agent with extension '{extension}'"]})
        return row

    def _customer(self, customer_id: int | None) -> dict[str, Any] | None:
        if not customer_id:
            return None
        try:
            return self.svc.get(self.system, "customer", customer_id)
        except NotFound:
            return None

    def _record(self, record_id: int | None) -> dict[str, Any] | None:
        if not record_id:
            return None
        try:
            return self.svc.get(self.system, "call", record_id)
        except NotFound:
            return None

    def _ivr_context(self, customer: Mapping[str, Any] | None, call_id: str,
                     number: str | None, to: str | None, now: datetime,
                     offset: float | None = None) -> ivr.IvrContext:
        """What the IVR sees; `offset` shifts its clock (a simulated call's `at`)."""
        if offset:
            now = now + timedelta(seconds=offset)
        return ivr.IvrContext(self.model, customer,
                              {"call_id": call_id, "from": number, "to": to}, now, self.http)

    def _clock_offset(self, at: str | None, now: datetime) -> float | None:
        """Seconds from now to a simulated call's `at` (naive: in the tenant's time zone)."""
        if not at:
            return None
        when = datetime.fromisoformat(at)
        if when.tzinfo is None:
            when = when.replace(tzinfo=ZoneInfo(self.model.settings.timezone))
        return (when - now).total_seconds()

    def _offer_notes(self, tx: Connection, offers: list[callqueue.Offer],
                     ) -> list[tuple[int, str, dict[str, Any]]]:
        out = []
        for offer in offers:
            session = tx.execute(select(call_sessions).where(
                call_sessions.c.tenant_id == self.tenant.id,
                call_sessions.c.call_id == offer.call_id)).first()
            out.append((offer.user_id, "screen_pop", self._pop_note(session, offer.user_id)))
        return out

    def _pop_note(self, session: Any, user_id: int) -> dict[str, Any]:
        return {"call_id": session.call_id, "number": session.from_number,
                "customer": session.customer_id, "call": session.call_record_id,
                "queue": session.queue, "priority": session.priority, "agent": user_id}

    def _tell(self, notes: list[tuple[int, str, dict[str, Any]]]) -> None:
        if self.notify is None:
            return
        for user_id, kind, data in notes:
            try:
                self.notify(user_id, kind, data)
            except Exception:  # a lost notification must not undo a committed call event
                log.exception("could not notify agent %s of %s", user_id, kind)


def _agent_json(row: Mapping[str, Any] | None) -> dict[str, Any]:
    if row is None:
        return {}
    at = row.get("status_at")
    return {"user_id": row["user_id"], "extension": row.get("extension"),
            "department": row.get("department"), "status": row["status"],
            "status_at": aware(at).isoformat() if at else None}
