"""File transfer between the agent and the customer of a session (docs/signaling.md, "File transfer").

The bytes go peer to peer over the WebRTC data channel labelled ``files``; they never cross the server. What crosses
it is the control, as signaling messages: ``file.offer``, ``file.accept``, ``file.decline``, ``file.cancel``,
``file.done`` and ``file.received``. The server holds each offer's state in the live store (signaling.live, keyed by
the session, so a party of another session cannot name it), refuses an offer over the organization's limit before
relaying it, lets only the receiver answer an offer, and writes the name, size and SHA-256 (never the content) of
every step to the session log.

The organization's limit is ``Organization.file_transfer_max_bytes``, else ``CONNECT_FILE_TRANSFER_MAX_BYTES``; the
owners and admins set it on the settings page (the "File transfer" card registered here).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from connect.errors import ApplicationError
from signaling import live
from signaling.protocol import MAX_FILE_BYTES, ProtocolError

from .models import SupportSession
from .services import Actor, record

if TYPE_CHECKING:
    from orgs.models import Organization
    from orgs.views import OrganizationSettingsView

FILE_LIMIT_CEILING = MAX_FILE_BYTES  # the highest limit an organization may set (2 GiB)
MEBIBYTE = 1024 * 1024
OFFER_TTL = 24 * 3600

# The state of an offer: who may send which message next.
OFFERED = "offered"
ACCEPTED = "accepted"
SENT = "sent"
CLOSED = "closed"


def file_limit(organization: Organization) -> int:
    """The largest file, in bytes, the parties of this organization's sessions may send each other."""
    return organization.file_transfer_max_bytes or settings.CONNECT_FILE_TRANSFER_MAX_BYTES


def format_size(size: int) -> str:
    """``104857600`` -> ``100 MB`` (binary units, as the pages show them)."""
    for unit, factor in (("GB", 1024**3), ("MB", MEBIBYTE), ("KB", 1024)):
        if size >= factor:
            value = f"{size / factor:.1f}".removesuffix(".0")
            return f"{value} {unit}"
    return f"{size} B"


def _key(session_id: str, file_id: str) -> str:
    return f"live:session:{session_id}:file:{file_id}"


def _session(organization_id: int, session_id: str) -> SupportSession:
    return (
        SupportSession.objects.filter(organization_id=organization_id)
        .select_related("organization", "agent")
        .get(public_id=session_id)
    )


def _offer_checked(organization_id: int, session_id: str, actor: Actor, fields: dict[str, Any]) -> None:
    """Refuse an offer over the organization's limit (``file_too_large``, nothing written); else log it."""
    session = _session(organization_id, session_id)
    limit = file_limit(session.organization)
    if fields["size"] > limit:
        size, most = format_size(fields["size"]), format_size(limit)
        if size == most:  # "1 MB; at most 1 MB"
            size, most = f"{fields['size']:,} B", f"{most} ({limit:,} B)"
        raise ApplicationError(
            _("%(name)s is %(size)s; files in this organization's sessions are at most %(limit)s.")
            % {"name": fields["name"], "size": size, "limit": most},
            code="file_too_large",
            details={"max_bytes": limit},
        )
    record(session=session, actor=actor, event="file_offered", data=_log_data(fields, sender=actor.kind))


def _log(organization_id: int, session_id: str, actor: Actor, event: str, data: dict[str, Any]) -> None:
    record(session=_session(organization_id, session_id), actor=actor, event=event, data=data)


def _log_data(offer: dict[str, Any], **extra: Any) -> dict[str, Any]:
    data = {"id": offer["id"], "name": offer["name"], "size": offer["size"]}
    if "from" in offer:
        data["sender"] = offer["from"]
    data.update(extra)
    return data


def _unknown(file_id: str, message: str | None = None) -> ProtocolError:
    return ProtocolError("unknown_file", message, fields={"id": file_id})


