"""The `asterisk` telephony provider: Asterisk's Manager Interface (AMI) over TCP.

AMI speaks lines of `Key: Value` ending in CRLF, one blank line ending each message.
`AmiClient` logs in, sends actions and reads responses and events; `translate` turns the
events of a call into neutral events:

| AMI event | neutral event |
|---|---|
| Newchannel (a call's first channel, in an inbound context) | call.incoming {from, to} |
| QueueCallerJoin | call.queued {queue, position} |
| AgentCalled | call.ringing {agent} (the extension of the member's interface) |
| AgentConnect | call.answered {agent} |
| DialEnd (ANSWER, of a call `originate` started) | call.answered {agent} |
| Hangup (the call's first channel) | call.ended {cause} |
| Cdr | call.ended {duration (billable seconds), cause (disposition)} |

The call id is the `Linkedid` (the first channel's `Uniqueid`); a call therefore ends
twice, once at Hangup and once at its Cdr with the duration: a pipeline merges them.
`listen(settings, emit)` follows a live AMI connection; `originate` places a
click-to-call with the `Originate` action (the new channel's id becomes the call id).
Tenant settings (tenant.yaml `telephony:`): `ami_host`, `ami_port` (5038),
`ami_username`, `ami_secret`, `inbound_context` (comma list, `from-pstn,from-trunk`),
`channel` (`PJSIP/{extension}`), `context` (`from-internal`), `caller_id`.
"""
from __future__ import annotations

import contextlib
import re
import socket
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from callboard.plugins import ProviderError, check_event, hookimpl

from . import verify

CRLF = "\r\n"
INBOUND_CONTEXTS = ("from-pstn", "from-trunk")
ORIGINATED = "cb-"     # call ids (channel ids) of the calls `originate` starts
_IFACE = re.compile(r"^[^/]+/([^@/\-;]+)")


class AmiError(ProviderError):
    """The AMI peer refused an action or the connection failed."""

    def __init__(self, message: str):
        super().__init__(message, 502)


def parse_messages(text: str) -> list[dict[str, str]]:
    """AMI messages (blank-line separated `Key: Value` blocks) as dicts."""
    out = []
    for block in re.split(r"\r?\n\r?\n", text):
        msg = _block(block.splitlines())
        if msg:
            out.append(msg)
    return out


def _block(lines: list[str]) -> dict[str, str]:
    msg: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition(":")
        if sep and key.strip():
            msg.setdefault(key.strip(), value.strip())
    return msg


def format_action(action: str, fields: Mapping[str, Any]) -> bytes:
    """One AMI action as bytes; values may not hold line breaks."""
    lines = [f"Action: {action}"]
    for key, value in fields.items():
        if value is None:
            continue
        text = str(value)
        if "\r" in text or "\n" in text:
            raise ValueError(f"{key}: an AMI value cannot hold a line break")
        lines.append(f"{key}: {text}")
    return (CRLF.join(lines) + CRLF + CRLF).encode()


# -- events -> neutral events -----------------------------------------------------------
def _agent(event: Mapping[str, str]) -> str | None:
    iface = event.get("Interface") or event.get("DestChannel") or ""
    m = _IFACE.match(iface)
    return m.group(1) if m else (event.get("MemberName") or None)


def _caller(value: str | None) -> str:
    if not value or value in ("<unknown>", "unknown", "anonymous"):
        return "anonymous"
    return value


def _when(event: Mapping[str, str]) -> str | None:
    try:
        ts = float(event["Timestamp"])
    except (KeyError, ValueError):
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat()


