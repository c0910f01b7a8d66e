"""Patterns the server holds query values to (cursor, date, time), documented so generators and fuzzers
know them.
"""

from __future__ import annotations

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
