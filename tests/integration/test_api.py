"""The HTTP API end to end (CONTRACT §4): a new tenant's users, from login to the change log.

Every test runs on SQLite and on PostgreSQL through the real app; nothing of ours is mocked.
"""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_jwt_extended import create_access_token

API = "/api/v1"
ROLES = ("owner", "admin", "supervisor", "agent", "agent2", "agent_b")  # conftest's cast


def email(tenant: str, name: str) -> str:
    return f"{name}@{tenant}.test"

LOCATED = re.compile(r"^entities/customer\.yaml:(\d+):(\d+): (\S+): (.+)$")


def errors_of(r: Any) -> dict[str, list[str]]:
    """The `{"errors": {field: [message, …]}}` body of an error answer, checked."""
    assert r.is_json, (r.status_code, r.get_data(as_text=True)[:300])
    body = r.get_json()
    assert isinstance(body, dict) and isinstance(body.get("errors"), dict), body
    for key, messages in body["errors"].items():
        assert isinstance(key, str)
        assert isinstance(messages, list) and messages, body
        assert all(isinstance(m, str) and m for m in messages), body
    return body["errors"]


def created(r: Any) -> dict[str, Any]:
    assert r.status_code == 201, (r.status_code, r.get_data(as_text=True)[:500])
    return r.get_json()


def ok(r: Any) -> Any:
    assert r.status_code == 200, (r.status_code, r.get_data(as_text=True)[:500])
    return r.get_json()


def ids(page: dict[str, Any]) -> list[int]:
    return [item["id"] for item in page["items"]]


# -- login and metadata --------------------------------------------------------------------

def test_every_role_logs_in_and_reads_the_metadata(client: FlaskClient, as_: Any,
                                                   users: dict) -> None:
    for tenant in ("water", "coffee"):
        for name in ROLES:
            api = as_(tenant, name)
            entities = ok(api.get("/meta/entities"))
            names = {e["name"] for e in entities["items"]}
            assert {"customer", "contact", "ticket", "note"} <= names
            assert ("contract" in names) == (tenant == "water")
            assert ("store" in names) == (tenant == "coffee")
            meta = ok(api.get("/meta/entities/customer"))
            assert meta["name"] == "customer"
            fields = {f["name"]: f for f in meta["fields"]}
            assert fields["phone"]["type"] == "phone"
            assert {"name", "email", "company", "priority", "source"} <= set(fields)
            assert {"list", "form"} <= set(meta)
            assert "owner" in meta["list"]["filters"]   # a built-in column, not in "fields"
            assert errors_of(api.get("/meta/entities/no_such_thing"))
            assert api.get("/meta/entities/no_such_thing").status_code == 404
    who = ok(as_("water", "agent").get("/users", query_string={"email": email("water", "agent")}))
    assert [u["id"] for u in who["items"]] == [users["water"]["agent"].id]


def test_login_failures_answer_json(client: FlaskClient, users: dict, password: str) -> None:
    cases = [
        {"username": email("water", "agent"), "password": "wrong-password", "provider": "db"},
        {"username": "nobody@nowhere.test", "password": password, "provider": "db"},
        {"username": email("water", "agent")},
        {},
    ]
    for body in cases:
        r = client.post(f"{API}/security/login", json=body)
        assert r.status_code in (400, 401, 422), (body, r.status_code)
        assert errors_of(r)
    r = client.post(f"{API}/security/login", data="{not json", content_type="application/json")
    assert 400 <= r.status_code < 500 and errors_of(r)


def test_a_new_user_can_log_in_at_once(app: Flask, client: FlaskClient, users: dict,
                                       password: str) -> None:
    from callboard.web.users import create_user

    uid = create_user(app, "water", "Newbie@Water.test", password, "agent", team="b",
                      extension="199")
    r = client.post(f"{API}/security/login", json={"username": "newbie@water.test",
                                                   "password": password, "provider": "db"})
    headers = {"Authorization": f"Bearer {ok(r)['access_token']}"}
    mine = created(client.post(f"{API}/records/customer", headers=headers,
                          json={"name": "First of the newbie", "phone": "0912000001"}))
    assert mine["owner"] == uid
    found = ok(client.get(f"{API}/users", headers=headers, query_string={"extension": "199"}))
    assert [(u["id"], u["email"], u["role"], u["team"]) for u in found["items"]] == [
        (uid, "newbie@water.test", "agent", "b")]


# -- the tenant admin adds a field -----------------------------------------------------------

def _with_field(text: str, block: str) -> str:
    """`text` (an entity file) with `block` inserted as the first entry under `fields:`."""
    assert "\nfields:\n" in text
    return text.replace("\nfields:\n", "\nfields:\n" + block, 1)


