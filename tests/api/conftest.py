"""Fixtures of the API-wide tests: the app's own OpenAPI document."""

from __future__ import annotations

import pytest

from tests.api.helpers import OPENAPI


@pytest.fixture(scope="module")
def document(app) -> dict:
    """The OpenAPI document the app serves."""
    return app.test_client().get(OPENAPI).get_json()
