"""schemathesis against the app's own OpenAPI document: every operation as an admin, the public ones
also anonymously.

No 5xx, every response matches its documented schema, schema-violating input is refused, every error
has the one format, and input the document calls valid is never refused by the schema layer on a
query or path parameter. Regression cases for what the fuzzer found follow the fuzz tests.
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from sqlalchemy import select

from tests.api.endpoints import in_scope, openapi_path
from tests.api.helpers import ERROR_KEYS, fresh_access_token
from tests.conftest import make_app
from tests.support import PASSWORD, id_number
from volunteer_app.auth.models import AuthSession
from volunteer_app.extensions import db
from volunteer_app.schemas import MAX_ID

OPENAPI = "/api/v1/openapi.json"

# The pytest plugin makes one test item per operation at collection time, before the session's
# database exists, so the document comes from an app of the same factory that never opens its
# database; every request goes to the session's `app` (test_document_is_the_apps_own checks the two
# serve the same document). (schemathesis.pytest.from_fixture would load it from the `app` fixture,
# but it fails under pytest 9: it writes `request.node._nodeid`, which pytest 9 no longer has.)
DOCUMENT_APP = make_app("sqlite://")
SCHEMA = schemathesis.openapi.from_wsgi(OPENAPI, DOCUMENT_APP)
# positive_data_acceptance fails any 4xx to schema-valid data, but a schema-valid request can still
# break a business rule (an unknown station, an invalid phone number, a forged cursor) that the API
# rightly refuses with 422 and a domain code. `documented_input_accepted` below keeps the part that
# can be checked: the schema layer itself never refuses what the document allows.
SCHEMA.config.checks.update(excluded_check_names=["positive_data_acceptance"])

# Each operation's coverage phase (boundary values of every parameter and field) is fixed by the
# document and takes most of the time; the random phase is kept short so the file stays near a minute
# on SQLite.
FUZZ_SETTINGS = settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))

ADMIN_PLACEHOLDER = "admin-token-issued-at-call-time"


def one_error_format(ctx, response, case):
    """Every error body, whatever produced it (view, parser, router, limiter), has the one format."""
    if response.status_code < 400 or not response.content:  # HEAD answers without a body
        return None
    body = response.json()
    assert set(body) in (ERROR_KEYS, ERROR_KEYS | {"errors"}), f"error body keys {sorted(body)}"
    assert body["code"] == response.status_code, f"code {body['code']} != status {response.status_code}"
    return None


def documented_input_accepted(ctx, response, case):
    """A query or path value the document allows is not refused as malformed (`validation.failed`):
    that would mean the parser and the document disagree, e.g. a strict integer read from a query string.
    Domain 422s (unknown station, bad cursor) carry their own codes and are left to the services."""
    if case.meta is None or not case.meta.generation.mode.is_positive or response.status_code != 422:
        return None
    body = response.json()
    if body.get("error") == "validation.failed":
        refused = set(body.get("errors") or {}) - {"json"}
        assert not refused, f"documented-valid {sorted(refused)} refused: {body.get('errors')}"
    return None


CHECKS = [one_error_format, documented_input_accepted]


class AdminAuth:
    """Marks the case as authenticated; the real token is issued when the case runs.

    schemathesis builds some cases at collection, before any database exists, so `get` returns a
    placeholder. Going through its auth provider (rather than adding a header to every request) keeps
    the negative cases that deliberately drop the Authorization header without it.
    """

    def get(self, case, context):
        return ADMIN_PLACEHOLDER

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


def _public(ctx) -> bool:
    """Operations the document says need no token."""
    return not ctx.operation.definition.raw.get("security")


# Anonymously, only the public operations: every other one answers 401 before it reads any input, which
# the matrix asserts for each endpoint and the admin run's `ignored_auth` check re-tests on every
# successful authenticated case (it re-sends it with no token and a bad one). Fuzzing their inputs
# anonymously would spend the coverage phase on a thousand 401s.
@SCHEMA.include(_public).parametrize()
@FUZZ_SETTINGS
def test_fuzz_anonymous(case, app, world):
    case.call_and_validate(app=app, additional_checks=CHECKS)


@SCHEMA.auth.apply(AdminAuth, refresh_interval=None)
@SCHEMA.parametrize()
@FUZZ_SETTINGS
def test_fuzz_as_admin(case, app, world):
    # `world` lives for this operation's whole run (the database is emptied after each test item),
    # so a session revoked by a fuzzed logout must not leak into the next case: one token per case.
    if case.headers and case.headers.get("Authorization") == f"Bearer {ADMIN_PLACEHOLDER}":
        case.headers["Authorization"] = f"Bearer {fresh_access_token(app, world.admin.id)}"
    case.call_and_validate(app=app, additional_checks=CHECKS)


def test_document_is_the_apps_own(client):
    """The fuzzed document is the one the app under test serves."""
    served = client.get(OPENAPI)
    assert served.status_code == 200
    assert served.json == DOCUMENT_APP.test_client().get(OPENAPI).json


def test_every_endpoint_is_documented(app, client):
    """Every API route and method is in the document, so the fuzzer (and the phone team) see it."""
    paths = client.get(OPENAPI).json["paths"]
    rules = [rule for rule in app.url_map.iter_rules() if in_scope(rule)]
    assert rules
    for rule in rules:
        path = openapi_path(rule.rule)
        assert path in paths, f"{rule.rule} is not in the OpenAPI document"
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in paths[path], f"{method} {rule.rule} is not in the OpenAPI document"


# ---- what fuzzing found, kept fixed (each was a 500 or a wrong answer) ------------------------------


def _id_rules(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/") and "<int:" in rule.rule:
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield rule, method


@pytest.mark.parametrize("huge", [MAX_ID + 1, 2**64, 10**30])
def test_path_ids_beyond_64_bits_are_not_found(app, client, world, huge):
    """A path id no row can have is an unknown URL (404), not a database overflow (500)."""
    rules = list(_id_rules(app))
    assert rules
    for rule, method in rules:
        url = rule.rule
        for name in rule.arguments:
            url = url.replace(f"<int:{name}>", str(huge))
        r = client.open(url, method=method, json={}, headers=world.admin.headers)
        assert r.status_code == 404, (method, url, r.status_code)
        assert r.json["error"] == "not_found"


def test_largest_64_bit_path_id_is_looked_up(client, world):
    """The bound is 2**63 - 1 exactly: that id is a valid URL for a site that does not exist."""
    r = client.get(f"/api/v1/sites/{MAX_ID}", headers=world.admin.headers)
    assert r.status_code == 404
    assert r.json["error"] == "not_found"


def test_site_under_unknown_parent_is_refused(client, world):
    """A parent id naming no site is bad input (422 on parent_id), not a foreign-key failure."""
    r = client.post(
        "/api/v1/sites",
        json={"kind": "institute", "name": "新所", "parent_id": 999_999},
        headers=world.admin.headers,
    )
    assert r.status_code == 422
    assert r.json["error"] == "site.bad_parent"
    assert "parent_id" in r.json["errors"]["json"]
    r = client.post(
        "/api/v1/sites",
        json={"kind": "center", "name": "新中心", "parent_id": 999_999},
        headers=world.admin.headers,
    )
    assert r.status_code == 422
    assert "parent_id" in r.json["errors"]["json"]


@pytest.mark.parametrize(
    ("method", "url", "body", "field", "location"),
    [
        ("POST", "/api/v1/sites", {"kind": "center", "name": "中\u0000心"}, "name", "json"),
        ("POST", "/api/v1/sites", {"kind": "center", "name": "中\ud800心"}, "name", "json"),
        ("PATCH", "/api/v1/me", {"name": "名\u0000字"}, "name", "json"),
        (
            "POST",
            "/api/v1/categories",
            {"code": "x1", "name_zh": "类\u0000", "name_en": "x"},
            "name_zh",
            "json",
        ),
        ("GET", "/api/v1/sites?q=%E7%AB%99%00", None, "q", "query"),
    ],
)
def test_unstorable_characters_are_refused(client, world, method, url, body, field, location):
    """NUL (PostgreSQL text cannot hold it) and lone surrogates (not UTF-8) get 422 naming the field.

    Sent as raw JSON so a lone surrogate survives serialisation as the escape a client would send.
    """
    data = None if body is None else json.dumps(body)
    r = client.open(
        url, method=method, data=data, content_type="application/json", headers=world.admin.headers
    )
    assert r.status_code == 422, r.json
    assert r.json["error"] == "validation.failed"
    assert field in r.json["errors"][location]


def test_login_with_a_nul_in_the_user_agent_works(app, client, world):
    """The device label stored with a session keeps printable characters only."""
    r = client.post(
        "/api/v1/auth/login",
        json={"phone": world.resident.phone, "password": PASSWORD},
        headers={"User-Agent": "phone\x00app"},
    )
    assert r.status_code == 200
    with app.app_context():
        agents = db.session.scalars(
            select(AuthSession.user_agent).where(AuthSession.user_id == world.resident.id)
        ).all()
    assert "phoneapp" in agents


def _full_width(text: str) -> str:
    return text.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789X"})


@pytest.mark.parametrize(
    "spelling",
    [
        pytest.param(lambda n: _full_width(n), id="all full-width"),
        pytest.param(lambda n: n[0] + _full_width(n[1:17]) + n[17], id="full-width middle"),
    ],
)
def test_an_id_number_in_full_width_digits_is_the_same_number(client, world, spelling):
    """Found with the fuzzer's strings in mind: `\\d` matched full-width digits, so vol_s1's ID number
    typed on a Chinese keyboard hashed differently and passed the one-identity-per-account check."""
    r = client.post(
        "/api/v1/me/volunteer-application",
        json={"real_name": "冒名", "id_number": spelling(id_number(1)), "site_id": world.sites["S1"]},
        headers=world.resident.headers,
    )
    assert r.status_code == 409, r.json
    assert r.json["error"] == "id_number.taken"


def test_a_full_width_id_number_is_stored_in_ascii(client, world):
    own = id_number(30)
    r = client.post(
        "/api/v1/me/volunteer-application",
        json={"real_name": "张三", "id_number": _full_width(own), "site_id": world.sites["S1"]},
        headers=world.resident.headers,
    )
    assert r.status_code == 201, r.json
    assert r.json["id_number_masked"] == own[:4] + "*" * 10 + own[-4:]
