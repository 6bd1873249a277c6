"""Pages under /o/<slug>/ go through the one tenant mechanism: other organizations' pages and objects are 404."""

import pytest
from django.urls import reverse

from orgs import services
from orgs.models import Invitation, Membership, Role
from orgs.tenancy import memberships_of
from orgs.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def test_member_sees_own_dashboard(client, acme, bob):
    client.force_login(bob)
    response = client.get(reverse("org_dashboard", args=["acme"]))
    assert response.status_code == 200
    assert "Acme Inc" in response.content.decode()


def test_other_organization_is_404_like_a_missing_one(client, acme, globex, bob, gina):
    client.force_login(bob)
    assert client.get(reverse("org_dashboard", args=["globex"])).status_code == 404
    assert client.get(reverse("org_dashboard", args=["no-such-org"])).status_code == 404
    assert client.get(reverse("org_members", args=["globex"])).status_code == 404


def test_object_of_another_org_is_404_even_through_own_org_url(client, acme, globex, alice, gina):
    invitation, _ = services.invitation_create(organization=globex, inviter=gina, email="x@globex.test", role="agent")
    client.force_login(alice)
    # alice owns Acme and names Globex's invitation under Acme's URL: the scoped lookup does not find it.
    url = reverse("invitation_revoke", args=["acme", invitation.public_id])
    assert client.post(url).status_code == 404
    invitation.refresh_from_db()
    assert invitation.revoked_at is None


def test_suspended_organization_is_not_reachable(client, acme, bob):
    acme.status = acme.Status.SUSPENDED
    acme.save()
    client.force_login(bob)
    assert client.get(reverse("org_dashboard", args=["acme"])).status_code == 404


