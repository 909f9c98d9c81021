"""Who gets a ticket that lands on a department without an assignee.

Rules per department in tenant.yaml (`assignment:`): `round_robin` takes the department's
agents in turn; `least_open` takes the agent with the fewest open tickets (ties: the one
who got a ticket longest ago). Available agents are active members of the department who
are not offline; when none is, every active member of the department is considered, so a
ticket still lands on someone.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import Connection, and_, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from callboard.engine.tables import assignment_cursors, members, record_links, records
from callboard.engine.tenancy import Tenant


def candidates(conn: Connection, tenant_id: int, department: str) -> list[int]:
    """Members who may take the department's tickets, available ones first."""
    rows = conn.execute(select(members.c.user_id, members.c.status).where(
        members.c.tenant_id == tenant_id, members.c.department == department,
        members.c.active, members.c.role.in_(("agent", "supervisor")))
        .order_by(members.c.user_id)).all()
    ready = [r.user_id for r in rows if r.status != "offline"]
    return ready or [r.user_id for r in rows]


def open_counts(conn: Connection, tenant_id: int, users: Iterable[int],
                final_states: Iterable[str]) -> dict[int, int]:
    """Open (not final) tickets assigned to each user."""
    users = list(users)
    q = (select(record_links.c.to_id, func.count())
         .join(records, records.c.id == record_links.c.from_id)
         .where(record_links.c.tenant_id == tenant_id, record_links.c.to_entity == "user",
                record_links.c.field == "assignee", record_links.c.to_id.in_(users),
                records.c.deleted_at.is_(None), records.c.entity == "ticket",
                ~records.c.status.in_(list(final_states) or ["-"]))
         .group_by(record_links.c.to_id))
    counts = dict.fromkeys(users, 0)
    counts.update({int(uid): n for uid, n in conn.execute(q)})
    return counts


def pick_assignee(conn: Connection, tenant: Tenant, department: str) -> int | None:
    """The next assignee for `department` by its rule, or None when it has no rule
    (or no members)."""
    dep = tenant.model.settings.departments.get(department)
    if dep is None or dep.assignment == "none":
        return None
    last = _lock_cursor(conn, tenant.id, department)
    users = candidates(conn, tenant.id, department)
    if not users:
        return None
    if dep.assignment == "round_robin":
        later = [u for u in users if last is None or u > last]
        chosen = later[0] if later else users[0]
    else:
        finals = {s.name for tt in tenant.model.ticket_types.values()
                  for s in tt.workflow.states.values() if s.final}
        counts = open_counts(conn, tenant.id, users, finals)
        # fewest open first; among equals, the one after the last assignee in turn
        order = {u: (i - users.index(last) - 1) % len(users) if last in users else i
                 for i, u in enumerate(users)}
        chosen = min(users, key=lambda u: (counts[u], order[u]))
    conn.execute(update(assignment_cursors).where(and_(
        assignment_cursors.c.tenant_id == tenant.id,
        assignment_cursors.c.department == department)).values(
        last_user_id=chosen, updated_at=datetime.now(UTC)))
    return chosen


def _lock_cursor(conn: Connection, tenant_id: int, department: str) -> int | None:
    """The department's last assignee, its cursor row held until the transaction ends so
    that concurrent transfers take turns. The row is made first if missing (concurrent
    first transfers must not all insert it), and that write comes before any read: on
    SQLite it takes the database's write lock; on PostgreSQL FOR UPDATE waits for the row
    and reads it as the previous transfer committed it."""
    ins = (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(
        assignment_cursors)
    conn.execute(ins.values(tenant_id=tenant_id, department=department, last_user_id=None,
                            updated_at=datetime.now(UTC)).on_conflict_do_nothing())
    return conn.execute(select(assignment_cursors.c.last_user_id).where(
        assignment_cursors.c.tenant_id == tenant_id,
        assignment_cursors.c.department == department).with_for_update()).scalar()
