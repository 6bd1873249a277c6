"""Fixtures of the signaling suites."""

import pytest

from signaling import consumers


@pytest.fixture(autouse=True)
def _no_stray_grace_timers():
    """A test that leaves a party disconnected starts its reconnect grace timer; none outlives the test."""
    yield
    for task in list(consumers.grace_timers):
        task.cancel()
