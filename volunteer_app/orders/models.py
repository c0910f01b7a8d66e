"""Orders and their timeline, and the values an order's status, mode and rating state take (stored and
API strings). `status` is written only by orders.states.transition()."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, Float, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from volunteer_app.db import BigId, UTCDateTime, utcnow
from volunteer_app.extensions import db

TARGET_GROUPS = {
    "elderly_alone": ("独居老人", "Elderly living alone"),
    "left_behind_children": ("留守儿童", "Left-behind children"),
    "disabled": ("残疾人", "People with disabilities"),
    "low_income": ("困难家庭", "Low-income families"),
    "veterans": ("退役军人", "Veterans"),
    "pregnant": ("孕产妇", "Pregnant women"),
    "other": ("其他", "Other"),
}


class OrderStatus(enum.StrEnum):
    """The states of orders.states.TABLE."""

    SUBMITTED = "submitted"
    REJECTED = "rejected"
    DISPATCHED = "dispatched"
    STAFFED = "staffed"
    IN_SERVICE = "in_service"
    COMPLETED = "completed"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class OrderMode(enum.StrEnum):
    """How a dispatched order is staffed: offers to named volunteers, or an open pool to grab."""

    ASSIGN = "assign"
    GRAB = "grab"


class RatingState(enum.StrEnum):
    """The resident's rating: open from completion (pending) until rated or the window lapses."""

    PENDING = "pending"
    RATED = "rated"
    UNRATED = "unrated"


# The deadline of each state the deadline job watches.
DEADLINES = {
    OrderStatus.SUBMITTED: "dispatch_due_at",
    OrderStatus.DISPATCHED: "fill_due_at",
    OrderStatus.STAFFED: "checkin_due_at",
    OrderStatus.IN_SERVICE: "checkout_due_at",
    OrderStatus.COMPLETED: "audit_due_at",
}


