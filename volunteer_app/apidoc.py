"""The OpenAPI document beyond what flask-smorest writes: every operation's error responses with their
stable codes, operation ids, links between operations, and examples that work on the demo data.

Error responses are derived from the code, not listed by hand: each operation's view is read (its
decorators and the functions it calls, transitively, within volunteer_app) for the DomainErrors it can
raise, and the auth decorator, the argument parser, the rate limiter and the router add theirs
(401 and 403 from `auth_required`, 422 and 400 from a body or query schema, 429 from `limiter.limit`,
404 from a path id). Each documented error names its codes in the description, in `x-error-codes` and
as an `enum` on the body's `error`, so a client generator and schemathesis both see them.

Links are derived too: an operation whose answer carries a resource (an order, an assignment …) links
to every operation that takes that resource's id in its path, so stateful fuzzing can walk from a
created order to its dispatch, cancel, events and so on.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import inspect
import textwrap
import types
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import marshmallow as ma
from flask import Flask

from volunteer_app import errors

ERROR_REF = "#/components/schemas/Error"
WRITE_METHODS = ("post", "put", "patch", "delete")
_PACKAGE = "volunteer_app."

# ---- errors ---------------------------------------------------------------------------------------


def _codes_of_call(node: ast.Call, bindings: dict[str, set[str]]) -> set[str] | None:
    """The error codes a DomainError constructor call can carry; None when they cannot be read."""
    arg = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "error"), None)
    if arg is None:
        return set()  # the class's default code (NotFound: "not_found")
    return _constant_strings(arg, bindings)


def _constant_strings(node: ast.AST, bindings: dict[str, set[str]]) -> set[str] | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        body, orelse = _constant_strings(node.body, bindings), _constant_strings(node.orelse, bindings)
        return None if body is None or orelse is None else body | orelse
    if isinstance(node, ast.Name) and node.id in bindings:
        return bindings[node.id]
    return None


def _default_code(cls: type) -> str | None:
    parameter = inspect.signature(cls.__init__).parameters.get("error")
    if parameter is None or parameter.default is inspect.Parameter.empty:
        return None
    return parameter.default


@functools.cache
def _tree(fn: types.FunctionType) -> ast.AST | None:
    try:
        return ast.parse(textwrap.dedent(inspect.getsource(fn.__code__)))  # not unwrapped
    except (OSError, TypeError, SyntaxError):
        return None


def _names(fn: types.FunctionType) -> dict[str, Any]:
    names = dict(fn.__globals__)
    with contextlib.suppress(TypeError, ValueError):
        names.update(inspect.getclosurevars(fn).nonlocals)
    return names


def _resolve(node: ast.AST, names: dict[str, Any]) -> Any:
    """What a name or a dotted name refers to, looking only through modules and classes."""
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.Attribute):
        owner = _resolve(node.value, names)
        if isinstance(owner, types.ModuleType | type):
            return getattr(owner, node.attr, None)
    return None


def _ours(obj: Any) -> bool:
    """Defined in volunteer_app (by the module that holds its code: `functools.wraps` copies the
    wrapped function's `__module__` onto a library's wrapper)."""
    module = getattr(obj, "__globals__", {}).get("__name__") or getattr(obj, "__module__", None) or ""
    return module.startswith(_PACKAGE)


def _is_domain_error(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, errors.DomainError)


def _parameter_bindings(fn: types.FunctionType, call: ast.Call) -> dict[str, set[str]]:
    """String constants a call site passes to `fn`'s parameters, plus the parameters' string defaults."""
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return {}
    bound: dict[str, set[str]] = {
        p.name: {p.default} for p in parameters if isinstance(p.default, str) and p.name != "self"
    }
    passed = {k.arg: k.value for k in call.keywords if k.arg} | {
        p.name: a for p, a in zip(parameters, call.args, strict=False)
    }
    for name, value in passed.items():
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            bound.setdefault(name, set()).add(value.value)
    return bound


class Findings:
    """What walking an operation's code found: codes by status, and raises whose code is not a literal."""

    def __init__(self) -> None:
        self.codes: dict[int, set[str]] = defaultdict(set)
        self.unread: set[str] = set()

    def add(self, status: int, code: str) -> None:
        self.codes[status].add(code)


