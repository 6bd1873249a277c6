"""Every change an admin cares about leaves one audit entry, written in the change's own transaction: who did it,
to what, with which values; a refused change leaves none. The Django admin goes through the same services, so its
changes are recorded too (naming the staff member) and the services' rules hold there as well."""

from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEntry
from audit.services import audit_verify
from connect.errors import ApplicationError
from integrations.credentials import services as integration_services
from integrations.models import APIKey, Application, OrganizationSSO, WebhookEndpoint
from integrations.sso import services as sso
from integrations.tests.factories import (
    WEBHOOK_URL,
    APIKeyFactory,
    ApplicationFactory,
    OrganizationSSOFactory,
    WebhookDeliveryFactory,
    WebhookEndpointFactory,
    WebhookEventFactory,
)
from integrations.tests.receiver import Receiver
from integrations.webhooks import services as webhooks
from orgs import mfa, services
from orgs.models import Invitation, Membership, Organization, Role
from orgs.tenancy import org_context_for_user
from orgs.tests.factories import InvitationFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def entries(organization: Organization, action: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.for_org(organization).filter(action=action).order_by("seq"))


def only_entry(organization: Organization, action: str) -> AuditEntry:
    found = entries(organization, action)
    assert len(found) == 1, [e.action for e in AuditEntry.objects.for_org(organization)]
    return found[0]


def no_entries(organization: Organization) -> bool:
    return not AuditEntry.objects.for_org(organization).exists()


# --- Members and invitations --------------------------------------------------------------------------------


def test_role_change_is_recorded_and_a_refused_one_is_not(acme, alice, bob, carol):
    with pytest.raises(ApplicationError):  # an agent cannot promote anyone
        services.membership_change_role(
            membership=Membership.objects.for_org(acme).get(user=carol), actor=bob, role="agent"
        )
    owner = Membership.objects.for_org(acme).get(user=alice)
    with pytest.raises(ApplicationError):  # the last owner cannot be demoted
        services.membership_change_role(membership=owner, actor=alice, role="admin")
    assert no_entries(acme)

    services.membership_change_role(
        membership=Membership.objects.for_org(acme).get(user=bob), actor=alice, role="admin"
    )
    entry = only_entry(acme, "member.role_changed")
    assert (entry.actor_kind, entry.actor_id, entry.target_id) == ("user", alice.public_id, bob.public_id)
    assert entry.data == {"role": ["agent", "admin"]}
    assert entry.target_label == f"{bob.name} <{bob.email}>"
    assert audit_verify(organization=acme).ok


@pytest.mark.parametrize("who", ["owner removes an agent", "agent leaves"])
def test_member_removal_is_recorded_and_a_refused_one_is_not(acme, alice, bob, who):
    with pytest.raises(ApplicationError):  # the last owner cannot leave
        services.membership_remove(membership=Membership.objects.for_org(acme).get(user=alice), actor=alice)
    with pytest.raises(ApplicationError):  # an agent cannot remove the owner
        services.membership_remove(membership=Membership.objects.for_org(acme).get(user=alice), actor=bob)
    assert no_entries(acme)

    actor = alice if who == "owner removes an agent" else bob
    services.membership_remove(membership=Membership.objects.for_org(acme).get(user=bob), actor=actor)
    entry = only_entry(acme, "member.removed")
    assert (entry.actor_id, entry.target_id) == (actor.public_id, bob.public_id)
    assert entry.data == {"role": "agent", "left": actor == bob}


def test_adding_a_member_directly_is_recorded(acme, alice, outsider):
    with pytest.raises(ApplicationError):  # already a member
        services.membership_add(organization=acme, user=alice, role="agent")
    assert no_entries(acme)
    services.membership_add(organization=acme, user=outsider, role="member", operator=alice)
    entry = only_entry(acme, "member.added")
    assert (entry.actor_id, entry.target_id, entry.data) == (alice.public_id, outsider.public_id, {"role": "member"})


