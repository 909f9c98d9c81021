"""The record service on SQLite and PostgreSQL: validation, versions, the activity log, soft
delete, claim, ownership, ticket types, every filter operator, search, sort, paging, related
lists, auto opportunities, live custom fields and their expression indexes."""
from __future__ import annotations

import random
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, text

from callboard.engine.access import Actor, system_actor
from callboard.engine.bundle import BundleSource
from callboard.engine.db import index_name
from callboard.engine.errors import Conflict, Forbidden, NotFound, ValidationFailed
from callboard.engine.queries import Page, filterable_fields, parse_query
from callboard.engine.records import RecordService
from callboard.engine.tenancy import Tenant, TenantStore

ROOT = Path(__file__).resolve().parents[2]
COFFEE = ROOT / "templates" / "coffee_chain"


# -- helpers ------------------------------------------------------------------------------
@pytest.fixture
def svc(engine: Engine, water: Tenant, people: dict[str, Actor]) -> RecordService:
    return RecordService(engine, water)


@pytest.fixture
def admin(people: dict[str, Actor]) -> Actor:
    return people["admin"]


@pytest.fixture
def coffee(store: TenantStore) -> tuple[Tenant, Actor]:
    """A second tenant with an owner of its own."""
    tenant = store.create("coffee", None, BundleSource.from_dir(COFFEE))
    store.add_member(tenant.id, 11, "owner@coffee.test", "owner")
    return tenant, Actor(tenant.id, 11, "owner", email="owner@coffee.test")


def ids(page: Page | list[dict[str, Any]]) -> list[int]:
    items = page.items if isinstance(page, Page) else page
    return [r["id"] for r in items]


def find(svc: RecordService, actor: Actor, entity: str, **params: Any) -> list[int]:
    """Ids of a list query written as the API's query string."""
    query = parse_query({k: str(v) for k, v in params.items()},
                        filterable_fields(svc.model, svc.entity(entity)))
    return ids(svc.list(actor, entity, query))


def found(svc: RecordService, actor: Actor, entity: str, **params: Any) -> set[int]:
    return set(find(svc, actor, entity, per_page=500, **params))


def errors_of(call: Any, *args: Any, **kwargs: Any) -> dict[str, list[str]]:
    with pytest.raises(ValidationFailed) as info:
        call(*args, **kwargs)
    body = info.value.body()
    assert info.value.status == 422
    assert set(body) == {"errors"}
    for field, messages in body["errors"].items():
        assert isinstance(field, str)
        assert messages and all(isinstance(m, str) and m for m in messages)
    return body["errors"]


def customer(svc: RecordService, actor: Actor, name: str, **values: Any) -> dict[str, Any]:
    return svc.create(actor, "customer", {"name": name, **values})


def complaint(svc: RecordService, actor: Actor, subject: str = "No water",
              **values: Any) -> dict[str, Any]:
    return svc.create(actor, "ticket", {"type": "complaint", "subject": subject,
                                        "product": "water", **values})


def with_customer_fields(store: TenantStore, tenant: Tenant, yaml_fields: str) -> Tenant:
    """Add fields to entities/customer.yaml through the admin path (put_file)."""
    current = store.files(tenant.id)["entities/customer.yaml"]
    assert "\nlist:" in current
    changed = current.replace("\nlist:", "\n" + yaml_fields.rstrip() + "\n\nlist:", 1)
    return store.put_file(tenant.id, "entities/customer.yaml", changed)


# -- create -------------------------------------------------------------------------------
def test_create_returns_the_record_with_defaults(svc: RecordService, admin: Actor) -> None:
    rec = customer(svc, admin, "Nguyễn Văn An", phone="090 123 4567")
    assert rec["entity"] == "customer"
    assert isinstance(rec["id"], int)
    assert rec["version"] == 1
    assert rec["owner"] is None
    assert rec["title"] == "Nguyễn Văn An"
    assert rec["created_at"].endswith("Z") and rec["updated_at"].endswith("Z")
    assert rec["created_by"] == admin.user_id
    # fields at the top level, phones in E.164, every default applied
    assert rec["name"] == "Nguyễn Văn An"
    assert rec["phone"] == "+84901234567"
    assert rec["priority"] == 1
    assert rec["source"] == "manual"
    assert rec["customer_type"] == "residential"
    assert rec["usage_purpose"] == "domestic"
    assert rec["payment_method"] == "cash"
    assert "district" not in rec                     # empty fields are left out
    assert svc.get(admin, "customer", rec["id"]) == rec


def test_created_at_is_utc_whatever_the_server_zone(
        svc: RecordService, admin: Actor, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite hands back naive datetimes: they are UTC, not the server's local time."""
    import time
    from datetime import UTC, datetime

    monkeypatch.setenv("TZ", "Asia/Ho_Chi_Minh")
    time.tzset()
    try:
        rec = customer(svc, admin, "An")
        again = svc.get(admin, "customer", rec["id"])
    finally:
        monkeypatch.undo()
        time.tzset()
    assert again["created_at"] == rec["created_at"]
    moment = datetime.fromisoformat(again["created_at"].replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - moment).total_seconds()) < 60


def test_ticket_defaults_from_its_type(svc: RecordService, people: dict[str, Actor]) -> None:
    t = complaint(svc, people["agent"])
    assert t["status"] == "new"                 # the type's workflow.initial
    assert t["department"] == "support"         # the type's department
    assert t["category"] == "other" and t["severity"] == "normal"
    assert t["priority"] == "normal"
    leak = svc.create(people["agent"], "ticket", {"type": "leak_report", "subject": "Burst",
                                                  "location": "12 Lê Lợi",
                                                  "district": "quan_1"})
    assert leak["department"] == "field_ops"
    assert leak["leak_side"] == "unknown" and leak["leak_size"] == "small"
    assert leak["water_cut"] is False


def test_table_rows_take_child_defaults(svc: RecordService, admin: Actor) -> None:
    c = customer(svc, admin, "An")
    order = svc.create(admin, "order", {"title": "New meter", "customer": c["id"],
                                        "order_date": "01/03/2026",
                                        "lines": [{"product": "Meter DN15", "price": 950000}]})
    assert order["lines"] == [{"product": "Meter DN15", "qty": 1, "price": 950000}]
    assert order["order_date"] == "2026-03-01"


# -- 422 ----------------------------------------------------------------------------------
def test_422_lists_every_bad_field_at_once(svc: RecordService, admin: Actor,
                                           coffee: tuple[Tenant, Actor],
                                           engine: Engine) -> None:
    other_tenant, other_owner = coffee
    foreign = RecordService(engine, other_tenant).create(other_owner, "company",
                                                         {"name": "Cà phê Co"})
    mine = svc.create(admin, "company", {"name": "Water Co"})
    customer(svc, admin, "Taken", phone="0901234567")
    errors = errors_of(svc.create, admin, "customer", {
        # no name: required
        "phone": "+84 90 123 4567",          # unique after normalisation
        "phone2": "not a phone",             # type
        "email": "x@",                       # type
        "priority": 9,                       # max
        "household_members": 0,              # min
        "account_no": "12",                  # pattern
        "district": "quan_99",               # options
        "customer_type": "business",         # makes tax_code required (required_if)
        "company": foreign["id"],            # a link to another tenant's record
        "e_invoice_email": "bills@water.vn",
        "bogus": 1,                          # unknown field
    })
    assert errors == {
        "name": ["required"],
        "phone": ["'+84901234567' is already used by customer "
                  f"{find(svc, admin, 'customer', phone='0901234567')[0]}"],
        "phone2": ["'not a phone' is not a phone number"],
        "email": ["'x@' is not an e-mail address"],
        "priority": ["must be at most 5"],
        "household_members": ["must be at least 1"],
        "account_no": ["does not have the expected form (^[0-9]{11}$)"],
        "district": [f"'quan_99' is not one of {', '.join(_district_values(svc))}"],
        "tax_code": ["required"],
        "company": [f"no company {foreign['id']}"],
        "bogus": ["unknown field"],
    }
    # the same link to a company of this tenant is fine
    ok = customer(svc, admin, "Fine", company=mine["id"])
    assert ok["company"] == mine["id"]