def test_owner_adds_a_custom_attribute_live(as_: Any) -> None:
    owner, agent = as_("water", "owner"), as_("water", "agent")
    config = ok(owner.get("/admin/config"))
    version = config["version"]
    assert set(config["files"]) >= {"tenant.yaml", "entities/customer.yaml"}
    text = config["files"]["entities/customer.yaml"]
    new = _with_field(text, "  loyalty_code:\n    type: text\n"
                            "    label: {en: Loyalty code, vi: Mã khách hàng thân thiết}\n"
                            "    max_length: 20\n")
    r = owner.put("/admin/config/entity/customer", data=new.encode(),
                  content_type="application/yaml")
    assert ok(r)["version"] == version + 1
    after = ok(owner.get("/admin/config"))
    assert after["version"] == version + 1
    assert after["files"]["entities/customer.yaml"] == new

    # in the metadata at once, for every user of the tenant
    for api in (owner, agent):
        fields = {f["name"]: f for f in ok(api.get("/meta/entities/customer"))["fields"]}
        assert fields["loyalty_code"]["type"] == "text"
        assert fields["loyalty_code"]["labels"]["en"] == "Loyalty code"

    # accepted, validated and filterable right away
    rec = created(agent.post("/records/customer", json={
        "name": "Nguyễn Văn Loyal", "phone": "0903000001", "loyalty_code": "GOLD-7"}))
    assert rec["loyalty_code"] == "GOLD-7"
    other = created(agent.post("/records/customer", json={
        "name": "Trần Thị Khác", "phone": "0903000002", "loyalty_code": "SILVER-1"}))
    assert ids(ok(agent.get("/records/customer", query_string={"loyalty_code": "GOLD-7"}))) \
        == [rec["id"]]
    assert ids(ok(agent.get("/records/customer",
                            query_string={"loyalty_code__startswith": "SIL"}))) == [other["id"]]
    assert set(ids(ok(agent.get("/records/customer",
                                query_string={"loyalty_code__in": "GOLD-7,SILVER-1"})))) \
        == {rec["id"], other["id"]}
    r = agent.post("/records/customer", json={"name": "Too long", "phone": "0903000003",
                                              "loyalty_code": "X" * 21})
    assert r.status_code == 422
    assert list(errors_of(r)) == ["loyalty_code"]
    changed = ok(agent.patch(f"/records/customer/{rec['id']}", json={"loyalty_code": "GOLD-8"}))
    assert changed["loyalty_code"] == "GOLD-8"

    # the other tenant never heard of it
    coffee = as_("coffee", "owner")
    names = {f["name"] for f in ok(coffee.get("/meta/entities/customer"))["fields"]}
    assert "loyalty_code" not in names
    r = coffee.get("/records/customer", query_string={"loyalty_code": "GOLD-8"})
    assert r.status_code == 422 and "loyalty_code" in errors_of(r)


BAD_FIELDS = {
    "unknown type": "  bogus:\n    type: dat\n",
    "system field retyped": "  priority:\n    type: text\n",
    "unknown key": "  tier:\n    type: text\n    colour: red\n",
    "bad expression": "  tier:\n    type: text\n    visible_if: \"nosuchfield == 'x'\"\n",
    "select without options": "  tier:\n    type: select\n",
}


@pytest.mark.parametrize("case", sorted(BAD_FIELDS))
def test_an_invalid_field_is_422_located_and_changes_nothing(as_: Any, case: str) -> None:
    owner = as_("water", "owner")
    before = ok(owner.get("/admin/config"))
    text = before["files"]["entities/customer.yaml"]
    bad = _with_field(text, BAD_FIELDS[case])
    first_line = text[:text.index("\nfields:\n")].count("\n") + 3  # the inserted block
    last_line = first_line + BAD_FIELDS[case].count("\n") - 1
    r = owner.put("/admin/config/entity/customer", data=bad, content_type="application/yaml")
    assert r.status_code == 422, r.get_data(as_text=True)[:500]
    messages = [m for ms in errors_of(r).values() for m in ms]
    ours = [LOCATED.match(m) for m in messages if m.startswith("entities/customer.yaml:")]
    assert ours and all(ours), messages
    assert any(first_line <= int(m.group(1)) <= last_line for m in ours), (
        case, first_line, last_line, messages)
    assert all(int(m.group(2)) >= 1 for m in ours)
    after = ok(owner.get("/admin/config"))
    assert after["version"] == before["version"]
    assert after["files"] == before["files"]
    assert "bogus" not in {f["name"] for f in ok(owner.get("/meta/entities/customer"))["fields"]}


