"""Support sessions: start, join by code, consent, end. Every transition is checked here and only here.

The status only moves forward along ``TRANSITIONS``. A transition is a conditional UPDATE on the current status,
so two racing transitions (an agent ending while the customer grants) cannot both win. Each one writes a
session event and an audit entry in the same transaction, and emits the typed session event
(``sessions.events``): integrations record it in the transaction, and after commit the signaling app's handler
tells both ends.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from billing import entitlements
from connect import ratelimit
from connect.errors import ApplicationError, Conflict, Forbidden, NotFound
from connect.ids import new_secret, secret_hash
from orgs.models import Membership, Role, User
from orgs.roles import role_at_least, scopes_for_role
from orgs.tenancy import OrgContext

from . import events
from .models import FINAL_STATUSES, EndReason, SessionEvent, Status, SupportSession

TRANSITIONS: dict[str, set[str]] = {
    Status.WAITING: {Status.CONSENT_REQUESTED, Status.ENDED, Status.EXPIRED},
    Status.CONSENT_REQUESTED: {Status.ACTIVE, Status.DECLINED, Status.ENDED},
    Status.ACTIVE: {Status.ENDED},
}
CUSTOMER_TOKEN_PREFIX = "cst"


@dataclass(frozen=True)
class Actor:
    """Who causes a change, for the session log and the audit log."""

    kind: str  # agent | customer | system | api
    user: User | None = None
    ip: str | None = None
    user_agent: str = ""
    label: str = ""
    # An organization's own credential (API key, OAuth2 client) acting without a person: its public id.
    credential_id: str = ""

    @classmethod
    def from_request(cls, request, kind: str, user: User | None = None) -> Actor:
        return cls(
            kind=kind,
            user=user,
            ip=request.META.get("REMOTE_ADDR"),
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:300],
        )


SYSTEM = Actor(kind="system", label="system")


def _new_code() -> str:
    return f"{secrets.randbelow(10**9):09d}"


def session_log(
    session: SupportSession, event_type: str, actor: Actor, data: dict[str, Any] | None = None, *, audit: bool = True
) -> None:
    """One row of the session's own log (and, unless ``audit`` is false, its audit entry ``session.<event_type>``).
    Other apps write their events beside the session's with it (recordings)."""
    SessionEvent.objects.create(
        session=session,
        type=event_type,
        actor_kind=actor.kind,
        actor=actor.user,
        ip=actor.ip,
        user_agent=actor.user_agent,
        data=data or {},
    )
    if audit:
        audit_record(
            organization=session.organization,
            action=f"session.{event_type}",
            actor=actor,
            target=session,
            target_label=session.customer_name,
            ip=actor.ip,
            data=data,
        )


_log = session_log


def _emit(session: SupportSession, event_class: type[events.SessionEvent], actor: Actor) -> None:
    events.emit(events.session_event(event_class, session, actor))


def _transition(
    session: SupportSession,
    to: str,
    *,
    actor: Actor,
    event: str,
    fields: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
    emits: type[events.SessionEvent],
) -> SupportSession:
    current = session.status
    if to not in TRANSITIONS.get(current, set()):
        raise Conflict(
            _("This session is %(status)s; it cannot become %(to)s.") % {"status": current, "to": to},
            code="invalid_session_state",
            details={"status": current},
        )
    fields = {**(fields or {}), "status": to}
    if to in FINAL_STATUSES:
        fields.setdefault("ended_at", timezone.now())
    with transaction.atomic():
        changed = (
            SupportSession.objects.for_org(session.organization).filter(pk=session.pk, status=current).update(**fields)
        )
        if changed != 1:
            session.refresh_from_db()
            raise Conflict(
                _("This session changed meanwhile; it is now %(status)s.") % {"status": session.status},
                code="invalid_session_state",
                details={"status": session.status},
            )
        for name, value in fields.items():
            setattr(session, name, value)
        _log(session, event, actor, data)
        _emit(session, emits, actor)
    return session


