"""Fixtures shared by every app's tests: two organizations (Acme, Globex) and their people.

bob of Acme must never reach Globex's objects: every endpoint test has such a case.
"""

from __future__ import annotations

import os
import shutil

import pytest

from orgs.models import Role
from orgs.tests.factories import MembershipFactory, OrganizationFactory, UserFactory

PASSWORD = "correct-horse-battery-staple"


def pytest_configure(config):
    from django.conf import settings

    # Threads (the live server, Channels' database_sync_to_async pool) must not keep connections open
    # past a test, or PostgreSQL refuses to drop the test database at the end.
    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0
    # pytest's own process opens connections per test, not from the pool; the servers the end-to-end suites start
    # run with the production settings, pool included.
    settings.DATABASES["default"].get("OPTIONS", {}).pop("pool", None)
    # Tasks run inline in tests, even where REDIS_URL makes Redis the broker: no worker runs beside pytest.
    from connect.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    _let_sqlite_flush_the_audit_log()


def _let_sqlite_flush_the_audit_log() -> None:
    """Transactional tests empty every table between tests: PostgreSQL with TRUNCATE, which row triggers do not
    see, SQLite with DELETE, which the audit log's append-only trigger refuses without a purge permit. Give the
    flush the permit the purge services take (tests only: production never flushes)."""
    from django.conf import settings

    if "sqlite" not in settings.DATABASES["default"]["ENGINE"]:
        return
    from django.db.backends.sqlite3.base import DatabaseOperations

    original = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        permit = [
            "INSERT INTO audit_purgepermit (organization_ref, up_to_seq) "
            "SELECT DISTINCT organization_id, 9223372036854775807 FROM audit_auditentry"
        ]
        entries = [sql for sql in sql_list if '"audit_auditentry"' in sql]
        rest = [sql for sql in sql_list if sql not in entries]
        return original(self, permit + entries + rest)

    DatabaseOperations.execute_sql_flush = execute_sql_flush


def require_binary(path: str, make_target: str) -> str:
    """Skip (or, with CONNECT_REQUIRE_E2E=1, fail) when an external binary a suite needs is missing."""
    found = shutil.which(path) or (path if os.path.exists(path) else None)
    if found:
        return found
    reason = f"{path} is not installed; `make {make_target}` installs it"
    if os.environ.get("CONNECT_REQUIRE_E2E") == "1":
        pytest.fail(reason + " (CONNECT_REQUIRE_E2E=1 makes this a failure)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def acme(db):
    return OrganizationFactory(name="Acme Inc", slug="acme")


@pytest.fixture
def globex(db):
    return OrganizationFactory(name="Globex", slug="globex")


@pytest.fixture
def alice(acme):
    """Owner of Acme."""
    return MembershipFactory(organization=acme, role=Role.OWNER, user__email="alice@acme.test").user


@pytest.fixture
def bob(acme):
    """Agent at Acme."""
    return MembershipFactory(organization=acme, role=Role.AGENT, user__email="bob@acme.test").user


@pytest.fixture
def carol(acme):
    """Admin at Acme."""
    return MembershipFactory(organization=acme, role=Role.ADMIN, user__email="carol@acme.test").user


@pytest.fixture
def gina(globex):
    """Owner of Globex."""
    return MembershipFactory(organization=globex, role=Role.OWNER, user__email="gina@globex.test").user


@pytest.fixture
def outsider(db):
    return UserFactory(email="olga@nowhere.test")


@pytest.fixture(autouse=True)
def _isolated_cache():
    """Redis-backed caches are shared across test runs; start every test from an empty one."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def receiver(settings):
    """A local HTTP server that records webhook deliveries; the outbound guard is told to allow loopback for it."""
    from integrations.tests.receiver import Receiver

    settings.CONNECT_OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.CONNECT_OUTBOUND_ALLOW_HTTP = True
    r = Receiver()
    yield r
    r.close()