@pytest.mark.parametrize("body", [
    "fields: [a, :\n",                          # YAML syntax
    "label: Customer\nlabel: Again\nfields: {}\n",  # duplicate key
    "- just\n- a list\n",                       # not a mapping
    "\tfields: {}\n",                           # tab indentation
])
def test_broken_yaml_is_422_located(as_: Any, body: str) -> None:
    owner = as_("water", "owner")
    version = ok(owner.get("/admin/config"))["version"]
    r = owner.put("/admin/config/entity/customer", data=body, content_type="application/yaml")
    assert r.status_code == 422
    messages = [m for ms in errors_of(r).values() for m in ms]
    assert any(LOCATED.match(m) for m in messages), messages
    assert ok(owner.get("/admin/config"))["version"] == version


def test_admin_config_is_for_owner_and_admin_only(as_: Any) -> None:
    text = ok(as_("water", "owner").get("/admin/config"))["files"]["entities/customer.yaml"]
    for name in ("supervisor", "agent", "agent_b"):
        api = as_("water", name)
        for r in (api.get("/admin/config"),
                  api.put("/admin/config/entity/customer", data=text,
                          content_type="application/yaml"),
                  api.delete("/admin/config/entity/order")):
            assert r.status_code == 403, (name, r.status_code)
            assert errors_of(r)
    admin = as_("water", "admin")
    version = ok(admin.get("/admin/config"))["version"]
    assert ok(admin.put("/admin/config/entity/customer", data=text,
                        content_type="application/yaml"))["version"] == version + 1


def test_admin_config_rejects_bad_names_and_bodies(as_: Any) -> None:
    owner = as_("water", "owner")
    version = ok(owner.get("/admin/config"))["version"]
    cases = [
        ("/admin/config/widget/customer", "label: x\n", 404),
        ("/admin/config/entity/Bad-Name", "label: x\n", 422),
        ("/admin/config/entity/customer", "", 422),
        ("/admin/config/entity/customer", "   \n", 422),
    ]
    for path, body, status in cases:
        r = owner.put(path, data=body, content_type="application/yaml")
        assert r.status_code == status, (path, body, r.status_code, r.get_data(as_text=True))
        assert errors_of(r)
    r = owner.put("/admin/config/entity/customer", data=b"\xff\xfe\x00bad",
                  content_type="application/yaml")
    assert 400 <= r.status_code < 500 and errors_of(r)
    # removing a file that others point at is refused the same way
    r = owner.delete("/admin/config/entity/customer")
    assert r.status_code == 422 and errors_of(r)
    assert ok(owner.get("/admin/config"))["version"] == version


# -- an agent's day with customers -----------------------------------------------------------

