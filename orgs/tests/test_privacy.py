"""People and organizations leaving (GDPR articles 15, 17, 20): export, erasure, organization deletion and purge."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib.admin.sites import site as admin_site
from django.contrib.messages.storage.fallback import FallbackStorage
from django.db import connection, models
from django.test import RequestFactory
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEntry
from audit.services import ERASED_LABEL, audit_record, audit_verify
from connect.errors import Conflict, Forbidden
from integrations.models import APIKey, Application
from integrations.tests.factories import (
    APIKeyFactory,
    ApplicationFactory,
    DeliveryAttemptFactory,
    OrganizationSSOFactory,
)
from orgs import privacy
from orgs.models import Device, DeviceToken, Membership, Organization, Role, User
from orgs.tasks import purge_deleted_organizations
from orgs.tests.factories import PASSWORD, DeviceTokenFactory, InvitationFactory, MembershipFactory, UserFactory
from sessions.models import SessionEvent, Status, SupportSession
from sessions.tests.factories import SessionEventFactory, SupportSessionFactory

pytestmark = pytest.mark.django_db


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def entries(organization, **lookup):
    return AuditEntry.objects.for_org(organization).filter(**lookup)


def sessions_of(organization):
    return SupportSession.objects.for_org(organization)


# --- Export ----------------------------------------------------------------------------------------------------


@pytest.fixture
def bobs_things(acme, globex, alice, bob):
    """bob of Acme (also a member of Globex) with a device, a session he ran, and an API key he created; alice's
    session is not his."""
    MembershipFactory(organization=globex, user=bob, role=Role.MEMBER)
    token = DeviceTokenFactory(device__user=bob, device__push_token="push-secret-123")
    session = SupportSessionFactory(organization=acme, agent=bob, customer_name="Carl Customer")
    SupportSessionFactory(organization=acme, agent=alice, customer_name="Not Bobs Customer")
    key = APIKeyFactory(organization=acme, created_by=bob, name="CI key", scopes=["sessions:read"])
    return {"token": token, "session": session, "key": key}


def test_export_holds_exactly_the_listed_data_and_no_secret(bobs_things, acme, globex, bob):
    data = privacy.user_export(user=bob)
    assert set(data) == {
        "format",
        "exported_at",
        "profile",
        "memberships",
        "sessions",
        "devices",
        "api_keys",
        "chat_lines",
        "push_registrations",
        "push_preferences",
        "meetings",
        "recordings",
    }
    assert data["chat_lines"] == []  # the chat lines bob wrote as an agent (sessions.chat): none here
    assert data["profile"]["id"] == bob.public_id and data["profile"]["email"] == "bob@acme.test"
    assert sorted((m["organization"]["slug"], m["role"]) for m in data["memberships"]) == [
        ("acme", "agent"),
        ("globex", "member"),
    ]
    assert all(m["since"] for m in data["memberships"])
    [session] = data["sessions"]
    assert session["id"] == bobs_things["session"].public_id and session["customer_name"] == "Carl Customer"
    assert session["organization"]["slug"] == "acme" and session["status"] == "waiting"
    [device] = data["devices"]
    assert device["id"] == bobs_things["token"].device.public_id
    assert set(device) == {"id", "name", "platform", "created_at", "last_seen_at", "last_ip", "revoked_at"}
    [key] = data["api_keys"]
    assert (key["name"], key["prefix"], key["scopes"]) == ("CI key", bobs_things["key"].prefix, ["sessions:read"])
    assert set(key) == {"id", "organization", "name", "prefix", "scopes", "created_at", "expires_at", "revoked_at"}

    text = json.dumps(data)
    for secret in (
        bobs_things["token"].token,
        bobs_things["token"].token_hash,
        "push-secret-123",
        bobs_things["key"].secret,
        bobs_things["key"].key_hash,
        User.objects.get(pk=bob.pk).password,
        "Not Bobs Customer",
    ):
        assert secret not in text


def test_export_downloads_from_the_account_page(client, bobs_things, bob):
    client.force_login(bob)
    page = client.get("/account/security/")
    assert b"/account/data/export" in page.content and b"/account/delete/" in page.content
    response = client.get("/account/data/export")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert "no-store" in response["Cache-Control"]
    assert json.loads(response.content)["profile"]["id"] == bob.public_id


def test_export_over_the_api_is_for_people_only(bobs_things, acme, alice, bob):
    response = bearer(bobs_things["token"].token).get("/api/v1/me/export")
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    assert response.json()["sessions"][0]["id"] == bobs_things["session"].public_id
    assert bearer(bobs_things["key"].secret).get("/api/v1/me/export").json()["error"]["code"] == "person_required"
    assert APIClient().get("/api/v1/me/export").status_code == 401


# --- Erasure ---------------------------------------------------------------------------------------------------


@pytest.fixture
def bob_in_history(acme, globex, alice, bob):
    """bob ran sessions in Acme, acted and was acted on in both organizations' audit logs, made an API key and an
    OAuth2 app for Acme, and signed in a phone; alice has her own things next to his."""
    MembershipFactory(organization=globex, user=bob, role=Role.AGENT)
    bobs_session = SupportSessionFactory(organization=acme, agent=bob, status=Status.ENDED, ended_at=timezone.now())
    SessionEventFactory(session=bobs_session, actor=bob, ip="198.51.100.7")
    alices_session = SupportSessionFactory(organization=acme, agent=alice)
    SessionEventFactory(session=alices_session, actor=alice, ip="198.51.100.8")
    audit_record(organization=acme, action="member.role_changed", actor=alice, target=bob, ip="203.0.113.1")
    audit_record(organization=acme, action="session.created", actor=bob, target=bobs_session, ip="203.0.113.2")
    audit_record(organization=globex, action="session.created", actor=bob, ip="203.0.113.3")
    audit_record(organization=acme, action="settings.changed", actor=alice, ip="203.0.113.4")
    key = APIKeyFactory(organization=acme, created_by=bob)
    app = ApplicationFactory(organization=acme, user=bob)
    token = DeviceTokenFactory(device__user=bob)
    invitation = InvitationFactory(organization=globex, email="BOB@acme.test", invited_by=None)
    audit_record(organization=globex, action="invitation.created", actor=None, target=invitation)
    others = InvitationFactory(organization=acme, email="dora@acme.test", invited_by=alice)
    audit_record(organization=acme, action="invitation.created", actor=alice, target=others)
    return {
        "session": bobs_session,
        "alices_session": alices_session,
        "key": key,
        "app": app,
        "token": token,
        "invitation": invitation,
        "others_invitation": others,
    }


def test_erasing_a_user_keeps_the_history_labelled_and_the_chains_whole(bob_in_history, acme, globex, alice, bob):
    bob_id, bob_pk = bob.public_id, bob.pk
    alices_label = entries(acme, action="settings.changed").get().actor_label
    assert alice.get_full_name() in alices_label
    privacy.user_erase(user=bob, actor=bob)

    assert not User.objects.filter(pk=bob_pk).exists()
    assert (
        not Device.objects.filter(user_id=bob_pk).exists()
        and not DeviceToken.objects.filter(device__user_id=bob_pk).exists()
    )
    assert not Membership.objects.unscoped("test").filter(user_id=bob_pk).exists()
    # The sessions he ran stay, under the erased label; the log lines he wrote lose his address.
    session = sessions_of(acme).get(pk=bob_in_history["session"].pk)
    assert session.agent is None and session.agent_label == ERASED_LABEL and session.agent_name == ERASED_LABEL
    assert SessionEvent.objects.for_org(acme).get(session=session).ip is None
    # Every audit log he appears in: pseudonymized, still verifiable, with his erasure recorded.
    for organization in (acme, globex):
        assert audit_verify(organization=organization).ok
        assert entries(organization, action="user.erased", target_id=bob_id).count() == 1
        for entry in entries(organization, actor_id=bob_id):
            assert entry.actor_label == ERASED_LABEL and entry.ip is None
    assert entries(acme, action="member.role_changed").get().target_label == ERASED_LABEL
    # Nobody else's rows changed; what he made for Acme belongs to Acme and stays.
    alices = entries(acme, action="settings.changed").get()
    assert alices.actor_label == alices_label and alices.ip == "203.0.113.4"
    assert sessions_of(acme).get(pk=bob_in_history["alices_session"].pk).agent == alice
    assert SessionEvent.objects.for_org(acme).get(session=bob_in_history["alices_session"]).ip == "198.51.100.8"
    assert Membership.objects.for_org(acme).filter(user=alice, role=Role.OWNER).exists()
    assert APIKey.objects.for_org(acme).filter(pk=bob_in_history["key"].pk, created_by=None).exists()
    assert Application.objects.for_org(acme).filter(pk=bob_in_history["app"].pk, user=None).exists()
    # An invitation addressed to him loses his address, in the row and in its audit entry; others' stay.
    invitation = bob_in_history["invitation"]
    invitation.refresh_from_db()
    assert invitation.email == f"erased-{invitation.public_id}@erased.invalid"
    assert entries(globex, action="invitation.created").get().target_label == ERASED_LABEL
    assert entries(acme, action="invitation.created").get().target_label == "dora@acme.test"
    bob_in_history["others_invitation"].refresh_from_db()
    assert bob_in_history["others_invitation"].email == "dora@acme.test"
    # His phone's token no longer works.
    assert bearer(bob_in_history["token"].token).get("/api/v1/me").status_code == 401


def test_erased_agent_shows_as_the_erased_label_in_the_api_and_pages(client, bob_in_history, acme, alice, bob):
    privacy.user_erase(user=bob, actor=None)
    client.force_login(alice)
    detail = client.get(f"/api/v1/sessions/{bob_in_history['session'].public_id}")
    assert detail.status_code == 200
    assert detail.json()["agent"] == {"id": None, "name": ERASED_LABEL}
    listing = client.get("/api/v1/sessions")
    assert listing.status_code == 200
    assert {"id": None, "name": ERASED_LABEL} in [row["agent"] for row in listing.json()["results"]]
    dashboard = client.get("/o/acme/sessions/")
    assert dashboard.status_code == 200 and ERASED_LABEL.encode() in dashboard.content


def test_erasure_is_refused_for_a_sole_owner_and_changes_nothing(acme, alice, bob):
    label = audit_record(organization=acme, action="settings.changed", actor=alice).actor_label
    with pytest.raises(Conflict) as refused:
        privacy.user_erase(user=alice, actor=alice)
    assert refused.value.code == "sole_owner" and refused.value.details["organizations"] == ["acme"]
    assert User.objects.filter(pk=alice.pk).exists()
    assert not entries(acme, action="user.erased").exists()
    assert entries(acme, action="settings.changed").get().actor_label == label != ERASED_LABEL
    # With a second owner she may go.
    Membership.objects.for_org(acme).filter(user=bob).update(role=Role.OWNER)
    privacy.user_erase(user=alice, actor=alice)
    assert not User.objects.filter(pk=alice.pk).exists()


def test_delete_my_account_page_asks_for_the_password(client, bob_in_history, alice, bob):
    client.force_login(alice)
    refused = client.post("/account/delete/", {"password": PASSWORD})
    assert refused.status_code == 409 and "only owner" in refused.content.decode()
    assert User.objects.filter(pk=alice.pk).exists()

    client.force_login(bob)
    wrong = client.post("/account/delete/", {"password": "not-my-password"})
    assert wrong.status_code == 400 and User.objects.filter(pk=bob.pk).exists()
    done = client.post("/account/delete/", {"password": PASSWORD})
    assert done.status_code == 302 and not User.objects.filter(pk=bob.pk).exists()
    assert client.get("/account/security/").status_code == 302  # signed out


def test_sso_only_people_confirm_with_a_typed_phrase(client, acme, alice):
    person = MembershipFactory(organization=acme, user__email="sso@acme.test").user
    person.set_unusable_password()
    person.save()
    client.force_login(person)
    assert client.post("/account/delete/", {"confirmation": "yes"}).status_code == 400
    assert client.post("/account/delete/", {"confirmation": privacy_phrase()}).status_code == 302
    assert not User.objects.filter(pk=person.pk).exists()


def privacy_phrase() -> str:
    from orgs.views_privacy import ERASE_PHRASE

    return ERASE_PHRASE


def test_operators_erase_users_from_the_admin(acme, alice, bob):
    admin = UserFactory(email="operator@service.test", is_staff=True, is_superuser=True)
    model_admin = admin_site._registry[User]
    request = RequestFactory().post("/admin/orgs/user/")
    request.user = admin
    request.session = {}
    request._messages = FallbackStorage(request)
    assert "delete_selected" not in model_admin.get_actions(request)
    model_admin.erase(request, User.objects.filter(pk__in=[alice.pk, bob.pk]))
    assert User.objects.filter(pk=alice.pk).exists()  # the sole owner of Acme is refused
    assert not User.objects.filter(pk=bob.pk).exists()
    erased = entries(acme, action="user.erased").get()
    assert erased.actor_id == admin.public_id and erased.target_label == ERASED_LABEL


# --- Organization deletion -------------------------------------------------------------------------------------


def test_deleting_the_organization_closes_it_at_once_for_every_member(client, acme, globex, alice, bob, gina):
    bobs_token = DeviceTokenFactory(device__user=bob).token
    key = APIKeyFactory(organization=acme)
    live = SupportSessionFactory(organization=acme, agent=bob, active=True)
    assert bearer(bobs_token).get("/api/v1/organization").status_code == 200

    alices = APIClient()
    alices.force_login(alice)
    response = alices.delete("/api/v1/organization")
    assert response.status_code == 204

    acme.refresh_from_db()
    assert acme.status == Organization.Status.DELETED
    assert acme.purge_after - acme.deletion_requested_at == timedelta(days=30)
    assert entries(acme, action="organization.deleted", actor_id=alice.public_id).exists()
    ended = sessions_of(acme).get(pk=live.pk)
    assert (ended.status, ended.end_reason) == (Status.ENDED, "organization_deleted")
    for answer in (
        bearer(bobs_token).get("/api/v1/organization"),
        bearer(bobs_token).get("/api/v1/sessions", HTTP_X_ORGANIZATION="acme"),
        alices.get("/api/v1/organization"),
        bearer(key.secret).get("/api/v1/members"),
    ):
        assert answer.status_code in (401, 404), answer.content
    client.force_login(bob)
    assert client.get("/o/acme/").status_code == 404
    assert client.get("/o/acme/settings/").status_code == 404
    # Another organization is untouched.
    client.force_login(gina)
    assert client.get("/o/globex/").status_code == 200


def test_only_owners_delete_and_only_with_a_person_credential(acme, alice, carol):
    admins = APIClient()
    admins.force_login(carol)
    refused = admins.delete("/api/v1/organization")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "owner_required"
    key = APIKeyFactory(organization=acme, scopes=["org:write"])
    assert bearer(key.secret).delete("/api/v1/organization").status_code == 403
    with pytest.raises(Forbidden):
        privacy.organization_delete(organization=acme, actor=carol)
    # An OAuth2 app acting for the owner, even with org:write, does not get to close the tenant.
    from oauth2_provider.models import get_access_token_model

    app = ApplicationFactory(organization=acme, authorization_code=True, user=alice)
    get_access_token_model().objects.create(
        user=alice,
        application=app,
        token="coa_owner_app",
        scope="org:read org:write",
        expires=timezone.now() + timedelta(hours=1),
    )
    refused = bearer("coa_owner_app").delete("/api/v1/organization")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "direct_sign_in_required"
    acme.refresh_from_db()
    assert acme.is_active


def test_a_sole_owner_of_a_deleted_organization_is_not_erased_while_it_can_be_restored(acme, alice):
    privacy.organization_delete(organization=acme, actor=alice)
    with pytest.raises(Conflict):
        privacy.user_erase(user=alice, actor=alice)
    assert User.objects.filter(pk=alice.pk).exists()


def test_the_settings_page_deletes_after_the_slug_is_typed(client, acme, alice, carol):
    client.force_login(carol)
    assert b"delete-organization" not in client.get("/o/acme/settings/").content  # admins see no danger zone
    client.force_login(alice)
    page = client.get("/o/acme/settings/")
    assert b'name="confirm_slug"' in page.content
    client.post("/o/acme/settings/delete", {"confirm_slug": "acme-typo"})
    acme.refresh_from_db()
    assert acme.is_active
    response = client.post("/o/acme/settings/delete", {"confirm_slug": "acme"})
    assert response.status_code == 302
    acme.refresh_from_db()
    assert acme.status == Organization.Status.DELETED
    assert client.get("/o/acme/").status_code == 404


def test_an_operator_restores_before_the_purge(client, acme, alice, bob):
    privacy.organization_delete(organization=acme, actor=alice)
    admin = UserFactory(email="operator@service.test", is_staff=True, is_superuser=True)
    request = RequestFactory().post("/admin/orgs/organization/")
    request.user, request.session = admin, {}
    request._messages = FallbackStorage(request)
    admin_site._registry[Organization].restore(request, Organization.objects.filter(pk=acme.pk))
    acme.refresh_from_db()
    assert acme.is_active and acme.purge_after is None
    assert entries(acme, action="organization.restored").exists()
    assert purge_deleted_organizations() == 0
    client.force_login(bob)
    assert client.get("/o/acme/").status_code == 200


# --- Purge -----------------------------------------------------------------------------------------------------


def _org_paths(model: type[models.Model], depth: int = 4) -> list[str]:
    """Every chain of foreign keys from ``model`` to Organization (``"session__organization"``), up to ``depth``."""
    paths: list[str] = []

    def walk(current: type[models.Model], prefix: str, seen: tuple, left: int) -> None:
        for field in current._meta.concrete_fields:
            if not (field.is_relation and (field.many_to_one or field.one_to_one)):
                continue
            target = field.related_model
            if target is Organization:
                paths.append(prefix + field.name)
            elif left > 1 and target not in seen and target is not User:
                walk(target, prefix + field.name + "__", (*seen, target), left - 1)

    walk(model, "", (model,), depth)
    return paths


def _rows_of(organization_pk: int) -> dict[str, int]:
    """How many rows of every model reach the organization through some chain of foreign keys."""
    counts = {}
    for model in apps.get_models():
        if model is Organization:
            counts[model._meta.label] = Organization.objects.filter(pk=organization_pk).count()
            continue
        query = models.Q()
        paths = _org_paths(model)
        if not paths:
            continue
        for path in paths:
            query |= models.Q(**{path: organization_pk})
        counts[model._meta.label] = model._base_manager.filter(query).distinct().count()
    return counts


def _populate(organization, owner, agent) -> None:
    """A bit of everything an organization owns."""
    from oauth2_provider.models import (
        get_access_token_model,
        get_grant_model,
        get_id_token_model,
        get_refresh_token_model,
    )

    InvitationFactory(organization=organization, invited_by=owner)
    session = SupportSessionFactory(organization=organization, agent=agent, active=True)
    SessionEventFactory(session=session)
    APIKeyFactory(organization=organization, created_by=owner)
    DeliveryAttemptFactory(delivery__event__organization=organization)
    OrganizationSSOFactory(organization=organization)
    audit_record(organization=organization, action="settings.changed", actor=owner)
    app = ApplicationFactory(organization=organization, authorization_code=True, user=owner)
    expires = timezone.now() + timedelta(hours=1)
    id_token = get_id_token_model().objects.create(user=agent, application=app, expires=expires)
    access = get_access_token_model().objects.create(
        user=agent, application=app, token=f"coa_{organization.slug}", expires=expires, id_token=id_token
    )
    get_refresh_token_model().objects.create(
        user=agent, application=app, token=f"crt_{organization.slug}", access_token=access
    )
    get_grant_model().objects.create(
        user=agent,
        application=app,
        code=f"code-{organization.slug}",
        expires=expires,
        redirect_uri="https://app.example.test/callback",
    )


def test_purge_after_the_grace_period_leaves_no_row_of_the_organization(acme, globex, alice, bob, gina):
    _populate(acme, alice, bob)
    _populate(globex, gina, MembershipFactory(organization=globex, role=Role.AGENT).user)
    before_acme, before_globex = _rows_of(acme.pk), _rows_of(globex.pk)
    for label in (
        "orgs.Membership",
        "orgs.Invitation",
        "support.SupportSession",
        "support.SessionEvent",
        "integrations.APIKey",
        "integrations.Application",
        "integrations.WebhookDelivery",
        "integrations.DeliveryAttempt",
        "integrations.OrganizationSSO",
        "audit.AuditEntry",
        "audit.ChainHead",
        "oauth2_provider.AccessToken",
        "oauth2_provider.RefreshToken",
        "oauth2_provider.Grant",
        "oauth2_provider.IDToken",
    ):
        assert before_acme[label] > 0, label  # the enumeration really sees these rows

    privacy.organization_delete(organization=acme, actor=alice)
    assert purge_deleted_organizations() == 0  # not yet due
    Organization.objects.filter(pk=acme.pk).update(purge_after=timezone.now() - timedelta(seconds=1))
    assert purge_deleted_organizations() == 1
    assert purge_deleted_organizations() == 0  # idempotent

    left = {label: count for label, count in _rows_of(acme.pk).items() if count}
    assert left == {}, f"rows of the purged organization are left ({connection.vendor}): {left}"
    assert _rows_of(globex.pk) == before_globex
    assert audit_verify(organization=globex).ok
    # People are not purged: they may belong elsewhere.
    assert User.objects.filter(pk__in=[alice.pk, bob.pk]).count() == 2


def test_purge_never_touches_an_organization_that_is_not_deleted(acme, alice):
    Organization.objects.filter(pk=acme.pk).update(purge_after=timezone.now() - timedelta(days=1))
    assert privacy.organization_purge(organization=acme) == {}
    assert Organization.objects.filter(pk=acme.pk).exists()