def _body_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """The nodes of a function's body (its decorators are walked through `__wrapped__` instead)."""
    definition = tree.body[0] if tree.body else None
    statements = definition.body if isinstance(definition, ast.FunctionDef | ast.AsyncFunctionDef) else [tree]
    for statement in statements:
        yield from ast.walk(statement)


def _local_names(tree: ast.AST) -> frozenset[str]:
    """Parameters and assigned names: a local `signup` is not the module's function `signup`."""
    local = {a.arg for node in ast.walk(tree) if isinstance(node, ast.arguments) for a in _all_args(node)}
    local |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    return frozenset(local)


def _all_args(arguments: ast.arguments) -> list[ast.arg]:
    extra = [a for a in (arguments.vararg, arguments.kwarg) if a is not None]
    return [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs, *extra]


def calls(*functions):
    """Name the functions a view reaches in a way the code walk cannot read (a dispatch by name), so
    their errors are documented too."""

    def decorator(fn):
        fn.__apidoc_calls__ = functions
        return fn

    return decorator


Bindings = tuple[tuple[str, tuple[str, ...]], ...]  # parameter -> string constants it may hold


def _freeze(bindings: dict[str, set[str]]) -> Bindings:
    return tuple(sorted((k, tuple(sorted(v))) for k, v in bindings.items()))


@functools.cache
def _read(fn: types.FunctionType, frozen: Bindings) -> tuple[tuple, tuple, tuple]:
    """One function, read once: ((status, code) it raises itself, raises whose code is not a literal,
    (function, bindings) it hands on to)."""
    bindings = {k: set(v) for k, v in frozen}
    raised: set[tuple[int, str]] = set()
    unread: set[str] = set()
    edges: list[tuple[types.FunctionType, Bindings]] = []
    wrapped = getattr(fn, "__wrapped__", None)
    if isinstance(wrapped, types.FunctionType):
        edges.append((wrapped, ()))
    tree = _tree(fn) if _ours(fn) else None
    if tree is None:
        return (), (), tuple(edges)
    edges += [(extra, ()) for extra in getattr(fn, "__apidoc_calls__", ())]
    local = _local_names(tree)
    names = {k: v for k, v in _names(fn).items() if k not in local}
    # `auth_required()` without roles never raises its 403.
    in_auth = fn.__globals__["__name__"].endswith(".auth.decorators")
    roleless = in_auth and "roles" in names and not names["roles"]
    nodes = list(_body_nodes(tree))
    called = {id(node.func) for node in nodes if isinstance(node, ast.Call)}  # calls, not callbacks
    for node in nodes:
        if isinstance(node, ast.Call):
            target = _resolve(node.func, names)
            if _is_domain_error(target):
                codes = _codes_of_call(node, bindings)
                if codes is None:
                    unread.add(f"{fn.__module__}.{fn.__qualname__}: {ast.unparse(node)}")
                    continue
                for code in codes or {_default_code(target)}:
                    if code and not (roleless and target.status == 403):
                        raised.add((target.status, code))
                continue
            if target is errors.error_response and len(node.args) >= 2:
                status, codes = node.args[0], _constant_strings(node.args[1], bindings)
                if isinstance(status, ast.Constant) and codes:
                    raised.update((int(status.value), code) for code in codes)
                continue
            if isinstance(target, types.FunctionType) and _ours(target):
                edges.append((target, _freeze(_parameter_bindings(target, node))))
        elif (
            isinstance(node, ast.Name | ast.Attribute)
            and isinstance(node.ctx, ast.Load)
            and id(node) not in called
        ):
            # a function handed over as a callback (key_func=…, a retry wrapper's body) is code too
            target = _resolve(node, names)
            if isinstance(target, types.FunctionType) and _ours(target):
                edges.append((target, _freeze(_parameter_bindings(target, ast.Call(args=[], keywords=[])))))
    return tuple(sorted(raised)), tuple(sorted(unread)), tuple(dict.fromkeys(edges))


def _walk(fn: types.FunctionType, found: Findings) -> None:
    """Everything `fn` and what it calls (transitively, within volunteer_app) can raise."""
    todo: list[tuple[types.FunctionType, Bindings]] = [(fn, ())]
    seen = set(todo)
    while todo:
        raised, unread, edges = _read(*todo.pop())
        for status, code in raised:
            found.add(status, code)
        found.unread.update(unread)
        for edge in edges:
            if edge not in seen:
                seen.add(edge)
                todo.append(edge)


