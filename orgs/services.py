"""Writes for organizations, memberships and invitations. Views, the API, commands and admin call these."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from audit.services import audit_record
from billing import entitlements
from connect import events
from connect.errors import ApplicationError, Conflict, Forbidden, NotFound
from connect.ids import new_secret, secret_hash
from connect.links import absolute_url

from . import access
from .models import Invitation, Membership, Organization, Role, User
from .roles import can_grant

SLUG_MAX = Organization._meta.get_field("slug").max_length


def user_mark_email_verified(user: User) -> None:
    """Record the address as verified where we know it is: the invitee clicked the e-mailed link, or an operator
    created the owner. Sign-in requires a verified address (ACCOUNT_EMAIL_VERIFICATION)."""
    from allauth.account.models import EmailAddress

    EmailAddress.objects.update_or_create(user=user, email=user.email, defaults={"verified": True, "primary": True})


def normalize_email(email: str) -> str:
    """Lower-case and validate an address, or raise a clear ``invalid_email`` error."""
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ApplicationError(
            _("'%(email)s' is not a valid e-mail address.") % {"email": email},
            code="invalid_email",
            details={"field": "email"},
        ) from None
    return email


def _clean_slug(name: str, slug: str | None) -> str:
    candidate = slugify(slug if slug else name)[:SLUG_MAX].strip("-")
    if not candidate:
        raise ApplicationError(
            _("Choose a slug with at least one letter or digit."), code="invalid_slug", details={"field": "slug"}
        )
    if slug and candidate != slug:
        raise ApplicationError(
            _("'%(slug)s' is not a valid slug: use lower-case letters, digits and hyphens, e.g. '%(suggestion)s'.")
            % {"slug": slug, "suggestion": candidate},
            code="invalid_slug",
            details={"field": "slug", "suggestion": candidate},
        )
    return candidate


def _slug_taken(slug: str) -> Conflict:
    return Conflict(
        _("An organization with the slug '%(slug)s' already exists; choose another.") % {"slug": slug},
        code="slug_taken",
        details={"field": "slug"},
    )


@transaction.atomic
def organization_create(
    *, name: str, owner_email: str, slug: str | None = None, owner_password: str | None = None, owner_name: str = ""
) -> tuple[Organization, User, bool]:
    """Create an organization with its first owner.

    The owner is an existing user with that e-mail, or a new one with ``owner_password``.
    Returns ``(organization, owner, owner_created)``. Nothing is written when any check fails.
    """
    name = (name or "").strip()
    if not name:
        raise ApplicationError(_("The organization needs a name."), code="invalid_name", details={"field": "name"})
    slug = _clean_slug(name, slug)
    email = normalize_email(owner_email)
    if Organization.objects.filter(slug=slug).exists():
        raise _slug_taken(slug)

    owner = User.objects.filter(email=email).first()
    created = owner is None
    if created:
        if not owner_password:
            raise ApplicationError(
                _("A password is needed for the new owner %(email)s.") % {"email": email}, code="password_required"
            )
        candidate = User(email=email, name=owner_name)
        try:
            validate_password(owner_password, user=candidate)
        except ValidationError as exc:
            raise ApplicationError(
                " ".join(exc.messages), code="weak_password", details={"field": "password", "problems": exc.messages}
            ) from None
        owner = User.objects.create_user(email=email, password=owner_password, name=owner_name)
        user_mark_email_verified(owner)

    try:
        with transaction.atomic():
            organization = Organization.objects.create(name=name, slug=slug)
    except IntegrityError:  # a concurrent create won the race for the slug
        raise _slug_taken(slug) from None
    Membership.objects.create(organization=organization, user=owner, role=Role.OWNER)
    entitlements.license_for(organization)  # a trial of the default plan
    audit_record(organization=organization, action="member.added", target=owner, data={"role": Role.OWNER})
    return organization, owner, created


def _membership_of(user: User, organization: Organization) -> Membership | None:
    return Membership.objects.for_org(organization).filter(user=user).first()


def _role_choice(role: str) -> str:
    if role not in Role.values:
        raise ApplicationError(
            _("'%(role)s' is not a role; choose one of %(roles)s.") % {"role": role, "roles": ", ".join(Role.values)},
            code="invalid_role",
            details={"field": "role", "choices": list(Role.values)},
        )
    return role


def invitation_url(token: str) -> str:
    return absolute_url("invitation_accept", token)


@transaction.atomic
def invitation_create(*, organization: Organization, inviter: User, email: str, role: str) -> tuple[Invitation, str]:
    """Invite ``email`` with ``role``. Returns the invitation and its token (the only time it exists in clear).

    An open invitation to the same address is replaced, so the newest e-mail is the one that works.
    """
    email = normalize_email(email)
    role = _role_choice(role)
    inviter_membership = _membership_of(inviter, organization)
    if inviter_membership is None:
        raise NotFound(_("Organization not found."))
    if not can_grant(inviter_membership.role, role):
        raise Forbidden(
            _("As %(own)s you cannot invite someone as %(role)s.")
            % {"own": inviter_membership.get_role_display(), "role": Role(role).label},
            code="role_above_inviter",
            details={"field": "role"},
        )
    if Membership.objects.for_org(organization).filter(user__email=email).exists():
        raise Conflict(
            _("%(email)s is already a member of %(org)s.") % {"email": email, "org": organization.name},
            code="already_member",
            details={"field": "email"},
        )
    entitlements.require_seat(organization, role=role, inviting=email)
    now = timezone.now()
    Invitation.objects.for_org(organization).filter(
        email__iexact=email, accepted_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=now)
    # An invitation it replaced is withdrawn with it (same address, so the log reads "invited again").

    token = new_secret("inv")
    invitation = Invitation.objects.create(
        organization=organization,
        email=email,
        role=role,
        token_hash=secret_hash(token),
        invited_by=inviter,
        expires_at=now + settings.INVITATION_TTL,
    )
    audit_record(
        organization=organization,
        action="invitation.created",
        actor=inviter,
        target=invitation,
        data={"role": role, "expires_at": invitation.expires_at.isoformat()},
    )
    link = invitation_url(token)
    transaction.on_commit(lambda: _send_invitation_email(invitation, link))
    return invitation, token


def _send_invitation_email(invitation: Invitation, link: str) -> None:
    inviter = invitation.invited_by.get_full_name() if invitation.invited_by else _("Someone")
    subject = _("%(inviter)s invited you to %(org)s on BizGaze Connect") % {
        "inviter": inviter,
        "org": invitation.organization.name,
    }
    body = _(
        "%(inviter)s invited you to join %(org)s as %(role)s.\n\nAccept the invitation: %(link)s\n\n"
        "The link works once and expires on %(expires)s UTC."
    ) % {
        "inviter": inviter,
        "org": invitation.organization.name,
        "role": invitation.get_role_display(),
        "link": link,
        "expires": invitation.expires_at.strftime("%Y-%m-%d %H:%M"),
    }
    send_mail(subject, body, None, [invitation.email])


def invitation_by_token(token: str) -> Invitation:
    """The invitation behind a token, whatever its state; 404 for an unknown token."""
    invitation = (
        Invitation.objects.unscoped("a token names its invitation, whichever the organization")
        .select_related("organization", "invited_by")
        .filter(token_hash=secret_hash(token or ""))
        .first()
    )
    if invitation is None:
        raise NotFound(_("This invitation link is not valid. Ask for a new invitation."), code="invitation_invalid")
    return invitation


def invitation_check_usable(invitation: Invitation) -> None:
    """Raise a clear error when an invitation can no longer be accepted."""
    state = invitation.state
    if state == "accepted":
        raise Conflict(_("This invitation has already been used."), code="invitation_used")
    if state == "revoked":
        raise Conflict(_("This invitation was withdrawn. Ask for a new one."), code="invitation_revoked")
    if state == "expired":
        raise Conflict(_("This invitation has expired. Ask for a new one."), code="invitation_expired")
    if not invitation.organization.is_active:
        raise NotFound(_("This invitation link is not valid. Ask for a new invitation."), code="invitation_invalid")


@transaction.atomic
def invitation_accept(*, token: str, user: User) -> Membership:
    """Turn an invitation into a membership for ``user``; works once.

    The signed-in user must own the invited address, and the inviter must still be allowed to grant the role.
    """
    invitation = invitation_by_token(token)
    invitation_check_usable(invitation)
    if user.email.lower() != invitation.email.lower():
        raise Forbidden(
            _("This invitation is for %(email)s; sign in with that address to accept it.")
            % {"email": invitation.email},
            code="invitation_wrong_user",
        )
    organization = invitation.organization
    inviter_membership = _membership_of(invitation.invited_by, organization) if invitation.invited_by else None
    if inviter_membership is None or not can_grant(inviter_membership.role, invitation.role):
        raise Conflict(
            _("The person who invited you can no longer grant this role. Ask for a new invitation."),
            code="invitation_invalid",
        )
    if _membership_of(user, organization) is not None:
        raise Conflict(_("You are already a member of %(org)s.") % {"org": organization.name}, code="already_member")
    # The seat was counted when the invitation was sent; accepting it only fails if seats were lowered since.
    entitlements.require_seat(organization, role=invitation.role)
    # Claim the invitation with a conditional update: of two concurrent accepts, exactly one wins.
    claimed = (
        Invitation.objects.for_org(organization)
        .filter(pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now())
        .update(accepted_at=timezone.now(), accepted_by=user)
    )
    if claimed != 1:
        raise Conflict(_("This invitation has already been used."), code="invitation_used")
    membership = Membership.objects.create(organization=organization, user=user, role=invitation.role)
    audit_record(
        organization=organization,
        action="invitation.accepted",
        actor=user,
        target=invitation,
        data={"role": invitation.role, "user_id": user.public_id},
    )
    audit_record(
        organization=organization,
        action="member.added",
        actor=user,
        target=user,
        data={"role": membership.role, "invitation_id": invitation.public_id},
    )
    events.emit(
        events.MemberAdded(organization=organization, actor=events.Actor.of_user(user), **_member_fields(membership))
    )
    return membership


def _event_actor(user: User | None) -> events.Actor:
    return events.Actor.of_user(user) if user is not None else events.Actor.system()


def _member_fields(membership: Membership) -> dict:
    return {"user_id": membership.user.public_id, "email": membership.user.email, "role": membership.role}


@transaction.atomic
def invitation_accept_with_signup(*, token: str, password: str, name: str = "") -> Membership:
    """Create the account for the invited address and accept in one step (the invitee had no account)."""
    invitation = invitation_by_token(token)
    invitation_check_usable(invitation)
    if User.objects.filter(email=invitation.email.lower()).exists():
        raise Conflict(
            _("An account for %(email)s already exists; sign in to accept.") % {"email": invitation.email},
            code="account_exists",
        )
    candidate = User(email=invitation.email.lower(), name=name)
    try:
        validate_password(password, user=candidate)
    except ValidationError as exc:
        raise ApplicationError(
            " ".join(exc.messages), code="weak_password", details={"field": "password", "problems": exc.messages}
        ) from None
    user = get_user_model().objects.create_user(email=invitation.email, password=password, name=name.strip())
    user_mark_email_verified(user)
    return invitation_accept(token=token, user=user)


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor: User | None, operator: User | None = None) -> Invitation:
    """Withdraw a pending invitation. ``actor`` None is an operator (``operator``: the staff member in the Django
    admin, named in the audit log); a member needs authority over the invited role."""
    if actor is not None:
        actor_membership = _membership_of(actor, invitation.organization)
        if actor_membership is None or not can_grant(actor_membership.role, invitation.role):
            raise Forbidden(_("You cannot withdraw this invitation."))
    if invitation.state != "pending":
        return invitation
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    audit_record(
        organization=invitation.organization,
        action="invitation.revoked",
        actor=actor or operator,
        target=invitation,
        data={"role": invitation.role},
    )
    return invitation


@transaction.atomic
def membership_add(*, organization: Organization, user: User, role: str, operator: User | None = None) -> Membership:
    """Make ``user`` a member with ``role`` without an invitation: operators (the Django admin, commands) only;
    members invite (:func:`invitation_create`)."""
    role = _role_choice(role)
    if _membership_of(user, organization) is not None:
        raise Conflict(
            _("%(email)s is already a member of %(org)s.") % {"email": user.email, "org": organization.name},
            code="already_member",
        )
    entitlements.require_seat(organization, role=role)
    membership = Membership.objects.create(organization=organization, user=user, role=role)
    audit_record(organization=organization, action="member.added", actor=operator, target=user, data={"role": role})
    actor = events.Actor.of_user(operator) if operator is not None else events.Actor.system()
    events.emit(events.MemberAdded(organization=organization, actor=actor, **_member_fields(membership)))
    return membership


@transaction.atomic
def membership_change_role(
    *, membership: Membership, actor: User | None, role: str, operator: User | None = None
) -> Membership:
    """Give a member another role. ``actor`` None is an operator (``operator``: the staff member in the Django admin):
    the role rules of members do not apply to them, the organization keeping an owner does."""
    role = _role_choice(role)
    if membership.role == role:
        return membership
    if actor is not None:
        actor_membership = _membership_of(actor, membership.organization)
        actor_role = actor_membership.role if actor_membership else None
        # Changing someone's role needs authority over both their current role and the new one.
        if not (can_grant(actor_role, role) and can_grant(actor_role, membership.role)):
            raise Forbidden(_("You cannot give or take away this role."), code="role_above_actor")
        if membership.role == Role.ADMIN and actor_role != Role.OWNER and membership.user_id != actor.pk:
            raise Forbidden(_("Only an owner can change an admin's role."), code="owner_required")
    # Lock the owners so two concurrent demotions cannot leave the organization without one.
    owners = list(Membership.objects.for_org(membership.organization).filter(role=Role.OWNER).select_for_update())
    if membership.role == Role.OWNER and len(owners) <= 1:
        raise Conflict(_("An organization needs at least one owner; make someone else owner first."), code="last_owner")
    if membership.role not in entitlements.SEAT_ROLES:
        entitlements.require_seat(membership.organization, role=role)
    previous_role, membership.role = membership.role, role
    membership.save(update_fields=["role"])
    audit_record(
        organization=membership.organization,
        action="member.role_changed",
        actor=actor or operator,
        target=membership.user,
        data={"role": [previous_role, role]},
    )
    events.emit(
        events.MemberRoleChanged(
            organization=membership.organization,
            actor=_event_actor(actor or operator),
            previous_role=previous_role,
            **_member_fields(membership),
        )
    )
    access.announce([f"user:{membership.user_id}"])  # open sockets re-check what the new role allows
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, actor: User | None, operator: User | None = None) -> None:
    """Remove a member (or let them leave). ``actor`` None is an operator (``operator``: the staff member in the
    Django admin): the role rules of members do not apply to them, the organization keeping an owner does."""
    leaving = False
    if actor is not None:
        actor_membership = _membership_of(actor, membership.organization)
        actor_role = actor_membership.role if actor_membership else None
        leaving = actor_membership is not None and actor_membership.pk == membership.pk
        if not leaving and not can_grant(actor_role, membership.role):
            raise Forbidden(_("You cannot remove this member."), code="role_above_actor")
        if not leaving and membership.role == Role.ADMIN and actor_role != Role.OWNER:
            raise Forbidden(_("Only an owner can remove an admin."), code="owner_required")
    owners = list(Membership.objects.for_org(membership.organization).filter(role=Role.OWNER).select_for_update())
    if membership.role == Role.OWNER and len(owners) <= 1:
        raise Conflict(_("An organization needs at least one owner; make someone else owner first."), code="last_owner")
    audit_record(
        organization=membership.organization,
        action="member.removed",
        actor=actor or operator,
        target=membership.user,
        data={"role": membership.role, "left": leaving},
    )
    events.emit(
        events.MemberRemoved(
            organization=membership.organization, actor=_event_actor(actor or operator), **_member_fields(membership)
        )
    )
    membership.delete()
    access.announce([f"user:{membership.user_id}"])  # the sockets they opened in the organization close


@transaction.atomic
def organization_set_require_mfa(*, organization: Organization, require_mfa: bool) -> Organization:
    """Kept for operators' code and tests: :func:`organization_update_settings` without a person acting."""
    return organization_update_settings(organization=organization, actor=None, require_mfa=require_mfa)


