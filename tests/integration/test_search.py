"""Global record search (`GET /search`) over customers, contacts and tickets, filtered by
what the caller may see; the index follows every write, deletes included, whichever
process makes it; `callboard search reindex` rebuilds it."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from callboard.cli import main


def found(api: Any, q: str, **args: Any) -> list[tuple[str, int]]:
    r = api.get("/search", query_string={"q": q, **args})
    assert r.status_code == 200, r.get_json()
    return [(i["entity"], i["id"]) for i in r.get_json()["items"]]


def made(r: Any) -> dict[str, Any]:
    assert r.status_code == 201, r.get_json()
    return r.get_json()


@pytest.fixture
def crm(as_: Any) -> dict[str, Any]:
    agent, agent_b, sup = as_("water", "agent"), as_("water", "agent_b"), as_("water", "supervisor")
    mine = made(agent.post("/records/customer", json={
        "name": "Nguyễn Thị Hương", "phone": "0901234567", "email": "huong@khach.test",
        "address": "12 Đường Lê Lợi, Quận 1"}))
    theirs = made(agent_b.post("/records/customer", json={
        "name": "Nguyễn Văn Hưng", "phone": "0987654321", "address": "5 Lê Lợi, Quận 3"}))
    shared = made(sup.post("/records/customer", json={"name": "Công ty Cấp nước Bến Thành",
                                                      "phone": "02838291234"}))
    contact = made(agent.post("/records/contact", json={"name": "Trần Hương Giang",
                                                        "customer": mine["id"]}))
    ticket = made(agent.post("/records/ticket", json={
        "type": "complaint", "subject": "Nước đục màu vàng", "product": "water",
        "customer": mine["id"]}))
    return {"mine": mine, "theirs": theirs, "shared": shared, "contact": contact,
            "ticket": ticket}


def test_records_are_found_by_name_phone_email_and_fields(as_: Any, crm: dict[str, Any]
                                                          ) -> None:
    owner = as_("water", "owner")
    mine = ("customer", crm["mine"]["id"])
    assert found(owner, "nguyen thi huong") == [mine]
    for typed in ("0901234567", "090 123 4567", "+84901234567", "84901234567"):
        assert found(owner, typed) == [mine], typed
    assert found(owner, "huong@khach.test") == [mine]
    assert sorted(found(owner, "le loi")) == sorted([mine, ("customer", crm["theirs"]["id"])])
    assert found(owner, "nuoc duc") == [("ticket", crm["ticket"]["id"])]
    assert found(owner, "huong giang") == [("contact", crm["contact"]["id"])]
    assert set(found(owner, "huong")) == {mine, ("contact", crm["contact"]["id"])}
    assert found(owner, "huong", entity="contact") == [("contact", crm["contact"]["id"])]
    r = owner.get("/search", query_string={"q": "nguyen thi huong"}).get_json()
    item = r["items"][0]
    assert r["total"] == 1 and item["title"] == "Nguyễn Thị Hương" and item["score"] > 0
    assert item["highlights"]["title"] == \
        "<mark>Nguyễn</mark> <mark>Thị</mark> <mark>Hương</mark>"
    for bad in ({"q": ""}, {"q": "x", "entity": "kb_article"}, {"q": "x", "entity": "call"},
                {"q": "x", "limit": "-1"}):
        assert owner.get("/search", query_string=bad).status_code == 422, bad


def test_search_shows_only_what_the_caller_may_see(as_: Any, crm: dict[str, Any]) -> None:
    agent, agent2, agent_b = as_("water", "agent"), as_("water", "agent2"), as_("water", "agent_b")
    sup = as_("water", "supervisor")
    mine, theirs = ("customer", crm["mine"]["id"]), ("customer", crm["theirs"]["id"])
    shared = ("customer", crm["shared"]["id"])
    assert found(agent, "le loi") == [mine]            # agent_b's customer is not there
    assert found(agent_b, "le loi") == [theirs]
    r = agent.get("/search", query_string={"q": "nguyen"}).get_json()
    assert r["total"] == 1 and "Hưng" not in str(r)    # not even in a highlight
    assert found(agent2, "le loi") == []               # a team-mate's records are its own
    assert found(agent2, "ben thanh") == [shared]      # nobody's: everyone's
    assert sorted(found(sup, "le loi")) == [mine]      # team a only
    assert sorted(found(as_("water", "admin"), "le loi")) == sorted([mine, theirs])
    assert found(agent2, "nuoc duc") == []
    assert found(as_("coffee", "owner"), "nguyen") == []
    assert found(as_("coffee", "owner"), "0901234567") == []


def test_the_index_follows_updates_deletes_and_claims(as_: Any, crm: dict[str, Any]) -> None:
    agent, agent2 = as_("water", "agent"), as_("water", "agent2")
    rid = crm["mine"]["id"]
    r = agent.patch(f"/records/customer/{rid}", json={"name": "Phạm Minh Châu"})
    assert r.status_code == 200
    assert found(agent, "nguyen thi huong") == []
    assert found(agent, "pham minh chau") == [("customer", rid)]
    assert agent.delete(f"/records/customer/{rid}").status_code == 204
    assert found(as_("water", "owner"), "pham minh chau") == []
    assert found(as_("water", "owner"), "0901234567") == []
    # a record given back to the pool becomes visible to a colleague
    t = crm["ticket"]["id"]
    assert found(agent2, "nuoc duc") == []
    shared = crm["shared"]["id"]
    sup = as_("water", "supervisor")
    assert sup.patch(f"/records/customer/{shared}", json={"owner": "agent@water.test"}
                     ).status_code == 200
    assert found(agent2, "ben thanh") == []
    assert found(agent, "ben thanh") == [("customer", shared)]
    assert found(agent, "nuoc duc") == [("ticket", t)]


def test_cli_writes_are_indexed_and_reindex_rebuilds(db_url: str, tmp_path: Path) -> None:
    env = {"CALLBOARD_DATA_DIR": str(tmp_path / "data"), "CALLBOARD_DATABASE_URL": db_url,
           "CALLBOARD_SECRET_KEY": "test-secret", "CALLBOARD_REDIS_URL": ""}
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(main, list(args), env=env, catch_exceptions=False)

    assert run("db", "upgrade").exit_code == 0
    r = run("tenant", "create", "acme", "--name", "Acme", "--template", "config",
            "--admin-email", "own@acme.test", "--admin-password", "long-enough-1")
    assert r.exit_code == 0, r.output
    from callboard.engine.access import system_actor
    from callboard.engine.db import connect
    from callboard.engine.tenancy import TenantStore
    from callboard.search.indexing import install
    from callboard.workflows.hooks import records_service

    engine = connect(db_url)
    try:
        tenant = TenantStore(engine).get("acme")
        indexer = install(engine, tmp_path / "data")      # what every command does
        svc = records_service(engine, tenant)
        actor = system_actor(tenant.id)
        with svc.transaction() as tx:   # one transaction: indexed in one go after commit
            for name in ("Đỗ Quang Vinh", "Hoàng Thị Lan", "Vũ Đức Anh"):
                svc.create(actor, "customer", {"name": name}, conn=tx)
            assert indexer.backend.count(tenant.id) == 0
        art = svc.create(actor, "kb_article", {"title": "Giá nước sinh hoạt 2026"})
        svc.update(actor, "kb_article", art["id"], {"status": "published"})
        hits = indexer.backend.search(tenant.id, "do quang vinh", entities=["customer"])
        assert hits.total == 1
        assert indexer.backend.count(tenant.id) == 4
        # the index is lost: reindex rebuilds it from the records
        indexer.backend.close()
        shutil.rmtree(tmp_path / "data" / "search")
        r = run("search", "reindex", "acme")
        assert r.exit_code == 0 and r.output.startswith("reindexed 4 records of tenant acme")
        for text, entity in (("hoang thi lan", "customer"), ("gia nuoc", "kb_article")):
            assert indexer.backend.search(tenant.id, text, entities=[entity]).total == 1
        r = run("search", "reindex", "nosuch")
        assert r.exit_code == 1 and r.output.strip() == "Error: no tenant 'nosuch'"
    finally:
        engine.dispose()


def test_reindex_runs_as_a_job(app: Any, as_: Any, crm: dict[str, Any]) -> None:
    """The jobs package runs `reindex_job` (inline here: no Redis) and records progress."""
    from callboard.jobs.runner import enqueue, get_job, register

    p = app.extensions["callboard"]
    water = p.store.get("water")
    shutil.rmtree(p.settings.data_dir / "search")
    app.extensions["callboard_search"].backend.close()
    assert found(as_("water", "owner"), "nguyen thi huong") == []   # the index is gone
    register("reindex", "callboard.search.reindex:reindex_job")
    job_id = enqueue(p.settings, water.id, None, "reindex", {}, engine=p.engine)
    job = get_job(p.engine, water.id, job_id)
    assert job["status"] == "done" and job["result"] == {"indexed": 5}
    assert found(as_("water", "owner"), "nguyen thi huong") == [("customer", crm["mine"]["id"])]
