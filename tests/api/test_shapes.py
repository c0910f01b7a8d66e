"""One shape for every resource (issue 11): DELETE answers 204 with no body everywhere; time fields
have one naming; orders and activities come back in the same style."""

from __future__ import annotations

import pytest

from tests.api.endpoints import ENDPOINTS
from tests.api.test_authz_matrix import COLUMNS, MATRIX

API = "/api/v1"


@pytest.fixture(scope="module")
def document(app) -> dict:
    return app.test_client().get(f"{API}/openapi.json").get_json()


def _operations(document: dict):
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method in ("get", "put", "post", "patch", "delete"):
                yield path, method, operation


def test_every_delete_is_documented_as_204_without_a_body(document):
    deletes = [(path, op) for path, method, op in _operations(document) if method == "delete"]
    assert len(deletes) >= 4, deletes
    for path, operation in deletes:
        ok = {status: r for status, r in operation["responses"].items() if status.startswith("2")}
        assert set(ok) == {"204"}, (path, sorted(ok))
        assert not ok["204"].get("content"), (path, ok["204"])


DELETES = sorted(key for key in ENDPOINTS if key.startswith("DELETE "))


@pytest.mark.parametrize("endpoint", DELETES)
def test_every_delete_answers_204_with_no_body(app, client, world, endpoint):
    """Each DELETE done by a caller the authorization matrix lets do it."""
    caller, target = next(
        column for column, cell in zip(COLUMNS, MATRIX[endpoint], strict=True) if cell in (200, 204)
    )
    url, body = ENDPOINTS[endpoint].request(app, world, target)
    response = client.delete(url, json=body, headers=world.people[caller].headers)
    assert (response.status_code, response.data) == (204, b""), response.get_data(as_text=True)[:300]
