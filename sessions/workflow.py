"""The session workflow around the sharing itself: transfer to another agent, private notes, tags and a ticket
reference, the customer's rating after the end, and the invitation sent by e-mail.

Services only (the pages, the API and tests call these): each one validates, writes with a conditional UPDATE where a
race could double it, logs the session event and the audit entry, and emits its typed event, all in one transaction.
Who may call them is decided by :mod:`sessions.selectors` (``operate`` for every agent-side write), as everywhere.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from connect import ratelimit
from connect.errors import ApplicationError, Conflict, NotFound
from connect.links import absolute_url
from orgs.models import Membership
from orgs.roles import scopes_for_role
from orgs.tenancy import OrgContext

from . import events
from .models import LIVE_STATUSES, SessionNote, Status, SupportSession
from .selectors import SessionAction, session_check_access
from .services import Actor, _log

MAX_TAGS = 10
MAX_TAG_CHARS = 32
TAG_PATTERN = re.compile(r"^[\w][\w .+-]*$")
MAX_TICKET_REF_CHARS = 64
TICKET_REF_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/#-]*$")
MAX_NOTE_CHARS = 4000
MAX_RATING_COMMENT_CHARS = 1000
RATINGS = ("1", "2", "3", "4", "5")
INVITE_EMAILS_PER_SESSION = 3  # in INVITE_EMAIL_WINDOW_SECONDS
INVITE_EMAILS_PER_ORGANIZATION = 60
INVITE_EMAIL_WINDOW_SECONDS = 600


def _invalid(message: str, field: str, code: str = "validation_error") -> ApplicationError:
    return ApplicationError(message, code=code, details={"field": field})


def _emit(session: SupportSession, event_class: type[events.SessionEvent], actor: Actor, **extra: Any) -> None:
    events.emit(events.session_event(event_class, session, actor, **extra))


def _actor_label(actor: Actor) -> str:
    if actor.user is not None:
        return actor.user.get_full_name()[:150]
    return (actor.label or actor.kind)[:150]


# --- Transfer ---------------------------------------------------------------------------------------------------


def session_transfer(*, org: OrgContext, session: SupportSession, to_agent_id: str, actor: Actor) -> SupportSession:
    """Hand a live session to another agent of its organization; the customer stays connected.

    The session's agent, an owner or admin, or the organization's own credential may (``operate``). The target must
    be a member whose role takes sessions; one of another organization is "no such agent" (404)."""
    session_check_access(org, session, SessionAction.OPERATE)
    if session.status not in LIVE_STATUSES:
        raise Conflict(
            _("This session has ended; only a live session can be transferred."),
            code="invalid_session_state",
            details={"status": session.status},
        )
    membership = (
        Membership.objects.for_org(session.organization)
        .select_related("user")
        .filter(user__public_id=str(to_agent_id or ""))
        .first()
    )
    if membership is None:
        raise NotFound(_("No such agent in this organization."), details={"field": "agent_id"})
    target = membership.user
    if "sessions:write" not in scopes_for_role(membership.role):
        raise _invalid(
            _("%(name)s's role does not take support sessions.") % {"name": target.get_full_name()},
            "agent_id",
            code="not_an_agent",
        )
    if target.pk == session.agent_id:
        raise _invalid(_("%(name)s already runs this session.") % {"name": target.get_full_name()}, "agent_id")
    previous = {"id": session.agent.public_id if session.agent_id else None, "name": session.agent_name}
    label = target.get_full_name()[:150]
    with transaction.atomic():
        changed = (
            SupportSession.objects.for_org(session.organization)
            .filter(pk=session.pk, agent_id=session.agent_id, status__in=LIVE_STATUSES)
            .update(agent=target, agent_label=label)
        )
        if changed != 1:
            session.refresh_from_db()
            raise Conflict(
                _("This session changed meanwhile; reload and try again."),
                code="invalid_session_state",
                details={"status": session.status},
            )
        session.agent, session.agent_label = target, label
        _log(session, "transferred", actor, {"from": previous, "to": {"id": target.public_id, "name": label}})
        _emit(
            session,
            events.SessionTransferred,
            actor,
            from_agent_id=previous["id"],
            from_agent_name=previous["name"],
            to_agent_id=target.public_id,
            to_agent_name=label,
        )
    return session


def transfer_targets(session: SupportSession) -> list[Membership]:
    """The members a session could be handed to: whoever's role takes sessions, but its current agent."""
    members = (
        Membership.objects.for_org(session.organization)
        .select_related("user")
        .exclude(user_id=session.agent_id)
        .order_by("user__name", "user__email")
    )
    return [m for m in members if "sessions:write" in scopes_for_role(m.role)]


