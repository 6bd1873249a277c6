"""Push registrations and preferences, ``notify`` (which writes the outbox) and the delivery of one message.

Delivery is at least once and never twice after success: the task claims its row with a conditional UPDATE (of two
workers one wins; a claim expires after :func:`claim_seconds` so a dead worker's row is taken again by the sweep), and a
row marked ``sent`` is never claimed again. A transient refusal (5xx, 429, a timeout) is retried with backoff, up
to ``MAX_ATTEMPTS`` sends; a token the service says is gone disables its registration and drops the message.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from connect.errors import ApplicationError, Forbidden, NotFound
from connect.timezone import zone_named
from orgs.models import Device, Organization, User

from . import providers
from .models import Kind, Priority, PushMessage, PushPreference, PushRegistration

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
# Seconds to wait before the second, third, ... send of a message whose service was down.
BACKOFF_SECONDS = [10, 60, 5 * 60, 30 * 60]
CLAIM_SECONDS = 60


def claim_seconds() -> float:
    """How long a claim lasts: longer than the slowest send can take, so no sweep takes a row a worker is still
    sending (firebase-admin retries a 500 or 503 itself, up to four times with backoff, within one send)."""
    return max(CLAIM_SECONDS, settings.CONNECT_PUSH_TIMEOUT_SECONDS * 5 + 30)


KEEP_FINISHED = timedelta(days=7)

PRIORITY = {
    Kind.SESSION_REQUEST: Priority.HIGH,
    Kind.CUSTOMER_WAITING: Priority.HIGH,
    Kind.TRANSFER: Priority.NORMAL,
    Kind.MEETING_INVITATION: Priority.NORMAL,
}
# Past this a notification is worthless (the customer has given up, the code has expired): the services drop it.
TIME_TO_LIVE = {
    Kind.SESSION_REQUEST: timedelta(minutes=10),
    Kind.CUSTOMER_WAITING: timedelta(minutes=10),
    Kind.TRANSFER: timedelta(minutes=15),
    Kind.MEETING_INVITATION: timedelta(hours=1),
}
PREFERENCE_KINDS = [kind.value for kind in Kind]


# --- Registrations -----------------------------------------------------------------------------------------------


def device_of_principal(principal: Any) -> Device:
    """The app installation a native access token belongs to; 403 for any other credential (a browser, an API key
    has no device to push to)."""
    if getattr(principal, "kind", "") != "native":
        raise Forbidden(
            _("Only a signed-in native app registers for push notifications (use its access token)."),
            code="native_app_required",
        )
    device = Device.objects.filter(
        public_id=principal.credential_id, user=principal.user, revoked_at__isnull=True
    ).first()
    if device is None:
        raise NotFound(_("Not found."))
    return device


def registrations_of(user: User):
    """The registrations push messages go to: enabled, on an app installation that is still signed in."""
    return PushRegistration.objects.filter(
        device__user=user, device__revoked_at__isnull=True, disabled_at__isnull=True
    ).select_related("device")


def registration_of(user: User, public_id: str) -> PushRegistration:
    """One of ``user``'s registrations; 404 for anyone else's, as for one that does not exist."""
    registration = registrations_of(user).filter(public_id=public_id).first()
    if registration is None:
        raise NotFound(_("Not found."))
    return registration


@transaction.atomic
def registration_register(
    *,
    device: Device,
    provider: str,
    token: str,
    app_version: str = "",
    locale: str = "",
    platform: str = "",
) -> PushRegistration:
    """Register (or refresh) the push token of ``device``: one registration per installation. A token registered
    for another installation before (a reinstall, someone else signed in on the phone) moves here."""
    token = token.strip()
    if not token:
        raise ApplicationError(_("The push token is empty."), code="invalid", details={"field": "token"})
    values = {
        "provider": provider,
        "token": token,
        "app_version": app_version.strip(),
        "locale": locale.strip(),
        "platform": platform or device.platform,
    }
    PushRegistration.objects.filter(provider=provider, token=token).exclude(device=device).delete()
    registration = PushRegistration.objects.select_for_update().filter(device=device).first()
    if registration is None:
        registration = PushRegistration.objects.create(device=device, **values)
    elif registration.active and all(getattr(registration, name) == value for name, value in values.items()):
        return registration
    else:
        for name, value in values.items():
            setattr(registration, name, value)
        registration.disabled_at, registration.disabled_reason = None, ""
        registration.save()
    if device.push_token != token[:512]:
        Device.objects.filter(pk=device.pk).update(push_token=token[:512])
    return registration


def registration_disable(*, registration: PushRegistration, reason: str) -> PushRegistration:
    """Stop pushing to a registration (the app unregistered, or the service said its token is gone); messages
    still waiting for it are dropped."""
    now = timezone.now()
    with transaction.atomic():
        changed = PushRegistration.objects.filter(pk=registration.pk, disabled_at__isnull=True).update(
            disabled_at=now, disabled_reason=reason[:64]
        )
        if changed:
            Device.objects.filter(pk=registration.device_id, push_token=registration.token[:512]).update(push_token="")
            PushMessage.objects.filter(registration=registration, status=PushMessage.Status.PENDING).update(
                status=PushMessage.Status.DROPPED, last_error=f"registration disabled: {reason}"[:300]
            )
    registration.refresh_from_db()
    return registration


def registration_unregister_device(*, device: Device) -> None:
    """The app signs out of push on this installation (nothing to do when it never registered)."""
    registration = PushRegistration.objects.filter(device=device, disabled_at__isnull=True).first()
    if registration is not None:
        registration_disable(registration=registration, reason="unregistered")


# --- Preferences -------------------------------------------------------------------------------------------------


def preference_of(user: User) -> PushPreference:
    """The person's preferences; the defaults (everything on, no quiet hours) until they change one. Not saved."""
    return PushPreference.objects.filter(user=user).first() or PushPreference(user=user)


