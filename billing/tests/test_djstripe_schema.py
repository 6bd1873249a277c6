"""dj-stripe's tables come from billing/djstripe_migrations: it must still describe dj-stripe's models exactly."""

from io import StringIO

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_the_djstripe_migration_matches_the_installed_djstripe():
    out = StringIO()
    # --check exits non-zero (SystemExit) when a migration would be written; --dry-run writes nothing.
    call_command("makemigrations", "djstripe", "--check", "--dry-run", stdout=out, stderr=out)
    assert "No changes detected" in out.getvalue()