def _chain(fn: Any) -> Iterator[Any]:
    while fn is not None:
        yield fn
        fn = getattr(fn, "__wrapped__", None)


def _argument_schemas(method_fn: Any) -> list:
    """The schemas flask-smorest parses an operation's body and query with."""
    for fn in _chain(method_fn):
        arguments = (getattr(fn, "_apidoc", None) or {}).get("arguments")
        if arguments:
            return [p["schema"] for p in arguments.get("parameters", []) if "schema" in p]
    return []


def _schema_errors(schema: Any, found: Findings, seen: set) -> None:
    """Codes a schema gives itself: its validators' raises (`validation.nothing_to_change`,
    `audit.unnamed`) and field codes (`phone.invalid`), in nested schemas too."""
    cls = schema if isinstance(schema, type) else type(schema)
    if cls in seen:
        return
    seen.add(cls)
    for name in dir(cls):
        hook = getattr(cls, name, None)
        if getattr(hook, "__marshmallow_hook__", None) and isinstance(hook, types.FunctionType):
            _walk(hook, found)
    from volunteer_app.schemas import INVALID_PHONE, Phone

    instance = cls() if isinstance(schema, type) else schema
    fields = list(instance.fields.values())
    while fields:
        field = fields.pop()
        if isinstance(field, Phone):
            found.add(422, errors.FIELD_CODES[INVALID_PHONE])
        if getattr(field, "inner", None) is not None:  # a List's item field
            fields.append(field.inner)
        nested = getattr(field, "nested", None)
        if isinstance(nested, type | ma.Schema):
            _schema_errors(nested, found, seen)


def _rate_limited(*functions: Any) -> bool:
    return any(
        getattr(f, "__wrapper-limiter-instance", None) is not None for fn in functions for f in _chain(fn)
    )


def operation_errors(app: Flask, view_func: Any, method: str, method_fn: Any, operation: dict, path_params):
    """{status: codes} an operation can answer, and the raises whose codes could not be read."""
    found = Findings()
    _walk(method_fn, found)
    secured = bool(operation.get("security"))
    if secured:
        for source in _auth_sources():
            _walk(source, found)
    has_body = "requestBody" in operation
    has_query = any(p.get("in") == "query" for p in operation.get("parameters", []) if isinstance(p, dict))
    if has_body or has_query:
        found.add(422, "validation.failed")
        for schema in _argument_schemas(method_fn):
            _schema_errors(schema, found, set())
    if has_body:
        found.add(400, errors._HTTP_DEFAULT_CODES[400])
        found.add(413, errors._HTTP_DEFAULT_CODES[413])
    if path_params:
        found.add(404, errors._HTTP_DEFAULT_CODES[404])
    if _rate_limited(view_func, method_fn):
        found.add(429, errors._HTTP_DEFAULT_CODES[429])
    if method in WRITE_METHODS:
        # The app's before_request hooks check what a write sends (its body); reads pass them by.
        for hook in _request_hooks(app):
            hook_found = Findings()
            _walk(hook, hook_found)
            for status, codes in hook_found.codes.items():
                found.codes.setdefault(status, set()).update(codes)
    found.codes = {s: c for s, c in found.codes.items() if 400 <= s < 500 or s == 503}
    return found


def _auth_sources():
    from volunteer_app.auth import tokens

    return (tokens.verify_request, tokens.init_jwt)


def _request_hooks(app: Flask) -> list:
    return [f for funcs in app.before_request_funcs.values() for f in funcs if _ours(f)]


def error_response(status: int, codes: set[str]) -> dict:
    ordered = sorted(codes)
    return {
        "description": f"{errors._STATUS_NAMES.get(status, 'Error')}: "
        + ", ".join(f"`{c}`" for c in ordered),
        "x-error-codes": ordered,
        "content": {
            "application/json": {
                "schema": {
                    "allOf": [
                        {"$ref": ERROR_REF},
                        {"properties": {"code": {"enum": [status]}, "error": {"enum": ordered}}},
                    ]
                },
                "examples": {
                    code: {"value": _example_body(status, code)}
                    for code in ordered
                    if code in errors.MESSAGES
                },
            }
        },
    }


def _example_body(status: int, code: str) -> dict:
    zh, _en = errors.MESSAGES[code]
    return {"code": status, "status": errors._STATUS_NAMES.get(status, "Error"), "error": code, "message": zh}


