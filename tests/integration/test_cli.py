"""The `callboard` command line (CONTRACT §2) on a real database: SQLite and PostgreSQL.

Commands run through click's CliRunner with the settings in the environment, exactly as a
user's shell would pass them; `serve --demo` runs as a real process on a free port.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine

from callboard.cli import main
from callboard.engine import schema
from callboard.engine.access import Actor, system_actor
from callboard.engine.bundle import BundleSource
from callboard.engine.db import connect
from callboard.engine.demo import seed_demo
from callboard.engine.queries import Query
from callboard.engine.records import RecordService
from callboard.engine.tenancy import Tenant, TenantStore

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config"
PASSWORD = "long-enough-1"
Run = Callable[..., Result]


def one_line_error(result: Result) -> str:
    """The failure's message, checked to be a single line without a traceback."""
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> dict[str, str]:
    return {"CALLBOARD_DATA_DIR": str(tmp_path / "data"), "CALLBOARD_DATABASE_URL": db_url,
            "CALLBOARD_SECRET_KEY": "test-secret", "CALLBOARD_REDIS_URL": ""}


@pytest.fixture
def run(env: dict[str, str]) -> Run:
    runner = CliRunner()

    def _run(*args: str) -> Result:
        return runner.invoke(main, list(args), env=env)

    return _run


