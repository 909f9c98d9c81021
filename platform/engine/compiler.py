"""Compile a bundle into the runtime model, collecting every problem on the way.

Order: parse every file; check each against its schema; compile tenant settings; merge the
system entities with the bundle's entity files; compile ticket types and IVR trees; then
cross-check references between them. A file that fails its schema is not compiled further,
but its name still counts, so one mistake does not cascade into a page of false alarms.
"""
from __future__ import annotations

import re
import string
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from . import expressions as ex
from .bundle import FOLDERS, MAX_FILE_BYTES, BundleSource
from .fields import (
    Scope,
    article,
    check_field_expressions,
    check_names,
    compile_field,
    scope_of,
)
from .flows import compile_ivr, compile_settings, compile_workflow, seconds
from .locate import Loc, MergedLoc
from .model import (
    BUILTIN_COLUMNS,
    Entity,
    Field,
    IvrTree,
    Label,
    ListLayout,
    Option,
    RelatedList,
    ScreenPopLayout,
    Section,
    Sla,
    TenantModel,
    TenantSettings,
    TicketType,
    frozen_map,
)
from .problems import Problem
from .schemas import prune, validate
from .yamlsource import Document, parse

NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# A file that could not be read at all: any name it might have defined is accepted.
_UNREADABLE = {k: {"*"} for k in ("fields", "nodes", "queues", "schedules", "departments")}
RESTATABLE = frozenset({"label", "help", "search", "index", "hidden", "lookup"})
SYSTEM_FILE = "(system)/system_entities.yaml"


@cache
def system_document() -> Document:
    """The platform's own entity definitions, parsed once."""
    text = resources.files(__package__).joinpath("system_entities.yaml").read_text("utf-8")
    doc, problems = parse(SYSTEM_FILE, text)
    assert doc is not None and not problems, problems
    return doc


def compile_source(source: BundleSource) -> tuple[TenantModel | None, list[Problem]]:
    """The model of `source` (None when anything is wrong) and every problem found."""
    c = _Compiler(source)
    model = c.run()
    return (model if not c.problems else None), c.problems