def test_invitation_created_is_recorded_and_a_refused_one_is_not(acme, alice, bob):
    with pytest.raises(ApplicationError):  # an agent cannot invite an admin
        services.invitation_create(organization=acme, inviter=bob, email="new@acme.test", role="admin")
    with pytest.raises(ApplicationError):  # already a member
        services.invitation_create(organization=acme, inviter=alice, email="bob@acme.test", role="agent")
    assert no_entries(acme)

    invitation, _token = services.invitation_create(
        organization=acme, inviter=alice, email="New@Acme.test", role="agent"
    )
    entry = only_entry(acme, "invitation.created")
    assert (entry.actor_id, entry.target_type, entry.target_id) == (alice.public_id, "invitation", invitation.public_id)
    assert entry.data == {"role": "agent", "expires_at": invitation.expires_at.isoformat()}
    assert "new@acme.test" not in str(entry.data)  # the address is the label, outside the hash


def test_invitation_revoked_is_recorded_and_a_refused_one_is_not(acme, alice, bob):
    invitation = InvitationFactory(organization=acme, invited_by=alice, role=Role.ADMIN)
    with pytest.raises(ApplicationError):  # an agent cannot withdraw an admin's invitation
        services.invitation_revoke(invitation=invitation, actor=bob)
    assert no_entries(acme)
    services.invitation_revoke(invitation=invitation, actor=alice)
    services.invitation_revoke(invitation=invitation, actor=alice)  # already withdrawn: nothing more
    entry = only_entry(acme, "invitation.revoked")
    assert (entry.actor_id, entry.target_id, entry.data) == (alice.public_id, invitation.public_id, {"role": "admin"})


def test_invitation_accepted_adds_the_member_on_record(acme, alice):
    invitation, token = services.invitation_create(
        organization=acme, inviter=alice, email="dan@acme.test", role="agent"
    )
    dan = UserFactory(email="dan@acme.test")
    eve = UserFactory(email="eve@acme.test")
    with pytest.raises(ApplicationError):  # the invitation is for another address
        services.invitation_accept(token=token, user=eve)
    assert entries(acme, "invitation.accepted") == [] and entries(acme, "member.added") == []

    services.invitation_accept(token=token, user=dan)
    accepted = only_entry(acme, "invitation.accepted")
    assert (accepted.actor_id, accepted.target_id) == (dan.public_id, invitation.public_id)
    assert accepted.data == {"role": "agent", "user_id": dan.public_id}
    added = only_entry(acme, "member.added")
    assert (added.actor_id, added.target_id) == (dan.public_id, dan.public_id)
    assert added.data == {"role": "agent", "invitation_id": invitation.public_id}


# --- Organization settings and status ---------------------------------------------------------------------------


def test_settings_changes_are_recorded_with_old_and_new_values(acme, alice, bob):
    with pytest.raises(ApplicationError):  # agents cannot change settings
        services.organization_update_settings(organization=acme, actor=bob, require_mfa=True)
    with pytest.raises(ApplicationError):  # out of range
        services.organization_update_settings(organization=acme, actor=alice, chat_retention_days=0)
    services.organization_update_settings(organization=acme, actor=alice, require_mfa=False)  # already so
    assert no_entries(acme)

    services.organization_update_settings(
        organization=acme,
        actor=alice,
        name="Acme Corporation",
        require_mfa=True,
        agents_see_all_sessions=False,
        audit_retention_days=365,
    )
    entry = only_entry(acme, "organization.settings_changed")
    assert (entry.actor_id, entry.target_id) == (alice.public_id, acme.public_id)
    assert entry.data == {
        "changes": {
            "name": ["Acme Inc", "Acme Corporation"],
            "require_mfa": [False, True],
            "audit_retention_days": [None, 365],
        }
    }
    acme.refresh_from_db()
    assert acme.require_mfa and acme.name == "Acme Corporation" and acme.audit_retention_days == 365


