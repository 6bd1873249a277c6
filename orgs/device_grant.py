"""Device sign-in: the OAuth 2.0 Device Authorization Grant (RFC 8628) for the desktop agent and TV-style clients.

The client asks for a pair of codes (:func:`device_authorization_request`), shows the short user code and the
verification page, and polls the token endpoint with the long device code (:func:`device_token_poll`). A signed-in
person enters the user code on ``/device/`` and approves or denies it (:func:`device_authorization_approve`,
:func:`device_authorization_deny`). Exactly one poll after the approval gets the app's token pair, the same native
``cat_``/``crt_`` tokens as a password sign-in (``orgs.devices.device_sign_in``).

The device code is a 256-bit secret stored as SHA-256 only; the user code is short enough to type, so wrong user
codes are rate-limited per person and per address. Polling errors carry the RFC's error names as their ``code``.
django-oauth-toolkit's device grant is not used: it is tied to its applications and stores the device code in clear.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from connect import ratelimit
from connect.errors import ApplicationError
from connect.ids import new_secret, secret_hash

from . import devices
from .access import Assurance, person_refusal
from .devices import TokenPair
from .models import DeviceAuthorization, Organization, User
from .tenancy import memberships_of

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"
DEVICE_CODE_PREFIX = "cdc"
# No vowels (no words), no digits, no look-alikes: 20 letters, 8 of them (about 34 bits, under a rate limit).
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
POLL_INTERVAL_SECONDS = 5
SLOW_DOWN_SECONDS = 5  # RFC 8628 3.5: each slow_down adds 5 seconds to the interval, for good
WRONG_CODES_PER_MINUTE = 10
REQUESTS_PER_MINUTE = 20  # new device authorizations per address

# Every query crosses organizations on purpose: a row is found by its code, whichever organization it names.
BY_CODE = "a device authorization is found by its device or user code, whichever organization it names"


class DeviceGrantError(ApplicationError):
    """An RFC 8628 error of the token endpoint: 400, ``code`` is the RFC's error name."""

    status_code = 400
    code = "invalid_grant"


class UserCodeError(ApplicationError):
    """The code a person typed names nothing they can approve now."""

    status_code = 400
    code = "invalid_user_code"


def _rows():
    return DeviceAuthorization.objects.unscoped(BY_CODE)


def format_user_code(code: str) -> str:
    """How people see a user code: ``BCDF-GHJK``."""
    return f"{code[:4]}-{code[4:]}" if len(code) == USER_CODE_LENGTH else code


def normalize_user_code(code: str) -> str:
    """What was typed, as stored: upper case, without the dash or spaces."""
    return "".join(ch for ch in str(code or "").upper() if ch not in "- \t")


def _new_user_code() -> str:
    return "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))


def _rate_limited(message: str, wait: int) -> ApplicationError:
    return ApplicationError(message, code="rate_limited", status_code=429, details={"retry_after_seconds": wait})


def _organization_for_slug(slug: str) -> Organization | None:
    if not slug:
        return None
    organization = Organization.objects.filter(slug=slug, status=Organization.Status.ACTIVE).first()
    if organization is None:
        raise ApplicationError(
            _("There is no organization '%(slug)s'. Check the organization in the app's settings.") % {"slug": slug},
            code="invalid_organization",
            details={"field": "organization"},
        )
    return organization


def device_authorization_request(
    *, client_name: str, platform: str, organization_slug: str = "", ip: str | None = None
) -> tuple[DeviceAuthorization, str, str]:
    """Start a device sign-in: the row, the device code (returned here only) and the user code (normalized).

    Limited per address. ``organization_slug`` restricts who may approve it to that organization's members."""
    wait = ratelimit.attempt_refused([f"device-authorization:ip:{ip}"], limit=REQUESTS_PER_MINUTE, window_seconds=60)
    if wait is not None:
        raise _rate_limited(_("Too many sign-in requests from this address. Wait a minute and try again."), wait)
    organization = _organization_for_slug(organization_slug)
    device_code = new_secret(DEVICE_CODE_PREFIX)
    now = timezone.now()
    for _attempt in range(5):
        user_code = _new_user_code()
        try:
            with transaction.atomic():
                row = _rows().create(
                    device_code_hash=secret_hash(device_code),
                    user_code=user_code,
                    client_name=client_name,
                    platform=platform,
                    organization=organization,
                    created_at=now,
                    expires_at=now + timedelta(seconds=settings.CONNECT_DEVICE_CODE_SECONDS),
                    interval=POLL_INTERVAL_SECONDS,
                    ip=ip,
                )
        except IntegrityError:  # a pending code is the same (one in billions): draw another
            continue
        return row, device_code, user_code
    raise RuntimeError("no free user code after 5 draws")  # pragma: no cover


