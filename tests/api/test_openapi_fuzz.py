"""schemathesis against the app's own OpenAPI document: every operation as an admin, the public ones
also anonymously.

No 5xx, every response matches its documented schema, schema-violating input is refused, every error
has the one format, and input the document calls valid is never refused by the schema layer on a
query or path parameter. Regression cases for what the fuzzer found follow the fuzz tests.
"""

from __future__ import annotations

import copy
import json
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.generation.stateful import run_state_machine_as_test
from sqlalchemy import select

from tests import conftest
from tests.api import demo_data
from tests.api.endpoints import in_scope, openapi_path
from tests.api.helpers import ERROR_KEYS, OPENAPI
from tests.conftest import _added_rows, _empty_database, _insert, _rows, make_app
from tests.support import PASSWORD, fresh_session, headers_now, id_number
from volunteer_app.auth.models import AuthSession
from volunteer_app.extensions import db, limiter
from volunteer_app.schemas import MAX_ID

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
FUZZ_SETTINGS = settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))

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
CALLED: dict[str, Counter[str]] = {"anonymously": Counter(), "as admin": Counter()}


@pytest.fixture(scope="module", autouse=True)
def _report_operations_reached(request):
    """After the module: how many operations the per-operation tests called, and how many answered 2xx."""
    yield
    for who, calls in CALLED.items():
        if calls:
            succeeded = sum(1 for label in calls if label.endswith(" 2xx"))
            labels = {label.rsplit(" ", 1)[0] for label in calls}
            report(
                request.config,
                f"per operation {who}: {sum(calls.values())} cases reached {len(labels)} operations "
                f"({succeeded} of them answered 2xx at least once)",
            )


def _called(who: str, case, response) -> None:
    CALLED[who][f"{case.operation.label} {response.status_code // 100}xx"] += 1


@SCHEMA.include(_public).parametrize()
@FUZZ_SETTINGS
def test_fuzz_anonymous(case, app, world):
    _called("anonymously", case, case.call_and_validate(app=app, additional_checks=CHECKS))


@SCHEMA.auth.apply(AdminAuth, refresh_interval=None)
@SCHEMA.parametrize()
@FUZZ_SETTINGS
def test_fuzz_as_admin(case, app, world):
    # `world` lives for this operation's whole run (the database is emptied after each test item),
    # so a session revoked by a fuzzed logout must not leak into the next case: one token per case.
    if case.headers and case.headers.get("Authorization") == f"Bearer {ADMIN_PLACEHOLDER}":
        case.headers.update(headers_now(app, world.admin.id))
    _called("as admin", case, case.call_and_validate(app=app, additional_checks=CHECKS))


# ---- stateful: walk the document's links (POST /orders → dispatch, cancel, events …) -----------------

# Scenarios of up to a dozen calls each, derandomized: the same walk on every run and both databases.
STATEFUL_SETTINGS = settings(
    max_examples=25,
    stateful_step_count=12,
    derandomize=True,
    deadline=None,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def pinned_to_examples(document: dict) -> dict:
    """The document with each request value that has an example pinned to it (an enum of one).

    Random ids and coordinates name nothing in the demo data, so a walk from random input rarely gets
    past its first 404 or 422; pinned, the positive cases are the document's own examples, which create
    an order, an activity, a reward … on the demo data, and the links carry on from their answers.
    Negative cases still break every constraint. Request bodies are inlined first, so answers are
    checked against the unpinned schemas."""
    document = copy.deepcopy(document)
    schemas = document["components"]["schemas"]

    def pin(schema: dict, value) -> dict:
        return {**schema, "enum": [value]}

    for item in document["paths"].values():
        for parameter in item.get("parameters", []):
            if "example" in parameter:
                parameter["schema"] = pin(parameter["schema"], parameter["example"])
        for method, operation in item.items():
            if method == "parameters":
                continue
            for parameter in operation.get("parameters", []):
                if "example" in parameter:
                    parameter["schema"] = pin(parameter["schema"], parameter["example"])
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body is None:
                continue
            schema = copy.deepcopy(schemas[body["schema"]["$ref"].rsplit("/", 1)[-1]])
            for name, value in schema.get("example", {}).items():
                schema["properties"][name] = pin(schema["properties"][name], value)
            body["schema"] = schema
    return document


def test_stateful_walk_over_links(app, client, request):
    """schemathesis's state machine follows the OpenAPI links from one answer to the next operation
    (a created order to its dispatch, events, cancel …) on the demo data, as the demo admin, with every
    check but two: no 5xx, status codes, content types and bodies as documented, auth not ignored
    (negative data are sent too; whether they are refused is the per-operation tests' part).
    It prints how many operations it reached and how many link steps it took."""
    with demo_data.demo_loaded(app) as tokens:
        admin_id = tokens[demo_data.ADMIN].user_id
        with app.app_context():
            demo_rows = _added_rows(_base_rows(), _rows())
        schema = schemathesis.openapi.from_dict(pinned_to_examples(client.get(OPENAPI).json))
        schema.app = app
        # positive_data_acceptance: see SCHEMA above. negative_data_rejection: here a "negative" case may
        # only break a pin (`"active": true` where the example says false), which is valid input; the
        # per-operation tests above hold the API to it against the true document.
        schema.config.checks.update(
            excluded_check_names=["positive_data_acceptance", "negative_data_rejection"]
        )

        class Admin:
            def get(self, case, context):
                return fresh_session(app, admin_id).token  # a fuzzed logout must not end the walk

            def set(self, case, data, context):
                case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

        schema.auth(refresh_interval=None)(Admin)
        reached: set[str] = set()
        walked: Counter[str] = Counter()

        class Walk(schema.as_state_machine()):
            def setup(self):
                # Each scenario starts from the demo data as loaded: a replay (hypothesis runs a failing
                # scenario again) then sees the same answers, and no scenario depends on an earlier one.
                with app.app_context():
                    _empty_database()
                    _insert(conftest._BASE)
                    _insert(demo_rows)
                    limiter.reset()

            def step(self, input):
                output = super().step(input)
                reached.add(input.case.operation.label)
                if input.transition is not None and input.is_applied:
                    walked[input.transition.id] += 1
                return output

            def validate_response(self, response, case, additional_checks=None, **kwargs):
                super().validate_response(response, case, additional_checks=CHECKS, **kwargs)

        run_state_machine_as_test(Walk, settings=STATEFUL_SETTINGS)
        operations = sum(1 for result in schema.get_all_operations() if result.ok())
    report(
        request.config,
        f"stateful: reached {len(reached)} of {operations} operations; "
        f"{sum(walked.values())} steps along {len(walked)} distinct links",
    )
    assert walked, "no link was followed"


def _base_rows() -> dict:
    """The rows of the migrated database with its catalogue (conftest._BASE), keyed like _rows()."""
    rows = {table.name: {} for table in db.metadata.sorted_tables}
    for table, added in conftest._BASE:
        key = list(table.primary_key.columns) or list(table.columns)
        rows[table.name] = {tuple(row[c.name] for c in key): row for row in added}
    return rows


def report(config, line: str) -> None:
    """A line in pytest's output, shown even when output is captured."""
    capture = config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\n{line}")


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