def test_anonymous_is_sent_to_login(client, acme):
    response = client.get(reverse("org_dashboard", args=["acme"]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_admin_invites_from_members_page(client, acme, carol):
    client.force_login(carol)
    response = client.post(reverse("org_members", args=["acme"]), {"email": "dave@acme.test", "role": "agent"})
    assert response.status_code == 302
    assert Invitation.objects.for_org(acme).get().email == "dave@acme.test"
    page = client.get(reverse("org_members", args=["acme"])).content.decode()
    assert "dave@acme.test" in page and "Invitation sent" in page


def test_members_page_explains_a_refused_invitation(client, acme, carol):
    client.force_login(carol)
    response = client.post(reverse("org_members", args=["acme"]), {"email": "dave@acme.test", "role": "owner"})
    assert response.status_code == 403
    assert "cannot invite someone as Owner" in response.content.decode()
    assert not Invitation.objects.for_org(acme).exists()


def test_agent_cannot_invite(client, acme, bob):
    client.force_login(bob)
    page = client.get(reverse("org_members", args=["acme"])).content.decode()
    assert "Send invitation" not in page
    assert (
        client.post(reverse("org_members", args=["acme"]), {"email": "d@acme.test", "role": "member"}).status_code
        == 403
    )
    assert not Invitation.objects.for_org(acme).exists()


def test_invitee_signs_up_and_lands_in_the_organization(client, acme, alice):
    _, token = services.invitation_create(organization=acme, inviter=alice, email="dave@acme.test", role=Role.AGENT)
    url = reverse("invitation_accept", args=[token])
    page = client.get(url).content.decode()
    assert "Join Acme Inc" in page and "Create account and join" in page
    response = client.post(url, {"name": "Dave", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("org_dashboard", args=["acme"])
    assert Membership.objects.for_org(acme).get(user__email="dave@acme.test").role == Role.AGENT
    # The link is spent: a second visit says so and changes nothing.
    client.logout()
    again = client.get(url)
    assert again.status_code == 409 and "already been used" in again.content.decode()


def test_reused_or_bogus_invitation_link_is_explained(client):
    response = client.get(reverse("invitation_accept", args=["inv_bogus"]))
    assert response.status_code == 404
    assert "not valid" in response.content.decode()


def test_existing_user_accepts_while_signed_in(client, acme, alice, gina):
    _, token = services.invitation_create(organization=acme, inviter=alice, email="gina@globex.test", role="member")
    client.force_login(gina)
    response = client.post(reverse("invitation_accept", args=[token]))
    assert response.status_code == 302
    assert memberships_of(gina).count() == 2  # one in each organization


def test_home_lists_organizations_of_a_user_in_several(client, acme, globex, alice):
    Membership.objects.create(organization=globex, user=alice, role=Role.MEMBER)
    client.force_login(alice)
    page = client.get(reverse("home")).content.decode()
    assert "Acme Inc" in page and "Globex" in page


def test_staff_admin_pages_work(admin_client, acme, alice):
    for url in [
        "/admin/orgs/organization/",
        f"/admin/orgs/organization/{acme.pk}/change/",
        "/admin/orgs/membership/",
        "/admin/orgs/invitation/",
        "/admin/orgs/user/",
    ]:
        assert admin_client.get(url).status_code == 200, url


def test_non_staff_cannot_use_admin(client, alice):
    client.force_login(alice)
    assert client.get("/admin/orgs/organization/").status_code == 302


def test_owner_changes_a_role_and_removes_a_member(client, acme, alice, bob):
    client.force_login(alice)
    response = client.post(reverse("member_role", args=["acme", bob.public_id]), {"role": "admin"})
    assert response.status_code == 302
    assert Membership.objects.for_org(acme).get(user=bob).role == Role.ADMIN
    client.post(reverse("member_remove", args=["acme", bob.public_id]))
    assert not Membership.objects.for_org(acme).filter(user=bob).exists()


def test_last_owner_cannot_leave_from_the_page(client, acme, alice):
    client.force_login(alice)
    response = client.post(reverse("member_remove", args=["acme", alice.public_id]), follow=True)
    assert "at least one owner" in response.content.decode()
    assert Membership.objects.for_org(acme).filter(user=alice, role=Role.OWNER).exists()


def test_members_of_another_org_cannot_be_changed_through_own_org(client, acme, globex, alice, gina):
    client.force_login(alice)
    assert client.post(reverse("member_role", args=["acme", gina.public_id]), {"role": "member"}).status_code == 404
    assert client.post(reverse("member_remove", args=["globex", gina.public_id])).status_code == 404
    assert Membership.objects.for_org(globex).get(user=gina).role == Role.OWNER


def test_agent_cannot_change_roles(client, acme, alice, bob):
    client.force_login(bob)
    assert client.post(reverse("member_role", args=["acme", alice.public_id]), {"role": "member"}).status_code == 403
    assert Membership.objects.for_org(acme).get(user=alice).role == Role.OWNER


def test_admin_requires_mfa_from_settings(client, acme, carol, bob):
    client.force_login(carol)
    assert client.post(reverse("org_settings", args=["acme"]), {"require_mfa": "on"}).status_code == 302
    acme.refresh_from_db()
    assert acme.require_mfa
    client.force_login(bob)
    assert client.post(reverse("org_settings", args=["acme"]), {}).status_code == 302  # enrolment comes first
    acme.refresh_from_db()
    assert acme.require_mfa


def test_admin_login_asks_staff_with_an_authenticator_for_the_code(client, acme, alice, settings):
    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    alice.is_staff = alice.is_superuser = True
    alice.save()
    device = TOTPDevice.objects.create(user=alice, name="phone", confirmed=True)
    form = {"username": "alice@acme.test", "password": PASSWORD}
    refused = client.post("/admin/login/?next=/admin/", form)
    assert refused.status_code == 200 and client.get("/admin/orgs/organization/").status_code == 302
    code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"
    response = client.post(
        "/admin/login/?next=/admin/", {**form, "otp_device": device.persistent_id, "otp_token": code}
    )
    assert response.status_code == 302
    assert client.get("/admin/orgs/organization/").status_code == 200


def test_admin_requires_mfa_of_all_staff_in_production(client, acme, alice, settings):
    settings.CONNECT_ADMIN_REQUIRE_MFA = True
    alice.is_staff = True
    alice.save()
    response = client.post("/admin/login/?next=/admin/", {"username": "alice@acme.test", "password": PASSWORD})
    assert response.status_code == 200 and "requires two-factor authentication" in response.content.decode()


def test_invitee_with_an_account_is_sent_through_sign_in(client, acme, alice, gina):
    _, token = services.invitation_create(organization=acme, inviter=alice, email="gina@globex.test", role="member")
    url = reverse("invitation_accept", args=[token])
    page = client.get(url).content.decode()
    assert "Sign in to accept" in page and f"/accounts/login/?next={url}" in page.replace("%2F", "/")
    response = client.post(
        reverse("account_login") + f"?next={url}", {"login": "gina@globex.test", "password": PASSWORD, "next": url}
    )
    assert response.status_code == 302 and response["Location"] == url
    assert client.post(url).status_code == 302
    assert Membership.objects.filter(user=gina, organization=acme).exists()


def test_password_reset_sends_a_link(client, alice):
    from django.core import mail

    response = client.post(reverse("account_reset_password"), {"email": "alice@acme.test"})
    assert response.status_code == 302
    assert "/accounts/password/reset/key/" in mail.outbox[-1].body


def test_settings_page_title_is_plain_text(client, acme, carol):
    client.force_login(carol)
    page = client.get(reverse("org_settings", args=["acme"])).content.decode()
    title = page.split("<title>", 1)[1].split("</title>", 1)[0]
    assert title.strip() == "Settings · Acme Inc"
    assert page.count("Single sign-on</h2>") == 1
