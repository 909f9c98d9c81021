"""Adversarial: one tenant's users poke at another tenant's records, and agents at each other's.

CONTRACT §4: a user sees only its tenant; another tenant's record is a 404, never a 403,
and answers exactly as a record that never existed. Inside a tenant: owner/admin see
everything, a supervisor sees records of its team's members or of nobody, an agent its own
or nobody's. The endpoint list comes from the app's url_map, so a new route that takes a
record id is attacked (or the test fails, asking for a sample request) without editing here.
"""
from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from werkzeug.routing import Rule

API = "/api/v1"
ROLES = ("owner", "admin", "supervisor", "agent", "agent2", "agent_b")  # conftest's cast
# One user per branch of the visibility rule (sees all / its team / its own) attacks.
ATTACKERS = ("owner", "supervisor", "agent")
ID_ARG = re.compile(r"<(?:int|id)(?:\([^)]*\))?:(\w+)>|<(?:[^:<>]+:)?(\w*id)>")
# Sample bodies for writes that need one (a route not listed here gets the default).
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PATCH", "/records/<entity>/<int:record_id>"): {"json": {"name": "pwned", "version": 1}},
    ("POST", "/records/<entity>/<int:record_id>/transitions/<name>"): {
        "json": {"comment": "pwned", "fields": {}}},
    ("POST", "/records/<entity>/<int:record_id>/attachments"): {
        "data": {"file": (io.BytesIO(b"pwned"), "x.txt")},
        "content_type": "multipart/form-data"},
}
DEFAULT_BODY: dict[str, Any] = {"json": {"comment": "pwned"}}


def ok(r: Any) -> Any:
    assert r.status_code in (200, 201), (r.status_code, r.get_data(as_text=True)[:500])
    return r.get_json()


def ids(page: dict[str, Any]) -> set[int]:
    return {item["id"] for item in page["items"]}


def id_routes(app: Flask) -> list[tuple[str, Rule]]:
    """(method, rule) of every API route whose path takes a record id."""
    out = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(API + "/") and ID_ARG.search(rule.rule):
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                out.append((method, rule))
    return out


def fill(rule: Rule, entity: str, record_id: int, other: str) -> str:
    """The rule's path with its arguments filled in."""
    values = {}
    for arg in rule.arguments:
        if arg == "entity":
            values[arg] = entity
        elif arg == "other":
            values[arg] = other
        elif arg.endswith("id"):
            values[arg] = record_id
        elif arg == "name":
            values[arg] = "start"
        else:
            values[arg] = "x"
    path = rule.rule
    for arg, value in values.items():
        path = re.sub(rf"<(?:[^:<>]+:)?{arg}>", str(value), path)
    assert "<" not in path, path
    return path


def request_kw(method: str, rule: Rule) -> dict[str, Any]:
    template = rule.rule[len(API):]
    if method in ("GET", "DELETE"):
        return {}
    kw = BODIES.get((method, template), DEFAULT_BODY)
    if "data" in kw and isinstance(kw["data"], dict):  # a fresh file object per request
        kw = {**kw, "data": {k: (io.BytesIO(v[0].getvalue()), v[1]) if isinstance(v, tuple)
                             else v for k, v in kw["data"].items()}}
    return kw


@pytest.fixture
def water(as_: Any, users: dict) -> dict[str, Any]:
    """Records of tenant water, owned by different people, with links between them."""
    owner, agent, agent_b = as_("water", "owner"), as_("water", "agent"), as_("water", "agent_b")
    out: dict[str, Any] = {}
    out["a_customer"] = ok(agent.post("/records/customer", json={
        "name": "Secret Agent-A Customer", "phone": "0911000001", "email": "a@secret.vn",
        "account_no": "10000000001"}))
    out["b_customer"] = ok(agent_b.post("/records/customer", json={
        "name": "Secret Agent-B Customer", "phone": "0911000002", "email": "b@secret.vn"}))
    out["pool_customer"] = ok(owner.post("/records/customer", json={
        "name": "Secret Pool Customer", "phone": "0911000003"}))
    out["a_contact"] = ok(agent.post("/records/contact", json={
        "name": "Secret Contact", "phone": "0911000004", "customer": out["a_customer"]["id"]}))
    out["a_note"] = ok(agent.post("/records/note", json={
        "body": "Secret note body", "record": {"entity": "customer",
                                               "id": out["a_customer"]["id"]}}))
    out["contract"] = ok(owner.post("/records/contract", json={
        "code": "SECRET-1", "name": "Secret contract", "customer": out["a_customer"]["id"],
        "owner": users["water"]["agent"].id}))
    ok(agent.post("/saved-filters", json={"entity": "customer", "name": "Secret filter",
                                          "filters": {"district": "quan_1"}, "shared": True}))
    return out