async def file_message(
    *, session_id: str, organization_id: int, role: str, actor: Actor, name: str, fields: dict[str, Any]
) -> dict[str, Any]:
    """Check a ``file.*`` message of ``role`` against its offer's state and log it; return the fields to relay.

    Raises :class:`ProtocolError` (``file_too_large``, ``unknown_file``) for a message that must not be relayed.
    The store is read and written around one database write; two messages racing on one offer are the two parties
    at once (an accept crossing a cancel), and whichever lands last decides, as the peer's page does.
    """
    store = live.store()
    key = _key(session_id, fields["id"])
    file_id = fields["id"]
    if name == "file.offer":
        offer = {"id": file_id, "name": fields["name"], "size": fields["size"], "from": role, "state": OFFERED}
        if not await store.add(key, offer, OFFER_TTL):
            raise _unknown(file_id, "This file id was already offered in this session: offer with a new id.")
        try:
            await database_sync_to_async(_offer_checked)(organization_id, session_id, actor, fields)
        except ApplicationError as exc:
            await store.delete(key)  # refused: nothing was offered
            if exc.code != "file_too_large":
                raise
            raise ProtocolError("file_too_large", exc.message, fields={"id": file_id, **exc.details}) from None
        return {"id": file_id, "name": fields["name"], "size": fields["size"]}

    offer = await store.get(key)
    if offer is None:
        raise _unknown(file_id)
    sender = offer["from"] == role
    state = offer["state"]
    if name in ("file.accept", "file.decline") and not sender and state == OFFERED:
        offer["state"] = ACCEPTED if name == "file.accept" else CLOSED
        event, data = ("file_accepted" if name == "file.accept" else "file_declined"), _log_data(offer)
    elif name == "file.cancel" and state in (OFFERED, ACCEPTED, SENT):
        offer["state"] = CLOSED
        event, data = "file_cancelled", _log_data(offer, by=role)
    elif name == "file.done" and sender and state == ACCEPTED:
        offer["state"], offer["sha256"] = SENT, fields["sha256"]
        event, data = "file_sent", _log_data(offer, sha256=fields["sha256"])
    elif name == "file.received" and not sender and state == SENT:
        offer["state"] = CLOSED
        matches = fields["sha256"] == offer.get("sha256")
        event, data = "file_received", _log_data(offer, sha256=fields["sha256"], matches=matches)
    else:
        raise _unknown(file_id, f"{name} does not apply to this file now (it is {state}).")
    await store.set(key, offer, OFFER_TTL)
    await database_sync_to_async(_log)(organization_id, session_id, actor, event, data)
    return dict(fields)


# --- The organization settings card ---------------------------------------------------------------------------------


def _settings_form(view: OrganizationSettingsView, data: Any = None):
    from orgs.forms import FileTransferForm

    organization = view.org.organization
    current = organization.file_transfer_max_bytes
    return FileTransferForm(data, initial={"max_megabytes": current // MEBIBYTE if current else None})


def settings_context(view: OrganizationSettingsView) -> dict[str, Any]:
    return {
        "file_transfer_form": _settings_form(view),
        "file_transfer_limit": format_size(file_limit(view.org.organization)),
        "file_transfer_default": format_size(settings.CONNECT_FILE_TRANSFER_MAX_BYTES),
    }


def settings_save(view: OrganizationSettingsView, request: HttpRequest) -> HttpResponse:
    """The card's POST (``section=files``): the organization's own limit, in MB, or empty for the default."""
    from orgs.services import organization_update_settings

    form = _settings_form(view, request.POST)
    sections = lambda: {"files": {**settings_context(view), "file_transfer_form": form}}  # noqa: E731
    if not form.is_valid():
        return view.page(status=400, sections=sections())
    megabytes = form.cleaned_data["max_megabytes"]
    try:
        organization_update_settings(
            organization=view.org.organization,
            actor=request.user,
            file_transfer_max_bytes=megabytes * MEBIBYTE if megabytes else None,
        )
    except ApplicationError as exc:
        form.add_error("max_megabytes", exc.message)
        return view.page(status=exc.status_code, sections=sections())
    messages.success(request, _("File transfer limit saved."))
    return redirect("org_settings", org_slug=view.org.organization.slug)


def settings_section():
    from orgs.views import SettingsSection

    return SettingsSection(template="sessions/_settings_files.html", context=settings_context, save=settings_save)