def _district_values(svc: RecordService) -> list[str]:
    return list(svc.entity("customer").field_map["district"].option_values)


def test_422_link_to_a_missing_record_or_the_wrong_entity(svc: RecordService,
                                                          admin: Actor) -> None:
    c = customer(svc, admin, "An")
    assert errors_of(svc.create, admin, "customer", {"name": "B", "company": 999999}) == {
        "company": ["no company 999999"]}
    # a customer id is not a company id
    assert errors_of(svc.create, admin, "customer", {"name": "B", "company": c["id"]}) == {
        "company": [f"no company {c['id']}"]}
    assert errors_of(svc.create, admin, "customer", {"name": "B", "company": "abc"}) == {
        "company": ["must be a record id"]}


def test_a_record_one_cannot_see_is_no_link_target(svc: RecordService,
                                                   people: dict[str, Actor]) -> None:
    theirs = svc.create(people["agent"], "customer", {"name": "Agent's own"})
    pool = svc.create(people["admin"], "customer", {"name": "Nobody's"})
    other = people["agent_b"]
    # as if it did not exist: the same answer as for an id that never existed
    assert errors_of(svc.create, other, "contact", {"name": "K", "customer": theirs["id"]}) \
        == {"customer": [f"no customer {theirs['id']}"]}
    assert svc.create(other, "contact", {"name": "K", "customer": pool["id"]})["customer"] \
        == pool["id"]
    assert svc.create(people["supervisor"], "contact",
                      {"name": "K2", "customer": theirs["id"]})["customer"] == theirs["id"]


def test_required_if_and_visible_if_are_enforced_on_the_server(svc: RecordService,
                                                               admin: Actor) -> None:
    assert errors_of(svc.create, admin, "customer",
                     {"name": "Công ty A", "customer_type": "business"}) == {
        "tax_code": ["required"]}
    biz = customer(svc, admin, "Công ty A", customer_type="business", tax_code="0312345678")
    # required_if is checked again on update
    assert errors_of(svc.update, admin, "customer", biz["id"], {"tax_code": None}) == {
        "tax_code": ["required"]}
    # inquiry: callback_at is required only when callback is true
    inq = {"type": "inquiry", "subject": "Bill", "topic": "bill"}
    svc.create(admin, "ticket", inq)
    assert errors_of(svc.create, admin, "ticket", {**inq, "callback": "yes"}) == {
        "callback_at": ["required"]}
    t = svc.create(admin, "ticket", {**inq, "callback": True,
                                     "callback_at": "2026-03-01 09:00"})
    assert t["callback_at"] == "2026-03-01T02:00:00Z"


def test_unique_after_normalisation_also_on_update(svc: RecordService, admin: Actor) -> None:
    a = customer(svc, admin, "A", phone="0901234567")
    b = customer(svc, admin, "B", phone="0912345678")
    for spelling in ("0901234567", "090 123 4567", "+84901234567", "+84 90 123 4567",
                     "0084901234567"):
        assert errors_of(svc.create, admin, "customer", {"name": "C", "phone": spelling}) == {
            "phone": [f"'+84901234567' is already used by customer {a['id']}"]}
    assert errors_of(svc.update, admin, "customer", b["id"], {"phone": "090-123-4567"}) == {
        "phone": [f"'+84901234567' is already used by customer {a['id']}"]}
    # keeping one's own number is not a clash
    same = svc.update(admin, "customer", a["id"], {"phone": "+84 90 123 4567", "name": "A2"})
    assert same["phone"] == "+84901234567" and same["name"] == "A2"
    # unique text keys compare case-insensitively
    svc.create(admin, "contract", {"code": "HD-001", "name": "Supply", "customer": a["id"]})
    assert errors_of(svc.create, admin, "contract",
                     {"code": "hd-001", "name": "Supply 2", "customer": a["id"]}) == {
        "code": [f"'hd-001' is already used by contract "
                 f"{find(svc, admin, 'contract', code='HD-001')[0]}"]}


def test_the_error_body_has_the_http_shape(svc: RecordService, admin: Actor) -> None:
    with pytest.raises(ValidationFailed) as info:
        svc.create(admin, "customer", {"priority": "high"})
    assert info.value.body() == {"errors": {"priority": ["must be a whole number"],
                                            "name": ["required"]}}
    with pytest.raises(ValidationFailed) as info:
        svc.create(admin, "customer", ["not", "an", "object"])  # type: ignore[arg-type]
    assert info.value.body() == {"errors": {"_": ["expected a JSON object of fields"]}}


def test_unknown_entity_is_not_found(svc: RecordService, admin: Actor) -> None:
    with pytest.raises(NotFound):
        svc.create(admin, "spaceship", {"name": "x"})
    with pytest.raises(NotFound):
        svc.list(admin, "spaceship")


def test_readonly_fields_refused_except_for_the_platform(svc: RecordService, admin: Actor,
                                                         water: Tenant) -> None:
    c = customer(svc, admin, "An")
    base = {"title": "Order", "customer": c["id"], "order_date": "2026-03-01"}
    assert errors_of(svc.create, admin, "order", {**base, "total": 5}) == {
        "total": ["is read-only"]}
    order = svc.create(system_actor(water.id), "order", {**base, "total": 5})
    assert order["total"] == 5


# -- update, versions, activity -----------------------------------------------------------
def test_update_with_version_and_409_when_stale(svc: RecordService, admin: Actor) -> None:
    c = customer(svc, admin, "An")
    v2 = svc.update(admin, "customer", c["id"], {"name": "An 2"}, version=1)
    assert v2["version"] == 2 and v2["name"] == "An 2" and v2["title"] == "An 2"
    with pytest.raises(Conflict) as info:
        svc.update(admin, "customer", c["id"], {"name": "An 3"}, version=1)
    assert info.value.status == 409
    assert svc.get(admin, "customer", c["id"])["name"] == "An 2"
    v3 = svc.update(admin, "customer", c["id"], {"name": "An 3"}, version="2")
    assert v3["version"] == 3
    # without a version the last write wins
    assert svc.update(admin, "customer", c["id"], {"name": "An 4"})["version"] == 4
    assert errors_of(svc.update, admin, "customer", c["id"], {"name": "x"},
                     version="abc") == {"version": ["must be a whole number"]}


def test_update_without_a_change_keeps_the_version(svc: RecordService, admin: Actor) -> None:
    c = customer(svc, admin, "An", phone="0901234567")
    same = svc.update(admin, "customer", c["id"], {"name": "An", "phone": "090 123 4567"})
    assert same["version"] == 1
    assert len(svc.activity(admin, "customer", c["id"])) == 1