# The settings an owner or admin changes in one place (the settings page, PATCH /api/v1/organization).
ORGANIZATION_SETTINGS = ("require_mfa", "agents_see_all_sessions")
# Also changed through organization_update_settings (by the Django admin today): the name and the retention periods.
RETENTION_SETTINGS = ("session_log_retention_days", "chat_retention_days", "audit_retention_days")
ORGANIZATION_OTHER_SETTINGS = ("name", *RETENTION_SETTINGS, "file_transfer_max_bytes", "recording_policy")
RETENTION_MAX_DAYS = 3650
FILE_TRANSFER_CEILING_BYTES = 2 * 1024**3  # the signaling protocol's own ceiling (signaling.protocol.MAX_FILE_BYTES)


def _clean_setting(name: str, value: object) -> object:
    """The value a setting is stored as, or a clear error naming the field."""
    if name in ORGANIZATION_SETTINGS:
        return bool(value)
    if name == "name":
        value = str(value or "").strip()
        if not value or len(value) > Organization._meta.get_field("name").max_length:
            raise ApplicationError(
                _("The organization needs a name of at most 120 characters."),
                code="invalid_name",
                details={"field": "name"},
            )
        return value
    if name == "recording_policy":
        if value not in Organization.RecordingPolicy.values:
            raise ApplicationError(
                _("The recording policy is off, optional or mandatory."),
                code="invalid_recording_policy",
                details={"field": name},
            )
        return value
    if name == "file_transfer_max_bytes":
        if value in (None, ""):
            return None  # CONNECT_FILE_TRANSFER_MAX_BYTES
        if isinstance(value, bool) or not isinstance(value, int) or not 1024 <= value <= FILE_TRANSFER_CEILING_BYTES:
            raise ApplicationError(
                _("The largest file is between 1 KB and 2 GB, or empty for the default."),
                code="invalid_file_transfer_limit",
                details={"field": name},
            )
        return value
    if value in (None, ""):
        return None  # kept until the organization is deleted
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= RETENTION_MAX_DAYS:
        raise ApplicationError(
            _("Keep for between 1 and %(max)d days, or leave empty to keep until the organization is deleted.")
            % {"max": RETENTION_MAX_DAYS},
            code="invalid_retention",
            details={"field": name},
        )
    return value