# ---- links ----------------------------------------------------------------------------------------

# Which response schema is which resource: (the path segment its operations hang under, the field that
# fills that segment's path parameter). Every operation whose path has `/<segment>/{param}` is linked
# from every answer that carries such a resource.
RESOURCES: dict[str, list[tuple[str, str]]] = {
    "OrderDetail": [("orders", "id")],
    "OrderOut": [("orders", "id")],
    "OrderSummary": [("orders", "id")],
    "AssignmentOut": [("assignments", "id")],
    "ActivityOut": [("activities", "id")],
    "ActivityDetail": [("activities", "id")],
    "SiteOut": [("sites", "id")],
    "SiteRef": [("sites", "id")],
    "TeamOut": [("teams", "id")],
    "CategoryOut": [("categories", "id")],
    "RewardOut": [("rewards", "id")],
    "RewardRef": [("rewards", "id")],
    "RedemptionOut": [("redemptions", "code")],
    "ApplicationOut": [("volunteer-applications", "id")],
    "ApplicationReviewOut": [("volunteer-applications", "id"), ("volunteers", "user_id")],
    "FamilyLinkOut": [("family-links", "id")],
    "FamilyLinkReviewOut": [("family-links", "id")],
    "CertificateSummary": [("certificates", "id")],
    "CertificateOut": [("certificates", "id"), ("verify", "verification_code")],
    "DeviceOut": [("devices", "id")],
    "RuleOut": [("service-day-rules", "id")],
    "TeamMemberOut": [("members", "user_id")],
    "TeamMemberCreated": [("members", "user_id")],
    "ManagerOut": [("managers", "user_id")],
    "GrantOut": [("managers", "user_id")],
}


def _ref_name(schema: dict) -> str | None:
    ref = schema.get("$ref", "")
    return ref.rsplit("/", 1)[-1] if ref.startswith("#/components/schemas/") else None


def _resource_pointers(schemas: dict, schema: dict, depth: int = 0) -> Iterator[tuple[str, str]]:
    """(path segment, JSON pointer of the id) for each resource inside a response schema."""
    name = _ref_name(schema)
    if name is not None:
        for segment, field in RESOURCES.get(name, ()):
            yield segment, "/" + field
        schema = schemas.get(name, {})
    if depth >= 3:
        return
    for prop, sub in (schema.get("properties") or {}).items():
        if sub.get("type") == "array" and isinstance(sub.get("items"), dict):
            for found, pointer in _resource_pointers(schemas, sub["items"], depth + 1):
                yield found, f"/{prop}/0{pointer}"
        else:
            for found, pointer in _resource_pointers(schemas, sub, depth + 1):
                yield found, f"/{prop}{pointer}"


def _path_parameters(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]


def _link_targets(paths: dict, segment: str) -> Iterator[tuple[str, str, dict, str]]:
    """(path, method, operation, parameter) of each operation keyed by `/<segment>/{parameter}`."""
    for path, item in paths.items():
        parts = path.split("/")
        for i, part in enumerate(parts[:-1]):
            if part == segment and parts[i + 1].startswith("{"):
                for method, operation in item.items():
                    if method != "parameters":
                        yield path, method, operation, parts[i + 1][1:-1]
                break


def add_links(paths: dict, schemas: dict) -> int:
    """Links from every 2xx answer carrying a resource to the operations on that resource. Returns how
    many links were written."""
    count = 0
    for source_path, item in paths.items():
        source_params = set(_path_parameters(source_path))
        for method, operation in item.items():
            if method == "parameters":
                continue
            for status, response in operation.get("responses", {}).items():
                if not status.startswith("2") or "content" not in response:
                    continue
                schema = response["content"].get("application/json", {}).get("schema", {})
                pointers: dict[str, str] = {}
                for segment, pointer in _resource_pointers(schemas, schema):
                    if segment not in pointers or len(pointer) < len(pointers[segment]):
                        pointers[segment] = pointer
                links = {}
                for segment, pointer in sorted(pointers.items()):
                    for path, target_method, target, parameter in _link_targets(paths, segment):
                        others = set(_path_parameters(path)) - {parameter}
                        if not others <= source_params or (path, target_method) == (source_path, method):
                            continue  # a parameter this answer cannot fill, or the operation itself
                        parameters = {parameter: f"$response.body#{pointer}"}
                        parameters |= {other: f"$request.path.{other}" for other in sorted(others)}
                        links[target["operationId"]] = {
                            "operationId": target["operationId"],
                            "parameters": parameters,
                        }
                if links:
                    response["links"] = links
                    count += len(links)
    return count


