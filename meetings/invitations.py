"""Invitations to a meeting by e-mail, each with the meeting as an ``.ics`` attachment (``meetings.ics``).

The invitees are guests: their link is the meeting's guest link, which carries the invite secret. The server keeps
only that secret's hash, so whoever sends invitations passes the secret they were given when the meeting was created.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.utils.translation import gettext as _

from connect.errors import ApplicationError
from connect.ids import secret_hash
from orgs.services import normalize_email
from orgs.tenancy import OrgContext
from sessions.services import Actor

from . import services
from .ics import event_times, invitation_ics
from .models import Meeting

MAX_INVITEES = 50
# Django adds the charset (DEFAULT_CHARSET, UTF-8) to a text attachment's type itself; naming it here too would put
# it in the header twice.
ICS_MIMETYPE = "text/calendar; method=REQUEST"
ICS_FILENAME = "invite.ics"


def guest_join_url(invite: str) -> str:
    """The guests' way into a meeting. The secret rides in the fragment, which browsers never send to a server
    (nor in a Referer), so it stays out of access logs; the guest page reads it from there."""
    return f"{settings.SITE_URL}/m/join#{invite}"


def member_meeting_url(meeting: Meeting) -> str:
    """The meeting's page for members of its organization (signed in, no secret needed)."""
    return f"{settings.SITE_URL}/o/{meeting.organization.slug}/meetings/{meeting.public_id}/"


def invitee_addresses(emails: list[str]) -> list[str]:
    """Valid addresses, lower-cased, each once, in the order given; at most :data:`MAX_INVITEES`."""
    addresses: list[str] = []
    for index, raw in enumerate(emails):
        try:
            address = normalize_email(raw)
        except ApplicationError as exc:
            raise ApplicationError(
                exc.message, code="invalid_email", details={"field": "emails", "index": index}
            ) from None
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise ApplicationError(
            _("Give at least one e-mail address to invite."), code="no_invitees", details={"field": "emails"}
        )
    if len(addresses) > MAX_INVITEES:
        raise ApplicationError(
            _("At most %(limit)s people can be invited at once; you gave %(count)s.")
            % {"limit": MAX_INVITEES, "count": len(addresses)},
            code="too_many_invitees",
            details={"field": "emails", "limit": MAX_INVITEES, "count": len(addresses)},
        )
    return addresses


def _require_invite_of(meeting: Meeting, invite: str) -> None:
    if not hmac.compare_digest(secret_hash(invite or ""), meeting.invite_token_hash):
        raise ApplicationError(
            _("This is not this meeting's invite secret: pass the `invite` you got when the meeting was created."),
            code="wrong_invite",
            details={"field": "invite"},
        )


def _message(meeting: Meeting, address: str, join_url: str, connection) -> EmailMultiAlternatives:
    if meeting.host_id:
        host = meeting.host.name or meeting.host.email
    else:
        host = meeting.host_label or meeting.organization.name
    # A title may hold new lines (the .ics keeps them); an e-mail subject may not.
    title = " ".join(meeting.title.split())
    start, end = event_times(meeting)
    subject = _("%(host)s invited you to “%(title)s”") % {"host": host, "title": title}
    if meeting.scheduled_start:
        end_format = "%H:%M" if start.date() == end.date() else "%Y-%m-%d %H:%M"
        when = _("%(start)s to %(end)s UTC") % {
            "start": start.strftime("%Y-%m-%d %H:%M"),
            "end": end.strftime(end_format),
        }
    else:
        when = _("now (an instant meeting)")
    body = _(
        "%(host)s from %(org)s invited you to a meeting: %(title)s\n\nWhen: %(when)s\n\n"
        "Join from your browser, no account needed: %(link)s\n\n"
        "The attached invitation (invite.ics) adds the meeting to your calendar. The host admits you from the lobby."
    ) % {"host": host, "org": meeting.organization.name, "title": title, "when": when, "link": join_url}
    message = EmailMultiAlternatives(subject, body, settings.DEFAULT_FROM_EMAIL, [address], connection=connection)
    # Each invitee's copy names only them: the others invited may be strangers to one another.
    message.attach(ICS_FILENAME, invitation_ics(meeting, join_url=join_url, attendees=[address]), ICS_MIMETYPE)
    return message


def _send(meeting: Meeting, addresses: list[str], join_url: str) -> None:
    connection = get_connection()
    connection.send_messages([_message(meeting, address, join_url, connection) for address in addresses])


@transaction.atomic
def send_invitations(*, org: OrgContext, meeting: Meeting, invite: str, emails: list[str], actor: Actor) -> list[str]:
    """E-mail each address (folded: valid, lower-cased, once) an invitation with the guest link and the ``.ics``,
    once the audit entry naming them is committed. The host's (``services.require_host``), for a meeting that has not
    ended, with the meeting's own invite secret. Returns the addresses invited."""
    services.require_host(org, meeting)
    services._require_open(meeting)  # the meetings' one "has it ended" rule
    _require_invite_of(meeting, invite)
    addresses = invitee_addresses(emails)
    services._audit(meeting, "invited", actor, {"count": len(addresses), "emails": addresses})
    join_url = guest_join_url(invite)
    transaction.on_commit(lambda: _send(meeting, addresses, join_url))
    return addresses
