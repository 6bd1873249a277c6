"""People and organizations leaving: a person's data export and erasure, an organization's deletion and purge.

GDPR articles 15 and 20 (``user_export``), 17 (``user_erase``), and the organization's own end
(``organization_delete`` → grace period → ``organization_purge``). Pages, the API, the Django admin and the
Celery beat task all call these; none of them holds a rule of its own.

Records that must outlive a person keep a snapshot instead of a foreign key: audit entries (their labels are
pseudonymized) and support sessions (``agent_label``). Everything else a person owns goes with their row.

Apps that orgs does not import hold personal data too (the API keys a person created, the OAuth2 applications
they registered): they register a :class:`PersonalData` provider (:func:`register_personal_data`) from their
``AppConfig.ready``, which adds its section to the export and runs before the erasure deletes the row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import ERASED_LABEL, audit_pseudonymize, audit_record, purge_permit
from connect.errors import Conflict, Forbidden

from . import access
from .models import Device, Invitation, Membership, Organization, Role, User
from .tenancy import memberships_of

logger = logging.getLogger(__name__)

EXPORT_FORMAT = "bizgaze-connect-export/1"
CROSSES_FOR_THE_PERSON = "a person's own data, in every organization they worked in (GDPR export and erasure)"


def iso(moment: datetime | None) -> str | None:
    """A moment as the export writes it (ISO 8601), or ``None``."""
    return moment.isoformat() if moment else None


@dataclass(frozen=True)
class PersonalData:
    """What another app holds about a person: ``export(user)`` is its section of the export (credentials described,
    never reproduced); ``before_erasure(user)`` runs in the erasure's transaction before the person's row is
    deleted (detach what belongs to an organization, so the cascade does not take it)."""

    export: Callable[[User], list[dict[str, Any]]] | None = None
    before_erasure: Callable[[User], None] | None = None


# The export's key -> its provider, in registration order (the export's sections follow it).
_PERSONAL_DATA: dict[str, PersonalData] = {}


def register_personal_data(name: str, provider: PersonalData) -> None:
    """Add ``name`` to every export and erasure (registering a name again replaces its provider)."""
    _PERSONAL_DATA[name] = provider


# --- Export (art. 15 and 20) -----------------------------------------------------------------------------------


def user_export(*, user: User) -> dict[str, Any]:
    """Everything the service holds about ``user`` as a person, in a machine-readable form they can take away.

    Credentials are described, never reproduced: no token, key, secret or hash leaves in an export, so a leaked
    export signs nobody in."""
    from sessions.models import SupportSession

    from .mfa import has_confirmed_device

    memberships = memberships_of(user).select_related("organization").order_by("created_at")
    sessions = (
        SupportSession.objects.unscoped(CROSSES_FOR_THE_PERSON)
        .filter(agent=user)
        .select_related("organization")
        .order_by("created_at")
    )
    export: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "exported_at": iso(timezone.now()),
        "profile": {
            "id": user.public_id,
            "email": user.email,
            "name": user.name,
            "date_joined": iso(user.date_joined),
            "last_login": iso(user.last_login),
            "two_factor_enabled": has_confirmed_device(user),
        },
        "memberships": [
            {
                "organization": org_ref(m.organization),
                "role": m.role,
                "since": iso(m.created_at),
            }
            for m in memberships
        ],
        "sessions": [
            {
                "id": s.public_id,
                "organization": org_ref(s.organization),
                "status": s.status,
                "created_at": iso(s.created_at),
                "started_at": iso(s.started_at),
                "ended_at": iso(s.ended_at),
                "end_reason": s.end_reason,
                "customer_name": s.customer_name,
            }
            for s in sessions
        ],
        "devices": [
            {
                "id": d.public_id,
                "name": d.name,
                "platform": d.platform,
                "created_at": iso(d.created_at),
                "last_seen_at": iso(d.last_seen_at),
                "last_ip": d.last_ip,
                "revoked_at": iso(d.revoked_at),
            }
            for d in Device.objects.filter(user=user).order_by("created_at")
        ],
    }
    for name, provider in _PERSONAL_DATA.items():
        if provider.export is not None:
            export[name] = provider.export(user)
    return export


def org_ref(organization: Organization) -> dict[str, str]:
    """How the export names an organization."""
    return {"id": organization.public_id, "slug": organization.slug, "name": organization.name}


# --- Erasure (art. 17) -----------------------------------------------------------------------------------------


def organizations_needing_handover(user: User) -> list[Organization]:
    """The organizations of which ``user`` is the only owner: erasing them would leave those orphaned. Suspended ones
    and deleted ones waiting for their purge count too: either may be restored."""
    owned = memberships_of(user).filter(role=Role.OWNER)
    blocking = []
    for membership in owned.select_related("organization"):
        owners = Membership.objects.for_org(membership.organization).filter(role=Role.OWNER).count()
        if owners <= 1:
            blocking.append(membership.organization)
    return blocking


def _sole_owner_refusal(organizations: list[Organization]) -> Conflict:
    names = ", ".join(o.name for o in organizations)
    return Conflict(
        _(
            "You are the only owner of %(orgs)s. Make someone else owner, or delete the organization, "
            "before you delete your account."
        )
        % {"orgs": names},
        code="sole_owner",
        details={"organizations": [o.slug for o in organizations]},
    )


@transaction.atomic
def user_erase(*, user: User, actor: Any = None) -> None:
    """Erase a person: refused while they are the only owner of an active organization (nothing changes then).

    In one transaction: ``user.erased`` is recorded in every organization they belonged to; their labels and
    addresses in every audit log, and the sessions they ran, keep only the erased label; the addresses of the
    session log lines they wrote go; every credential they hold ends (open sockets close after commit); and their
    row is deleted, taking memberships, devices and their tokens, authenticators, e-mail addresses, social
    accounts and OAuth2 tokens by cascade. Sessions, session logs, API keys and OAuth2 applications they made
    belong to their organizations and stay. ``actor`` is who asked (the person, an operator, ``None`` for the
    system)."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    from sessions.models import SessionEvent, SupportSession

    # Lock the person's owner memberships, and the owners of those organizations, so that a concurrent demotion
    # cannot slip between the check and the deletion.
    owned_orgs = list(memberships_of(user).filter(role=Role.OWNER).values_list("organization_id", flat=True))
    if owned_orgs:
        list(
            Membership.objects.unscoped("locking the owners the erasure check counts")
            .filter(organization_id__in=owned_orgs, role=Role.OWNER)
            .select_for_update()
        )
    blocking = organizations_needing_handover(user)
    if blocking:
        raise _sole_owner_refusal(blocking)

    person_id = user.public_id
    memberships = list(memberships_of(user).select_related("organization"))
    for membership in memberships:
        audit_record(
            organization=membership.organization,
            action="user.erased",
            actor=actor,
            target=user,
            data={"user_id": person_id, "role": membership.role},
        )
    # Invitations addressed to them carry their address: it goes, and so does the label of their audit entries.
    invitations = Invitation.objects.unscoped(CROSSES_FOR_THE_PERSON).filter(email__iexact=user.email)
    invitation_ids = list(invitations.values_list("public_id", flat=True))
    for invitation_id in invitation_ids:
        invitations.filter(public_id=invitation_id).update(email=f"erased-{invitation_id}@erased.invalid")
    audit_pseudonymize(person_id=person_id, also_targets=invitation_ids)

    SupportSession.objects.unscoped(CROSSES_FOR_THE_PERSON).filter(agent=user).update(agent_label=ERASED_LABEL)
    SessionEvent.objects.unscoped(CROSSES_FOR_THE_PERSON).filter(actor=user).update(ip=None, user_agent="")
    for provider in _PERSONAL_DATA.values():
        if provider.before_erasure is not None:
            provider.before_erasure(user)
    # Sign-in attempts are kept by address, not by foreign key.
    for model in (AccessAttempt, AccessLog, AccessFailureLog):
        model.objects.filter(username__iexact=user.email).delete()

    # The row's cascade ends every credential (devices and their tokens, OAuth2 tokens; cookie sessions of a user
    # who no longer exists are anonymous); once this commits, their open sockets re-check and close.
    access.announce([f"user:{user.pk}"])
    pk = user.pk
    user.delete()
    logger.info("erased user %s (pk %s) from %d organizations", person_id, pk, len(memberships))


