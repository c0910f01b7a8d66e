"""The app's routes as collection time knows them (an app built only to read its url_map), for tests
that enumerate the console's routes, and the API's writes, instead of listing them by hand."""

from __future__ import annotations

import re

from volunteer_app import create_app

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_APP = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
RULES = sorted(_APP.url_map.iter_rules(), key=lambda rule: (rule.rule, rule.endpoint))
CONSOLE_GETS = [rule for rule in RULES if rule.endpoint.startswith("console.") and "GET" in rule.methods]
# (rule, method) for every write of the API and the console.
WRITE_ROUTES = [
    (rule, method)
    for rule in RULES
    if rule.rule.startswith(("/api/", "/console/"))
    for method in sorted(rule.methods & WRITES)
]
_ARG = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def fill(rule, values: dict[str, str]) -> str:
    """The rule's path with each argument replaced by values[name]."""
    return _ARG.sub(lambda m: values[m.group(2)], rule.rule)


def converter(rule, name: str) -> str:
    """The converter of one of the rule's arguments ("default" when none is named)."""
    for found in _ARG.finditer(rule.rule):
        if found.group(2) == name:
            return found.group(1) or "default"
    raise KeyError(name)


def route_id(rule) -> str:
    return rule.endpoint.removeprefix("console.")
