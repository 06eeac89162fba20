"""What every webhooks test module shares: a receiver of its own for the module."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.webhooks.support import Receiver


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    """The endpoints' HTTP server, one per module (its tests read only their own endpoints)."""
    r = await Receiver().start()
    yield r
    await r.stop()