def test_update_validates_like_create(svc: RecordService, admin: Actor) -> None:
    c = customer(svc, admin, "An")
    assert errors_of(svc.update, admin, "customer", c["id"],
                     {"name": "", "priority": 0, "nope": 1}) == {
        "name": ["required"], "priority": ["must be at least 1"], "nope": ["unknown field"]}
    assert svc.get(admin, "customer", c["id"])["version"] == 1


def test_activity_log_has_the_diff_newest_first(svc: RecordService,
                                                people: dict[str, Actor]) -> None:
    admin, agent = people["admin"], people["agent"]
    c = customer(svc, admin, "An", district="quan_1")
    svc.update(admin, "customer", c["id"], {"name": "An Nguyễn", "district": "quan_3"})
    svc.update(admin, "customer", c["id"], {"district": None, "priority": 3},
               comment="called back")
    svc.claim(agent, "customer", c["id"])
    log = svc.activity(admin, "customer", c["id"])
    assert [e["action"] for e in log] == ["claim", "update", "update", "create"]
    assert [e["actor"] for e in log] == [agent.user_id, admin.user_id, admin.user_id,
                                         admin.user_id]
    assert log[0]["changes"] == {"owner": [None, agent.user_id]}
    assert log[1]["changes"] == {"district": ["quan_3", None], "priority": [1, 3]}
    assert log[1]["comment"] == "called back"
    assert log[2]["changes"] == {"name": ["An", "An Nguyễn"], "district": ["quan_1", "quan_3"]}
    assert log[3]["changes"]["name"] == [None, "An"]
    assert log[3]["changes"]["district"] == [None, "quan_1"]
    assert all(e["at"].endswith("Z") for e in log)
    ids_ = [e["id"] for e in log]
    assert ids_ == sorted(ids_, reverse=True)
    # the agent now owns it and reads the same log
    assert svc.activity(agent, "customer", c["id"]) == log


def test_owner_change_is_in_the_diff(svc: RecordService, people: dict[str, Actor]) -> None:
    admin = people["admin"]
    c = customer(svc, admin, "An")
    svc.update(admin, "customer", c["id"], {"owner": "agent@water.test"})
    assert svc.activity(admin, "customer", c["id"])[0]["changes"] == {
        "owner": [None, people["agent"].user_id]}


# -- soft delete --------------------------------------------------------------------------
def test_soft_delete_hides_the_record_and_frees_its_keys(svc: RecordService,
                                                         admin: Actor) -> None:
    c = customer(svc, admin, "An", phone="0901234567", account_no="01234567890")
    svc.create(admin, "order", {"title": "O", "customer": c["id"], "order_date": "2026-01-01"})
    svc.delete(admin, "customer", c["id"])
    for call in (lambda: svc.get(admin, "customer", c["id"]),
                 lambda: svc.update(admin, "customer", c["id"], {"name": "x"}),
                 lambda: svc.delete(admin, "customer", c["id"]),
                 lambda: svc.claim(admin, "customer", c["id"]),
                 lambda: svc.activity(admin, "customer", c["id"]),
                 lambda: svc.related(admin, "customer", c["id"], "order")):
        with pytest.raises(NotFound):
            call()
    assert c["id"] not in find(svc, admin, "customer")
    assert svc.find_by_key(admin, "0901234567") == []
    # its phone and account number are free again
    again = customer(svc, admin, "An again", phone="090 123 4567", account_no="01234567890")
    assert again["id"] != c["id"]
    assert ids(svc.find_by_key(admin, "+84901234567")) == [again["id"]]
    # nothing may link to the deleted record any more
    assert errors_of(svc.create, admin, "order", {"title": "O", "customer": c["id"],
                                                  "order_date": "2026-01-01"}) == {
        "customer": [f"no customer {c['id']}"]}


def test_delete_permissions(svc: RecordService, people: dict[str, Actor]) -> None:
    agent, agent2, sup = people["agent"], people["agent2"], people["supervisor"]
    own = customer(svc, agent, "Mine")
    pool = customer(svc, people["admin"], "Pool")
    with pytest.raises(Forbidden):
        svc.delete(agent, "customer", pool["id"])       # visible, but not its own
    with pytest.raises(NotFound):
        svc.delete(agent2, "customer", own["id"])       # not even visible
    svc.delete(sup, "customer", own["id"])              # a supervisor of the owner's team
    other = customer(svc, agent, "Mine 2")
    svc.delete(agent, "customer", other["id"])
    assert find(svc, people["owner"], "customer") == [pool["id"]]


# -- claim --------------------------------------------------------------------------------
def test_claim_takes_an_unowned_record(svc: RecordService, people: dict[str, Actor]) -> None:
    admin, agent = people["admin"], people["agent"]
    c = customer(svc, admin, "Pool")
    claimed = svc.claim(agent, "customer", c["id"])
    assert claimed["owner"] == agent.user_id and claimed["version"] == 2
    assert claimed["updated_by"] == agent.user_id
    with pytest.raises(Conflict):
        svc.claim(agent, "customer", c["id"])           # owned (by itself)
    with pytest.raises(Conflict):
        svc.claim(people["supervisor"], "customer", c["id"])  # sees it, but it is owned
    with pytest.raises(Conflict):
        svc.claim(admin, "customer", c["id"])
    with pytest.raises(NotFound):
        svc.claim(people["agent2"], "customer", c["id"])  # another agent's: invisible
    with pytest.raises(Forbidden):
        svc.claim(system_actor(admin.tenant_id), "customer",
                  customer(svc, admin, "Pool 2")["id"])


def test_concurrent_claims_only_one_wins(svc: RecordService,
                                         people: dict[str, Actor]) -> None:
    contenders = [people[n] for n in ("agent", "agent2", "agent_b", "supervisor", "admin",
                                      "owner")]
    def claim(actor: Actor, rid: int, out: dict[int, Any], gate: threading.Barrier) -> None:
        gate.wait()
        try:
            out[actor.user_id] = svc.claim(actor, "customer", rid)
        except (Conflict, NotFound) as refused:
            out[actor.user_id] = refused

    for round_ in range(3):
        c = customer(svc, people["admin"], f"Pool {round_}")
        barrier = threading.Barrier(len(contenders))
        outcome: dict[int, Any] = {}
        threads = [threading.Thread(target=claim, args=(a, c["id"], outcome, barrier))
                   for a in contenders]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        winners = [uid for uid, r in outcome.items() if isinstance(r, dict)]
        assert len(outcome) == len(contenders)
        assert len(winners) == 1, outcome
        winner = winners[0]
        final = svc.get(people["owner"], "customer", c["id"])
        assert final["owner"] == winner and final["version"] == 2
        claims = [e for e in svc.activity(people["owner"], "customer", c["id"])
                  if e["action"] == "claim"]
        assert len(claims) == 1 and claims[0]["actor"] == winner
        for loser in contenders:
            if loser.user_id == winner:
                continue
            try:
                svc.get(loser, "customer", c["id"])
            except NotFound:
                continue  # cannot see it any more: 404 or 409, depending on timing
            assert isinstance(outcome[loser.user_id], Conflict), (loser, outcome)


