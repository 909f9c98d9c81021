"""The production server: a long Server-Sent Events stream must not block anything else."""
from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from waitress.server import create_server

from callboard.engine import schema
from callboard.engine.bundle import BundleSource
from callboard.engine.settings import Settings
from callboard.web.api.telephony import stop_ticker
from callboard.web.app import create_app
from callboard.web.users import create_user

CONFIG = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[tuple[str, object]]:
    app = create_app(Settings(tmp_path, db_url, None, "test-secret"),
                     SSE_KEEPALIVE_SECONDS=0.2)
    p = app.extensions["callboard"]
    schema.upgrade(p.engine)
    p.store.create("water", None, BundleSource.from_dir(CONFIG))
    create_user(app, "water", "agent@water.test", "secret-123", "agent", team="a")
    srv = create_server(app, host="127.0.0.1", port=0, threads=8)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.effective_port}", app
    time.sleep(0.5)  # open streams notice their closed clients at the next keepalive
    srv.task_dispatcher.shutdown(timeout=5)
    srv.close()
    stop_ticker(app)  # its clock thread would tick on against a dropped database
    p.engine.dispose()


def _post(url: str, body: dict, headers: dict | None = None) -> dict:
    req = urllib.request.Request(url, json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def _token(base: str) -> dict:
    tok = _post(f"{base}/api/v1/security/login", {"username": "agent@water.test",
                                                   "password": "secret-123", "provider": "db"})
    return {"Authorization": f"Bearer {tok['access_token']}"}


def _open_stream(base: str, headers: dict) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall((f"GET /api/v1/agents/me/events HTTP/1.1\r\nHost: {host}\r\n"
                  f"Authorization: {headers['Authorization']}\r\n"
                  "Accept: text/event-stream\r\n\r\n").encode())
    head = sock.recv(4096).decode()
    assert head.startswith("HTTP/1.1 200"), head
    assert "text/event-stream" in head
    return sock


def test_streams_do_not_block_other_requests(server: tuple[str, object]) -> None:
    base, _app = server
    headers = _token(base)
    streams = [_open_stream(base, headers) for _ in range(4)]  # half the threads held
    try:
        def call(i: int) -> float:
            start = time.perf_counter()
            req = urllib.request.Request(f"{base}/api/v1/records/customer?per_page=5",
                                         headers=headers)
            with urllib.request.urlopen(req, timeout=10) as resp:
                assert resp.status == 200
            return time.perf_counter() - start

        with ThreadPoolExecutor(8) as pool:
            timings = list(pool.map(call, range(40)))
        assert max(timings) < 5, timings
    finally:
        for s in streams:
            s.close()


def test_published_event_reaches_the_users_stream(server: tuple[str, object]) -> None:
    base, app = server
    headers = _token(base)
    sock = _open_stream(base, headers)
    try:
        broker = app.extensions["callboard_events"]
        user_id = app.extensions["callboard"].store.members(1)[0]["user_id"]
        deadline = time.time() + 5
        while broker.listeners(user_id) == 0 and time.time() < deadline:
            time.sleep(0.05)
        broker.publish(user_id, "screen_pop", {"number": "+84901234567", "known": False})
        data = b""
        while b"screen_pop" not in data and time.time() < deadline:
            data += sock.recv(4096)
        text = data.decode()
        assert "event: screen_pop" in text
        assert '"+84901234567"' in text
    finally:
        sock.close()
