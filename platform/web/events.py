"""Events pushed to signed-in users over Server-Sent Events.

`publish(user_id, kind, data)` reaches every open stream of that user. Within one process
a broker hands events to per-stream queues; with CALLBOARD_REDIS_URL set, events travel
through Redis pub/sub so a user connected to another app server gets them too.
"""
from __future__ import annotations

import json
import logging
import queue
import threading
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

log = logging.getLogger(__name__)
CHANNEL = "callboard:events"
KEEPALIVE_SECONDS = 15.0


class Broker:
    """Fan-out of events to the open streams of this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._streams: dict[int, set[queue.Queue[str]]] = defaultdict(set)
        self._redis: Any = None

    def use_redis(self, url: str, *, listen: bool = True) -> None:
        """Relay events through Redis pub/sub (several app servers). `listen=False`: only
        publish (a process with no streams of its own, such as a PBX listener)."""
        import redis

        self._redis = redis.Redis.from_url(url)
        if listen:
            thread = threading.Thread(target=self._listen, name="sse-relay", daemon=True)
            thread.start()

    def publish(self, user_id: int, kind: str, data: Any) -> None:
        message = json.dumps({"user": user_id, "event": kind, "data": data},
                             ensure_ascii=False, default=str)
        if self._redis is not None:
            try:
                self._redis.publish(CHANNEL, message)
                return
            except Exception:  # Redis down: still reach this process's streams
                log.exception("could not publish through Redis")
        self._deliver(message)

    def _deliver(self, message: str) -> None:
        event = json.loads(message)
        data = json.dumps(event["data"], ensure_ascii=False)
        frame = f"event: {event['event']}\ndata: {data}\n\n"
        with self._lock:
            targets = list(self._streams.get(event["user"], ()))
        for q in targets:
            q.put(frame)

    def _listen(self) -> None:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(CHANNEL)
        for item in pubsub.listen():
            if item.get("type") == "message":
                self._deliver(item["data"].decode("utf-8"))

    def stream(self, user_id: int, *, keepalive: float = KEEPALIVE_SECONDS,
               limit: float | None = None) -> Iterator[str]:
        """SSE frames for `user_id` until the client goes away (or `limit` seconds)."""
        q: queue.Queue[str] = queue.Queue()
        with self._lock:
            self._streams[user_id].add(q)
        waited = 0.0
        try:
            yield "retry: 3000\n: connected\n\n"
            while limit is None or waited < limit:
                try:
                    yield q.get(timeout=keepalive)
                except queue.Empty:
                    waited += keepalive
                    yield ": keepalive\n\n"
        finally:
            with self._lock:
                self._streams[user_id].discard(q)

    def listeners(self, user_id: int) -> int:
        with self._lock:
            return len(self._streams.get(user_id, ()))


def assignment_notifier(broker: Broker) -> Any:
    """A record listener: a ticket's new assignee hears `ticket_assigned`."""

    def notify(change: Any) -> None:
        if change.entity != "ticket" or change.record is None:
            return
        assignee = change.record.get("assignee")
        previous = (change.before or {}).get("assignee")
        if assignee and assignee != previous:
            r = change.record
            broker.publish(assignee, "ticket_assigned", {
                "id": r["id"], "subject": r.get("subject"), "type": r.get("type"),
                "status": r.get("status"), "department": r.get("department"),
                "due_at": r.get("due_at"), "by": r.get("updated_by")})

    return notify