@pytest.fixture
def db(run: Run, db_url: str) -> Iterator[Engine]:
    """The database after `callboard db upgrade`."""
    result = run("db", "upgrade")
    assert result.exit_code == 0, result.output
    engine = connect(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def water(db: Engine) -> Tenant:
    """Tenant `water` from config/, made without the web app."""
    return TenantStore(db).create("water", None, BundleSource.from_dir(CONFIG))


def test_check_loads_neither_flask_nor_the_database() -> None:
    code = ("import sys\n"
            "from click.testing import CliRunner\n"
            "from callboard.cli import main\n"
            f"r = CliRunner().invoke(main, ['check', {str(CONFIG)!r}])\n"
            "assert r.exit_code == 0, r.output\n"
            "print(sorted(m for m in ('flask', 'sqlalchemy') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


# -- db upgrade -----------------------------------------------------------------------
def test_db_upgrade_twice_is_idempotent(run: Run, db_url: str) -> None:
    first = run("db", "upgrade")
    assert first.exit_code == 0, first.output
    engine = connect(db_url)
    try:
        head = schema.current(engine)
        assert head is not None
        assert f"-> {head}" in first.output
        second = run("db", "upgrade")
        assert second.exit_code == 0, second.output
        assert f"already at revision {head}" in second.output
        assert schema.current(engine) == head
        assert TenantStore(engine).slugs() == []
    finally:
        engine.dispose()


def test_commands_before_db_upgrade_say_so(run: Run) -> None:
    message = one_line_error(run("tenant", "list"))
    assert "callboard db upgrade" in message


def test_unreachable_database_is_one_line(run: Run, env: dict[str, str]) -> None:
    env["CALLBOARD_DATABASE_URL"] = "postgresql://nobody@127.0.0.1:9/none"
    assert "database error" in one_line_error(run("db", "upgrade"))
    env["CALLBOARD_DATABASE_URL"] = "nosuchdb://x"
    assert "CALLBOARD_DATABASE_URL" in one_line_error(run("tenant", "list"))


# -- tenant create ----------------------------------------------------------------------
def test_tenant_create_with_owner(run: Run, db: Engine) -> None:
    pytest.importorskip("callboard.web.users", reason="needs the web app (create_user)")
    result = run("tenant", "create", "water", "--name", "Cấp nước Demo",
                 "--template", str(CONFIG), "--admin-email", "Owner@Water.test",
                 "--admin-password", PASSWORD)
    assert result.exit_code == 0, result.output
    store = TenantStore(db)
    tenant = store.get("water")
    assert (tenant.name, tenant.version) == ("Cấp nước Demo", 1)
    assert store.files(tenant.id) == dict(BundleSource.from_dir(CONFIG).files)
    [owner] = store.members(tenant.id)
    assert (owner["email"], owner["role"]) == ("owner@water.test", "owner")
    assert f"user {owner['user_id']}" in result.output

    listed = run("tenant", "list")
    assert listed.exit_code == 0
    assert re.search(r"^water\tv1\t1 members\tCấp nước Demo$", listed.output, re.M)


def test_tenant_create_defaults_to_config(run: Run, db: Engine,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("callboard.web.users", reason="needs the web app (create_user)")
    monkeypatch.chdir(ROOT)
    result = run("tenant", "create", "acme", "--name", "Acme", "--admin-email",
                 "owner@acme.test", "--admin-password", PASSWORD)
    assert result.exit_code == 0, result.output
    assert TenantStore(db).get("acme").model.settings.phone_region == "VN"


def test_tenant_create_undone_when_the_owner_fails(run: Run, db: Engine) -> None:
    pytest.importorskip("callboard.web.users", reason="needs the web app (create_user)")
    message = one_line_error(run("tenant", "create", "water", "--name", "W", "--template",
                                 str(CONFIG), "--admin-email", "owner@water.test",
                                 "--admin-password", "short"))
    assert "password" in message
    assert TenantStore(db).slugs() == []
    # Nothing is left behind: the same command with a good password now works.
    result = run("tenant", "create", "water", "--name", "W", "--template", str(CONFIG),
                 "--admin-email", "owner@water.test", "--admin-password", PASSWORD)
    assert result.exit_code == 0, result.output


def test_tenant_create_duplicate_slug(run: Run, water: Tenant, db: Engine) -> None:
    message = one_line_error(run("tenant", "create", "water", "--name", "Again",
                                 "--template", str(CONFIG), "--admin-email",
                                 "other@water.test", "--admin-password", PASSWORD))
    assert message == "Error: tenant 'water' already exists"
    store = TenantStore(db)
    assert store.get("water").version == water.version
    assert store.members(water.id) == []


@pytest.mark.parametrize("change, expected", [
    ({"--template": "/no/such/folder"}, "/no/such/folder: no such folder"),
    ({"--admin-email": "not-an-address"}, "--admin-email: 'not-an-address'"),
    ({"slug": "Bad Slug!"}, "slug: use 2-63 lower-case letters"),
])
def test_tenant_create_bad_input_is_one_line(run: Run, db: Engine, change: dict[str, str],
                                             expected: str) -> None:
    opts = {"slug": "ok-slug", "--name": "X", "--template": str(CONFIG),
            "--admin-email": "o@x.test", "--admin-password": PASSWORD, **change}
    slug = opts.pop("slug")
    argv = ["tenant", "create", slug, *[x for kv in opts.items() for x in kv]]
    assert expected in one_line_error(run(*argv))
    assert TenantStore(db).slugs() == []


def test_tenant_create_from_broken_template_prints_problems(run: Run, db: Engine,
                                                            tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(CONFIG, broken)
    path = broken / "entities" / "customer.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "    type: select\n    label: {en: Customer type",
        "    type: selekt\n    label: {en: Customer type"), encoding="utf-8")
    result = run("tenant", "create", "water", "--name", "W", "--template", str(broken),
                 "--admin-email", "o@water.test", "--admin-password", PASSWORD)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert re.search(rf"^{re.escape(str(broken))}/entities/customer\.yaml:\d+:\d+: "
                     r"fields\.customer_type\.type: ", result.output, re.M), result.output
    assert TenantStore(db).slugs() == []


# -- export and apply -------------------------------------------------------------------
def test_export_then_apply_round_trip(run: Run, water: Tenant, db: Engine,
                                      tmp_path: Path) -> None:
    store = TenantStore(db)
    out = tmp_path / "bundle"
    result = run("tenant", "export", "water", str(out))
    assert result.exit_code == 0, result.output
    assert dict(BundleSource.from_dir(out).files) == store.files(water.id)

    same = run("tenant", "apply", "water", str(out))
    assert same.exit_code == 0, same.output
    assert "unchanged" in same.output
    assert store.get("water").version == water.version

    tenant_yaml = out / "tenant.yaml"
    tenant_yaml.write_text(tenant_yaml.read_text(encoding="utf-8").replace(
        "name: Demo Water Co.", "name: Cấp nước Bến Thành"), encoding="utf-8")
    changed = run("tenant", "apply", "water", str(out))
    assert changed.exit_code == 0, changed.output
    assert f"bundle version {water.version + 1} (was {water.version})" in changed.output
    now = store.get("water")
    assert now.version == water.version + 1
    assert now.model.settings.name == "Cấp nước Bến Thành"

    again = tmp_path / "again"
    assert run("tenant", "export", "water", str(again)).exit_code == 0
    assert dict(BundleSource.from_dir(again).files) == dict(BundleSource.from_dir(out).files)


def test_apply_of_a_broken_copy_prints_located_problems(run: Run, water: Tenant,
                                                        db: Engine, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    assert run("tenant", "export", "water", str(out)).exit_code == 0
    customer = out / "entities" / "customer.yaml"
    customer.write_text(customer.read_text(encoding="utf-8").replace(
        "    default: residential\n", "    default: villa\n"), encoding="utf-8")
    ivr = out / "ivr" / "hotline.yaml"
    ivr.write_text(ivr.read_text(encoding="utf-8") + "\nbogus_key: 1\n", encoding="utf-8")

    result = run("tenant", "apply", "water", str(out))
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    located = [line for line in result.output.splitlines()
               if re.match(rf"{re.escape(str(out))}/[\w/]+\.yaml:\d+:\d+: \S+: .+", line)]
    assert any("entities/customer.yaml" in line and "customer_type" in line
               for line in located), result.output
    assert any("ivr/hotline.yaml" in line for line in located), result.output
    assert re.search(r"^\d+ problems? in ", result.output, re.M)
    assert TenantStore(db).get("water").version == water.version


def test_export_and_apply_bad_input(run: Run, water: Tenant, tmp_path: Path) -> None:
    assert "no tenant 'nope'" in one_line_error(run("tenant", "export", "nope",
                                                    str(tmp_path / "x")))
    assert "no such folder" in one_line_error(run("tenant", "apply", "water",
                                                  str(tmp_path / "missing")))
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    assert "not a folder" in one_line_error(run("tenant", "export", "water", str(a_file)))


# -- users, worker ----------------------------------------------------------------------
def test_user_create(run: Run, water: Tenant, db: Engine) -> None:
    pytest.importorskip("callboard.web.users", reason="needs the web app (create_user)")
    result = run("user", "create", "--tenant", "water", "--email", "an@water.test",
                 "--password", PASSWORD, "--role", "agent", "--team", "north",
                 "--department", "billing", "--extension", "101", "--name", "Lê Thị An")
    assert result.exit_code == 0, result.output
    [member] = TenantStore(db).members(water.id)
    assert {k: member[k] for k in ("email", "role", "team", "department", "extension",
                                   "name")} == {
        "email": "an@water.test", "role": "agent", "team": "north",
        "department": "billing", "extension": "101", "name": "Lê Thị An"}

    duplicate = run("user", "create", "--tenant", "water", "--email", "an@water.test",
                    "--password", PASSWORD, "--role", "agent")
    assert "already exists" in one_line_error(duplicate)
    bad_department = run("user", "create", "--tenant", "water", "--email", "b@water.test",
                         "--password", PASSWORD, "--role", "agent", "--department", "nope")
    assert "department" in one_line_error(bad_department)
    assert len(TenantStore(db).members(water.id)) == 1


def test_user_create_bad_input_without_the_web(run: Run, water: Tenant) -> None:
    base = ["user", "create", "--email", "a@water.test", "--password", PASSWORD]
    assert "no tenant 'nope'" in one_line_error(run(*base, "--tenant", "nope",
                                                    "--role", "agent"))
    assert "--role" in one_line_error(run(*base, "--tenant", "water", "--role", "boss"))


def test_usage_errors_are_one_line(run: Run) -> None:
    missing = run("tenant", "create", "--name", "X")
    assert missing.exit_code == 2
    assert "Missing argument 'SLUG'" in one_line_error(missing)
    assert "--password" in one_line_error(run("user", "create", "--tenant", "x", "--email",
                                              "a@x.test", "--role", "agent"))
    assert "No such command" in one_line_error(run("nope"))


def test_worker_needs_redis(run: Run) -> None:
    assert "CALLBOARD_REDIS_URL" in one_line_error(run("worker"))


# -- demo data --------------------------------------------------------------------------
def _all(service: RecordService, entity: str) -> list[dict[str, Any]]:
    actor = system_actor(service.tenant.id)
    return service.list(actor, entity, Query(per_page=500)).items


def test_seed_demo_creates_what_it_says(engine: Engine, water: Tenant,
                                        people: dict[str, Actor]) -> None:
    agent, agent2 = people["agent"].user_id, people["agent2"].user_id
    result = seed_demo(engine, water, system_actor(water.id), owners=[agent, agent2])
    assert result["skipped"] is False
    assert result["failed"] == []
    created = result["created"]
    assert set(created) == {"company", "customer", "contact", "ticket", "note", "contract",
                            "order", "kb_category", "kb_article"}
    articles = _all(RecordService(engine, water), "kb_article")
    assert sorted(a["status"] for a in articles) == ["draft"] + ["published"] * 4
    service = RecordService(engine, water)
    for entity, count in created.items():
        assert len(_all(service, entity)) == count, entity

    customers = _all(service, "customer")
    assert len(customers) == 30
    district = water.model.entity("customer").field("district")
    ctype = water.model.entity("customer").field("customer_type")
    assert all(c["district"] in district.option_values for c in customers)
    assert {c["customer_type"] for c in customers} == set(ctype.option_values)
    assert all(re.fullmatch(r"\+84[35789]\d{8}", c["phone"]) for c in customers)
    assert len({c["phone"] for c in customers}) == 30
    vips = [c for c in customers if c["priority"] >= 4]
    assert 3 <= len(vips) <= 8
    assert any(c["owner"] == agent for c in customers)
    assert any(c["owner"] is None for c in customers)
    assert any(c["owner"] == agent2 for c in customers)
    seen = service.list(people["agent"], "customer", Query(per_page=500)).total
    assert 0 < seen < 30  # an agent sees its own and the pool, not another agent's
    assert any(c["phone"] == "+84901234567" for c in customers)

    tickets = _all(service, "ticket")
    assert len(tickets) >= 10
    assert {t["type"] for t in tickets} == set(water.model.ticket_types)
    for t in tickets:
        assert t["status"] == water.model.ticket_types[t["type"]].workflow.initial
    assert any(t.get("assignee") == agent for t in tickets)

    orders = _all(service, "order")
    assert orders and all(o["lines"] for o in orders)
    for o in orders:
        assert o["total"] == sum(line["qty"] * line["price"] for line in o["lines"])
    assert {n["record"]["entity"] for n in _all(service, "note")} == {"customer", "ticket"}
    assert len(_all(service, "contract")) >= 2


def test_seed_demo_is_idempotent_and_deterministic(engine: Engine, water: Tenant,
                                                   store: TenantStore) -> None:
    actor = system_actor(water.id)
    first = seed_demo(engine, water, actor)
    service = RecordService(engine, water)
    before = {e: len(_all(service, e)) for e in first["created"]}
    again = seed_demo(engine, water, actor)
    assert again == {"skipped": True, "created": {}, "failed": []}
    assert {e: len(_all(service, e)) for e in first["created"]} == before

    twin = store.create("twin", None, BundleSource.from_dir(CONFIG))
    assert seed_demo(engine, twin, system_actor(twin.id))["created"] == first["created"]

    def names(t: Tenant) -> list[tuple[str, str]]:
        rows = _all(RecordService(engine, t), "customer")
        return sorted((c["name"], c["phone"]) for c in rows)

    assert names(twin) == names(water)


@pytest.mark.parametrize("template", ["clinic", "coffee_chain"])
def test_seed_demo_fits_other_templates(engine: Engine, store: TenantStore,
                                        template: str) -> None:
    tenant = store.create(template.replace("_", "-"), None,
                          BundleSource.from_dir(ROOT / "templates" / template))
    result = seed_demo(engine, tenant, system_actor(tenant.id))
    assert result["failed"] == []
    assert result["created"]["customer"] == 30


# -- serve --demo -------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve_demo(env: dict[str, str], port: int) -> tuple[subprocess.Popen[str], list[str]]:
    """Start `callboard serve --demo` from the repository root; wait for its banner."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "from callboard.cli import main; main()", "serve", "--demo",
         "--port", str(port), "--threads", "4"],
        cwd=ROOT, env={**os.environ, **env, "PYTHONUNBUFFERED": "1"}, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines: list[str] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.startswith("  agent "):
            return proc, lines
    proc.kill()
    proc.wait()
    pytest.fail("serve --demo did not start:\n" + "\n".join(lines))


def _login(port: int, email: str, password: str) -> str:
    import json
    import urllib.request

    body = json.dumps({"username": email, "password": password, "provider": "db"}).encode()
    deadline = time.monotonic() + 30
    while True:
        try:
            req = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/v1/security/login", data=body,
                headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=10) as r:
                return json.loads(r.read())["access_token"]
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _get(port: int, path: str, token: str) -> Any:
    import json
    import urllib.request

    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1{path}",
                                 headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def test_serve_demo(env: dict[str, str], tmp_path: Path) -> None:
    pytest.importorskip("callboard.web.serve", reason="needs the web app")
    for attempt in (1, 2):  # the second start finds everything in place
        port = _free_port()
        proc, lines = _serve_demo(env, port)
        try:
            text = "\n".join(lines)
            assert f"http://127.0.0.1:{port}/" in text
            logins = dict(re.findall(r"^  \w+\s+(\S+@demo\.callboard\.test)\s+password: (\S+)",
                                     text, re.M))
            assert set(logins) == {"admin@demo.callboard.test",
                                   "supervisor@demo.callboard.test", "agent@demo.callboard.test"}
            assert ("created tenant demo" in text) == (attempt == 1)
            assert ("sample data:" in text) == (attempt == 1)
            token = _login(port, "agent@demo.callboard.test",
                           logins["agent@demo.callboard.test"])
            page = _get(port, "/records/customer?per_page=100", token)
            assert 0 < page["total"] < 30  # its own and the unowned, not the supervisor's
            owner = _login(port, "admin@demo.callboard.test",
                           logins["admin@demo.callboard.test"])
            assert _get(port, "/records/customer", owner)["total"] == 30
            assert _get(port, "/records/ticket", owner)["total"] >= 10
        finally:
            proc.terminate()
            proc.wait(timeout=20)
            if proc.stdout:
                proc.stdout.close()
    assert (Path(env["CALLBOARD_DATA_DIR"]) / "demo_password").exists()