# ---- examples -------------------------------------------------------------------------------------

# Values that work against the demo data (`./dev serve`, volunteer_app/demo.py): station DEMO-ST-1 is
# site 4 at 30.2665,120.145 under institute 2; categories 1–12 (4 is elder care); demo volunteers are
# users 9–28 (phones 13700000001…), residents 29–33 (13600000001…); orders 3 and 4 are submitted,
# 1 and 2 open to grabbing; activities 1–9 are open at site 4; service-day rules 1–2; rewards 1–16;
# family link 1 is approved. Times are relative to the day the document is built (a service window
# may open at most 90 days ahead; a certificate covers days already past), written in UTC+8.
DEMO_PASSWORD = "demo-pass-2026"


class Day:
    """A day relative to the document's build date, as an RFC 3339 time at `at` (UTC+8) or a date."""

    def __init__(self, days: int, at: str | None = None):
        self.days, self.at = days, at

    def render(self, today) -> str:
        day = today + timedelta(days=self.days)
        return day.isoformat() if self.at is None else f"{day.isoformat()}T{self.at}:00+08:00"


START = Day(7, "09:00")
END = Day(7, "11:00")
ADDRESS = "杭州市西湖区 宝石社区 3 幢 2 单元 301"
HERE = {"lat": 30.2668, "lng": 120.1452}

PATH_EXAMPLES: dict[str, Any] = {
    "site_id": 4,
    "order_id": 3,
    "assignment_id": 1,
    "activity_id": 1,
    "application_id": 1,
    "team_id": 1,
    "user_id": 9,
    "category_id": 4,
    "reward_id": 1,
    "link_id": 1,
    "certificate_id": 1,
    "device_id": 1,
    "rule_id": 1,
    "code": "ABCD2345",
}

# Where one id suits a path better than the shared one (an order still open to grabbing, another one
# still submitted, an activity other than the one the cancel example uses).
PATH_EXAMPLES_BY_PATH: dict[str, dict[str, Any]] = {
    "/api/v1/orders/{order_id}/grab": {"order_id": 1},
    "/api/v1/orders/{order_id}/reject": {"order_id": 4},
    "/api/v1/activities/{activity_id}/signup": {"activity_id": 2},
    "/api/v1/activities/{activity_id}/signups": {"activity_id": 2},
}

QUERY_EXAMPLES: dict[str, Any] = {
    "limit": 20,
    "lat": 30.26,
    "lng": 120.14,
    "radius_m": 3000,
    "category_id": 4,
    "site_id": 4,
    "parent_id": 2,
    "kind": ("station", "days_of_month"),  # sites; a service-day rule's preview
    "q": "宝石",
    "month": "2026-11",
    "scope": "managed",
    # a service-day rule's preview
    "days": [5, 15, 25],
    "part_of_day": "afternoon",
    "start_time": "14:30",
    "end_time": "17:30",
    "count": 6,
}

