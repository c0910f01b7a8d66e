"""Pluggable senders chosen by configuration: a built-in name, or "package.module:Class"."""

from __future__ import annotations

import importlib
from typing import Any

from flask import current_app


def configured(key: str, builtins: dict[str, type]) -> Any:
    """The app's instance for the `[app] <key>` setting, created once per app and kept in extensions."""
    ext = current_app.extensions
    if key not in ext:
        name = current_app.config["APP"][key]
        if name in builtins:
            ext[key] = builtins[name]()
        else:
            module, _, attr = name.partition(":")
            ext[key] = getattr(importlib.import_module(module), attr)()
    return ext[key]