# -- ownership ----------------------------------------------------------------------------
def test_agent_records_are_owned_by_the_agent(svc: RecordService,
                                              people: dict[str, Actor]) -> None:
    agent = people["agent"]
    assert customer(svc, agent, "A")["owner"] == agent.user_id
    assert customer(svc, agent, "B", owner="me")["owner"] == agent.user_id
    assert customer(svc, agent, "C", owner=agent.email)["owner"] == agent.user_id
    for other in (people["agent2"].user_id, "admin@water.test", None):
        assert errors_of(svc.create, agent, "customer", {"name": "D", "owner": other}) == {
            "owner": ["an agent's records are its own; use claim to take an unowned one"]}


@pytest.mark.parametrize("role", ["owner", "admin", "supervisor"])
def test_managers_name_an_owner_or_none(svc: RecordService, people: dict[str, Actor],
                                        role: str) -> None:
    actor = people[role]
    assert customer(svc, actor, "A")["owner"] is None
    assert customer(svc, actor, "B", owner=None)["owner"] is None
    assert customer(svc, actor, "C", owner="agent@water.test")["owner"] == 4
    assert customer(svc, actor, "D", owner=6)["owner"] == 6
    assert customer(svc, actor, "E", owner="105")["owner"] == 5   # by extension
    assert errors_of(svc.create, actor, "customer", {"name": "F", "owner": "ghost@x.vn"}) == {
        "owner": ["no user 'ghost@x.vn' in this tenant"]}


def test_owner_of_another_tenant_cannot_be_named(svc: RecordService, admin: Actor,
                                                 coffee: tuple[Tenant, Actor]) -> None:
    _, other = coffee
    for ref in (other.user_id, other.email):
        assert errors_of(svc.create, admin, "customer", {"name": "X", "owner": ref}) == {
            "owner": [f"no user '{ref}' in this tenant"]}
    assert "assignee" in errors_of(svc.create, admin, "ticket", {
        "type": "complaint", "subject": "s", "product": "water", "assignee": other.email})


def test_agent_may_give_back_but_not_hand_over(svc: RecordService,
                                               people: dict[str, Actor]) -> None:
    agent = people["agent"]
    c = customer(svc, agent, "Mine")
    assert errors_of(svc.update, agent, "customer", c["id"], {"owner": 5}) == {
        "owner": ["an agent's records are its own; use claim to take an unowned one"]}
    back = svc.update(agent, "customer", c["id"], {"owner": None})
    assert back["owner"] is None
    assert errors_of(svc.update, agent, "customer", c["id"], {"owner": "me"}) == {
        "owner": ["an agent's records are its own; use claim to take an unowned one"]}
    moved = svc.update(people["supervisor"], "customer", c["id"], {"owner": "agent2@water.test"})
    assert moved["owner"] == 5


# -- tickets ------------------------------------------------------------------------------
def test_ticket_fields_depend_on_the_type(svc: RecordService, admin: Actor) -> None:
    t = complaint(svc, admin, severity="high")
    assert t["product"] == "water"
    assert errors_of(svc.create, admin, "ticket", {"type": "inquiry", "subject": "s",
                                                   "product": "water"}) == {
        "product": ["unknown field"]}
    assert errors_of(svc.create, admin, "ticket", {"type": "complaint", "subject": "s"}) == {
        "product": ["required"]}
    assert errors_of(svc.create, admin, "ticket", {"subject": "s"}) == {"type": ["required"]}
    errors = errors_of(svc.create, admin, "ticket", {"type": "parcel", "subject": "s"})
    assert list(errors) == ["type"] and "parcel" in errors["type"][0]


def test_changing_the_type_revalidates(svc: RecordService, admin: Actor) -> None:
    t = complaint(svc, admin, severity="high")
    # the new type's required fields without defaults must come with the change
    assert errors_of(svc.update, admin, "ticket", t["id"], {"type": "leak_report"}) == {
        "location": ["required"], "district": ["required"]}
    # a field of the old type may not be sent with the new one
    assert errors_of(svc.update, admin, "ticket", t["id"],
                     {"type": "inquiry", "product": "sewage"}) == {
        "product": ["unknown field"]}
    inq = svc.update(admin, "ticket", t["id"], {"type": "inquiry"}, version=1)
    assert inq["type"] == "inquiry" and inq["version"] == 2
    for gone in ("product", "severity", "category"):
        assert gone not in inq
    assert inq["topic"] == "bill" and inq["callback"] is False   # the new type's defaults
    assert inq["status"] == "new"
    diff = svc.activity(admin, "ticket", t["id"])[0]["changes"]
    assert diff["type"] == ["complaint", "inquiry"]
    assert diff["product"] == ["water", None] and diff["topic"] == [None, "bill"]
    assert errors_of(svc.update, admin, "ticket", t["id"], {"product": "water"}) == {
        "product": ["unknown field"]}


def test_changing_the_type_keeps_the_status_in_the_new_workflow(svc: RecordService,
                                                                admin: Actor) -> None:
    leak = svc.create(admin, "ticket", {"type": "leak_report", "subject": "Burst",
                                        "location": "1 Lê Lợi", "district": "quan_1"})
    # a transition (the workflow engine passes allow=["status"]) moves it on
    dispatched = svc.update(admin, "ticket", leak["id"], {"status": "dispatched"},
                            allow=["status"], action="dispatch")
    assert dispatched["status"] == "dispatched"
    changed = svc.update(admin, "ticket", leak["id"], {"type": "complaint",
                                                       "product": "water"})
    states = svc.model.ticket_types["complaint"].workflow.states
    assert changed["status"] in states
    assert changed["status"] == "new"


def test_status_cannot_be_set_by_patch(svc: RecordService, admin: Actor) -> None:
    t = complaint(svc, admin)
    message = ["changes only through a workflow transition"]
    assert errors_of(svc.update, admin, "ticket", t["id"], {"status": "closed"}) == {
        "status": message}
    assert errors_of(svc.create, admin, "ticket", {"type": "complaint", "subject": "s",
                                                   "product": "water",
                                                   "status": "closed"}) == {"status": message}
    kb = svc.create(admin, "kb_article", {"title": "Bills"})
    assert kb["status"] == "draft"
    assert errors_of(svc.update, admin, "kb_article", kb["id"], {"status": "published"}) == {
        "status": message}
    assert svc.get(admin, "ticket", t["id"])["status"] == "new"
    # an entity without a workflow keeps `status` as an ordinary field
    c = customer(svc, admin, "An")
    contract = svc.create(admin, "contract", {"code": "HD1", "name": "Supply",
                                              "customer": c["id"]})
    assert contract["status"] == "draft"
    active = svc.update(admin, "contract", contract["id"], {
        "status": "active", "signed_date": "01/01/2026", "start_date": "02/01/2026"})
    assert active["status"] == "active"


# -- filters ------------------------------------------------------------------------------
@pytest.fixture
def customers(svc: RecordService, people: dict[str, Actor]) -> dict[str, dict[str, Any]]:
    admin = people["admin"]
    return {
        "an": customer(svc, admin, "An Nguyen", phone="0901234567", district="quan_1",
                       household_members=3, priority=2, email="an@water.vn",
                       meter_no="AB12345"),
        "binh": customer(svc, admin, "Binh Tran", phone="0912345678", district="quan_3",
                         household_members=10, owner=people["agent"].user_id,
                         phone2="028 3812 3456"),
        "chi": customer(svc, admin, "Chi 100%_off", customer_type="business",
                        tax_code="0312345678", priority=5),
    }


