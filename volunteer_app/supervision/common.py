"""What the four supervision records (items, complaints, appeals, follow-ups) share: finding one (to
read, or locked to change), whether the caller manages a site, the overdue rule (a record waiting in
its machine's `waiting` state at or past `due_at`), a site's lists and their filters, and a timeline
note's length."""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from sqlalchemy import ColumnElement, Select, and_, not_, select

from volunteer_app.db import utcnow
from volunteer_app.errors import NotFound
from volunteer_app.extensions import db
from volunteer_app.sites.models import Site
from volunteer_app.sites.reach import Reacher, get_in_reach, path_in_reach, subtree_of
from volunteer_app.supervision.states import Machine

T = TypeVar("T")

NOTE_MAX = 1000  # SupervisionEvent.note's length


def clip(text: str | None) -> str | None:
    """`text` as a timeline note keeps it: whole if it fits, else cut with an ellipsis (the record
    itself keeps it whole)."""
    if text is None or len(text) <= NOTE_MAX:
        return text
    return text[: NOTE_MAX - 1] + "…"


def found(model: type[T], record_id: int, *conditions) -> T:
    """The row of `model` with this id matching `conditions` (the caller's own, or in reach), to read;
    404 otherwise."""
    return _first(select(model).where(model.id == record_id, *conditions))


def locked(model: type[T], record_id: int, *conditions) -> T:
    """`found`, locked and read afresh: two requests on one record take turns and the second sees the
    first's state."""
    stmt = select(model).where(model.id == record_id, *conditions).with_for_update()
    return _first(stmt.execution_options(populate_existing=True))


def _first(stmt: Select):
    record = db.session.scalars(stmt).first()
    if record is None:
        raise NotFound()
    return record


def reaches(who: Reacher, site_id: int) -> bool:
    """Whether the caller manages the site `site_id` (directly or from above; an admin: every site)."""
    return path_in_reach(db.session.scalar(select(Site.path).where(Site.id == site_id)) or "", who)


def overdue_condition(machine: Machine, now: datetime) -> ColumnElement[bool]:
    """Condition on the machine's records: waiting (`machine.waiting`) and at or past `due_at`, as the
    deadline sweep reads it."""
    model = machine.model
    return and_(model.status == machine.waiting, model.due_at <= now)


def is_overdue(machine: Machine, record, now: datetime | None = None) -> bool:
    """`overdue_condition` of one loaded record."""
    return record.status == machine.waiting and record.due_at <= (now or utcnow())


# ---- a site's lists -------------------------------------------------------------------------------------


def in_subtree(site_column, who: Reacher, site_id: int) -> ColumnElement[bool]:
    """Condition: `site_column` names the site `site_id` (in the caller's reach, else 404) or a site
    below it."""
    site = get_in_reach(Site, site_id, Site.id, who)
    return site_column.in_(select(Site.id).where(subtree_of([site.path])))


def filtered(
    stmt: Select, machine: Machine, *, overdue: bool | None = None, now: datetime | None = None, **equal
) -> Select:
    """`stmt` narrowed to the records whose columns named in `equal` hold the values given (None: any
    value), and overdue (True) or not (False; None: either) at `now`."""
    model = machine.model
    for name, value in equal.items():
        if value is not None:
            stmt = stmt.where(getattr(model, name) == value)
    if overdue is not None:
        late = overdue_condition(machine, now or utcnow())
        stmt = stmt.where(late if overdue else not_(late))
    return stmt
