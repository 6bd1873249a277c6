"""API keys and OAuth2 applications: writes and credential checks."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from oauth2_provider.generators import generate_client_secret

from audit.services import audit_record
from billing import entitlements
from connect import events
from connect.errors import ApplicationError, Forbidden
from connect.ids import new_secret, secret_hash
from connect.scopes import SCOPES
from orgs import access
from orgs.models import User
from orgs.tenancy import OrgContext

from ..models import APIKey, Application

API_KEY_PREFIX = "cnk"
LAST_USED_GRANULARITY = timedelta(minutes=1)


def clean_scopes(scopes: list[str], *, granter: OrgContext) -> list[str]:
    """Scopes a credential may carry: known ones, and none the person creating it lacks."""
    if not isinstance(scopes, list) or not scopes or not all(isinstance(s, str) for s in scopes):
        raise ApplicationError(_("Give at least one scope."), code="invalid_scopes", details={"field": "scopes"})
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ApplicationError(
            _("Unknown scopes: %(scopes)s.") % {"scopes": ", ".join(unknown)},
            code="invalid_scopes",
            details={"field": "scopes", "unknown": unknown, "choices": sorted(SCOPES)},
        )
    beyond = sorted(set(scopes) - granter.scopes)
    if beyond:
        raise Forbidden(
            _("You cannot grant scopes you do not have: %(scopes)s.") % {"scopes": ", ".join(beyond)},
            code="scope_above_creator",
            details={"field": "scopes", "scopes": beyond},
        )
    return sorted(set(scopes))


@transaction.atomic
def api_key_create(
    *, org: OrgContext, name: str, scopes: list[str], expires_at: datetime | None = None
) -> tuple[APIKey, str]:
    """Create an API key for ``org``. Returns the key row and the key itself (the only time it exists in clear)."""
    entitlements.require_feature(org.organization, "api")
    name = (name or "").strip()
    if not name:
        raise ApplicationError(_("Give the key a name."), code="invalid_name", details={"field": "name"})
    if expires_at is not None and expires_at <= timezone.now():
        raise ApplicationError(
            _("The expiry must be in the future."), code="invalid_expiry", details={"field": "expires_at"}
        )
    secret = new_secret(API_KEY_PREFIX, 32)
    key = APIKey.objects.create(
        organization=org.organization,
        name=name,
        prefix=secret[:12],
        key_hash=secret_hash(secret),
        scopes=clean_scopes(scopes, granter=org),
        created_by=org.user,
        expires_at=expires_at,
    )
    audit_record(
        organization=org.organization,
        action="api_key.created",
        actor=org,
        target=key,
        data={"prefix": key.prefix, "scopes": key.scopes, "expires_at": expires_at.isoformat() if expires_at else None},
    )
    events.emit(
        events.APIKeyCreated(
            organization=org.organization, actor=events.Actor.of_org_context(org), scopes=key.scopes, **_key_fields(key)
        )
    )
    return key, secret


def _key_fields(key: APIKey) -> dict:
    return {"id": key.public_id, "name": key.name, "prefix": key.prefix}


@transaction.atomic
def api_key_revoke(*, key: APIKey, by: OrgContext | None = None, operator: User | None = None) -> APIKey:
    """Revoke ``key``; ``by`` is who does it (None: an operator, named by ``operator`` in the Django admin, or the
    system, e.g. a member's access ending)."""
    if (
        APIKey.objects.for_org(key.organization)
        .filter(pk=key.pk, revoked_at__isnull=True)
        .update(revoked_at=timezone.now())
    ):
        audit_record(
            organization=key.organization,
            action="api_key.revoked",
            actor=by or operator,
            target=key,
            data={"prefix": key.prefix},
        )
        actor = events.Actor.of_org_context(by) if by is not None else events.Actor.system()
        events.emit(events.APIKeyRevoked(organization=key.organization, actor=actor, **_key_fields(key)))
        access.announce([f"cred:api_key:{key.public_id}"])  # the sockets it opened close
    key.refresh_from_db()
    return key


def api_key_check(secret: str) -> APIKey | None:
    """The live key behind ``secret``, or ``None`` (unknown or revoked). Notes the last use at most once a minute.

    An expired key raises ``401 api_key_expired``: only the key's holder can ask, and they learn to replace it."""
    key = (
        APIKey.objects.unscoped("an API key's hash names its key, whichever the organization")
        .select_related("organization")
        .filter(key_hash=secret_hash(secret))
        .first()
    )
    if key is not None and key.state == "expired":
        raise ApplicationError(
            _("This API key expired on %(date)s; create a new one.") % {"date": key.expires_at.isoformat()},
            code="api_key_expired",
            status_code=401,
        )
    if key is None or key.state != "active":
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_GRANULARITY:
        APIKey.objects.for_org(key.organization).filter(pk=key.pk).update(last_used_at=now)

    return key


def api_key_is_live(principal: Any) -> bool:
    """Whether the API key a socket or ticket was opened with is still active, in an active organization
    (registered with ``orgs.access``, which re-checks open credentials without importing this app)."""
    key = (
        APIKey.objects.for_org(principal.organization)
        .select_related("organization")
        .filter(public_id=principal.credential_id)
        .first()
    )
    return key is not None and key.state == "active" and key.organization.is_active


@transaction.atomic
def oauth_application_create(
    *,
    org: OrgContext,
    name: str,
    grant_type: str,
    scopes: list[str],
    redirect_uris: list[str] | None = None,
    client_type: str = Application.CLIENT_CONFIDENTIAL,
) -> tuple[Application, str]:
    """Register an OAuth2 application of ``org``. Returns it and its client secret, shown once."""
    entitlements.require_feature(org.organization, "api")
    name = (name or "").strip()
    if not name:
        raise ApplicationError(_("Give the application a name."), code="invalid_name", details={"field": "name"})
    allowed_grants = {Application.GRANT_CLIENT_CREDENTIALS, Application.GRANT_AUTHORIZATION_CODE}
    if grant_type not in allowed_grants:
        raise ApplicationError(
            _("grant_type must be one of: %(choices)s.") % {"choices": ", ".join(sorted(allowed_grants))},
            code="invalid_grant_type",
            details={"field": "grant_type"},
        )
    if grant_type == Application.GRANT_CLIENT_CREDENTIALS and client_type != Application.CLIENT_CONFIDENTIAL:
        raise ApplicationError(
            _("Client credentials need a confidential client."), code="invalid_client_type", details={}
        )
    uris = [u.strip() for u in (redirect_uris or []) if u.strip()]
    if grant_type == Application.GRANT_AUTHORIZATION_CODE and not uris:
        raise ApplicationError(
            _("The authorization-code flow needs at least one redirect URI."),
            code="invalid_redirect_uris",
            details={"field": "redirect_uris"},
        )
    secret = generate_client_secret()
    application = Application(
        organization=org.organization,
        user=org.user,
        name=name,
        client_type=client_type,
        authorization_grant_type=grant_type,
        redirect_uris=" ".join(uris),
        client_secret=secret,
        scopes=clean_scopes(scopes, granter=org),
        skip_authorization=False,
    )
    try:
        application.full_clean(exclude=["user"])
    except Exception as exc:  # noqa: BLE001 - the model's validators explain bad redirect URIs
        messages = getattr(exc, "message_dict", {"non_field_errors": [str(exc)]})
        raise ApplicationError(_("The application is not valid."), code="validation_error", details=messages) from None
    application.save()
    audit_record(
        organization=org.organization,
        action="oauth_app.created",
        actor=org,
        target=application,
        data={
            "client_id": application.client_id,
            "grant_type": grant_type,
            "client_type": client_type,
            "scopes": application.scopes,
            "redirect_uris": uris,
        },
    )
    return application, secret


@transaction.atomic
def oauth_application_delete(
    *, application: Application, by: OrgContext | None = None, operator: User | None = None
) -> None:
    """Deleting an application ends every token it was given (the toolkit cascades). ``by``: the organization's
    member or credential that does it; None is an operator (``operator``: the staff member in the Django admin)."""
    audit_record(
        organization=application.organization,
        action="oauth_app.deleted",
        actor=by or operator,
        target=application,
        data={"client_id": application.client_id, "grant_type": application.authorization_grant_type},
    )
    application.delete()