CUSTOM_FIELD_CASES: list[tuple[dict[str, str], set[str]]] = [
    ({"district": "quan_1"}, {"an"}),
    ({"district__eq": "quan_1"}, {"an"}),
    ({"district": "Quận 1"}, {"an"}),                      # a label selects its option
    ({"district__ne": "quan_1"}, {"binh", "chi"}),          # ne keeps empty values
    ({"district__in": "quan_1,quan_3"}, {"an", "binh"}),
    ({"district__isnull": "true"}, {"chi"}),
    ({"district__isnull": "false"}, {"an", "binh"}),
    ({"household_members__lt": "10"}, {"an"}),
    ({"household_members__lte": "10"}, {"an", "binh"}),
    ({"household_members__gt": "3"}, {"binh"}),
    ({"household_members__gte": "3"}, {"an", "binh"}),
    ({"household_members": "10"}, {"binh"}),
    ({"household_members__ne": "10"}, {"an", "chi"}),
    ({"household_members__in": "3,10"}, {"an", "binh"}),
    ({"household_members__isnull": "1"}, {"chi"}),
    ({"priority__gte": "2"}, {"an", "chi"}),                # numbers compare as numbers
    ({"priority__lt": "10"}, {"an", "binh", "chi"}),
    ({"name__contains": "guy"}, {"an"}),
    ({"name__contains": "GUY"}, {"an"}),                    # case-insensitive
    ({"name__contains": "100%_"}, {"chi"}),                 # % and _ are literal
    ({"name__contains": "%"}, {"chi"}),
    ({"name__contains": "_"}, {"chi"}),
    ({"name__startswith": "bi"}, {"binh"}),
    ({"name__startswith": "Nguyen"}, set()),
    ({"name__in": "An Nguyen,Binh Tran"}, {"an", "binh"}),
    ({"customer_type": "business"}, {"chi"}),
    ({"email": "AN@water.vn"}, {"an"}),
    ({"meter_no__startswith": "AB"}, {"an"}),
    ({"tax_code__isnull": "false"}, {"chi"}),
]


def _check_cases(svc: RecordService, actor: Actor, customers: dict[str, dict[str, Any]],
                 cases: list[tuple[dict[str, str], set[str]]]) -> None:
    names = {c["id"]: k for k, c in customers.items()}
    wrong = []
    for params, expected in cases:
        got = {names[i] for i in found(svc, actor, "customer", **params)}
        if got != expected:
            wrong.append(f"{params}: got {sorted(got)}, want {sorted(expected)}")
    assert not wrong, "\n".join(wrong)


def test_filter_operators_on_custom_fields(svc: RecordService, admin: Actor,
                                           customers: dict[str, dict[str, Any]]) -> None:
    _check_cases(svc, admin, customers, CUSTOM_FIELD_CASES)


PHONE_CASES: list[tuple[dict[str, str], set[str]]] = [
    ({"phone": "0901234567"}, {"an"}),
    ({"phone": "090 123 4567"}, {"an"}),
    ({"phone": "+84901234567"}, {"an"}),
    ({"phone": "+84 90 123 4567"}, {"an"}),
    ({"phone__eq": "0084901234567"}, {"an"}),
    ({"phone__ne": "090.123.4567"}, {"binh", "chi"}),
    ({"phone__in": "0901234567,+84 91 234 5678"}, {"an", "binh"}),
    ({"phone__isnull": "true"}, {"chi"}),
    ({"phone__startswith": "090"}, {"an"}),
    ({"phone__startswith": "091"}, {"binh"}),
    ({"phone__startswith": "09"}, {"an", "binh"}),
    ({"phone__startswith": "+8491"}, {"binh"}),
    ({"phone__startswith": "+84 90"}, {"an"}),
    ({"phone__startswith": "8490"}, {"an"}),
    ({"phone__startswith": "0234"}, set()),
    ({"phone__contains": "0901"}, {"an"}),
    ({"phone__contains": "090 123"}, {"an"}),
    ({"phone__contains": "0123"}, {"an"}),
    ({"phone__contains": "345678"}, {"binh"}),
    ({"phone__contains": "+8491"}, {"binh"}),
    ({"phone__contains": "2345"}, {"an", "binh"}),
    ({"phone2": "(028) 3812-3456"}, {"binh"}),
    ({"phone2": "+842838123456"}, {"binh"}),
]


def test_filter_phones_in_any_spelling(svc: RecordService, admin: Actor,
                                       customers: dict[str, dict[str, Any]]) -> None:
    _check_cases(svc, admin, customers, PHONE_CASES)


def test_filter_bad_values_and_names_are_422(svc: RecordService, admin: Actor,
                                             customers: dict[str, dict[str, Any]]) -> None:
    fields = filterable_fields(svc.model, svc.entity("customer"))
    with pytest.raises(ValidationFailed) as info:
        parse_query({"bogus": "1", "name__near": "x", "page": "0", "sort": "shoe_size"},
                    fields)
    assert info.value.errors == {
        "bogus": ["unknown field 'bogus'"],
        "name__near": ["unknown operator 'near' (use eq, ne, lt, lte, gt, gte, in, contains, "
                       "startswith, isnull)"],
        "page": ["must be a whole number of at least 1"],
        "sort": ["unknown field 'shoe_size'"]}
    for params, key in (({"phone": "abc"}, "phone"),
                        ({"household_members__gt": "many"}, "household_members__gt"),
                        ({"district": "quan_99"}, "district"),
                        ({"company": "abc"}, "company"),
                        ({"phone__contains": "abc"}, "phone__contains"),
                        ({"owner": "ghost@x.vn"}, "owner")):
        with pytest.raises(ValidationFailed) as info:
            find(svc, admin, "customer", **params)
        assert list(info.value.errors) == [key], params


def test_numbers_beyond_64_bits_are_422_or_404_never_a_crash(
        svc: RecordService, admin: Actor, customers: dict[str, dict[str, Any]]) -> None:
    huge = "99999999999999999999999"
    for params in ({"id": huge}, {"priority": huge}, {"household_members__gt": huge},
                   {"id__in": f"1,{huge}"}, {"page": huge}, {"page": str(2**31)},
                   {"company": huge}):
        with pytest.raises(ValidationFailed):
            find(svc, admin, "customer", **params)
    assert find(svc, admin, "customer", page=2**31 - 1) == []
    for rid in (huge, 2**63, -1, 0):
        with pytest.raises(NotFound):
            svc.get(admin, "customer", rid)
        with pytest.raises(NotFound):
            svc.update(admin, "customer", rid, {"name": "x"})
        with pytest.raises(NotFound):
            svc.claim(admin, "customer", rid)
    assert errors_of(svc.create, admin, "customer", {"name": "x", "household_members": huge,
                                                     "priority": huge}) == {
        "household_members": ["is too large"], "priority": ["is too large"]}