# --- Tags, ticket reference, notes -------------------------------------------------------------------------------


def clean_tags(value: Any) -> list[str]:
    """A list of at most 10 short labels (letters, digits, space, ``. _ + -``); duplicates (any case) dropped."""
    if isinstance(value, str):
        value = [part for part in value.split(",")]
    if not isinstance(value, list | tuple):
        raise _invalid(_("Tags are a list of short labels."), "tags")
    tags: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise _invalid(_("Each tag is text."), "tags")
        tag = " ".join(item.split())
        if not tag:
            continue
        if len(tag) > MAX_TAG_CHARS or not TAG_PATTERN.match(tag):
            raise _invalid(
                _("“%(tag)s” is not a tag: up to %(max)s letters, digits, spaces, dots, dashes, plus or underscores.")
                % {"tag": tag[:40], "max": MAX_TAG_CHARS},
                "tags",
            )
        if tag.casefold() not in {t.casefold() for t in tags}:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise _invalid(_("At most %(max)s tags on a session.") % {"max": MAX_TAGS}, "tags")
    return tags


def clean_ticket_ref(value: Any) -> str:
    if not isinstance(value, str):
        raise _invalid(_("The ticket reference is text."), "ticket_ref")
    ref = value.strip()
    if ref and (len(ref) > MAX_TICKET_REF_CHARS or not TICKET_REF_PATTERN.match(ref)):
        raise _invalid(
            _(
                "A ticket reference has up to %(max)s characters: letters, digits and . _ : / # - "
                "(for example SUP-1234)."
            )
            % {"max": MAX_TICKET_REF_CHARS},
            "ticket_ref",
        )
    return ref


def session_details_update(
    *, session: SupportSession, actor: Actor, tags: Any = None, ticket_ref: Any = None
) -> SupportSession:
    """Set the session's tags and/or ticket reference (``None``: leave it); live or ended. Nothing changes unless
    everything given is valid."""
    fields: dict[str, Any] = {}
    if tags is not None:
        cleaned = clean_tags(tags)
        if cleaned != list(session.tags or []):
            fields["tags"] = cleaned
    if ticket_ref is not None:
        cleaned_ref = clean_ticket_ref(ticket_ref)
        if cleaned_ref != session.ticket_ref:
            fields["ticket_ref"] = cleaned_ref
    if not fields:
        return session
    with transaction.atomic():
        SupportSession.objects.for_org(session.organization).filter(pk=session.pk).update(**fields)
        for name, value in fields.items():
            setattr(session, name, value)
        _log(session, "details_changed", actor, fields)
        _emit(session, events.SessionUpdated, actor, changed=sorted(fields))
    return session


def session_notes(session: SupportSession) -> QuerySet[SessionNote]:
    return SessionNote.objects.for_org(session.organization).filter(session=session).order_by("created_at", "id")


def notes_counts(organization: Any, session_pks: list[int]) -> dict[int, int]:
    """How many notes each of these sessions has, in one query (counted here: a page's notes are few, and the list
    runs no SQL count whose cost could grow with the history)."""
    counts: dict[int, int] = {}
    if session_pks:
        notes = SessionNote.objects.for_org(organization).filter(session_id__in=session_pks)
        for session_pk in notes.values_list("session_id", flat=True):
            counts[session_pk] = counts.get(session_pk, 0) + 1
    return counts


def session_note_add(*, session: SupportSession, actor: Actor, text: Any) -> SessionNote:
    """Add a private note (agents only; the customer never sees it), live or ended."""
    if not isinstance(text, str) or not text.strip():
        raise _invalid(_("Write the note first."), "text")
    text = text.strip()
    if len(text) > MAX_NOTE_CHARS:
        raise _invalid(_("A note has at most %(max)s characters.") % {"max": f"{MAX_NOTE_CHARS:,}"}, "text")
    if "\x00" in text:
        raise _invalid(_("The note holds a character that cannot be stored."), "text")
    with transaction.atomic():
        note = SessionNote.objects.create(
            session=session, author=actor.user, author_label=_actor_label(actor), text=text
        )
        # The note's words stay in the note: the logs say that one was written, and how long it is.
        _log(session, "note_added", actor, {"note_id": note.pk, "length": len(text)})
        _emit(session, events.SessionUpdated, actor, changed=["notes"])
    return note


