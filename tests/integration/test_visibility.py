"""Adversarial visibility (CONTRACT §4): tenants never see each other, and within a tenant
each role sees exactly what the contract says, in every read and write of the service.

Another tenant's record is NotFound (404) for every operation, never Forbidden (403) and
never data. Agents see records they own or nobody owns (for tickets also those they are
assignee, creator or watcher of); supervisors the same for their team's members; owners
and admins everything. The same rule filters lists, related lists and key look-ups; a
randomised model of it is checked against the service on many records.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from callboard.engine.access import Actor
from callboard.engine.bundle import BundleSource
from callboard.engine.errors import Forbidden, NotFound, ValidationFailed
from callboard.engine.queries import Query, filterable_fields, parse_query
from callboard.engine.records import RecordService
from callboard.engine.tenancy import Tenant, TenantStore

ROOT = Path(__file__).resolve().parents[2]
COFFEE = ROOT / "templates" / "coffee_chain"
ALL = Query(per_page=500)


@dataclass
class World:
    water: RecordService
    coffee: RecordService
    people: dict[str, Actor]          # water members (conftest)
    baristas: dict[str, Actor]        # coffee members, the same roles and team names
    teams: dict[int, dict[str, set[int]]] = field(default_factory=dict)  # tenant->team->ids


@pytest.fixture
def world(engine: Engine, store: TenantStore, water: Tenant,
          people: dict[str, Actor]) -> World:
    coffee = store.create("coffee", None, BundleSource.from_dir(COFFEE))
    spec = [(11, "owner", None), (12, "admin", None), (13, "supervisor", "a"),
            (14, "agent", "a"), (15, "agent", "a"), (16, "agent", "b")]
    names = ["owner", "admin", "supervisor", "agent", "agent2", "agent_b"]
    baristas = {}
    for (uid, role, team), name in zip(spec, names, strict=True):
        email = f"{name}@coffee.test"
        store.add_member(coffee.id, uid, email, role, team=team, extension=str(100 + uid))
        baristas[name] = Actor(coffee.id, uid, role, team=team, email=email)
    teams = {water.id: {"a": {3, 4, 5}, "b": {6}}, coffee.id: {"a": {13, 14, 15}, "b": {16}}}
    return World(RecordService(engine, water), RecordService(engine, coffee), people,
                 baristas, teams)


def ids(items: Any) -> set[int]:
    items = getattr(items, "items", items)
    return {r["id"] for r in items}


def listed(svc: RecordService, actor: Actor, entity: str, **params: str) -> set[int]:
    query = parse_query({"per_page": "500", **params},
                        filterable_fields(svc.model, svc.entity(entity)))
    return ids(svc.list(actor, entity, query))


# -- tenants ------------------------------------------------------------------------------
@pytest.fixture
def theirs(world: World) -> dict[str, dict[str, Any]]:
    """Records of the coffee tenant, of every kind the water users might poke at."""
    svc, boss, agent = world.coffee, world.baristas["owner"], world.baristas["agent"]
    cust = svc.create(boss, "customer", {"name": "Lan", "phone": "0987654321",
                                         "email": "lan@coffee.vn"})
    pool = svc.create(boss, "customer", {"name": "Pool", "phone": "0911111111"})
    ticket = svc.create(agent, "ticket", {"type": "feedback", "subject": "Great latte",
                                          "customer": cust["id"]})
    note = svc.create(boss, "note", {"body": "VIP", "record": {"entity": "customer",
                                                               "id": cust["id"]}})
    return {"customer": cust, "pool": pool, "ticket": ticket, "note": note}


@pytest.mark.parametrize("who", ["owner", "admin", "supervisor", "agent"])
def test_another_tenants_records_are_not_found_for_every_operation(
        world: World, theirs: dict[str, dict[str, Any]], who: str) -> None:
    svc, actor = world.water, world.people[who]
    for entity, rec in (("customer", theirs["customer"]), ("customer", theirs["pool"]),
                        ("ticket", theirs["ticket"]), ("note", theirs["note"])):
        rid = rec["id"]
        attempts = {
            "get": lambda e=entity, r=rid: svc.get(actor, e, r),
            "get as text id": lambda e=entity, r=rid: svc.get(actor, e, str(r)),
            "update": lambda e=entity, r=rid: svc.update(actor, e, r, {"subject": "x"}),
            "update with version": lambda e=entity, r=rid: svc.update(
                actor, e, r, {}, version=1),
            "delete": lambda e=entity, r=rid: svc.delete(actor, e, r),
            "claim": lambda e=entity, r=rid: svc.claim(actor, e, r),
            "activity": lambda e=entity, r=rid: svc.activity(actor, e, r),
            "related": lambda e=entity, r=rid: svc.related(actor, e, r, "ticket"),
            "related notes": lambda e=entity, r=rid: svc.related(actor, e, r, "note"),
        }
        for name, attempt in attempts.items():
            try:
                result = attempt()
            except NotFound:
                continue
            except Forbidden:
                pytest.fail(f"{who} {name} {entity} {rid}: 403 reveals the record exists")
            except Exception as e:  # anything else is a leak or a crash
                pytest.fail(f"{who} {name} {entity} {rid}: {type(e).__name__}: {e}")
            pytest.fail(f"{who} {name} {entity} {rid} returned {result!r}")
        assert rid not in listed(svc, actor, entity)
        assert rid not in listed(svc, actor, entity, id=str(rid))
        assert rid not in listed(svc, actor, entity, id__in=f"{rid},{rid + 1}")
        assert rid not in listed(svc, actor, entity, id__isnull="false")
    assert svc.find_by_key(actor, "0987654321") == []
    assert svc.find_by_key(actor, "+84987654321") == []
    assert svc.find_by_key(actor, "lan@coffee.vn") == []
    assert listed(svc, actor, "customer", q="Lan") == set()
    assert listed(svc, actor, "customer", q="0987654321") == set()
    assert listed(svc, actor, "customer", phone="0987654321") == set()
    assert listed(svc, actor, "ticket", customer=str(theirs["customer"]["id"])) == set()
    # nothing about the coffee records changed
    boss = world.baristas["owner"]
    for key, entity in (("customer", "customer"), ("pool", "customer"),
                        ("ticket", "ticket"), ("note", "note")):
        now = world.coffee.get(boss, entity, theirs[key]["id"])
        assert now["version"] == 1 and now["owner"] == theirs[key]["owner"]
        assert len(world.coffee.activity(boss, entity, theirs[key]["id"])) == 1


def test_writes_cannot_point_into_another_tenant(world: World,
                                                 theirs: dict[str, dict[str, Any]]) -> None:
    svc, admin = world.water, world.people["admin"]
    foreign = theirs["customer"]["id"]
    errors = _errors(svc.create, admin, "ticket", {
        "type": "complaint", "subject": "s", "product": "water", "customer": foreign,
        "assignee": "agent@coffee.test", "watchers": [14]})
    assert errors == {"customer": [f"no customer {foreign}"],
                      "assignee": ["no user 'agent@coffee.test' in this tenant"],
                      "watchers": ["no user '14' in this tenant"]}
    assert _errors(svc.create, admin, "note", {
        "body": "x", "record": {"entity": "customer", "id": foreign}}) == {
        "record": [f"no customer {foreign}"]}
    assert _errors(svc.create, admin, "customer", {"name": "x", "owner": 11}) == {
        "owner": ["no user '11' in this tenant"]}
    mine = svc.create(admin, "customer", {"name": "Mine"})
    assert _errors(svc.update, admin, "customer", mine["id"], {"owner": 14}) == {
        "owner": ["no user '14' in this tenant"]}
    # the same phone may exist once in each tenant: uniqueness is per tenant
    same = svc.create(admin, "customer", {"name": "Also Lan", "phone": "0987654321"})
    assert same["phone"] == "+84987654321"
    assert ids(svc.find_by_key(admin, "0987654321")) == {same["id"]}
    assert ids(world.coffee.find_by_key(world.baristas["owner"], "0987654321")) == {foreign}


def test_an_actor_of_another_tenant_gets_nothing_from_this_service(
        world: World, theirs: dict[str, dict[str, Any]]) -> None:
    """A service is bound to its tenant: a user of another tenant handed to it (a wiring
    mistake in a caller) must not read or write through it."""
    svc, intruder = world.coffee, world.people["owner"]
    mine = world.water.create(world.people["admin"], "customer", {"name": "Water cust"})
    for rid in (theirs["customer"]["id"], mine["id"]):
        for attempt in (lambda r=rid: svc.get(intruder, "customer", r),
                        lambda r=rid: svc.update(intruder, "customer", r, {"name": "x"}),
                        lambda r=rid: svc.delete(intruder, "customer", r),
                        lambda r=rid: svc.claim(intruder, "customer", r),
                        lambda r=rid: svc.activity(intruder, "customer", r),
                        lambda r=rid: svc.related(intruder, "customer", r, "ticket")):
            with pytest.raises(NotFound):
                attempt()
    with pytest.raises(NotFound):
        svc.list(intruder, "customer", ALL)
    with pytest.raises(NotFound):
        svc.create(intruder, "customer", {"name": "Planted"})
    assert svc.find_by_key(intruder, "0987654321") == []
    assert ids(svc.list(world.baristas["owner"], "customer", ALL)) == {
        theirs["customer"]["id"], theirs["pool"]["id"]}


def test_same_team_names_do_not_cross_tenants(world: World) -> None:
    """Both tenants have a team "a": a supervisor sees only its own tenant's team a."""
    theirs = world.coffee.create(world.baristas["agent"], "customer", {"name": "Coffee a"})
    ours = world.water.create(world.people["agent"], "customer", {"name": "Water a"})
    assert listed(world.water, world.people["supervisor"], "customer") == {ours["id"]}
    assert listed(world.coffee, world.baristas["supervisor"], "customer") == {theirs["id"]}