def test_filter_dates_and_datetimes(svc: RecordService, admin: Actor) -> None:
    c = customer(svc, admin, "An")
    base = {"customer": c["id"], "name": "Supply"}
    k1 = svc.create(admin, "contract", {**base, "code": "K1", "end_date": "31/01/2026"})
    k2 = svc.create(admin, "contract", {**base, "code": "K2", "end_date": "2026-02-15"})
    k3 = svc.create(admin, "contract", {**base, "code": "K3", "end_date": 46100})  # Excel
    k4 = svc.create(admin, "contract", {**base, "code": "K4"})
    assert k3["end_date"] == "2026-03-19"
    a, b, cc, d = k1["id"], k2["id"], k3["id"], k4["id"]
    cases = [
        ({"end_date": "2026-01-31"}, {a}),
        ({"end_date": "31/01/2026"}, {a}),
        ({"end_date__ne": "31/01/2026"}, {b, cc, d}),
        ({"end_date__lt": "15/02/2026"}, {a}),
        ({"end_date__lte": "15/02/2026"}, {a, b}),
        ({"end_date__gt": "2026-01-31"}, {b, cc}),
        ({"end_date__gte": "2026-01-31"}, {a, b, cc}),
        ({"end_date__in": "31/01/2026,2026-03-19"}, {a, cc}),
        ({"end_date__isnull": "true"}, {d}),
        ({"end_date__startswith": "2026-0"}, {a, b, cc}),
        ({"end_date__contains": "-02-"}, {b}),
    ]
    for params, want in cases:
        assert found(svc, admin, "contract", **params) == want, params
    with pytest.raises(ValidationFailed):
        find(svc, admin, "contract", end_date__gt="31/02/2026")

    # datetimes: naive filter values are read in the tenant's time zone (UTC+7)
    t1 = complaint(svc, admin, "t1", due_at="2026-03-01T10:00")        # 03:00Z
    t2 = complaint(svc, admin, "t2", due_at="2026-03-02T00:30:00+07:00")  # 03-01 17:30Z
    t3 = complaint(svc, admin, "t3")
    assert t1["due_at"] == "2026-03-01T03:00:00Z"
    assert found(svc, admin, "ticket", due_at__lt="2026-03-01T12:00") == {t1["id"]}
    assert found(svc, admin, "ticket", due_at__gte="2026-03-01T03:00:00Z") == {t1["id"],
                                                                              t2["id"]}
    assert found(svc, admin, "ticket", due_at__gt="2026-03-01T03:00:00Z") == {t2["id"]}
    assert found(svc, admin, "ticket", due_at__lte="02/03/2026 00:30") == {t1["id"], t2["id"]}
    assert found(svc, admin, "ticket", due_at="2026-03-01T10:00") == {t1["id"]}
    assert found(svc, admin, "ticket", due_at__isnull="1") == {t3["id"]}
    # built-in columns
    assert found(svc, admin, "ticket", created_at__gte="2000-01-01") == {
        t1["id"], t2["id"], t3["id"]}
    assert found(svc, admin, "ticket", updated_at__lt="2000-01-01") == set()


def test_filter_booleans(svc: RecordService, admin: Actor) -> None:
    c = customer(svc, admin, "An")
    base = {"customer": c["id"], "name": "Supply"}
    yes = svc.create(admin, "contract", {**base, "code": "Y", "auto_renew": "có"})["id"]
    no = svc.create(admin, "contract", {**base, "code": "N"})["id"]   # default false
    assert found(svc, admin, "contract", auto_renew="true") == {yes}
    assert found(svc, admin, "contract", auto_renew="yes") == {yes}
    assert found(svc, admin, "contract", auto_renew="false") == {no}
    assert found(svc, admin, "contract", auto_renew__ne="true") == {no}
    assert found(svc, admin, "contract", auto_renew__in="true,false") == {yes, no}
    assert found(svc, admin, "contract", auto_renew__isnull="true") == set()
    with pytest.raises(ValidationFailed):
        find(svc, admin, "contract", auto_renew__gt="false")


def test_filter_owner_me_and_user_fields(svc: RecordService, people: dict[str, Actor],
                                         customers: dict[str, dict[str, Any]]) -> None:
    admin, agent, agent2 = people["admin"], people["agent"], people["agent2"]
    assert found(svc, agent, "customer", owner="me") == {customers["binh"]["id"]}
    assert found(svc, admin, "customer", owner="me") == set()
    assert found(svc, admin, "customer", owner="agent@water.test") == {customers["binh"]["id"]}
    assert found(svc, admin, "customer", owner=agent.user_id) == {customers["binh"]["id"]}
    assert found(svc, admin, "customer", owner__isnull="true") == {
        customers["an"]["id"], customers["chi"]["id"]}
    assert found(svc, admin, "customer", owner__ne=agent.user_id) == {
        customers["an"]["id"], customers["chi"]["id"]}
    assert found(svc, admin, "customer", created_by="me") == {
        c["id"] for c in customers.values()}

    t1 = complaint(svc, admin, "t1", assignee="agent@water.test",
                   watchers=[agent2.user_id, "admin@water.test"])
    t2 = complaint(svc, admin, "t2", assignee=agent2.user_id, watchers="agent@water.test")
    t3 = complaint(svc, admin, "t3")
    assert t1["assignee"] == agent.user_id and t1["watchers"] == [agent2.user_id, 2]
    assert found(svc, agent, "ticket", assignee="me") == {t1["id"]}
    assert found(svc, admin, "ticket", assignee="agent2@water.test") == {t2["id"]}
    assert found(svc, admin, "ticket", assignee__in="4,5") == {t1["id"], t2["id"]}
    assert found(svc, admin, "ticket", assignee__ne=agent.user_id) == {t2["id"], t3["id"]}
    assert found(svc, admin, "ticket", assignee__isnull="true") == {t3["id"]}
    assert found(svc, agent, "ticket", watchers="me") == {t2["id"]}
    assert found(svc, admin, "ticket", watchers=agent2.user_id) == {t1["id"]}
    assert found(svc, admin, "ticket", watchers__in="4,5") == {t1["id"], t2["id"]}
    assert found(svc, admin, "ticket", watchers__ne="me") == {t2["id"], t3["id"]}
    assert found(svc, admin, "ticket", watchers__isnull="1") == {t3["id"]}


def test_filter_link_fields(svc: RecordService, admin: Actor) -> None:
    a, b, c = (customer(svc, admin, n) for n in ("A", "B", "C"))
    order = {"title": "O", "order_date": "2026-01-01"}
    oa = svc.create(admin, "order", {**order, "customer": a["id"]})["id"]
    ob = svc.create(admin, "order", {**order, "customer": {"id": b["id"]}})["id"]
    assert found(svc, admin, "order", customer=a["id"]) == {oa}
    assert found(svc, admin, "order", customer__in=f"{a['id']},{b['id']}") == {oa, ob}
    assert found(svc, admin, "order", customer__ne=a["id"]) == {ob}
    assert found(svc, admin, "order", customer=c["id"]) == set()
    assert found(svc, admin, "order", customer__isnull="false") == {oa, ob}
    with pytest.raises(ValidationFailed):
        find(svc, admin, "order", customer__gt=a["id"])
    # a note is about a record of any entity
    n1 = svc.create(admin, "note", {"body": "called", "record": {"entity": "customer",
                                                                  "id": a["id"]}})
    assert n1["record"] == {"entity": "customer", "id": a["id"]}
    assert found(svc, admin, "note", record=a["id"]) == {n1["id"]}
    assert errors_of(svc.create, admin, "note", {"body": "x", "record": {
        "entity": "order", "id": a["id"]}}) == {"record": [f"no order {a['id']}"]}
    # moving the order to another customer moves it in the filter
    svc.update(admin, "order", oa, {"customer": c["id"]})
    assert found(svc, admin, "order", customer=c["id"]) == {oa}
    assert found(svc, admin, "order", customer=a["id"]) == set()


