"""The OpenAPI document says what each operation can answer: its error statuses with their stable
codes (derived from the code by volunteer_app/apidoc/codes.py), examples that work on the demo data,
`uniqueItems` the schemas enforce, patterns for cursors and dates, and links between operations."""

from __future__ import annotations

import re

import pytest
from flask_smorest.spec.plugins import FlaskPlugin

from tests.api import demo_data
from tests.api.endpoints import in_scope
from volunteer_app.apidoc.codes import Findings, walk
from volunteer_app.apidoc.examples import example
from volunteer_app.apidoc.patterns import CURSOR_PATTERN, DATE_PATTERN
from volunteer_app.errors import MESSAGES

TOKEN_CODES = {"token.missing", "token.invalid", "token.expired", "token.revoked", "token.wrong_type"}


def _operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method != "parameters":
                yield path, method, operation


def _codes(operation, status: int) -> set[str]:
    response = operation["responses"].get(str(status))
    return set(response["x-error-codes"]) if response else set()


def _by_id(document, operation_id: str) -> tuple[str, str, dict]:
    return next(op for op in _operations(document) if op[2]["operationId"] == operation_id)


# ---- error responses --------------------------------------------------------------------------------


def test_every_error_response_names_its_codes_in_the_one_format(document):
    for path, method, operation in _operations(document):
        for status, response in operation["responses"].items():
            if not status.isdigit() or int(status) < 400:
                continue
            where = f"{method.upper()} {path} {status}"
            codes = response["x-error-codes"]
            assert codes, where
            assert all(f"`{code}`" in response["description"] for code in codes), where
            schema = response["content"]["application/json"]["schema"]
            assert schema["allOf"][0] == {"$ref": "#/components/schemas/Error"}, where
            assert schema["allOf"][1]["properties"]["error"]["enum"] == codes, where
            assert schema["allOf"][1]["properties"]["code"]["enum"] == [int(status)], where
            unknown = [c for c in codes if c not in MESSAGES]
            assert not unknown, f"{where}: codes without a message {unknown}"


def test_authenticated_operations_document_401_and_role_limited_ones_403(document):
    for path, method, operation in _operations(document):
        where = f"{method.upper()} {path}"
        if operation.get("security"):
            assert _codes(operation, 401) >= TOKEN_CODES, where
        roles = "Roles:" in operation.get("description", "")
        assert ("auth.forbidden" in _codes(operation, 403)) == roles, where


def test_inputs_document_400_413_and_422_and_path_ids_404(document):
    for path, method, operation in _operations(document):
        where = f"{method.upper()} {path}"
        if "requestBody" in operation:
            assert {"request.malformed"} <= _codes(operation, 400), where
            assert {"request.too_large"} <= _codes(operation, 413), where
            assert "validation.failed" in _codes(operation, 422), where
        if "{" in path:
            assert "not_found" in _codes(operation, 404), where


@pytest.mark.parametrize(
    ("operation_id", "status", "codes"),
    [
        ("postOrderGrab", 409, {"order.full", "order.closed", "order.already_taken", "grab.limit"}),
        ("postOrderGrab", 429, {"rate_limited"}),
        ("postLogin", 401, {"auth.bad_credentials"}),
        ("postLogin", 429, {"rate_limited"}),
        ("postOrders", 422, {"site.none_nearby", "order.resident_required"}),
        ("postOrders", 409, {"idempotency.in_progress"}),
        ("postOrderDispatch", 409, {"order.bad_state"}),
        ("postRedemptions", 409, {"timebook.insufficient", "reward.out_of_stock"}),
        ("postRedemptions", 429, {"rate_limited"}),
        ("postFulfilRedemption", 409, {"redemption.expired", "redemption.not_issued"}),
        # dispatched by name to the orders' or the activities' service (apidoc.calls in attendance/views.py)
        ("postAssignmentCheckIn", 409, {"attendance.already_checked_in", "activity.bad_state"}),
        ("postAssignmentAccept", 409, {"order.full"}),
        ("postOrderAudit", 409, {"attendance.not_checked_out"}),
        ("postSiteManagers", 403, {"manager.not_above"}),
        ("getReady", 503, {"ready.database"}),
    ],
)
def test_domain_codes_are_found_in_the_code(document, operation_id, status, codes):
    _path, _method, operation = _by_id(document, operation_id)
    assert codes <= _codes(operation, status), sorted(_codes(operation, status))


