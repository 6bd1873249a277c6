"""Two-factor authentication with django-otp: TOTP authenticators and single-use recovery codes.

A user with a confirmed device is not signed in until a code is given: the sign-in flow stops at
:class:`OTPLoginStage`, and :class:`orgs.access.CookieAccessMiddleware` treats any session that has not passed a
code as anonymous, whatever path created it. Wrong codes are throttled per user on top of django-otp's own back-off.
"""

from __future__ import annotations

import base64
import io
import secrets

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp import devices_for_user, match_token, user_has_device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from connect import ratelimit
from connect.errors import ApplicationError

from .models import Organization, User
from .tenancy import memberships_of

RECOVERY_CODE_COUNT = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
RECOVERY_DEVICE_NAME = "Recovery codes"
MAX_WRONG_CODES = 5
WRONG_CODE_WINDOW = 15 * 60


class MFAError(ApplicationError):
    status_code = 401
    code = "invalid_otp"


def has_confirmed_device(user: User) -> bool:
    return bool(user and user.is_authenticated and user_has_device(user, confirmed=True))


def org_requires_mfa(user: User) -> bool:
    return (
        memberships_of(user)
        .filter(organization__require_mfa=True, organization__status=Organization.Status.ACTIVE)
        .exists()
    )


def _wrong_code_key(user: User) -> str:
    return f"mfa:wrong:{user.pk}"


def verify_code(user: User, code: str):
    """The device that accepts ``code`` for ``user`` (a recovery code works once), or :class:`MFAError`."""
    key = _wrong_code_key(user)
    if ratelimit.attempt_refused([key], limit=MAX_WRONG_CODES, window_seconds=WRONG_CODE_WINDOW):
        raise MFAError(
            _("Too many wrong codes. Wait %(minutes)d minutes and try again.") % {"minutes": WRONG_CODE_WINDOW // 60},
            code="otp_throttled",
            status_code=429,
        )
    _raise_if_backing_off(user)
    code = "".join((code or "").split()).lower()
    device = match_token(user, code) if code and len(code) <= 32 else None
    if device is None:
        raise MFAError(_("That code is not correct."))
    ratelimit.clear([key])
    # The user has proven themselves: no device keeps its back-off from the codes tried on the others.
    for other in devices_for_user(user, confirmed=True):
        if hasattr(other, "throttle_reset"):
            other.throttle_reset()
    return device


def _raise_if_backing_off(user: User) -> None:
    """django-otp makes a device wait after wrong codes (1 s, 2 s, 4 s...); say so instead of "wrong code".

    Only when every device is waiting: a wrong authenticator code must not block a recovery code that works.
    """
    waits = []
    for device in devices_for_user(user, confirmed=True):
        allowed, data = device.verify_is_allowed() if hasattr(device, "verify_is_allowed") else (True, None)
        if allowed or not (data and data.get("locked_until")):
            return
        waits.append(data["locked_until"])
    if waits:
        seconds = max(1, int((min(waits) - timezone.now()).total_seconds() + 0.999))
        raise MFAError(
            _("Too many wrong codes in a row. Wait %(seconds)d seconds, then enter the newest code.")
            % {"seconds": seconds},
            code="otp_throttled",
            status_code=429,
            details={"retry_after_seconds": seconds},
        )


@transaction.atomic
def totp_enrolment_start(user: User) -> TOTPDevice:
    """A new, unconfirmed authenticator; any earlier unconfirmed one is replaced."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name=_("Authenticator app"), confirmed=False)


def _record_everywhere(user: User, action: str, data: dict, ip: str | None) -> None:
    """A person's second factor guards every organization they belong to: each one's log records its change."""
    from audit.services import audit_record

    for organization in Organization.objects.filter(membership__user=user).distinct():
        audit_record(organization=organization, action=action, actor=user, target=user, ip=ip, data=data)


@transaction.atomic
def totp_enrolment_confirm(user: User, device_id: int, code: str, *, ip: str | None = None) -> list[str]:
    """Confirm an authenticator with its first code; returns fresh recovery codes (shown once)."""
    device = TOTPDevice.objects.filter(user=user, pk=device_id, confirmed=False).first()
    if device is None:
        raise ApplicationError(_("Start the set-up again."), code="enrolment_expired")
    if not device.verify_token("".join((code or "").split())):
        raise MFAError(_("That code is not correct. Check the time on your phone and try the newest code."))
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    codes = _new_recovery_codes(user)
    _record_everywhere(user, "mfa.enrolled", {"method": "totp", "device_id": device.pk}, ip)
    return codes


@transaction.atomic
def recovery_codes_regenerate(user: User, *, ip: str | None = None) -> list[str]:
    """New recovery codes; the old ones stop working."""
    codes = _new_recovery_codes(user)
    _record_everywhere(user, "mfa.recovery_codes_regenerated", {"count": len(codes)}, ip)
    return codes


def _new_recovery_codes(user: User) -> list[str]:
    device, _created = StaticDevice.objects.get_or_create(
        user=user, name=RECOVERY_DEVICE_NAME, defaults={"confirmed": True}
    )
    device.token_set.all().delete()
    # 10 characters from a 31-letter alphabet without look-alikes (about 49 bits), e.g. "k7mq2-x9tfp";
    # django-otp stores at most 16 characters per code.
    codes = [
        "-".join("".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(5)) for _ in range(2))
        for _ in range(RECOVERY_CODE_COUNT)
    ]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=c) for c in codes])
    return codes


def recovery_codes_left(user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__name=RECOVERY_DEVICE_NAME).count()


@transaction.atomic
def mfa_disable(user: User, *, ip: str | None = None) -> None:
    """Remove every authenticator and the recovery codes of ``user``."""
    removed = [f"{device.__class__.__name__.lower()}:{device.pk}" for device in devices_for_user(user, confirmed=None)]
    for device in devices_for_user(user, confirmed=None):
        device.delete()
    if removed:
        _record_everywhere(user, "mfa.removed", {"devices": removed}, ip)


def qr_code_data_uri(device: TOTPDevice) -> str:
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


def manual_key(device: TOTPDevice) -> str:
    """The secret in the base32 form authenticator apps accept when typed, grouped for reading."""
    key = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4))