def test_status_change_is_recorded(acme, alice):
    with pytest.raises(ApplicationError):
        services.organization_set_status(organization=acme, status="gone")
    services.organization_set_status(organization=acme, status="active")  # already so
    assert no_entries(acme)
    services.organization_set_status(organization=acme, status="suspended", operator=alice)
    entry = only_entry(acme, "organization.status_changed")
    assert (entry.actor_id, entry.target_id, entry.data) == (
        alice.public_id,
        acme.public_id,
        {"status": ["active", "suspended"]},
    )


def test_disabling_an_account_is_recorded_in_each_of_its_organizations(acme, globex, bob, gina):
    MembershipFactory(organization=globex, user=bob, role=Role.AGENT)
    services.user_set_active(user=bob, is_active=True)  # already so
    assert no_entries(acme) and no_entries(globex)
    services.user_set_active(user=bob, is_active=False, operator=gina)
    for organization in (acme, globex):
        entry = only_entry(organization, "user.deactivated")
        assert (entry.actor_id, entry.target_id) == (gina.public_id, bob.public_id)


# --- API keys, OAuth2 applications ---------------------------------------------------------------------------


def test_api_key_created_and_revoked_are_recorded(acme, alice, bob):
    with pytest.raises(ApplicationError):  # an agent cannot grant scopes they lack
        integration_services.api_key_create(
            org=org_context_for_user(bob, "acme"), name="Sync", scopes=["members:write"]
        )
    assert no_entries(acme)
    org = org_context_for_user(alice, "acme")
    key, _secret = integration_services.api_key_create(org=org, name="Sync", scopes=["members:read"])
    created = only_entry(acme, "api_key.created")
    assert (created.actor_id, created.target_id) == (alice.public_id, key.public_id)
    assert created.data == {"prefix": key.prefix, "scopes": ["members:read"], "expires_at": None}

    integration_services.api_key_revoke(key=key, by=org)
    integration_services.api_key_revoke(key=key, by=org)  # already revoked: nothing more
    revoked = only_entry(acme, "api_key.revoked")
    assert (revoked.actor_id, revoked.target_id, revoked.data) == (
        alice.public_id,
        key.public_id,
        {"prefix": key.prefix},
    )


def test_oauth_app_created_and_deleted_are_recorded(acme, alice):
    org = org_context_for_user(alice, "acme")
    with pytest.raises(ApplicationError):  # the code flow needs a redirect URI
        integration_services.oauth_application_create(
            org=org, name="Helpdesk", grant_type=Application.GRANT_AUTHORIZATION_CODE, scopes=["members:read"]
        )
    assert no_entries(acme)
    app, _secret = integration_services.oauth_application_create(
        org=org, name="Helpdesk", grant_type=Application.GRANT_CLIENT_CREDENTIALS, scopes=["members:read"]
    )
    created = only_entry(acme, "oauth_app.created")
    assert (created.actor_id, created.target_id) == (alice.public_id, str(app.pk))
    assert created.data["client_id"] == app.client_id and created.data["scopes"] == ["members:read"]

    integration_services.oauth_application_delete(application=app, by=org)
    deleted = only_entry(acme, "oauth_app.deleted")
    assert (deleted.actor_id, deleted.target_label) == (alice.public_id, "Helpdesk")
    assert not Application.objects.for_org(acme).exists()


# --- Webhook endpoints ----------------------------------------------------------------------------------------


