"""The agent's own channel: its event stream (screen pops, assignments)."""
from __future__ import annotations

from typing import Any

from flask import Response, current_app, g, request, stream_with_context

from ..auth import login_required
from . import api


@api.get("/agents/me/events")
@login_required
def my_events() -> Any:
    broker = current_app.extensions["callboard_events"]
    keepalive = float(current_app.config.get("SSE_KEEPALIVE_SECONDS", 15))
    limit = request.args.get("limit", type=float)
    stream = broker.stream(g.actor.user_id, keepalive=keepalive, limit=limit)
    return Response(stream_with_context(stream), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
