"""Web fixtures: the real Flask app on a real database, two tenants, every role in each.

`app` runs once on SQLite and once on PostgreSQL (through `db_url`). Tenant `water` comes
from config/, tenant `coffee` from templates/coffee_chain/. Both have the same cast:

    owner, admin                    no team
    supervisor, agent, agent2       team a
    agent_b                         team b

Their e-mails are `ROLE@SLUG.test` (`agent2@water.test`, `agent_b@coffee.test`…), all
with the password `PASSWORD`. `login(email)` returns the headers of a signed-in request.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from callboard.engine import schema
from callboard.engine.bundle import BundleSource
from callboard.engine.db import connect
from callboard.engine.settings import Settings
from callboard.web.app import create_app
from callboard.web.users import create_user

ROOT = Path(__file__).resolve().parents[2]
BUNDLES = {"water": ROOT / "config", "coffee": ROOT / "templates" / "coffee_chain"}
PASSWORD = "correct-horse-1"
API = "/api/v1"
# name -> (role, team)
CAST: dict[str, tuple[str, str | None]] = {
    "owner": ("owner", None),
    "admin": ("admin", None),
    "supervisor": ("supervisor", "a"),
    "agent": ("agent", "a"),
    "agent2": ("agent", "a"),
    "agent_b": ("agent", "b"),
}

def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tokens are signed with the short test key "test": PyJWT's key-length warning is
    expected here."""
    for item in items:
        if "integration" in str(item.path):
            item.add_marker(pytest.mark.filterwarnings(
                "ignore::jwt.warnings.InsecureKeyLengthWarning"))


@dataclass(frozen=True)
class User:
    id: int
    email: str
    role: str
    team: str | None
    tenant: str


def email(tenant: str, name: str) -> str:
    return f"{name}@{tenant}.test"


@pytest.fixture
def app(db_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The app on a migrated database with tenants `water` and `coffee`."""
    engine = connect(db_url)
    schema.upgrade(engine)
    engine.dispose()
    settings = Settings(data_dir=tmp_path / "data", database_url=db_url, redis_url=None,
                        secret_key="test")
    # A cheap password hash keeps a dozen logins per test fast; the code path is the real one.
    app = create_app(settings, TESTING=True, FAB_PASSWORD_HASH_METHOD="pbkdf2:sha256:1000")
    store = app.extensions["callboard"].store
    for slug, folder in BUNDLES.items():
        store.create(slug, None, BundleSource.from_dir(folder))
    yield app
    app.extensions["callboard"].engine.dispose()
    with app.app_context():
        ext = app.extensions.get("sqlalchemy")
        if ext is not None:
            ext.engine.dispose()


@pytest.fixture
def users(app: Flask) -> dict[str, dict[str, User]]:
    """users[tenant][name]: every role of CAST in both tenants."""
    out: dict[str, dict[str, User]] = {}
    for t, slug in enumerate(BUNDLES, start=1):
        out[slug] = {}
        for n, (name, (role, team)) in enumerate(CAST.items(), start=1):
            mail = email(slug, name)
            uid = create_user(app, slug, mail, PASSWORD, role, team=team,
                              extension=str(t * 100 + n))
            out[slug][name] = User(uid, mail, role, team, slug)
    return out


@pytest.fixture
def password() -> str:
    """The password of every user of `users`."""
    return PASSWORD


@pytest.fixture
def client(app: Flask, users: dict[str, dict[str, User]]) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def login(client: FlaskClient) -> Callable[[str], dict[str, str]]:
    """login(email) -> {"Authorization": "Bearer …"} (tokens cached per e-mail)."""
    tokens: dict[str, dict[str, str]] = {}

    def _login(mail: str) -> dict[str, str]:
        if mail not in tokens:
            r = client.post(f"{API}/security/login", json={
                "username": mail, "password": PASSWORD, "provider": "db"})
            assert r.status_code == 200, (mail, r.status_code, r.get_data(as_text=True))
            tokens[mail] = {"Authorization": f"Bearer {r.get_json()['access_token']}"}
        return tokens[mail]

    return _login


class Api:
    """Small conveniences over the test client: `api.as_("water", "agent").get(path)`."""

    def __init__(self, client: FlaskClient, login: Callable[[str], dict[str, str]],
                 tenant: str, name: str):
        self.client, self.headers = client, login(email(tenant, name))
        self.tenant, self.name = tenant, name

    def request(self, method: str, path: str, **kw: Any) -> Any:
        headers = {**self.headers, **kw.pop("headers", {})}
        return self.client.open(API + path, method=method, headers=headers, **kw)

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.request("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> Any:
        return self.request("PATCH", path, **kw)

    def put(self, path: str, **kw: Any) -> Any:
        return self.request("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)


@pytest.fixture
def as_(client: FlaskClient, login: Callable[[str], dict[str, str]]
        ) -> Callable[[str, str], Api]:
    """as_("water", "agent_b") -> an Api signed in as that user."""
    cache: dict[tuple[str, str], Api] = {}

    def _as(tenant: str, name: str) -> Api:
        if (tenant, name) not in cache:
            cache[(tenant, name)] = Api(client, login, tenant, name)
        return cache[(tenant, name)]

    return _as