def test_webhook_endpoint_changes_are_recorded(acme, alice, settings):
    settings.CONNECT_OUTBOUND_ALLOWED_NETWORKS = ["203.0.113.0/24"]  # WEBHOOK_URL's documentation range, refused else
    org = org_context_for_user(alice, "acme")
    with pytest.raises(ApplicationError):  # not a web address
        webhooks.endpoint_create(organization=acme, url="ftp://example.com/x", actor=org)
    assert no_entries(acme)

    endpoint = webhooks.endpoint_create(organization=acme, url=WEBHOOK_URL, event_types=["session.ended"], actor=org)
    created = only_entry(acme, "webhook.created")
    assert (created.actor_id, created.target_id) == (alice.public_id, endpoint.public_id)
    assert created.data == {"url": WEBHOOK_URL, "event_types": ["session.ended"]}

    with pytest.raises(ApplicationError):
        webhooks.endpoint_update(endpoint=endpoint, event_types=["no.such.event"], actor=org)
    webhooks.endpoint_update(endpoint=endpoint, enabled=True, actor=org)  # already so
    webhooks.endpoint_update(endpoint=endpoint, enabled=False, description="CRM", actor=org)
    updated = only_entry(acme, "webhook.updated")
    assert updated.data == {"changes": {"enabled": [True, False], "description": ["", "CRM"]}}

    old_secret = endpoint.secret
    webhooks.endpoint_rotate_secret(endpoint=endpoint, actor=org)
    rotated = only_entry(acme, "webhook.secret_rotated")
    assert rotated.target_id == endpoint.public_id and old_secret not in str(rotated.data) + rotated.target_label
    assert endpoint.secret not in str(rotated.data)

    webhooks.endpoint_delete(endpoint=endpoint, actor=org)
    deleted = only_entry(acme, "webhook.deleted")
    assert (deleted.actor_id, deleted.target_id) == (alice.public_id, endpoint.public_id)
    assert not WebhookEndpoint.objects.for_org(acme).exists()
    assert audit_verify(organization=acme).ok


def test_webhook_disabled_by_failures_is_recorded_once(acme, settings):
    settings.CONNECT_OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.CONNECT_OUTBOUND_ALLOW_HTTP = True
    receiver = Receiver()
    try:
        endpoint = WebhookEndpointFactory(organization=acme, url=receiver.url)
        first = WebhookDeliveryFactory(event=WebhookEventFactory(organization=acme), endpoint=endpoint)
        receiver.responses = [(200, {})]
        webhooks.attempt(first.pk)  # delivered: nothing to record
        assert no_entries(acme)
        second = WebhookDeliveryFactory(event=WebhookEventFactory(organization=acme), endpoint=endpoint)
        receiver.responses = [(410, {})]
        webhooks.attempt(second.pk)
    finally:
        receiver.close()
    entry = only_entry(acme, "webhook.disabled")
    assert (entry.actor_kind, entry.target_id) == ("system", endpoint.public_id)
    assert "410" in entry.data["reason"]


def test_webhook_page_and_api_delete_through_the_service(client, acme, alice):
    client.force_login(alice)
    endpoint = WebhookEndpointFactory(organization=acme)
    response = client.post("/o/acme/webhooks/", {"action": "delete", "endpoint": endpoint.public_id})
    assert response.status_code == 302 and not WebhookEndpoint.objects.for_org(acme).exists()
    assert only_entry(acme, "webhook.deleted").actor_id == alice.public_id

    second = WebhookEndpointFactory(organization=acme)
    key = APIKeyFactory(organization=acme, scopes=["webhooks:write"], created_by=alice)
    response = client.generic(
        "DELETE", f"/api/v1/webhooks/{second.public_id}", HTTP_AUTHORIZATION=f"Bearer {key.secret}"
    )
    assert response.status_code == 204, response.content
    entry = entries(acme, "webhook.deleted")[-1]
    assert (entry.actor_kind, entry.target_id) == ("api_key", second.public_id)


# --- Single sign-on -----------------------------------------------------------------------------------------


@pytest.fixture
def public_issuer(settings):
    settings.CONNECT_OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    return "http://127.0.0.1:9"