def _errors(call: Any, *args: Any, **kwargs: Any) -> dict[str, list[str]]:
    with pytest.raises(ValidationFailed) as info:
        call(*args, **kwargs)
    return info.value.errors


# -- roles --------------------------------------------------------------------------------
def test_agents_see_their_own_and_unowned_records(world: World) -> None:
    svc, p = world.water, world.people
    mine = svc.create(p["agent"], "customer", {"name": "Mine", "phone": "0901000001"})
    pool = svc.create(p["admin"], "customer", {"name": "Pool", "phone": "0901000002"})
    theirs = svc.create(p["agent2"], "customer", {"name": "Agent2's", "phone": "0901000003"})
    b_team = svc.create(p["admin"], "customer", {"name": "B's", "phone": "0901000004",
                                                 "owner": "agent_b@water.test"})
    agent = p["agent"]
    assert listed(svc, agent, "customer") == {mine["id"], pool["id"]}
    assert svc.get(agent, "customer", pool["id"])["name"] == "Pool"
    for hidden in (theirs, b_team):
        for attempt in (lambda h=hidden: svc.get(agent, "customer", h["id"]),
                        lambda h=hidden: svc.update(agent, "customer", h["id"], {"name": "x"}),
                        lambda h=hidden: svc.delete(agent, "customer", h["id"]),
                        lambda h=hidden: svc.claim(agent, "customer", h["id"]),
                        lambda h=hidden: svc.activity(agent, "customer", h["id"]),
                        lambda h=hidden: svc.related(agent, "customer", h["id"], "ticket")):
            with pytest.raises(NotFound):
                attempt()
    assert svc.find_by_key(agent, "0901000003") == []
    assert ids(svc.find_by_key(agent, "0901000002")) == {pool["id"]}
    assert listed(svc, agent, "customer", q="Agent2") == set()
    assert listed(svc, agent, "customer", owner=str(p["agent2"].user_id)) == set()