class _Compiler:
    def __init__(self, source: BundleSource):
        self.source = source
        self.problems: list[Problem] = []
        self.tenant: Document | None = None
        self.docs: dict[str, dict[str, Document]] = {kind: {} for kind in FOLDERS.values()}
        self.names: dict[str, set[str]] = {kind: set() for kind in FOLDERS.values()}
        # parts cut from files that failed their schema: (kind, name) -> key -> names cut
        self.ghosts: dict[tuple[str, str], dict[str, set[str]]] = {}

    # -- reading -------------------------------------------------------------------------
    def run(self) -> TenantModel | None:
        self._read()
        settings = None
        tg = self._ghosts("tenant", "tenant")
        self.tenant_ghosts = {k: tg.get(k, set()) for k in ("queues", "schedules", "departments")}
        if self.tenant is not None:
            settings = compile_settings(self._loc(self.tenant), self.tenant.data)
        entities = self._entities()
        ticket_types = self._ticket_types(entities, settings)
        entities = self._bind_ticket(entities, ticket_types, settings)
        ivr = self._ivr_trees(entities, settings)
        if self.problems or settings is None:
            return None
        return TenantModel(settings, frozen_map(entities), frozen_map(ticket_types),
                           frozen_map(ivr), self.source.digest)

    def _ghosts(self, kind: str, name: str, key: str | None = None) -> Any:
        g = self.ghosts.get((kind, name), {})
        return g if key is None else g.get(key, set())

    def _loc(self, doc: Document, *path: str | int) -> Loc:
        return Loc(doc, tuple(path), self.problems)

    def _file_problem(self, file: str, message: str) -> None:
        self.problems.append(Problem(file, 1, 1, "(root)", message))

    def _read(self) -> None:
        files = self.source.files
        if "tenant.yaml" not in files:
            self._file_problem("tenant.yaml", "the bundle has no tenant.yaml "
                               "(it names the tenant and declares queues and schedules)")
        for rel in sorted(files):
            folder, _, base = rel.rpartition("/")
            if rel == "tenant.yaml":
                kind = "tenant"
            elif folder in FOLDERS and base.endswith((".yaml", ".yml")):
                kind = FOLDERS[folder]
            else:
                continue
            stem = base.rsplit(".", 1)[0]
            if kind != "tenant" and not NAME.match(stem):
                self._file_problem(rel, f"'{stem}' is not a valid name: use lower-case "
                                   "letters, digits and _ starting with a letter")
                continue
            if kind != "tenant" and stem in self.names[kind]:
                self._file_problem(rel, f"'{stem}' is defined twice (.yaml and .yml)")
                continue
            if len(files[rel]) > MAX_FILE_BYTES:
                self._file_problem(rel, f"file is larger than {MAX_FILE_BYTES} bytes")
                continue
            doc, problems = parse(rel, files[rel])
            self.problems += problems
            if kind != "tenant":
                self.names[kind].add(stem)
            if doc is None or problems:
                self.ghosts[(kind, stem)] = _UNREADABLE  # nothing in it can be trusted
                continue
            if doc.data is None:
                doc.data = {}
            schema_problems = validate(kind, doc)
            self.problems += schema_problems
            if schema_problems:
                data, ghosts = prune(kind, doc.data)
                self.ghosts[(kind, stem)] = ghosts if data is not None else _UNREADABLE
                if data is None:
                    continue
                doc.data = data
            if kind == "tenant":
                self.tenant = doc
            else:
                self.docs[kind][stem] = doc

    # -- entities ------------------------------------------------------------------------
    def _entities(self) -> dict[str, Entity]:
        sysdoc = system_document()
        known = frozenset(self.names["entity"] | set(sysdoc.data))
        out: dict[str, Entity] = {}
        for name in sorted(known):
            doc = self.docs["entity"].get(name)
            if name in sysdoc.data:
                base = Loc(sysdoc, (name,), self.problems)
                entity = self._entity(name, sysdoc.data[name], base, doc, known)
            elif doc is not None:
                entity = self._entity(name, None, self._loc(doc), doc, known)
            else:
                continue  # its file failed the schema; already reported
            if entity is not None:
                out[name] = entity
        for name, entity in out.items():
            if entity.screen_pop:
                self._check_related(name, entity, out)
        return out

    def _entity(self, name: str, sysdef: Mapping[str, Any] | None, base: Loc,
                doc: Document | None, known: frozenset[str]) -> Entity | None:
        over = doc.data if doc is not None else {}
        ol = self._loc(doc) if doc is not None else base
        ghosts = self._ghosts("entity", name, "fields")
        if "system" in over and over["system"] != name:
            ol.at("system").err(
                f"system '{over['system']}' can only be extended in entities/"
                f"{over['system']}.yaml" if over["system"] in system_document().data
                else f"'{over['system']}' is not a system entity")
        elif sysdef is None and "system" in over:
            ol.at("system").err(f"'{name}' is not a system entity; leave 'system' out")
        spec = {**(sysdef or {}), **{k: v for k, v in over.items() if k != "fields"}}
        fields: dict[str, Field] = {}
        for fname, fspec in (sysdef or {}).get("fields", {}).items():
            restated = (over.get("fields") or {}).get(fname, {}) if fname in (
                over.get("fields") or {}) else {}
            fl = base.at("fields", fname)
            if fname in (over.get("fields") or {}):
                at = ol.at("fields", fname)
                if restated is None:
                    at.err(f"system field '{fname}' cannot be removed", key=True)
                    restated = {}
                if restated.get("type", fspec["type"]) != fspec["type"]:
                    at.at("type").err(f"system field '{fname}' is {article(fspec['type'])} field; "
                                      f"its type cannot change to {restated['type']}")
                for key in sorted(set(restated) - RESTATABLE - {"type"}):
                    at.at(key).err(f"'{key}' of system field '{fname}' cannot be changed "
                                   f"(only {', '.join(sorted(RESTATABLE))})", key=True)
                fl = MergedLoc(base.doc, fl.path, self.problems, at,
                               frozenset(restated) & RESTATABLE)
                fspec = {**fspec, **{k: restated[k] for k in RESTATABLE if k in restated}}
            field = compile_field(fl, fname, fspec, system=True, known_entities=known)
            if field:
                fields[fname] = field
        for fname, fspec in (over.get("fields") or {}).items():
            if fname in fields or (sysdef and fname in sysdef.get("fields", {})):
                continue
            at = ol.at("fields", fname)
            if fname in BUILTIN_COLUMNS or (fname == "status" and "workflow" in spec):
                at.err(f"'{fname}' is a built-in column; choose another name", key=True)
                continue
            if fspec is None:
                at.err(f"field '{fname}' has no definition", key=True)
                continue
            field = compile_field(at, fname, fspec, known_entities=known)
            if field:
                fields[fname] = field
        if not fields:
            if not ghosts:
                ol.at("fields").err("an entity needs at least one field", key=True)
            return None
        workflow = None
        if spec.get("workflow"):
            wl = ol.at("workflow") if "workflow" in over else base.at("workflow")
            if "status" not in fields:
                fields["status"] = Field("status", "select", Label.of("Status"), system=True,
                                         readonly=True, index=True)
            workflow = compile_workflow(wl, spec["workflow"], _plus(fields, ghosts),
                                        scope_of(fields, ghosts=ghosts))
            states = tuple(Option(s.name, s.label) for s in workflow.states.values())
            fields["status"] = _with(fields["status"], options=states,
                                     default=spec["workflow"]["initial"])
        scope = scope_of(fields, ghosts=ghosts)
        for fname, field in fields.items():
            where = ol.at("fields", fname) if fname in (over.get("fields") or {}) \
                else base.at("fields", fname)
            check_field_expressions(where, field, scope)
            for child in field.fields:
                check_field_expressions(where.at("fields", child.name), child,
                                        scope_of({c.name: c for c in field.fields}))
        layout_loc = {k: (ol if k in over else base) for k in
                      ("title", "list", "form", "screen_pop")}
        return Entity(
            name=name, label=Label.of(spec.get("label"), name.replace("_", " ").title()),
            plural=Label.of(spec.get("plural") or spec.get("label"), name),
            system=name if sysdef is not None else None,
            title=self._title(layout_loc["title"], spec.get("title"), _plus(fields, ghosts)),
            fields=tuple(fields.values()),
            list=self._list(layout_loc["list"], spec.get("list"), fields, ghosts),
            form=self._form(layout_loc["form"], spec.get("form"), fields, spec.get("label"),
                            ghosts=ghosts),
            screen_pop=self._screen_pop(layout_loc["screen_pop"], spec.get("screen_pop"),
                                        fields, ghosts),
            workflow=workflow)

    def _title(self, loc: Loc, template: str | None, fields: Mapping[str, Field]) -> str:
        real = [f for f in fields.values() if f is not None]  # ghosts have no definition
        if not template:
            first = next((f for f in real if f.type == "text"), real[0] if real else None)
            return "{" + first.name + "}" if first else "{id}"
        try:
            names = [n for _, n, _, _ in string.Formatter().parse(template) if n is not None]
        except ValueError as e:
            loc.at("title").err(f"bad title template: {e}")
            return template
        for n in names:
            if n not in fields and n not in BUILTIN_COLUMNS and "*" not in fields:
                loc.at("title").missing("field", n, fields, where="the title")
        return template

    def _list(self, loc: Loc, spec: Mapping[str, Any] | None,
              fields: Mapping[str, Field], ghosts: set[str]) -> ListLayout:
        spec = spec or {}
        visible = [f.name for f in fields.values() if not f.hidden and f.type != "table"]
        for key in ("columns", "filters"):
            check_names(loc.at("list", key), spec.get(key), fields, "this entity",
                        ghosts=ghosts)
        sort = spec.get("sort", "-updated_at")
        known = _plus(fields, ghosts)
        if "*" not in ghosts and sort.lstrip("-") not in known and \
                sort.lstrip("-") not in BUILTIN_COLUMNS:
            loc.at("list", "sort").missing("field", sort.lstrip("-"), fields)
        default_filters = [f.name for f in fields.values()
                           if f.index or f.type in ("select", "rating", "boolean")]
        return ListLayout(tuple(spec.get("columns") or visible[:5]),
                          tuple(spec.get("filters") or default_filters), sort)

    def _form(self, loc: Loc, spec: Mapping[str, Any] | None, fields: Mapping[str, Field],
              label: Any, *, check_required: bool = True,
              ghosts: set[str] = frozenset()) -> tuple[Section, ...]:
        if not spec:
            names = tuple(f.name for f in fields.values() if not f.hidden)
            return (Section(Label.of(label, "Details"), names),) if names else ()
        sections = []
        placed: dict[str, int] = {}
        for i, sec in enumerate(spec["sections"]):
            sl = loc.at("form", "sections", i, "fields")
            for j, name in enumerate(sec["fields"]):
                if name in placed:
                    sl.at(j).err(f"'{name}' is already on the form (section {placed[name] + 1})")
                placed.setdefault(name, i)
                if name not in fields and name not in BUILTIN_COLUMNS and name not in ghosts \
                        and "*" not in ghosts:
                    sl.at(j).missing("field", name, fields, where="this entity")
            sections.append(Section(Label.of(sec.get("label"), f"Section {i + 1}"),
                                    tuple(sec["fields"]), sec.get("columns", 1)))
        if check_required:
            for f in fields.values():
                if f.required and f.default is None and not f.readonly and f.name not in placed:
                    loc.at("form").err(f"required field '{f.name}' is not on the form, so the "
                                       "form could never be saved", key=True)
        return tuple(sections)

    def _screen_pop(self, loc: Loc, spec: Mapping[str, Any] | None,
                    fields: Mapping[str, Field], ghosts: set[str]) -> ScreenPopLayout | None:
        if spec is None:
            return None
        check_names(loc.at("screen_pop", "fields"), spec.get("fields"), fields, "this entity",
                    ghosts=ghosts)
        related = tuple(RelatedList(r["entity"], r.get("limit", 5))
                        for r in spec.get("related") or ())
        names = tuple(spec.get("fields") or [f.name for f in fields.values()][:6])
        return ScreenPopLayout(names, related)

    def _check_related(self, name: str, entity: Entity, entities: Mapping[str, Entity]) -> None:
        doc = self.docs["entity"].get(name)
        loc = self._loc(doc) if doc is not None and "screen_pop" in doc.data else \
            Loc(system_document(), (name,), self.problems)
        for i, rel in enumerate(entity.screen_pop.related if entity.screen_pop else ()):
            at = loc.at("screen_pop", "related", i, "entity")
            other = entities.get(rel.entity)
            if other is None:
                if rel.entity not in self.names["entity"]:
                    at.missing("entity", rel.entity, entities)
                continue
            if self._ghosts("entity", rel.entity, "fields"):
                continue
            if not any(f.type == "link" and f.entity in (name, "*") for f in other.fields):
                at.err(f"'{rel.entity}' has no link field to '{name}', so it cannot be "
                       "listed as related")

    # -- tickets ---------------------------------------------------------------------------
    def _ticket_types(self, entities: Mapping[str, Entity],
                      settings: TenantSettings | None) -> dict[str, TicketType]:
        out = {}
        ticket = entities.get("ticket")
        if ticket is None:
            return out
        known = frozenset(entities) | self.names["entity"]
        tghosts = self._ghosts("entity", "ticket", "fields")
        for name, doc in sorted(self.docs["ticket_type"].items()):
            loc, data = self._loc(doc), doc.data
            if "workflow" not in data:
                continue  # its workflow failed the schema; reported there
            ghosts = self._ghosts("ticket_type", name, "fields") | tghosts
            fields: dict[str, Field] = {}
            for fname, fspec in (data.get("fields") or {}).items():
                at = loc.at("fields", fname)
                if fname in ticket.field_map or fname in BUILTIN_COLUMNS:
                    at.err(f"'{fname}' is already a field of every ticket; choose another name",
                           key=True)
                    continue
                if fspec is None:
                    at.err(f"field '{fname}' has no definition", key=True)
                    continue
                field = compile_field(at, fname, fspec, known_entities=known)
                if field:
                    fields[fname] = field
            all_fields = {**ticket.field_map, **fields}
            scope = scope_of(all_fields, ghosts=ghosts)
            for fname, field in fields.items():
                check_field_expressions(loc.at("fields", fname), field, scope)
            workflow = compile_workflow(loc.at("workflow"), data["workflow"],
                                        _plus(all_fields, ghosts), scope)
            sla = None
            if data.get("sla"):
                s = data["sla"]
                sla = Sla(_int(seconds(s.get("respond"))), _int(seconds(s.get("resolve"))),
                          s.get("schedule", "business"))
                if settings is not None and sla.schedule not in settings.schedules and \
                        not self.tenant_ghosts["schedules"]:
                    at = loc.at("sla", "schedule") if "schedule" in s else loc.at("sla")
                    at.missing("schedule", sla.schedule, settings.schedules,
                               where="tenant.yaml", key="schedule" not in s)
            dep = data.get("department")
            if dep and settings is not None and dep not in settings.departments and \
                    not self.tenant_ghosts["departments"]:
                loc.at("department").missing("department", dep, settings.departments,
                                             where="tenant.yaml")
            form = self._form(loc, data.get("form"), all_fields, data.get("label"),
                              check_required=False, ghosts=ghosts) if data.get("form") else (
                (Section(Label.of(data.get("label"), name),
                         tuple(f for f in fields if not fields[f].hidden)),) if fields else ())
            for f in fields.values():
                placed = {n for s in form for n in s.fields}
                if f.required and f.default is None and f.name not in placed:
                    loc.at("form").err(f"required field '{f.name}' is not on the form",
                                       key=True)
            out[name] = TicketType(name, Label.of(data.get("label"), name.replace("_", " ")),
                                   tuple(fields.values()), form, workflow, sla, dep)
        return out

    def _bind_ticket(self, entities: dict[str, Entity], types: Mapping[str, TicketType],
                     settings: TenantSettings | None) -> dict[str, Entity]:
        """Fill the ticket's type, status and department choices from the bundle."""
        ticket = entities.get("ticket")
        if ticket is None:
            return entities
        states: dict[str, Option] = {}
        for tt in types.values():
            for s in tt.workflow.states.values():
                states.setdefault(s.name, Option(s.name, s.label))
        deps = settings.departments if settings else {}
        choices = {
            "type": tuple(Option(t.name, t.label) for t in types.values()),
            "status": tuple(states.values()),
            "department": tuple(Option(d.name, d.label) for d in deps.values()),
        }
        fields = tuple(_with(f, options=choices[f.name]) if f.name in choices else f
                       for f in ticket.fields)
        entities = dict(entities)
        entities["ticket"] = _with(ticket, fields=fields)
        return entities

    # -- IVR -------------------------------------------------------------------------------
    def _ivr_trees(self, entities: Mapping[str, Entity],
                   settings: TenantSettings | None) -> dict[str, IvrTree]:
        scope: dict[str, ex.NameInfo] = {}
        opened: set[str] = set()
        for prefix in ("customer", "call"):
            if prefix in entities:
                part = scope_of(entities[prefix].field_map, prefix + ".",
                                self._ghosts("entity", prefix, "fields"))
                scope.update(part)
                opened |= part.open_prefixes
        # `lookup.*`: the JSON answer of the call's last http_lookup node (any shape).
        scope = Scope(scope, open_prefixes=opened | {"lookup."})
        scope["call.digits"] = ex.NameInfo("text")
        out: dict[str, IvrTree] = {}
        seen: dict[str, str] = {}
        for name, doc in sorted(self.docs["ivr"].items()):
            loc = self._loc(doc)
            if not all(k in doc.data for k in ("numbers", "start", "nodes")):
                continue  # cut by its schema problems, which are reported
            tree = compile_ivr(loc, name, doc.data, settings, scope,
                               self._ghosts("ivr", name, "nodes"), self.tenant_ghosts)
            for i, number in enumerate(tree.numbers):
                if number in seen:
                    loc.at("numbers", i).err(
                        f"number {number} is listed twice" if seen[number] == name else
                        f"number {number} already enters IVR tree '{seen[number]}'")
                seen.setdefault(number, name)
            out[name] = tree
        return out


def _plus(fields: Mapping[str, Any], ghosts: set[str]) -> dict[str, Any]:
    """Fields with the names of fields cut from a broken file (so nothing cascades)."""
    return {**dict.fromkeys(ghosts), **fields}


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


def _with(obj: Any, **changes: Any) -> Any:
    from dataclasses import replace

    return replace(obj, **changes)