def test_oidc_configuration_and_the_requirement_are_recorded(acme, alice, public_issuer):
    OrganizationSSOFactory(organization=acme, bizgaze_secret="", verified_domains=["acme-corp.test"])
    with pytest.raises(ApplicationError):  # a domain the operator did not verify
        sso.oidc_configure_by_org_admin(
            organization=acme, issuer=public_issuer, client_id="connect", client_secret="s3cret",
            email_domains=["other.test"], default_role="agent", require_sso=True, actor=alice,
        )  # fmt: skip
    with pytest.raises(ApplicationError):  # an internal issuer
        sso.oidc_configure(
            organization=acme, issuer="http://10.0.0.1", client_id="c", client_secret="s", email_domains=[], actor=alice
        )
    assert no_entries(acme)

    arguments = dict(
        organization=acme, issuer=public_issuer, client_id="connect", client_secret="s3cret",
        email_domains=["acme-corp.test"], default_role="agent", actor=alice,
    )  # fmt: skip
    sso.oidc_configure_by_org_admin(**arguments, require_sso=True)
    configured = only_entry(acme, "sso.configured")
    assert configured.actor_id == alice.public_id and configured.target_type == "organizationsso"
    assert configured.data["kind"] == "oidc" and configured.data["client_secret_changed"] is True
    assert configured.data["changes"]["oidc_issuer"] == ["", public_issuer]
    assert "s3cret" not in str(configured.data)
    required = only_entry(acme, "sso.require_sso_changed")
    assert (required.actor_id, required.data) == (alice.public_id, {"require_sso": [False, True]})

    sso.oidc_configure_by_org_admin(**arguments, require_sso=True)  # nothing changes: nothing more
    sso.oidc_configure_by_org_admin(**arguments, require_sso=False)
    assert len(entries(acme, "sso.configured")) == 1
    assert entries(acme, "sso.require_sso_changed")[-1].data == {"require_sso": [True, False]}


def test_bizgaze_sso_configuration_is_recorded(acme, alice):
    config = OrganizationSSOFactory(organization=acme, bizgaze_secret="")
    with pytest.raises(ApplicationError):
        sso.sso_operator_configure(
            config=config, operator=alice, bizgaze_secret="x", default_role="boss", verified_domains=[]
        )
    assert no_entries(acme)
    sso.sso_operator_configure(
        config=config,
        operator=alice,
        bizgaze_secret="shared-secret",
        default_role="member",
        verified_domains=["Acme.test"],
    )
    entry = only_entry(acme, "sso.configured")
    assert entry.actor_id == alice.public_id
    assert entry.data == {
        "kind": "bizgaze",
        "changes": {"default_role": ["agent", "member"], "verified_domains": [[], ["acme.test"]]},
        "bizgaze_secret_changed": True,
        "bizgaze_enabled": True,
    }


# --- Two-factor authentication --------------------------------------------------------------------------------


def _code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def test_mfa_enrolment_and_removal_are_recorded_in_every_organization_of_the_person(acme, globex, bob):
    MembershipFactory(organization=globex, user=bob, role=Role.MEMBER)
    device = mfa.totp_enrolment_start(bob)
    with pytest.raises(ApplicationError):
        mfa.totp_enrolment_confirm(bob, device.pk, "000000" if _code(device) != "000000" else "111111")
    assert no_entries(acme) and no_entries(globex)

    mfa.totp_enrolment_confirm(bob, device.pk, _code(device), ip="198.51.100.7")
    mfa.recovery_codes_regenerate(bob)
    mfa.mfa_disable(bob)
    mfa.mfa_disable(bob)  # nothing left to remove: nothing more
    for organization in (acme, globex):
        enrolled = only_entry(organization, "mfa.enrolled")
        assert (enrolled.actor_id, enrolled.target_id, enrolled.ip) == (bob.public_id, bob.public_id, "198.51.100.7")
        assert enrolled.data == {"method": "totp", "device_id": device.pk}
        assert only_entry(organization, "mfa.recovery_codes_regenerated").data == {"count": mfa.RECOVERY_CODE_COUNT}
        removed = only_entry(organization, "mfa.removed")
        assert removed.actor_id == bob.public_id and f"totpdevice:{device.pk}" in removed.data["devices"]


# --- The Django admin goes through the services ---------------------------------------------------------------


