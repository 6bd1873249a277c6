"""The entitlement checks at their limits, and licence changes in the audit log."""

import pytest

from audit.models import AuditEntry
from billing import entitlements, services
from billing.models import License, Plan
from connect.errors import ApplicationError
from orgs.models import Membership, Role
from orgs.services import invitation_create
from orgs.tests.factories import MembershipFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


def test_an_organization_without_a_licence_gets_a_business_trial():
    org = OrganizationFactory()
    ents = entitlements.entitlements_for(org)
    assert (ents.plan_code, ents.status, ents.seats) == ("business", "trialing", 10)
    assert ents.has("webhooks") and not ents.has("scim")
    assert License.objects.for_org(org).get().trial_ends_at is not None


def test_seats_count_agents_not_members_and_refuse_past_the_seat_count():
    org = OrganizationFactory()
    services.license_change(organization=org, seats=2)
    MembershipFactory(organization=org, role=Role.OWNER)
    MembershipFactory(organization=org, role=Role.MEMBER)
    owner = Membership.objects.for_org(org).get(role=Role.OWNER).user
    entitlements.require_seat(org, role=Role.AGENT)  # at the limit: the second seat is free
    invitation_create(organization=org, inviter=owner, email="m@example.test", role=Role.MEMBER)
    entitlements.require_seat(org, role=Role.MEMBER, inviting="x@example.test")  # members never take a seat
    invitation_create(organization=org, inviter=owner, email="a@example.test", role=Role.AGENT)  # the last seat
    entitlements.require_seat(org, role=Role.AGENT, inviting="a@example.test")  # re-inviting them is no new seat
    with pytest.raises(entitlements.PlanLimitReached) as refused:
        entitlements.require_seat(org, role=Role.AGENT, inviting="b@example.test")
    assert refused.value.status_code == 402
    assert refused.value.details["limit"] == "seats"
    assert (refused.value.details["allowed"], refused.value.details["current"]) == (2, 2)


def test_overrides_and_the_free_plan_decide_features():
    org = OrganizationFactory()
    services.license_change(organization=org, plan=Plan.objects.get(code="free"), status=License.Status.ACTIVE)
    with pytest.raises(entitlements.PlanLimitReached) as refused:
        entitlements.require_feature(org, "webhooks")
    assert refused.value.details["limit"] == "feature:webhooks"
    license_ = License.objects.for_org(org).get()
    license_.overrides = {"features_add": ["webhooks"], "sessions_per_seat": None}
    license_.save()
    entitlements.require_feature(org, "webhooks")
    assert entitlements.entitlements_for(org).limit("sessions_per_seat") is None


def test_read_only_refuses_new_things_but_not_reading_features():
    org = OrganizationFactory()
    services.license_change(organization=org, status=License.Status.READ_ONLY)
    with pytest.raises(entitlements.PlanLimitReached) as refused:
        entitlements.require_session_start(org)
    assert refused.value.details["limit"] == "status"
    entitlements.require_feature(org, "audit_export", writes=False)


def test_seats_cannot_go_below_those_in_use_and_changes_are_audited():
    org = OrganizationFactory()
    entitlements.license_for(org)
    MembershipFactory(organization=org, role=Role.OWNER)
    MembershipFactory(organization=org, role=Role.AGENT)
    with pytest.raises(ApplicationError) as refused:
        services.license_change(organization=org, seats=1)
    assert refused.value.code == "seats_in_use"
    assert License.objects.for_org(org).get().seats == 10
    services.license_change(organization=org, seats=3)
    entry = AuditEntry.objects.for_org(org).get(action="license.changed")
    assert entry.data == {"seats": [10, 3]}
    assert Membership.objects.for_org(org).count() == 2


def test_an_unknown_status_is_refused_and_changes_nothing():
    org = OrganizationFactory()
    entitlements.license_for(org)
    with pytest.raises(ApplicationError) as refused:
        services.license_change(organization=org, status="gold", seats=4)
    assert refused.value.code == "invalid_status"
    assert (License.objects.for_org(org).get().status, License.objects.for_org(org).get().seats) == ("trialing", 10)
