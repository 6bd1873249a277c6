"""A webhook URL that delivery would refuse is refused when it is saved: on the page and in the API, with a clear
message in the one error shape, and nothing saved (no endpoint, no audit entry).

Delivery's rules (connect.outbound): https (http too in debug), no credentials in the URL, and no address inside our
network: private, loopback, link-local, carrier-grade NAT, reserved, and names that resolve there.
"""

from __future__ import annotations

import socket

import pytest
from rest_framework.test import APIClient

from audit.models import AuditEntry
from connect.errors import ApplicationError
from integrations.models import WebhookEndpoint
from integrations.webhooks import services as webhooks

pytestmark = pytest.mark.django_db

REFUSED = [
    ("http://127.0.0.1:8000/hook", "not a public address"),
    ("http://localhost/hook", "not a public address"),
    ("http://10.1.2.3/hook", "not a public address"),
    ("http://192.168.1.20:8080/hook", "not a public address"),
    ("http://169.254.169.254/latest/meta-data/", "not a public address"),  # the cloud metadata service
    ("http://100.64.0.7/hook", "not a public address"),
    ("http://[::1]/hook", "not a public address"),
    ("http://[::ffff:10.0.0.1]/hook", "not a public address"),
    ("http://0.0.0.0/hook", "not a public address"),
    ("https://user:secret@hooks.example.com/x", "credentials"),
    ("ftp://hooks.example.com/x", "Only https and http"),
]


@pytest.fixture
def private_name(monkeypatch):
    """inside.example.com resolves to a private address (a DNS name pointing inside)."""
    real = socket.getaddrinfo

    def fake(host, *args, **kwargs):
        if host == "inside.example.com":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.9.8.7", 443))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return "https://inside.example.com/hook"


def _nothing_saved(acme) -> None:
    assert not WebhookEndpoint.objects.for_org(acme).exists()
    assert not AuditEntry.objects.for_org(acme).filter(action__startswith="webhook.").exists()


@pytest.mark.parametrize(("url", "why"), REFUSED)
def test_the_service_refuses_what_delivery_would_refuse(acme, url, why):
    with pytest.raises(ApplicationError) as refused:
        webhooks.endpoint_create(organization=acme, url=url)
    assert refused.value.code == "invalid_url" and refused.value.details == {"field": "url"}
    assert refused.value.message.startswith("This URL cannot receive webhooks: ")
    assert why in refused.value.message
    _nothing_saved(acme)


def test_a_name_that_resolves_inside_is_refused(acme, private_name):
    with pytest.raises(ApplicationError, match="inside.example.com resolves to 10.9.8.7"):
        webhooks.endpoint_create(organization=acme, url=private_name)
    _nothing_saved(acme)


def test_plain_http_is_refused_when_delivery_allows_only_https(acme, settings):
    settings.CONNECT_OUTBOUND_ALLOW_HTTP = False
    with pytest.raises(ApplicationError, match="Only https URLs are allowed"):
        webhooks.endpoint_create(organization=acme, url="http://93.184.215.14/hook")
    _nothing_saved(acme)


def test_public_addresses_and_names_not_resolving_yet_are_accepted(acme, monkeypatch):
    def unresolvable(host, *args, **kwargs):
        if host == "hooks.customer.example":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", 443))]

    monkeypatch.setattr(socket, "getaddrinfo", unresolvable)
    webhooks.endpoint_create(organization=acme, url="https://93.184.215.14/hook")
    # Deliveries retry and check the address again: a receiver whose DNS is not published yet can be added.
    webhooks.endpoint_create(organization=acme, url="https://hooks.customer.example/hook")
    assert WebhookEndpoint.objects.for_org(acme).count() == 2


def test_an_allowed_network_is_accepted_at_save_as_at_delivery(acme, receiver):
    """The operator's CONNECT_OUTBOUND_ALLOWED_NETWORKS (the receiver fixture allows loopback) counts at save too."""
    endpoint = webhooks.endpoint_create(organization=acme, url=receiver.url)
    assert endpoint.url == receiver.url


def test_the_page_shows_the_refusal_next_to_the_url_and_saves_nothing(client, acme, alice):
    client.force_login(alice)
    answer = client.post("/o/acme/webhooks/", {"action": "create", "url": "http://192.168.1.20/hook"})
    assert answer.status_code == 400
    html = answer.content.decode()
    assert 'role="alert"' in html
    assert "This URL cannot receive webhooks: 192.168.1.20 is not a public address" in html
    assert 'value="http://192.168.1.20/hook"' in html  # what was typed stays, to be corrected
    assert "Signing secret for" not in html
    _nothing_saved(acme)


def test_the_page_explains_the_rule_before_anyone_types(client, acme, alice):
    client.force_login(alice)
    html = client.get("/o/acme/webhooks/").content.decode()
    assert "addresses inside a private network (private, loopback, link-local) are refused" in html
    assert "docs/" not in html and ".md" not in html


@pytest.mark.parametrize(("url", "why"), REFUSED[:4] + REFUSED[-2:])
def test_the_api_refuses_in_the_one_error_shape(acme, carol, url, why):
    api = APIClient()
    api.force_login(carol)
    answer = api.post("/api/v1/webhooks", {"url": url, "event_types": ["session.ended"]}, format="json")
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] in ("invalid_url", "validation_error")  # DRF's URLField refuses some before the service
    assert set(error) == {"code", "message", "details"}
    if error["code"] == "invalid_url":
        assert why in error["message"] and error["details"] == {"field": "url"}
    _nothing_saved(acme)


def test_changing_a_saved_endpoint_to_an_internal_address_is_refused(acme, carol, gina, bob):
    endpoint = webhooks.endpoint_create(organization=acme, url="https://93.184.215.14/in")
    api = APIClient()
    api.force_login(carol)
    answer = api.patch(f"/api/v1/webhooks/{endpoint.public_id}", {"url": "http://10.0.0.5/steal"}, format="json")
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_url"
    endpoint.refresh_from_db()
    assert endpoint.url == "https://93.184.215.14/in"
    assert not AuditEntry.objects.for_org(acme).filter(action="webhook.updated").exists()
    # Another organization's owner cannot reach it at all; an agent of Acme may not change it.
    api.force_login(gina)
    assert (
        api.patch(f"/api/v1/webhooks/{endpoint.public_id}", {"url": "https://x.example/"}, format="json").status_code
        == 404
    )
    api.force_login(bob)
    assert (
        api.patch(f"/api/v1/webhooks/{endpoint.public_id}", {"url": "https://x.example/"}, format="json").status_code
        == 403
    )
    endpoint.refresh_from_db()
    assert endpoint.url == "https://93.184.215.14/in"
