"""The runtime model: a compiled bundle as frozen, typed objects.

Everything downstream (storage, forms, API, import templates, screen pop, IVR) reads this
model and never the YAML. A `TenantModel` is compiled once per bundle version and shared.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, time
from functools import cached_property
from types import MappingProxyType
from typing import Any

from .expressions import Expression

FIELD_TYPES = ("text", "longtext", "integer", "decimal", "boolean", "date", "datetime",
               "select", "multiselect", "phone", "email", "url", "link", "user", "rating",
               "file", "table")
ROLES = ("owner", "admin", "supervisor", "agent")
LOCALES = ("vi", "en", "zh")
BUILTIN_COLUMNS = ("id", "owner", "created_at", "updated_at", "created_by", "updated_by")


def frozen_map(items: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    """A read-only mapping (the model's objects never change after compilation)."""
    return MappingProxyType(dict(items or {}))


@dataclass(frozen=True)
class Label:
    """A text in one or more locales; `text(locale)` falls back to en, then any."""

    texts: Mapping[str, str]

    @classmethod
    def of(cls, value: str | Mapping[str, str] | None, fallback: str = "") -> Label:
        if isinstance(value, Mapping):
            return cls(frozen_map({k: str(v) for k, v in value.items()}))
        return cls(frozen_map({"en": value if value else fallback}))

    def text(self, locale: str = "en") -> str:
        """The label in `locale`, else English, else the first one given."""
        return self.texts.get(locale) or self.texts.get("en") or next(
            iter(self.texts.values()), "")

    def __str__(self) -> str:
        return self.text()

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.texts.items())))


@dataclass(frozen=True)
class Option:
    """One choice of a select or multiselect field."""

    value: str
    label: Label


@dataclass(frozen=True)
class Field:
    """A field of an entity (or of a ticket type, or of a table field's child rows)."""

    name: str
    type: str
    label: Label
    system: bool = False
    required: bool = False
    unique: bool = False
    lookup: bool = False
    index: bool = False
    search: bool = False
    readonly: bool = False
    hidden: bool = False
    multiple: bool = False
    default: Any = None
    options: tuple[Option, ...] = ()
    min: Any = None
    max: Any = None
    max_length: int | None = None
    pattern: str | None = None
    help: Label | None = None
    visible_if: Expression | None = None
    required_if: Expression | None = None
    entity: str | None = None          # link target; "*" links to a record of any entity
    fields: tuple[Field, ...] = ()     # a table's child row fields

    @cached_property
    def option_values(self) -> tuple[str, ...]:
        return tuple(o.value for o in self.options)

    @property
    def is_key(self) -> bool:
        """Kept in the key side table: phones, e-mails, unique and lookup fields."""
        return self.unique or self.lookup or self.type in ("phone", "email")


@dataclass(frozen=True)
class Section:
    label: Label
    fields: tuple[str, ...]
    columns: int = 1


@dataclass(frozen=True)
class ListLayout:
    columns: tuple[str, ...]
    filters: tuple[str, ...]
    sort: str = "-updated_at"


@dataclass(frozen=True)
class RelatedList:
    entity: str
    limit: int = 5


@dataclass(frozen=True)
class ScreenPopLayout:
    fields: tuple[str, ...]
    related: tuple[RelatedList, ...]


@dataclass(frozen=True)
class State:
    name: str
    label: Label
    final: bool = False
    pause_sla: bool = False


@dataclass(frozen=True)
class Transition:
    name: str
    label: Label
    sources: tuple[str, ...]           # the states it may leave; every non-final state for "*"
    target: str
    roles: tuple[str, ...] = ()        # empty: every role
    require: tuple[str, ...] = ()
    when: Expression | None = None
    transfer: bool = False


@dataclass(frozen=True)
class Workflow:
    initial: str
    states: Mapping[str, State]
    transitions: Mapping[str, Transition]

    def available(self, state: str) -> tuple[Transition, ...]:
        """Transitions that may leave `state`."""
        return tuple(t for t in self.transitions.values() if state in t.sources)


@dataclass(frozen=True)
class Entity:
    """An entity of the tenant: its fields and the layouts built from them."""

    name: str
    label: Label
    plural: Label
    system: str | None                 # the system kind it binds, or None for a new entity
    title: str                         # template such as "{name}"
    fields: tuple[Field, ...]
    list: ListLayout
    form: tuple[Section, ...]
    screen_pop: ScreenPopLayout | None = None
    workflow: Workflow | None = None

    @cached_property
    def field_map(self) -> Mapping[str, Field]:
        return frozen_map({f.name: f for f in self.fields})

    def field(self, name: str) -> Field | None:
        return self.field_map.get(name)


_SUBSETS: dict[str, Callable[[Field], bool]] = {
    "default": lambda f: f.default is not None,
    "rules": lambda f: f.required or f.required_if is not None,
    "key": lambda f: f.is_key,
    "link": lambda f: f.type in ("link", "user"),
    "unique": lambda f: f.unique,
}
_subset_memo: dict[tuple[int, str], tuple[Mapping[str, Field], tuple[Field, ...]]] = {}


