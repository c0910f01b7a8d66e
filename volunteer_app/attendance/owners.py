"""Who owns an assignment (its order or its activity), and what an owner's service must offer for the
`/assignments/{id}/…` actions. Below orders and activities: it reads only the assignment; the map
from owner to service is built above both, in attendance/views.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from sqlalchemy import select

from volunteer_app.attendance.models import Assignment
from volunteer_app.errors import NotFound
from volunteer_app.extensions import db

OwnerKind = Literal["order", "activity"]


# The call shapes of the actions: keyword-only, as the views call them.
class Act(Protocol):
    def __call__(self, *, who, assignment_id: int) -> Assignment: ...


class ActMaybeReason(Protocol):
    def __call__(self, *, who, assignment_id: int, reason: str | None) -> Assignment: ...


class ActWithReason(Protocol):
    def __call__(self, *, who, assignment_id: int, reason: str) -> Assignment: ...


class ActAt(Protocol):
    def __call__(self, *, who, assignment_id: int, lat: float, lng: float) -> Assignment: ...


class Close(Protocol):
    def __call__(
        self, *, who, assignment_id: int, checkout_at: datetime | None, reason: str
    ) -> Assignment: ...


@dataclass(frozen=True)
class AssignmentOwner:
    """An owner's service functions for the assignment actions, each called with the caller (`who`),
    the assignment's id and the request's fields; it decides who may act, in its queries, and
    commits. `accept` and `decline` answer an offer: None for an owner without offers (an activity's
    sign-up), where they are 404."""

    withdraw: ActMaybeReason
    check_in: ActAt
    check_out: ActAt
    close_attendance: Close
    mark_no_show: ActWithReason
    accept: Act | None = None
    decline: ActMaybeReason | None = None


def owner_kind(assignment_id: int) -> OwnerKind:
    """Whether the assignment is an order's or an activity's (404 if there is no such assignment)."""
    row = db.session.execute(
        select(Assignment.order_id, Assignment.activity_id).where(Assignment.id == assignment_id)
    ).first()
    if row is None:
        raise NotFound()
    return "order" if row.order_id is not None else "activity"
