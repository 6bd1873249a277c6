import re

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from integrations.models import APIKey
from integrations.services import api_key_create
from orgs.tenancy import org_context_for_user

pytestmark = pytest.mark.django_db


def test_admin_creates_a_key_sees_it_once_and_it_works(client, acme, carol):
    client.force_login(carol)
    response = client.post(reverse("org_api_keys", args=["acme"]), {"name": "Zendesk", "scopes": ["members:read"]})
    assert response.status_code == 201
    secret = re.search(r'id="new-key">(cnk_[^<]+)<', response.content.decode()).group(1)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/v1/members").status_code == 200
    listing = client.get(reverse("org_api_keys", args=["acme"])).content.decode()
    assert "Zendesk" in listing and secret not in listing and secret[:12] in listing


def test_key_form_explains_scopes_above_the_creator(client, acme, carol):
    client.force_login(carol)
    response = client.post(reverse("org_api_keys", args=["acme"]), {"name": "x", "scopes": ["nonsense"]})
    assert response.status_code == 400
    assert not APIKey.objects.exists()


def test_agent_sees_no_key_page(client, acme, bob):
    client.force_login(bob)
    assert client.get(reverse("org_api_keys", args=["acme"])).status_code == 403


def test_revoke_is_scoped_to_the_organization(client, acme, globex, alice, gina):
    key, _ = api_key_create(org=org_context_for_user(gina, "globex"), name="g", scopes=["members:read"])
    client.force_login(alice)
    assert client.post(reverse("api_key_revoke", args=["acme", key.public_id])).status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None
    own, _ = api_key_create(org=org_context_for_user(alice, "acme"), name="a", scopes=["members:read"])
    assert client.post(reverse("api_key_revoke", args=["acme", own.public_id])).status_code == 302
    own.refresh_from_db()
    assert own.revoked_at is not None
