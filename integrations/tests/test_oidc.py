"""OpenID Connect sign-in per organization, against a test identity provider served over real HTTP on loopback
(discovery document, JWKS, token and userinfo endpoints, ID tokens signed with its RSA key)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from django.urls import reverse
from jwcrypto import jwk, jwt

from audit.models import AuditEntry
from integrations.sso.services import oidc_configure
from orgs.models import Membership, Role, User
from orgs.tenancy import memberships_of
from orgs.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
CLIENT_ID = "connect-client"


class IdentityProvider:
    def __init__(self) -> None:
        self.key = jwk.JWK.generate(kty="RSA", size=2048, kid="idp-key")
        self.signing_key = self.key  # tests swap in another key to forge tokens
        self.claims_override: dict = {}
        self.discovery_override: dict = {}  # tests point endpoints elsewhere
        self.userinfo_override: dict = {}
        self.token_override: dict = {}  # a None value leaves the key out
        self.nonce = None
        self.email = "dan@acme-corp.test"
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def _json(self, data):
                body = json.dumps(data).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802
                if self.path.startswith("/.well-known/openid-configuration"):
                    self._json(
                        {
                            "issuer": idp.url,
                            "authorization_endpoint": f"{idp.url}/authorize",
                            "token_endpoint": f"{idp.url}/token",
                            "userinfo_endpoint": f"{idp.url}/userinfo",
                            "jwks_uri": f"{idp.url}/jwks",
                            "token_endpoint_auth_methods_supported": ["client_secret_post"],
                            **idp.discovery_override,
                        }
                    )
                elif self.path.startswith("/jwks"):
                    self._json({"keys": [json.loads(idp.key.export_public())]})
                elif self.path.startswith("/userinfo"):
                    self._json(
                        {
                            "sub": "dan-1",
                            "email": idp.email,
                            "email_verified": True,
                            "name": "Dan Doe",
                            **idp.userinfo_override,
                        }
                    )
                else:
                    self.send_error(404)

            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                now = int(time.time())
                claims = {
                    "iss": idp.url,
                    "aud": CLIENT_ID,
                    "sub": "dan-1",
                    "email": idp.email,
                    "email_verified": True,
                    "iat": now,
                    "exp": now + 300,
                    "nonce": idp.nonce,
                    **idp.claims_override,
                }
                token = jwt.JWT(header={"alg": "RS256", "kid": "idp-key"}, claims=claims)
                token.make_signed_token(idp.signing_key)
                answer = {
                    "access_token": "at-1",
                    "token_type": "Bearer",
                    "expires_in": 300,
                    "id_token": token.serialize(),
                }
                answer.update(idp.token_override)
                self._json({k: v for k, v in answer.items() if v is not None})

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def idp_on_loopback(settings):
    """The test identity provider listens on 127.0.0.1 over plain HTTP: allowed here explicitly, as an operator
    would allow an internal identity provider; 127.0.0.2 and everything else stay refused."""
    settings.CONNECT_OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.CONNECT_OUTBOUND_ALLOW_HTTP = True


def configure_acme(acme, issuer: str, *, require_sso: bool = False) -> None:
    """Acme signs in people of acme-corp.test through the test IdP, as agents."""
    oidc_configure(
        organization=acme,
        issuer=issuer,
        client_id=CLIENT_ID,
        client_secret="s3cret",
        email_domains=["acme-corp.test"],
        default_role=Role.AGENT,
        require_sso=require_sso,
    )


@pytest.fixture
def idp(acme):
    provider = IdentityProvider()
    configure_acme(acme, provider.url)
    yield provider
    provider.close()


def sign_in_through_idp(client, idp, email="dan@acme-corp.test"):
    routed = client.post(reverse("account_login"), {"login": email, "password": ""})
    assert routed.status_code == 302 and routed["Location"] == "/accounts/oidc/org-acme/login/"
    to_idp = client.get(routed["Location"])
    assert to_idp.status_code == 302 and to_idp["Location"].startswith(f"{idp.url}/authorize")
    query = parse_qs(urlparse(to_idp["Location"]).query)
    idp.nonce = query.get("nonce", [None])[0]
    callback = urlparse(query["redirect_uri"][0]).path
    return client.get(callback, {"code": "code-1", "state": query["state"][0]})


def test_first_sign_in_provisions_a_member_of_the_right_organization(client, idp, globex):
    response = sign_in_through_idp(client, idp)
    assert response.status_code == 302, response.content[:500]
    dan = User.objects.get(email="dan@acme-corp.test")
    assert memberships_of(dan).get().organization.slug == "acme"
    assert memberships_of(dan).get().role == Role.AGENT
    assert client.get(reverse("org_dashboard", args=["acme"])).status_code == 200
    assert AuditEntry.objects.filter(
        organization__slug="acme", action="sso.provisioned", actor_id=dan.public_id
    ).exists()
    # Through the membership service: the organization's log (and its member.added event) say he joined.
    added = AuditEntry.objects.filter(organization__slug="acme", action="member.added", target_id=dan.public_id)
    assert added.get().data == {"role": "agent"}


@pytest.mark.parametrize(
    "forgery",
    ["other_key", "wrong_audience", "expired", "wrong_issuer"],
)
def test_forged_or_stale_id_tokens_are_refused(client, idp, forgery):
    if forgery == "other_key":
        idp.signing_key = jwk.JWK.generate(kty="RSA", size=2048, kid="idp-key")
    elif forgery == "wrong_audience":
        idp.claims_override = {"aud": "someone-else"}
    elif forgery == "expired":
        idp.claims_override = {"exp": int(time.time()) - 600, "iat": int(time.time()) - 900}
    else:
        idp.claims_override = {"iss": "https://evil.example"}
    sign_in_through_idp(client, idp)
    assert not User.objects.filter(email="dan@acme-corp.test").exists()
    assert client.get(reverse("org_dashboard", args=["acme"])).status_code == 302


def test_an_address_outside_the_domains_is_refused(client, idp):
    idp.email = "eve@elsewhere.test"
    sign_in_through_idp(client, idp)
    assert not User.objects.filter(email="eve@elsewhere.test").exists()


def test_required_sso_turns_off_passwords_but_owners_keep_break_glass(client, acme, alice, bob, idp):
    configure_acme(acme, idp.url, require_sso=True)
    refused = client.post(reverse("account_login"), {"login": "bob@acme.test", "password": PASSWORD})
    assert refused.status_code == 403 and "passwords are turned off" in refused.content.decode()
    assert client.get(reverse("org_dashboard", args=["acme"])).status_code == 302
    owner = client.post(reverse("account_login"), {"login": "alice@acme.test", "password": PASSWORD})
    assert owner.status_code == 302
    assert client.get(reverse("org_dashboard", args=["acme"])).status_code == 200


def test_break_glass_for_an_sso_address_is_audited(client, acme, idp):
    from orgs.tests.factories import UserFactory

    owner = UserFactory(email="root@acme-corp.test")
    Membership.objects.create(organization=acme, user=owner, role=Role.OWNER)
    response = client.post(
        reverse("account_login"), {"login": "root@acme-corp.test", "password": PASSWORD, "break_glass": "1"}
    )
    assert response.status_code == 302
    assert AuditEntry.objects.for_org(acme).filter(action="sso.break_glass", actor_id=owner.public_id).exists()


def test_token_endpoint_refuses_passwords_where_sso_is_required(acme, bob, idp):
    from rest_framework.test import APIClient

    configure_acme(acme, idp.url, require_sso=True)
    response = APIClient().post(
        "/api/v1/auth/token",
        {"email": "bob@acme.test", "password": PASSWORD, "device": {"name": "x", "platform": "ios"}},
        format="json",
    )
    assert response.status_code == 403 and response.json()["error"]["code"] == "sso_required"


def test_org_admin_configures_sso_for_verified_domains_only(client, acme, carol, bob, globex, gina):
    from allauth.socialaccount.models import SocialApp

    from integrations.models import OrganizationSSO

    url = reverse("org_settings", args=["acme"])
    client.force_login(carol)
    assert "needs a verified e-mail domain" in client.get(url).content.decode()
    OrganizationSSO.objects.create(organization=acme, verified_domains=["acme-corp.test"])  # verified by support
    form = {
        "section": "sso",
        "oidc_issuer": "https://127.0.0.1:8443",  # checked when saved (idp_on_loopback allows it), not fetched
        "oidc_client_id": "connect",
        "oidc_client_secret": "s3cret",
        "email_domains": ["acme-corp.test"],
        "default_role": "agent",
    }
    hijack = client.post(url, {**form, "email_domains": ["gmail.com"]})
    assert hijack.status_code == 400 and not SocialApp.objects.exists()
    assert client.post(url, form).status_code == 302
    app = SocialApp.objects.get(provider_id="org-acme")
    assert app.client_id == "connect" and app.secret == "s3cret"
    # Saving again without a secret keeps the current one.
    assert client.post(url, {**form, "oidc_client_secret": "", "require_sso": "on"}).status_code == 302
    app.refresh_from_db()
    assert app.secret == "s3cret" and OrganizationSSO.objects.get(organization=acme).require_sso

    client.force_login(bob)
    assert client.post(url, form).status_code == 403
    client.force_login(gina)
    assert client.post(url, form).status_code == 404


def test_sign_in_page_does_not_list_organizations(client, idp):
    page = client.get(reverse("account_login")).content.decode()
    assert "Acme Inc" not in page and "org-acme" not in page and "Sign Up Closed" not in page


def test_a_discovery_document_naming_another_issuer_is_refused(client, idp):
    idp.discovery_override = {"issuer": "https://evil.example"}
    routed = client.post(reverse("account_login"), {"login": "dan@acme-corp.test", "password": ""})
    response = client.get(routed["Location"])
    assert response.status_code == 502 and "Location" not in response


def test_the_code_exchange_uses_pkce(client, idp):
    routed = client.post(reverse("account_login"), {"login": "dan@acme-corp.test", "password": ""})
    to_idp = client.get(routed["Location"])
    query = parse_qs(urlparse(to_idp["Location"]).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) >= 43
