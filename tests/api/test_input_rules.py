"""Regressions of issue 11 on input: deep JSON (defect 2), bodies that are not JSON and commands that
change nothing (3), blank text (6), loose types (7) and the one phone rule (8)."""

from __future__ import annotations

import json
import logging

import pytest

from tests.api.endpoints import _on_assignment, _order, _order_body, _reward
from tests.api.helpers import assert_error
from tests.support import next_phone
from volunteer_app.accounts.models import User
from volunteer_app.attendance.models import Assignment
from volunteer_app.extensions import db

DEEP = "[" * 10_000 + "]" * 10_000


# ---- defect 2: deep nesting ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [("POST", "/api/v1/orders"), ("PATCH", "/api/v1/me"), ("POST", "/api/v1/auth/login")],
)
def test_deeply_nested_json_is_400_with_one_log_line(client, world, caplog, method, url):
    with caplog.at_level(logging.WARNING):
        response = client.open(
            url, method=method, data=DEEP, content_type="application/json", headers=world.resident.headers
        )
    body = assert_error(response, 400, "request.malformed")
    assert body["errors"] == {"json": ["嵌套层级过深"]}
    lines = [r for r in caplog.records if r.name == "volunteer_app.bodies"]
    assert len(lines) == 1 and lines[0].exc_info is None, lines
    assert "Traceback" not in caplog.text


def test_nesting_is_bounded_even_below_the_parsers_limit(client, world):
    body = '{"name": ' + "[" * 40 + "]" * 40 + "}"
    response = client.patch(
        "/api/v1/me", data=body, content_type="application/json", headers=world.resident.headers
    )
    assert_error(response, 400, "request.malformed")


# ---- defect 3: a body that is not JSON is 415; a command that changes nothing is 422 --------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_patch_me_as_text_is_415(app, client, world, content_type):
    kwargs = {"content_type": content_type} if content_type else {}
    response = client.patch(
        "/api/v1/me", data=json.dumps({"name": "新名字"}), headers=world.resident.headers, **kwargs
    )
    assert_error(response, 415, "request.unsupported_media_type")
    with app.app_context():
        assert db.session.get(User, world.resident.id).name == "居民"


@pytest.mark.parametrize(
    "media_type", ["application/json", "application/merge-patch+json", "application/json; charset=utf-8"]
)
def test_json_under_any_json_media_type_is_read(client, world, media_type):
    response = client.patch(
        "/api/v1/me",
        data=json.dumps({"name": "新名字"}),
        content_type=media_type,
        headers=world.resident.headers,
    )
    assert response.status_code == 200 and response.get_json()["name"] == "新名字"


def test_a_body_is_parsed_once_and_its_values_reach_the_view(client, world, monkeypatch):
    """bodies.check_body parses every API write's body; the view's parser takes that value instead of
    parsing the body again (webargs' parse_json is never called), and a value sent is what is stored."""
    from webargs import core

    parses = []
    monkeypatch.setattr(core, "parse_json", lambda *a, **k: parses.append(a) or {})
    response = client.patch("/api/v1/me", json={"name": "  一次  "}, headers=world.resident.headers)
    assert response.status_code == 200 and response.get_json()["name"] == "一次"
    assert parses == []


def test_a_body_on_an_endpoint_without_one_must_still_be_json(app, client, world):
    order_id, _ = _order(app, world, "S1", "pool")
    response = client.post(
        f"/api/v1/orders/{order_id}/grab",
        data="please",
        content_type="text/plain",
        headers=world.vol_s1.headers,
    )
    assert_error(response, 415, "request.unsupported_media_type")
    ok = client.post(f"/api/v1/orders/{order_id}/grab", headers=world.vol_s1.headers)
    assert ok.status_code == 201


@pytest.mark.parametrize(
    ("action", "stage", "before"), [("decline", "offered", "offered"), ("withdraw", "held", "held")]
)
def test_decline_and_withdraw_as_text_are_415_and_change_nothing(app, client, world, action, stage, before):
    url, body = _on_assignment(action, stage, {"reason": "那天没空"})(app, world, "S1")
    response = client.post(
        url, data=json.dumps(body), content_type="text/plain", headers=world.vol_s1.headers
    )
    assert_error(response, 415, "request.unsupported_media_type")
    assignment_id = int(url.split("/")[-2])
    with app.app_context():
        assert db.session.get(Assignment, assignment_id).status == before
    blank = client.post(url, json={"reason": "\u200b"}, headers=world.vol_s1.headers)
    assert_error(blank, 422)
    assert client.post(url, json=body, headers=world.vol_s1.headers).status_code == 200


