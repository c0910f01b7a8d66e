"""The OpenAPI document beyond what flask-smorest writes: every operation's error responses with their
stable codes (codes.py, read from the code), operation ids, links between operations (links.py),
query patterns (patterns.py) and examples that work on the demo data (examples.py).

Each documented error names its codes in the description, in `x-error-codes` and as an `enum` on the
body's `error`, so a client generator and schemathesis both see them.
"""

from __future__ import annotations

from flask import Flask

from volunteer_app.apidoc.codes import CALLS_ATTRIBUTE, documented_error, operation_errors
from volunteer_app.apidoc.examples import add_examples
from volunteer_app.apidoc.links import add_links
from volunteer_app.apidoc.patterns import add_patterns


def calls(*functions):
    """Name the functions a view reaches in a way the code walk cannot read (a dispatch by name), so
    their errors are documented too."""

    def decorator(fn):
        setattr(fn, CALLS_ATTRIBUTE, functions)
        return fn

    return decorator


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
                responses[str(status)] = documented_error(status, found.codes[status])
    add_patterns(paths, schemas)
    add_examples(paths, schemas)
    add_links(paths, schemas)
