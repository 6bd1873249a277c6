from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from connect.errors import ApplicationError, Conflict, Forbidden, NotFound
from orgs import services
from orgs.models import Invitation, Membership, Role
from orgs.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=False)


def invite(org, inviter, email="dave@acme.test", role=Role.AGENT):
    return services.invitation_create(organization=org, inviter=inviter, email=email, role=role)


def test_invitation_is_emailed_with_a_working_link(acme, alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        invitation, token = invite(acme, alice)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["dave@acme.test"]
    assert services.invitation_url(token) in mail.outbox[0].body
    # Only the hash is stored: the token itself is nowhere in the database row.
    assert token not in invitation.token_hash


def test_invitation_accepted_once(acme, alice):
    _, token = invite(acme, alice)
    dave = UserFactory(email="dave@acme.test")
    membership = services.invitation_accept(token=token, user=dave)
    assert membership.organization == acme and membership.role == Role.AGENT

    with pytest.raises(Conflict) as exc:
        services.invitation_accept(token=token, user=dave)
    assert exc.value.code == "invitation_used"
    assert Membership.objects.for_org(acme).filter(user=dave).count() == 1


def test_expired_invitation_is_refused_and_changes_nothing(acme, alice):
    invitation, token = invite(acme, alice)
    Invitation.objects.for_org(acme).filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    dave = UserFactory(email="dave@acme.test")
    with pytest.raises(Conflict) as exc:
        services.invitation_accept(token=token, user=dave)
    assert exc.value.code == "invitation_expired"
    assert not Membership.objects.for_org(acme).filter(user=dave).exists()
    invitation.refresh_from_db()
    assert invitation.accepted_at is None


def test_unknown_token_is_not_found(acme):
    with pytest.raises(NotFound):
        services.invitation_accept(token="inv_made-up", user=UserFactory())


@pytest.mark.parametrize(
    ("inviter_role", "granted", "allowed"),
    [
        (Role.OWNER, Role.OWNER, True),
        (Role.ADMIN, Role.ADMIN, True),
        (Role.ADMIN, Role.OWNER, False),
        (Role.AGENT, Role.AGENT, False),
        (Role.AGENT, Role.MEMBER, False),
        (Role.MEMBER, Role.MEMBER, False),
    ],
)
def test_inviter_role_caps_the_granted_role(acme, inviter_role, granted, allowed):
    inviter = UserFactory()
    Membership.objects.create(organization=acme, user=inviter, role=inviter_role)
    if allowed:
        invitation, _ = invite(acme, inviter, role=granted)
        assert invitation.role == granted
    else:
        with pytest.raises(Forbidden):
            invite(acme, inviter, role=granted)
        assert not Invitation.objects.for_org(acme).exists()


def test_invitation_loses_force_when_inviter_is_demoted(acme, alice, carol):
    _, token = invite(acme, carol, role=Role.ADMIN)
    services.membership_change_role(
        membership=Membership.objects.for_org(acme).get(user=carol), actor=alice, role=Role.AGENT
    )
    with pytest.raises(Conflict):
        services.invitation_accept(token=token, user=UserFactory(email="dave@acme.test"))


def test_invitation_for_someone_else_cannot_be_accepted(acme, alice, bob):
    _, token = invite(acme, alice, email="dave@acme.test")
    with pytest.raises(Forbidden):
        services.invitation_accept(token=token, user=UserFactory(email="mallory@evil.test"))


def test_outsider_cannot_invite(acme, gina):
    with pytest.raises(NotFound):
        invite(acme, gina)


def test_malformed_email_is_refused(acme, alice):
    with pytest.raises(ApplicationError) as exc:
        invite(acme, alice, email="not-an-address")
    assert exc.value.code == "invalid_email"
    assert not Invitation.objects.for_org(acme).exists()


def test_unknown_role_is_refused(acme, alice):
    with pytest.raises(ApplicationError) as exc:
        invite(acme, alice, role="superhero")
    assert exc.value.code == "invalid_role"


def test_inviting_a_member_is_a_conflict(acme, alice, bob):
    with pytest.raises(Conflict):
        invite(acme, alice, email="BOB@acme.test")


def test_reinviting_replaces_the_open_invitation(acme, alice):
    _, first = invite(acme, alice)
    _, second = invite(acme, alice, email="Dave@Acme.test")
    dave = UserFactory(email="dave@acme.test")
    with pytest.raises(Conflict) as exc:
        services.invitation_accept(token=first, user=dave)
    assert exc.value.code == "invitation_revoked"
    services.invitation_accept(token=second, user=dave)


def test_signup_through_invitation_creates_account_and_membership(acme, alice):
    _, token = invite(acme, alice)
    membership = services.invitation_accept_with_signup(token=token, password=PASSWORD, name="Dave")
    assert membership.user.email == "dave@acme.test"
    assert membership.user.check_password(PASSWORD)


def test_signup_with_weak_password_creates_nothing(acme, alice):
    _, token = invite(acme, alice)
    with pytest.raises(ApplicationError) as exc:
        services.invitation_accept_with_signup(token=token, password="123")
    assert exc.value.code == "weak_password"
    assert not Membership.objects.for_org(acme).filter(user__email="dave@acme.test").exists()
    assert Invitation.objects.for_org(acme).get().accepted_at is None


def test_last_owner_cannot_be_removed_or_demoted(acme, alice):
    owner = Membership.objects.for_org(acme).get(user=alice)
    with pytest.raises(Conflict):
        services.membership_remove(membership=owner, actor=alice)
    with pytest.raises(Conflict):
        services.membership_change_role(membership=owner, actor=alice, role=Role.ADMIN)
    assert Membership.objects.for_org(acme).get(user=alice).role == Role.OWNER