def test_agent_creates_filters_claims_and_edits_customers(as_: Any, users: dict) -> None:
    owner, agent, agent2 = as_("water", "owner"), as_("water", "agent"), as_("water", "agent2")
    me = users["water"]["agent"].id

    mine = created(agent.post("/records/customer", json={
        "name": "Lê Văn Một", "phone": "0904000001", "email": "Mot@Example.VN",
        "customer_type": "residential", "district": "quan_1", "priority": 3}))
    assert mine["owner"] == me and mine["created_by"] == me
    assert mine["entity"] == "customer" and mine["version"] == 1
    assert {"id", "created_at", "updated_at", "title"} <= set(mine)
    assert mine["phone"] == "+84904000001" and mine["priority"] == 3
    assert ok(agent.get(f"/records/customer/{mine['id']}")) == mine

    # an agent cannot give its records to someone else, but owner/admin name any owner
    r = agent.post("/records/customer", json={"name": "X", "phone": "0904000009",
                                              "owner": users["water"]["agent2"].id})
    assert r.status_code == 422 and "owner" in errors_of(r)
    pool = created(owner.post("/records/customer", json={
        "name": "Phạm Thị Chung", "phone": "0904000002", "district": "quan_3"}))
    assert pool["owner"] is None
    named = created(owner.post("/records/customer", json={
        "name": "Võ Văn Giao", "phone": "0904000003", "owner": email("water", "agent2")}))
    assert named["owner"] == users["water"]["agent2"].id

    # the agent's list: its own and the unowned, not agent2's
    listed = ok(agent.get("/records/customer"))
    assert set(ids(listed)) == {mine["id"], pool["id"]} and listed["total"] == 2
    assert ok(agent.get("/records/customer",
                        query_string={"district": "quan_1"}))["items"] == [mine]
    assert ids(ok(agent.get("/records/customer", query_string={"priority__gte": 2}))) \
        == [mine["id"]]
    assert ids(ok(agent.get("/records/customer", query_string={"owner": "me"}))) == [mine["id"]]
    assert ids(ok(agent.get("/records/customer", query_string={"owner__isnull": "true"}))) \
        == [pool["id"]]
    assert ids(ok(agent.get("/records/customer", query_string={"email": "mot@example.vn"}))) \
        == [mine["id"]]
    assert ids(ok(agent.get("/records/customer", query_string={"q": "Chung"}))) == [pool["id"]]
    assert ids(ok(agent.get("/records/customer", query_string={"sort": "name"}))) \
        == [mine["id"], pool["id"]]
    assert ids(ok(agent.get("/records/customer", query_string={"sort": "-name"}))) \
        == [pool["id"], mine["id"]]
    page = ok(agent.get("/records/customer", query_string={"per_page": 1, "page": 2,
                                                           "sort": "name"}))
    assert ids(page) == [pool["id"]] and page["total"] == 2
    assert agent.get(f"/records/customer/{named['id']}").status_code == 404

    # claim the unowned one; a second claim conflicts
    claimed = ok(agent.post(f"/records/customer/{pool['id']}/claim"))
    assert claimed["owner"] == me and claimed["version"] == pool["version"] + 1
    r = agent2.post(f"/records/customer/{pool['id']}/claim")
    assert r.status_code == 404  # now agent's: agent2 no longer sees it
    r = owner.post(f"/records/customer/{pool['id']}/claim")
    assert r.status_code == 409 and errors_of(r)

    # edit with the optimistic lock
    edited = ok(agent.patch(f"/records/customer/{pool['id']}",
                            json={"ward": "Phường 7", "version": claimed["version"]}))
    assert edited["ward"] == "Phường 7" and edited["version"] == claimed["version"] + 1
    r = agent.patch(f"/records/customer/{pool['id']}",
                    json={"ward": "Phường 8", "version": claimed["version"]})
    assert r.status_code == 409 and errors_of(r)
    assert ok(agent.get(f"/records/customer/{pool['id']}"))["ward"] == "Phường 7"
    for version in ("2", True, 1.5, [1]):
        r = agent.patch(f"/records/customer/{pool['id']}", json={"ward": "x", "version": version})
        assert r.status_code == 422 and "version" in errors_of(r), version

    # validation answers every field at once
    r = agent.patch(f"/records/customer/{pool['id']}", json={
        "priority": 9, "email": "not-an-email", "no_such_field": 1, "district": "atlantis"})
    assert r.status_code == 422
    assert set(errors_of(r)) == {"priority", "email", "no_such_field", "district"}
    r = agent.post("/records/customer", json={"phone": "not a phone"})
    assert r.status_code == 422 and {"name", "phone"} <= set(errors_of(r))
    r = agent.post("/records/customer", json={"name": "Biz", "phone": "0904000010",
                                              "customer_type": "business"})
    assert r.status_code == 422 and set(errors_of(r)) == {"tax_code"}  # required_if

    # soft delete: gone for everyone, everywhere
    assert agent.delete(f"/records/customer/{mine['id']}").status_code == 204
    for api in (agent, owner):
        assert api.get(f"/records/customer/{mine['id']}").status_code == 404
        assert mine["id"] not in ids(ok(api.get("/records/customer")))
        for r in (api.patch(f"/records/customer/{mine['id']}", json={"ward": "x"}),
                  api.delete(f"/records/customer/{mine['id']}"),
                  api.post(f"/records/customer/{mine['id']}/claim"),
                  api.get(f"/records/customer/{mine['id']}/activity"),
                  api.get(f"/records/customer/{mine['id']}/related/contact")):
            assert r.status_code == 404 and errors_of(r)
    # its phone is free again
    created(agent.post("/records/customer", json={"name": "Again", "phone": "0904000001"}))
    # an agent may not delete what it does not own
    r = agent.delete(f"/records/customer/{named['id']}")
    assert r.status_code == 404
    free = created(owner.post("/records/customer", json={"name": "Free", "phone": "0904000011"}))
    r = agent.delete(f"/records/customer/{free['id']}")
    assert r.status_code == 403 and errors_of(r)
    assert ok(owner.get(f"/records/customer/{free['id']}"))["id"] == free["id"]


def test_activity_is_newest_first(as_: Any, users: dict) -> None:
    owner, agent = as_("water", "owner"), as_("water", "agent")
    rec = created(owner.post("/records/customer", json={"name": "Log", "phone": "0905000001"}))
    agent.post(f"/records/customer/{rec['id']}/claim")
    ok(agent.patch(f"/records/customer/{rec['id']}", json={"ward": "Phường 1"}))
    ok(agent.patch(f"/records/customer/{rec['id']}", json={"ward": "Phường 2"}))
    log = ok(agent.get(f"/records/customer/{rec['id']}/activity"))["items"]
    assert [e["action"] for e in log] == ["update", "update", "claim", "create"]
    assert [e["id"] for e in log] == sorted((e["id"] for e in log), reverse=True)
    assert [e["at"] for e in log] == sorted((e["at"] for e in log), reverse=True)
    assert log[0]["changes"]["ward"] == ["Phường 1", "Phường 2"]
    assert log[0]["actor"] == users["water"]["agent"].id
    assert log[-1]["actor"] == users["water"]["owner"].id
    assert log[-1]["changes"]["name"] == [None, "Log"]