def test_agents_see_tickets_they_are_assignee_creator_or_watcher_of(world: World) -> None:
    svc, p = world.water, world.people
    admin, agent = p["admin"], p["agent"]
    base = {"type": "complaint", "product": "water"}
    owned_by_other = {"owner": "agent2@water.test"}
    assigned = svc.create(admin, "ticket", {**base, "subject": "assigned",
                                            "assignee": agent.user_id, **owned_by_other})
    watching = svc.create(admin, "ticket", {**base, "subject": "watching",
                                            "watchers": [6, agent.user_id], **owned_by_other})
    created = svc.create(agent, "ticket", {**base, "subject": "created"})
    svc.update(admin, "ticket", created["id"], {"owner": 5})       # still its creator
    hidden = svc.create(admin, "ticket", {**base, "subject": "hidden",
                                          "assignee": 5, "watchers": [6], **owned_by_other})
    pool = svc.create(admin, "ticket", {**base, "subject": "pool"})
    expected = {assigned["id"], watching["id"], created["id"], pool["id"]}
    assert listed(svc, agent, "ticket") == expected
    with pytest.raises(NotFound):
        svc.get(agent, "ticket", hidden["id"])
    # watching is not owning another entity: the rule is for tickets only
    cust = svc.create(admin, "customer", {"name": "Owned by 5", "owner": 5})
    assert cust["id"] not in listed(svc, agent, "customer")
    # losing the link loses the ticket
    svc.update(admin, "ticket", watching["id"], {"watchers": [6]})
    svc.update(admin, "ticket", assigned["id"], {"assignee": None})
    assert listed(svc, agent, "ticket") == {created["id"], pool["id"]}