def secrets(water: dict[str, Any], tenant_wide: bool) -> Iterator[str]:
    """Strings that must never appear in an answer to a user who may not see them."""
    for rec in water.values():
        for key in ("name", "phone", "email", "body", "code", "title", "account_no"):
            if isinstance(rec.get(key), str) and len(rec[key]) > 3:
                yield rec[key]
    if tenant_wide:  # every test record of water is named "Secret …"
        yield "Secret"
        yield "secret.vn"


def assert_no_leak(r: Any, water: dict[str, Any], where: str, *,
                   tenant_wide: bool = True) -> None:
    text = r.get_data(as_text=True)
    for secret in secrets(water, tenant_wide):
        assert secret not in text, (where, secret, text[:300])


def not_found_body(r: Any, record_id: int) -> str:
    """The answer's body with the id masked, to compare with a never-existing id's."""
    return r.get_data(as_text=True).replace(str(record_id), "ID")


# -- another tenant ------------------------------------------------------------------------

def test_every_id_route_is_404_for_another_tenant(app: Flask, as_: Any, water: dict,
                                                  users: dict) -> None:
    routes = id_routes(app)
    assert len(routes) >= 6, [r.rule for _, r in routes]
    before = {k: ok(as_("water", "owner").get(f"/records/{v['entity']}/{v['id']}"))
              for k, v in water.items()}
    missing = 10**9 + 7  # an id no tenant has
    exercised: set[tuple[str, str]] = set()
    for name in ATTACKERS:
        api = as_("coffee", name)
        for method, rule in routes:
            for key, rec in water.items():
                # the record's own entity, and the same entity name as the attacker's own
                for entity in {rec["entity"], "customer"}:
                    path = fill(rule, entity, rec["id"], other="contact")
                    r = api.request(method, path[len(API):], **request_kw(method, rule))
                    where = f"coffee {name}: {method} {path} ({key})"
                    assert r.status_code == 404, (where, r.status_code,
                                                  r.get_data(as_text=True)[:300])
                    body = r.get_json(silent=True)
                    assert isinstance(body, dict) and isinstance(body.get("errors"), dict), where
                    assert_no_leak(r, water, where)
                    # exactly what a record that never existed answers: no oracle
                    path2 = fill(rule, entity, missing, other="contact")
                    r2 = api.request(method, path2[len(API):], **request_kw(method, rule))
                    assert r2.status_code == 404, (where, "never-existing id", r2.status_code)
                    assert not_found_body(r, rec["id"]) == not_found_body(r2, missing), where
                    exercised.add((method, rule.rule))
    every = {(m, r.rule) for m, r in routes}
    assert exercised == every, f"id routes not attacked: {sorted(every - exercised)}"
    assert any("<int:record_id>" in rule for _, rule in every)
    # and nothing changed in water
    for k, v in water.items():
        assert ok(as_("water", "owner").get(f"/records/{v['entity']}/{v['id']}")) == before[k]


def test_route_list_has_every_record_id_route(app: Flask) -> None:
    """Guard the guard: each `<int:record_id>` route is in the list the attack walks."""
    listed = {r.rule for _, r in id_routes(app)}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(API + "/") and (
                "record_id" in rule.arguments or "<int:" in rule.rule):
            assert rule.rule in listed, rule.rule