def test_related_lists(as_: Any, users: dict) -> None:
    owner, agent = as_("water", "owner"), as_("water", "agent")
    cust = created(agent.post("/records/customer", json={"name": "Rel", "phone": "0906000001"}))
    other = created(agent.post("/records/customer", json={"name": "Oth", "phone": "0906000002"}))
    contact = created(agent.post("/records/contact", json={
        "name": "Wife of Rel", "phone": "0906000003", "customer": cust["id"]}))
    created(agent.post("/records/contact", json={"name": "Unrelated", "customer": other["id"]}))
    hidden = created(owner.post("/records/contact", json={
        "name": "Agent_b's contact", "customer": cust["id"],
        "owner": users["water"]["agent_b"].id}))
    note = created(agent.post("/records/note", json={
        "body": "Called about the bill", "record": {"entity": "customer", "id": cust["id"]}}))
    contract = created(agent.post("/records/contract", json={
        "code": "HD-0001", "name": "Supply", "customer": cust["id"]}))

    page = ok(agent.get(f"/records/customer/{cust['id']}/related/contact"))
    assert ids(page) == [contact["id"]] and page["total"] == 1   # agent_b's is not visible
    assert set(ids(ok(owner.get(f"/records/customer/{cust['id']}/related/contact")))) \
        == {contact["id"], hidden["id"]}
    assert ids(ok(agent.get(f"/records/customer/{cust['id']}/related/note"))) == [note["id"]]
    assert ids(ok(agent.get(f"/records/customer/{cust['id']}/related/contract"))) \
        == [contract["id"]]
    assert ok(agent.get(f"/records/customer/{cust['id']}/related/ticket"))["items"] == []
    # related lists take the list filters of the other entity
    assert ids(ok(agent.get(f"/records/customer/{cust['id']}/related/contact",
                            query_string={"name__contains": "Wife"}))) == [contact["id"]]
    assert ok(agent.get(f"/records/customer/{cust['id']}/related/contact",
                        query_string={"name": "nobody"}))["total"] == 0
    r = agent.get(f"/records/customer/{cust['id']}/related/contact",
                  query_string={"bogus": "1"})
    assert r.status_code == 422 and "bogus" in errors_of(r)
    r = agent.get(f"/records/customer/{cust['id']}/related/no_such_entity")
    assert r.status_code == 404 and errors_of(r)


# -- users and saved filters -----------------------------------------------------------------

def test_users_lists_only_the_tenants_users(as_: Any, users: dict) -> None:
    for tenant in ("water", "coffee"):
        api = as_(tenant, "agent")
        page = ok(api.get("/users", query_string={"role": "agent"}))
        want = {u.id for u in users[tenant].values() if u.role == "agent"}
        assert {u["id"] for u in page["items"]} == want and page["total"] == len(want)
        for u in page["items"]:
            assert {"id", "email", "role", "team", "department", "extension"} <= set(u)
            assert u["role"] == "agent" and u["email"].endswith(f"@{tenant}.test")
            assert "password" not in u
        everyone = ok(api.get("/users"))
        assert {u["email"] for u in everyone["items"]} == {
            u.email for u in users[tenant].values()}
        team_a = ok(api.get("/users", query_string={"team": "a"}))
        assert {u["id"] for u in team_a["items"]} == {
            u.id for u in users[tenant].values() if u.team == "a"}
        assert ok(api.get("/users", query_string={"role": "nobody"}))["items"] == []


def test_saved_filters(as_: Any) -> None:
    agent, agent2, agent_b = as_("water", "agent"), as_("water", "agent2"), as_("water", "agent_b")
    mine = created(agent.post("/saved-filters", json={
        "entity": "customer", "name": "VIP in D1",
        "filters": {"priority__gte": 2, "district": "quan_1"}}))
    assert mine["entity"] == "customer" and mine["filters"]["district"] == "quan_1"
    shared = created(agent.post("/saved-filters", json={
        "entity": "customer", "name": "Team view", "filters": {"owner__isnull": "true"},
        "shared": True}))
    created(agent.post("/saved-filters", json={"entity": "contact", "name": "All"}))
    listed = ok(agent.get("/saved-filters", query_string={"entity": "customer"}))
    assert [f["id"] for f in listed["items"]] == [mine["id"], shared["id"]]
    assert [f["id"] for f in ok(agent2.get("/saved-filters"))["items"]] == [shared["id"]]
    assert ok(agent_b.get("/saved-filters"))["items"] == []   # another team

    bad = [
        ({"entity": "customer", "name": "x", "filters": {"bogus": 1}}, "bogus"),
        ({"entity": "customer", "name": "x", "filters": {"priority__near": 1}},
         "priority__near"),
        ({"entity": "customer", "name": "x", "filters": {"priority__gte": "lots"}}, None),
        ({"entity": "customer", "name": "x", "filters": {"phone": "not a phone"}}, None),
        ({"entity": "customer", "name": "x", "filters": {"sort": "bogus"}}, "sort"),
        ({"entity": "customer", "name": "x", "filters": ["priority"]}, "filters"),
        ({"entity": "customer", "name": "", "filters": {}}, "name"),
        ({"entity": "customer", "filters": {}}, "name"),
        ({"name": "x", "filters": {}}, "entity"),
        ({"entity": None, "name": "x"}, "entity"),
        ({"entity": ["customer"], "name": "x"}, "entity"),
    ]
    for body, field in bad:
        r = agent.post("/saved-filters", json=body)
        assert r.status_code == 422, (body, r.status_code, r.get_data(as_text=True))
        errs = errors_of(r)
        if field:
            assert field in errs, (body, errs)
    r = agent.post("/saved-filters", json={"entity": "no_such_entity", "name": "x"})
    assert r.status_code in (404, 422) and errors_of(r)
    assert len(ok(agent.get("/saved-filters"))["items"]) == 3


