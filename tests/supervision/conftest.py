from __future__ import annotations

import pytest

from tests.orders.conftest import Loop


@pytest.fixture
def loop(app, client) -> Loop:
    return Loop(app, client)
