import re

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from integrations.credentials.services import api_key_create
from integrations.models import APIKey
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
    assert not APIKey.objects.for_org(acme).exists()


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


def test_admin_manages_webhooks_from_the_page(
    client, acme, carol, globex, gina, settings, django_capture_on_commit_callbacks
):
    from integrations.models import WebhookEndpoint

    settings.CONNECT_OUTBOUND_ALLOW_HTTP = True
    settings.CONNECT_OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    client.force_login(carol)
    url = reverse("org_webhooks", args=["acme"])
    # Port 9 (discard) on loopback: nothing listens, so the test delivery fails without leaving the machine.
    response = client.post(url, {"url": "http://127.0.0.1:9/connect", "event_types": ["session.ended"]})
    assert response.status_code == 201
    page = response.content.decode()
    secret = re.search(r'id="new-secret">(whsec_[^<]+)<', page).group(1)
    endpoint = WebhookEndpoint.objects.for_org(acme).get()
    assert endpoint.secret == secret and endpoint.event_types == ["session.ended"]
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, {"action": "test", "endpoint": endpoint.public_id})  # nothing listens: a failed attempt
    listing = client.get(url).content.decode()
    assert "webhook.test" in listing and "Pending" in listing and "Redeliver" in listing
    client.post(url, {"action": "disable", "endpoint": endpoint.public_id})
    endpoint.refresh_from_db()
    assert not endpoint.enabled
    listing = client.get(url).content.decode()
    assert "127.0.0.1:9/connect" in listing and "disabled" in listing and secret not in listing
    # Globex's admin cannot touch Acme's endpoint through Globex's page.
    client.force_login(gina)
    assert (
        client.post(
            reverse("org_webhooks", args=["globex"]), {"action": "delete", "endpoint": endpoint.public_id}
        ).status_code
        == 404
    )
    assert WebhookEndpoint.objects.for_org(acme).filter(pk=endpoint.pk).exists()


def test_agent_cannot_add_webhooks(client, acme, bob):
    client.force_login(bob)
    assert client.get(reverse("org_webhooks", args=["acme"])).status_code == 403