@pytest.fixture
def tagged(store: TenantStore, water: Tenant, engine: Engine) -> RecordService:
    """The water tenant with a multiselect `tags` and an indexed integer `meter_size`."""
    tenant = with_customer_fields(store, water, """
  tags:
    type: multiselect
    label: {en: Tags, vi: Nhãn}
    options:
      - {value: vip, label: {en: VIP, vi: Khách VIP}}
      - late_payer
      - new
  meter_size:
    type: integer
    label: Meter size (mm)
    min: 15
    index: true
""")
    return RecordService(engine, tenant)


def test_filter_multiselect(tagged: RecordService, admin: Actor) -> None:
    svc = tagged
    a = customer(svc, admin, "A", tags=["vip", "new"])["id"]
    b = customer(svc, admin, "B", tags="late_payer")["id"]
    c = customer(svc, admin, "C")["id"]
    d = customer(svc, admin, "D", tags="Khách VIP")["id"]
    assert svc.get(admin, "customer", d)["tags"] == ["vip"]
    assert found(svc, admin, "customer", tags="vip") == {a, d}
    assert found(svc, admin, "customer", tags__contains="new") == {a}
    assert found(svc, admin, "customer", tags__in="new,late_payer") == {a, b}
    assert found(svc, admin, "customer", tags__ne="vip") == {b, c}
    assert found(svc, admin, "customer", tags__isnull="true") == {c}
    assert found(svc, admin, "customer", tags__isnull="false") == {a, b, d}
    with pytest.raises(ValidationFailed):
        find(svc, admin, "customer", tags="gold")
    with pytest.raises(ValidationFailed):
        find(svc, admin, "customer", tags__gt="vip")


def test_a_custom_field_added_by_put_file_is_live(store: TenantStore, water: Tenant,
                                                   engine: Engine, admin: Actor) -> None:
    old = RecordService(engine, water)
    assert errors_of(old.create, admin, "customer", {"name": "A", "meter_size": 20}) == {
        "meter_size": ["unknown field"]}
    tenant = with_customer_fields(store, water, """
  meter_size:
    type: integer
    label: Meter size (mm)
    min: 15
    index: true
""")
    assert tenant.version == water.version + 1
    svc = RecordService(engine, tenant)
    a = customer(svc, admin, "A", meter_size="20")
    b = customer(svc, admin, "B", meter_size=100)
    assert a["meter_size"] == 20
    assert errors_of(svc.create, admin, "customer", {"name": "C", "meter_size": 10}) == {
        "meter_size": ["must be at least 15"]}
    assert found(svc, admin, "customer", meter_size="20") == {a["id"]}
    assert found(svc, admin, "customer", meter_size__gt="25") == {b["id"]}   # numerically
    assert found(svc, admin, "customer", meter_size__lt="25") == {a["id"]}
    assert find(svc, admin, "customer", sort="-meter_size") == [b["id"], a["id"]]
    assert _index_exists(engine, index_name("customer", "meter_size"))
    # the store hands out the new model too
    assert "meter_size" in store.get("water").model.entities["customer"].field_map


def test_q_searches_title_and_phone_digits(svc: RecordService, admin: Actor,
                                           customers: dict[str, dict[str, Any]]) -> None:
    an, binh, chi = (customers[k]["id"] for k in ("an", "binh", "chi"))
    assert found(svc, admin, "customer", q="nguyen") == {an}
    assert found(svc, admin, "customer", q="TRAN") == {binh}
    assert found(svc, admin, "customer", q="0901234567") == {an}
    assert found(svc, admin, "customer", q="090 123 4567") == {an}
    assert found(svc, admin, "customer", q="+84901234567") == {an}
    assert found(svc, admin, "customer", q="1234") == {an, binh}
    assert found(svc, admin, "customer", q="3812 3456") == {binh}   # phone2
    assert found(svc, admin, "customer", q="an@water") == {an}      # an e-mail key
    assert found(svc, admin, "customer", q="ab1234") == {an}        # a lookup key
    assert found(svc, admin, "customer", q="100%") == {chi}
    assert found(svc, admin, "customer", q="%") == {chi}
    assert found(svc, admin, "customer", q="nobody") == set()
    assert found(svc, admin, "customer", q="nguyen", district="quan_3") == set()
    assert found(svc, admin, "customer", q="tran", district="quan_3") == {binh}


def test_sort_and_paging(svc: RecordService, admin: Actor) -> None:
    made = {}
    for name, members in (("Dung", 4), ("An", 2), ("Chi", None), ("Binh", 2), ("Em", 9)):
        extra = {"household_members": members} if members else {}
        made[name] = customer(svc, admin, name, **extra)["id"]
    by_name = [made[n] for n in ("An", "Binh", "Chi", "Dung", "Em")]
    assert find(svc, admin, "customer", sort="name") == by_name
    assert find(svc, admin, "customer", sort="-name") == by_name[::-1]
    assert find(svc, admin, "customer", sort="title") == by_name
    # numbers sort as numbers; empty values come last either way, on both databases
    assert find(svc, admin, "customer", sort="household_members,name") == [
        made["An"], made["Binh"], made["Dung"], made["Em"], made["Chi"]]
    assert find(svc, admin, "customer", sort="-household_members,-name") == [
        made["Em"], made["Dung"], made["Binh"], made["An"], made["Chi"]]
    assert find(svc, admin, "customer", sort="id") == sorted(made.values())
    # the default: most recently updated first
    svc.update(admin, "customer", made["Chi"], {"name": "Chi 2"})
    assert find(svc, admin, "customer")[0] == made["Chi"]
    # paging
    query = parse_query({"sort": "name", "per_page": "2", "page": "2"},
                        filterable_fields(svc.model, svc.entity("customer")))
    page = svc.list(admin, "customer", query)
    assert ids(page) == by_name[2:4] and page.total == 5
    assert page.json()["total"] == 5 and page.json()["page"] == 2
    assert find(svc, admin, "customer", sort="name", per_page=2, page=3) == by_name[4:]
    assert find(svc, admin, "customer", sort="name", per_page=2, page=9) == []
    big = parse_query({"per_page": "100000"}, filterable_fields(svc.model,
                                                                svc.entity("customer")))
    assert big.per_page == 500


