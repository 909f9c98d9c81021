"""The bundles we ship (config/ and templates/*/) are valid and compile to a sound model."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from click.testing import CliRunner

from callboard.cli import main
from callboard.engine.bundle import BundleSource, check_bundle, compile_bundle
from callboard.engine.model import TenantModel

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = [ROOT / "config", *sorted(p for p in (ROOT / "templates").iterdir() if p.is_dir())]
IDS = [p.relative_to(ROOT).as_posix() for p in SHIPPED]

# CONTRACT §3: the system entities and the fields the platform's own logic needs.
# `owner` is a built-in column of every record rather than a declared field.
SYSTEM_FIELDS: dict[str, set[str]] = {
    "company": {"name", "phone", "email", "tax_code", "address"},
    "customer": {"name", "phone", "email", "company", "priority", "source"},
    "contact": {"name", "phone", "email", "customer", "is_primary"},
    "ticket": {"type", "subject", "description", "status", "customer", "contact",
               "assignee", "department", "watchers", "priority", "due_at", "resolved_at"},
    "call": {"call_id", "direction", "from", "to", "agent", "queue", "started_at",
             "answered_at", "ended_at", "duration", "result", "recording_url", "customer",
             "ticket"},
    "note": {"body", "record"},
    "task": {"title", "due_at", "status", "assignee", "record"},
    "opportunity": {"name", "customer", "contact", "amount", "stage"},
    "kb_article": {"title", "body", "category", "keywords", "status", "views"},
    "kb_category": {"name", "parent"},
    "blocked_number": {"number", "direction", "mode", "reason"},
}


def _options(model: TenantModel, entity: str, field: str) -> set[str]:
    f = model.entity(entity).field(field)
    assert f is not None, f"{entity}.{field} is missing"
    return set(f.option_values)


@pytest.fixture(scope="module", params=SHIPPED, ids=IDS)
def model(request: pytest.FixtureRequest) -> TenantModel:
    return compile_bundle(BundleSource.from_dir(request.param))


@pytest.mark.parametrize("bundle", SHIPPED, ids=IDS)
def test_check_passes(bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(bundle)
    result = CliRunner().invoke(main, ["check", "."])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.output
    assert "OK" in lines[0] and "no problems" in lines[0]


@pytest.mark.parametrize("bundle", SHIPPED, ids=IDS)
def test_check_bundle_finds_nothing(bundle: Path) -> None:
    assert check_bundle(BundleSource.from_dir(bundle)) == []


def test_templates_exist() -> None:
    names = {p.name for p in SHIPPED}
    assert {"config", "clinic", "coffee_chain"} <= names


def test_system_entities_have_their_contract_fields(model: TenantModel) -> None:
    for entity, fields in SYSTEM_FIELDS.items():
        assert entity in model.entities, f"no system entity {entity}"
        ent = model.entity(entity)
        assert ent.system == entity
        missing = fields - set(ent.field_map)
        assert not missing, f"{entity} lacks system fields {sorted(missing)}"
        for name in fields:
            assert ent.field_map[name].system, f"{entity}.{name} is not marked system"


def test_system_field_types_and_choices(model: TenantModel) -> None:
    customer = model.entity("customer")
    assert customer.field("company").type == "link"
    assert customer.field("company").entity == "company"
    priority = customer.field("priority")
    assert (priority.type, priority.min, priority.max, priority.default) == ("rating", 1, 5, 1)
    assert customer.field("phone").type == "phone"
    assert customer.field("phone").unique
    assert model.entity("contact").field("customer").entity == "customer"
    assert _options(model, "task", "status") == {"todo", "done", "cancelled"}
    assert _options(model, "opportunity", "stage") == {"open", "won", "lost", "cancelled"}
    assert _options(model, "blocked_number", "direction") == {"inbound", "outbound", "both"}
    assert _options(model, "blocked_number", "mode") == {"reject", "announce"}
    for entity in ("note", "task"):
        assert model.entity(entity).field("record").type == "link"


def test_kb_article_workflow(model: TenantModel) -> None:
    wf = model.entity("kb_article").workflow
    assert wf is not None
    assert wf.initial == "draft"
    assert set(wf.states) == {"draft", "review", "published", "archived"}
    assert (wf.transitions["submit"].sources, wf.transitions["submit"].target) == (
        ("draft",), "review")
    publish = wf.transitions["publish"]
    assert set(publish.sources) == {"draft", "review"}
    assert publish.target == "published"
    assert set(publish.roles) == {"supervisor", "admin", "owner"}
    assert wf.transitions["archive"].target == "archived"


def test_ticket_type_options_are_the_bundles_ticket_types(model: TenantModel) -> None:
    assert model.ticket_types, "a shipped bundle should define ticket types"
    assert _options(model, "ticket", "type") == set(model.ticket_types)
    states = {s for tt in model.ticket_types.values() for s in tt.workflow.states}
    assert _options(model, "ticket", "status") == states
    assert _options(model, "ticket", "department") == set(model.settings.departments)


def test_ticket_fields_combine_system_and_type_fields(model: TenantModel) -> None:
    base = {f.name for f in model.entity("ticket").fields}
    for name, tt in model.ticket_types.items():
        names = [f.name for f in model.ticket_fields(name)]
        assert set(names) == base | {f.name for f in tt.fields}
        assert len(names) == len(set(names)), f"{name}: a field name repeats"


def test_config_has_order_with_table_and_contract() -> None:
    model = compile_bundle(BundleSource.from_dir(ROOT / "config"))
    assert "order" in model.entities and "contract" in model.entities
    order = model.entity("order")
    assert order.system is None
    tables = [f for f in order.fields if f.type == "table"]
    assert tables, "order has no table field"
    assert all(t.fields for t in tables), "a table field has no row fields"
    assert model.entity("contract").system is None


def test_compiling_the_same_source_twice_returns_the_cached_model() -> None:
    first = compile_bundle(BundleSource.from_dir(ROOT / "config"))
    second = compile_bundle(BundleSource.from_dir(ROOT / "config"))
    assert second is first
    assert first.digest == BundleSource.from_dir(ROOT / "config").digest


def test_model_is_immutable(model: TenantModel) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.digest = "x"  # type: ignore[misc]
    ent = model.entity("customer")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ent.name = "client"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ent.fields[0].type = "integer"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.settings.timezone = "UTC"  # type: ignore[misc]
    mappings = [model.entities, model.ticket_types, model.ivr_trees, ent.field_map,
                model.settings.schedules, model.settings.queues, model.settings.departments,
                ent.label.texts]
    for tree in model.ivr_trees.values():
        mappings.append(tree.nodes)
    for tt in model.ticket_types.values():
        mappings += [tt.workflow.states, tt.workflow.transitions]
    for mapping in mappings:
        with pytest.raises(TypeError):
            mapping["new"] = None  # type: ignore[index]
        with pytest.raises(TypeError):
            del mapping[next(iter(mapping))]  # type: ignore[attr-defined]
    assert isinstance(ent.fields, tuple)
    assert isinstance(ent.form, tuple)
