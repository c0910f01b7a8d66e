"""志愿服务证明: what a certificate lists, that it never changes, who may read and print it, and the
public verification that shows nothing personal."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from tests.api.helpers import assert_error
from tests.support import credit, id_number
from volunteer_app.accounts.models import VolunteerProfile
from volunteer_app.extensions import db
from volunteer_app.timebank.certificates import CODE_ALPHABET, CODE_LENGTH
from volunteer_app.timebank.models import Certificate

API = "/api/v1"
# Dates are a few days from today: in the past in every time zone, whatever hour the suite runs.
TODAY = date.today()


def ago(days: int) -> date:
    return TODAY - timedelta(days=days)


def issue(client, person, date_from: date, date_to: date, key: str | None = None):
    headers = dict(person.headers) | ({"Idempotency-Key": key} if key else {})
    body = {"date_from": date_from.isoformat(), "date_to": date_to.isoformat()}
    return client.post(f"{API}/me/certificates", json=body, headers=headers)


def reverse(client, manager, transfer_id: int):
    body = {"reverse_transfer_id": transfer_id, "reason": "审核有误，冲正"}
    r = client.post(f"{API}/timebank/adjustments", json=body, headers=manager.headers)
    assert r.status_code == 201, r.json
    return r.json["id"]


@pytest.fixture
def certified(app, client, world):
    """vol_s1 with two credits in a range and a certificate of them; returns (certificate, credit ids)."""
    s1 = world.sites["S1"]
    ids = [
        credit(app, world.vol_s1, s1, 90, day=ago(20), memo="关爱老人：陪伴聊天"),
        credit(app, world.vol_s1, s1, 45, day=ago(10), memo="环境整治：楼道清理"),
    ]
    r = issue(client, world.vol_s1, ago(30), ago(5))
    assert r.status_code == 201, r.json
    return r.json, ids


# ---- what a certificate lists ---------------------------------------------------------------------


def test_certificate_lists_exactly_the_unreversed_credits_in_range(app, client, world):
    s1, s2 = world.sites["S1"], world.sites["S2"]
    credit(app, world.vol_s1, s1, 60, day=ago(40))  # before the range
    first = credit(app, world.vol_s1, s1, 90, day=ago(30), memo="关爱老人：陪伴聊天")
    undone = credit(app, world.vol_s1, s1, 120, day=ago(20), memo="文明交通：路口劝导")
    elsewhere = credit(app, world.vol_s1, s2, 30, day=ago(15), memo="便民维修：修理水龙头")
    last = credit(app, world.vol_s1, s1, 45, day=ago(10), memo="环境整治：楼道清理")
    credit(app, world.vol_s1, s1, 75, day=ago(3))  # after the range
    credit(app, world.vol_s4, world.sites["S4"], 50, day=ago(20))  # someone else's book
    reverse(client, world.mgr_s1, undone)
    r = client.post(
        f"{API}/timebank/adjustments",
        json={"user_id": world.vol_s1.id, "minutes": 30, "reason": "补录"},
        headers=world.mgr_s1.headers,
    )
    assert r.status_code == 201  # a correction is not a service record

    r = issue(client, world.vol_s1, ago(35), ago(5))
    assert r.status_code == 201, r.json
    c = r.json
    assert [rec["transfer_id"] for rec in c["records"]] == [first, elsewhere, last]
    assert [rec["date"] for rec in c["records"]] == [
        ago(30).isoformat(),
        ago(15).isoformat(),
        ago(10).isoformat(),
    ]
    assert c["records"][0] == {
        "transfer_id": first,
        "date": ago(30).isoformat(),
        "content": "关爱老人：陪伴聊天",
        "minutes": 90,
        "hours": 1.5,
    }
    assert (c["total_minutes"], c["total_hours"], c["record_count"]) == (165, 2.75, 3)
    assert (c["real_name"], c["handler"]) == ("志愿者一", "自助开具")
    masked = id_number(1)[:4] + "*" * 10 + id_number(1)[-4:]
    assert c["id_number_masked"] == masked
    assert c["issuing_site"]["id"] == s1  # the home station, though one record was audited at S2
    assert (c["date_from"], c["date_to"]) == (ago(35).isoformat(), ago(5).isoformat())
    # The issue date is the station's (Asia/Shanghai), which may be a day ahead of this machine's.
    assert c["issued_on"] in (TODAY.isoformat(), (TODAY + timedelta(days=1)).isoformat())
    with app.app_context():
        profile = db.session.get(VolunteerProfile, world.vol_s1.id)
        assert c["volunteer_no"] == profile.volunteer_no
    assert re.fullmatch(rf"ZYZM{TODAY.year}\d{{8}}|ZYZM{TODAY.year + 1}\d{{8}}", c["number"])
    assert re.fullmatch(rf"[{CODE_ALPHABET}]{{{CODE_LENGTH}}}", c["verification_code"])
    assert c["verify_url"].endswith(f"/api/v1/certificates/verify/{c['verification_code']}")


def test_range_edges_are_inclusive(app, client, world):
    s1 = world.sites["S1"]
    ids = [credit(app, world.vol_s1, s1, 60, day=ago(d)) for d in (21, 20, 10, 9)]
    r = issue(client, world.vol_s1, ago(20), ago(10))
    assert [rec["transfer_id"] for rec in r.json["records"]] == ids[1:3]


def test_stored_certificate_never_changes(app, client, world, certified):
    certificate, (first, _second) = certified
    credit(app, world.vol_s1, world.sites["S1"], 200, day=ago(15))  # a later credit in the range
    reverse(client, world.mgr_s1, first)  # and a reversal of a certified record

    again = client.get(f"{API}/certificates/{certificate['id']}", headers=world.vol_s1.headers)
    assert again.status_code == 200
    assert again.json == certificate
    # A new certificate of the same range sees today's book, not the stored one.
    fresh = issue(client, world.vol_s1, ago(30), ago(5)).json
    assert [rec["minutes"] for rec in fresh["records"]] == [200, 45]
    assert fresh["total_minutes"] == 245
    assert certificate["total_minutes"] == 135


def test_numbers_and_codes_are_unique(app, client, world):
    credit(app, world.vol_s1, world.sites["S1"], 60, day=ago(10))
    credit(app, world.vol_s4, world.sites["S4"], 60, day=ago(10))
    issued = [issue(client, person, ago(20), ago(5)).json for person in [world.vol_s1, world.vol_s4] * 3]
    assert len({c["number"] for c in issued}) == 6
    assert len({c["verification_code"] for c in issued}) == 6
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Certificate)) == 6


def test_no_records_in_range_is_refused(app, client, world):
    credit(app, world.vol_s1, world.sites["S1"], 60, day=ago(40))
    assert_error(issue(client, world.vol_s1, ago(30), ago(5)), 422, "certificate.empty")
    reversed_only = credit(app, world.vol_s1, world.sites["S1"], 60, day=ago(20))
    reverse(client, world.mgr_s1, reversed_only)
    assert_error(issue(client, world.vol_s1, ago(30), ago(5)), 422, "certificate.empty")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Certificate)) == 0


# ---- input ----------------------------------------------------------------------------------------


def five_years_before(day: date) -> date:
    try:
        return day.replace(year=day.year - 5)
    except ValueError:
        return day.replace(year=day.year - 5, day=28)


@pytest.mark.parametrize(
    ("date_from", "date_to", "error", "field"),
    [
        (ago(5), ago(10), "certificate.range_order", "date_from"),
        (ago(5), TODAY + timedelta(days=2), "certificate.range_future", "date_to"),
        (five_years_before(ago(5)), ago(5), "certificate.range_too_long", "date_to"),
        (date(1, 1, 1), ago(5), "certificate.range_too_long", "date_to"),
        (date(9999, 12, 31), date(9999, 12, 31), "certificate.range_future", "date_to"),
    ],
)
def test_bad_ranges_are_refused(app, client, world, date_from, date_to, error, field):
    credit(app, world.vol_s1, world.sites["S1"], 60, day=ago(6))
    body = assert_error(issue(client, world.vol_s1, date_from, date_to), 422, error)
    assert field in body["errors"]["json"]


def test_five_years_less_a_day_is_allowed(app, client, world):
    date_from = five_years_before(ago(5)) + timedelta(days=1)
    credit(app, world.vol_s1, world.sites["S1"], 60, day=date_from)
    r = issue(client, world.vol_s1, date_from, ago(5))
    assert r.status_code == 201, r.json
    assert r.json["record_count"] == 1


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"date_from": "2026-01-01"},
        {"date_from": "2026-13-01", "date_to": "2026-12-01"},
        {"date_from": 20260101, "date_to": "2026-02-01"},
        {"date_from": "2026-01-01", "date_to": "x" * 10_000},
    ],
)
def test_malformed_bodies_are_refused(client, world, body):
    r = client.post(f"{API}/me/certificates", json=body, headers=world.vol_s1.headers)
    assert_error(r, 422, "validation.failed")


def test_a_resident_has_nothing_to_certify(client, world):
    assert_error(issue(client, world.resident, ago(30), ago(5)), 404, "timebook.not_volunteer")


def test_idempotency_key_replays_the_first_certificate(app, client, world):
    credit(app, world.vol_s1, world.sites["S1"], 60, day=ago(10))
    first = issue(client, world.vol_s1, ago(20), ago(5), key="cert-1")
    again = issue(client, world.vol_s1, ago(20), ago(5), key="cert-1")
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json == first.json
    other = issue(client, world.vol_s1, ago(25), ago(5), key="cert-1")
    assert_error(other, 422, "idempotency.key_reused")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Certificate)) == 1


# ---- listing and reading --------------------------------------------------------------------------


def test_my_certificates_newest_first_paged(app, client, world):
    credit(app, world.vol_s1, world.sites["S1"], 60, day=ago(10))
    credit(app, world.vol_s4, world.sites["S4"], 60, day=ago(10))
    mine = [issue(client, world.vol_s1, ago(20 + n), ago(5)).json["id"] for n in range(3)]
    issue(client, world.vol_s4, ago(20), ago(5))
    page = client.get(f"{API}/me/certificates?limit=2", headers=world.vol_s1.headers).json
    assert [c["id"] for c in page["items"]] == mine[::-1][:2]
    assert "records" not in page["items"][0] and "real_name" not in page["items"][0]
    rest = client.get(
        f"{API}/me/certificates?limit=2&cursor={page['next_cursor']}", headers=world.vol_s1.headers
    ).json
    assert [c["id"] for c in rest["items"]] == [mine[0]]
    assert rest["next_cursor"] is None


@pytest.mark.parametrize(
    ("caller", "status"),
    [
        ("vol_s1", 200),  # the owner
        ("mgr_s1", 200),  # the issuing station's manager
        ("mgr_i1", 200),  # above it
        ("admin", 200),
        ("mgr_s2", 404),  # a sibling station
        ("mgr_s4", 404),  # the other center
        ("vol_s4", 404),  # another volunteer
        ("resident", 404),
    ],
)
def test_who_may_read_and_print_a_certificate(client, world, certified, caller, status):
    certificate, _ = certified
    headers = world.people[caller].headers
    for path in (f"{API}/certificates/{certificate['id']}", f"{API}/certificates/{certificate['id']}/print"):
        r = client.get(path, headers=headers)
        assert r.status_code == status, (path, r.status_code)
        if status == 404:
            assert r.json == {
                "code": 404,
                "status": "Not Found",
                "error": "not_found",
                "message": "未找到该资源",
            }
            assert "志愿者一" not in r.get_data(as_text=True)


def test_reading_needs_a_token(client, world, certified):
    certificate, _ = certified
    for path in (f"{API}/certificates/{certificate['id']}", f"{API}/certificates/{certificate['id']}/print"):
        assert_error(client.get(path), 401, "token.missing")


def test_unknown_certificate_is_not_found(client, world):
    assert_error(client.get(f"{API}/certificates/999999", headers=world.admin.headers), 404, "not_found")


# ---- manager issuance -----------------------------------------------------------------------------


def test_a_manager_in_reach_issues_with_their_name_as_handler(app, client, world):
    credit(app, world.vol_s1, world.sites["S1"], 60, day=ago(10))
    body = {"date_from": ago(20).isoformat(), "date_to": ago(5).isoformat()}
    url = f"{API}/volunteers/{world.vol_s1.id}/certificates"
    r = client.post(url, json=body, headers=world.mgr_i1.headers)
    assert r.status_code == 201, r.json
    assert r.json["handler"] == "站长I1"
    assert r.json["issuing_site"]["id"] == world.sites["S1"]
    mine = client.get(f"{API}/me/certificates", headers=world.vol_s1.headers).json["items"]
    assert [c["id"] for c in mine] == [r.json["id"]]
    assert_error(client.post(url, json=body, headers=world.mgr_s4.headers), 404, "timebook.not_volunteer")
    assert_error(client.post(url, json=body, headers=world.mgr_s2.headers), 404, "timebook.not_volunteer")
    assert_error(client.post(url, json=body, headers=world.vol_s1.headers), 403, "auth.forbidden")


# ---- printing -------------------------------------------------------------------------------------


def test_print_page_lists_the_records_and_escapes_what_people_wrote(app, client, world):
    s1 = world.sites["S1"]
    credit(app, world.vol_s1, s1, 90, day=ago(20), memo="关爱老人：陪伴聊天")
    credit(app, world.vol_s1, s1, 45, day=ago(10), memo='<script>alert("x")</script><b>粗</b> & 更多')
    certificate = issue(client, world.vol_s1, ago(30), ago(5)).json
    r = client.get(f"{API}/certificates/{certificate['id']}/print", headers=world.vol_s1.headers)
    assert r.status_code == 200
    assert r.mimetype == "text/html"
    assert "script-src" not in r.headers["Content-Security-Policy"]  # default-src 'none' forbids scripts
    assert r.headers["Cache-Control"] == "private, no-store"
    page = r.get_data(as_text=True)
    for text in (
        "志愿服务证明",
        "关爱老人：陪伴聊天",
        ago(20).isoformat(),
        ago(10).isoformat(),
        ">1.50<",
        ">0.75<",
        ">2.25<",  # 135 minutes in total
        "志愿者一",
        certificate["id_number_masked"],
        certificate["number"],
        certificate["verification_code"],
        certificate["verify_url"],
        "站点S1",
        "自助开具",
    ):
        assert text in page, text
    assert "<script>" not in page and "<b>粗</b>" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;b&gt;粗&lt;/b&gt; &amp; 更多" in page
    assert id_number(1) not in page


# ---- the printed link comes from configuration, never from the request --------------------------

HOSTILE = {"Host": "evil.example", "X-Forwarded-Host": "evil2.example", "X-Forwarded-Proto": "gopher"}


def test_verify_link_follows_the_configured_base_url_not_the_host_header(
    app, client, world, certified, monkeypatch
):
    """Issue 11, defect 5: `Host: evil.example` printed http://evil.example/... on the certificate."""
    certificate, _ = certified
    code = certificate["verification_code"]
    path = f"/api/v1/certificates/verify/{code}"
    assert certificate["verify_url"] == f"http://127.0.0.1:5000{path}"  # the development default
    monkeypatch.setitem(app.config["APP"], "public_base_url", "https://zyz.example.cn/api-gw")
    headers = {**world.vol_s1.headers, **HOSTILE}
    detail = client.get(f"{API}/certificates/{certificate['id']}", headers=headers)
    assert detail.status_code == 200, detail.json
    assert detail.json["verify_url"] == f"https://zyz.example.cn/api-gw{path}"
    page = client.get(f"{API}/certificates/{certificate['id']}/print", headers=headers)
    text = page.get_data(as_text=True)
    assert f"https://zyz.example.cn/api-gw{path}" in text and "evil" not in text
    body = {"date_from": ago(30).isoformat(), "date_to": ago(5).isoformat()}
    again = client.post(f"{API}/me/certificates", json=body, headers=headers)
    assert again.status_code == 201, again.json
    assert again.json["verify_url"].startswith("https://zyz.example.cn/api-gw/api/v1/certificates/verify/")
    for response in (detail, page, again):
        assert "evil" not in response.get_data(as_text=True)