def test_operations_without_a_role_have_no_403(document):
    """…but a write may meet the console cookie's CSRF check (403 auth.csrf), and only that."""
    for operation_id in ("getMe", "getOrders"):
        assert 403 not in {int(s) for s in _by_id(document, operation_id)[2]["responses"] if s.isdigit()}
    for operation_id in ("postLogout", "postOrders"):
        assert _codes(_by_id(document, operation_id)[2], 403) == {"auth.csrf"}


def test_every_raise_on_the_way_has_a_readable_code(app):
    """A DomainError raised with a computed code would be missing from the document: none is."""
    unread = set()
    for rule in app.url_map.iter_rules():
        if not in_scope(rule):
            continue
        view_func = app.view_functions[rule.endpoint]
        view_class = getattr(view_func, "view_class", None)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            method_fn = getattr(view_class, method.lower()) if view_class else view_func
            found = Findings()
            walk(method_fn, found)
            unread |= found.unread
    assert not unread


def test_operation_ids_are_unique_and_set(document):
    ids = [operation["operationId"] for _p, _m, operation in _operations(document)]
    assert len(ids) == len(set(ids))


# ---- uniqueItems, patterns ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "field"),
    [
        ("OrderIn", "target_groups"),
        ("DispatchIn", "volunteer_ids"),
        ("OfferIn", "volunteer_ids"),
        ("ApplicationIn", "category_ids"),
        ("ApplicationIn", "skills"),
        ("MarkReadIn", "ids"),
        ("SettingsValues", "star_thresholds_hours"),
        ("AuditIn", "assignments"),
    ],
)
def test_arrays_of_distinct_items_say_so(document, schema, field):
    assert document["components"]["schemas"][schema]["properties"][field]["uniqueItems"] is True


@pytest.mark.parametrize(
    ("method", "url", "body", "field"),
    [
        ("POST", "/api/v1/orders/1/dispatch", {"mode": "assign", "volunteer_ids": [5, 5]}, "volunteer_ids"),
        ("POST", "/api/v1/orders/1/offers", {"volunteer_ids": [7, 8, 7]}, "volunteer_ids"),
        ("POST", "/api/v1/me/notifications/read", {"ids": [1, 1]}, "ids"),
        (
            "POST",
            "/api/v1/me/volunteer-application",
            {"real_name": "张三", "id_number": "11010519491231002X", "site_id": 4, "category_ids": [4, 4]},
            "category_ids",
        ),
        (
            "POST",
            "/api/v1/orders",
            {**example("OrderIn"), "target_groups": ["disabled", "disabled"]},
            "target_groups",
        ),
    ],
)
def test_repeated_items_are_refused(client, world, method, url, body, field):
    r = client.open(url, method=method, json=body, headers=world.admin.headers)
    assert r.status_code == 422, r.json
    assert r.json["error"] == "validation.failed"
    assert field in r.json["errors"]["json"], r.json


def test_cursor_and_date_patterns(document):
    for path, _method, operation in _operations(document):
        for parameter in operation.get("parameters", []):
            if parameter.get("name") == "cursor":
                assert parameter["schema"]["pattern"] == CURSOR_PATTERN, path
    month = next(p for p in _by_id(document, "getMyStatement")[2]["parameters"] if p.get("name") == "month")
    assert "pattern" in month["schema"]
    certificate = document["components"]["schemas"]["CertificateIn"]["properties"]
    assert certificate["date_from"]["pattern"] == DATE_PATTERN
    preview = {p["name"]: p["schema"] for p in _by_id(document, "getSiteRulePreview")[2]["parameters"]}
    assert re.fullmatch(preview["start_time"]["pattern"].strip("^$"), "14:30")
    assert re.fullmatch(preview["dates"]["items"]["pattern"].strip("^$"), "03-05")


