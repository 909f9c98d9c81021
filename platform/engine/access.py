"""Who is acting, and which records they may see: the one place visibility is decided.

CONTRACT §4: owner and admin see everything in their tenant; a supervisor sees records
owned by its team's members or by nobody; an agent sees records it owns or nobody owns,
and for a ticket "owns" also means assignee, creator or watcher. The knowledge base is
shared: agents see published articles (and their own drafts), supervisors every article.
Another tenant's record does not exist for anyone. Every query of the record service is
built on `scope()`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import and_, exists, false, literal_column, or_, select, true
from sqlalchemy.sql.elements import ColumnElement

from .tables import members, record_links, records

ROLES = ("owner", "admin", "supervisor", "agent")
# Fields that make a user one of a ticket's "owners" for visibility.
TICKET_PEOPLE = ("assignee", "watchers")
# Entities shared by the whole tenant, with their own visibility rule (`_knowledge`).
KNOWLEDGE = ("kb_article", "kb_category")


@dataclass(frozen=True)
class Actor:
    """The user on whose behalf the service acts. `role="system"` is the platform itself
    (telephony, jobs): it sees the whole tenant and may write read-only fields."""

    tenant_id: int
    user_id: int | None
    role: str
    team: str | None = None
    department: str | None = None
    email: str | None = None

    @property
    def sees_all(self) -> bool:
        return self.role in ("owner", "admin", "system")

    @property
    def is_system(self) -> bool:
        return self.role == "system"

    @property
    def manages(self) -> bool:
        """Owner, admin and supervisor: may name owners and delete others' records."""
        return self.role in ("owner", "admin", "supervisor", "system")


def system_actor(tenant_id: int) -> Actor:
    """The platform acting on its own (telephony events, jobs)."""
    return Actor(tenant_id, None, "system")


def _team_ids(actor: Actor):
    if not actor.team:
        return select(members.c.user_id).where(members.c.user_id == (actor.user_id or -1))
    return select(members.c.user_id).where(members.c.tenant_id == actor.tenant_id,
                                          members.c.team == actor.team)


_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def entity_is(entity: str) -> ColumnElement[bool]:
    """`records.entity = 'name'` with the (checked) name written into the SQL, so SQLite
    can answer a count from the partial expression index alone."""
    if not _NAME.match(entity):
        return records.c.entity == entity
    return records.c.entity == literal_column(f"'{entity}'")


def scope(actor: Actor, entity: str | None) -> ColumnElement[bool]:
    """The SQL condition of the records `actor` may see (of `entity`, when given)."""
    cond = [records.c.tenant_id == actor.tenant_id, records.c.deleted_at.is_(None)]
    if entity is not None:
        cond.append(entity_is(entity))
    if actor.sees_all:
        return and_(*cond)
    if entity in KNOWLEDGE:
        return and_(*cond, _knowledge(actor))
    if actor.role == "agent":
        people = [records.c.owner_id == actor.user_id]
        link_to = record_links.c.to_id == actor.user_id
        creator = records.c.created_by == actor.user_id
    elif actor.role == "supervisor":
        team = _team_ids(actor)
        people = [records.c.owner_id.in_(team)]
        link_to = record_links.c.to_id.in_(team)
        creator = records.c.created_by.in_(team)
    else:
        return false()
    ticket_people = and_(
        records.c.entity == "ticket",
        or_(creator, exists().where(
            record_links.c.from_id == records.c.id,
            record_links.c.to_entity == "user",
            record_links.c.field.in_(TICKET_PEOPLE),
            link_to)))
    if entity is not None and entity != "ticket":
        ticket_people = false()
    owned = or_(records.c.owner_id.is_(None), *people, ticket_people)
    if entity is None:  # the knowledge base follows its own rule, whoever owns an article
        return and_(*cond, or_(and_(records.c.entity.notin_(KNOWLEDGE), owned),
                               and_(records.c.entity.in_(KNOWLEDGE), _knowledge(actor))))
    return and_(*cond, owned)


def _knowledge(actor: Actor) -> ColumnElement[bool]:
    """The knowledge base is shared by the tenant: everyone sees every category; an agent
    sees published articles (and the drafts it writes itself), a supervisor every one."""
    if actor.role == "supervisor":
        return true()
    if actor.role != "agent":
        return false()
    return or_(records.c.entity == "kb_category", records.c.status == "published",
               and_(records.c.owner_id == actor.user_id, records.c.owner_id.is_not(None)))


def can_delete(actor: Actor, owner_id: int | None) -> bool:
    return actor.manages or (owner_id is not None and owner_id == actor.user_id)


def tenant_only(actor: Actor) -> ColumnElement[bool]:
    """Records of the actor's tenant, whoever owns them (for uniqueness and link checks)."""
    return and_(records.c.tenant_id == actor.tenant_id, records.c.deleted_at.is_(None),
                true())