# -- phone numbers ---------------------------------------------------------------------------

def test_phone_numbers_match_in_every_spelling(as_: Any) -> None:
    agent = as_("water", "agent")
    rec = created(agent.post("/records/customer", json={"name": "Phone", "phone": "0901234567",
                                                        "phone2": "028 3829 1234"}))
    assert rec["phone"] == "+84901234567" and rec["phone2"] == "+842838291234"
    for spelling in ("0901234567", "090 123 4567", "+84901234567", "+84 90 123 45 67",
                     "090-123-4567", "0084901234567"):
        assert ids(ok(agent.get("/records/customer", query_string={"phone": spelling}))) \
            == [rec["id"]], spelling
        assert ids(ok(agent.get("/records/customer", query_string={"phone__in": spelling}))) \
            == [rec["id"]], spelling
    assert ids(ok(agent.get("/records/customer", query_string={"q": "0901234567"}))) \
        == [rec["id"]]
    assert ids(ok(agent.get("/records/customer", query_string={"phone2": "02838291234"}))) \
        == [rec["id"]]
    assert ok(agent.get("/records/customer", query_string={"phone": "0901234568"}))["total"] == 0
    for spelling in ("090 123 4567", "+84901234567"):
        r = agent.post("/records/customer", json={"name": "Dup", "phone": spelling})
        assert r.status_code == 422 and "phone" in errors_of(r), spelling
    r = agent.get("/records/customer", query_string={"phone": "call me"})
    assert r.status_code == 422 and "phone" in errors_of(r)


# -- bad requests: always a 4xx with a JSON body, never a 500 --------------------------------

