"""The screens over HTTP (no browser): sign-in, tenant isolation and roles on every page,
CSRF on cookie-authenticated writes, tenant-limited user administration, the custom-field
form's YAML, languages."""
from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
PAGE_CSRF = re.compile(r'"csrf": "([^"]+)"')


def email(tenant: str, name: str) -> str:
    return f"{name}@{tenant}.test"


@pytest.fixture
def browser(app: Flask, users: Any, password: str) -> Any:
    """browser(e-mail): a client signed in through the login page (session cookie)."""

    def _signed_in(mail: str) -> FlaskClient:
        c = app.test_client()
        token = CSRF.search(c.get("/login/").get_data(as_text=True)).group(1)
        r = c.post("/login/", data={"username": mail, "password": password,
                                    "csrf_token": token})
        assert r.status_code == 302 and "/login" not in r.headers["Location"], r.status_code
        return c

    return _signed_in


def page_token(c: FlaskClient, path: str = "/ui/") -> str:
    return PAGE_CSRF.search(c.get(path).get_data(as_text=True)).group(1)


def test_home_login_and_pages(app: Flask, browser: Any) -> None:
    anon = app.test_client()
    assert anon.get("/").headers["Location"].endswith("/login/")
    assert anon.get("/ui/r/customer").status_code == 302
    assert anon.get("/api/v1/openapi.json").status_code == 200
    c = browser(email("water", "agent"))
    assert c.get("/").headers["Location"].endswith("/ui/")
    for path in ("/ui/", "/ui/r/customer", "/ui/r/ticket?view=mine", "/ui/r/customer/new",
                 "/ui/r/ticket/new", "/ui/r/contract", "/ui/import"):
        r = c.get(path)
        assert r.status_code == 200, path
        assert 'id="nav-customer"' in r.get_data(as_text=True)
    # menus come from the tenant's own entities: coffee has stores, water has contracts
    water = c.get("/ui/").get_data(as_text=True)
    coffee = browser(email("coffee", "agent")).get("/ui/").get_data(as_text=True)
    assert 'id="nav-contract"' in water and 'id="nav-contract"' not in coffee
    assert 'id="nav-store"' in coffee and 'id="nav-store"' not in water
    assert 'id="nav-admin"' not in water  # agents get no admin menu


def test_every_entity_of_every_tenant_has_its_screens(app: Flask, browser: Any) -> None:
    for slug in ("water", "coffee"):
        c = browser(email(slug, "admin"))
        for name in app.extensions["callboard"].store.get(slug).model.entities:
            for path in (f"/ui/r/{name}", f"/ui/r/{name}/new", f"/ui/admin/fields/{name}"):
                assert c.get(path).status_code == 200, (slug, path)


def test_isolation_and_roles(app: Flask, browser: Any, as_: Any, users: Any) -> None:
    theirs = as_("coffee", "agent").post("/records/customer", json={
        "name": "Other tenant", "phone": "0912000111"}).get_json()["id"]
    mine = as_("water", "agent2").post("/records/customer", json={
        "name": "Agent two's", "phone": "0912000222", "customer_type": "residential"}
    ).get_json()["id"]
    agent = browser(email("water", "agent"))
    assert agent.get(f"/ui/r/customer/{theirs}").status_code == 404      # another tenant
    assert agent.get(f"/ui/r/customer/{mine}").status_code == 404        # another agent's
    assert agent.get(f"/ui/r/customer/{mine}/edit").status_code == 404
    assert agent.get("/ui/r/no_such_thing").status_code == 404
    assert agent.get("/ui/admin/users").status_code == 403
    assert agent.get("/ui/admin/fields/customer").status_code == 403
    sup = browser(email("water", "supervisor"))
    assert sup.get(f"/ui/r/customer/{mine}").status_code == 200         # team a's record
    # an admin of water cannot touch a member of coffee
    admin = browser(email("water", "admin"))
    token = page_token(admin)
    other = users["coffee"]["agent"].id
    r = admin.post(f"/ui/admin/users/{other}", data={"csrf_token": token,
                                                     "action": "deactivate"})
    assert r.status_code == 404, r.get_data(as_text=True)[-1500:]
    assert app.extensions["callboard"].store.member(other)["active"] is True
    listing = admin.get("/ui/admin/users").get_data(as_text=True)
    assert "agent@water.test" in listing and "coffee.test" not in listing