def test_lists_and_search_never_cross_tenants(as_: Any, water: dict, users: dict) -> None:
    a = water["a_customer"]
    for name in ATTACKERS:
        api = as_("coffee", name)
        queries: list[dict[str, Any]] = [
            {}, {"q": "Secret"}, {"q": "0911000001"}, {"q": "+84911000001"},
            {"q": "10000000001"}, {"phone": "0911000001"}, {"email": "a@secret.vn"},
            {"id": str(a["id"])}, {"id__in": ",".join(str(v["id"]) for v in water.values())},
            {"id__gte": "1"}, {"name__contains": "Secret"}, {"title__startswith": "Secret"},
            {"owner": str(users["water"]["agent"].id)}, {"created_by__isnull": "false"},
            {"per_page": "500"}, {"sort": "-id"},
        ]
        for entity in ("customer", "contact", "note"):
            for query in queries:
                r = api.get(f"/records/{entity}", query_string=query)
                if r.status_code == 422:  # a filter this entity has not; still no data
                    assert_no_leak(r, water, f"{name} {entity} {query}")
                    continue
                page = ok(r)
                assert page["items"] == [] and page["total"] == 0, (name, entity, query, page)
                assert_no_leak(r, water, f"{name} {entity} {query}")
        r = api.get("/saved-filters")
        assert ok(r)["items"] == [] and "Secret" not in r.get_data(as_text=True)
        r = api.get("/saved-filters", query_string={"entity": "customer"})
        assert ok(r)["items"] == []


def test_another_tenants_ids_cannot_be_linked_or_probed(as_: Any, water: dict) -> None:
    """Writing a link to another tenant's record fails exactly like a link to nothing."""
    api = as_("coffee", "owner")
    a = water["a_customer"]
    missing = 10**9 + 7
    for body in ({"name": "Probe", "customer": "{id}"},):
        answers = []
        for rid in (a["id"], missing):
            values = {k: (rid if v == "{id}" else v) for k, v in body.items()}
            r = api.post("/records/contact", json=values)
            assert r.status_code == 422, r.get_data(as_text=True)
            answers.append(r.get_data(as_text=True).replace(str(rid), "ID"))
        assert answers[0] == answers[1]
    answers = []
    for rid in (a["id"], missing):
        r = api.post("/records/note", json={"body": "probe",
                                            "record": {"entity": "customer", "id": rid}})
        assert r.status_code == 422
        answers.append(r.get_data(as_text=True).replace(str(rid), "ID"))
    assert answers[0] == answers[1]
    # a tenant's unique keys are its own: the same phone is free in coffee
    mine = ok(api.post("/records/customer", json={"name": "Same phone", "phone": "0911000001"}))
    assert mine["phone"] == a["phone"]
    assert ids(ok(api.get("/records/customer", query_string={"phone": "0911000001"}))) \
        == {mine["id"]}
    # and water still has exactly its own
    assert ids(ok(as_("water", "owner").get("/records/customer",
                                             query_string={"phone": "0911000001"}))) == {a["id"]}


def test_nothing_in_the_request_switches_tenants(as_: Any, water: dict) -> None:
    api = as_("coffee", "owner")
    a = water["a_customer"]
    tricks: list[dict[str, Any]] = [
        {"headers": {"X-Tenant": "water", "X-Tenant-Id": "1"}},
        {"query_string": {"tenant": "water", "tenant_id": "1"}},
        {"headers": {"Host": "water.example.com"}},
    ]
    for kw in tricks:
        r = api.get(f"/records/customer/{a['id']}", **kw)
        assert r.status_code == 404, kw
        r = api.get("/records/customer", **kw)
        if "query_string" in kw:  # tenant, tenant_id: not fields, so 422
            assert r.status_code == 422 and set(r.get_json()["errors"]) == {"tenant",
                                                                             "tenant_id"}
        else:
            assert ok(r)["total"] == 0
    r = api.post("/records/customer", json={"name": "Sneaky", "phone": "0912999999",
                                            "tenant_id": 1, "tenant": "water"})
    assert r.status_code == 422 and set(r.get_json()["errors"]) == {"tenant_id", "tenant"}
    assert ok(as_("water", "owner").get("/records/customer",
                                         query_string={"phone": "0912999999"}))["total"] == 0


