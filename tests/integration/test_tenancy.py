"""Tenants and their versioned bundles: create, apply, put_file, export, members."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from callboard.engine.bundle import BundleSource
from callboard.engine.errors import Conflict, NotFound, ValidationFailed
from callboard.engine.problems import BundleError
from callboard.engine.tenancy import Tenant, TenantStore, file_path

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config"
COFFEE = ROOT / "templates" / "coffee_chain"
CUSTOMER = "entities/customer.yaml"


def customer_yaml(store: TenantStore, tenant: Tenant) -> str:
    return store.files(tenant.id)[CUSTOMER]


# -- create -------------------------------------------------------------------------------
def test_create_from_a_folder(store: TenantStore) -> None:
    tenant = store.create("water", None, BundleSource.from_dir(CONFIG))
    assert tenant.slug == "water"
    assert tenant.name == "Demo Water Co."          # from tenant.yaml when not given
    assert tenant.version == 1
    assert {"customer", "ticket", "contract", "order"} <= set(tenant.model.entities)
    assert set(tenant.model.ticket_types) == {"complaint", "inquiry", "leak_report",
                                              "suggestion"}
    assert store.get("water") == store.get(tenant.id) == tenant
    history = store.history(tenant.id)
    assert [h["version"] for h in history] == [1]
    assert history[0]["note"] == "created"
    named = store.create("coffee", "Cà phê Sáng", BundleSource.from_dir(COFFEE))
    assert named.name == "Cà phê Sáng"
    assert store.slugs() == ["water", "coffee"]


@pytest.mark.parametrize("slug", ["Water", "a", "-water", "water_co", "wa ter", "",
                                  "x" * 64, "nước"])
def test_bad_slugs(store: TenantStore, slug: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        store.create(slug, None, BundleSource.from_dir(CONFIG))
    assert info.value.errors == {"slug": ["use 2-63 lower-case letters, digits and -"]}
    assert store.slugs() == []


def test_duplicate_slug_is_a_conflict(store: TenantStore, water: Tenant) -> None:
    with pytest.raises(Conflict) as info:
        store.create("water", "Another", BundleSource.from_dir(COFFEE))
    assert info.value.status == 409
    assert store.slugs() == ["water"]
    assert store.get("water").name == water.name and store.get("water").version == 1


def test_create_with_a_bad_bundle_makes_no_tenant(store: TenantStore) -> None:
    files = dict(BundleSource.from_dir(CONFIG).files)
    files["tenant.yaml"] = files["tenant.yaml"].replace("timezone: Asia/Ho_Chi_Minh",
                                                        "timezone: Mars/Olympus")
    with pytest.raises(BundleError) as info:
        store.create("water", None, BundleSource(files))
    assert [(p.file, p.path) for p in info.value.problems] == [("tenant.yaml", "timezone")]
    assert store.slugs() == []


def test_unknown_tenant(store: TenantStore) -> None:
    with pytest.raises(NotFound):
        store.get("nobody")
    with pytest.raises(NotFound):
        store.get(999)
    with pytest.raises(NotFound):
        store.files(999, version=1)


# -- export, apply, put_file --------------------------------------------------------------
def test_export_round_trip(store: TenantStore, water: Tenant, tmp_path: Path) -> None:
    written = store.export(water.id, tmp_path / "out")
    original = BundleSource.from_dir(CONFIG)
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in written) == sorted(
        original.files)
    exported = BundleSource.from_dir(tmp_path / "out")
    assert exported.files == original.files
    assert exported.digest == original.digest
    # the exported folder makes an identical tenant, and applies cleanly
    twin = store.create("twin", None, exported)
    assert twin.model.digest == water.model.digest
    again = store.apply(water.id, exported, note="re-applied", user_id=1)
    assert again.version == 2 and again.model.digest == water.model.digest
    assert store.history(water.id)[0] == {**store.history(water.id)[0], "version": 2,
                                          "note": "re-applied", "created_by": 1}


def test_export_after_a_change_and_apply_it_elsewhere(store: TenantStore, water: Tenant,
                                                      tmp_path: Path) -> None:
    changed = customer_yaml(store, water).replace(
        "\nlist:", "\n  meter_size: {type: integer, min: 15}\n\nlist:", 1)
    store.put_file(water.id, CUSTOMER, changed)
    store.export(water.id, tmp_path / "out")
    assert (tmp_path / "out" / CUSTOMER).read_text("utf-8") == changed
    other = store.create("other", None, BundleSource.from_dir(CONFIG))
    applied = store.apply(other.id, BundleSource.from_dir(tmp_path / "out"))
    assert "meter_size" in applied.model.entities["customer"].field_map
    assert applied.version == 2


def test_versions_increase_and_old_versions_are_kept(store: TenantStore, water: Tenant) -> None:
    text = customer_yaml(store, water)
    versions = [water.version]
    for i in range(3):
        t = store.put_file(water.id, CUSTOMER, text.replace(
            "label: {en: Customer, vi: Khách hàng, zh: 客户}",
            f"label: {{en: Customer {i}, vi: Khách hàng, zh: 客户}}", 1), user_id=2)
        versions.append(t.version)
        assert t.model.entities["customer"].label.text("en") == f"Customer {i}"
    assert versions == [1, 2, 3, 4]
    history = store.history(water.id)
    assert [h["version"] for h in history] == [4, 3, 2, 1]
    assert history[0]["note"] == f"changed {CUSTOMER}" and history[0]["created_by"] == 2
    assert store.files(water.id, version=1)[CUSTOMER] == text
    assert "Customer 1" in store.files(water.id, version=3)[CUSTOMER]
    assert store.get("water").version == 4


def test_put_file_adds_and_removes_files(store: TenantStore, water: Tenant) -> None:
    vehicle = "label: Vehicle\ntitle: \"{plate}\"\nfields:\n  plate: {type: text, required: true}\n"
    t = store.put_file(water.id, file_path("entity", "vehicle"), vehicle)
    assert t.version == 2 and "vehicle" in t.model.entities
    assert store.files(water.id)["entities/vehicle.yaml"] == vehicle
    t = store.put_file(water.id, "entities/vehicle.yaml", None)
    assert t.version == 3 and "vehicle" not in t.model.entities
    with pytest.raises(NotFound):
        store.put_file(water.id, "entities/vehicle.yaml", None)
    assert store.get(water.id).version == 3


@pytest.mark.parametrize(("change", "where"), [
    (lambda t: t.replace("    type: integer\n    label: {en: Registered",
                         "    type: integr\n    label: {en: Registered"),
     ("fields.household_members.type", "'integr' is not a field type")),
    (lambda t: t.replace("\nlist:", "\n  meter: {type: link, entity: meter}\n\nlist:", 1),
     ("fields.meter.entity", "no entity 'meter'")),
    (lambda t: t.replace("\nlist:", "\n  x: {type: text, colour: red}\n\nlist:", 1),
     ("fields.x.colour", "unknown key 'colour'")),
    (lambda t: t.replace("\nlist:", "\n  x: {type: text, visible_if: \"nope == 1\"}\n\nlist:",
                         1),
     ("fields.x.visible_if", "nope")),
])
def test_a_bad_file_is_refused_with_located_problems(store: TenantStore, water: Tenant,
                                                     change: object,
                                                     where: tuple[str, str]) -> None:
    before = store.files(water.id)
    bad = change(before[CUSTOMER])  # type: ignore[operator]
    assert bad != before[CUSTOMER]
    with pytest.raises(BundleError) as info:
        store.put_file(water.id, CUSTOMER, bad)
    problems = info.value.problems
    assert len(problems) == 1, problems
    problem = problems[0]
    path, message = where
    assert problem.file == CUSTOMER
    assert problem.path == path
    assert message in problem.message
    assert problem.line > 1 and problem.column >= 1
    # where it is in the text: the line the checker names holds the bad part
    assert path.rsplit(".", 1)[-1] in bad.splitlines()[problem.line - 1]
    assert problem.format().startswith(f"{CUSTOMER}:{problem.line}:{problem.column}: {path}: ")
    # nothing changed
    assert store.get(water.id).version == water.version
    assert store.files(water.id) == before
    assert [h["version"] for h in store.history(water.id)] == [1]
    assert store.get("water").model.digest == water.model.digest


def test_a_yaml_syntax_error_is_refused_and_located(store: TenantStore, water: Tenant) -> None:
    before = store.files(water.id)
    bad = before[CUSTOMER] + "\n  oops: [\n"
    with pytest.raises(BundleError) as info:
        store.put_file(water.id, CUSTOMER, bad)
    syntax = [p for p in info.value.problems if p.file == CUSTOMER]
    assert len(syntax) == 1 and syntax[0].message.startswith("YAML syntax:")
    assert syntax[0].line >= len(before[CUSTOMER].splitlines())
    assert store.get(water.id).version == 1 and store.files(water.id) == before


def test_a_yaml_syntax_error_reports_only_the_broken_file(store: TenantStore,
                                                          water: Tenant) -> None:
    bad = store.files(water.id)[CUSTOMER] + "\n  oops: [\n"
    with pytest.raises(BundleError) as info:
        store.put_file(water.id, CUSTOMER, bad)
    assert {p.file for p in info.value.problems} == {CUSTOMER}


def test_a_bad_tenant_yaml_is_refused(store: TenantStore, water: Tenant) -> None:
    before = store.files(water.id)
    with pytest.raises(BundleError) as info:
        store.put_file(water.id, "tenant.yaml", before["tenant.yaml"].replace(
            "timezone: Asia/Ho_Chi_Minh", "timezone: Mars/Olympus"))
    assert [p.format() for p in info.value.problems] == [
        "tenant.yaml:6:11: timezone: unknown time zone 'Mars/Olympus'"]
    assert store.get(water.id).version == 1 and store.files(water.id) == before


def test_a_badly_named_file_is_refused(store: TenantStore, water: Tenant) -> None:
    with pytest.raises(BundleError) as info:
        store.put_file(water.id, "entities/Bad Name.yaml", "label: x\nfields: {}\n")
    assert [p.file for p in info.value.problems] == ["entities/Bad Name.yaml"]
    assert store.get(water.id).version == 1


def test_changing_one_tenant_leaves_another_alone(store: TenantStore, water: Tenant) -> None:
    twin = store.create("twin", None, BundleSource.from_dir(CONFIG))
    assert twin.model is water.model            # the same bundle compiles once
    store.put_file(water.id, CUSTOMER, customer_yaml(store, water).replace(
        "\nlist:", "\n  meter_size: {type: integer}\n\nlist:", 1))
    assert "meter_size" in store.get("water").model.entities["customer"].field_map
    assert "meter_size" not in store.get("twin").model.entities["customer"].field_map
    assert store.get("twin").version == 1


def test_a_second_store_sees_the_new_version(store: TenantStore, water: Tenant,
                                             engine: Engine) -> None:
    """Another process (another TenantStore on the same database) picks up a change."""
    other = TenantStore(engine)
    assert other.get("water").version == 1
    store.put_file(water.id, CUSTOMER, customer_yaml(store, water).replace(
        "\nlist:", "\n  meter_size: {type: integer}\n\nlist:", 1))
    seen = other.get("water")
    assert seen.version == 2
    assert "meter_size" in seen.model.entities["customer"].field_map


def test_file_path() -> None:
    assert file_path("entity", "order") == "entities/order.yaml"
    assert file_path("entities", "order") == "entities/order.yaml"
    assert file_path("ticket_type", "complaint") == "ticket_types/complaint.yaml"
    assert file_path("ivr", "hotline") == "ivr/hotline.yaml"
    assert file_path("tenant", "") == "tenant.yaml"
    with pytest.raises(NotFound):
        file_path("plugin", "x")
    for bad in ("Order", "../tenant", "a/b", "", "1st"):
        with pytest.raises(ValidationFailed):
            file_path("entity", bad)


# -- members ------------------------------------------------------------------------------
def test_add_member_and_read_members(store: TenantStore, water: Tenant) -> None:
    row = store.add_member(water.id, 7, "Lan.Pham@Water.Test", "agent", name="Lan",
                           team="a", department="billing", extension="107")
    assert row["email"] == "lan.pham@water.test"
    member = store.member(7)
    assert member is not None
    assert (member["tenant_id"], member["role"], member["team"], member["department"],
            member["extension"], member["active"]) == (water.id, "agent", "a", "billing",
                                                       "107", True)
    store.add_member(water.id, 8, "sup@water.test", "supervisor", team="a")
    store.add_member(water.id, 9, "b@water.test", "agent", team="b")
    assert [m["user_id"] for m in store.members(water.id)] == [7, 8, 9]
    assert [m["user_id"] for m in store.members(water.id, team="a")] == [7, 8]
    assert [m["user_id"] for m in store.members(water.id, role="agent", team=None)] == [7, 9]
    assert store.member(99) is None


def test_add_member_validation(store: TenantStore, water: Tenant) -> None:
    with pytest.raises(ValidationFailed) as info:
        store.add_member(water.id, 7, "not-an-email", "boss", department="kitchen")
    errors = info.value.errors
    assert set(errors) == {"role", "email", "department"}
    assert errors["role"] == ["must be one of owner, admin, supervisor, agent"]
    assert errors["email"] == ["'not-an-email' is not an e-mail address"]
    assert errors["department"] == [
        "no department 'kitchen' in tenant.yaml (support, billing, technical, field_ops)"]
    assert store.members(water.id) == []
    for uid, role in enumerate(("owner", "admin", "supervisor", "agent"), start=10):
        store.add_member(water.id, uid, f"{role}@water.test", role)
    assert len(store.members(water.id)) == 4


def test_add_member_duplicates_are_conflicts(store: TenantStore, water: Tenant) -> None:
    coffee = store.create("coffee", None, BundleSource.from_dir(COFFEE))
    store.add_member(water.id, 7, "lan@water.test", "agent")
    with pytest.raises(Conflict):
        store.add_member(water.id, 7, "other@water.test", "agent")        # same user id
    with pytest.raises(Conflict):
        store.add_member(water.id, 8, "LAN@water.test", "agent")          # same e-mail
    with pytest.raises(Conflict):
        store.add_member(coffee.id, 7, "lan@coffee.test", "agent")        # one tenant each
    assert [m["user_id"] for m in store.members(water.id)] == [7]
    assert store.members(coffee.id) == []


def test_add_member_to_a_missing_tenant(store: TenantStore) -> None:
    with pytest.raises(NotFound):
        store.add_member(999, 7, "lan@water.test", "agent")