def test_cookie_writes_need_the_csrf_token(app: Flask, browser: Any, login: Any) -> None:
    c = browser(email("water", "agent"))
    body = {"name": "Lê Văn Bình", "phone": "0913000333", "customer_type": "residential"}
    r = c.post("/api/v1/records/customer", json=body)
    assert r.status_code == 403 and "errors" in r.get_json()
    r = c.post("/api/v1/records/customer", json=body, headers={"X-CSRFToken": "forged"})
    assert r.status_code == 403
    r = c.post("/api/v1/records/customer", json=body, headers={"X-CSRFToken": page_token(c)})
    assert r.status_code == 201, r.get_json()
    assert c.get("/api/v1/records/customer").status_code == 200          # reads need none
    # a bearer token needs no CSRF token: no browser sends it by itself
    r = app.test_client().post("/api/v1/records/customer", headers=login(
        email("water", "agent")), json={**body, "phone": "0913000444"})
    assert r.status_code == 201


def test_user_administration(app: Flask, browser: Any, password: str) -> None:
    admin = browser(email("water", "admin"))
    token = page_token(admin, "/ui/admin/users")
    form = {"csrf_token": token, "email": "new.agent@water.test", "name": "Ngô Thị Hoa",
            "password": password, "role": "agent", "team": "a", "department": "support",
            "extension": "150"}
    r = admin.post("/ui/admin/users", data=form)
    assert r.status_code == 302
    store = app.extensions["callboard"].store
    water = store.get("water")
    new = store.members(water.id, email="new.agent@water.test")[0]
    assert (new["role"], new["team"], new["extension"]) == ("agent", "a", "150")
    assert browser("new.agent@water.test").get("/ui/").status_code == 200
    # bad input comes back as the form with the messages, not a traceback
    r = admin.post("/ui/admin/users", data={**form, "email": "not-an-address",
                                            "password": "short"})
    assert r.status_code == 422
    text = r.get_data(as_text=True)
    assert "is not an e-mail address" in text and "at least 8 characters" in text
    r = admin.post("/ui/admin/users", data={**form, "email": "boss@water.test",
                                            "role": "owner"})
    assert r.status_code == 422                                         # admins make no owner
    r = admin.post("/ui/admin/users", data={**form, "csrf_token": "forged"})
    assert r.status_code == 403
    # role change, then deactivation: that login no longer works
    admin.post(f"/ui/admin/users/{new['user_id']}", data={
        "csrf_token": token, "action": "update", "role": "supervisor", "team": "b",
        "extension": "151", "department": "billing"})
    changed = store.member(new["user_id"])
    assert (changed["role"], changed["team"], changed["extension"], changed["department"]) \
        == ("supervisor", "b", "151", "billing")
    r = admin.post(f"/ui/admin/users/{new['user_id']}", data={
        "csrf_token": token, "action": "update", "role": "agent", "department": "nowhere"})
    assert store.member(new["user_id"])["role"] == "supervisor"        # refused as a whole
    assert "nowhere" in admin.get(r.headers["Location"]).get_data(as_text=True)
    admin.post(f"/ui/admin/users/{new['user_id']}", data={"csrf_token": token,
                                                          "action": "deactivate"})
    assert store.member(new["user_id"])["active"] is False
    c = app.test_client()
    login_token = CSRF.search(c.get("/login/").get_data(as_text=True)).group(1)
    r = c.post("/login/", data={"username": "new.agent@water.test", "password": password,
                                "csrf_token": login_token})
    assert "/login/" in r.headers["Location"]                         # refused