BAD_REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/records/customer", {"data": "{not json", "content_type": "application/json"}),
    ("POST", "/records/customer", {"data": "", "content_type": "application/json"}),
    ("POST", "/records/customer", {"json": [{"name": "in a list"}]}),
    ("POST", "/records/customer", {"json": "just a string"}),
    ("POST", "/records/customer", {"json": None}),
    ("POST", "/records/customer", {"json": 42}),
    ("POST", "/records/customer", {"data": '{"name": "x"}', "content_type": "text/plain"}),
    ("POST", "/records/customer", {"data": "name=x&phone=0901", "content_type":
                                   "application/x-www-form-urlencoded"}),
    ("POST", "/records/customer", {"data": b"\xff\xfe{", "content_type": "application/json"}),
    ("POST", "/records/customer", {"json": {"name": {"nested": "object"}, "phone": [1, 2]}}),
    ("POST", "/records/customer", {"json": {"id": "x", "version": "y", "priority": "high"}}),
    ("POST", "/records/customer", {"json": {"company": {"id": "abc"}}}),
    ("POST", "/records/customer", {"json": {"company": -5}}),
    ("POST", "/records/customer", {"json": {"owner": {"x": 1}}}),
    ("POST", "/records/note", {"json": {"body": "x", "record": {"entity": "customer"}}}),
    ("POST", "/records/note", {"json": {"body": "x", "record": {"entity": 1, "id": 1}}}),
    ("POST", "/records/no_such_entity", {"json": {"name": "x"}}),
    ("PATCH", "/records/customer/{id}", {"data": "[1, 2]", "content_type": "application/json"}),
    ("PATCH", "/records/customer/{id}", {"data": "{", "content_type": "application/json"}),
    ("PATCH", "/records/customer/{id}", {"json": {"version": "1"}}),
    ("PATCH", "/records/customer/{id}", {"json": {"version": 99, "name": "x"}}),
    ("PATCH", "/records/customer/{id}", {"json": {"name": None}}),
    ("PUT", "/records/customer/{id}", {"json": {"name": "x"}}),
    ("GET", "/records/customer", {"query_string": {"per_page": "0"}}),
    ("GET", "/records/customer", {"query_string": {"per_page": "-5"}}),
    ("GET", "/records/customer", {"query_string": {"per_page": "lots"}}),
    ("GET", "/records/customer", {"query_string": {"page": "0"}}),
    ("GET", "/records/customer", {"query_string": {"page": "-1"}}),
    ("GET", "/records/customer", {"query_string": {"page": "1.5"}}),
    ("GET", "/records/customer", {"query_string": {"page": "abc"}}),
    ("GET", "/records/customer", {"query_string": {"sort": "-no_such_field"}}),
    ("GET", "/records/customer", {"query_string": {"no_such_field": "1"}}),
    ("GET", "/records/customer", {"query_string": {"priority__near": "1"}}),
    ("GET", "/records/customer", {"query_string": {"priority": "high"}}),
    ("GET", "/records/customer", {"query_string": {"priority__in": "1,x"}}),
    ("GET", "/records/customer", {"query_string": {"created_at__gt": "yesterday"}}),
    ("GET", "/records/customer", {"query_string": {"company": "abc"}}),
    ("GET", "/records/customer", {"query_string": {"owner__lt": "abc"}}),
    ("GET", "/records/customer", {"query_string": {"district": "atlantis"}}),
    ("GET", "/records/customer", {"query_string": {"id": "abc"}}),
    ("GET", "/records/no_such_entity", {}),
    ("GET", "/records/customer/abc", {}),
    ("GET", "/records/customer/1.5", {}),
    ("GET", "/records/customer/-1", {}),
    ("GET", "/records/customer/0", {}),
    ("GET", "/records/customer/99999999999999999999999999", {}),
    ("GET", "/records/customer/9223372036854775808", {}),
    ("PATCH", "/records/customer/99999999999999999999999999", {"json": {"name": "x"}}),
    ("DELETE", "/records/customer/99999999999999999999999999", {}),
    ("POST", "/records/customer/99999999999999999999999999/claim", {}),
    ("GET", "/records/customer/99999999999999999999999999/activity", {}),
    ("GET", "/records/customer/99999999999999999999999999/related/contact", {}),
    ("GET", "/records/customer/{id}/related/contact", {"query_string": {"page": "0"}}),
    ("GET", "/meta/entities/no_such_entity", {}),
    ("GET", "/meta/entities/%00", {}),
    ("GET", "/no/such/route", {}),
    ("DELETE", "/users", {}),
    ("POST", "/saved-filters", {"data": "[]", "content_type": "application/json"}),
    ("POST", "/saved-filters", {"data": "nope", "content_type": "text/plain"}),
    ("POST", "/saved-filters", {"json": {"entity": 5, "name": 5, "filters": 5}}),
    ("PUT", "/admin/config/entity/customer", {"data": "fields: [", "content_type": "text/yaml"}),
    ("PUT", "/admin/config/entity/x", {"data": "fields: {a: {type: link, entity: nowhere}}\n"}),
    ("PUT", "/admin/config/tenant", {"data": "name: [broken"}),
    ("PUT", "/admin/config/ivr/hotline", {"data": "start: nowhere\nnodes: {}\n"}),
    ("DELETE", "/admin/config/ivr/no_such_tree", {}),
]


def test_bad_requests_answer_4xx_json(as_: Any) -> None:
    owner = as_("water", "owner")
    rec = created(owner.post("/records/customer", json={"name": "Target", "phone": "0907000001"}))
    version = ok(owner.get("/admin/config"))["version"]
    wrong = []
    for method, path, kw in BAD_REQUESTS:
        r = owner.request(method, path.replace("{id}", str(rec["id"])), **kw)
        body = r.get_json(silent=True)
        if not (400 <= r.status_code < 500 and isinstance(body, dict)
                and isinstance(body.get("errors"), dict) and body["errors"]):
            wrong.append((method, path, kw, r.status_code, r.get_data(as_text=True)[:200]))
    assert not wrong, "\n".join(map(str, wrong))
    assert ok(owner.get(f"/records/customer/{rec['id']}")) == rec
    assert ok(owner.get("/admin/config"))["version"] == version


def test_huge_per_page_is_capped(as_: Any) -> None:
    for per_page in ("501", "100000", "99999999999999999999999999"):
        page = ok(as_("water", "agent").get("/records/customer",
                                            query_string={"per_page": per_page}))
        assert 1 <= page["per_page"] <= 500


@pytest.mark.parametrize("query", [
    {"page": "99999999999999999999"},
    {"id": "99999999999999999999999"},
    {"priority": "99999999999999999999999"},
    {"household_members__gt": "99999999999999999999999"},
])
def test_out_of_range_numbers_in_filters(as_: Any, query: dict[str, str]) -> None:
    r = as_("water", "agent").get("/records/customer", query_string=query)
    assert r.status_code < 500