def test_supervisor_sees_its_team_and_unowned_not_team_b(world: World) -> None:
    svc, p = world.water, world.people
    sup, admin = p["supervisor"], p["admin"]
    a1 = svc.create(p["agent"], "customer", {"name": "a1"})
    a2 = svc.create(p["agent2"], "customer", {"name": "a2"})
    own = svc.create(sup, "customer", {"name": "sup's", "owner": "me"})
    pool = svc.create(admin, "customer", {"name": "pool"})
    b = svc.create(p["agent_b"], "customer", {"name": "b"})
    by_admin = svc.create(admin, "customer", {"name": "admin's", "owner": admin.user_id})
    assert listed(svc, sup, "customer") == {a1["id"], a2["id"], own["id"], pool["id"]}
    for hidden in (b, by_admin):
        with pytest.raises(NotFound):
            svc.get(sup, "customer", hidden["id"])
        with pytest.raises(NotFound):
            svc.update(sup, "customer", hidden["id"], {"name": "x"})
        with pytest.raises(NotFound):
            svc.delete(sup, "customer", hidden["id"])
    # team b's agent does not see team a's records either
    assert listed(svc, p["agent_b"], "customer") == {b["id"], pool["id"]}
    # a team-b ticket that team a watches is visible to team a's supervisor
    t = svc.create(p["agent_b"], "ticket", {"type": "complaint", "subject": "s",
                                            "product": "water"})
    assert t["id"] not in listed(svc, sup, "ticket")
    svc.update(admin, "ticket", t["id"], {"watchers": [p["agent2"].user_id]})
    assert t["id"] in listed(svc, sup, "ticket")


def test_owner_and_admin_see_everything(world: World) -> None:
    svc, p = world.water, world.people
    made = {svc.create(p[w], "customer", {"name": w})["id"]
            for w in ("agent", "agent2", "agent_b", "supervisor", "admin", "owner")}
    made.add(svc.create(p["admin"], "customer", {"name": "x", "owner": 6})["id"])
    for who in ("owner", "admin"):
        assert listed(svc, p[who], "customer") == made


# -- the rule, checked at random ----------------------------------------------------------
@dataclass
class Rec:
    tenant: int
    entity: str
    id: int
    owner: int | None
    creator: int | None
    assignee: int | None = None
    watchers: tuple[int, ...] = ()
    customer: int | None = None
    phone: str | None = None
    deleted: bool = False


def expected_visible(actor: Actor, rec: Rec, teams: dict[int, dict[str, set[int]]]) -> bool:
    """CONTRACT §4, written independently of access.scope()."""
    if rec.tenant != actor.tenant_id or rec.deleted:
        return False
    if actor.role in ("owner", "admin"):
        return True
    if rec.owner is None:
        return True
    if actor.role == "agent":
        people = {actor.user_id}
    elif actor.role == "supervisor":
        people = set(teams[actor.tenant_id].get(actor.team or "", set())) | {actor.user_id}
    else:
        return False
    if rec.owner in people:
        return True
    if rec.entity == "ticket":
        return bool({rec.creator, rec.assignee, *rec.watchers} & people - {None})
    return False