BODY_EXAMPLES: dict[str, dict[str, Any]] = {
    "RegisterIn": {
        "phone": "13600000099",
        "password": "my-long-passphrase",
        "name": "居民六",
        "home_site_id": 4,
    },
    "LoginIn": {"phone": "13700000001", "password": DEMO_PASSWORD},
    "SmsCodeIn": {"phone": "13600000001"},
    "SmsLoginIn": {"phone": "13600000001", "code": "123456"},
    "PasswordChangeIn": {"current_password": DEMO_PASSWORD, "new_password": "a-new-long-passphrase"},
    "MePatch": {"name": "王伟", "home_site_id": 4},
    "ApplicationIn": {
        "real_name": "赵敏",
        "id_number": "11010519491231002X",
        "site_id": 4,
        "skills": ["陪伴聊天", "急救"],
        "category_ids": [4, 5],
    },
    "RejectIn": {"reason": "身份证号与姓名不符，请核对后重新申请"},
    "ManagerIn": {"user_id": 9},
    "TeamMemberIn": {"user_id": 9, "leader": False},
    "SiteIn": {
        "kind": "station",
        "name": "曙光社区新时代文明实践站",
        "parent_id": 2,
        "code": "DEMO-ST-9",
        "address": "杭州市西湖区 曙光路 12 号",
        "lat": 30.2700,
        "lng": 120.1400,
    },
    "SettingsValues": {"checkin_radius_m": 300, "grab_window_minutes": 720},
    "TeamIn": {"name": "宝石社区助老服务队", "description": "上门探访独居老人"},
    "CategoryIn": {"code": "meal_delivery", "name_zh": "助餐送餐", "name_en": "Meal delivery", "sort": 12},
    "CategoryPatch": {"name_en": "Caring for the elderly", "sort": 3},
    "AdjustmentIn": {"user_id": 9, "minutes": 30, "reason": "补录 11 月 5 日社区义诊服务"},
    "RewardIn": {
        "kind": "goods",
        "title": "爱心超市 鸡蛋一盒",
        "description": "到爱心超市领取鸡蛋一盒（10 枚）",
        "price_minutes": 60,
        "stock": 30,
    },
    "RewardPatch": {"stock": 40},
    "RedeemIn": {"reward_id": 1},
    "FamilyLinkIn": {"relative_phone": "13600000002", "relation": "parent"},
    "LinkRejectIn": {"reason": "无法核实亲属关系"},
    "GiftIn": {"minutes": 30, "family_link_id": 1},
    "CertificateIn": {"date_from": Day(-120), "date_to": Day(-1)},
    "MarkReadIn": {"all": True},
    "DeviceIn": {"platform": "android", "token": "fcm-token-0123456789abcdef", "app_version": "1.4.0"},
    "OrderIn": {
        "category_id": 4,
        "title": "陪老人去医院复查",
        "description": "上午去浙大一院复查，需要一人陪同挂号取药",
        "address": ADDRESS,
        **HERE,
        "start_at": START,
        "end_at": END,
        "volunteers_needed": 1,
        "target_groups": ["elderly_alone"],
    },
    "DispatchIn": {
        "mode": "grab",
        "capacity": 1,
        "note": "需要会用轮椅",
    },
    "OfferIn": {"volunteer_ids": [9, 10]},
    "ReasonIn": {"reason": "老人家属已安排陪同"},
    "RatingIn": {"stars": 5, "comment": "志愿者很耐心，谢谢"},
    "AuditIn": {"confirm_computed": True, "note": "签到签退时间无误，按实际时长确认"},
    "ActivityIn": {
        "category_id": 9,
        "title": "西湖边环境整治",
        "theme": "每月志愿服务日",
        "description": "捡拾垃圾、劝导文明游览",
        "address": "宝石社区新时代文明实践站文明实践广场",
        **HERE,
        "start_at": Day(6, "14:30"),
        "end_at": Day(6, "17:30"),
        "slots": 20,
        "waitlist_max": 5,
    },
    "RuleIn": {
        "spec": {
            "kind": "days_of_month",
            "days": [5, 15, 25],
            "part_of_day": "afternoon",
            "start_time": "14:30",
            "end_time": "17:30",
        },
        "theme": "每月志愿服务日",
        "title": "社区环境整治",
        "category_id": 9,
        "address": "宝石社区新时代文明实践站文明实践广场",
        **HERE,
        "slots": 20,
        "waitlist_max": 5,
    },
    "RulePatch": {"active": False},
    "_Empty": {},
    "OptionalReasonIn": {"reason": "临时有事，无法前往"},
    "PositionIn": dict(HERE),
    "CloseIn": {"reason": "志愿者忘记签退，按服务记录补登", "checkout_at": END},
}


# Patterns the server holds query values to (documented so generators and fuzzers know them).
CURSOR_PATTERN = "^[A-Za-z0-9_-]*$"  # base64url without padding, as pagination writes them (empty: none)
DATE_PATTERN = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


def _query_patterns() -> dict[str, str]:
    from volunteer_app.activities import rules

    return {
        "cursor": CURSOR_PATTERN,
        "start_time": f"^{rules._HHMM.pattern}$",
        "end_time": f"^{rules._HHMM.pattern}$",
        "dates": f"^{rules._MMDD.pattern}$",  # items
    }


