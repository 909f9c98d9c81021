"""A scripted Asterisk Manager (AMI) peer on a loopback socket, for the telephony tests.

It speaks the real protocol: a banner, `Key: Value` lines ending in CRLF and a blank line
after each message; it answers Login, Originate and Logoff, and streams a scripted call's
events (split across TCP packets) after a successful login.
"""
from __future__ import annotations

import socket
import threading
import time
from typing import Any

from callboard_telephony.asterisk import parse_messages

SECRET = "s3cret-for-tests"


def ami(**fields: Any) -> str:
    return "".join(f"{k.replace('_', '-')}: {v}\r\n" for k, v in fields.items()) + "\r\n"


CALL = "1764490000.1"
AGENT_CHAN = "1764490000.2"
SCRIPT = [
    ami(Event="FullyBooted", Privilege="system,all", Status="Fully Booted"),
    ami(Event="Newchannel", Privilege="call,all", Channel="PJSIP/trunk-00000001",
        ChannelState=0, ChannelStateDesc="Down", CallerIDNum="0901234567",
        CallerIDName="<unknown>", Context="from-pstn", Exten="19001234", Priority=1,
        Uniqueid=CALL, Linkedid=CALL, Timestamp="1764490000.250000"),
    ami(Event="VarSet", Channel="PJSIP/trunk-00000001", Variable="X", Value="1",
        Uniqueid=CALL, Linkedid=CALL),
    ami(Event="Newchannel", Channel="PJSIP/201-00000009", Context="from-internal",
        Exten="0912345678", CallerIDNum="201", Uniqueid="1764490001.9",
        Linkedid="1764490001.9"),                     # an internal call: not incoming
    ami(Event="QueueCallerJoin", Channel="PJSIP/trunk-00000001", Queue="support",
        Position=1, Count=1, CallerIDNum="0901234567", Uniqueid=CALL, Linkedid=CALL),
    ami(Event="Newchannel", Channel="PJSIP/101-00000002", Context="from-queue",
        Exten="support", Uniqueid=AGENT_CHAN, Linkedid=CALL),
    ami(Event="AgentCalled", Channel="PJSIP/trunk-00000001", Uniqueid=CALL, Linkedid=CALL,
        DestChannel="PJSIP/101-00000002", DestUniqueid=AGENT_CHAN, Queue="support",
        Interface="PJSIP/101", MemberName="Agent 101"),
    ami(Event="AgentConnect", Channel="PJSIP/trunk-00000001", Uniqueid=CALL, Linkedid=CALL,
        DestChannel="PJSIP/101-00000002", DestUniqueid=AGENT_CHAN, Queue="support",
        Interface="PJSIP/101", MemberName="Agent 101", HoldTime=12, RingTime=3),
    ami(Event="Hangup", Channel="PJSIP/101-00000002", Uniqueid=AGENT_CHAN, Linkedid=CALL,
        Cause=16, Cause_txt="Normal Clearing"),
    ami(Event="Hangup", Channel="PJSIP/trunk-00000001", Uniqueid=CALL, Linkedid=CALL,
        Cause=16, Cause_txt="Normal Clearing"),
    ami(Event="Cdr", AccountCode="", Source="0901234567", Destination="19001234",
        DestinationContext="from-pstn", Channel="PJSIP/trunk-00000001",
        DestinationChannel="PJSIP/101-00000002", Duration=95, BillableSeconds=80,
        Disposition="ANSWERED", UniqueID=CALL),
]


class AmiPeer:
    """A scripted Asterisk Manager: banner, Login, Originate, Logoff; then the script's
    events in small TCP pieces, then it hangs up."""

    def __init__(self, events: list[str], *, secret: str = SECRET, fail_originate: bool = False,
                 stall: float = 0.0):
        self.events, self.secret, self.fail = events, secret, fail_originate
        self.stall = stall          # a pause in the middle of the second event, in seconds
        self.actions: list[dict[str, str]] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                self._converse(conn)

    def _converse(self, conn: socket.socket) -> None:
        conn.sendall(b"Asterisk Call Manager/9.0.0\r\n")
        buf = b""
        while True:
            while b"\r\n\r\n" not in buf:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                buf += chunk
            raw, buf = buf.split(b"\r\n\r\n", 1)
            action = parse_messages(raw.decode())[0]
            self.actions.append(action)
            aid = action.get("ActionID", "")
            kind = action.get("Action", "").lower()
            if kind == "login":
                if action.get("Secret") != self.secret:
                    conn.sendall(ami(Response="Error", ActionID=aid,
                                     Message="Authentication failed").encode())
                    return
                # an event may come before the response: the client keeps it for later
                conn.sendall((self.events[0] if self.events else "").encode() + ami(
                    Response="Success", ActionID=aid,
                    Message="Authentication accepted").encode())
                for n, text in enumerate(self.events[1:]):
                    data = text.encode()
                    for i in range(0, len(data), 37):      # frames split across packets
                        conn.sendall(data[i:i + 37])
                        if n == 0 and i == 74 and self.stall:
                            time.sleep(self.stall)         # longer than the client waits
                    time.sleep(0.002)
                if self.events:
                    return                                  # the stream ends: hang up
            elif kind == "originate":
                if self.fail:
                    conn.sendall(ami(Response="Error", ActionID=aid,
                                     Message="Extension does not exist.").encode())
                else:
                    conn.sendall(ami(Response="Success", ActionID=aid,
                                     Message="Originate successfully queued").encode())
            elif kind == "logoff":
                conn.sendall(ami(Response="Goodbye", ActionID=aid,
                                 Message="Thanks for all the fish.").encode())
                return

    def settings(self, **more: Any) -> dict[str, Any]:
        return {"provider": "asterisk", "ami_host": "127.0.0.1", "ami_port": self.port,
                "ami_username": "callboard", "ami_secret": SECRET, "timeout": 2, **more}

    def close(self) -> None:
        self.sock.close()