class _FormValues(HTMLParser):
    """The values a browser would submit from the admin's change form, as the page shows them."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "button", "file"):
            if a.get("type") in ("checkbox", "radio"):
                if "checked" in a:
                    self.values[name] = a.get("value") or "on"
            else:
                self.values[name] = a.get("value") or ""
        elif tag == "select" and name:
            self._select = name
            if "multiple" not in a:
                self.values.setdefault(name, "")
        elif tag == "option" and self._select and "selected" in a:
            self.values[self._select] = a.get("value") or ""
        elif tag == "textarea" and name:
            self._textarea = name
            self.values[name] = ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        if tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.values[self._textarea] += data.lstrip("\n")


def admin_form(client, url: str) -> dict[str, str]:
    response = client.get(url)
    assert response.status_code == 200, url
    parser = _FormValues()
    parser.feed(response.content.decode())
    values = {k: v for k, v in parser.values.items() if "__prefix__" not in k}
    values.pop("csrfmiddlewaretoken", None)
    values["_save"] = "Save"
    return values


def test_admin_organization_changes_go_through_the_services(admin_client, admin_user, acme, alice):
    url = f"/admin/orgs/organization/{acme.pk}/change/"
    form = admin_form(admin_client, url)
    form.update(name="Acme Corporation", require_mfa="on", status="suspended", chat_retention_days="30")
    assert admin_client.post(url, form).status_code == 302
    settings_entry = only_entry(acme, "organization.settings_changed")
    assert settings_entry.actor_id == admin_user.public_id
    assert settings_entry.data == {
        "changes": {
            "name": ["Acme Inc", "Acme Corporation"],
            "require_mfa": [False, True],
            "chat_retention_days": [None, 30],
        }
    }
    status_entry = only_entry(acme, "organization.status_changed")
    assert (status_entry.actor_id, status_entry.data) == (admin_user.public_id, {"status": ["active", "suspended"]})

    # The inline: the last owner cannot be demoted from the admin either.
    form = admin_form(admin_client, url)
    owner_row = next(k for k, v in form.items() if k.endswith("-user") and v == str(alice.pk)).removesuffix("-user")
    form[f"{owner_row}-role"] = "admin"
    response = admin_client.post(url, form, follow=True)
    assert "at least one owner" in response.content.decode()
    assert Membership.objects.for_org(acme).get(user=alice).role == Role.OWNER
    assert entries(acme, "member.role_changed") == []


def test_the_admin_status_field_cannot_delete_or_undelete(admin_client, acme):
    """Deleting schedules a purge and restoring cancels it: a bare status edit would do neither."""
    url = f"/admin/orgs/organization/{acme.pk}/change/"
    form = admin_form(admin_client, url)
    form.update(status="deleted")
    response = admin_client.post(url, form, follow=True)
    assert "have their own actions" in response.content.decode()
    acme.refresh_from_db()
    assert (acme.status, acme.purge_after) == ("active", None)
    assert entries(acme, "organization.status_changed") == []


def test_admin_membership_changes_go_through_the_services(admin_client, admin_user, acme, alice, bob):
    owner = Membership.objects.for_org(acme).get(user=alice)
    url = f"/admin/orgs/membership/{owner.pk}/change/"
    form = admin_form(admin_client, url)
    form["role"] = "agent"
    response = admin_client.post(url, form, follow=True)
    assert "at least one owner" in response.content.decode() and "changed successfully" not in response.content.decode()
    assert Membership.objects.for_org(acme).get(user=alice).role == Role.OWNER
    response = admin_client.post(f"/admin/orgs/membership/{owner.pk}/delete/", {"post": "yes"}, follow=True)
    assert "at least one owner" in response.content.decode()
    assert Membership.objects.for_org(acme).filter(user=alice).exists()
    assert no_entries(acme)

    agent = Membership.objects.for_org(acme).get(user=bob)
    url = f"/admin/orgs/membership/{agent.pk}/change/"
    form = admin_form(admin_client, url)
    form["role"] = "admin"
    assert admin_client.post(url, form).status_code == 302
    entry = only_entry(acme, "member.role_changed")
    assert (entry.actor_id, entry.target_id, entry.data) == (
        admin_user.public_id,
        bob.public_id,
        {"role": ["agent", "admin"]},
    )
    admin_client.post(f"/admin/orgs/membership/{agent.pk}/delete/", {"post": "yes"})
    assert only_entry(acme, "member.removed").actor_id == admin_user.public_id
    assert not Membership.objects.for_org(acme).filter(user=bob).exists()


def test_admin_disabling_a_user_goes_through_the_service(admin_client, admin_user, acme, bob):
    url = f"/admin/orgs/user/{bob.pk}/change/"
    form = admin_form(admin_client, url)
    form.pop("is_active", None)
    form["name"] = "Bob Builder"
    assert admin_client.post(url, form).status_code == 302
    bob.refresh_from_db()
    assert not bob.is_active and bob.name == "Bob Builder"
    entry = only_entry(acme, "user.deactivated")
    assert (entry.actor_id, entry.target_id) == (admin_user.public_id, bob.public_id)


def test_admin_invitation_revoke_goes_through_the_service(admin_client, admin_user, acme, alice):
    invitation = InvitationFactory(organization=acme, invited_by=alice)
    response = admin_client.post("/admin/orgs/invitation/", {"action": "revoke", "_selected_action": [invitation.pk]})
    assert response.status_code == 302
    assert Invitation.objects.for_org(acme).get(pk=invitation.pk).state == "revoked"
    entry = only_entry(acme, "invitation.revoked")
    assert (entry.actor_id, entry.target_id) == (admin_user.public_id, invitation.public_id)


def test_admin_api_key_revoke_and_application_delete_go_through_the_services(admin_client, admin_user, acme):
    key = APIKeyFactory(organization=acme)
    admin_client.post("/admin/integrations/apikey/", {"action": "revoke", "_selected_action": [key.pk]})
    assert APIKey.objects.for_org(acme).get(pk=key.pk).revoked_at is not None
    assert only_entry(acme, "api_key.revoked").actor_id == admin_user.public_id

    app = ApplicationFactory(organization=acme)
    response = admin_client.post(f"/admin/integrations/application/{app.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302 and not Application.objects.for_org(acme).exists()
    assert only_entry(acme, "oauth_app.deleted").actor_id == admin_user.public_id


def test_admin_sso_settings_go_through_the_services(admin_client, admin_user, acme):
    config = OrganizationSSOFactory(organization=acme, bizgaze_secret="")
    url = f"/admin/integrations/organizationsso/{config.pk}/change/"
    form = admin_form(admin_client, url)
    form.update(bizgaze_secret="shared-secret", verified_domains='["acme.test"]')
    assert admin_client.post(url, form).status_code == 302
    config.refresh_from_db()
    assert config.bizgaze_secret == "shared-secret" and config.verified_domains == ["acme.test"]
    entry = only_entry(acme, "sso.configured")
    assert entry.actor_id == admin_user.public_id and entry.data["kind"] == "bizgaze"
    assert entry.data["changes"] == {"verified_domains": [[], ["acme.test"]]} and "shared-secret" not in str(entry.data)
    assert OrganizationSSO.objects.for_org(acme).count() == 1
    assert timezone.now() - entry.created_at < timedelta(minutes=1)


def test_a_session_started_with_an_api_key_names_the_key(acme, bob):
    """An organization's own credential acting without a person is named by its id in the log and the session log."""
    from rest_framework.test import APIClient

    from integrations.tests.factories import APIKeyFactory
    from sessions.models import SessionEvent

    key = APIKeyFactory(organization=acme, scopes=["sessions:read", "sessions:write"])
    client = APIClient()
    response = client.post(
        "/api/v1/sessions", {"agent_id": bob.public_id}, format="json", HTTP_AUTHORIZATION=f"Bearer {key.secret}"
    )
    assert response.status_code == 201, response.json()
    entry = only_entry(acme, "session.created")
    assert (entry.actor_kind, entry.actor_id, entry.target_id) == ("api_key", key.public_id, response.json()["id"])
    assert SessionEvent.objects.for_org(acme).get(type="created").actor_kind == "api_key"