def add_patterns(paths: dict, schemas: dict) -> None:
    """Cursor, date and time patterns on query parameters; every `format: date` gets its pattern."""
    patterns = _query_patterns()
    for item in paths.values():
        for method, operation in item.items():
            if method == "parameters":
                continue
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema")
                if parameter.get("in") != "query" or schema is None:
                    continue
                target = schema["items"] if schema.get("type") == "array" else schema
                if parameter["name"] in patterns and target.get("type") == "string":
                    target.setdefault("pattern", patterns[parameter["name"]])
                if target.get("format") == "date":
                    target.setdefault("pattern", DATE_PATTERN)
    for schema in schemas.values():
        for prop in (schema.get("properties") or {}).values():
            if prop.get("format") == "date":
                prop.setdefault("pattern", DATE_PATTERN)


def _fits(value: Any, schema: dict) -> bool:
    """Whether an example suits a parameter (the same name means different things on some paths)."""
    if "enum" in schema:
        return value in schema["enum"]
    kinds = {"integer": int, "number": int | float, "string": str, "boolean": bool, "array": list}
    kind = kinds.get(schema.get("type", ""))
    return kind is None or (isinstance(value, kind) and not (isinstance(value, bool) and kind is not bool))


def _render(value: Any, today) -> Any:
    if isinstance(value, Day):
        return value.render(today)
    if isinstance(value, dict):
        return {k: _render(v, today) for k, v in value.items()}
    return value


def example(schema_name: str) -> dict:
    """The example body of a request schema, as the document shows it today."""
    return _render(BODY_EXAMPLES[schema_name], datetime.now(UTC).date())


def add_examples(paths: dict, schemas: dict) -> None:
    today = datetime.now(UTC).date()
    for name, example in BODY_EXAMPLES.items():
        if name in schemas:
            schemas[name]["example"] = _render(example, today)
    for path, item in paths.items():
        path_examples = PATH_EXAMPLES | PATH_EXAMPLES_BY_PATH.get(path, {})
        for parameter in item.get("parameters", []):
            if parameter.get("in") == "path" and parameter["name"] in path_examples:
                parameter["example"] = path_examples[parameter["name"]]
        for method, operation in item.items():
            if method == "parameters":
                continue
            for parameter in operation.get("parameters", []):
                if parameter.get("in") != "query" or parameter.get("name") not in QUERY_EXAMPLES:
                    continue
                value = QUERY_EXAMPLES[parameter["name"]]
                for candidate in value if isinstance(value, tuple) else (value,):
                    if _fits(candidate, parameter["schema"]):
                        parameter["example"] = candidate
                        break


# ---- the whole document ---------------------------------------------------------------------------


def _operation_id(endpoint: str, method: str) -> str:
    """`orders.OrderDispatch` + post → `postOrderDispatch` (the view class names are unique per API)."""
    return method + endpoint.rsplit(".", 1)[-1][:1].upper() + endpoint.rsplit(".", 1)[-1][1:]


def complete(app: Flask, spec) -> None:
    """Add error responses, operation ids, examples and links to the document flask-smorest built.

    Called once all blueprints are registered (create_app)."""
    from flask_smorest.spec.plugins import FlaskPlugin

    document = spec.to_dict()  # the spec's own path and component dicts: completed in place
    paths, schemas = document["paths"], document["components"]["schemas"]
    ids: dict[str, str] = {}
    for rule in app.url_map.iter_rules():
        item = paths.get(FlaskPlugin.flaskpath2openapi(rule.rule))
        if item is None:
            continue
        view_func = app.view_functions[rule.endpoint]
        view_class = getattr(view_func, "view_class", None)
        for method, operation in item.items():
            if method == "parameters" or method.upper() not in rule.methods:
                continue
            operation_id = _operation_id(rule.endpoint, method)
            if operation_id in ids:
                raise RuntimeError(
                    f"operation id {operation_id} of {rule.endpoint} taken by {ids[operation_id]}"
                )
            ids[operation_id] = rule.endpoint
            operation["operationId"] = operation_id
            method_fn = getattr(view_class, method) if view_class is not None else view_func
            found = operation_errors(app, view_func, method, method_fn, operation, list(rule.arguments))
            responses = operation.setdefault("responses", {})
            for status in sorted(found.codes):
                responses[str(status)] = error_response(status, found.codes[status])
    add_patterns(paths, schemas)
    add_examples(paths, schemas)
    add_links(paths, schemas)
