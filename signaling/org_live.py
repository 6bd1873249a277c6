"""``/ws/v1/orgs/<slug>/live``: the organization's live socket, opened by the pages that show live data (dashboard,
viewer, history). It carries hints only, never session data: ``{"type": "sessions.changed", "session": id}`` and
``{"type": "agents.changed"}``. The page then refetches its HTML fragment from a page endpoint that applies the
session access rule (sessions.selectors), so nothing crosses organizations or reaches an agent who may not see it.

Hints are published after commit, from the typed session events (signaling.handlers) and when an agent comes
online or goes offline (signaling.consumers.HelloConsumer; not on every heartbeat).
"""

from __future__ import annotations

import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from connect.errors import ApplicationError
from orgs.access import principal_refusal, socket_keys
from orgs.tenancy import org_context_for_principal
from sessions import selectors as session_selectors

from . import live, protocol
from .consumers import CLOSE_NOT_FOUND, CLOSE_UNAUTHENTICATED, _ClosesWhenRefused, _SignalingSocket
from .protocol import ProtocolError

logger = logging.getLogger(__name__)


class OrgLiveConsumer(_ClosesWhenRefused, _SignalingSocket):
    """Authorized like the other sockets: a principal (cookie, bearer or ticket) of the organization holding
    ``sessions:read``; anyone else is closed (4401 anonymous, 4404 not theirs). Closes on revocation (4403)."""

    metrics_socket = "org_live"
    group: str
    sees_every_session = False
    user_public_id: str | None = None

    async def connect(self) -> None:
        principal = self.scope.get("principal")
        if principal is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        slug = self.scope["url_route"]["kwargs"]["org_slug"]
        try:
            organization_pk, self.sees_every_session, self.user_public_id = await database_sync_to_async(
                self._authorize
            )(principal, slug)
        except ApplicationError:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.slug = slug
        self.group = live.org_group(organization_pk)
        self.limits = protocol.RateLimiter()
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        self.watch_credential(socket_keys(principal) | {f"org:{organization_pk}"})
        await self._send({"type": "hello", "organization": slug})

    @staticmethod
    def _authorize(principal: Any, slug: str) -> tuple[int, bool, str | None]:
        if "\x00" in slug:
            raise ApplicationError("no such organization", status_code=404)
        ctx = org_context_for_principal(principal, slug)  # NotFound unless the principal belongs to it
        if not ctx.has_scope(session_selectors.ACTION_SCOPES[session_selectors.SessionAction.VIEW]):
            raise ApplicationError("sessions:read needed", status_code=404)
        sees_all = session_selectors._sees_every_session(ctx) or ctx.organization.agents_see_all_sessions
        return ctx.organization.pk, sees_all, ctx.user.public_id if ctx.user is not None else None

    def still_allowed(self):
        """The rule that let it in: a live credential, still of this organization with ``sessions:read``."""
        principal = self.scope["principal"]
        refusal = principal_refusal(principal)
        if refusal is None:
            _pk, self.sees_every_session, self.user_public_id = self._authorize(principal, self.slug)
        return refusal

    async def refuse_socket(self, refusal) -> None:
        await self._leave()
        await super().refuse_socket(refusal)

    async def disconnect(self, code) -> None:
        self.unwatch_credential()
        await self._leave()

    async def _leave(self) -> None:
        if hasattr(self, "group"):
            try:
                await self.channel_layer.group_discard(self.group, self.channel_name)
            except Exception:  # noqa: BLE001 - the socket is going either way
                logger.warning("org live socket: could not leave %s", self.group, exc_info=True)

    async def receive(self, text_data=None, bytes_data=None) -> None:
        """Only ``ping`` is answered (``pong``), as on ``/ws/v1/hello``."""
        if self.closing:
            return
        try:
            self.limits.check("message")
            message = protocol.decode(text_data)
            if not isinstance(message, dict) or message.get("type") != "ping":
                raise ProtocolError("unknown_type", "Only ping is answered here.")
        except ProtocolError as exc:
            await self._refuse(exc)
            return
        self.recheck_if_due()
        await self._send({"type": "pong"})

    async def org_hint(self, event) -> None:
        """A hint from the channel layer. One about a session reaches an agent who sees only their own sessions
        only when it names them (the session's agent now or before a transfer): no query on this path."""
        agents = event.get("agents")
        if agents is not None and not self.sees_every_session and self.user_public_id not in agents:
            return
        await self._send(event["hint"])


def _organizations_of(user_pk: int) -> list[int]:
    from orgs.models import Organization
    from orgs.tenancy import memberships_of

    return list(
        memberships_of(user_pk)
        .filter(organization__status=Organization.Status.ACTIVE)
        .values_list("organization_id", flat=True)
    )


async def agents_changed(user: Any) -> None:
    """An agent came online or went offline: hint every organization they belong to (a transition, not a
    heartbeat, so this query runs rarely)."""
    if user is None or not getattr(user, "pk", None):
        return
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        for organization_pk in await database_sync_to_async(_organizations_of)(user.pk):
            await layer.group_send(
                live.org_group(organization_pk), {"type": "org.hint", "hint": {"type": "agents.changed"}}
            )
    except Exception:  # noqa: BLE001 - a lost hint costs a stale list, never the presence socket
        logger.warning("could not hint that agent %s changed presence", user.pk, exc_info=True)