@transaction.atomic
def preference_update(*, user: User, **changes: Any) -> PushPreference:
    """Change any of: a kind's switch (``session_request``, ...), ``quiet_hours_start`` and ``quiet_hours_end``
    (both or neither), ``timezone`` (an IANA name)."""
    preference = PushPreference.objects.select_for_update().filter(user=user).first() or PushPreference(user=user)
    if "timezone" in changes and zone_named(changes["timezone"] or "") is None:
        raise ApplicationError(
            _("Unknown time zone; give an IANA name such as Europe/Paris."),
            code="invalid",
            details={"field": "timezone"},
        )
    start = changes.get("quiet_hours_start", preference.quiet_hours_start)
    end = changes.get("quiet_hours_end", preference.quiet_hours_end)
    if (start is None) != (end is None):
        raise ApplicationError(
            _("Give both the start and the end of the quiet hours, or neither."),
            code="invalid",
            details={"field": "quiet_hours_end" if end is None else "quiet_hours_start"},
        )
    if preference.pk and all(getattr(preference, name) == value for name, value in changes.items()):
        return preference
    for name, value in changes.items():
        setattr(preference, name, value)
    preference.save()
    return preference


def in_quiet_hours(preference: PushPreference, now: datetime) -> bool:
    """Whether ``now`` falls in the person's quiet hours, which may span midnight (22:00 to 07:00)."""
    start, end = preference.quiet_hours_start, preference.quiet_hours_end
    if start is None or end is None or start == end:
        return False
    zone = zone_named(preference.timezone) or zone_named("UTC")
    local: time = now.astimezone(zone).time()
    if start < end:
        return start <= local < end
    return local >= start or local < end


# --- Notifying ---------------------------------------------------------------------------------------------------

TITLES = {
    Kind.SESSION_REQUEST: lambda: _("Incoming support session"),
    Kind.CUSTOMER_WAITING: lambda: _("A customer is waiting"),
    Kind.TRANSFER: lambda: _("A support session was handed to you"),
    Kind.MEETING_INVITATION: lambda: _("You are invited to a meeting"),
}


