"""Self-service start: sign up, confirm the address, name the organization, land in the trial with a checklist.

Open sign-up is the operator's choice (``CONNECT_OPEN_SIGNUP``); closed, neither the sign-up page nor the
"name your organization" page creates anything.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from billing import entitlements
from billing.models import License
from orgs import services
from orgs.models import Membership, Organization, Role, User
from orgs.tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from sessions.tests.factories import SupportSessionFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-long-new-passphrase-77"


@pytest.fixture
def open_signup(settings):
    settings.CONNECT_OPEN_SIGNUP = True
    return settings


@pytest.fixture
def closed_signup(settings):
    settings.CONNECT_OPEN_SIGNUP = False
    return settings


def sign_up(client, email: str = "nina@initech.test"):
    return client.post(
        reverse("account_signup"), {"email": email, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )


def confirmation_link(message) -> str:
    return re.search(r"https?://[^/\s]+(/accounts/confirm-email/\S+/)", message.body).group(1)


# --- Closed ---------------------------------------------------------------------------------------------------


def test_closed_signup_shows_no_form_and_refuses_the_post(client, closed_signup):
    page = client.get(reverse("account_signup")).content.decode()
    assert "Sign-up is closed" in page and "invitation" in page
    assert 'name="password1"' not in page

    sign_up(client)
    assert not User.objects.filter(email="nina@initech.test").exists()
    assert mail.outbox == []


def test_closed_signup_login_page_does_not_link_to_it(client, closed_signup):
    page = client.get(reverse("account_login")).content.decode()
    assert reverse("account_signup") not in page
    assert "Ask your organization's admin for an invitation" in page


def test_the_landing_page_offers_a_trial_only_when_sign_up_is_open(client, settings):
    settings.CONNECT_OPEN_SIGNUP = False
    assert reverse("account_signup") not in client.get(reverse("home")).content.decode()
    settings.CONNECT_OPEN_SIGNUP = True
    assert f'href="{reverse("account_signup")}">Start a free trial' in client.get(reverse("home")).content.decode()


def test_closed_signup_refuses_naming_an_organization(client, closed_signup, outsider):
    client.force_login(outsider)
    home = client.get(reverse("home"))
    assert home.status_code == 200  # explains invitations rather than offering a form
    assert "invite you" in home.content.decode() and reverse("org_new") not in home.content.decode()

    for response in (client.get(reverse("org_new")), client.post(reverse("org_new"), {"name": "Initech"})):
        assert response.status_code == 403
        assert "does not let people create organizations" in response.content.decode()
    assert not Organization.objects.filter(name="Initech").exists()


# --- Open: the whole path -----------------------------------------------------------------------------------


def test_visitor_signs_up_confirms_names_the_organization_and_lands_in_a_business_trial(client, open_signup):
    login_page = client.get(reverse("account_login")).content.decode()
    assert f'href="{reverse("account_signup")}"' in login_page

    response = sign_up(client)
    assert response.status_code == 302
    assert "Check your e-mail" in client.get(response["Location"]).content.decode()
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["nina@initech.test"]
    assert "Confirm your e-mail address for BizGaze Connect" in mail.outbox[0].subject
    user = User.objects.get(email="nina@initech.test")
    assert not EmailAddress.objects.get(user=user).verified
    # Not signed in before the address is confirmed.
    assert client.get(reverse("org_new")).status_code == 302

    link = confirmation_link(mail.outbox[0])
    assert "Confirm your e-mail address" in client.get(link).content.decode()
    confirmed = client.post(link, follow=True)
    assert confirmed.redirect_chain[-1][0] == reverse("org_new")
    assert "Name your organization" in confirmed.content.decode()
    assert EmailAddress.objects.get(user=user).verified

    created = client.post(reverse("org_new"), {"name": "Initech", "slug": ""})
    assert created.status_code == 302 and created["Location"] == reverse("org_dashboard", args=["initech"])
    organization = Organization.objects.get(slug="initech")
    assert Membership.objects.for_org(organization).get().user == user
    assert Membership.objects.for_org(organization).get().role == Role.OWNER
    license_ = entitlements.license_for(organization)
    assert license_.plan.code == "business" and license_.status == License.Status.TRIALING
    expected_end = timezone.now() + timedelta(days=14)
    assert abs(license_.trial_ends_at - expected_end) < timedelta(minutes=5)

    actions = set(AuditEntry.objects.for_org(organization).values_list("action", flat=True))
    assert {"member.added", "organization.created"} <= actions
    entry = AuditEntry.objects.for_org(organization).get(action="organization.created")
    assert entry.actor_id == user.public_id and entry.data["plan"] == "business"

    dashboard = client.get(created["Location"]).content.decode()
    assert "Initech is ready" in dashboard
    assert "Business trial — 14 days left" in dashboard
    assert reverse("org_billing", args=["initech"]) in dashboard
    assert "Getting started" in dashboard and "Invite an agent" in dashboard
    assert "Start a first support session" in dashboard


def test_trial_length_and_plan_follow_the_settings(client, open_signup, outsider):
    open_signup.CONNECT_TRIAL_DAYS = 30
    client.force_login(outsider)
    client.post(reverse("org_new"), {"name": "Long Trial"})
    license_ = entitlements.license_for(Organization.objects.get(slug="long-trial"))
    assert abs(license_.trial_ends_at - (timezone.now() + timedelta(days=30))) < timedelta(minutes=5)
    assert "Business trial — 30 days left" in client.get(reverse("org_dashboard", args=["long-trial"])).content.decode()


def test_a_person_without_organization_is_sent_to_name_one(client, open_signup, outsider):
    client.force_login(outsider)
    response = client.get(reverse("home"))
    assert response.status_code == 302 and response["Location"] == reverse("org_new")


def test_a_member_of_several_organizations_may_start_another_from_home(client, open_signup, acme, globex):
    person = MembershipFactory(organization=acme, role=Role.AGENT).user
    MembershipFactory(organization=globex, role=Role.MEMBER, user=person)
    client.force_login(person)
    home = client.get(reverse("home")).content.decode()
    assert reverse("org_new") in home and "Create an organization" in home
    client.post(reverse("org_new"), {"name": "Side Project"})
    assert Membership.objects.for_org(Organization.objects.get(slug="side-project")).get().user == person
    # Their role elsewhere is unchanged.
    assert Membership.objects.for_org(acme).get(user=person).role == Role.AGENT


def test_an_unconfirmed_address_cannot_name_an_organization(client, open_signup):
    user = UserFactory(email="unconfirmed@initech.test", verified_email=False)
    client.force_login(user)
    response = client.post(reverse("org_new"), {"name": "Initech"})
    assert "Verify Your Email Address" in response.content.decode()
    assert not Organization.objects.filter(slug="initech").exists()
    assert mail.outbox and mail.outbox[-1].to == ["unconfirmed@initech.test"]


def test_anonymous_is_sent_to_sign_in(client, open_signup):
    response = client.post(reverse("org_new"), {"name": "Initech"})
    assert response.status_code == 302 and reverse("account_login") in response["Location"]
    assert not Organization.objects.exists()


# --- Bad input changes nothing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "status", "says"),
    [
        ({"name": ""}, 400, "This field is required"),
        ({"name": "   "}, 400, "This field is required"),
        ({"name": "x" * 121}, 400, "at most 120 characters"),
        ({"name": "Initech", "slug": "Not A Slug!"}, 400, "is not a valid slug"),
        ({"name": "Initech", "slug": "acme"}, 409, "already exists; choose another"),
        ({"name": "Acme"}, 409, "already exists; choose another"),  # the slug made from the name is taken
    ],
)
def test_bad_names_and_slugs_are_explained_and_change_nothing(client, open_signup, acme, outsider, data, status, says):
    client.force_login(outsider)
    organizations = Organization.objects.count()
    entries = AuditEntry.objects.for_org(acme).count()
    response = client.post(reverse("org_new"), data)
    assert response.status_code == status
    page = response.content.decode()
    assert says in page and 'role="alert"' in page
    assert Organization.objects.count() == organizations
    assert not Membership.objects.for_org(acme).filter(user=outsider).exists()
    assert AuditEntry.objects.for_org(acme).count() == entries


def test_a_person_may_own_only_so_many_organizations(client, open_signup, outsider):
    open_signup.CONNECT_SIGNUP_MAX_ORGANIZATIONS = 2
    client.force_login(outsider)
    for name in ("First", "Second"):
        assert client.post(reverse("org_new"), {"name": name}).status_code == 302
    page = client.get(reverse("org_new"))
    assert page.status_code == 403
    assert "You already own 2 organizations" in page.content.decode()
    assert 'name="name"' not in page.content.decode()
    refused = client.post(reverse("org_new"), {"name": "Third"})
    assert refused.status_code == 403
    assert not Organization.objects.filter(slug="third").exists()


def test_the_limit_is_in_the_service_too(open_signup, outsider):
    open_signup.CONNECT_SIGNUP_MAX_ORGANIZATIONS = 1
    services.organization_start(user=outsider, name="Only One")
    with pytest.raises(services.Forbidden) as refused:
        services.organization_start(user=outsider, name="One Too Many")
    assert refused.value.code == "organization_limit" and refused.value.details == {"limit": 1, "current": 1}


# --- Tenancy ------------------------------------------------------------------------------------------------


def test_others_cannot_reach_the_new_organization(client, open_signup, outsider, acme, bob, globex, gina):
    client.force_login(outsider)
    client.post(reverse("org_new"), {"name": "Initech"})
    for intruder in (bob, gina):
        client.force_login(intruder)
        assert client.get(reverse("org_dashboard", args=["initech"])).status_code == 404
        assert client.get(reverse("org_members", args=["initech"])).status_code == 404
    # Creating one's own organization adds nobody else, and touches no other organization.
    initech = Organization.objects.get(slug="initech")
    assert list(Membership.objects.for_org(initech).values_list("user__email", flat=True)) == [outsider.email]
    assert not Membership.objects.for_org(acme).filter(user=outsider).exists()


# --- The checklist ------------------------------------------------------------------------------------------


def dashboard(client, user, slug: str = "acme") -> str:
    client.force_login(user)
    response = client.get(reverse("org_dashboard", args=[slug]))
    assert response.status_code == 200
    return response.content.decode()


def test_checklist_marks_each_step_done_and_goes_away(client, acme, alice, globex, gina):
    page = dashboard(client, alice)
    assert "Getting started" in page
    assert f'href="{reverse("org_members", args=["acme"])}">Invite an agent' in page
    assert f'href="{reverse("session_dashboard", args=["acme"])}">Start a first support session' in page

    # Another organization's invitation and session count for nothing here.
    services.invitation_create(organization=globex, inviter=gina, email="x@globex.test", role=Role.AGENT)
    SupportSessionFactory(organization=globex)
    assert '">Invite an agent' in dashboard(client, alice)
    assert '">Start a first support session' in dashboard(client, alice)

    services.invitation_create(organization=acme, inviter=alice, email="dave@acme.test", role=Role.AGENT)
    page = dashboard(client, alice)
    assert 'Invite an agent <span class="visually-hidden">(done)' in page
    assert '">Start a first support session' in page

    SupportSessionFactory(organization=acme)
    assert "Getting started" not in dashboard(client, alice)


def test_an_agent_who_joined_counts_as_invited(client, acme, alice, bob):
    assert 'Invite an agent <span class="visually-hidden">(done)' in dashboard(client, alice)


def test_inviting_a_plain_member_is_not_inviting_an_agent(client, acme, alice):
    services.invitation_create(organization=acme, inviter=alice, email="mia@acme.test", role=Role.MEMBER)
    assert f'href="{reverse("org_members", args=["acme"])}">Invite an agent' in dashboard(client, alice)


def test_agents_see_neither_checklist_nor_trial(client, acme, alice, bob, carol):
    assert "Getting started" not in dashboard(client, bob)
    assert "trial" not in dashboard(client, bob).lower()
    page = dashboard(client, carol)  # admins do
    assert "Getting started" in page and "trial — " in page


def test_trial_state_counts_down_and_ends(client, acme, alice):
    license_ = entitlements.license_for(acme)
    license_.trial_ends_at = timezone.now() + timedelta(days=1, hours=2)
    license_.save()
    assert "Business trial — 2 days left" in dashboard(client, alice)
    license_.trial_ends_at = timezone.now() + timedelta(hours=3)
    license_.save()
    assert "Business trial — 1 day left" in dashboard(client, alice)
    license_.trial_ends_at = timezone.now() - timedelta(hours=1)
    license_.save()
    assert "Business trial ended" in dashboard(client, alice)
    license_.status = License.Status.ACTIVE
    license_.save()
    assert "trial" not in dashboard(client, alice).lower()


def test_a_globex_trial_is_not_shown_in_acme(client, acme, alice, globex):
    other = entitlements.license_for(globex)
    other.trial_ends_at = timezone.now() + timedelta(days=3, hours=1)
    other.save()
    OrganizationFactory(name="Unrelated")
    assert "Business trial — 14 days left" in dashboard(client, alice)