@transaction.atomic
def session_start(
    *, org: OrgContext, actor: Actor, agent: User | None = None, customer_name: str = "", customer_email: str = ""
) -> SupportSession:
    """Open a session with a fresh 9-digit code for ``agent`` (the acting person by default)."""
    agent = agent or org.user
    if agent is None:
        raise ApplicationError(
            _("Name the agent ('agent_id') who runs this session."),
            code="agent_required",
            details={"field": "agent_id"},
        )
    membership = Membership.objects.for_org(org.organization).filter(user=agent).first()
    if membership is None:
        raise NotFound(_("No such agent in this organization."), details={"field": "agent_id"})
    if "sessions:write" not in scopes_for_role(membership.role):
        raise ApplicationError(
            _("%(name)s's role does not take support sessions.") % {"name": agent.get_full_name()},
            code="not_an_agent",
            details={"field": "agent_id"},
        )
    # The customer is shown who asks: only admins (and the organization's own credentials) name someone else.
    if org.user is not None and agent != org.user and not role_at_least(org.role, Role.ADMIN):
        raise Forbidden(
            _("Only admins can start a session for someone else."),
            code="assign_forbidden",
            details={"field": "agent_id"},
        )
    for _attempt in range(8):
        try:
            with transaction.atomic():
                # Inside the transaction: the licence row is locked, so two starts cannot both take the last slot.
                entitlements.require_session_start(org.organization)
                session = SupportSession.objects.create(
                    organization=org.organization,
                    agent=agent,
                    agent_label=agent.get_full_name()[:150],
                    code=_new_code(),
                    code_expires_at=timezone.now() + settings.CONNECT_SHARE_CODE_TTL,
                    customer_name=(customer_name or "").strip()[:120],
                    customer_email=(customer_email or "").strip()[:254],
                )
            break
        except IntegrityError:  # the code is in use by another live session: draw again
            continue
    else:  # pragma: no cover - a billion codes and a handful live
        raise Conflict(_("Could not allocate a share code; try again."), code="code_unavailable")
    _log(session, "created", actor, {"code_expires_at": session.code_expires_at.isoformat()})
    _emit(session, events.SessionCreated, actor)
    return session


def session_for_code(code: str) -> SupportSession:
    """The live session a customer's code names, or a clear error. Expired codes expire their session."""
    code = _digits(code)
    if len(code) != 9:
        raise ApplicationError(_("A code has 9 digits."), code="invalid_code", details={"field": "code"})
    session = (
        SupportSession.objects.unscoped("a customer's share code names its session, whichever the organization")
        .select_related("organization", "agent")
        .filter(code=code, status__in=[Status.WAITING, Status.CONSENT_REQUESTED, Status.ACTIVE])
        .first()
    )
    if session is None or not session.organization.is_active:
        _refuse_spent_code(code)
        raise NotFound(_("No session has this code. Check the digits with your agent."), code="unknown_code")
    if session.status == Status.WAITING and session.code_expires_at <= timezone.now():
        session_expire(session=session)
        raise NotFound(_("This code has expired. Ask your agent for a new one."), code="code_expired")
    return session


# How long after its code was issued an ended session still answers its code with "ended, ask <agent>": long enough
# for a customer coming back the same day, short enough that old codes name nobody to a guesser.
SPENT_CODE_WINDOW = timedelta(hours=24)


def _refuse_spent_code(code: str) -> None:
    """A code no live session holds: if it was the code of a recent session that is over, say so and whom to ask
    (the organization and agent the code-holder was already shown). Otherwise return: the code is unknown."""
    spent = (
        SupportSession.objects.unscoped("a customer's share code names its session, whichever the organization")
        .select_related("organization", "agent")
        .filter(code=code, status__in=FINAL_STATUSES, created_at__gte=timezone.now() - SPENT_CODE_WINDOW)
        .order_by("-created_at")
        .first()
    )
    if spent is None or not spent.organization.is_active:
        return
    who = {"agent": spent.agent_name or _("your agent"), "org": spent.organization.name}
    if spent.status == Status.EXPIRED:
        raise NotFound(_("This code has expired. Ask %(agent)s at %(org)s for a new code.") % who, code="code_expired")
    raise NotFound(_("This session has ended. Ask %(agent)s at %(org)s for a new code.") % who, code="session_ended")