def translate(event: Mapping[str, str], inbound_contexts: tuple[str, ...] = INBOUND_CONTEXTS,
              ) -> list[dict[str, Any]]:
    """The neutral events one AMI event stands for ([] for every other event)."""
    name = event.get("Event")
    uid = event.get("Uniqueid") or event.get("UniqueID") or ""
    call_id = event.get("Linkedid") or uid
    first = not event.get("Linkedid") or event.get("Linkedid") == uid
    out: dict[str, Any] | None = None
    if name == "Newchannel" and first and event.get("Context") in inbound_contexts:
        out = {"event": "call.incoming", "from": _caller(event.get("CallerIDNum")),
               "to": event.get("Exten"), "direction": "inbound"}
    elif name == "QueueCallerJoin":
        out = {"event": "call.queued", "queue": event.get("Queue"),
               "position": int(event.get("Position") or 0) or None}
    elif name == "AgentCalled":
        out = {"event": "call.ringing", "agent": _agent(event), "queue": event.get("Queue")}
    elif name == "AgentConnect":
        out = {"event": "call.answered", "agent": _agent(event), "queue": event.get("Queue")}
    elif name == "DialEnd" and first and call_id.startswith(ORIGINATED) \
            and event.get("DialStatus") == "ANSWER":
        # a click-to-call: the agent's channel (the first) reached the customer
        out = {"event": "call.answered", "agent": _agent({"Interface": event.get("Channel")})}
    elif name == "Hangup" and first:
        out = {"event": "call.ended", "cause": event.get("Cause-txt") or event.get("Cause")}
    elif name == "Cdr":
        call_id = event.get("UniqueID") or uid
        out = {"event": "call.ended", "duration": event.get("BillableSeconds") or 0,
               "cause": (event.get("Disposition") or "").lower() or None}
    if out is None or not call_id:
        return []
    tag = event.get("DestUniqueid") or event.get("Interface") or ""
    out.update(call_id=call_id, event_id=f"ami:{call_id}:{name}:{uid}:{tag}".rstrip(":"),
               at=_when(event))
    return [check_event({k: v for k, v in out.items() if v is not None})]


# -- the client -------------------------------------------------------------------------
class AmiClient:
    """A blocking AMI connection: `login`, `action` (waits for its response), `events`."""

    def __init__(self, host: str, port: int = 5038, *, timeout: float = 5.0):
        self.host, self.port, self.timeout = host, int(port), timeout
        self.sock: socket.socket | None = None
        self.banner = ""
        self._buf = b""
        self._pending: deque[dict[str, str]] = deque()
        self._lines: list[str] = []

    def __enter__(self) -> AmiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> str:
        """Open the connection; returns the peer's banner (`Asterisk Call Manager/…`)."""
        try:
            self.sock = socket.create_connection((self.host, self.port), self.timeout)
        except OSError as e:
            raise AmiError(f"cannot reach AMI at {self.host}:{self.port}: {e}") from None
        self.banner = self._line()
        if not self.banner.startswith("Asterisk Call Manager"):
            raise AmiError(f"{self.host}:{self.port} is not an AMI peer ({self.banner[:60]!r})")
        return self.banner

    def login(self, username: str, secret: str) -> None:
        """Log in; AmiError when the peer refuses."""
        self.action("Login", Username=username, Secret=secret, Events="call,agent,cdr")

    def action(self, name: str, **fields: Any) -> dict[str, str]:
        """Send an action and wait for its response; AmiError on `Response: Error`."""
        if self.sock is None:
            self.connect()
        action_id = fields.pop("ActionID", None) or uuid.uuid4().hex[:12]
        assert self.sock is not None
        self.sock.sendall(format_action(name, {"ActionID": action_id, **fields}))
        while True:
            msg = self._read()
            if msg is None:
                raise AmiError(f"the AMI peer closed the connection during {name}")
            if "Response" in msg and msg.get("ActionID", action_id) == action_id:
                if msg["Response"].lower() not in ("success", "follows", "goodbye"):
                    raise AmiError(f"{name} failed: {msg.get('Message', msg['Response'])}")
                return msg
            if "Event" in msg:
                self._pending.append(msg)

    def events(self, stop: threading.Event | None = None) -> Iterator[dict[str, str]]:
        """Events as they arrive, until the peer closes or `stop` is set."""
        while not (stop and stop.is_set()):
            if self._pending:
                yield self._pending.popleft()
                continue
            try:
                msg = self._read()
            except TimeoutError:
                continue
            if msg is None:
                return
            if "Event" in msg:
                yield msg

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.sendall(format_action("Logoff", {}))
            self.sock.close()
            self.sock = None

    def _line(self) -> str:
        while b"\n" not in self._buf:
            self._fill()
        line, _, self._buf = self._buf.partition(b"\n")
        return line.decode("utf-8", "replace").rstrip("\r")

    def _fill(self) -> None:
        assert self.sock is not None
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError
        self._buf += chunk

    def _read(self) -> dict[str, str] | None:
        """The next message, or None when the peer closed the connection. A timeout
        (TimeoutError) keeps what was read of a message for the next call."""
        try:
            while True:
                line = self._line()
                if line:
                    self._lines.append(line)
                elif self._lines:
                    msg, self._lines = _block(self._lines), []
                    return msg
        except EOFError:
            msg, self._lines = _block(self._lines), []
            return msg or None
        except TimeoutError:
            raise
        except OSError:
            return None


