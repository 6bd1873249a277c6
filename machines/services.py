"""Every write about unattended machines, with its rules: groups and their policies, enrollment tokens, enrollment,
changes and removal, and connecting to a machine (the policy check, the session it opens, the record of both)."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from billing import entitlements
from connect import ratelimit
from connect.errors import ApplicationError, Conflict, Forbidden, NotFound
from connect.ids import new_secret, secret_hash
from orgs.models import Membership, Organization, Role, User
from orgs.roles import role_at_least, scopes_for_role
from orgs.tenancy import OrgContext
from sessions import services as session_services
from sessions.models import SupportSession
from sessions.services import Actor
from signaling.ice import ice_servers

from . import presence
from .models import WEEKDAYS, EnrollmentToken, Machine, MachineConnection, MachineGroup

ENROLLMENT_PREFIX = "cme"
DEFAULT_GROUP_NAME = "All machines"
TAG_MAX, TAGS_MAX = 40, 20


def _clean_tags(tags: Any) -> list[str]:
    if tags is None:
        return []
    if not isinstance(tags, list) or len(tags) > TAGS_MAX:
        raise ApplicationError(
            _("Tags are a list of at most %(n)s words.") % {"n": TAGS_MAX}, code="invalid", details={"field": "tags"}
        )
    cleaned: list[str] = []
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip() or len(tag.strip()) > TAG_MAX or "\x00" in tag:
            raise ApplicationError(
                _("Each tag is 1 to %(n)s characters.") % {"n": TAG_MAX}, code="invalid", details={"field": "tags"}
            )
        if tag.strip().lower() not in cleaned:
            cleaned.append(tag.strip().lower())
    return cleaned


# --- Groups and their policies -------------------------------------------------------------------------------------


def default_group(organization: Organization) -> MachineGroup:
    group, _created = MachineGroup.objects.for_org(organization).get_or_create(
        organization=organization, name=DEFAULT_GROUP_NAME
    )
    return group


def _check_policy(values: dict[str, Any]) -> None:
    zone = values.get("timezone")
    if zone is not None:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ApplicationError(
                _("'%(zone)s' is not a time zone (e.g. Europe/Berlin).") % {"zone": zone},
                code="invalid",
                details={"field": "timezone"},
            ) from None
    days = values.get("weekdays")
    if days is not None and (not isinstance(days, list) or any(d not in WEEKDAYS for d in days)):
        raise ApplicationError(
            _("Days are numbers from 0 (Monday) to 6 (Sunday)."), code="invalid", details={"field": "weekdays"}
        )
    if (values.get("hours_start") is None) != (values.get("hours_end") is None):
        raise ApplicationError(
            _("Give both ends of the allowed hours, or neither."), code="invalid", details={"field": "hours_end"}
        )
    if values.get("hours_start") is not None and values.get("hours_start") == values.get("hours_end"):
        raise ApplicationError(
            _("The allowed hours start and end at the same time."), code="invalid", details={"field": "hours_end"}
        )


POLICY_FIELDS = ("access", "require_consent", "hours_start", "hours_end", "weekdays", "timezone")


@transaction.atomic
def group_save(
    *, org: OrgContext, group: MachineGroup | None = None, name: str, allowed_users: list[User] | None = None, **policy
) -> MachineGroup:
    """Create a group (``group`` None) or change one: its name, policy and the people it lists."""
    unknown = set(policy) - set(POLICY_FIELDS)
    if unknown:
        raise ApplicationError(_("Unknown field."), code="invalid", details={"field": sorted(unknown)[0]})
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ApplicationError(
            _("A group needs a name of 1 to 100 characters."), code="invalid", details={"field": "name"}
        )
    current = {f: getattr(group, f) for f in POLICY_FIELDS} if group else {}
    merged = {**current, **policy}
    _check_policy(merged)
    clash = MachineGroup.objects.for_org(org.organization).filter(name__iexact=name)
    if group is not None:
        clash = clash.exclude(pk=group.pk)
    if clash.exists():
        raise Conflict(_("A group of this name exists already."), code="duplicate", details={"field": "name"})
    created = group is None
    if created:
        group = MachineGroup(organization=org.organization)
    group.name = name
    for field, value in merged.items():
        setattr(group, field, value)
    group.save()
    if allowed_users is not None:
        members = set(Membership.objects.for_org(org.organization).values_list("user_id", flat=True))
        if any(user.pk not in members for user in allowed_users):
            raise NotFound(_("No such member in this organization."), details={"field": "allowed_users"})
        group.allowed_users.set(allowed_users)
    audit_record(
        organization=org.organization,
        action="machine_group.created" if created else "machine_group.changed",
        actor=org,
        target=group,
        target_label=group.name,
        data={
            "name": group.name,
            "access": group.access,
            "require_consent": group.require_consent,
            "hours": [str(group.hours_start or ""), str(group.hours_end or "")],
            "weekdays": group.weekdays,
            "timezone": group.timezone,
        },
    )
    return group


# --- Enrollment ----------------------------------------------------------------------------------------------------


@transaction.atomic
def enrollment_token_create(
    *,
    org: OrgContext,
    name: str,
    group: MachineGroup | None = None,
    tags: list[str] | None = None,
    max_uses: int | None = 1,
    expires_in: timedelta | None = None,
) -> tuple[EnrollmentToken, str]:
    """A token a desktop agent enrolls with; the secret is returned once, only its hash is kept."""
    entitlements.require_feature(org.organization, "unattended")
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ApplicationError(_("Name the token (1 to 100 characters)."), code="invalid", details={"field": "name"})
    if max_uses is not None and not (1 <= max_uses <= 10_000):
        raise ApplicationError(
            _("Uses allowed: 1 to 10,000, or empty for any number until it expires."),
            code="invalid",
            details={"field": "max_uses"},
        )
    expires_in = expires_in or settings.CONNECT_ENROLLMENT_TOKEN_TTL
    if not (timedelta(minutes=5) <= expires_in <= timedelta(days=365)):
        raise ApplicationError(
            _("A token lasts from 5 minutes to a year."), code="invalid", details={"field": "expires_in_hours"}
        )
    secret = new_secret(ENROLLMENT_PREFIX)
    token = EnrollmentToken.objects.create(
        organization=org.organization,
        name=name,
        prefix=secret[:10],
        token_hash=secret_hash(secret),
        group=group or default_group(org.organization),
        tags=_clean_tags(tags),
        max_uses=max_uses,
        created_by=org.user,
        expires_at=timezone.now() + expires_in,
    )
    audit_record(
        organization=org.organization,
        action="machine_enrollment_token.created",
        actor=org,
        target=token,
        target_label=token.name,
        data={"group": token.group.name, "max_uses": max_uses, "expires_at": token.expires_at.isoformat()},
    )
    return token, secret


@transaction.atomic
def enrollment_token_revoke(*, org: OrgContext, token: EnrollmentToken) -> EnrollmentToken:
    if (
        EnrollmentToken.objects.for_org(org.organization)
        .filter(pk=token.pk, revoked_at__isnull=True)
        .update(revoked_at=timezone.now())
    ):
        audit_record(
            organization=org.organization,
            action="machine_enrollment_token.revoked",
            actor=org,
            target=token,
            target_label=token.name,
        )
    token.refresh_from_db()
    return token


def public_key_bytes(value: str) -> bytes:
    """The 32 raw bytes of an Ed25519 public key given as base64url (padding optional), or a clear error."""
    try:
        raw = base64.urlsafe_b64decode((value or "") + "=" * (-len(value or "") % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ApplicationError(
            _("public_key is the machine's Ed25519 public key: 32 bytes, base64url."),
            code="invalid",
            details={"field": "public_key"},
        )
    return raw


def _enroll(
    *, secret: str, hostname: str, os: str, os_version: str, agent_version: str, public_key: str, name: str, ip
) -> Machine:
    invalid = ApplicationError(
        _("This enrollment token is not valid. Ask your administrator for a new one."),
        code="invalid_enrollment_token",
        status_code=401,
    )
    if not (secret or "").startswith(ENROLLMENT_PREFIX + "_"):
        raise invalid
    raw_key = public_key_bytes(public_key)
    key = base64.urlsafe_b64encode(raw_key).decode().rstrip("=")
    with transaction.atomic():
        token = (
            EnrollmentToken.objects.unscoped("an enrollment token names its organization, whichever it is")
            .select_for_update()
            .select_related("organization", "group")
            .filter(token_hash=secret_hash(secret))
            .first()
        )
        if token is None or not token.organization.is_active:
            raise invalid
        state = token.state(timezone.now())
        if state != "active":
            raise ApplicationError(
                {
                    "revoked": _("This enrollment token was revoked."),
                    "expired": _("This enrollment token has expired."),
                    "used": _("This enrollment token has been used as many times as it allows."),
                }[state],
                code=f"enrollment_token_{state}",
                status_code=401,
            )
        organization = token.organization
        entitlements.require_machine_enrollment(organization)
        if Machine.objects.unscoped("a key names one machine across organizations").filter(public_key=key).exists():
            raise Conflict(
                _("A machine with this key is enrolled already; enroll with a new key."),
                code="duplicate",
                details={"field": "public_key"},
            )
        machine = Machine.objects.create(
            organization=organization,
            name=(name or hostname)[:100],
            hostname=hostname,
            os=os,
            os_version=os_version,
            agent_version=agent_version,
            public_key=key,
            group=token.group,
            tags=list(token.tags),
            enrolled_with=token,
            enrolled_ip=ip,
        )
        EnrollmentToken.objects.for_org(organization).filter(pk=token.pk).update(uses=token.uses + 1)
        audit_record(
            organization=organization,
            action="machine.enrolled",
            actor=Actor(kind="system", label=f"enrollment token {token.name}", ip=ip),
            target=machine,
            target_label=machine.name,
            ip=ip,
            data={"hostname": hostname, "os": os, "agent_version": agent_version, "token": token.public_id},
        )
    return machine


def machine_enroll(
    *,
    token: str,
    hostname: str,
    os: str,
    public_key: str,
    os_version: str = "",
    agent_version: str = "",
    name: str = "",
    ip: str | None = None,
) -> Machine:
    """A desktop agent enrolls its machine with a token. Wrong tokens are rate-limited per address."""
    return ratelimit.guarded(
        [f"machine-enroll-fail:ip:{ip}"],
        lambda: _enroll(
            secret=token,
            hostname=hostname,
            os=os,
            os_version=os_version,
            agent_version=agent_version,
            public_key=public_key,
            name=name,
            ip=ip,
        ),
        limit=settings.CONNECT_CODE_ATTEMPTS_PER_MINUTE,
        message=_("Too many wrong enrollment tokens. Wait a minute and try again."),
        counts=lambda exc: exc.code.startswith(("invalid_enrollment", "enrollment_token")),
    )


# --- Machines ------------------------------------------------------------------------------------------------------


@transaction.atomic
def machine_update(
    *,
    org: OrgContext,
    machine: Machine,
    name: str | None = None,
    group: MachineGroup | None = None,
    tags: list[str] | None = None,
) -> Machine:
    changes: dict[str, Any] = {}
    if name is not None:
        name = name.strip()
        if not name or len(name) > 100:
            raise ApplicationError(_("A name is 1 to 100 characters."), code="invalid", details={"field": "name"})
        changes["name"] = name
    if group is not None:
        changes["group"] = group
    if tags is not None:
        changes["tags"] = _clean_tags(tags)
    for field, value in changes.items():
        setattr(machine, field, value)
    if changes:
        machine.save(update_fields=list(changes))
        audit_record(
            organization=org.organization,
            action="machine.changed",
            actor=org,
            target=machine,
            target_label=machine.name,
            data={k: (v.name if isinstance(v, MachineGroup) else v) for k, v in changes.items()},
        )
    return machine


@transaction.atomic
def machine_remove(*, org: OrgContext, machine: Machine) -> Machine:
    """The machine's agent is refused from now on (its socket closes); its record stays."""
    if (
        Machine.objects.for_org(org.organization)
        .filter(pk=machine.pk, removed_at__isnull=True)
        .update(removed_at=timezone.now())
    ):
        audit_record(
            organization=org.organization,
            action="machine.removed",
            actor=org,
            target=machine,
            target_label=machine.name,
        )
        public_id, organization_pk = machine.public_id, org.organization.pk
        transaction.on_commit(lambda: presence.tell_machine(public_id, {"type": "machine.removed"}))
        transaction.on_commit(lambda: presence.machines_changed(organization_pk))
    machine.refresh_from_db()
    return machine


