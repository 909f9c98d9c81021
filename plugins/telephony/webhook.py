"""The `webhook` telephony provider: a cloud PBX posting signed JSON (Stringee/Twilio-like).

Request body (one object, or `{"events": [...]}`), signed with the tenant's
`telephony.secret` (see `callboard_telephony.sign`):

    {"id": "evt-81", "type": "call_status", "timestamp_ms": 1764491000000,
     "call": {"id": "c-19", "status": "created", "from": {"number": "0901234567"},
              "to": {"number": "19001234"}}}

`call.status`: `created` -> call.incoming, `ringing` -> call.ringing (`agent.extension`),
`answered` -> call.answered, `ended` -> call.ended (`duration`, `hangup_cause`,
`recording_url`), `no_input` -> call.timeout; `type: dtmf` with `dtmf: "1"` ->
call.digits. The provider's `id` becomes the neutral `event_id`.

`originate` posts `{"from": EXT, "to": NUMBER}`, signed the same way, to the tenant's
`telephony.originate_url` and expects `{"call_id": ...}` back.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from callboard.plugins import ProviderError, check_event, hookimpl

from . import sign, verify

STATUS = {"created": "call.incoming", "ringing": "call.ringing",
          "answered": "call.answered", "ended": "call.ended", "no_input": "call.timeout"}
MAX_EVENTS = 1000


def _number(value: Any) -> Any:
    return value.get("number") if isinstance(value, Mapping) else value


def to_neutral(item: Any) -> dict[str, Any]:
    """One provider event as a neutral event; ProviderError when it is malformed."""
    if not isinstance(item, Mapping) or not isinstance(item.get("call"), Mapping):
        raise ProviderError("an event needs a `call` object")
    call = item["call"]
    kind = item.get("type", "call_status")
    if kind == "dtmf":
        name = "call.digits"
    elif kind == "call_status":
        name = STATUS.get(call.get("status"))
        if name is None:
            raise ProviderError(f"call.status: {call.get('status')!r} is not one of "
                                f"{', '.join(STATUS)}")
    else:
        raise ProviderError(f"type: {kind!r} is not call_status or dtmf")
    agent = call.get("agent")
    out = {"event": name, "call_id": call.get("id"), "event_id": item.get("id"),
           "from": _number(call.get("from")), "to": _number(call.get("to")),
           "agent": agent.get("extension") if isinstance(agent, Mapping) else agent,
           "digits": item.get("dtmf"), "duration": call.get("duration"),
           "cause": call.get("hangup_cause"), "recording_url": call.get("recording_url")}
    return check_event({k: v for k, v in out.items() if v is not None})


class WebhookProvider:
    """Signed JSON webhooks in, signed JSON requests out."""

    name = "webhook"
    login = False

    def parse(self, body: bytes, headers: Mapping[str, str],
              secret: str | None) -> list[dict[str, Any]]:
        """The neutral events of one signed request (401 when the signature fails)."""
        verify(secret, body, headers)
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise ProviderError("the body is not JSON") from None
        items = data["events"] if isinstance(data, Mapping) and "events" in data else [data]
        if not isinstance(items, list) or not items or len(items) > MAX_EVENTS:
            raise ProviderError(f"events: a list of 1 to {MAX_EVENTS} events")
        return [to_neutral(item) for item in items]

    def originate(self, settings: Mapping[str, Any], from_ext: str,
                  number: str) -> dict[str, Any]:
        """Ask the PBX at `originate_url` to call `number` from `from_ext`."""
        url, secret = settings.get("originate_url"), settings.get("secret")
        if not url or not str(url).startswith(("http://", "https://")) or not secret:
            raise ProviderError("telephony.originate_url (http/https) and telephony.secret "
                                "are needed to start calls", 502)
        body = json.dumps({"from": str(from_ext), "to": str(number)}).encode()
        req = urllib.request.Request(str(url), data=body, method="POST", headers={
            "Content-Type": "application/json", **sign(str(secret), body)})
        try:
            with urllib.request.urlopen(req, timeout=float(settings.get("timeout", 5))) as r:
                answer = json.loads(r.read(100_000))
        except (OSError, ValueError) as e:
            raise ProviderError(f"the PBX did not start the call: {e}", 502) from None
        if not isinstance(answer, Mapping) or not answer.get("call_id"):
            raise ProviderError("the PBX answered without a call_id", 502)
        return {"provider": self.name, "from": str(from_ext), "to": str(number),
                "status": "dialing", **answer, "call_id": str(answer["call_id"])}


PROVIDER = WebhookProvider()


@hookimpl
def callboard_telephony_providers() -> list[WebhookProvider]:
    """The webhook provider."""
    return [PROVIDER]
