#!/usr/bin/env python3
"""IVR interpreter and provider adapters: how much CPU one call costs before any I/O.

What it measures (one process, no database, no network except loopback where said):

1. `ivr.start` + `ivr.resume` over the demo hotline (`config/`) for N simulated calls,
   a mix (seed 5): 40 % press 1 (business customers take the condition's `then` branch),
   30 % press 2, 10 % press 3, 10 % a wrong key then 1, 10 % stay silent until
   `on_exhausted`; the state goes through `json.dumps`/`json.loads` between events as it
   does through the database. Reports calls/s and µs per event.
2. The webhook provider's `parse` of a signed 6-event request (HMAC check included),
   and the asterisk `translate` of one call's AMI events (6 neutral events from 11 AMI
   events), events/s.
3. The AMI client reading a scripted peer's event stream over a loopback socket
   (N calls × 11 events), events/s.

Usage: python benchmarks/bench_ivr.py [--calls 20000]
"""
from __future__ import annotations

import argparse
import json
import random
import socket
import threading
import time
from datetime import datetime
from pathlib import Path

from callboard_telephony import sign
from callboard_telephony.asterisk import AmiClient, parse_messages, translate
from callboard_telephony.webhook import WebhookProvider

from callboard.engine.bundle import load_dir
from callboard.workflows.ivr import IvrContext, resume, start, tree_for

ROOT = Path(__file__).resolve().parents[1]

SCRIPTS = [(0.4, ["1"]), (0.3, ["2"]), (0.1, ["3"]), (0.1, ["7", "1"]), (0.1, [])]


def _ami(**fields: object) -> str:
    return "".join(f"{k.replace('_', '-')}: {v}\r\n" for k, v in fields.items()) + "\r\n"


def ami_call(n: int) -> str:
    """The 11 AMI events of one answered inbound call (as Asterisk 20 sends them)."""
    uid, dest = f"1764490{n:06d}.1", f"1764490{n:06d}.2"
    common = {"Uniqueid": uid, "Linkedid": uid}
    return "".join([
        _ami(Event="Newchannel", Channel=f"PJSIP/trunk-{n:08x}", Context="from-pstn",
             Exten="19001234", CallerIDNum=f"09{n:08d}", **common),
        _ami(Event="VarSet", Variable="X", Value="1", **common),
        _ami(Event="QueueCallerJoin", Queue="support", Position=1, Count=1, **common),
        _ami(Event="Newchannel", Channel=f"PJSIP/101-{n:08x}", Context="from-queue",
             Exten="support", Uniqueid=dest, Linkedid=uid),
        _ami(Event="AgentCalled", Queue="support", Interface="PJSIP/101",
             DestUniqueid=dest, **common),
        _ami(Event="Newstate", ChannelState=6, **common),
        _ami(Event="AgentConnect", Queue="support", Interface="PJSIP/101", HoldTime=3,
             DestUniqueid=dest, **common),
        _ami(Event="QueueCallerLeave", Queue="support", **common),
        _ami(Event="Hangup", Uniqueid=dest, Linkedid=uid, Cause=16),
        _ami(Event="Hangup", Cause=16, Cause_txt="Normal Clearing", **common),
        _ami(Event="Cdr", UniqueID=uid, Duration=95, BillableSeconds=80,
             Disposition="ANSWERED"),
    ])


def bench_ivr(calls: int) -> None:
    model = load_dir(ROOT / "config")
    tree = tree_for(model, "19001234")
    rng = random.Random(5)
    weights = [w for w, _ in SCRIPTS]
    events = 0
    began = time.perf_counter()
    for i in range(calls):
        customer = {"id": i, "priority": 1,
                    "customer_type": "business" if i % 3 == 0 else "residential"}
        ctx = IvrContext(model, customer, {"call_id": f"c{i}", "from": "0901234567",
                                           "to": "19001234"}, datetime(2026, 11, 30, 10))
        keys = rng.choices(SCRIPTS, weights)[0][1]
        step = start(tree, ctx)
        events += 1
        presses = list(keys)
        while step.final is None:
            state = json.loads(json.dumps(step.state))
            ev = {"type": "digits", "digits": presses.pop(0)} if presses \
                else {"type": "timeout"}
            step = resume(tree, state, ev, ctx)
            events += 1
    took = time.perf_counter() - began
    print(f"ivr: {calls} calls, {events} events in {took:.2f} s: {calls / took:,.0f} calls/s, "
          f"{took / events * 1e6:.1f} µs per event")


def bench_parsers(rounds: int) -> None:
    hook = WebhookProvider()
    body = json.dumps({"events": [
        {"id": f"w{k}", "call": {"id": "c-1", "status": s, "from": {"number": "0901234567"},
                                 "to": {"number": "19001234"},
                                 "agent": {"extension": "101"}}}
        for k, s in enumerate(["created", "ringing", "answered", "ended", "no_input",
                               "created"])]}).encode()
    headers = sign("a-long-secret", body)
    began = time.perf_counter()
    for _ in range(rounds):
        hook.parse(body, headers, "a-long-secret")
    took = time.perf_counter() - began
    print(f"webhook parse: {rounds} signed requests of 6 events: {rounds * 6 / took:,.0f} "
          f"events/s")
    messages = parse_messages(ami_call(1))
    began = time.perf_counter()
    made = sum(len(translate(m)) for _ in range(rounds) for m in messages)
    took = time.perf_counter() - began
    print(f"ami translate: {rounds * len(messages)} AMI events -> {made} neutral: "
          f"{rounds * len(messages) / took:,.0f} AMI events/s")


def bench_ami_socket(calls: int) -> None:
    srv = socket.create_server(("127.0.0.1", 0))
    payload = "".join(ami_call(n) for n in range(calls)).encode()

    def serve() -> None:
        conn, _ = srv.accept()
        with conn:
            conn.sendall(b"Asterisk Call Manager/9.0.0\r\n")
            conn.sendall(payload)

    threading.Thread(target=serve, daemon=True).start()
    client = AmiClient("127.0.0.1", srv.getsockname()[1], timeout=5)
    began = time.perf_counter()
    client.connect()
    count = made = 0
    for event in client.events():
        count += 1
        made += len(translate(event))
    took = time.perf_counter() - began
    client.close()
    srv.close()
    print(f"ami socket: {count} events of {calls} calls read and translated ({made} "
          f"neutral) in {took:.2f} s: {count / took:,.0f} events/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    for _ in range(args.repeat):
        bench_ivr(args.calls)
    bench_parsers(args.calls // 4)
    bench_ami_socket(args.calls)


if __name__ == "__main__":
    main()