# --- Connecting ----------------------------------------------------------------------------------------------------


def _within_hours(group: MachineGroup, now: datetime) -> bool:
    local = now.astimezone(ZoneInfo(group.timezone or "UTC"))
    if group.weekdays and local.weekday() not in group.weekdays:
        return False
    if group.hours_start is None or group.hours_end is None:
        return True
    start, end, at = group.hours_start, group.hours_end, local.time().replace(tzinfo=None)
    if start < end:
        return start <= at < end
    return at >= start or at < end  # spans midnight


def may_connect(org: OrgContext, machine: Machine) -> bool:
    """Whether the group's policy lets this person connect (not whether the hour or the machine allow it now)."""
    if org.user is None or "sessions:write" not in org.scopes:
        return False
    group = machine.group
    if group.access == MachineGroup.Access.ADMINS:
        return role_at_least(org.role, Role.ADMIN)
    if group.access == MachineGroup.Access.AGENTS:
        return "sessions:write" in scopes_for_role(org.role)
    return group.allowed_users.filter(pk=org.user.pk).exists()


def connect_refusal(org: OrgContext, machine: Machine, now: datetime | None = None) -> ApplicationError | None:
    """Why this person cannot connect to ``machine`` now, or None."""
    now = now or timezone.now()
    if machine.removed_at is not None:
        return Conflict(_("This machine was removed."), code="machine_removed")
    if not may_connect(org, machine):
        return Forbidden(
            _("The policy of %(group)s does not let you connect to its machines.") % {"group": machine.group.name},
            code="machine_policy_forbids",
        )
    if not _within_hours(machine.group, now):
        group = machine.group
        return Forbidden(
            _("Connections to %(group)s are allowed %(hours)s (%(zone)s) only.")
            % {
                "group": group.name,
                "hours": hours_text(group),
                "zone": group.timezone,
            },
            code="machine_outside_hours",
        )
    if not presence.machine_online_sync(machine.public_id):
        return Conflict(_("%(name)s is offline.") % {"name": machine.name}, code="machine_offline")
    return None