def _language(locale: str) -> str:
    try:
        return translation.get_supported_language_variant(locale.replace("_", "-").lower())
    except LookupError:
        return settings.LANGUAGE_CODE


def lock_screen_payload(kind: str, organization: Organization, locale: str, data: dict[str, str]) -> dict[str, Any]:
    """What a notification shows and carries: a fixed title in the app's language, the organization's name, and
    ids the app fetches the rest with. Never a customer's name or address: a lock screen is seen by anyone."""
    with translation.override(_language(locale)):
        title = str(TITLES[Kind(kind)]())
    return {
        "title": title,
        "body": organization.name,
        "data": {"kind": kind, "organization_id": organization.public_id, **data},
    }


def notify(
    *,
    user: User,
    kind: str,
    organization: Organization,
    data: dict[str, str] | None = None,
    collapse_key: str = "",
    now: datetime | None = None,
) -> list[PushMessage]:
    """Queue a push of ``kind`` to each of ``user``'s registrations, unless they turned the kind off or (for a
    normal-priority kind) it is their quiet hours. Sent once the caller's transaction commits."""
    now = now or timezone.now()
    kind = Kind(kind)
    preference = preference_of(user)
    if not preference.wants(kind):
        return []
    priority = PRIORITY[kind]
    if priority == Priority.NORMAL and in_quiet_hours(preference, now):
        return []
    registrations = list(registrations_of(user))
    if not registrations:
        return []
    data = {name: str(value) for name, value in (data or {}).items()}
    with transaction.atomic():
        messages = PushMessage.objects.bulk_create(
            [
                PushMessage(
                    registration=registration,
                    kind=kind,
                    payload=lock_screen_payload(kind, organization, registration.locale, data),
                    collapse_key=collapse_key[:64],
                    priority=priority,
                    expires_at=now + TIME_TO_LIVE[kind],
                    next_attempt_at=now,
                )
                for registration in registrations
            ]
        )
        ids = [message.pk for message in messages]

        def enqueue() -> None:
            from .tasks import deliver

            for message_id in ids:
                deliver.delay(message_id)

        transaction.on_commit(enqueue)
    return messages


def _notify_about_session(kind: str, *, user: User, organization: Organization, session_id: str) -> list[PushMessage]:
    """One notice per session on the lock screen: later ones about the same session replace it (collapse key)."""
    return notify(
        user=user,
        kind=kind,
        organization=organization,
        data={"session_id": session_id},
        collapse_key=f"session:{session_id}",
    )


def notify_session_request(*, user: User, organization: Organization, session_id: str) -> list[PushMessage]:
    """A session was opened for ``user`` by someone else (an integration, a colleague)."""
    return _notify_about_session(Kind.SESSION_REQUEST, user=user, organization=organization, session_id=session_id)


def notify_customer_waiting(*, user: User, organization: Organization, session_id: str) -> list[PushMessage]:
    """The customer entered the code of ``user``'s session and waits for the agent."""
    return _notify_about_session(Kind.CUSTOMER_WAITING, user=user, organization=organization, session_id=session_id)


def notify_transfer(*, user: User, organization: Organization, session_id: str) -> list[PushMessage]:
    """A live session was handed to ``user``."""
    return _notify_about_session(Kind.TRANSFER, user=user, organization=organization, session_id=session_id)


def notify_meeting_invitation(*, user: User, organization: Organization, meeting_id: str) -> list[PushMessage]:
    """``user`` is invited to a meeting. No domain event emits it yet: the meetings feature will call this."""
    return notify(
        user=user,
        kind=Kind.MEETING_INVITATION,
        organization=organization,
        data={"meeting_id": meeting_id},
        collapse_key=f"meeting:{meeting_id}",
    )


# --- Delivery ----------------------------------------------------------------------------------------------------


def _claimable(now: datetime) -> Q:
    return Q(status=PushMessage.Status.PENDING, next_attempt_at__lte=now) | Q(
        status=PushMessage.Status.SENDING, claimed_until__lt=now, attempts__lt=MAX_ATTEMPTS
    )