def _contexts(settings: Mapping[str, Any]) -> tuple[str, ...]:
    raw = settings.get("inbound_context")
    return tuple(c.strip() for c in str(raw).split(",") if c.strip()) if raw \
        else INBOUND_CONTEXTS


def _client(settings: Mapping[str, Any]) -> AmiClient:
    host = settings.get("ami_host")
    if not host or not settings.get("ami_username"):
        raise AmiError("telephony.ami_host and telephony.ami_username are not set")
    client = AmiClient(str(host), int(settings.get("ami_port") or 5038),
                       timeout=float(settings.get("timeout") or 5))
    client.connect()
    client.login(str(settings["ami_username"]), str(settings.get("ami_secret") or ""))
    return client


def listen(settings: Mapping[str, Any], emit: Callable[[dict[str, Any]], None], *,
           stop: threading.Event | None = None) -> int:
    """Follow the AMI event stream of the tenant's Asterisk, handing each neutral event to
    `emit`, until the peer closes or `stop` is set; returns how many were emitted."""
    contexts, count = _contexts(settings), 0
    with _client(settings) as client:
        for event in client.events(stop):
            for neutral in translate(event, contexts):
                emit(neutral)
                count += 1
    return count


class AsteriskProvider:
    """AMI events (posted by a relay, or followed by `listen`) and AMI Originate."""

    name = "asterisk"
    login = False

    def parse(self, body: bytes, headers: Mapping[str, str],
              secret: str | None) -> list[dict[str, Any]]:
        """AMI event text relayed over HTTP (signed like the webhook provider)."""
        verify(secret, body, headers)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ProviderError("the body is not UTF-8 AMI text") from None
        messages = parse_messages(text)
        if not messages or not all("Event" in m for m in messages):
            raise ProviderError("the body holds no AMI events (Event: … blocks)")
        return [n for m in messages for n in translate(m)]

    def listen(self, settings: Mapping[str, Any], emit: Callable[[dict[str, Any]], None], *,
               stop: threading.Event | None = None) -> int:
        """Follow the tenant's AMI event stream (see the module's `listen`)."""
        return listen(settings, emit, stop=stop)

    def originate(self, settings: Mapping[str, Any], from_ext: str,
                  number: str) -> dict[str, Any]:
        """Ring extension `from_ext`, then dial `number` from the tenant's context."""
        call_id = f"{ORIGINATED}{uuid.uuid4().hex[:20]}"
        channel = str(settings.get("channel") or "PJSIP/{extension}").replace(
            "{extension}", str(from_ext))
        try:
            with _client(settings) as client:
                client.action("Originate", Channel=channel, Exten=number,
                              Context=settings.get("context") or "from-internal",
                              Priority=1, CallerID=settings.get("caller_id"),
                              ChannelId=call_id, Async="true", Timeout=30000,
                              Variable=f"CALLBOARD_CALL_ID={call_id}")
        except ValueError as e:
            raise ProviderError(str(e)) from None
        return {"call_id": call_id, "provider": self.name, "from": str(from_ext),
                "to": str(number), "status": "dialing", "channel": channel}


PROVIDER = AsteriskProvider()


@hookimpl
def callboard_telephony_providers() -> list[AsteriskProvider]:
    """The asterisk provider."""
    return [PROVIDER]
