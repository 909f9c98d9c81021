"""Feed a streaming provider's events (Asterisk AMI) into the tenant's call pipeline.

Webhook providers post their events to the web API; a PBX that streams them over a
connection Callboard opens is followed here instead (`callboard telephony listen SLUG`).
An event the pipeline refuses is reported and skipped: the stream goes on.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pluggy

from callboard.engine.errors import ServiceError
from callboard.engine.records import RecordService
from callboard.plugins import ProviderError, provider

from .calls import EVENTS, CallCenter, Notify

Report = Callable[[dict[str, Any], dict[str, Any]], None]   # (event, reply or {"errors"})


def follow(svc: RecordService, *, report: Report | None = None,
           stop: threading.Event | None = None,
           pm: pluggy.PluginManager | None = None, notify: Notify | None = None) -> int:
    """Follow the tenant's provider until its stream ends (or `stop`); returns the number
    of events received. ProviderError when the tenant's provider does not stream.
    `notify(user_id, kind, data)` hands agents their screen pops and call ends."""
    settings = svc.model.settings.telephony
    name = str(settings.get("provider") or "sim")
    prov = provider(name, pm)
    listen = getattr(prov, "listen", None)
    if listen is None:
        raise ProviderError(f"the tenant's telephony provider '{name}' does not stream "
                            f"events: it posts them to /api/v1/telephony/{name}/events")
    center = CallCenter(svc, notify=notify)

    def emit(event: dict[str, Any]) -> None:
        if event["event"] not in EVENTS:       # call.queued: the PBX runs its own queues
            if report is not None:
                report(event, {"skipped": "not an event of the call pipeline"})
            return
        try:
            reply = center.handle(event)
        except ServiceError as e:
            reply = e.body()
        if report is not None:
            report(event, reply)

    return int(listen(settings, emit, stop=stop))
