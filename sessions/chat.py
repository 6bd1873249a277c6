"""Chat, as part of a session's record: lines kept with the sender's name and time, listed, exported as a transcript
(text or JSON) and, at the agent's choice, e-mailed to the customer once the session has ended.

The signaling consumer writes every line through :func:`chat_post` (and relays what it returns); the API, the pages
and the e-mail read through :func:`chat_lines`. Lines are the participants' own words: they are kept (and purged) by
the organization's chat retention (``audit.retention``), never written to the session log or hashed into the audit
chain. The sender's name is a snapshot: an erased agent's lines keep their time and text under the erased label."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from audit.services import ERASED_LABEL, audit_record
from connect.errors import ApplicationError, Conflict

from .models import FINAL_STATUSES, ChatMessage, Status, SupportSession
from .services import Actor

MAX_CHARS = 2_000  # the signaling protocol's limit too (signaling.protocol.MAX_CHAT_CHARS)
TRANSCRIPT_FORMAT = "bizgaze-connect-chat/1"
CROSSES_FOR_THE_PERSON = "a person's own chat lines, in every organization they worked in (GDPR export and erasure)"


def customer_display_name(session: SupportSession) -> str:
    return session.customer_name or _("Customer")


def sender_name_for(session: SupportSession, actor: Actor) -> str:
    """The name shown beside a line: the agent's full name, or the customer's name (``Customer`` when unnamed)."""
    if actor.kind == "customer":
        return customer_display_name(session)
    if actor.user is not None:
        return actor.user.get_full_name()
    return actor.label or session.agent_name


def clean_text(text: Any) -> str:
    """The line as it is kept: trimmed, 1 to 2,000 characters, no NUL or lone surrogate; else a clear error."""
    if not isinstance(text, str):
        raise ApplicationError(_("A chat line is text."), code="invalid_chat_line", details={"field": "text"})
    text = text.strip()
    if not text or len(text) > MAX_CHARS:
        raise ApplicationError(
            _("A chat line has 1 to 2,000 characters."),
            code="invalid_chat_line",
            details={"field": "text", "max_length": MAX_CHARS, "length": len(text)},
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ApplicationError(
            _("A chat line cannot hold this character."), code="invalid_chat_line", details={"field": "text"}
        ) from None
    if "\x00" in text:
        raise ApplicationError(
            _("A chat line cannot hold this character."), code="invalid_chat_line", details={"field": "text"}
        )
    return text


@transaction.atomic
def chat_post(*, session: SupportSession, actor: Actor, text: str) -> ChatMessage:
    """Keep one chat line of an active session, named and timed. Chat flows only while the session is active."""
    text = clean_text(text)
    if session.status != Status.ACTIVE:
        raise Conflict(
            _("Chat is open only while the session is active."),
            code="invalid_session_state",
            details={"status": session.status},
        )
    if actor.kind not in ("agent", "customer"):
        raise ApplicationError(_("Only the agent and the customer chat."), code="not_allowed")
    return ChatMessage.objects.create(
        session=session,
        sender_kind=actor.kind,
        sender=actor.user if actor.kind == "agent" else None,
        sender_name=sender_name_for(session, actor)[:150],
        text=text,
    )


def chat_lines(session: SupportSession) -> QuerySet[ChatMessage]:
    """Every line of ``session``, oldest first, in one query."""
    return (
        ChatMessage.objects.for_org(session.organization)
        .filter(session=session)
        .select_related("sender")
        .order_by("created_at", "id")
    )


def chat_line_data(message: ChatMessage) -> dict[str, Any]:
    """One line as the API, the JSON transcript and the signaling relay give it."""
    return {
        "id": message.public_id,
        "sender_kind": message.sender_kind,
        "sender_id": message.sender.public_id if message.sender is not None else None,
        "sender_name": message.sender_name,
        "text": message.text,
        "created_at": message.created_at.isoformat(),
    }


def _iso(moment) -> str | None:
    return moment.isoformat() if moment else None


def transcript_json(session: SupportSession) -> dict[str, Any]:
    """The whole chat of ``session``, with what identifies the session, as a JSON document."""
    return {
        "format": TRANSCRIPT_FORMAT,
        "session": {
            "id": session.public_id,
            "organization": session.organization.name,
            "agent": session.agent_name,
            "customer_name": session.customer_name,
            "status": session.status,
            "started_at": _iso(session.started_at),
            "ended_at": _iso(session.ended_at),
        },
        "messages": [chat_line_data(message) for message in chat_lines(session)],
    }


def _stamp(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def transcript_text(session: SupportSession) -> str:
    """The whole chat of ``session`` as plain text: a heading, then one line per message (times in UTC); a message
    of several lines keeps them, indented under its first."""
    lines = [
        _("Chat transcript: support session %(id)s") % {"id": session.public_id},
        _("Organization: %(org)s") % {"org": session.organization.name},
        _("Agent: %(agent)s") % {"agent": session.agent_name},
        _("Customer: %(customer)s") % {"customer": customer_display_name(session)},
    ]
    if session.started_at:
        lines.append(_("Started: %(at)s") % {"at": _stamp(session.started_at)})
    if session.ended_at:
        lines.append(_("Ended: %(at)s") % {"at": _stamp(session.ended_at)})
    lines.append("")
    messages = list(chat_lines(session))
    if not messages:
        lines.append(_("No chat messages."))
    for message in messages:
        first, *rest = message.text.splitlines() or [""]
        lines.append(f"[{_stamp(message.created_at)}] {message.sender_name}: {first}")
        lines.extend(f"    {more}" for more in rest)
    return "\n".join(lines) + "\n"


def transcript_filename(session: SupportSession, extension: str) -> str:
    return f"chat-{session.public_id}.{extension}"


def chat_transcript_email(*, session: SupportSession, actor: Actor, to: str) -> int:
    """E-mail the transcript to the customer at ``to`` (after the session has ended); audited. Answers the number
    of lines sent. Nothing is sent for a live session or one without chat."""
    to = (to or "").strip()
    try:
        validate_email(to)
    except ValidationError:
        raise ApplicationError(
            _("Enter the customer's e-mail address."), code="validation_error", details={"field": "email"}
        ) from None
    if session.status not in FINAL_STATUSES:
        raise Conflict(
            _("The transcript can be e-mailed once the session has ended."),
            code="invalid_session_state",
            details={"status": session.status},
        )
    count = chat_lines(session).count()
    if not count:
        raise Conflict(_("This session has no chat to send."), code="no_chat")
    body = transcript_text(session)
    subject = _("Your support chat with %(org)s") % {"org": session.organization.name}
    with transaction.atomic():
        audit_record(
            organization=session.organization,
            action="session.chat_transcript_sent",
            actor=actor,
            target=session,
            target_label=session.customer_name,
            ip=actor.ip,
            data={"to": to, "lines": count},
        )
        transaction.on_commit(lambda: send_mail(subject, body, None, [to]))
    return count


# --- A person's data (orgs.privacy) ----------------------------------------------------------------------------


def export_chat_lines(user) -> list[dict[str, Any]]:
    """The chat lines a person wrote as an agent, for their data export."""
    lines = (
        ChatMessage.objects.unscoped(CROSSES_FOR_THE_PERSON)
        .filter(sender=user)
        .select_related("session")
        .order_by("created_at", "id")
    )
    return [
        {"session": line.session.public_id, "created_at": _iso(line.created_at), "text": line.text} for line in lines
    ]


def pseudonymize_chat_sender(user) -> None:
    """Before a person's erasure: their lines stay with the session's record, under the erased label."""
    ChatMessage.objects.unscoped(CROSSES_FOR_THE_PERSON).filter(sender=user).update(sender_name=ERASED_LABEL)


def transcript_json_text(session: SupportSession) -> str:
    return json.dumps(transcript_json(session), ensure_ascii=False, indent=2)