# --- Organizations ---------------------------------------------------------------------------------------------


def purge_days() -> int:
    """How long a deleted organization can still be restored before its rows are purged."""
    return settings.CONNECT_ORGANIZATION_PURGE_DAYS


def _require_owner(organization: Organization, actor: User) -> None:
    membership = Membership.objects.for_org(organization).filter(user=actor).first() if actor else None
    if membership is None or membership.role != Role.OWNER:
        raise Forbidden(_("Only an owner can delete the organization."), code="owner_required")


@transaction.atomic
def organization_delete(*, organization: Organization, actor: User) -> Organization:
    """An owner deletes the organization: from this commit nobody reaches it (every credential of its members and
    its own answer 404 for it, open sockets close, live sessions end), and its rows are purged once the grace
    period (``CONNECT_ORGANIZATION_PURGE_DAYS``) has passed, unless an operator restores it first."""
    from sessions.models import LIVE_STATUSES, EndReason, SupportSession
    from sessions.services import Actor as SessionActor
    from sessions.services import session_end

    organization = Organization.objects.select_for_update().get(pk=organization.pk)
    _require_owner(organization, actor)
    if organization.status == Organization.Status.DELETED:
        return organization
    ending = SessionActor(kind="system", label="organization deleted")
    for session in (
        SupportSession.objects.for_org(organization).filter(status__in=LIVE_STATUSES).select_related("organization")
    ):
        session_end(session=session, actor=ending, reason=EndReason.ORGANIZATION_DELETED)
    now = timezone.now()
    organization.status = Organization.Status.DELETED
    organization.deletion_requested_at = now
    organization.purge_after = now + timedelta(days=purge_days())
    organization.save(update_fields=["status", "deletion_requested_at", "purge_after"])
    audit_record(
        organization=organization,
        action="organization.deleted",
        actor=actor,
        target=organization,
        data={"purge_after": organization.purge_after.isoformat()},
    )
    members = Membership.objects.for_org(organization).values_list("user_id", flat=True)
    access.announce([f"org:{organization.pk}", *(f"user:{pk}" for pk in members)])
    return organization