@transaction.atomic
def organization_update_settings(
    *, organization: Organization, actor: User | None, operator: User | None = None, **changes: object
) -> Organization:
    """Change the organization's settings (``ORGANIZATION_SETTINGS``); only its owners and admins may, and ``actor``
    None is an operator (a command, the Django admin). Nothing changes, nothing is written, when the values are already
    so.

    - ``require_mfa``: turning it on ends the native sign-ins and OAuth2 tokens that did not prove a second factor, and
      closes their sockets; cookie sessions are sent to enrolment on their next request.
    - ``agents_see_all_sessions``: agents may view (never operate) the sessions other agents run (sessions.selectors).
    - ``name``, the ``*_retention_days``, ``file_transfer_max_bytes`` and ``recording_policy``
      (``ORGANIZATION_OTHER_SETTINGS``).

    Every change is recorded in the audit log, naming ``actor`` or ``operator`` (the staff member in the Django admin).
    """
    unknown = set(changes) - set(ORGANIZATION_SETTINGS) - set(ORGANIZATION_OTHER_SETTINGS)
    if unknown:
        raise TypeError(f"organization_update_settings: unknown settings {sorted(unknown)}")
    if actor is not None:
        membership = _membership_of(actor, organization)
        if membership is None or membership.role not in (Role.OWNER, Role.ADMIN):
            raise Forbidden(
                _("Only the organization's owners and admins can change its settings."), code="admin_required"
            )
    cleaned = {name: _clean_setting(name, value) for name, value in changes.items()}
    changed = [name for name, value in cleaned.items() if getattr(organization, name) != value]
    if not changed:
        return organization
    before = {name: getattr(organization, name) for name in changed}
    for name in changed:
        setattr(organization, name, cleaned[name])
    organization.save(update_fields=changed)
    audit_record(
        organization=organization,
        action="organization.settings_changed",
        actor=actor or operator,
        target=organization,
        data={"changes": {name: [before[name], cleaned[name]] for name in changed}},
    )
    if "require_mfa" in changed and organization.require_mfa:
        access.end_unsatisfying_credentials(organization=organization, requirement="mfa")
    return organization