# ---- public verification --------------------------------------------------------------------------


def test_verification_confirms_without_login_and_shows_nothing_personal(app, client, world, certified):
    certificate, _ = certified
    r = client.get(f"{API}/certificates/verify/{certificate['verification_code']}")
    assert r.status_code == 200
    assert r.json == {
        "valid": True,
        "revoked_at": None,
        "number": certificate["number"],
        "issued_at": certificate["issued_at"],
        "issuing_site_name": "站点S1",
        "date_from": ago(30).isoformat(),
        "date_to": ago(5).isoformat(),
        "record_count": 2,
        "total_minutes": 135,
        "total_hours": 2.25,
    }
    body = r.get_data(as_text=True)
    full_id = id_number(1)
    personal = [
        "志愿者一",  # real name and display name
        full_id,
        certificate["id_number_masked"],
        full_id[6:14],  # date of birth
        world.vol_s1.phone,
        world.vol_s1.phone.removeprefix("+86"),
        certificate["volunteer_no"],
        "关爱老人",  # what was done, where: the records themselves
    ]
    leaked = [text for text in personal if text in body]
    assert not leaked, leaked


def test_verification_accepts_lower_case_and_refuses_unknown_codes(client, world, certified):
    certificate, _ = certified
    code = certificate["verification_code"]
    assert client.get(f"{API}/certificates/verify/{code.lower()}").status_code == 200
    wrong = ("2" if code[0] != "2" else "3") + code[1:]
    for bad in (wrong, code[:-1], code + "2", "0" * CODE_LENGTH, "x" * 300, "%00"):
        assert_error(client.get(f"{API}/certificates/verify/{bad}"), 404, "not_found")


def test_verification_is_rate_limited_by_address(app, client, world, certified, monkeypatch):
    monkeypatch.setitem(app.config["APP"], "certificate_verify_limit", "3/minute")
    code = certified[0]["verification_code"]

    def verify(address: str, code: str = code):
        return client.get(f"{API}/certificates/verify/{code}", environ_base={"REMOTE_ADDR": address})

    assert [verify("10.0.0.1", "2" * CODE_LENGTH).status_code for _ in range(3)] == [404] * 3
    limited = assert_error(verify("10.0.0.1"), 429, "rate_limited")
    assert set(limited) == {"code", "status", "error", "message"}
    assert verify("10.0.0.2").status_code == 200