# --- The person's side: find, approve, deny --------------------------------------------------------------------------

WRONG_CODE_ERRORS = ("invalid_user_code", "user_code_expired", "user_code_used")


def _wrong_code_keys(user: User, ip: str | None) -> list[str]:
    return [f"device-code-fail:user:{user.pk}", f"device-code-fail:ip:{ip}"]


def _guarded(user: User, ip: str | None, attempt):
    """Run ``attempt`` unless this person or address typed too many wrong codes in the last minute. Counted before
    it runs (concurrent guesses cannot all pass), given back unless the code turned out wrong."""
    return ratelimit.guarded(
        _wrong_code_keys(user, ip),
        attempt,
        limit=WRONG_CODES_PER_MINUTE,
        message=_("Too many wrong codes. Wait a minute and try again."),
        counts=lambda exc: exc.code in WRONG_CODE_ERRORS,
    )


def _expire(row: DeviceAuthorization) -> None:
    _rows().filter(pk=row.pk, status__in=[row.Status.PENDING, row.Status.APPROVED]).update(status=row.Status.EXPIRED)
    row.status = row.Status.EXPIRED


def _pending(user_code: str, *, for_update: bool = False) -> DeviceAuthorization:
    """The pending authorization a typed code names, or why there is none (in words a person can act on)."""
    code = normalize_user_code(user_code)
    rows = _rows().select_related("organization").filter(user_code=code).order_by("-created_at")
    if for_update:
        rows = rows.select_for_update(of=("self",))
    row = rows.first() if len(code) == USER_CODE_LENGTH else None
    if row is None:
        raise UserCodeError(_("That code is not right. Check the code your device shows and type it again."))
    if row.status == row.Status.PENDING and row.expires_at <= timezone.now():
        _expire(row)
    if row.status == row.Status.EXPIRED:
        raise UserCodeError(
            _("That code has expired. Start the sign-in again on your device to get a new code."),
            code="user_code_expired",
        )
    if row.status != row.Status.PENDING:
        raise UserCodeError(
            _("That code was already used. Start the sign-in again on your device to get a new code."),
            code="user_code_used",
        )
    return row


def _check_may_approve(row: DeviceAuthorization, user: User) -> None:
    """Only a member of the organization the client named may approve or deny it."""
    organization = row.organization
    if organization is None:
        return
    member = memberships_of(user).filter(organization=organization, organization__status=Organization.Status.ACTIVE)
    if not member.exists():
        raise ApplicationError(
            _(
                "This sign-in is for members of %(org)s, and you are not one. Sign in with your %(org)s account, "
                "or ask the device's owner to choose your organization."
            )
            % {"org": organization.name},
            code="wrong_organization",
            status_code=403,
            details={"organization": organization.slug},
        )


def device_authorization_for_code(*, user_code: str, user: User, ip: str | None = None) -> DeviceAuthorization:
    """The pending authorization ``user`` typed the code of, for the confirmation screen (wrong codes count)."""
    row = _guarded(user, ip, lambda: _pending(user_code))
    _check_may_approve(row, user)
    return row


def _audit_organizations(row: DeviceAuthorization, user: User) -> list[Organization]:
    """Where a device sign-in is recorded: the organization the client named; else, as for a person's second factor
    (orgs.mfa), every organization the person belongs to, since the app's tokens act in each of them."""
    if row.organization is not None:
        return [row.organization]
    return list(Organization.objects.filter(membership__user=user).distinct())


def _record(row: DeviceAuthorization, user: User, action: str, ip: str | None, target=None, **data) -> None:
    payload = {"client_name": row.client_name, "platform": row.platform, **data}
    for organization in _audit_organizations(row, user):
        audit_record(
            organization=organization,
            action=action,
            actor=user,
            target=target if target is not None else user,
            ip=ip,
            data=payload,
        )


def _decide(*, user_code: str, user: User, ip: str | None, approve: bool, second_factor: bool) -> DeviceAuthorization:
    with transaction.atomic():
        row = _pending(user_code, for_update=True)
        _check_may_approve(row, user)
        if approve:
            # What the app's tokens will prove is what this browser session proved; refuse now what the token
            # endpoint would refuse, on the page that can say why.
            refusal = person_refusal(user, Assurance(second_factor=second_factor))
            if refusal is not None:
                raise refusal
        now = timezone.now()
        status = row.Status.APPROVED if approve else row.Status.DENIED
        changed = (
            _rows()
            .filter(pk=row.pk, status=row.Status.PENDING)
            .update(
                status=status,
                user=user,
                approved_at=now if approve else None,
                second_factor=second_factor if approve else False,
            )
        )
        if changed != 1:  # decided in another tab a moment ago
            raise UserCodeError(
                _("That code was already used. Start the sign-in again on your device to get a new code."),
                code="user_code_used",
            )
        row.refresh_from_db()
        _record(row, user, "device_authorization.approved" if approve else "device_authorization.denied", ip)
        return row