def session_join(*, code: str, actor: Actor, name: str = "") -> tuple[SupportSession, str]:
    """The customer enters the code: the session asks for consent, and the customer gets a credential for it."""
    session = session_for_code(code)
    if session.customer_token_hash:
        raise Conflict(_("Someone has already joined this session with this code."), code="already_joined")
    token = new_secret(CUSTOMER_TOKEN_PREFIX)
    fields = {"customer_token_hash": secret_hash(token), "joined_at": timezone.now()}
    if name.strip():
        fields["customer_name"] = name.strip()[:120]
    session = _transition(
        session,
        Status.CONSENT_REQUESTED,
        actor=actor,
        event="customer_joined",
        fields=fields,
        data={"name": fields.get("customer_name", session.customer_name)},
        emits=events.SessionConsentRequested,
    )
    return session, token


WRONG_CODE_ERRORS = ("unknown_code", "code_expired", "session_ended", "invalid_code", "already_joined")


def _code_attempt_keys(code: str, actor: Actor) -> list[str]:
    return [f"join-fail:ip:{actor.ip}", f"join-fail:code:{_digits(code)}"]


def _digits(code: str) -> str:
    return "".join(ch for ch in str(code or "") if ch.isdigit())


def _guard_code_attempt(code: str, actor: Actor, attempt):
    """Run ``attempt`` unless this address or this code had too many wrong codes in the last minute.

    The attempt is counted against both before it runs, so concurrent guesses cannot all pass the check before any
    is counted; it is given back unless it was a wrong code."""
    return ratelimit.guarded(
        _code_attempt_keys(code, actor),
        attempt,
        limit=settings.CONNECT_CODE_ATTEMPTS_PER_MINUTE,
        message=_("Too many wrong codes. Wait a minute and try again."),
        counts=lambda exc: exc.code in WRONG_CODE_ERRORS,
    )


def session_join_guarded(*, code: str, actor: Actor, name: str = "") -> tuple[SupportSession, str]:
    """:func:`session_join` for the outside world: code guessing is rate-limited per address and per code."""
    return _guard_code_attempt(code, actor, lambda: session_join(code=code, actor=actor, name=name))


def session_for_code_guarded(*, code: str, actor: Actor, joined: dict[str, str] | None = None) -> SupportSession:
    """:func:`session_for_code` for the join page, under the same limits as joining. A code someone already joined
    with is refused (it is spent) unless ``joined`` (the browser's own customer tokens by session id) holds that
    session's credential: then the session is returned, and the page takes the customer back to it."""

    def lookup() -> SupportSession:
        session = session_for_code(code)
        if session.customer_token_hash and secret_hash((joined or {}).get(session.public_id) or "x") != (
            session.customer_token_hash
        ):
            raise Conflict(
                _(
                    "Someone has already joined with this code. If it was you, go back to that window; otherwise "
                    "ask %(agent)s for a new code."
                )
                % {"agent": session.agent_name or _("your agent")},
                code="already_joined",
            )
        return session

    return _guard_code_attempt(code, actor, lookup)


ATTEND_TICKET_PREFIX = "att"
ATTEND_TICKET_SECONDS = 600


def _attend_key(ticket: str) -> str:
    return f"attend-ticket:{secret_hash(ticket)}"


def attend_ticket_issue(*, session: SupportSession, customer_token: str, actor: Actor) -> str:
    """Attended control: the customer's page downloads a launcher for the desktop agent, carrying a ticket that
    lets the agent on this computer join this one session as its customer, once, within ten minutes."""
    if not session.is_live:
        raise Conflict(_("This session has ended."), code="session_ended")
    ticket = new_secret(ATTEND_TICKET_PREFIX)
    cache.set(_attend_key(ticket), {"session": session.public_id, "token": customer_token}, ATTEND_TICKET_SECONDS)
    _log(session, "desktop_agent_offered", actor, audit=False)
    return ticket