def _patch_targets(app, world) -> list[str]:
    return [
        "/api/v1/me",
        f"/api/v1/sites/{world.sites['S1']}/settings",
        f"/api/v1/categories/{_category(app)}",
        f"/api/v1/rewards/{_reward(app, world, 'S1')}",
    ]


def _category(app) -> int:
    from tests.api.endpoints import _category_id

    return _category_id(app)


def test_a_patch_that_changes_nothing_is_422(app, client, world):
    for url in _patch_targets(app, world):
        for kwargs in ({"json": {}}, {}):
            response = client.patch(url, headers=world.admin.headers, **kwargs)
            body = assert_error(response, 422, "validation.nothing_to_change")
            assert body["errors"] == {"json": {"_schema": ["请至少提供一个要修改的字段"]}}, url


# ---- defect 6: blank text ---------------------------------------------------------------------------

BLANK = ["", "   ", "\t\n", "\u200b", "\u200c\u200d", "\u2060", "\ufeff", " \u200b\u3000 ", "\u3164"]


@pytest.mark.parametrize("blank", BLANK)
def test_blank_names_and_titles_are_refused(app, client, world, blank):
    assert_error(client.patch("/api/v1/me", json={"name": blank}, headers=world.resident.headers), 422)
    order = _order_body(app, "S1", starts_now=False)
    for field in ("title", "address", "description"):
        response = client.post("/api/v1/orders", json={**order, field: blank}, headers=world.resident.headers)
        body = assert_error(response, 422, "validation.failed")
        assert field in body["errors"]["json"], body


@pytest.mark.parametrize("blank", ["   ", "\u200b", "\ufeff\u2060"])
def test_blank_reasons_are_refused(app, client, world, blank):
    submitted, _ = _order(app, world, "S1", "submitted")
    for action, who in (("reject", world.mgr_s1), ("cancel", world.resident)):
        url = f"/api/v1/orders/{submitted}/{action}"
        assert_error(client.post(url, json={"reason": blank}, headers=who.headers), 422, "validation.failed")
    _, held = _order(app, world, "S1", "held")
    url = f"/api/v1/assignments/{held}/no-show"
    assert_error(client.post(url, json={"reason": blank}, headers=world.mgr_s1.headers), 422)
    with app.app_context():
        assert db.session.get(Assignment, held).status == "held"


def test_surrounding_blanks_are_stripped_before_storing(client, world):
    response = client.patch(
        "/api/v1/me", json={"name": " \u200b 新名字\u3000\n"}, headers=world.resident.headers
    )
    assert response.status_code == 200 and response.get_json()["name"] == "新名字"
    emoji = client.patch("/api/v1/me", json={"name": "👨‍👩‍👧 一家"}, headers=world.resident.headers)
    assert emoji.get_json()["name"] == "👨‍👩‍👧 一家"  # joiners inside text are text


# ---- defect 7: strict JSON types and unknown keys ----------------------------------------------------------


@pytest.mark.parametrize("value", ["yes", "true", 1, 0, "false", None])
def test_booleans_are_true_or_false_only(app, client, world, value):
    team = world.teams["T1"]
    url = f"/api/v1/teams/{team}/members"
    body = {"user_id": world.vol_s1.id, "leader": value}
    assert_error(client.post(url, json=body, headers=world.mgr_s1.headers), 422, "validation.failed")
    url = f"/api/v1/categories/{_category(app)}"
    assert_error(client.patch(url, json={"active": value}, headers=world.admin.headers), 422)


@pytest.mark.parametrize(
    ("field", "value"),
    [("lat", "30.2712"), ("lng", True), ("volunteers_needed", "1"), ("volunteers_needed", 1.5)],
)
def test_numbers_are_json_numbers(app, client, world, field, value):
    body = {**_order_body(app, "S1", starts_now=False), field: value}
    response = client.post("/api/v1/orders", json=body, headers=world.resident.headers)
    assert field in assert_error(response, 422, "validation.failed")["errors"]["json"]


@pytest.mark.parametrize("value", ["20260101", "2026-1-1", "2026-01-01T00:00:00+08:00", 20260101])
def test_dates_are_yyyy_mm_dd(client, world, value):
    body = {"date_from": value, "date_to": "2026-01-31"}
    response = client.post("/api/v1/me/certificates", json=body, headers=world.vol_s1.headers)
    assert "date_from" in assert_error(response, 422, "validation.failed")["errors"]["json"]


@pytest.mark.parametrize(
    "value", ["20260501T090000+0800", "2026-05-01 09:00:00+08:00", "2026-05-01T09:00:00"]
)
def test_times_are_rfc_3339_with_an_offset(app, client, world, value):
    body = {**_order_body(app, "S1", starts_now=False), "start_at": value}
    response = client.post("/api/v1/orders", json=body, headers=world.resident.headers)
    assert "start_at" in assert_error(response, 422, "validation.failed")["errors"]["json"]


