"""Each operation's error responses, read from the code: the view's decorators and the functions it
calls (transitively, within volunteer_app) are parsed for the DomainErrors they can raise, and the auth
decorator, the argument parser, the rate limiter and the router add theirs (401 and 403 from
`auth_required`, 422 and 400 from a body or query schema, 429 from `limiter.limit`, 404 from a path id).
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
from typing import Any

import marshmallow as ma
from flask import Flask

from volunteer_app import errors

ERROR_REF = "#/components/schemas/Error"
WRITE_METHODS = ("post", "put", "patch", "delete")
_PACKAGE = "volunteer_app."
CALLS_ATTRIBUTE = "__apidoc_calls__"  # set by apidoc.calls: functions a view reaches by name


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
    edges += [(extra, ()) for extra in getattr(fn, CALLS_ATTRIBUTE, ())]
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


def walk(fn: types.FunctionType, found: Findings) -> None:
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
            walk(hook, found)
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
    walk(method_fn, found)
    secured = bool(operation.get("security"))
    if secured:
        for source in _auth_sources():
            walk(source, found)
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
    if secured and method in WRITE_METHODS:
        # A write sent with the console's cookie instead of a bearer token needs its CSRF value.
        found.add(403, "auth.csrf")
    if method in WRITE_METHODS:
        # The app's before_request hooks check what a write sends (its body); reads pass them by.
        for hook in _request_hooks(app):
            hook_found = Findings()
            walk(hook, hook_found)
            for status, codes in hook_found.codes.items():
                found.codes.setdefault(status, set()).update(codes)
    found.codes = {s: c for s, c in found.codes.items() if 400 <= s < 500 or s == 503}
    return found


def _auth_sources():
    from volunteer_app.auth import tokens

    return (tokens.verify_request, tokens.init_jwt)


def _request_hooks(app: Flask) -> list:
    return [f for funcs in app.before_request_funcs.values() for f in funcs if _ours(f)]


def documented_error(status: int, codes: set[str]) -> dict:
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