def device_authorization_approve(
    *, user_code: str, user: User, ip: str | None = None, second_factor: bool = False
) -> DeviceAuthorization:
    """``user`` lets the device showing ``user_code`` sign in as them. ``second_factor``: their browser session gave
    its two-factor code (``orgs.access.session_assurance``), which the app's device then proves too."""
    return _guarded(
        user, ip, lambda: _decide(user_code=user_code, user=user, ip=ip, approve=True, second_factor=second_factor)
    )


def device_authorization_deny(*, user_code: str, user: User, ip: str | None = None) -> DeviceAuthorization:
    """``user`` refuses the sign-in: the device's next poll gets ``access_denied``."""
    return _guarded(
        user, ip, lambda: _decide(user_code=user_code, user=user, ip=ip, approve=False, second_factor=False)
    )


# --- The client's side: polling ---------------------------------------------------------------------------------------


def device_token_poll(*, device_code: str, ip: str | None = None) -> TokenPair:
    """The token endpoint's answer to a device code: the pair once approved (to exactly one poll), else the RFC 8628
    error that says what to do next."""
    invalid = DeviceGrantError(_("The device code is not valid. Start the sign-in again."), code="invalid_grant")
    if not str(device_code or "").startswith(DEVICE_CODE_PREFIX + "_"):
        raise invalid
    row = _rows().filter(device_code_hash=secret_hash(device_code)).first()
    if row is None or row.status == row.Status.CONSUMED:
        raise invalid
    now = timezone.now()
    if row.status in (row.Status.PENDING, row.Status.APPROVED) and row.expires_at <= now:
        _expire(row)
    if row.status == row.Status.EXPIRED:
        raise DeviceGrantError(
            _("The sign-in request expired before it was approved. Start the sign-in again."), code="expired_token"
        )
    if row.status == row.Status.DENIED:
        raise DeviceGrantError(_("The sign-in was refused in the browser."), code="access_denied")
    if row.status == row.Status.APPROVED:
        return _issue(row, ip=ip, now=now)

    # Pending: tell the client to wait, and to wait longer when it does not.
    too_soon = row.last_polled_at is not None and now - row.last_polled_at < timedelta(seconds=row.interval)
    if too_soon:
        _rows().filter(pk=row.pk).update(interval=F("interval") + SLOW_DOWN_SECONDS, last_polled_at=now)
        row.refresh_from_db(fields=["interval"])
        raise DeviceGrantError(
            _("Polling too fast: wait %(seconds)d seconds between requests.") % {"seconds": row.interval},
            code="slow_down",
            details={"interval": row.interval},
        )
    _rows().filter(pk=row.pk).update(last_polled_at=now)
    raise DeviceGrantError(
        _("Waiting for the sign-in to be approved in the browser."),
        code="authorization_pending",
        details={"interval": row.interval},
    )


def _issue(row: DeviceAuthorization, *, ip: str | None, now) -> TokenPair:
    with transaction.atomic():
        claimed = (
            _rows().filter(pk=row.pk, status=row.Status.APPROVED).update(status=row.Status.CONSUMED, last_polled_at=now)
        )
        if claimed != 1:  # a concurrent poll won
            raise DeviceGrantError(_("The device code is not valid. Start the sign-in again."), code="invalid_grant")
        user = User.objects.get(pk=row.user_id)
        # Refuses (and, rolled back, leaves the approval for a later poll) a person who may not act now.
        pair = devices.device_sign_in(
            user=user, name=row.client_name, platform=row.platform, ip=ip, second_factor=row.second_factor
        )
        _record(row, user, "device_authorization.token_issued", ip, target=pair.device)
        return pair


KEEP_FINISHED = timedelta(days=1)


def device_authorizations_purge(now=None) -> int:
    """Delete device sign-ins that expired or finished more than a day ago: they hold nothing anyone can still use,
    and the audit log keeps what was approved and issued. Returns how many."""
    before = (now or timezone.now()) - KEEP_FINISHED
    deleted, _ = _rows().filter(expires_at__lt=before).delete()
    return deleted