def _random_world(world: World, rng: random.Random) -> list[Rec]:
    recs: list[Rec] = []
    for tenant_svc, members, ticket in ((world.water, world.people,
                                         {"type": "complaint", "product": "water"}),
                                        (world.coffee, world.baristas,
                                         {"type": "feedback"})):
        actors = list(members.values())
        uids = [a.user_id for a in actors]
        admin = members["admin"]
        tid = tenant_svc.tenant.id
        customers: list[Rec] = []
        for i in range(14):
            creator = rng.choice(actors)
            values: dict[str, Any] = {"name": f"c{i}", "phone": f"09{rng.randrange(10**8):08d}"}
            if creator.role != "agent":
                values["owner"] = rng.choice([None, None, *uids])
            try:
                rec = tenant_svc.create(creator, "customer", values)
            except ValidationFailed:   # the random phone was taken: draw again
                continue
            r = Rec(tid, "customer", rec["id"], rec["owner"], creator.user_id,
                    phone=rec["phone"])
            customers.append(r)
            recs.append(r)
            if rng.random() < 0.5:  # a contact with the same number (a lookup key)
                contact_by = rng.choice(actors)
                c = tenant_svc.create(contact_by, "contact", {"name": f"k{i}",
                                                              "phone": values["phone"]})
                recs.append(Rec(tid, "contact", c["id"], c["owner"], contact_by.user_id,
                                phone=c["phone"]))
        teams: dict[int, dict[str, set[int]]] = {tid: {}}
        for a in actors:
            teams[tid].setdefault(a.team or "", set()).add(a.user_id)
        for i in range(22):
            creator = rng.choice(actors)
            # one can only link to what one can see (an invisible record does not exist)
            seen = [c for c in customers if expected_visible(creator, c, teams)]
            if not seen:
                continue
            cust = rng.choice(seen)
            values = {**ticket, "subject": f"t{i}", "customer": cust.id}
            if rng.random() < 0.6:
                values["assignee"] = rng.choice(uids)
            if rng.random() < 0.5:
                values["watchers"] = rng.sample(uids, rng.randint(1, 3))
            if creator.role != "agent":
                values["owner"] = rng.choice([None, *uids])
            t = tenant_svc.create(creator, "ticket", values)
            r = Rec(tid, "ticket", t["id"], t["owner"], creator.user_id,
                    t.get("assignee"), tuple(t.get("watchers", ())), cust.id)
            if rng.random() < 0.3:   # an admin hands it to someone else (creator stays)
                r.owner = tenant_svc.update(admin, "ticket", t["id"],
                                            {"owner": rng.choice([None, *uids])})["owner"]
            recs.append(r)
        for r in rng.sample(recs, 6):   # some are deleted
            if r.tenant == tid and not r.deleted:
                tenant_svc.delete(admin, r.entity, r.id)
                r.deleted = True
    return recs


@pytest.mark.parametrize("seed", [1, 2])
def test_visibility_matches_a_brute_force_model(world: World, seed: int) -> None:
    rng = random.Random(seed)
    recs = _random_world(world, rng)
    services = {world.water.tenant.id: world.water, world.coffee.tenant.id: world.coffee}
    actors = [*world.people.values(), *world.baristas.values()]
    problems: list[str] = []
    for actor in actors:
        svc = services[actor.tenant_id]
        for entity in ("customer", "contact", "ticket"):
            want = {r.id for r in recs if r.entity == entity
                    and expected_visible(actor, r, world.teams)}
            got = ids(svc.list(actor, entity, ALL))
            if got != want:
                problems.append(f"list {entity} as {actor.role} {actor.user_id}: "
                                f"extra {sorted(got - want)}, missing {sorted(want - got)}")
            # the other tenant's service shows this actor nothing at all
            other = services[next(t for t in services if t != actor.tenant_id)]
            with pytest.raises(NotFound):
                other.list(actor, entity, ALL)
        for cust in (r for r in recs if r.entity == "customer"):
            # get, related and find_by_key follow the same rule
            if expected_visible(actor, cust, world.teams):
                assert svc.get(actor, "customer", cust.id)["id"] == cust.id
                want = {r.id for r in recs if r.entity == "ticket" and r.customer == cust.id
                        and expected_visible(actor, r, world.teams)}
                got = ids(svc.related(actor, "customer", cust.id, "ticket", ALL))
                if got != want:
                    problems.append(f"related tickets of {cust.id} as {actor.user_id}: "
                                    f"extra {sorted(got - want)}, missing {sorted(want - got)}")
            else:
                with pytest.raises(NotFound):
                    svc.get(actor, "customer", cust.id)
                with pytest.raises(NotFound):
                    svc.related(actor, "customer", cust.id, "ticket", ALL)
            want = {r.id for r in recs if r.phone == cust.phone
                    and expected_visible(actor, r, world.teams)}
            national = "0" + cust.phone[3:]        # +8490… as typed: 090…
            got = ids(svc.find_by_key(actor, national))
            if got != want:
                problems.append(f"find_by_key {national} as {actor.user_id}: "
                                f"extra {sorted(got - want)}, missing {sorted(want - got)}")
    assert not problems, "\n".join(problems[:30])
    # the model is not vacuous: every role sees some but (below owner/admin) not all
    for actor in world.people.values():
        seen = sum(expected_visible(actor, r, world.teams) for r in recs)
        alive = sum(1 for r in recs if r.tenant == actor.tenant_id and not r.deleted)
        assert seen > 0
        if actor.role in ("agent", "supervisor"):
            assert seen < alive