@transaction.atomic
def organization_set_status(*, organization: Organization, status: str, operator: User | None = None) -> Organization:
    """Suspend, close or reactivate an organization (operators only). Leaving "active" ends its credentials and its
    members' sockets in it (orgs.access); the change is recorded in its audit log."""
    if status not in Organization.Status.values:
        raise ApplicationError(
            _("'%(status)s' is not a status.") % {"status": status}, code="invalid_status", details={"field": "status"}
        )
    previous = Organization.objects.select_for_update().filter(pk=organization.pk).values_list("status", flat=True)
    previous = previous.first()
    if previous == status:
        organization.status = status
        return organization
    if Organization.Status.DELETED in (status, previous):
        raise ApplicationError(
            _(
                "Deleting and restoring an organization have their own actions: its owner deletes it in Settings "
                "(which schedules the purge), an operator restores it with the admin's Restore action."
            ),
            code="use_delete_or_restore",
            details={"field": "status"},
        )
    organization.status = status
    organization.save(update_fields=["status"])
    audit_record(
        organization=organization,
        action="organization.status_changed",
        actor=operator,
        target=organization,
        data={"status": [previous, status]},
    )
    if previous == Organization.Status.ACTIVE:
        members = Membership.objects.for_org(organization).values_list("user_id", flat=True)
        access.announce([f"org:{organization.pk}", *(f"user:{pk}" for pk in members)])
    return organization


