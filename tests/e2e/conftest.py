"""Real-browser fixtures: the app served by waitress in a thread on a real database, and
Debian's Chromium driven by Playwright. Without Chromium these tests skip (or fail when
CALLBOARD_REQUIRE_SERVICES=1)."""
from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from waitress.server import create_server

from callboard.engine import schema
from callboard.engine.bundle import BundleSource
from callboard.engine.settings import Settings
from callboard.web.api.telephony import stop_ticker
from callboard.web.app import create_app
from callboard.web.users import create_user
from tests.conftest import need

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-1"
# A Monday at 10:00 in Ho Chi Minh City: the hotline's IVR is open.
OPEN_HOURS = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


def chromium_path() -> str | None:
    return os.environ.get("CALLBOARD_CHROMIUM") or shutil.which("chromium") or \
        shutil.which("chromium-browser")


@dataclass
class Live:
    url: str
    app: Any
    emails: dict[str, str]
    shots: Path


@pytest.fixture
def live(db_url: str, tmp_path: Path) -> Iterator[Live]:
    """The app on `db_url` with tenants water (config/) and coffee, served on a free port."""
    settings = Settings(tmp_path / "data", db_url, None, "e2e-secret-key-long-enough-for-jwt-hmac")
    app = create_app(settings, FAB_PASSWORD_HASH_METHOD="pbkdf2:sha256:1000",
                     SSE_KEEPALIVE_SECONDS=1.0, CALLBOARD_CLOCK=lambda: OPEN_HOURS)
    p = app.extensions["callboard"]
    schema.upgrade(p.engine)
    p.store.create("water", None, BundleSource.from_dir(ROOT / "config"))
    p.store.create("coffee", None, BundleSource.from_dir(ROOT / "templates" / "coffee_chain"))
    emails = {}
    for name, role, team, ext in (("admin", "admin", None, "100"),
                                  ("agent", "agent", "a", "101"),
                                  ("agent2", "agent", "a", "102"),
                                  ("supervisor", "supervisor", "a", "103")):
        emails[name] = f"{name}@water.test"
        create_user(app, "water", emails[name], PASSWORD, role, team=team, extension=ext,
                    name=name.capitalize(), department="support")
    create_user(app, "coffee", "agent@coffee.test", PASSWORD, "agent", team="a",
                extension="201")
    srv = create_server(app, host="127.0.0.1", port=0, threads=16)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    shots = Path(os.environ.get("CALLBOARD_SCREENSHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    yield Live(f"http://127.0.0.1:{srv.effective_port}", app, emails, shots)
    time.sleep(0.3)
    srv.task_dispatcher.shutdown(timeout=5)
    srv.close()
    stop_ticker(app)  # its clock thread would tick on against a dropped database
    p.engine.dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    exe = chromium_path()
    if exe is None:
        need("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        yield b
        b.close()


def sign_in(page: Any, base: str, email: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("#username", email)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(f"{base}/ui/**")


@pytest.fixture
def open_page(browser: Any, live: Live) -> Iterator[Any]:
    """open_page(who, viewport) -> a page signed in as `who` (in English); closed after."""
    contexts: list[Any] = []

    def _open(who: str, viewport: dict[str, int]) -> Any:
        ctx = browser.new_context(viewport=viewport, locale="en-GB")
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(15_000)
        sign_in(page, live.url, live.emails.get(who, who))
        page.goto(f"{live.url}/ui/lang/en")
        return page

    yield _open
    for ctx in contexts:
        ctx.close()


@pytest.fixture
def shot(live: Live) -> Any:
    """shot(page, name): a screenshot into the run's screenshot folder."""
    return lambda page, name: page.screenshot(path=str(live.shots / f"{name}.png"))