def test_cursors_the_server_writes_match_the_documented_pattern(client, world):
    r = client.get("/api/v1/sites?limit=1", headers=world.admin.headers)
    assert r.status_code == 200
    cursor = r.json["next_cursor"]
    assert cursor and re.fullmatch(CURSOR_PATTERN.strip("^$"), cursor)


# ---- links ----------------------------------------------------------------------------------------------


def test_a_created_order_links_to_its_actions(document):
    links = _by_id(document, "postOrders")[2]["responses"]["201"]["links"]
    for target in ("getOrderOne", "getOrderEvents", "postOrderDispatch", "postOrderCancel", "postOrderGrab"):
        expected = {"operationId": target, "parameters": {"order_id": "$response.body#/id"}}
        assert links[target] == expected
    assert "postAssignmentCheckIn" in links


@pytest.mark.parametrize(
    ("source", "status", "target", "parameters"),
    [
        ("postSiteActivities", "201", "postActivitySignup", {"activity_id": "$response.body#/id"}),
        ("postRedemptions", "201", "postFulfilRedemption", {"code": "$response.body#/code"}),
        ("postOrderGrab", "201", "postAssignmentCheckIn", {"assignment_id": "$response.body#/id"}),
        ("getOrders", "200", "getOrderOne", {"order_id": "$response.body#/items/0/id"}),
        (
            "postSiteManagers",
            "201",
            "deleteSiteManager",
            {"user_id": "$response.body#/user_id", "site_id": "$request.path.site_id"},
        ),
    ],
)
def test_links_between_operations(document, source, status, target, parameters):
    links = _by_id(document, source)[2]["responses"][status]["links"]
    assert links[target]["parameters"] == parameters


def test_every_operation_on_a_resource_is_reachable_by_a_link(document):
    """Each operation with a path id can be reached from some answer (stateful fuzzing walks there)."""
    targets = {
        link["operationId"]
        for _p, _m, operation in _operations(document)
        for response in operation["responses"].values()
        for link in response.get("links", {}).values()
    }
    ids = {operation["operationId"]: path for path, _m, operation in _operations(document)}
    for operation_id in ids.keys() - targets:
        assert "{" not in ids[operation_id], f"no link leads to {operation_id}"
    for path, _method, operation in _operations(document):
        for response in operation["responses"].values():
            for link in response.get("links", {}).values():
                target_path = ids[link["operationId"]]
                assert set(link["parameters"]) == set(re.findall(r"{(\w+)}", target_path)), (path, link)


# ---- examples on the demo data ------------------------------------------------------------------------

