"""`callboard ivr simulate` and the blacklist decision on a real database (SQLite and
PostgreSQL): callers are looked up, blocked numbers answered `reject` before the IVR."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine

from callboard.cli import main
from callboard.engine.access import Actor, system_actor
from callboard.engine.bundle import BundleSource
from callboard.engine.db import connect
from callboard.engine.records import RecordService
from callboard.engine.tenancy import Tenant, TenantStore
from callboard.workflows import blacklist

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config"
COFFEE = ROOT / "templates" / "coffee_chain"
MONDAY_10 = "2026-11-30T10:00"


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> dict[str, str]:
    return {"CALLBOARD_DATA_DIR": str(tmp_path / "data"), "CALLBOARD_DATABASE_URL": db_url,
            "CALLBOARD_SECRET_KEY": "test-secret", "CALLBOARD_REDIS_URL": ""}


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, ["ivr", "simulate", *args], env=env)


@pytest.fixture
def db(env: dict[str, str], db_url: str) -> Iterator[Engine]:
    result = CliRunner().invoke(main, ["db", "upgrade"], env=env)
    assert result.exit_code == 0, result.output
    engine = connect(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def tenants(db: Engine) -> dict[str, Tenant]:
    store = TenantStore(db)
    return {"water": store.create("water", None, BundleSource.from_dir(CONFIG)),
            "coffee": store.create("coffee", None, BundleSource.from_dir(COFFEE))}


@pytest.fixture
def water(db: Engine, tenants: dict[str, Tenant]) -> RecordService:
    return RecordService(db, tenants["water"])


def system(svc: RecordService) -> Actor:
    return system_actor(svc.tenant.id)


def lines(result: Result) -> list[str]:
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


# -- simulate ----------------------------------------------------------------------------
def test_simulate_a_bundle_folder(env: dict[str, str]) -> None:
    out = lines(run(env, str(CONFIG), "--from", "0901234567", "--to", "1900 1234",
                    "--digits", "7,1", "--at", MONDAY_10))
    assert out[0] == "caller 0901234567: unknown caller"
    assert out[1] == "tree hotline (called 1900 1234)"
    nodes = [line.split()[0] for line in out[2:-1]]
    assert nodes == ["welcome", "hours", "vip_check", "main_menu", "main_menu", "main_menu",
                     "main_menu", "billing_route", "billing_queue"]
    assert "pressed 7: not an option" in out[6] and "-> 1" in out[8]
    assert out[-1] == "final: queue billing priority=1 max_wait=180s"
    closed = lines(run(env, str(CONFIG), "--from", "0901234567", "--at",
                       "2026-09-02T10:00:00+07:00"))
    assert "(holiday)" in closed[3]
    assert closed[-1] == "final: voicemail mailbox=support"


def test_simulate_a_tenant_looks_the_caller_up(env: dict[str, str],
                                               water: RecordService) -> None:
    sys_ = system(water)
    gold = water.create(sys_, "customer", {"name": "Ông Vàng", "phone": "0903 000 001",
                                          "priority": 4})
    firm = water.create(sys_, "customer", {"name": "Công ty Nước Sạch", "phone": "0903000002",
                                          "customer_type": "business",
                                          "tax_code": "0301234567"})
    water.create(sys_, "contact", {"name": "Kế toán", "phone": "0903000003",
                                   "customer": firm["id"]})
    vip = lines(run(env, "water", "--from", "+84903000001", "--at", MONDAY_10))
    assert vip[0] == f"caller +84903000001: customer #{gold['id']} Ông Vàng (priority 4)"
    assert vip[-1] == "final: queue vip priority=4 max_wait=120s"
    contact = lines(run(env, "water", "--from", "0903000003", "--digits", "1",
                        "--at", MONDAY_10))
    assert f"customer #{firm['id']}" in contact[0]             # through the contact's link
    assert any(line.startswith("business_billing_notice") for line in contact)
    assert contact[-1] == "final: queue billing priority=1 max_wait=180s"
    # the other tenant's records are not this tenant's callers
    coffee = lines(run(env, "coffee", "--from", "0903000001", "--at", MONDAY_10))
    assert coffee[0] == "caller 0903000001: unknown caller"


def test_simulate_a_blocked_caller(env: dict[str, str], water: RecordService) -> None:
    water.create(system(water), "blocked_number", {"number": "0909 999 999",
                                                    "mode": "announce", "reason": "spam"})
    out = lines(run(env, "water", "--from", "+84909999999", "--at", MONDAY_10))
    assert out[-2].split() == ["(blacklist)", "blocked", "announce"]
    assert out[-1] == "final: reject mode=announce (spam)"


@pytest.mark.parametrize(("args", "message"), [
    (["nosuch", "--from", "1"], "no tenant 'nosuch'"),
    (["water", "--from", "1", "--digits", "1,x"], "--digits: 'x'"),
    (["water", "--from", "1", "--at", "monday"], "--at: 'monday' is not an ISO date-time"),
    (["water"], "Missing option '--from'"),
])
def test_simulate_bad_input_is_one_line(env: dict[str, str], tenants: dict, args: list[str],
                                        message: str) -> None:
    result = run(env, *args)
    assert result.exit_code != 0 and "Traceback" not in result.output
    text = [line for line in result.output.splitlines() if line.strip()]
    assert len(text) == 1 and message in text[0], result.output


def test_simulate_a_broken_folder(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "tenant.yaml").write_text("name: X\ntimezone: Mars/Base\n")
    result = run(env, str(tmp_path / "b"), "--from", "1")
    assert result.exit_code == 1 and "timezone" in result.output


# -- the blacklist decision -------------------------------------------------------------
def test_blacklist_directions_and_modes(water: RecordService) -> None:
    sys_ = system(water)
    rec = water.create(sys_, "blocked_number", {"number": "0911111111", "reason": "abuse"})
    water.create(sys_, "blocked_number", {"number": "0922222222", "direction": "outbound"})
    water.create(sys_, "blocked_number", {"number": "0933333333", "direction": "both",
                                          "mode": "announce"})
    block = blacklist.check(water, "+84 911 111 111", "inbound")
    assert block is not None and block.mode == "reject" and block.record_id == rec["id"]
    assert block.number == "+84911111111"
    assert block.actions() == [{"type": "reject", "mode": "reject", "reason": "abuse",
                                "blocked_number": rec["id"]}]
    assert blacklist.check(water, "0911111111", "outbound") is None     # inbound only
    assert blacklist.check(water, "0922222222", "inbound") is None
    assert blacklist.check(water, "0922222222", "outbound").mode == "reject"
    both_in = blacklist.check(water, "0933333333", "inbound")
    assert both_in.mode == "announce" and [a["type"] for a in both_in.actions()] == [
        "play", "reject"]
    assert both_in.actions()[0]["prompt"].startswith("Số điện thoại của quý khách")
    assert blacklist.check(water, "0933333333", "outbound").mode == "reject"   # refused
    assert blacklist.check(water, "0944444444", "inbound") is None
    with pytest.raises(ValueError):
        blacklist.check(water, "0911111111", "sideways")


def test_blacklist_follows_deletes_and_changes(water: RecordService) -> None:
    sys_ = system(water)
    rec = water.create(sys_, "blocked_number", {"number": "0955555555"})
    water.update(sys_, "blocked_number", rec["id"], {"number": "0966666666"})
    assert blacklist.check(water, "0955555555", "inbound") is None
    assert blacklist.check(water, "0966666666", "inbound") is not None
    water.delete(sys_, "blocked_number", rec["id"])
    assert blacklist.check(water, "0966666666", "inbound") is None
    with water.engine.begin() as conn:                   # on the caller's transaction
        assert blacklist.check(water, "0966666666", "inbound", conn=conn) is None


def test_blacklist_is_per_tenant(db: Engine, tenants: dict[str, Tenant],
                                 water: RecordService) -> None:
    coffee = RecordService(db, tenants["coffee"])
    coffee.create(system(coffee), "blocked_number", {"number": "0977777777"})
    assert blacklist.check(coffee, "0977777777", "inbound") is not None
    assert blacklist.check(water, "0977777777", "inbound") is None


def test_block_anonymous(db: Engine, tenants: dict[str, Tenant],
                         water: RecordService) -> None:
    for number in (None, "", "anonymous", "Private", "<unknown>"):
        assert blacklist.is_anonymous(number)
        assert blacklist.check(water, number, "inbound") is None      # the demo allows them
    assert not blacklist.is_anonymous("0901234567")
    store = TenantStore(db)
    files = dict(store.files(tenants["water"].id))
    files["tenant.yaml"] = files["tenant.yaml"].replace("block_anonymous: false",
                                                        "block_anonymous: true")
    strict = RecordService(db, store.apply(tenants["water"].id, BundleSource(files)))
    block = blacklist.check(strict, "anonymous", "inbound")
    assert block is not None and block.anonymous and block.mode == "reject"
    assert block.final()["reason"] == "anonymous caller ID"
    assert blacklist.check(strict, None, "outbound") is None
    assert blacklist.check(strict, "0901234567", "inbound") is None