def claim(message_id: int, now: datetime) -> datetime | None:
    """Take a due message for this worker: of two workers only one wins. Answers the claim's end, which the
    worker's final write names, so a worker whose claim was taken over cannot overwrite the other's outcome."""
    until = now + timedelta(seconds=claim_seconds())
    claimed = (
        PushMessage.objects.filter(pk=message_id)
        .filter(_claimable(now))
        .update(status=PushMessage.Status.SENDING, claimed_until=until, attempts=F("attempts") + 1)
    )
    return until if claimed == 1 else None


def deliver(message_id: int, now: datetime | None = None) -> PushMessage | None:
    """Claim and send one message, then record what became of it. ``now`` is for tests."""
    now = now or timezone.now()
    until = claim(message_id, now)
    if until is None:
        return None
    message = PushMessage.objects.select_related("registration__device").get(pk=message_id)
    mine = PushMessage.objects.filter(pk=message.pk, status=PushMessage.Status.SENDING, claimed_until=until)
    registration = message.registration

    def finish(status: str, error: str = "", **fields: Any) -> PushMessage:
        mine.update(status=status, claimed_until=None, last_error=error[:300], **fields)
        message.refresh_from_db()
        return message

    if not registration.active:
        return finish(PushMessage.Status.DROPPED, f"registration disabled: {registration.disabled_reason}")
    if registration.device.revoked_at is not None:
        return finish(PushMessage.Status.DROPPED, "the app installation signed out")
    if message.expires_at is not None and message.expires_at <= now:
        return finish(PushMessage.Status.DROPPED, "expired before it could be sent")
    sender = providers.sender_for(registration.provider)
    if sender is None:
        return finish(PushMessage.Status.DROPPED, "not configured")
    payload = message.payload
    result = sender.send(
        providers.Outgoing(
            token=registration.token,
            title=payload.get("title", ""),
            body=payload.get("body", ""),
            data={name: str(value) for name, value in payload.get("data", {}).items()},
            collapse_key=message.collapse_key,
            high_priority=message.priority == Priority.HIGH,
            expires_at=message.expires_at,
        )
    )
    if result.outcome == "sent":
        return finish(PushMessage.Status.SENT, sent_at=timezone.now(), provider_message_id=result.provider_message_id)
    if result.outcome == "unregistered":
        registration_disable(registration=registration, reason=f"{registration.provider}: token gone")
        logger.info("push registration %s disabled: %s", registration.public_id, result.error)
        return finish(PushMessage.Status.DROPPED, result.error)
    if result.outcome == "retry" and message.attempts < MAX_ATTEMPTS:
        wait = BACKOFF_SECONDS[min(message.attempts, len(BACKOFF_SECONDS)) - 1]
        return finish(PushMessage.Status.PENDING, result.error, next_attempt_at=now + timedelta(seconds=wait))
    logger.warning("push message %s failed: %s", message.public_id, result.error)
    return finish(PushMessage.Status.FAILED, result.error)


def sweep(now: datetime | None = None) -> list[int]:
    """For the beat: give up on messages whose last worker died on their last attempt, forget finished messages
    older than a week, and answer the ids of messages due (retries, and claims of dead workers)."""
    now = now or timezone.now()
    PushMessage.objects.filter(
        status=PushMessage.Status.SENDING, claimed_until__lt=now, attempts__gte=MAX_ATTEMPTS
    ).update(status=PushMessage.Status.FAILED, claimed_until=None, last_error="abandoned by its worker")
    PushMessage.objects.filter(
        status__in=[PushMessage.Status.SENT, PushMessage.Status.FAILED, PushMessage.Status.DROPPED],
        created_at__lt=now - KEEP_FINISHED,
    ).delete()
    return list(
        PushMessage.objects.filter(_claimable(now)).order_by("next_attempt_at").values_list("pk", flat=True)[:500]
    )