@transaction.atomic
def organization_restore(*, organization: Organization, actor: Any = None) -> Organization:
    """An operator takes back a deletion before the purge: the organization is active again, as it was."""
    organization = Organization.objects.select_for_update().get(pk=organization.pk)
    if organization.status != Organization.Status.DELETED:
        return organization
    organization.status = Organization.Status.ACTIVE
    organization.deletion_requested_at = None
    organization.purge_after = None
    organization.save(update_fields=["status", "deletion_requested_at", "purge_after"])
    audit_record(organization=organization, action="organization.restored", actor=actor, target=organization)
    return organization


def organization_purge(*, organization: Organization, now: datetime | None = None) -> dict[str, int]:
    """Delete every row ``organization`` owns, in every table, once its grace period has passed; people stay
    (they may belong elsewhere). Answers what was deleted per model; nothing when it is not due or already gone
    (idempotent)."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = (
            Organization.objects.select_for_update()
            .filter(pk=organization.pk, status=Organization.Status.DELETED, purge_after__lte=now)
            .first()
        )
        if locked is None:
            return {}
        public_id = locked.public_id
        with purge_permit(locked):
            _total, deleted = locked.delete()
    logger.info("purged organization %s: %s", public_id, deleted)
    return deleted


def organizations_purge_due(*, now: datetime | None = None) -> int:
    """Purge every deleted organization whose grace period has passed (Celery beat, daily); answers how many."""
    now = now or timezone.now()
    due = Organization.objects.filter(status=Organization.Status.DELETED, purge_after__lte=now)
    purged = 0
    for organization in due.order_by("purge_after"):
        if organization_purge(organization=organization, now=now):
            purged += 1
    return purged
