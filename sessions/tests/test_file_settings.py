"""The organization's file-transfer limit: set by its owners and admins on the settings page (sessions.files), shown
on the session pages, and nowhere else."""

from __future__ import annotations

import pytest

from orgs.models import Organization
from sessions import files

pytestmark = pytest.mark.django_db


def limit_of(slug: str) -> int | None:
    return Organization.objects.get(slug=slug).file_transfer_max_bytes


def test_the_owner_sets_a_limit_in_megabytes_and_the_page_shows_it(client, acme, globex, alice):
    client.force_login(alice)
    page = client.get("/o/acme/settings/")
    assert "File transfer" in page.text and "up to 100 MB" in page.text
    response = client.post("/o/acme/settings/", {"section": "files", "max_megabytes": "5"}, follow=True)
    assert "File transfer limit saved." in response.text and "up to 5 MB" in response.text
    assert limit_of("acme") == 5 * 1024 * 1024 and files.file_limit(Organization.objects.get(slug="acme")) == 5242880
    assert limit_of("globex") is None  # another organization keeps the default
    client.post("/o/acme/settings/", {"section": "files", "max_megabytes": ""})
    assert limit_of("acme") is None


@pytest.mark.parametrize("value", ["0", "2049", "abc", "-3"])
def test_a_limit_out_of_range_gets_a_clear_error_and_changes_nothing(client, acme, alice, value):
    client.force_login(alice)
    client.post("/o/acme/settings/", {"section": "files", "max_megabytes": "7"})
    response = client.post("/o/acme/settings/", {"section": "files", "max_megabytes": value})
    assert response.status_code == 400
    assert 'role="alert"' in response.text
    assert limit_of("acme") == 7 * 1024 * 1024


def test_an_agent_cannot_change_the_limit(client, acme, bob):
    client.force_login(bob)
    response = client.post("/o/acme/settings/", {"section": "files", "max_megabytes": "1"})
    assert response.status_code in (403, 404)
    assert limit_of("acme") is None


def test_another_organizations_owner_cannot_change_it(client, acme, globex, gina):
    client.force_login(gina)
    response = client.post("/o/acme/settings/", {"section": "files", "max_megabytes": "1"})
    assert response.status_code == 404
    assert limit_of("acme") is None


def test_the_service_refuses_a_limit_past_the_ceiling(acme, alice):
    from connect.errors import ApplicationError
    from orgs.services import organization_update_settings

    with pytest.raises(ApplicationError) as refused:
        organization_update_settings(organization=acme, actor=alice, file_transfer_max_bytes=3 * 1024**3)
    assert refused.value.code == "invalid_file_transfer_limit"
    assert limit_of("acme") is None