def test_related_lists(svc: RecordService, admin: Actor) -> None:
    a, b = customer(svc, admin, "A"), customer(svc, admin, "B")
    od = {"title": "O", "order_date": "2026-01-01"}
    o1 = svc.create(admin, "order", {**od, "customer": a["id"]})
    o2 = svc.create(admin, "order", {**od, "customer": a["id"], "status": "confirmed"})
    svc.create(admin, "order", {**od, "customer": b["id"]})
    t1 = complaint(svc, admin, customer=a["id"])
    n1 = svc.create(admin, "note", {"body": "x", "record": {"entity": "customer",
                                                             "id": a["id"]}})
    svc.create(admin, "note", {"body": "y", "record": {"entity": "customer", "id": b["id"]}})
    svc.create(admin, "note", {"body": "z", "record": {"entity": "order", "id": o1["id"]}})
    assert set(ids(svc.related(admin, "customer", a["id"], "order"))) == {o1["id"], o2["id"]}
    assert ids(svc.related(admin, "customer", a["id"], "ticket")) == [t1["id"]]
    assert ids(svc.related(admin, "customer", a["id"], "note")) == [n1["id"]]
    assert ids(svc.related(admin, "customer", a["id"], "contract")) == []
    filtered = parse_query({"status": "confirmed"},
                           filterable_fields(svc.model, svc.entity("order")))
    assert ids(svc.related(admin, "customer", a["id"], "order", filtered)) == [o2["id"]]
    svc.delete(admin, "order", o2["id"])
    assert ids(svc.related(admin, "customer", a["id"], "order")) == [o1["id"]]
    svc.update(admin, "order", o1["id"], {"customer": b["id"]})
    assert ids(svc.related(admin, "customer", a["id"], "order")) == []
    with pytest.raises(NotFound):
        svc.related(admin, "customer", a["id"], "spaceship")
    with pytest.raises(NotFound):
        svc.related(admin, "customer", 999999, "order")


def test_find_by_key_in_any_spelling(svc: RecordService, admin: Actor,
                                     customers: dict[str, dict[str, Any]]) -> None:
    an, binh = customers["an"]["id"], customers["binh"]["id"]
    contact = svc.create(admin, "contact", {"name": "Mrs An", "phone": "0901234567",
                                            "customer": an})
    for spelling in ("0901234567", "090 123 4567", "+84901234567", "+84 90 123 4567"):
        assert ids(svc.find_by_key(admin, spelling)) == [an, contact["id"]], spelling
        assert ids(svc.find_by_key(admin, spelling, ["customer"])) == [an]
    assert ids(svc.find_by_key(admin, "028 3812 3456")) == [binh]      # phone2 (lookup)
    assert ids(svc.find_by_key(admin, "AN@Water.vn")) == [an]           # e-mail
    assert ids(svc.find_by_key(admin, "AB12345")) == [an]               # lookup text
    assert svc.find_by_key(admin, "0999999999") == []


def test_auto_opportunity_when_the_tenant_sets_it(store: TenantStore, water: Tenant,
                                                  engine: Engine,
                                                  people: dict[str, Actor]) -> None:
    svc = RecordService(engine, water)
    customer(svc, people["admin"], "No opp")
    assert find(svc, people["admin"], "opportunity") == []
    settings = store.files(water.id)["tenant.yaml"]
    assert "auto_opportunity: false" in settings
    tenant = store.put_file(water.id, "tenant.yaml",
                            settings.replace("auto_opportunity: false", "auto_opportunity: true"))
    assert tenant.model.settings.auto_opportunity is True
    svc = RecordService(engine, tenant)
    agent = people["agent"]
    c = customer(svc, agent, "Lan Pham")
    opps = svc.related(agent, "customer", c["id"], "opportunity").items
    assert len(opps) == 1
    opp = opps[0]
    assert opp["name"] == "Lan Pham" and opp["customer"] == c["id"]
    assert opp["stage"] == "open" and opp["owner"] == agent.user_id
    assert find(svc, people["admin"], "opportunity") == [opp["id"]]
    # a customer that fails validation leaves no opportunity behind
    errors_of(svc.create, agent, "customer", {"name": "", "phone": "abc"})
    assert len(find(svc, people["admin"], "opportunity")) == 1
    # only customers make one
    svc.create(agent, "company", {"name": "Co"})
    assert len(find(svc, people["admin"], "opportunity")) == 1


# -- expression indexes -------------------------------------------------------------------
def _index_exists(engine: Engine, name: str) -> bool:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            sql = ("SELECT 1 FROM pg_indexes WHERE indexname = :n "
                   "AND schemaname = current_schema()")
        else:
            sql = "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = :n"
        return conn.execute(text(sql), {"n": name}).first() is not None


def test_index_true_fields_have_an_expression_index(engine: Engine, water: Tenant) -> None:
    for entity, field in (("customer", "district"), ("customer", "customer_type"),
                          ("customer", "priority"), ("contract", "status"),
                          ("ticket", "district"), ("ticket", "leak_size")):
        assert _index_exists(engine, index_name(entity, field)), (entity, field)
    assert not _index_exists(engine, index_name("customer", "ward"))   # not index: true


def test_an_eq_filter_uses_the_expression_index(svc: RecordService, admin: Actor,
                                                engine: Engine) -> None:
    districts = [d for d in _district_values(svc) if d != "can_gio"]
    rng = random.Random(7)
    with engine.begin() as conn:
        for i in range(1500):
            district = "can_gio" if i % 100 == 0 else rng.choice(districts)
            svc.create(admin, "customer", {"name": f"c{i}", "district": district}, conn=conn)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE records") if engine.dialect.name == "postgresql"
                     else text("ANALYZE"))
    statements: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                executemany: bool) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        assert len(find(svc, admin, "customer", district="can_gio", per_page=500)) == 15
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    listed = [(s, p) for s, p in statements if "FROM records" in s]
    assert len(listed) == 2    # the count and the page
    name = index_name("customer", "district")
    with engine.connect() as conn:
        for statement, params in listed:
            if engine.dialect.name == "postgresql":
                plan = "\n".join(r[0] for r in conn.exec_driver_sql(
                    "EXPLAIN " + statement, params))
            else:
                plan = "\n".join(str(r[-1]) for r in conn.exec_driver_sql(
                    "EXPLAIN QUERY PLAN " + statement, params))
            assert name in plan, plan


def test_a_numeric_index_does_not_break_another_tenant(store: TenantStore, water: Tenant,
                                                       engine: Engine, admin: Actor,
                                                       coffee: tuple[Tenant, Actor]) -> None:
    """Expression indexes are shared by every tenant's entity of that name: one tenant's
    integer `grade` must not stop another from keeping text in its own `grade`."""
    tenant = with_customer_fields(store, water, "  grade: {type: integer, index: true}\n")
    coffee_tenant, coffee_owner = coffee
    with_customer_fields(store, coffee_tenant, "  grade: {type: text}\n")
    theirs = RecordService(engine, store.get("coffee"))
    mine = RecordService(engine, tenant)
    gold = theirs.create(coffee_owner, "customer", {"name": "Lan", "grade": "gold"})
    assert gold["grade"] == "gold"
    two = customer(mine, admin, "An", grade=2)
    eleven = customer(mine, admin, "Binh", grade=11)
    assert found(mine, admin, "customer", grade__gt="3") == {eleven["id"]}
    assert found(mine, admin, "customer", grade__lt="3") == {two["id"]}
    assert found(theirs, coffee_owner, "customer", grade="gold") == {gold["id"]}


def test_a_rolled_back_write_is_never_announced(engine: Any, water: Any,
                                                people: dict[str, Actor]) -> None:
    heard: list[str] = []
    svc = RecordService(engine, water, listeners=[lambda c: heard.append(c.record["name"])])
    admin = people["admin"]
    with pytest.raises(RuntimeError), svc.transaction() as tx:
        svc.create(admin, "customer", {"name": "Ghost"}, conn=tx)
        raise RuntimeError("changed my mind")
    svc.create(admin, "customer", {"name": "Real"})
    with svc.transaction() as tx:
        svc.create(admin, "customer", {"name": "Batch"}, conn=tx)
    assert heard == ["Real", "Batch"]
    assert svc.list(admin, "customer").total == 2
