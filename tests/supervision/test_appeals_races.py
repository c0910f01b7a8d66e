"""Two deciders at once: the appeal row is locked before deciding, so exactly one decision stands and
the book gets exactly the difference, once (one 200, one 409). Also two submissions of one appeal."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from tests.race import race
from tests.supervision.appeal_helpers import API, appeal, cut
from volunteer_app.extensions import db
from volunteer_app.supervision.models import Appeal, SupervisionEvent
from volunteer_app.timebank.models import Transfer


def _statuses(responses) -> Counter:
    return Counter(r.status_code for r in responses)


def test_two_concurrent_upholds_credit_exactly_once(app, world, loop):
    _, assignment_id = cut(app, world, loop, confirmed=30)
    appeal_id = appeal(loop, world.vol_s1, assignment_id, claimed=90)["id"]
    calls = [
        lambda c, who=who, granted=granted: c.post(
            f"{API}/appeals/{appeal_id}/uphold", json={"minutes_granted": granted}, headers=who.headers
        )
        for who, granted in ((world.mgr_i1, 60), (world.mgr_c1, 90))
    ]
    responses = race(app, calls)
    assert _statuses(responses) == {200: 1, 409: 1}, [r.get_json() for r in responses]
    refused = next(r for r in responses if r.status_code == 409)
    assert refused.get_json()["error"] == "appeal.bad_state"
    granted = next(r for r in responses if r.status_code == 200).get_json()["minutes_granted"]
    with app.app_context():
        credits = db.session.scalars(select(Transfer).where(Transfer.kind == "appeal")).all()
        assert [t.minutes for t in credits] == [granted - 30]
        assert db.session.get(Appeal, appeal_id).transfer_id == credits[0].id
        events = db.session.scalar(
            select(func.count()).where(
                SupervisionEvent.subject == "appeal", SupervisionEvent.subject_id == appeal_id
            )
        )
        assert events == 2  # submit, one uphold
    assert loop.call("GET", "/me/timebook", world.vol_s1)["balance_minutes"] == granted
    result = app.test_cli_runner().invoke(args=["timebank", "verify"])
    assert result.exit_code == 0, result.output


def test_an_uphold_racing_a_reject_and_a_withdrawal_leaves_one_decision(app, world, loop):
    _, assignment_id = cut(app, world, loop, confirmed=30)
    appeal_id = appeal(loop, world.vol_s1, assignment_id, claimed=90)["id"]
    calls = [
        lambda c: c.post(
            f"{API}/appeals/{appeal_id}/uphold", json={"minutes_granted": 90}, headers=world.mgr_i1.headers
        ),
        lambda c: c.post(
            f"{API}/appeals/{appeal_id}/reject", json={"note": "维持"}, headers=world.mgr_c1.headers
        ),
        lambda c: c.post(f"{API}/appeals/{appeal_id}/withdraw", json={}, headers=world.vol_s1.headers),
    ]
    responses = race(app, calls)
    assert _statuses(responses) == {200: 1, 409: 2}, [r.get_json() for r in responses]
    with app.app_context():
        status = db.session.get(Appeal, appeal_id).status
        credited = db.session.scalars(select(Transfer.minutes).where(Transfer.kind == "appeal")).all()
    assert credited == ([60] if status == "upheld" else [])


def test_two_concurrent_submissions_make_one_appeal(app, world, loop):
    _, assignment_id = cut(app, world, loop)
    body = {"minutes_claimed": 60, "reason": "理由"}
    responses = race(
        app,
        [
            lambda c: c.post(
                f"{API}/assignments/{assignment_id}/appeal", json=body, headers=world.vol_s1.headers
            )
        ]
        * 2,
    )
    assert _statuses(responses) == {201: 1, 409: 1}, [r.get_json() for r in responses]
    assert next(r for r in responses if r.status_code == 409).get_json()["error"] == "appeal.already"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Appeal)) == 1
