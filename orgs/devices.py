"""Native-app sign-in: devices and their opaque access/refresh tokens.

Tokens are random, prefixed (``cat_`` access, ``crt_`` refresh) and stored only as SHA-256. A refresh token
works once: refreshing rotates the pair, and presenting an already-rotated refresh token revokes the device's
whole token family, since only a copy of the token can be presented twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from connect.errors import ApplicationError
from connect.ids import new_secret, secret_hash

from .access import Assurance, announce, person_refusal
from .models import Device, DeviceToken, User

ACCESS_PREFIX = "cat"
REFRESH_PREFIX = "crt"
LAST_SEEN_GRANULARITY = timedelta(minutes=1)


class TokenError(ApplicationError):
    status_code = 401
    code = "invalid_token"


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    device: Device

    def as_response(self) -> dict:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "device_id": self.device.public_id,
        }


def _issue_pair(device: Device) -> TokenPair:
    now = timezone.now()
    access, refresh = new_secret(ACCESS_PREFIX), new_secret(REFRESH_PREFIX)
    DeviceToken.objects.bulk_create(
        [
            DeviceToken(
                device=device,
                kind=DeviceToken.Kind.ACCESS,
                token_hash=secret_hash(access),
                expires_at=now + settings.CONNECT_ACCESS_TOKEN_TTL,
            ),
            DeviceToken(
                device=device,
                kind=DeviceToken.Kind.REFRESH,
                token_hash=secret_hash(refresh),
                expires_at=now + settings.CONNECT_REFRESH_TOKEN_TTL,
            ),
        ]
    )
    return TokenPair(access, refresh, int(settings.CONNECT_ACCESS_TOKEN_TTL.total_seconds()), device)


@transaction.atomic
def device_sign_in(
    *,
    user: User,
    name: str,
    platform: str,
    push_token: str = "",
    ip: str | None = None,
    second_factor: bool = False,
) -> TokenPair:
    """Register a signed-in app installation for ``user`` (already authenticated; ``second_factor``: with a
    two-factor code) and issue its first tokens."""
    refusal = person_refusal(user, Assurance(second_factor=second_factor))
    if refusal is not None:
        raise refusal
    device = Device.objects.create(
        user=user,
        name=name,
        platform=platform,
        push_token=push_token or "",
        last_ip=ip,
        last_seen_at=timezone.now(),
        second_factor=second_factor,
    )
    return _issue_pair(device)


def device_revoke(*, device: Device, reason: str = "signed_out") -> Device:
    """Sign the app out: the device and every token it holds stop working at once."""
    now = timezone.now()
    with transaction.atomic():
        if Device.objects.filter(pk=device.pk, revoked_at__isnull=True).update(revoked_at=now, revoked_reason=reason):
            announce([f"cred:native:{device.public_id}"])  # its open sockets close
        DeviceToken.objects.filter(device=device, revoked_at__isnull=True).update(revoked_at=now)
    device.refresh_from_db()
    return device


def token_refresh(*, refresh_token: str, ip: str | None = None) -> TokenPair:
    """Rotate a refresh token into a new pair. Reuse of a rotated token revokes the device's token family."""
    invalid = TokenError(_("The refresh token is not valid; sign in again."), code="invalid_grant")
    if not refresh_token.startswith(REFRESH_PREFIX + "_"):
        raise invalid
    row = (
        DeviceToken.objects.select_related("device", "device__user")
        .filter(token_hash=secret_hash(refresh_token), kind=DeviceToken.Kind.REFRESH)
        .first()
    )
    if row is None or row.device.revoked_at is not None or row.revoked_at is not None:
        raise invalid
    if row.rotated_at is not None:
        # Committed on its own, before the error is raised: the revocation must stick.
        device_revoke(device=row.device, reason="refresh_token_reused")
        raise TokenError(
            _("This refresh token was already used. The device has been signed out; sign in again."),
            code="refresh_token_reused",
        )
    if row.expires_at <= timezone.now():
        raise invalid
    refusal = person_refusal(row.device.user, Assurance(second_factor=row.device.second_factor))
    if refusal is not None:
        raise refusal  # nothing rotates: the device may not act until its person meets the requirement

    now = timezone.now()
    with transaction.atomic():
        claimed = DeviceToken.objects.filter(pk=row.pk, rotated_at__isnull=True, revoked_at__isnull=True).update(
            rotated_at=now
        )
        if claimed != 1:  # a concurrent refresh with the same token won: treat as reuse
            raise invalid
        # Access tokens issued before the rotation end with it.
        DeviceToken.objects.filter(device=row.device, kind=DeviceToken.Kind.ACCESS, revoked_at__isnull=True).update(
            revoked_at=now
        )
        Device.objects.filter(pk=row.device.pk).update(last_seen_at=now, last_ip=ip)
        return _issue_pair(row.device)


def token_revoke(*, token: str) -> None:
    """RFC 7009 semantics: revoking a refresh token signs the device out; an access token ends alone.

    Unknown tokens are ignored, so a client cannot learn which tokens exist.
    """
    row = DeviceToken.objects.select_related("device").filter(token_hash=secret_hash(token or "")).first()
    if row is None:
        return
    if row.kind == DeviceToken.Kind.REFRESH:
        device_revoke(device=row.device, reason="token_revoked")
    else:
        DeviceToken.objects.filter(pk=row.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def access_token_user(token: str, *, ip: str | None = None) -> tuple[User, Device]:
    """The user and device behind a valid access token, or :class:`TokenError`."""
    row = (
        DeviceToken.objects.select_related("device", "device__user")
        .filter(token_hash=secret_hash(token), kind=DeviceToken.Kind.ACCESS)
        .first()
    )
    now = timezone.now()
    if row is None or row.revoked_at is not None or row.device.revoked_at is not None:
        raise TokenError(_("The access token is not valid; sign in again."))
    if row.expires_at <= now:
        raise TokenError(_("The access token has expired; refresh it."), code="token_expired")
    device = row.device
    if not device.user.is_active:
        raise TokenError(_("This account is disabled."), code="account_disabled")
    if device.last_seen_at is None or now - device.last_seen_at > LAST_SEEN_GRANULARITY:
        Device.objects.filter(pk=device.pk).update(last_seen_at=now, last_ip=ip)
    return device.user, device