# --- The customer's rating ------------------------------------------------------------------------------------


def session_rate(*, session: SupportSession, actor: Actor, rating: Any, comment: Any = "") -> SupportSession:
    """The customer rates an ended session, once: 1 to 5 and an optional comment."""
    if isinstance(rating, bool) or not isinstance(rating, int | str) or str(rating).strip() not in RATINGS:
        raise _invalid(_("Choose a rating from 1 to 5."), "rating")
    value = int(str(rating).strip())
    comment = (comment or "").strip() if isinstance(comment, str | type(None)) else None
    if comment is None:
        raise _invalid(_("The comment is text."), "comment")
    if len(comment) > MAX_RATING_COMMENT_CHARS or "\x00" in comment:
        raise _invalid(
            _("A comment has at most %(max)s characters.") % {"max": f"{MAX_RATING_COMMENT_CHARS:,}"}, "comment"
        )
    if session.status != Status.ENDED:
        raise Conflict(
            _("A session can be rated once it has ended."),
            code="invalid_session_state",
            details={"status": session.status},
        )
    now = timezone.now()
    with transaction.atomic():
        changed = (
            SupportSession.objects.for_org(session.organization)
            .filter(pk=session.pk, status=Status.ENDED, rating__isnull=True)
            .update(rating=value, rating_comment=comment, rated_at=now)
        )
        if changed != 1:
            raise Conflict(_("You have already rated this session. Thank you!"), code="already_rated")
        session.rating, session.rating_comment, session.rated_at = value, comment, now
        # The comment is the customer's own words: kept on the session, not hashed into the audit chain.
        _log(session, "rated", actor, {"rating": value, "comment_length": len(comment)})
        _emit(session, events.SessionRated, actor)
    return session


# --- The invitation by e-mail ----------------------------------------------------------------------------------


def session_invite_email(*, session: SupportSession, actor: Actor, email: Any) -> SupportSession:
    """E-mail the customer the join link of a waiting session (at most 3 a session and 60 an organization in ten
    minutes). The address becomes the session's customer e-mail."""
    address = email.strip() if isinstance(email, str) else ""
    try:
        validate_email(address)
    except ValidationError:
        raise _invalid(_("Enter the customer's e-mail address, like name@example.com."), "email") from None
    if session.status != Status.WAITING or session.code_expires_at <= timezone.now():
        raise Conflict(
            _("The code is no longer waiting for the customer: start a new session to invite them."),
            code="invalid_session_state",
            details={"status": session.status},
        )
    keys = [f"invite-email:session:{session.pk}", f"invite-email:org:{session.organization_id}"]
    limits = (
        (keys[0], INVITE_EMAILS_PER_SESSION),
        (keys[1], INVITE_EMAILS_PER_ORGANIZATION),
    )
    for key, limit in limits:
        wait = ratelimit.attempt_refused([key], limit=limit, window_seconds=INVITE_EMAIL_WINDOW_SECONDS)
        if wait is not None:
            if key == keys[1]:
                ratelimit.release([keys[0]])
            raise ApplicationError(
                _("Too many invitation e-mails. Wait a few minutes, or give the customer the code."),
                code="rate_limited",
                status_code=429,
                details={"retry_after_seconds": wait},
            )
    link = absolute_url("join_code", session.code)
    with transaction.atomic():
        if address != session.customer_email:
            SupportSession.objects.for_org(session.organization).filter(pk=session.pk).update(customer_email=address)
            session.customer_email = address
        _log(session, "invitation_emailed", actor, {"email": address})
        sender = session.agent_name or session.organization.name
        transaction.on_commit(lambda: _send_invitation(session, address, link, sender))
    return session


def _send_invitation(session: SupportSession, address: str, link: str, sender: str) -> None:
    minutes = max(1, int((session.code_expires_at - timezone.now()).total_seconds() // 60))
    subject = _("%(agent)s from %(org)s invites you to a support session") % {
        "agent": sender,
        "org": session.organization.name,
    }
    body = _(
        "%(agent)s from %(org)s would like to help you.\n\n"
        "Open this link to join the support session: %(link)s\n\n"
        "Or go to %(join)s and enter the code %(code)s.\n\n"
        "The code works for about %(minutes)s more minutes. You decide what to share, and you can stop at any moment."
    ) % {
        "agent": sender,
        "org": session.organization.name,
        "link": link,
        "join": absolute_url("join"),
        "code": f"{session.code[:3]} {session.code[3:6]} {session.code[6:]}",
        "minutes": minutes,
    }
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [address])