def _in(column: str, values: type[enum.StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class Order(db.Model):
    """A resident's request (点单), owned by a station and dispatched by it or by its center.

    Each waiting state has its deadline stored on the row (see `DEADLINES`): dispatch due, the
    grab/offer deadline, check-in grace, check-out grace, audit due; and the rating window. Partial
    indexes hold only the rows waiting in that state, so the deadline job's scans stay small.
    """

    __tablename__ = "orders"
    # Statistics count an order again whenever it changes (volunteer_app/changes.py).
    __changes__ = staticmethod(lambda order: ("order", order.id))
    __table_args__ = (
        CheckConstraint(_in("status", OrderStatus), name="status"),
        CheckConstraint(f"mode IS NULL OR {_in('mode', OrderMode)}", name="mode"),
        CheckConstraint(f"rating_state IS NULL OR {_in('rating_state', RatingState)}", name="rating_state"),
        CheckConstraint("taken >= 0 AND taken <= capacity", name="slots"),
        CheckConstraint("volunteers_needed >= 1", name="needed"),
        CheckConstraint("rating_stars IS NULL OR rating_stars BETWEEN 1 AND 5", name="stars"),
        Index("ix_orders_resident_id", "resident_id", "id"),
        Index("ix_orders_site_status", "site_id", "status", "id"),
        # The statistics count a station's days again: its orders by submission and by service day.
        Index("ix_orders_site_id_created_at", "site_id", "created_at"),
        Index("ix_orders_site_id_window_start", "site_id", "window_start"),
        *[
            Index(
                f"ix_orders_{column}",
                column,
                postgresql_where=text(f"status = '{state}'"),
                sqlite_where=text(f"status = '{state}'"),
            )
            for state, column in DEADLINES.items()
        ],
        # The deadline sweep's escalate (escalated_at IS NULL, due passed) and expire (escalated long
        # ago) steps: an escalated order keeps its state, so in the index above a backlog's escalated
        # rows would be read again by every later batch. Led by escalated_at, each batch reads only
        # rows it can move (measured in bench/README.md, "The deadline sweep was superlinear").
        *[
            Index(
                f"ix_orders_escalation_{column}",
                "escalated_at",
                column,
                postgresql_where=text(f"status = '{state}'"),
                sqlite_where=text(f"status = '{state}'"),
            )
            for state, column in DEADLINES.items()
        ],
        Index(
            "ix_orders_rating_due_at",
            "rating_due_at",
            postgresql_where=text("rating_state = 'pending'"),
            sqlite_where=text("rating_state = 'pending'"),
        ),
        Index("ix_orders_status_window_start", "status", "window_start"),
        # The volunteers' feed: only open pools are indexed, by place.
        Index(
            "ix_orders_open_pool_geo",
            "lat",
            "lng",
            postgresql_where=text("status = 'dispatched' AND mode = 'grab'"),
            sqlite_where=text("status = 'dispatched' AND mode = 'grab'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    # The site whose managers dispatch: the station itself, or its center (the center's setting).
    dispatch_site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # A manager who submitted on the resident's behalf (phone intake).
    proxy_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"))
    title: Mapped[str] = mapped_column(String(60))
    description: Mapped[str | None] = mapped_column(String(1000))
    address: Mapped[str] = mapped_column(String(200))
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime)
    volunteers_needed: Mapped[int] = mapped_column()
    target_groups: Mapped[list] = mapped_column(JSON, default=list)
    # The skills the order asks for (a JSON list of strings, at most a few): a volunteer with one of
    # them fits (orders/matching.py). Empty: anyone.
    skills: Mapped[list] = mapped_column(JSON, default=list, server_default=text("'[]'"))
    status: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str | None] = mapped_column(String(8))
    capacity: Mapped[int] = mapped_column(default=0)
    taken: Mapped[int] = mapped_column(default=0)
    dispatch_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fill_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checkin_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    checkout_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    audit_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when a deadline of the current state passed and the parent site was told; cleared by every
    # change of state. A waiting order still late `escalation_minutes` later expires.
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(String(500))
    dispatched_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    audited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    audit_note: Mapped[str | None] = mapped_column(String(500))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rating_state: Mapped[str | None] = mapped_column(String(8))
    rating_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rating_stars: Mapped[int | None] = mapped_column()
    rating_comment: Mapped[str | None] = mapped_column(String(500))
    rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class OrderEvent(db.Model):
    """One line of an order's timeline: every transition writes exactly one. Append-only."""

    __tablename__ = "order_events"
    __table_args__ = (Index("ix_order_events_order_id", "order_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    action: Mapped[str] = mapped_column(String(24))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    # None when the deadline job acted.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    proxy_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    assignment_id: Mapped[int | None] = mapped_column(ForeignKey("assignments.id"))
    note: Mapped[str | None] = mapped_column(String(500))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class HandoverKind(enum.StrEnum):
    """转派 to a sibling station (its managers accept), or 上报 to the parent site (at once)."""

    TRANSFER = "transfer"
    REFER_UP = "refer_up"


class HandoverStatus(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    CANCELLED = "cancelled"


class OrderHandover(db.Model):
    """A station passing an order on (orders/handover.py): who asked, to whom, why, and how it ended.

    An accepted one (a referral is accepted when made) moved the order's dispatch site from
    `from_site_id` to `to_site_id` with a `hand_over` event; its `from_site_id` keeps reading the order
    (orders/common.py, the orders' reach). At most one is pending per order (a partial unique index).
    """

    __tablename__ = "order_handovers"
    __table_args__ = (
        CheckConstraint(_in("kind", HandoverKind), name="kind"),
        CheckConstraint(_in("status", HandoverStatus), name="status"),
        CheckConstraint("from_site_id <> to_site_id", name="sites"),
        Index("ix_order_handovers_order_id", "order_id", "status"),
        Index(
            "uq_order_handovers_pending",
            "order_id",
            unique=True,
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index("ix_order_handovers_to_site", "to_site_id", "status", "id"),
        Index("ix_order_handovers_from_site", "from_site_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    from_site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    to_site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    kind: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(500))
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decision_note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
