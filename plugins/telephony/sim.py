"""The `sim` telephony provider: the neutral events of CONTRACT §5, as they are.

It is what the demo, the tests and the benchmarks use in place of a real PBX. The body is
one event object, a list of them, or `{"events": [...]}`; the sender logs in like any API
client (bearer token), so the tenant is the user's. `originate` dials nothing: it returns
a new call id that the simulator's events can then use.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

from callboard.plugins import ProviderError, check_event, hookimpl

MAX_EVENTS = 1000


class SimProvider:
    """Neutral events in, neutral events out."""

    name = "sim"
    login = True

    def parse(self, body: bytes, headers: Mapping[str, str],
              secret: str | None) -> list[dict[str, Any]]:
        """The events of one request body (see the module docstring)."""
        try:
            data = json.loads(body or b"null")
        except (ValueError, UnicodeDecodeError):
            raise ProviderError("the body is not JSON") from None
        if isinstance(data, Mapping) and "events" in data:
            data = data["events"]
        items = data if isinstance(data, list) else [data]
        if not items:
            raise ProviderError("no events in the body")
        if len(items) > MAX_EVENTS:
            raise ProviderError(f"at most {MAX_EVENTS} events per request")
        out = []
        for i, item in enumerate(items):
            try:
                out.append(check_event(item))
            except ProviderError as e:
                where = f"events[{i}]: " if len(items) > 1 else ""
                raise ProviderError(where + e.message) from None
        return out

    def originate(self, settings: Mapping[str, Any], from_ext: str,
                  number: str) -> dict[str, Any]:
        """A simulated outbound call: nothing rings, the call id is new."""
        return {"call_id": f"sim-{uuid.uuid4().hex[:16]}", "provider": self.name,
                "from": str(from_ext), "to": str(number), "status": "dialing"}


PROVIDER = SimProvider()


@hookimpl
def callboard_telephony_providers() -> list[SimProvider]:
    """The sim provider."""
    return [PROVIDER]