# (operation, who sends it: a demo phone or None for anonymous), in an order that works on a fresh demo.
MUST_SUCCEED = [
    ("postLogin", None),
    ("postRegister", None),
    ("postSmsCode", None),
    ("patchMe", demo_data.VOLUNTEER),
    ("postMyApplication", demo_data.NEW_RESIDENT),
    ("postSites", demo_data.ADMIN),
    ("patchSiteSettings", demo_data.ADMIN),
    ("postSiteTeams", demo_data.ADMIN),
    ("postCategories", demo_data.ADMIN),
    ("patchCategoryDetail", demo_data.ADMIN),
    ("postAdjustments", demo_data.ADMIN),
    ("postSiteRewards", demo_data.ADMIN),
    ("patchRewardDetail", demo_data.ADMIN),
    ("postRedemptions", demo_data.VOLUNTEER),
    ("postMyFamilyLinks", demo_data.VOLUNTEER),
    ("postMyGifts", demo_data.VOLUNTEER),
    ("postMyCertificates", demo_data.VOLUNTEER),
    ("postReadNotifications", demo_data.VOLUNTEER),
    ("postMyDevices", demo_data.VOLUNTEER),
    ("getTasksAvailable", demo_data.VOLUNTEER),
    ("postOrderGrab", demo_data.VOLUNTEER),
    ("postOrders", demo_data.RESIDENT),
    ("postOrderDispatch", demo_data.ADMIN),
    ("postOrderReject", demo_data.ADMIN),
    ("postSiteActivities", demo_data.ADMIN),
    ("postActivitySignup", demo_data.VOLUNTEER),
    ("postActivityCancel", demo_data.ADMIN),
    ("postSiteRules", demo_data.ADMIN),
    ("patchRuleOne", demo_data.ADMIN),
    ("getSiteRulePreview", demo_data.ADMIN),
    ("getSites", None),
    ("getSiteVolunteers", demo_data.ADMIN),
    ("getSiteToday", demo_data.ADMIN),
    ("getVolunteer", demo_data.ADMIN),
    ("getSiteTeams", demo_data.ADMIN),
]


def example_request(document, operation_id: str) -> tuple[str, str, dict, object]:
    """(method, url, query, body) built from the document's examples alone, as Swagger UI would."""
    path, method, operation = _by_id(document, operation_id)
    item = document["paths"][path]
    url = path
    for parameter in item.get("parameters", []):
        if parameter["in"] == "path":
            url = url.replace("{" + parameter["name"] + "}", str(parameter["example"]))
    query = {
        p["name"]: p["example"]
        for p in operation.get("parameters", [])
        if p.get("in") == "query" and "example" in p
    }
    body = None
    if "requestBody" in operation:
        ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        body = document["components"]["schemas"][ref.rsplit("/", 1)[-1]]["example"]
    return method.upper(), url, query, body


def test_every_request_body_and_path_id_has_an_example(document):
    schemas = document["components"]["schemas"]
    for path, method, operation in _operations(document):
        if "requestBody" in operation:
            ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            example = schemas[ref.rsplit("/", 1)[-1]].get("example")
            assert example is not None, f"{method.upper()} {path}: no example body"
            assert set(example) <= set(schemas[ref.rsplit("/", 1)[-1]]["properties"]), path
        for parameter in document["paths"][path].get("parameters", []):
            assert "example" in parameter, f"{path}: {parameter['name']} has no example"


def test_examples_work_on_the_demo_data(app, client, document):
    """Sent as they are to the demo data (`./dev serve`), the examples succeed; every other example is
    at least valid input (whatever the demo's state makes of it)."""
    with demo_data.demo_loaded(app) as tokens:

        def send(operation_id, who):
            method, url, query, body = example_request(document, operation_id)
            headers = {"Authorization": f"Bearer {tokens[who]}"} if who else {}
            return client.open(url, method=method, query_string=query, json=body, headers=headers)

        for operation_id, who in MUST_SUCCEED:
            r = send(operation_id, who)
            assert 200 <= r.status_code < 300, (operation_id, r.status_code, r.get_data(as_text=True))
        for _path, _method, operation in _operations(document):
            if operation["operationId"] in dict(MUST_SUCCEED) or operation["operationId"] == "postLogout":
                continue  # (logging out would end the admin's session the other examples use)
            r = send(operation["operationId"], demo_data.ADMIN)
            assert r.status_code < 500, (operation["operationId"], r.status_code)
            if r.status_code == 422:
                assert r.json["error"] != "validation.failed", (operation["operationId"], r.json)


def test_path_rules_and_document_paths_agree(app, document):
    for rule in app.url_map.iter_rules():
        if in_scope(rule):
            assert FlaskPlugin.flaskpath2openapi(rule.rule) in document["paths"]