def _attend_ticket_take(ticket: str) -> dict:
    """The ticket's payload, deleting it: of two concurrent takes only the one whose delete succeeds wins."""
    payload = cache.get(_attend_key(ticket)) if str(ticket).startswith(ATTEND_TICKET_PREFIX + "_") else None
    if payload is None or not cache.delete(_attend_key(ticket)):
        raise NotFound(
            _("This download was used already or has expired. Download the agent again from the session's page."),
            code="invalid_ticket",
        )
    return payload


def attend_ticket_redeem(*, ticket: str, actor: Actor) -> tuple[SupportSession, str]:
    """The desktop agent trades its ticket for the session's customer credential. Of two concurrent redemptions
    only the one that deletes the ticket wins; wrong tickets are rate-limited per address."""
    payload = ratelimit.guarded(
        [f"attend-fail:ip:{actor.ip}"],
        lambda: _attend_ticket_take(ticket),
        limit=settings.CONNECT_CODE_ATTEMPTS_PER_MINUTE,
        message=_("Too many wrong tickets. Wait a minute and try again."),
        counts=lambda exc: exc.code == "invalid_ticket",
    )
    session = session_for_customer(payload["session"], payload["token"])
    if not session.is_live:
        raise Conflict(_("This session has ended."), code="session_ended")
    _log(session, "desktop_agent_joined", actor, {"user_agent": actor.user_agent[:120]})
    return session, payload["token"]


def session_for_customer(session_id: str, token: str) -> SupportSession:
    """The session a customer credential belongs to; 404 for any mismatch."""
    session = (
        SupportSession.objects.unscoped("a customer token names its session, whichever the organization")
        .select_related("organization", "agent")
        .filter(public_id=session_id, customer_token_hash=secret_hash(token or "x"))
        .exclude(customer_token_hash="")
        .first()
    )
    if session is None:
        raise NotFound(_("Session not found."))
    return session


def session_grant_consent(*, session: SupportSession, actor: Actor) -> SupportSession:
    return _transition(
        session,
        Status.ACTIVE,
        actor=actor,
        event="consent_granted",
        fields={"started_at": timezone.now()},
        emits=events.SessionStarted,
    )


def session_decline(*, session: SupportSession, actor: Actor) -> SupportSession:
    return _transition(
        session,
        Status.DECLINED,
        actor=actor,
        event="consent_declined",
        fields={"end_reason": EndReason.DECLINED},
        emits=events.SessionDeclined,
    )


def session_revoke_consent(*, session: SupportSession, actor: Actor) -> SupportSession:
    """The customer stops sharing: the session ends at once for both sides."""
    if session.status != Status.ACTIVE:
        raise Conflict(_("Nothing is being shared."), code="invalid_session_state", details={"status": session.status})
    return _transition(
        session,
        Status.ENDED,
        actor=actor,
        event="consent_revoked",
        fields={"end_reason": EndReason.CONSENT_REVOKED},
        emits=events.SessionEnded,
    )


def session_end(*, session: SupportSession, actor: Actor, reason: str | None = None) -> SupportSession:
    """End a live session; ending one that already ended changes nothing."""
    if session.status in FINAL_STATUSES:
        return session
    reason = reason or (EndReason.CUSTOMER_ENDED if actor.kind == "customer" else EndReason.AGENT_ENDED)
    return _transition(
        session,
        Status.ENDED,
        actor=actor,
        event="ended",
        fields={"end_reason": reason},
        data={"reason": reason},
        emits=events.SessionEnded,
    )


def session_expire(*, session: SupportSession) -> SupportSession:
    try:
        return _transition(
            session,
            Status.EXPIRED,
            actor=SYSTEM,
            event="expired",
            fields={"end_reason": EndReason.EXPIRED},
            emits=events.SessionExpired,
        )
    except Conflict:
        return session