def test_a_rule_spec_with_a_key_its_kind_does_not_take_is_422(app, client, world):
    from tests.api.endpoints import _rule_body

    url = f"/api/v1/sites/{world.sites['S1']}/service-day-rules"
    for extra in ({"bogus": 1}, {"weekday": 4}, {"theme": "x"}):
        body = _rule_body(app, "S1")
        body["spec"] = {**body["spec"], **extra}
        response = client.post(url, json=body, headers=world.mgr_s1.headers)
        error = assert_error(response, 422, "validation.failed")
        assert error["errors"]["json"]["spec"] == {next(iter(extra)): ["未知字段。"]}, error


@pytest.mark.parametrize(
    ("value", "status"), [("true", 200), ("false", 200), ("1", 200), ("0", 200), ("yes", 422), ("on", 422)]
)
def test_query_booleans_are_true_false_1_or_0(client, world, value, status):
    response = client.get(f"/api/v1/categories?include_inactive={value}")
    assert response.status_code == status, response.get_json()


# ---- defect 8: one phone rule --------------------------------------------------------------------------


def _register(client, world, phone):
    body = {
        "phone": phone,
        "password": "another-horse-9",
        "name": "新居民",
        "home_site_id": world.sites["S1"],
    }
    return client.post("/api/v1/auth/register", json=body)


def _proxy(app, client, world, phone):
    body = {**_order_body(app, "S1", starts_now=False), "resident_phone": phone, "resident_name": "王阿姨"}
    return client.post("/api/v1/orders", json=body, headers=world.mgr_s1.headers)


@pytest.mark.parametrize(
    "spelling",
    ["{d}", " {d} ", "{d}\n", "{d3} {d4} {d4b}", "{d3}-{d4}-{d4b}", "+86 {d}", "({d3}) {d4}{d4b}", "{fw}"],
)
def test_a_phone_is_read_the_same_everywhere(app, client, world, spelling):
    digits = next_phone()
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in digits)
    raw = spelling.format(d=digits, d3=digits[:3], d4=digits[3:7], d4b=digits[7:], fw=full_width)
    registered = _register(client, world, raw)
    assert registered.status_code == 201, registered.get_json()
    assert registered.get_json()["user"]["phone"] == f"+86{digits}"
    proxy = _proxy(app, client, world, raw)
    assert proxy.status_code == 201, proxy.get_json()
    assert proxy.get_json()["resident"]["phone"] == f"+86{digits}"  # the same person


@pytest.mark.parametrize(
    "raw",
    ["١٣٨٠٠١٣٨٠٠٠", "۱۳۸۰۰۱۳۸۰۰۰", "138\n0013 8000", "138\t00138000", "138.0013.8000", "phone 13800138000"],
)
def test_a_phone_refused_anywhere_is_refused_everywhere(app, client, world, raw):
    assert_error(_register(client, world, raw), 422, "phone.invalid")
    error = assert_error(_proxy(app, client, world, raw), 422, "phone.invalid")
    assert "resident_phone" in error["errors"]["json"]
    link = client.post(
        "/api/v1/me/family-links",
        json={"relative_phone": raw, "relation": "parent"},
        headers=world.vol_s1.headers,
    )
    assert_error(link, 422, "phone.invalid")
    code = client.post("/api/v1/auth/sms-code", json={"phone": raw})
    assert_error(code, 422, "phone.invalid")


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("\u200e名\u200f", "名"),  # bidi marks around a name
        ("\u00ad", ""),  # a lone soft hyphen shows nothing
        ("\ufe0f", ""),  # a lone variation selector
        ("\u2800\u3164", ""),  # braille blank, Hangul filler
        ("❤️", "❤️"),  # a variation selector after a character is part of it
        ("🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f", None),  # a flag keeps its tags
        ("a\u200bb", "a\u200bb"),  # inside text it is text
    ],
)
def test_strip_blank(raw, kept):
    from volunteer_app.schemas import strip_blank

    assert strip_blank(raw) == (raw if kept is None else kept)


def test_text_longer_than_its_max_length_as_sent_is_refused_even_if_stripping_would_shorten_it():
    """The document's maxLength is about the string as sent: an invisible leading control character
    does not buy an extra character (found by schemathesis: ST201 on POST /categories name_zh)."""
    import marshmallow as ma

    from volunteer_app.schemas import Text

    class One(ma.Schema):
        name = Text(40)

    with pytest.raises(ma.ValidationError) as refused:
        One().load({"name": "\u008e" + "c" * 40})
    assert refused.value.messages == {"name": ["Longer than maximum length 40."]}
    assert One().load({"name": "  " + "c" * 38})["name"] == "c" * 38
