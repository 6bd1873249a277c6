"""The plan's API rate, checked where every API request passes once (DRF's throttle step, after authentication).

Integrations are metered and limited: API keys and OAuth2 apps (client credentials, or acting for a person). People
are not: the browser's cookie and the native apps' tokens are someone using the product, and neither count as API
calls nor against ``api_requests_per_minute``.

- A plan without the ``api`` feature (Free, or a downgraded one whose keys still exist): 402 ``plan_limit``,
  ``feature:api``.
- ``api_requests_per_minute`` of 0: the same 402, naming that limit.
- Past the limit in the current minute (UTC clock minutes, per organization, every credential together): 429
  ``rate_limited`` with ``Retry-After`` (the seconds to the next minute); the refused call is not counted.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from rest_framework.throttling import BaseThrottle

from connect.errors import ApplicationError
from orgs.tenancy import Principal

from . import entitlements, metering

# Principal kinds that are integrations (connect.api.authentication).
METERED_KINDS = frozenset({"api_key", "oauth"})


class RateLimited(ApplicationError):
    status_code = 429
    code = "rate_limited"


def metered_organization(principal: Any):
    """The organization whose API budget ``principal``'s calls use; ``None`` for people."""
    if not isinstance(principal, Principal) or principal.kind not in METERED_KINDS:
        return None
    return principal.organization


class PlanRateThrottle(BaseThrottle):
    """Registered in ``REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"]``. Refuses by raising, so the answer is in the one
    error shape with the limit named (DRF's ``Throttled`` would say neither)."""

    def allow_request(self, request: Any, view: Any) -> bool:
        organization = metered_organization(request.auth)
        if organization is None:
            return True
        # Reads stay possible for a read-only organization; what a call changes is checked by the services.
        ents = entitlements.require_feature(organization, "api", writes=False)
        limit = ents.limit("api_requests_per_minute")
        if limit == 0:
            raise entitlements.PlanLimitReached(
                _("The %(plan)s plan includes no API requests.") % {"plan": ents.plan_name},
                details={
                    "limit": "api_requests_per_minute",
                    "allowed": 0,
                    "current": 0,
                    "upgrade_url": entitlements.upgrade_url(organization),
                },
            )
        wait = metering.api_call_admit(organization, limit=limit)
        if wait is not None:
            raise RateLimited(
                _(
                    "%(org)s made %(limit)s API requests this minute, the most the %(plan)s plan allows. "
                    "Try again in %(wait)s seconds."
                )
                % {"org": organization.name, "limit": limit, "plan": ents.plan_name, "wait": wait},
                details={
                    "limit": "api_requests_per_minute",
                    "allowed": limit,
                    "current": limit,
                    "retry_after_seconds": wait,
                    "upgrade_url": entitlements.upgrade_url(organization),
                },
            )
        return True
