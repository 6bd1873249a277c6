"""BizGaze suite sign-in (/sso): per-organization HMAC tokens, expiry at most 5 minutes ahead, single-use nonces."""

import time
import uuid

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from integrations.models import OrganizationSSO
from integrations.sso.services import make_token
from orgs.models import Membership, Role, User

pytestmark = pytest.mark.django_db
SECRET = "bizgaze-shared-secret-for-acme"


@pytest.fixture
def sso(acme):
    return OrganizationSSO.objects.create(organization=acme, bizgaze_secret=SECRET, default_role=Role.AGENT)


def token(**overrides):
    claims = {
        "email": "dan@acme.test",
        "name": "Dan",
        "org": "acme",
        "exp": int(time.time()) + 120,
        "nonce": uuid.uuid4().hex,
    }
    claims.update(overrides)
    return make_token(overrides.pop("secret", SECRET), {k: v for k, v in claims.items() if k != "secret"})


def test_first_sign_in_provisions_the_member(client, sso):
    response = client.get(reverse("bizgaze_sso"), {"token": token()})
    assert response.status_code == 302
    dan = User.objects.get(email="dan@acme.test")
    assert Membership.objects.for_org(sso.organization).get(user=dan).role == Role.AGENT
    assert client.get(reverse("org_dashboard", args=["acme"])).status_code == 200
    assert (
        AuditEntry.objects.for_org(sso.organization)
        .filter(action="sso.bizgaze_sign_in", actor_id=dan.public_id)
        .exists()
    )


def test_existing_member_keeps_the_role(client, sso, alice):
    client.get(reverse("bizgaze_sso"), {"token": token(email="alice@acme.test")})
    assert Membership.objects.for_org(sso.organization).get(user=alice).role == Role.OWNER


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"secret": "another-secret"}, "signature is not valid"),
        ({"exp": int(time.time()) - 1}, "expired"),
        ({"exp": int(time.time()) + 3600}, "too long"),
        ({"org": "globex"}, "does not accept"),
        ({"email": 42}, "missing"),
    ],
)
def test_bad_tokens_are_refused_and_change_nothing(client, sso, globex, claims, message):
    response = client.get(reverse("bizgaze_sso"), {"token": token(**claims)})
    assert response.status_code == 401 and message in response.content.decode()
    assert not User.objects.filter(email="dan@acme.test").exists()


def test_a_nonce_works_once(client, sso):
    once = token()
    assert client.get(reverse("bizgaze_sso"), {"token": once}).status_code == 302
    client.logout()
    replay = client.get(reverse("bizgaze_sso"), {"token": once})
    assert replay.status_code == 401 and "already used" in replay.content.decode()


@pytest.mark.parametrize("garbage", ["", "no-dot", "a.b.c", "!!!.???", "x" * 5000])
def test_malformed_tokens(client, sso, garbage):
    assert client.get(reverse("bizgaze_sso"), {"token": garbage}).status_code == 401
