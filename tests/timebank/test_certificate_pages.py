"""志愿服务证明 on a phone: the share link's public page (only non-personal fields), the printed page
with the share link's QR code and a seal area, the signed short-lived print link, and revocation shown
on every page."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import segno
import time_machine

from tests.api.helpers import assert_error
from tests.support import credit, id_number
from volunteer_app.extensions import db
from volunteer_app.timebank.models import Certificate

API = "/api/v1"
TODAY = date.today()
HOSTILE = {"Host": "evil.example", "X-Forwarded-Host": "evil2.example", "X-Forwarded-Proto": "gopher"}


def ago(days: int) -> date:
    return TODAY - timedelta(days=days)


def issue(client, person):
    body = {"date_from": ago(30).isoformat(), "date_to": ago(5).isoformat()}
    r = client.post(f"{API}/me/certificates", json=body, headers=person.headers)
    assert r.status_code == 201, r.json
    return r.json


@pytest.fixture
def certificate(app, client, world):
    s1 = world.sites["S1"]
    credit(app, world.vol_s1, s1, 90, day=ago(20), memo="关爱老人：陪伴聊天")
    credit(app, world.vol_s1, s1, 45, day=ago(10), memo="环境整治：楼道清理")
    return issue(client, world.vol_s1)


def path_of(url: str) -> str:
    parts = urlsplit(url)
    assert parts.scheme == "http" and parts.netloc == "127.0.0.1:5000", url  # the development default
    return parts.path


def print_link(client, person, certificate_id: int):
    return client.post(f"{API}/certificates/{certificate_id}/print-link", headers=person.headers)


def travel(minutes: float):
    return time_machine.travel(datetime.now(UTC) + timedelta(minutes=minutes), tick=False)


def assert_page(r, status: int = 200) -> str:
    """An HTML page under the strict policy: no script, no inline style, never cached, no referrer."""
    assert r.status_code == status, r.get_data(as_text=True)[:300]
    assert r.mimetype == "text/html"
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "style-src 'self'" in csp
    assert "unsafe" not in csp and "script-src" not in csp
    assert r.headers["Cache-Control"] == "private, no-store"
    assert r.headers["Referrer-Policy"] == "no-referrer"
    html = r.get_data(as_text=True)
    assert not re.search(r"<script|<style|\sstyle=|\son\w+=|javascript:", html, re.I)
    assert '<html lang="zh-CN">' in html
    return html


# ---- the share link -------------------------------------------------------------------------------


def test_every_response_describing_a_certificate_carries_its_share_link(client, world, certificate):
    url = certificate["share_url"]
    token = path_of(url).removeprefix("/c/")
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", token)  # 128 random bits
    detail = client.get(f"{API}/certificates/{certificate['id']}", headers=world.vol_s1.headers)
    mine = client.get(f"{API}/me/certificates", headers=world.vol_s1.headers)
    managers = client.get(f"{API}/certificates/{certificate['id']}", headers=world.mgr_s1.headers)
    assert detail.json["share_url"] == mine.json["items"][0]["share_url"] == managers.json["share_url"] == url
    assert detail.json["revoked_at"] is None and mine.json["items"][0]["revoked_at"] is None


def test_share_tokens_differ_between_certificates(app, client, world, certificate):
    other = issue(client, world.vol_s1)
    assert other["share_url"] != certificate["share_url"]
    with app.app_context():
        tokens = db.session.scalars(db.select(Certificate.share_token)).all()
    assert len(set(tokens)) == len(tokens) == 2


def test_the_public_page_shows_only_non_personal_fields(app, client, world, certificate):
    r = client.get(path_of(certificate["share_url"]))
    html = assert_page(r)
    issued = date.fromisoformat(certificate["issued_on"])
    for text in (
        "志愿服务证明查验",
        "此证明真实有效",
        certificate["number"],
        "志***",  # 志愿者一, masked as on leaderboards
        f"{ago(30).isoformat()} 至 {ago(5).isoformat()}",
        "2.25 小时（135 分钟）",
        "2 次",
        "站点S1",
        f"{issued.year}年{issued.month}月{issued.day}日",
        certificate["share_url"],
    ):
        assert text in html, text
    full_id = id_number(1)
    personal = [
        "志愿者一",
        full_id,
        certificate["id_number_masked"],
        full_id[6:14],
        world.vol_s1.phone,
        world.vol_s1.phone.removeprefix("+86"),
        certificate["volunteer_no"],
        "关爱老人",  # the records
        "自助开具",
    ]
    assert [text for text in personal if text in html] == []


def test_the_public_page_works_on_a_phone_and_uses_the_apps_stylesheet(client, certificate):
    html = assert_page(client.get(path_of(certificate["share_url"])))
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    stylesheet = re.search(r'<link rel="stylesheet" href="([^"]+)">', html).group(1)
    assert stylesheet == "/c/static/certificate.css"
    css = client.get(stylesheet)
    assert css.status_code == 200 and css.mimetype == "text/css"
    assert ".seal" in css.get_data(as_text=True)


def test_the_share_link_follows_the_configured_base_url_not_the_host(
    app, client, world, certificate, monkeypatch
):
    monkeypatch.setitem(app.config["APP"], "public_base_url", "https://zyz.example.cn/gw")
    headers = {**world.vol_s1.headers, **HOSTILE}
    detail = client.get(f"{API}/certificates/{certificate['id']}", headers=headers)
    token = path_of(certificate["share_url"]).removeprefix("/c/")
    assert detail.json["share_url"] == f"https://zyz.example.cn/gw/c/{token}"
    page = client.get(f"/c/{token}", headers=HOSTILE).get_data(as_text=True)
    printed = client.get(f"{API}/certificates/{certificate['id']}/print", headers=headers).get_data(
        as_text=True
    )
    link = print_link(client, world.vol_s1, certificate["id"]).json
    assert link["url"].startswith("https://zyz.example.cn/gw/c/print/")
    for text in (page, printed):
        assert f"https://zyz.example.cn/gw/c/{token}" in text and "evil" not in text


@pytest.mark.parametrize(
    "token",
    ["A" * 22, "A" * 21, "A" * 23, "x" * 300, "%00" * 8, "..%2F..%2Fetc", "' OR 1=1 --", "正" * 22],
)
def test_an_unknown_token_is_a_404_page(client, certificate, token):
    html = assert_page(client.get(f"/c/{token}"), 404)
    assert "未找到该证明" in html
    assert certificate["number"] not in html


def test_a_token_one_character_off_is_unknown(client, certificate):
    token = path_of(certificate["share_url"]).removeprefix("/c/")
    wrong = ("B" if token[0] != "B" else "C") + token[1:]
    assert_page(client.get(f"/c/{wrong}"), 404)
    assert_page(client.get(f"/c/{token.lower() if token.lower() != token else token.upper()}"), 404)


def test_the_page_and_the_json_verification_share_one_rate_limit_per_address(
    app, client, certificate, monkeypatch
):
    monkeypatch.setitem(app.config["APP"], "certificate_verify_limit", "3/minute")
    path = path_of(certificate["share_url"])
    here = {"REMOTE_ADDR": "10.0.0.7"}
    assert client.get("/c/" + "A" * 22, environ_base=here).status_code == 404
    assert client.get(path, environ_base=here).status_code == 200
    verify = f"{API}/certificates/verify/{certificate['verification_code']}"
    assert client.get(verify, environ_base=here).status_code == 200
    limited = client.get(path, environ_base=here)
    html = assert_page(limited, 429)
    assert "查询过于频繁" in html and int(limited.headers["Retry-After"]) > 0
    assert certificate["number"] not in html
    assert_error(client.get(verify, environ_base=here), 429, "rate_limited")
    assert client.get(path, environ_base={"REMOTE_ADDR": "10.0.0.8"}).status_code == 200


# ---- the printed page -----------------------------------------------------------------------------


def test_the_printed_page_has_the_share_links_qr_code_and_a_seal_area(client, world, certificate):
    r = client.get(f"{API}/certificates/{certificate['id']}/print", headers=world.vol_s1.headers)
    html = assert_page(r)
    expected = segno.make(certificate["share_url"], error="m").svg_inline(
        scale=4, svgclass="qr", lineclass="qr-line"
    )
    assert expected in html  # the QR code is of exactly the share link (segno cannot decode it)
    assert html.count("<svg") == 1
    assert certificate["share_url"] in html  # and the link is printed beside it
    seal = re.search(r'<div class="seal"[^>]*>(.*?)</div>', html, re.S).group(1)
    assert "盖章处" in seal and "站点S1" in seal
    assert "志愿者一" in html and certificate["verification_code"] in html


# ---- the signed print link ------------------------------------------------------------------------


def test_the_print_link_opens_the_printed_page_without_a_login_until_it_expires(client, world, certificate):
    with travel(0):
        r = print_link(client, world.vol_s1, certificate["id"])
        assert r.status_code == 200, r.json
        link = r.json
        expires = datetime.fromisoformat(link["expires_at"])
        assert timedelta(minutes=9, seconds=58) <= expires - datetime.now(UTC) <= timedelta(minutes=10)
        path = path_of(link["url"])
        assert path.startswith("/c/print/")
        html = assert_page(client.get(path))  # no Authorization header
        assert "志愿者一" in html and certificate["number"] in html and "盖章处" in html
    with travel(9.9):
        assert_page(client.get(path))
    with travel(10.1):
        html = assert_page(client.get(path), 410)
        assert "打印链接已过期" in html and "志愿者一" not in html and certificate["number"] not in html


def test_the_print_links_lifetime_is_configuration(app, client, world, certificate, monkeypatch):
    monkeypatch.setitem(app.config["APP"], "certificate_print_link_minutes", 1)
    with travel(0):
        path = path_of(print_link(client, world.vol_s1, certificate["id"]).json["url"])
    with travel(0.9):
        assert client.get(path).status_code == 200
    with travel(1.1):
        assert client.get(path).status_code == 410


def test_a_tampered_print_link_is_a_404_page(app, client, world, certificate):
    other = issue(client, world.vol_s1)
    path = path_of(print_link(client, world.vol_s1, certificate["id"]).json["url"])
    signed = path.removeprefix("/c/print/")
    payload, stamp, signature = signed.split(".")
    other_signed = path_of(print_link(client, world.vol_s1, other["id"]).json["url"]).removeprefix(
        "/c/print/"
    )
    # The first character: the last one of base64 carries padding bits, so changing it may not change
    # the decoded signature at all (the test then failed now and then, on a valid link).
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    for bad in (
        f"{payload}.{stamp}.{flipped}",
        f"{other_signed.split('.')[0]}.{stamp}.{signature}",  # another certificate's id, this signature
        f"{payload}.{stamp}",
        "x",
        "a.b.c",
        signed + "x" * 300,
        "正.正.正",
    ):
        html = assert_page(client.get(f"/c/print/{bad}"), 404)
        assert "志愿者一" not in html
    # Signed with another secret: not ours.
    app.config["SECRET_KEY"], kept = "another-secret-" + "x" * 40, app.config["SECRET_KEY"]
    try:
        foreign = path_of(print_link(client, world.vol_s1, certificate["id"]).json["url"])
    finally:
        app.config["SECRET_KEY"] = kept
    assert_page(client.get(foreign), 404)
    assert_page(client.get(path))  # the real one still works


def test_a_print_link_is_only_for_who_may_read_the_certificate(client, world, certificate):
    r = print_link(client, world.mgr_s1, certificate["id"])  # a manager in reach
    assert r.status_code == 200
    assert client.get(path_of(r.json["url"])).status_code == 200
    for person in (world.vol_s4, world.mgr_s4, world.resident):
        assert_error(print_link(client, person, certificate["id"]), 404, "not_found")
    assert_error(print_link(client, world.vol_s1, 987654), 404, "not_found")
    assert_error(client.post(f"{API}/certificates/{certificate['id']}/print-link"), 401)


# ---- revocation -----------------------------------------------------------------------------------


def revoke(client, person, certificate_id: int, reason: str = "日期范围填写有误"):
    return client.post(
        f"{API}/certificates/{certificate_id}/revoke", json={"reason": reason}, headers=person.headers
    )


def test_revocation_shows_on_both_pages_and_in_the_verification(client, world, certificate):
    share = path_of(certificate["share_url"])
    printed = path_of(print_link(client, world.vol_s1, certificate["id"]).json["url"])
    r = revoke(client, world.mgr_s1, certificate["id"])
    assert r.status_code == 200, r.json
    assert r.json["revoked_at"] and r.json["revoked_by"] == "站长S1"
    assert r.json["revoked_reason"] == "日期范围填写有误"
    revoked_on = date.fromisoformat(r.json["revoked_at"][:10])  # UTC day; S1 is UTC+8
    html = assert_page(client.get(share))
    assert "此证明真实有效" not in html and "作废" in html
    days = (revoked_on, revoked_on + timedelta(days=1))
    assert any(f"已于 {d.year}年{d.month}月{d.day}日作废" in html for d in days)
    assert "日期范围填写有误" not in html  # the reason is not public
    assert certificate["number"] in html
    html = assert_page(client.get(printed))  # a link handed out before the revocation
    assert "本证明已于" in html and "作废" in html and "日期范围填写有误" in html
    html = assert_page(
        client.get(f"{API}/certificates/{certificate['id']}/print", headers=world.vol_s1.headers)
    )
    assert "作废" in html
    verified = client.get(f"{API}/certificates/verify/{certificate['verification_code']}").json
    assert verified["valid"] is False and verified["revoked_at"] == r.json["revoked_at"]
    mine = client.get(f"{API}/me/certificates", headers=world.vol_s1.headers).json["items"][0]
    assert mine["revoked_at"] == r.json["revoked_at"]


def test_revoking_twice_is_a_conflict_and_changes_nothing(client, world, certificate):
    first = revoke(client, world.mgr_s1, certificate["id"])
    again = revoke(client, world.admin, certificate["id"], "另一个理由")
    assert_error(again, 409, "certificate.already_revoked")
    detail = client.get(f"{API}/certificates/{certificate['id']}", headers=world.vol_s1.headers).json
    assert detail["revoked_at"] == first.json["revoked_at"] and detail["revoked_reason"] == "日期范围填写有误"


def test_who_may_revoke(client, world, certificate):
    assert_error(revoke(client, world.vol_s1, certificate["id"]), 403, "auth.forbidden")  # not even its owner
    assert_error(revoke(client, world.mgr_s4, certificate["id"]), 404, "not_found")
    assert_error(revoke(client, world.mgr_s1, 987654), 404, "not_found")
    r = client.post(
        f"{API}/certificates/{certificate['id']}/revoke", json={"reason": "   "}, headers=world.mgr_s1.headers
    )
    assert_error(r, 422, "validation.failed")
    assert r.json["errors"]["json"]["reason"] == ["不能为空"]
    r = client.post(f"{API}/certificates/{certificate['id']}/revoke", json={}, headers=world.mgr_s1.headers)
    assert r.json["errors"]["json"]["reason"] == ["缺少必填字段。"]
    detail = client.get(f"{API}/certificates/{certificate['id']}", headers=world.vol_s1.headers).json
    assert detail["revoked_at"] is None