def test_nul_characters_are_refused(as_: Any) -> None:
    """PostgreSQL can neither store nor compare NUL: the API refuses it everywhere (422)."""
    agent = as_("water", "agent")
    rec = created(agent.post("/records/customer", json={"name": "Nul", "phone": "0908000002"}))
    answers = [
        agent.get("/records/customer", query_string={"q": "a\x00b"}),
        agent.get("/records/customer", query_string={"name": "a\x00b"}),
        agent.get("/records/customer", query_string={"a\x00b": "1"}),
        agent.post("/records/customer", json={"name": "a\x00b", "phone": "0908000001"}),
        agent.post("/records/customer", json={"name": "ok", "a\x00": 1}),
        agent.patch(f"/records/customer/{rec['id']}", json={"ward": ["\x00"]}),
        agent.get(f"/records/customer/{rec['id']}/related/contact",
                  query_string={"name": "\x00"}),
        agent.post("/saved-filters", json={"entity": "customer", "name": "a\x00b"}),
        agent.post("/saved-filters", json={"entity": "customer", "name": "x",
                                           "filters": {"name": "a\x00b"}}),
        agent.get("/saved-filters", query_string={"entity": "\x00"}),
        agent.get("/users", query_string={"email": "a\x00@b.c"}),
        agent.client.post(f"{API}/security/login", json={
            "username": "a\x00@b.c", "password": "x", "provider": "db"}),
    ]
    for r in answers:
        assert r.status_code == 422, (r.status_code, r.get_data(as_text=True)[:300])
        assert errors_of(r)
    assert ok(agent.get(f"/records/customer/{rec['id']}")) == rec


# -- authentication --------------------------------------------------------------------------

def _api_routes(app: Flask) -> list[tuple[str, str]]:
    """(method, path) of every /api/v1 route, with sample values for its arguments."""
    out = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API + "/"):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>",
                      lambda m: "1" if "id" in m.group(1) else "customer", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            out.append((method, path))
    return out


PUBLIC = {("GET", f"{API}/openapi.json"), ("POST", f"{API}/security/login")}


def test_unauthenticated_requests_are_401_json(app: Flask, client: FlaskClient,
                                               users: dict) -> None:
    routes = [r for r in _api_routes(app) if r not in PUBLIC]
    assert len(routes) >= 10
    for method, path in routes:
        r = client.open(path, method=method, json={})
        assert r.status_code == 401, (method, path, r.status_code)
        assert errors_of(r)
    for method, path in PUBLIC & set(_api_routes(app)):
        assert client.open(path, method=method, json={}).status_code != 500


def test_bad_tokens_are_401_json(app: Flask, client: FlaskClient, users: dict) -> None:
    uid = users["water"]["owner"].id
    with app.app_context():
        expired = create_access_token(identity=str(uid), expires_delta=timedelta(seconds=-60))
        good = create_access_token(identity=str(uid))
        ghost = create_access_token(identity="987654")          # no such user
        refresh_claims = {"sub": str(uid), "type": "refresh"}
    forged = jwt.encode({"sub": str(uid), "type": "access", "fresh": True,
                         "jti": "x", "nbf": 0, "iat": 0, "exp": 4102444800},
                        "not-the-secret-key-not-the-secret", algorithm="HS256")
    unsigned = jwt.encode({"sub": str(uid), "type": "access"}, None, algorithm="none")
    refresh = jwt.encode({**refresh_claims, "jti": "y", "exp": 4102444800}, "test",
                         algorithm="HS256")
    tampered = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    assert client.get(f"{API}/records/customer",
                      headers={"Authorization": f"Bearer {good}"}).status_code == 200
    for token in (expired, forged, unsigned, ghost, tampered, "abc.def.ghi", "x", refresh):
        for header in (f"Bearer {token}", token):
            r = client.get(f"{API}/records/customer", headers={"Authorization": header})
            assert r.status_code == 401, (header[:40], r.status_code, r.get_data(as_text=True))
            assert errors_of(r)
    r = client.get(f"{API}/records/customer", headers={"Authorization": "Basic "
                   + "b3duZXJAd2F0ZXIudGVzdDpjb3JyZWN0LWhvcnNlLTE="})
    assert r.status_code == 401 and errors_of(r)


def test_a_deactivated_member_is_401(app: Flask, as_: Any, users: dict) -> None:
    from sqlalchemy import update

    from callboard.engine.tables import members

    api = as_("water", "agent_b")
    ok(api.get("/records/customer"))
    with app.extensions["callboard"].engine.begin() as conn:
        conn.execute(update(members).where(members.c.user_id == users["water"]["agent_b"].id)
                     .values(active=False))
    r = api.get("/records/customer")
    assert r.status_code == 401 and errors_of(r)
