"""Operations: what /metrics reads from the database (collector.py), `flask doctor` (doctor.py), optional
error reports to Sentry (sentry.py); `init_app` wires them into an app. docs/ops/metrics.md."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from volunteer_app import metrics
    from volunteer_app.ops import collector, sentry

    sentry.init_app(app)
    metrics.init_app(app, collectors=[collector.collector])