@transaction.atomic
def user_set_active(*, user: User, is_active: bool, operator: User | None = None) -> User:
    """Disable (or enable again) an account, operators only. A disabled account's open sockets close; every
    organization the person belongs to records it."""
    if user.is_active == is_active:
        return user
    user.is_active = is_active
    user.save(update_fields=["is_active"])
    action = "user.reactivated" if is_active else "user.deactivated"
    for organization in Organization.objects.filter(membership__user=user).distinct():
        audit_record(organization=organization, action=action, actor=operator, target=user, data={})
    if not is_active:
        access.announce([f"user:{user.pk}"])
    return user


NAME_MAX = Organization._meta.get_field("name").max_length


def organization_start_check(*, user: User) -> None:
    """Raise why ``user`` may not start an organization now (sign-up closed, or the limit reached); the page asks
    before it shows its form, :func:`organization_start` again under its lock."""
    from .tenancy import memberships_of

    if not settings.CONNECT_OPEN_SIGNUP:
        raise Forbidden(
            _(
                "This server does not let people create organizations themselves. Ask an administrator of your "
                "organization to invite you; the invitation arrives by e-mail."
            ),
            code="signup_closed",
        )
    owned = memberships_of(user).filter(role=Role.OWNER).count()
    limit = settings.CONNECT_SIGNUP_MAX_ORGANIZATIONS
    if owned >= limit:
        raise Forbidden(
            _(
                "You already own %(owned)s organizations, the most one person may create here (%(limit)s). "
                "Use one of them, or ask the operator for more."
            )
            % {"owned": owned, "limit": limit},
            code="organization_limit",
            details={"limit": limit, "current": owned},
        )


@transaction.atomic
def organization_start(*, user: User, name: str, slug: str | None = None) -> Organization:
    """Someone who signed up on their own starts an organization (open sign-up only): they become its owner and it
    starts the trial of the default plan (``organization_create``). Operators use ``create_org`` instead.

    A person owns at most ``CONNECT_SIGNUP_MAX_ORGANIZATIONS`` organizations this way: an abuse guard, since every
    one of them is a free trial.
    """
    # One person's concurrent requests take turns, so the limit holds under a double submit.
    list(User.objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True))
    organization_start_check(user=user)
    if len((name or "").strip()) > NAME_MAX:
        raise ApplicationError(
            _("Keep the name to %(max)s characters.") % {"max": NAME_MAX},
            code="invalid_name",
            details={"field": "name"},
        )
    organization, _owner, _created = organization_create(name=name, owner_email=user.email, slug=slug)
    license_ = entitlements.license_for(organization)
    audit_record(
        organization=organization,
        action="organization.created",
        actor=user,
        target=organization,
        data={
            "via": "signup",
            "plan": license_.plan.code,
            "status": license_.status,
            "trial_ends_at": license_.trial_ends_at.isoformat() if license_.trial_ends_at else None,
        },
    )
    return organization