def hours_text(group: MachineGroup) -> str:
    names = [_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun")]
    days = ", ".join(names[d] for d in sorted(group.weekdays)) if group.weekdays else _("every day")
    if group.hours_start is None:
        return _("%(days)s, at any hour") % {"days": days}
    fmt = "%H:%M"
    return f"{days}, {group.hours_start.strftime(fmt)}–{group.hours_end.strftime(fmt)}"


def _record_refusal(org: OrgContext, machine: Machine, actor: Actor, refusal: ApplicationError) -> None:
    with transaction.atomic():
        MachineConnection.objects.create(
            organization=org.organization,
            machine=machine,
            user=org.user,
            user_label=org.user.get_full_name() if org.user else "",
            outcome=MachineConnection.Outcome.REFUSED,
            reason=refusal.code,
            ip=actor.ip,
        )
        audit_record(
            organization=org.organization,
            action="machine.connection_refused",
            actor=actor,
            target=machine,
            target_label=machine.name,
            data={"reason": refusal.code},
        )


def machine_connect(*, org: OrgContext, machine: Machine, actor: Actor) -> SupportSession:
    """Open a support session with ``machine`` for the acting person, if the group's policy, the hour and the plan
    allow it: the machine is told at once and joins the session as its customer. A refusal is recorded (and
    audited) before it is raised."""
    refusal = connect_refusal(org, machine)
    if refusal is None:
        try:
            entitlements.require_feature(org.organization, "unattended")
        except entitlements.PlanLimitReached as exc:
            refusal = exc
    if refusal is not None:
        _record_refusal(org, machine, actor, refusal)
        raise refusal
    machine_actor = Actor(kind="customer", label=machine.name, ip=machine.last_ip)
    with transaction.atomic():
        session = session_services.session_start(org=org, actor=actor, customer_name=machine.name)
        session, customer_token = session_services.session_join(code=session.code, actor=machine_actor)
        connection = MachineConnection.objects.create(
            organization=org.organization,
            machine=machine,
            user=org.user,
            user_label=org.user.get_full_name(),
            session_public_id=session.public_id,
            outcome=MachineConnection.Outcome.OPENED,
            ip=actor.ip,
        )
        audit_record(
            organization=org.organization,
            action="machine.connected",
            actor=actor,
            target=machine,
            target_label=machine.name,
            data={"session": session.public_id, "connection": connection.public_id},
        )
        request = {
            "type": "session.request",
            "session": session.public_id,
            "customer_token": customer_token,
            "agent": {"name": session.agent_name},
            "organization": org.organization.name,
            "consent_required": machine.group.require_consent,
            "file_max_bytes": org.organization.file_transfer_max_bytes or settings.CONNECT_FILE_TRANSFER_MAX_BYTES,
            "ice_servers": ice_servers(f"machine:{machine.public_id}"),
        }
        transaction.on_commit(lambda: presence.tell_machine(machine.public_id, request))
    return session


def machine_seen(machine_public_id: str, *, ip: str | None, agent_version: str = "") -> None:
    """The machine's socket proved its key: note when and from where (at most once a minute per machine)."""
    now = timezone.now()
    fields: dict[str, Any] = {"last_seen_at": now, "last_ip": ip}
    if agent_version:
        fields["agent_version"] = agent_version[:32]
    Machine.objects.unscoped("the machine's own socket, identified by its key").filter(
        public_id=machine_public_id
    ).update(**fields)


def allowed_hours_now(group: MachineGroup) -> bool:
    return _within_hours(group, timezone.now())
