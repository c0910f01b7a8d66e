"""POST /me/close: confirmed, refused while something open depends on the account, then irreversible:
every token stops at once, no way back in, the phone number free again, the ledger and certificates
intact under the pseudonym."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.api.endpoints import (
    _certificate,
    _order,
    _redemption_code,
    _wechat_bound,
)
from tests.support import PASSWORD, caller, id_number, next_phone
from volunteer_app import phones
from volunteer_app.accounts import service as accounts
from volunteer_app.accounts.models import TeamMember, User, VolunteerApplication
from volunteer_app.auth import service as auth_service
from volunteer_app.auth import sms
from volunteer_app.auth.models import AuthSession, WechatBinding
from volunteer_app.extensions import db
from volunteer_app.notifications import devices
from volunteer_app.notifications.models import Device, Notification
from volunteer_app.orders.models import Order
from volunteer_app.timebank.models import TimeAccount
from volunteer_app.timebank.verify import verify

API = "/api/v1"


def close(client, person, **body):
    return client.post(f"{API}/me/close", json=body, headers=person.headers)


def row(app, user_id) -> User:
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.expunge(user)
        return user


def test_closing_erases_the_person_and_ends_every_token_at_once(app, client, world):
    res = world.resident
    with app.app_context():
        devices.register_device(
            who=caller(res.id), platform="android", token="push-token-x", app_version=None
        )
    r = close(client, res, password=PASSWORD)
    assert r.status_code == 200, r.json
    assert r.json["closed"] is True and r.json["pseudonym"].startswith("已注销用户-")
    # The access token and the refresh token of the live session fail at their very next use.
    assert client.get(f"{API}/me", headers=res.headers).status_code == 401
    refresh = client.post(f"{API}/auth/refresh", headers={"Authorization": f"Bearer {res.refresh}"})
    assert refresh.status_code == 401
    # No way back in: password, SMS code.
    login = client.post(f"{API}/auth/login", json={"phone": res.phone, "password": PASSWORD})
    assert login.status_code == 401 and login.json["error"] == "auth.bad_credentials"
    with app.test_request_context():
        sent_before = len(sms.sender().sent)
    assert client.post(f"{API}/auth/sms-code", json={"phone": res.phone}).status_code == 200
    with app.test_request_context():
        assert len(sms.sender().sent) == sent_before  # no code goes to a closed account's number
    user = row(app, res.id)
    assert user.name == r.json["pseudonym"] and user.name != "居民"
    assert user.phone != res.phone and phones.normalize_phone(user.phone) is None
    assert (user.password_hash, user.real_name, user.id_number_enc, user.is_active) == (
        None,
        None,
        None,
        False,
    )
    assert user.closed_at is not None
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(Device.user_id == res.id)) == 0
        assert db.session.scalar(select(func.count()).where(Notification.user_id == res.id)) == 0
        reasons = set(
            db.session.scalars(select(AuthSession.revoked_reason).where(AuthSession.user_id == res.id))
        )
        assert reasons == {"closed"}
    # The phone number registers anew: a new account, with nothing of the old one.
    body = {
        "phone": res.phone,
        "password": "another-horse-9",
        "name": "新人",
        "home_site_id": world.sites["S1"],
    }
    again = client.post(f"{API}/auth/register", json=body)
    assert again.status_code == 201, again.json
    assert again.json["user"]["id"] != res.id


def test_a_volunteers_ledger_and_certificate_stand_after_closing(app, client, world):
    vol = world.vol_s1
    certificate = _certificate(app, world, "S1")
    _order(app, world, "S1", "completed")
    _wechat_bound(app, world, "S1")
    with app.app_context():
        book = db.session.scalars(select(TimeAccount).where(TimeAccount.user_id == vol.id)).one()
        balance, book_no = book.balance, book.book_no
    # A checked-out assignment waits for the station's audit, not for the volunteer: no hold.
    r = close(client, vol, password=PASSWORD)
    assert r.status_code == 200, r.json
    with app.app_context():
        report = verify()
        assert report.ok, report.problems
        book = db.session.scalars(select(TimeAccount).where(TimeAccount.user_id == vol.id)).one()
        assert (book.balance, book.book_no) == (balance, book_no)
        assert db.session.get(WechatBinding, vol.id) is None
        assert db.session.scalar(select(func.count()).where(TeamMember.user_id == vol.id)) == 0
        application = db.session.scalars(
            select(VolunteerApplication).where(VolunteerApplication.user_id == vol.id)
        ).one()
        assert application.real_name == r.json["pseudonym"] and application.id_number_enc == b""
    public = client.get(f"{API}/certificates/verify/{certificate['verification_code']}")
    assert public.status_code == 200
    assert public.json["valid"] is True and public.json["total_minutes"] == certificate["total_minutes"]
    # The same ID number may volunteer again under a new account (its keyed hash was erased).
    with app.test_request_context():
        user = accounts.create_user(
            phone=phones.normalize_phone(next_phone()), name="新", home_site_id=None, password_hash=None
        )
        db.session.commit()
        accounts.apply_as_volunteer(
            who=caller(user.id),
            real_name="志愿者一",
            id_number=id_number(1),
            site_id=world.sites["S1"],
            skills=[],
            category_ids=[],
        )


def test_a_residents_finished_orders_lose_the_address(app, client, world):
    order_id, _ = _order(app, world, "S1", "submitted")
    assert (
        client.post(
            f"{API}/orders/{order_id}/cancel", json={"reason": "不需要了"}, headers=world.resident.headers
        ).status_code
        == 200
    )
    assert close(client, world.resident, password=PASSWORD).status_code == 200
    with app.app_context():
        order = db.session.get(Order, order_id)
        assert order.address.startswith("已注销用户-") and order.description is None
        assert order.lat == round(order.lat, 2) and order.status == "cancelled"


@pytest.mark.parametrize(
    ("stage", "who", "open_kind"),
    [
        ("submitted", "resident", "orders"),  # a station is about to dispatch it
        ("held", "resident", "orders"),
        ("held", "vol_s1", "assignments"),  # a resident counts on the volunteer
        ("offered", "vol_s1", "assignments"),
        ("checked_in", "vol_s1", "assignments"),
    ],
)
def test_refused_while_something_open_depends_on_the_account(app, client, world, stage, who, open_kind):
    _order(app, world, "S1", stage)
    person = world.people[who]
    r = close(client, person, password=PASSWORD)
    assert r.status_code == 409 and r.json["error"] == "account.open_items"
    assert open_kind in r.json["errors"]["json"]["open"]
    assert client.get(f"{API}/me", headers=person.headers).status_code == 200  # nothing changed
    assert row(app, person.id).closed_at is None


def test_refused_while_a_redemption_code_waits(app, client, world):
    _redemption_code(app, world, "S1")
    r = close(client, world.vol_s1, password=PASSWORD)
    assert r.status_code == 409 and r.json["errors"]["json"]["open"] == {"redemptions": 1}


@pytest.mark.parametrize("who", ["mgr_s1", "admin"])
def test_managers_and_admins_are_refused_until_the_grant_is_removed(app, client, world, who):
    r = close(client, world.people[who], password=PASSWORD)
    assert r.status_code == 409 and r.json["error"] == "account.holds_management"
    if who == "mgr_s1":
        removed = client.delete(
            f"{API}/sites/{world.sites['S1']}/managers/{world.mgr_s1.id}", headers=world.admin.headers
        )
        assert removed.status_code == 204
        assert close(client, world.mgr_s1, password=PASSWORD).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"password": "wrong-horse-1"},
        {"password": ""},
        {"password": "x" * 129},
        {"code": "123456"},
        {"password": None},
        {"password": 123},
        {"extra": 1},
    ],
)
def test_a_wrong_or_missing_confirmation_changes_nothing(app, client, world, body):
    r = close(client, world.resident, **body)
    assert r.status_code == 422, r.json
    assert client.get(f"{API}/me", headers=world.resident.headers).status_code == 200
    assert row(app, world.resident.id).name == "居民"


def test_an_account_without_a_password_confirms_with_an_sms_code(app, client, world):
    phone = phones.normalize_phone(next_phone())
    with app.test_request_context():
        user = accounts.create_user(
            phone=phone, name="电话登记居民", home_site_id=world.sites["S1"], password_hash=None
        )
        issued = auth_service.start_session(user)
        db.session.commit()
    headers = {"Authorization": f"Bearer {issued['access_token']}"}
    r = client.post(f"{API}/me/close", json={"password": "anything-9"}, headers=headers)
    assert r.status_code == 422 and "code" in r.json["errors"]["json"]
    assert client.post(f"{API}/auth/sms-code", json={"phone": phone}).status_code == 200
    with app.test_request_context():
        sent_phone, code = sms.sender().sent[-1]
    assert sent_phone == phone
    wrong = "000000" if code != "000000" else "111111"
    r = client.post(f"{API}/me/close", json={"code": wrong}, headers=headers)
    assert r.status_code == 422 and r.json["error"] == "sms.code_invalid"
    r = client.post(f"{API}/me/close", json={"code": code}, headers=headers)
    assert r.status_code == 200, r.json
    assert client.get(f"{API}/me", headers=headers).status_code == 401


def test_closing_twice_is_refused_as_the_token_is_dead(app, client, world):
    assert close(client, world.resident, password=PASSWORD).status_code == 200
    first = row(app, world.resident.id)
    assert close(client, world.resident, password=PASSWORD).status_code == 401
    assert row(app, world.resident.id).closed_at == first.closed_at


def test_guessing_the_password_through_a_token_is_rate_limited(app, client, world):
    for _ in range(5):
        assert close(client, world.resident, password="wrong-horse-1").status_code == 422
    r = close(client, world.resident, password=PASSWORD)
    assert r.status_code == 429 and r.json["error"] == "rate_limited"
    assert row(app, world.resident.id).closed_at is None
    # Per account: another person is not held up.
    assert close(client, world.vol_s1, password=PASSWORD).status_code == 200
