"""What a person's export and erasure need from credentials (registered with ``orgs.privacy``, which does not import
this app): the API keys they created, described and never reproduced; the OAuth2 applications they registered,
kept for their organizations."""

from __future__ import annotations

from typing import Any

from orgs.models import User
from orgs.privacy import CROSSES_FOR_THE_PERSON, iso, org_ref

from ..models import APIKey, Application


def export_api_keys(user: User) -> list[dict[str, Any]]:
    """The export's ``api_keys``: every key ``user`` created, in every organization, without its secret or hash."""
    keys = (
        APIKey.objects.unscoped(CROSSES_FOR_THE_PERSON)
        .filter(created_by=user)
        .select_related("organization")
        .order_by("created_at")
    )
    return [
        {
            "id": k.public_id,
            "organization": org_ref(k.organization),
            "name": k.name,
            "prefix": k.prefix,
            "scopes": list(k.scopes),
            "created_at": iso(k.created_at),
            "expires_at": iso(k.expires_at),
            "revoked_at": iso(k.revoked_at),
        }
        for k in keys
    ]


def detach_oauth_applications(user: User) -> None:
    """Before ``user``'s row goes: an OAuth2 application belongs to its organization; the toolkit's ``user`` column
    would cascade it away."""
    Application.objects.unscoped(CROSSES_FOR_THE_PERSON).filter(user=user).update(user=None)