def test_custom_field_form(app: Flask, browser: Any, as_: Any) -> None:
    admin = browser(email("water", "admin"))
    headers = {"X-CSRFToken": page_token(admin)}
    r = admin.post("/ui/admin/fields/customer/yaml", headers=headers,
                   json={"name": "Bad Name", "type": "nope"})
    assert r.status_code == 422
    assert set(r.get_json()["errors"]) == {"name", "type"}
    r = admin.post("/ui/admin/fields/customer/yaml", headers=headers, json={
        "name": "contract_kind", "type": "select", "options": "a = Type A\nb",
        "label": {"en": "Contract kind", "vi": "Loại hợp đồng"}, "column": True,
        "filter": True, "section": "1", "visible_if": "customer_type == 'business'"})
    assert r.status_code == 200
    text = r.get_json()["yaml"]
    assert "contract_kind: {type: select" in text and "# --- water account ---" in text
    r = admin.put("/api/v1/admin/config/entity/customer", data=text.encode(),
                  headers={**headers, "Content-Type": "application/yaml"})
    assert r.status_code == 200, r.get_json()
    meta = as_("water", "agent").get("/meta/entities/customer?locale=vi").get_json()
    field = next(f for f in meta["fields"] if f["name"] == "contract_kind")
    assert field["label"] == "Loại hợp đồng" and "contract_kind" in meta["list"]["filters"]
    # the agent's form page carries the parsed condition for the browser
    page = browser(email("water", "agent")).get("/ui/r/customer/new").get_data(as_text=True)
    data = json.loads(re.search(r'id="cb-data">(.*?)</script>', page, re.S).group(1))
    tree = data["entity"]["expressions"]["customer_type == 'business'"]
    assert tree == {"k": "==", "c": [{"k": "name", "v": "customer_type"},
                                     {"k": "lit", "v": "business"}]}
    r = admin.post("/ui/admin/fields/nothing/yaml", headers=headers,
                   json={"name": "x", "type": "text"})
    assert r.status_code == 404 and "errors" in r.get_json()
    r = admin.post("/ui/admin/fields/customer/yaml", json={"name": "x", "type": "text"})
    assert r.status_code == 403                                          # no CSRF token


def test_language_choice(app: Flask, browser: Any) -> None:
    c = browser(email("water", "agent"))
    assert "Bàn làm việc" in c.get("/ui/").get_data(as_text=True)      # the tenant's own (vi)
    c.get("/ui/lang/zh")
    text = c.get("/ui/r/customer").get_data(as_text=True)
    assert "坐席台" in text and "客户" in text                            # shell and bundle labels
    c.get("/ui/lang/en")
    assert "Console" in c.get("/ui/").get_data(as_text=True)
    assert c.get("/ui/lang/xx").status_code == 404


def test_no_redirect_leaves_the_site(app: Flask, browser: Any) -> None:
    c = browser(email("water", "agent"))
    for bad in ("javascript:alert(1)", "//evil.test/x", "https://evil.test/", "/\\evil.test"):
        page = c.get("/ui/r/customer/new", query_string={"next": bad}).get_data(as_text=True)
        data = json.loads(re.search(r'id="cb-data">(.*?)</script>', page, re.S).group(1))
        assert data["next"] is None, bad
        r = c.get("/ui/lang/en", headers={"Referer": bad})
        assert r.headers["Location"] == "/", bad
    page = c.get("/ui/r/customer/new?next=/ui/r/ticket/1").get_data(as_text=True)
    assert '"next": "/ui/r/ticket/1"' in page
    r = c.get("/ui/lang/vi", headers={"Referer": "http://localhost/ui/r/customer?x=1"})
    assert r.headers["Location"] == "/ui/r/customer?x=1"