def test_users_never_lists_another_tenants_users(as_: Any, users: dict) -> None:
    for tenant, other in (("water", "coffee"), ("coffee", "water")):
        for name in ROLES:
            api = as_(tenant, name)
            queries: list[dict[str, str]] = [
                {}, {"role": "agent"}, {"role": "owner"}, {"team": "a"}, {"team": "b"},
                {"email": users[other]["owner"].email},
                {"email": users[other]["agent"].email.upper()},
                {"extension": "101"}, {"extension": "201"},
            ]
            for query in queries:
                r = api.get("/users", query_string=query)
                page = ok(r)
                assert f"@{other}.test" not in r.get_data(as_text=True), (tenant, name, query)
                assert {u["id"] for u in page["items"]} <= {
                    u.id for u in users[tenant].values()}


def test_fab_user_screens_do_not_list_other_tenants(app: Flask, users: dict,
                                                    password: str) -> None:
    """Flask-AppBuilder's own user/role screens are for platform admins only: a tenant's
    owner signed in with a session cookie sees no one there."""
    client = app.test_client()
    form = client.get("/login/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form)
    r = client.post("/login/", data={"username": users["coffee"]["owner"].email,
                                     "password": password,
                                     "csrf_token": token.group(1) if token else ""})
    assert r.status_code == 302
    # signed in: the API answers for coffee through the session, and only for coffee
    assert client.get(f"{API}/records/customer").status_code == 200
    emails = {u["email"] for u in client.get(f"{API}/users").get_json()["items"]}
    assert emails == {u.email for u in users["coffee"].values()}
    for path in ("/users/list/", "/users/show/1", f"/users/show/{users['water']['owner'].id}",
                 "/users/edit/1", "/users/add", "/roles/list/", "/groups/list/",
                 "/permissions/list/", "/userstatschartview/chart/", f"{API}/menu/",
                 f"{API}/security/users/"):
        r = client.get(path)
        assert r.status_code in (302, 401, 403, 404), (path, r.status_code)
        assert "@water.test" not in r.get_data(as_text=True), path


def test_admin_config_is_per_tenant(as_: Any) -> None:
    w_owner, c_owner = as_("water", "owner"), as_("coffee", "owner")
    w = ok(w_owner.get("/admin/config"))
    c = ok(c_owner.get("/admin/config"))
    assert "entities/contract.yaml" in w["files"] and "entities/contract.yaml" not in c["files"]
    assert "entities/store.yaml" in c["files"] and "entities/store.yaml" not in w["files"]
    assert w["files"]["entities/customer.yaml"] != c["files"]["entities/customer.yaml"]
    assert "Demo Water" not in json.dumps(c)
    # coffee changes its customer: water is untouched
    text = c["files"]["entities/customer.yaml"]
    new = text.replace("\nfields:\n", "\nfields:\n  coffee_only:\n    type: text\n", 1)
    assert ok(c_owner.put("/admin/config/entity/customer", data=new,
                          content_type="application/yaml"))["version"] == c["version"] + 1
    assert ok(w_owner.get("/admin/config")) == w
    assert "coffee_only" not in {f["name"] for f in
                                 ok(w_owner.get("/meta/entities/customer"))["fields"]}
    assert "coffee_only" in {f["name"] for f in
                             ok(c_owner.get("/meta/entities/customer"))["fields"]}
    # coffee cannot delete or write files of water by naming them
    r = c_owner.delete("/admin/config/entity/contract")
    assert r.status_code in (404, 422)
    assert ok(w_owner.get("/admin/config")) == w
    # config of tenants with the same slug-like names stays apart
    assert ok(as_("coffee", "admin").get("/admin/config"))["version"] == c["version"] + 1


# -- inside one tenant: who sees what ------------------------------------------------------

VISIBLE = {
    # record -> the water users who may see it (CONTRACT §4)
    "a_customer": {"owner", "admin", "supervisor", "agent"},
    "b_customer": {"owner", "admin", "agent_b"},
    "pool_customer": set(ROLES),
    "a_contact": {"owner", "admin", "supervisor", "agent"},
    "a_note": {"owner", "admin", "supervisor", "agent"},
    "contract": {"owner", "admin", "supervisor", "agent"},
}


def test_role_visibility_inside_a_tenant(app: Flask, as_: Any, water: dict) -> None:
    for key, rec in water.items():
        for name in ROLES:
            api = as_("water", name)
            path = f"/records/{rec['entity']}/{rec['id']}"
            r = api.get(path)
            if name in VISIBLE[key]:
                assert ok(r)["id"] == rec["id"], (name, key)
                assert rec["id"] in ids(ok(api.get(f"/records/{rec['entity']}"))), (name, key)
                assert ok(api.get(path + "/activity"))["items"], (name, key)
            else:
                assert r.status_code == 404, (name, key, r.status_code)
                assert_no_leak(r, {key: rec}, f"{name} GET {key}", tenant_wide=False)
                listed = api.get(f"/records/{rec['entity']}", query_string={"per_page": 500})
                assert rec["id"] not in ids(ok(listed)), (name, key)
                assert_no_leak(listed, {key: rec}, f"{name} list {key}", tenant_wide=False)
                for method, rule in id_routes(app):
                    p = fill(rule, rec["entity"], rec["id"], other="contact")
                    r = api.request(method, p[len(API):], **request_kw(method, rule))
                    assert r.status_code == 404, (name, key, method, p, r.status_code)
                    assert_no_leak(r, {key: rec}, f"{name} {method} {p}", tenant_wide=False)
    # nothing was changed by the refused requests
    for rec in water.values():
        now = ok(as_("water", "owner").get(f"/records/{rec['entity']}/{rec['id']}"))
        assert now["version"] == rec["version"] and now["owner"] == rec["owner"]


def test_related_lists_and_search_follow_visibility(as_: Any, water: dict,
                                                    users: dict) -> None:
    a = water["a_customer"]
    owner = as_("water", "owner")
    hidden = ok(owner.post("/records/contact", json={
        "name": "Hidden contact of A", "customer": a["id"],
        "owner": users["water"]["agent_b"].id}))
    sup = as_("water", "supervisor")
    # the supervisor of team a sees A's customer, but not agent_b's contact in its related list
    assert ids(ok(sup.get(f"/records/customer/{a['id']}/related/contact"))) \
        == {water["a_contact"]["id"]}
    assert ids(ok(owner.get(f"/records/customer/{a['id']}/related/contact"))) \
        == {water["a_contact"]["id"], hidden["id"]}
    # agent_b owns the hidden contact but cannot reach it through A's customer
    assert as_("water", "agent_b").get(
        f"/records/customer/{a['id']}/related/contact").status_code == 404
    for name, should in (("agent_b", False), ("agent2", False), ("supervisor", True),
                         ("agent", True), ("admin", True)):
        api = as_("water", name)
        for query in ({"q": "Agent-A"}, {"q": "0911000001"}, {"phone": "0911000001"},
                      {"account_no": "10000000001"}, {"id": str(a["id"])}):
            found = a["id"] in ids(ok(api.get("/records/customer", query_string=query)))
            assert found == should, (name, query)


def test_claim_and_delete_rules(as_: Any, water: dict, users: dict) -> None:
    pool, a = water["pool_customer"], water["a_customer"]
    agent_b = as_("water", "agent_b")
    # agent_b may not claim or delete what it cannot see: 404, and nothing changes
    for r in (agent_b.post(f"/records/customer/{a['id']}/claim"),
              agent_b.delete(f"/records/customer/{a['id']}"),
              agent_b.patch(f"/records/customer/{a['id']}", json={"owner": None})):
        assert r.status_code == 404
    # an agent may not steal through PATCH either
    r = agent_b.patch(f"/records/customer/{pool['id']}",
                      json={"owner": users["water"]["agent_b"].id})
    assert r.status_code == 422 and "owner" in r.get_json()["errors"]
    claimed = ok(agent_b.post(f"/records/customer/{pool['id']}/claim"))
    assert claimed["owner"] == users["water"]["agent_b"].id
    # now it is agent_b's: agent and the team-a supervisor lose sight of it
    assert as_("water", "agent").get(f"/records/customer/{pool['id']}").status_code == 404
    assert as_("water", "supervisor").get(f"/records/customer/{pool['id']}").status_code == 404
    assert ok(as_("water", "admin").get(f"/records/customer/{pool['id']}"))["owner"] \
        == users["water"]["agent_b"].id
    # the supervisor manages its team's records: it may delete A's customer
    assert as_("water", "supervisor").delete(f"/records/customer/{a['id']}").status_code == 204
    assert as_("water", "owner").get(f"/records/customer/{a['id']}").status_code == 404