def fields_where(fields: Mapping[str, Field], kind: str) -> tuple[Field, ...]:
    """The fields of `fields` (in order) with a default, with rules (required or
    required_if), kept as keys, linking (link and user) or unique, as `kind` says;
    remembered per read-only mapping (the model's are shared and never change)."""
    memo = _subset_memo.get((id(fields), kind))
    if memo is not None and memo[0] is fields:
        return memo[1]
    subset = tuple(f for f in fields.values() if _SUBSETS[kind](f))
    if not isinstance(fields, MappingProxyType):  # a caller's dict may change
        return subset
    if len(_subset_memo) >= 1024:
        _subset_memo.clear()
    _subset_memo[(id(fields), kind)] = (fields, subset)
    return subset


@dataclass(frozen=True)
class Sla:
    respond: int | None                # seconds of business time, or None
    resolve: int | None
    schedule: str = "business"


@dataclass(frozen=True)
class TicketType:
    """A kind of ticket: its own fields, form, SLA and workflow."""

    name: str
    label: Label
    fields: tuple[Field, ...]
    form: tuple[Section, ...]
    workflow: Workflow
    sla: Sla | None = None
    department: str | None = None

    @cached_property
    def field_map(self) -> Mapping[str, Field]:
        return frozen_map({f.name: f for f in self.fields})


@dataclass(frozen=True)
class IvrNode:
    """One node of an IVR tree; `exits` maps each named exit to its target node."""

    name: str
    type: str
    label: Label | None = None
    prompt: str | None = None
    exits: Mapping[str, str] = field(default_factory=frozen_map)
    options: Mapping[str, str] = field(default_factory=frozen_map)  # menu digit -> node
    timeout: float | None = None       # seconds
    max_retries: int = 0
    invalid_prompt: str | None = None
    schedule: str | None = None
    when: Expression | None = None
    url: str | None = None
    method: str = "GET"
    queue: str | None = None
    max_wait: float | None = None
    department: str | None = None
    extension: str | None = None
    number: str | None = None
    mailbox: str | None = None

    def targets(self) -> tuple[str, ...]:
        """Every node this one can lead to."""
        return (*self.exits.values(), *self.options.values())


@dataclass(frozen=True)
class IvrTree:
    name: str
    label: Label
    numbers: tuple[str, ...]
    start: str
    nodes: Mapping[str, IvrNode]


@dataclass(frozen=True)
class Schedule:
    """Weekly opening hours (weekday 0 = Monday) and holidays."""

    name: str
    hours: Mapping[int, tuple[tuple[time, time], ...]]
    holidays: frozenset[date] = frozenset()


@dataclass(frozen=True)
class Department:
    name: str
    label: Label
    assignment: str = "none"           # none, round_robin, least_open


@dataclass(frozen=True)
class Queue:
    name: str
    label: Label
    strategy: str = "longest_idle"
    wrapup: float = 0.0                # seconds
    max_wait: float | None = None
    department: str | None = None


@dataclass(frozen=True)
class TenantSettings:
    name: str
    locale: str = "en"
    locales: tuple[str, ...] = ("en",)
    timezone: str = "UTC"
    phone_region: str = "VN"
    vip_min_priority: int = 4
    auto_opportunity: bool = False
    block_anonymous: bool = False
    schedules: Mapping[str, Schedule] = field(default_factory=frozen_map)
    departments: Mapping[str, Department] = field(default_factory=frozen_map)
    queues: Mapping[str, Queue] = field(default_factory=frozen_map)
    # tenant.yaml `telephony:` provider name, secret and provider-specific settings
    telephony: Mapping[str, Any] = field(default_factory=frozen_map)


@dataclass(frozen=True)
class TenantModel:
    """A compiled bundle: the one source every generated screen, API and flow reads."""

    settings: TenantSettings
    entities: Mapping[str, Entity]
    ticket_types: Mapping[str, TicketType]
    ivr_trees: Mapping[str, IvrTree]
    digest: str                        # content hash of the bundle it was compiled from

    def entity(self, name: str) -> Entity:
        """The entity `name`; KeyError when the tenant has none."""
        return self.entities[name]

    def ticket_fields(self, ticket_type: str | None) -> tuple[Field, ...]:
        """The ticket's system fields followed by those of `ticket_type` (if it exists)."""
        base = self.entities["ticket"].fields
        tt = self.ticket_types.get(ticket_type or "")
        return base + tt.fields if tt else base

    def ticket_field_map(self, ticket_type: str | None) -> Mapping[str, Field]:
        """`ticket_fields` by name (a later field wins), built once per ticket type."""
        tt = self.ticket_types.get(ticket_type or "")
        if tt is None:
            return self.entities["ticket"].field_map
        return self._ticket_field_maps[tt.name]

    @cached_property
    def _ticket_field_maps(self) -> Mapping[str, Mapping[str, Field]]:
        base = self.entities["ticket"].fields if "ticket" in self.entities else ()
        return frozen_map({name: frozen_map({f.name: f for f in base + tt.fields})
                           for name, tt in self.ticket_types.items()})

    def workflow_for(self, entity: str, record_type: str | None = None) -> Workflow | None:
        """The workflow a record follows: its ticket type's, or its entity's."""
        if entity == "ticket":
            tt = self.ticket_types.get(record_type or "")
            return tt.workflow if tt else None
        ent = self.entities.get(entity)
        return ent.workflow if ent else None

    @cached_property
    def number_routes(self) -> Mapping[str, str]:
        """Called number -> the IVR tree it enters."""
        return frozen_map({n: tree.name for tree in self.ivr_trees.values()
                           for n in tree.numbers})
