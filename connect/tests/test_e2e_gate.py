"""Suites needing a missing binary skip, naming the make target; CONNECT_REQUIRE_E2E=1 turns that into a failure."""

import pytest

from conftest import require_binary


def test_missing_binary_skips_with_the_make_target(monkeypatch):
    monkeypatch.delenv("CONNECT_REQUIRE_E2E", raising=False)
    with pytest.raises(pytest.skip.Exception, match="make e2e-deps"):
        require_binary("/nonexistent/chromium", "e2e-deps")


def test_missing_binary_fails_when_e2e_is_required(monkeypatch):
    monkeypatch.setenv("CONNECT_REQUIRE_E2E", "1")
    with pytest.raises(pytest.fail.Exception, match="CONNECT_REQUIRE_E2E=1"):
        require_binary("/nonexistent/chromium", "e2e-deps")


def test_present_binary_is_returned():
    assert require_binary("sh", "e2e-deps").endswith("sh")