def sessions_expire_unused(now=None) -> int:
    """Expire waiting sessions whose code was not used in time (run periodically by Celery beat)."""
    now = now or timezone.now()
    stale = (
        SupportSession.objects.unscoped("beat sweep: unused codes expire in every organization")
        .select_related("organization", "agent")
        .filter(status=Status.WAITING, code_expires_at__lte=now)
    )
    count = 0
    for session in stale:
        if session_expire(session=session).status == Status.EXPIRED:
            count += 1
    return count


def sessions_end_abandoned(*, party_gone: Callable[[str, str], bool]) -> int:
    """End live sessions one of whose parties is gone: ``party_gone(session_id, "agent" | "customer")`` says so
    (the presence store is the signaling app's; its beat task passes it in)."""
    count = 0
    live_sessions = (
        SupportSession.objects.unscoped("beat sweep: abandoned sessions end in every organization")
        .select_related("organization", "agent")
        .filter(status__in=[Status.CONSENT_REQUESTED, Status.ACTIVE])
    )

    for session in live_sessions:
        gone = [role for role in ("agent", "customer") if party_gone(session.public_id, role)]
        if gone:
            try:
                session_end(session=session, actor=SYSTEM, reason=EndReason.DISCONNECTED)
                count += 1
            except Conflict:
                continue
    return count


def session_time_limit_ends_at(session: SupportSession, minutes: int | None = -1) -> datetime | None:
    """When the plan ends this session (its length limit from the start of sharing); None: no limit, or not started.
    ``minutes``: the plan's limit when the caller has it already (-1: read it)."""
    if session.started_at is None:
        return None
    if minutes == -1:
        minutes = entitlements.entitlements_for(session.organization).limit("max_session_minutes")
    return None if minutes is None else session.started_at + timedelta(minutes=minutes)


TIME_LIMIT_WARNING = timedelta(minutes=5)


def sessions_end_over_time(now=None, *, warn: Callable[[str, str], None] | None = None) -> int:
    """End active sessions past their plan's maximum length (run periodically by Celery beat); returns how many.

    ``warn(session_id, ends_at_iso)`` is called once for each session within :data:`TIME_LIMIT_WARNING` of its end
    (the signaling app's beat task passes the push to both ends in)."""
    now = now or timezone.now()
    count = 0
    active = (
        SupportSession.objects.unscoped("beat sweep: the plan's session length holds in every organization")
        .select_related("organization", "agent")
        .filter(status=Status.ACTIVE, started_at__isnull=False)
        .order_by("organization_id")
    )
    limits: dict[int, int | None] = {}  # per organization, read once per sweep
    for session in active:
        if session.organization_id not in limits:
            ents = entitlements.entitlements_for(session.organization)
            limits[session.organization_id] = ents.limit("max_session_minutes")
        ends_at = session_time_limit_ends_at(session, limits[session.organization_id])
        if ends_at is None:
            continue
        if ends_at > now:
            # Once per session: the first sweep inside the last minutes warns; the cache remembers it did.
            if warn is not None and ends_at - now <= TIME_LIMIT_WARNING:
                if cache.add(
                    f"session:{session.public_id}:limit-warned", 1, int(TIME_LIMIT_WARNING.total_seconds()) * 2
                ):
                    warn(session.public_id, ends_at.isoformat())
            continue
        try:
            session_end(session=session, actor=SYSTEM, reason=EndReason.TIME_LIMIT)
            count += 1
        except Conflict:
            continue
    return count


def record(*, session: SupportSession, actor: Actor, event: str, data: dict[str, Any] | None = None) -> None:
    """Log something that happened inside a session without changing its status (control granted, chat...).

    Chat lines go to the session log only: their text is the participants' own words, kept (and purged) by the
    organization's chat retention, never hashed into the audit chain."""
    with transaction.atomic():
        _log(session, event, actor, data, audit=event != "chat")
