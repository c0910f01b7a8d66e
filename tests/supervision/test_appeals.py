"""Volunteers' appeals through the API: who may appeal what and when, who reads and who decides, what an
upheld appeal credits (a new "appeal" transfer for exactly the difference, once), and the lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from tests.api.helpers import assert_error
from tests.supervision.appeal_helpers import (
    API,
    TITLE,
    activity_no_show,
    appeal,
    cut,
    full_audit,
    held,
    no_show,
    notified,
)
from tests.support import make_user
from volunteer_app.extensions import db
from volunteer_app.supervision.models import Appeal
from volunteer_app.timebank.models import TimeAccount, Transfer


def book(loop, person) -> dict:
    return loop.call("GET", "/me/timebook", person)


def test_an_upheld_cut_credits_the_difference_once_as_a_new_transfer(app, world, loop):
    _, assignment_id = cut(app, world, loop, confirmed=30)
    assert book(loop, world.vol_s1)["balance_minutes"] == 30
    made = appeal(loop, world.vol_s1, assignment_id, claimed=60)
    assert made["kind"] == "cut" and made["status"] == "pending" and made["title"] == TITLE
    assert (made["minutes_before"], made["minutes_claimed"]) == (30, 60)
    assert made["site_id"] == world.sites["S1"] and made["deciding_site_id"] == world.sites["I1"]
    assert made["transfer_id"] is None and made["overdue"] is False
    # The deciding site's managers are told; not the audited station's, nor the center's.
    assert [n.subject_id for n in notified(app, world.mgr_i1.id, "appeal.submitted")] == [str(made["id"])]
    assert notified(app, world.mgr_s1.id, "appeal.submitted") == []
    assert notified(app, world.mgr_c1.id, "appeal.submitted") == []

    path = f"/appeals/{made['id']}/uphold"
    error = assert_error(
        loop.client.post(API + path, json={"minutes_granted": 50}, headers=world.mgr_s1.headers),
        403,
        "appeal.not_decider",
    )
    assert "minutes" not in str(error.get("errors", ""))
    assert_error(
        loop.client.post(API + path, json={"minutes_granted": 50}, headers=world.mgr_s2.headers), 404
    )
    with app.app_context():
        audit_transfer = db.session.scalars(select(Transfer).where(Transfer.kind == "credit")).one()
        lifetime_before = db.session.scalars(
            select(TimeAccount).where(TimeAccount.user_id == world.vol_s1.id)
        ).one()
        lifetime_before = lifetime_before.lifetime_minutes
    upheld = loop.call("POST", path, world.mgr_i1, {"minutes_granted": 50, "note": "有证人"})
    assert (
        upheld["status"] == "upheld" and upheld["minutes_granted"] == 50 and upheld["minutes_credited"] == 20
    )
    assert upheld["decided_by_id"] == world.mgr_i1.id and upheld["decision_note"] == "有证人"
    with app.app_context():
        credit = db.session.get(Transfer, upheld["transfer_id"])
        assert (credit.kind, credit.minutes, credit.reference) == (
            "appeal",
            20,
            f"service:appeal:{made['id']}",
        )
        assert credit.site_id == world.sites["S1"] and credit.actor_id == world.mgr_i1.id
        assert f"#{assignment_id}" in credit.memo and f"#{audit_transfer.id}" in credit.memo
        assert credit.service_date == audit_transfer.service_date
        # The audit's transfer is untouched.
        again = db.session.get(Transfer, audit_transfer.id)
        assert (again.minutes, again.kind) == (30, "credit")
        books = db.session.scalars(select(TimeAccount).where(TimeAccount.user_id == world.vol_s1.id)).one()
        assert books.lifetime_minutes == lifetime_before + 20
    mine = book(loop, world.vol_s1)
    assert mine["balance_minutes"] == 50 and mine["lifetime_minutes"] == 50
    # The volunteer is told; a second decision is refused and credits nothing.
    assert [n.subject_id for n in notified(app, world.vol_s1.id, "appeal.decided")] == [str(made["id"])]
    assert_error(
        loop.client.post(API + path, json={"minutes_granted": 60}, headers=world.admin.headers),
        409,
        "appeal.bad_state",
    )
    reject = loop.client.post(
        f"{API}/appeals/{made['id']}/reject", json={"note": "x"}, headers=world.admin.headers
    )
    assert_error(reject, 409, "appeal.bad_state")
    assert book(loop, world.vol_s1)["balance_minutes"] == 50
    # `flask timebank verify` passes with the appeal's transfer in the chain and the lifetime.
    result = app.test_cli_runner().invoke(args=["timebank", "verify"])
    assert result.exit_code == 0, result.output
    detail = loop.call("GET", f"/appeals/{made['id']}", world.vol_s1)
    assert [(e["action"], e["from"], e["to"]) for e in detail["timeline"]] == [
        ("submit", None, "pending"),
        ("uphold", "pending", "upheld"),
    ]
    assert detail["timeline"][1]["actor_id"] == world.mgr_i1.id and detail["timeline"][1]["note"] == "有证人"


def test_the_star_level_counts_an_upheld_appeal(app, world, loop):
    _, assignment_id = cut(app, world, loop, confirmed=0)
    assert book(loop, world.vol_s1)["lifetime_minutes"] == 0
    made = appeal(loop, world.vol_s1, assignment_id, claimed=120)
    loop.call("POST", f"/appeals/{made['id']}/uphold", world.admin, {"minutes_granted": 120})
    mine = book(loop, world.vol_s1)
    assert mine["balance_minutes"] == 120 and mine["lifetime_minutes"] == 120
    from volunteer_app.timebank.jobs import update_star_levels

    with app.app_context():
        update_star_levels(datetime.now(UTC))
        db.session.commit()
        level = db.session.scalars(
            select(TimeAccount.star_level).where(TimeAccount.user_id == world.vol_s1.id)
        ).one()
    assert level == book(loop, world.vol_s1)["star_level"]
    result = app.test_cli_runner().invoke(args=["timebank", "verify"])
    assert result.exit_code == 0, result.output


def test_no_show_appeals_for_orders_and_activities(app, world, loop):
    _, order_assignment = no_show(world, loop)
    made = appeal(loop, world.vol_s1, order_assignment, claimed=120)
    assert (made["kind"], made["minutes_before"]) == ("no_show", 0)
    assert_error(
        loop.client.post(
            f"{API}/assignments/{order_assignment}/appeal",
            json={"minutes_claimed": 121, "reason": "x"},
            headers=world.vol_s1.headers,
        ),
        409,
        "appeal.already",
    )
    upheld = loop.call("POST", f"/appeals/{made['id']}/uphold", world.mgr_c1, {"minutes_granted": 90})
    assert upheld["minutes_credited"] == 90
    activity_assignment = activity_no_show(app, world, loop)
    made = appeal(loop, world.vol_s1, activity_assignment, claimed=180)
    assert made["kind"] == "no_show" and made["title"] == "社区义诊"
    assert_error(
        loop.client.post(
            f"{API}/assignments/{activity_assignment}/appeal",
            json={"minutes_claimed": 181, "reason": "x"},
            headers=world.vol_s1.headers,
        ),
        409,
        "appeal.already",
    )
    rejected = loop.call("POST", f"/appeals/{made['id']}/reject", world.mgr_i1, {"note": "签到记录为空"})
    assert rejected["status"] == "rejected" and rejected["transfer_id"] is None
    assert book(loop, world.vol_s1)["balance_minutes"] == 90
    assert len(notified(app, world.vol_s1.id, "appeal.decided")) == 2


def _post(loop, person, assignment_id, claimed, reason="理由"):
    return loop.client.post(
        f"{API}/assignments/{assignment_id}/appeal",
        json={"minutes_claimed": claimed, "reason": reason},
        headers=loop.headers(person),
    )


def _count(app) -> int:
    with app.app_context():
        return len(db.session.scalars(select(Appeal.id)).all())


def test_what_cannot_be_appealed_changes_nothing(app, world, loop):
    _, full = full_audit(app, world, loop)
    assert_error(_post(loop, world.vol_s1, full, 100), 409, "appeal.not_appealable")
    place = held(world, loop)
    assert_error(_post(loop, world.vol_s1, place, 100), 409, "appeal.not_appealable")
    _, assignment_id = cut(app, world, loop, confirmed=30)
    # Someone else's assignment is 404, like one that does not exist (the managers too).
    for person in (world.mgr_s1, world.admin, world.resident, make_user(app, home_site_id=world.sites["S1"])):
        assert_error(_post(loop, person, assignment_id, 60), 404)
    assert_error(_post(loop, world.vol_s1, 10**9, 60), 404)
    # The claim: more than the audit confirmed, at most the service window (120 minutes).
    for claimed in (30, 29, 121):
        body = assert_error(_post(loop, world.vol_s1, assignment_id, claimed), 422, "validation.failed")
        assert "minutes_claimed" in body["errors"]["json"]
    for claimed in (0, -5, 24 * 60 + 1, "60", 60.5, None):
        assert_error(_post(loop, world.vol_s1, assignment_id, claimed), 422)
    for reason in ("", "   ", "x" * 1001):
        assert_error(_post(loop, world.vol_s1, assignment_id, 60, reason), 422)
    assert _count(app) == 0
    assert appeal(loop, world.vol_s1, assignment_id, claimed=120)["minutes_claimed"] == 120  # the edge
    assert_error(_post(loop, world.vol_s1, assignment_id, 100), 409, "appeal.already")
    assert _count(app) == 1


def test_the_window_closes_after_the_sites_appeal_window_days(app, world, loop):
    _, first = cut(app, world, loop)
    with app.app_context():
        from volunteer_app.attendance.models import Assignment

        marked = db.session.get(Assignment, first).updated_at
    _, second = cut(app, world, loop)  # another order of the same volunteer
    with loop.at(marked + timedelta(days=15) - timedelta(seconds=1)):
        appeal(loop, world.vol_s1, first)
    with loop.at(datetime.now(UTC) + timedelta(days=15, minutes=5)):
        body = assert_error(_post(loop, world.vol_s1, second, 60), 409, "appeal.window_closed")
        assert "15" in body["message"]
    assert _count(app) == 1


def test_a_shorter_window_of_the_site_applies(app, world, loop):
    _, assignment_id = cut(app, world, loop)
    loop.call("PATCH", f"/sites/{world.sites['S1']}/settings", world.admin, {"appeal_window_days": 1})
    with loop.at(datetime.now(UTC) + timedelta(days=1, minutes=5)):
        assert_error(_post(loop, world.vol_s1, assignment_id, 60), 409, "appeal.window_closed")


def test_the_decision_checks_the_grant_and_only_deciders_decide(app, world, loop):
    _, assignment_id = cut(app, world, loop, confirmed=30)
    made = appeal(loop, world.vol_s1, assignment_id, claimed=60)
    path = f"{API}/appeals/{made['id']}"
    for granted in (30, 61, 0):
        assert_error(
            loop.client.post(
                f"{path}/uphold", json={"minutes_granted": granted}, headers=world.mgr_i1.headers
            ),
            422,
        )
    for person, status in (
        (world.vol_s1, 403),
        (world.mgr_s1, 403),
        (world.mgr_s4, 404),
        (world.resident, 403),
    ):
        response = loop.client.post(f"{path}/reject", json={"note": "no"}, headers=person.headers)
        assert_error(response, status)
    # Only the volunteer withdraws.
    for person in (world.mgr_i1, world.admin, world.mgr_s1):
        assert_error(loop.client.post(f"{path}/withdraw", json={}, headers=person.headers), 404)
    detail = loop.call("GET", f"/appeals/{made['id']}", world.mgr_i1)
    assert detail["status"] == "pending" and len(detail["timeline"]) == 1
    withdrawn = loop.call("POST", f"/appeals/{made['id']}/withdraw", world.vol_s1, {})
    assert withdrawn["status"] == "withdrawn"
    assert_error(
        loop.client.post(f"{path}/uphold", json={"minutes_granted": 40}, headers=world.mgr_i1.headers),
        409,
        "appeal.bad_state",
    )
    assert book(loop, world.vol_s1)["balance_minutes"] == 30


def test_nobody_decides_their_own_appeal(app, world, loop):
    from tests.support import grant

    _, assignment_id = cut(app, world, loop)
    made = appeal(loop, world.vol_s1, assignment_id)
    grant(app, world.vol_s1, "manager", world.sites["I1"])
    response = loop.client.post(
        f"{API}/appeals/{made['id']}/uphold", json={"minutes_granted": 60}, headers=loop.headers(world.vol_s1)
    )
    assert_error(response, 403, "appeal.not_decider")


def test_who_reads_an_appeal(app, world, loop):
    _, assignment_id = cut(app, world, loop)
    made = appeal(loop, world.vol_s1, assignment_id)
    for person in (world.vol_s1, world.mgr_s1, world.mgr_i1, world.mgr_c1, world.admin):
        assert loop.call("GET", f"/appeals/{made['id']}", person)["id"] == made["id"]
    for person in (world.mgr_s2, world.mgr_s4, world.resident, world.vol_s4):
        assert_error(loop.client.get(f"{API}/appeals/{made['id']}", headers=person.headers), 404)


def test_the_lists(app, world, loop):
    ids = []
    for _ in range(3):
        _, assignment_id = cut(app, world, loop)
        ids.append(appeal(loop, world.vol_s1, assignment_id)["id"])
    loop.call("POST", f"/appeals/{ids[0]}/reject", world.mgr_i1, {"note": "维持"})
    mine = loop.call("GET", "/me/appeals?limit=2", world.vol_s1)
    assert [a["id"] for a in mine["items"]] == [ids[2], ids[1]]
    rest = loop.call("GET", f"/me/appeals?limit=2&cursor={mine['next_cursor']}", world.vol_s1)
    assert [a["id"] for a in rest["items"]] == [ids[0]] and rest["next_cursor"] is None
    assert loop.call("GET", "/me/appeals", world.vol_s4)["items"] == []

    def listed(site: str, person, query: str = "") -> list[int]:
        page = loop.call("GET", f"/sites/{world.sites[site]}/appeals?{query}", person)
        return [a["id"] for a in page["items"]]

    assert listed("I1", world.mgr_i1) == ids[::-1]  # side=deciding by default
    assert listed("I1", world.mgr_i1, "side=deciding&status=pending") == [ids[2], ids[1]]
    assert listed("I1", world.mgr_i1, "side=audited") == []
    assert listed("S1", world.mgr_s1, "side=audited") == ids[::-1]
    assert listed("S1", world.mgr_s1, "side=deciding") == []
    assert listed("C1", world.mgr_c1, "side=deciding") == []
    assert listed("I1", world.mgr_i1, "overdue=true") == []
    assert listed("I1", world.mgr_i1, "overdue=false") == ids[::-1]
    with loop.at(datetime.now(UTC) + timedelta(hours=169)):
        assert listed("I1", world.mgr_i1, "overdue=true") == [ids[2], ids[1]]
        assert listed("I1", world.mgr_i1, "overdue=false") == [ids[0]]
    page = loop.call("GET", f"/sites/{world.sites['I1']}/appeals?limit=1", world.mgr_i1)
    assert page["next_cursor"]
    # Out of reach: 404 as missing; not a manager: 403; bad filters: 422; a forged cursor: 400.
    assert_error(
        loop.client.get(f"{API}/sites/{world.sites['I1']}/appeals", headers=world.mgr_s4.headers), 404
    )
    assert_error(
        loop.client.get(f"{API}/sites/{world.sites['I1']}/appeals", headers=world.mgr_s1.headers), 404
    )
    assert_error(
        loop.client.get(f"{API}/sites/{world.sites['S1']}/appeals", headers=world.vol_s1.headers), 403
    )
    for query in ("side=both", "status=open", "overdue=maybe", "limit=0"):
        assert_error(
            loop.client.get(f"{API}/sites/{world.sites['I1']}/appeals?{query}", headers=world.mgr_i1.headers),
            422,
        )
    assert_error(
        loop.client.get(f"{API}/sites/{world.sites['I1']}/appeals?cursor=xyz", headers=world.mgr_i1.headers),
        400,
    )


def test_a_center_decides_the_appeals_of_its_own_audits(app, world, loop):
    from volunteer_app.sites.models import Site
    from volunteer_app.supervision.appeals import deciding_site_id

    with app.app_context():
        center = db.session.get(Site, world.sites["C1"])
        station = db.session.get(Site, world.sites["S1"])
        assert deciding_site_id(center) == center.id
        assert deciding_site_id(station) == world.sites["I1"]


def test_the_statistics_count_the_appeal_as_credited_minutes_not_as_service(app, world, loop):
    """An upheld appeal's credit is posted at the audited site on the day of the decision as credited
    minutes (the book and the statistics' credited figures agree); the sessions' service minutes stay
    what the audit confirmed (the station's attendance record)."""
    from volunteer_app.reports import rollups

    _, assignment_id = cut(app, world, loop, confirmed=30)
    made = appeal(loop, world.vol_s1, assignment_id, claimed=60)
    loop.call("POST", f"/appeals/{made['id']}/uphold", world.mgr_i1, {"minutes_granted": 55})
    with app.app_context():
        rollups.refresh_all()
        db.session.commit()
    today = datetime.now(UTC).date()
    days = f"from={today - timedelta(days=1)}&to={today + timedelta(days=1)}"
    stats = loop.call("GET", f"/sites/{world.sites['S1']}/stats?{days}", world.mgr_s1)
    assert stats["figures"]["timebank"]["credited_minutes"] == 55
    assert stats["figures"]["service_minutes"] == 30
    me = loop.call("GET", "/me/stats?months=12", world.vol_s1)
    assert me["totals"]["credited_minutes"] == 55
