"""WebSocket consumers. The signaling protocol itself arrives with the sessions work (docs/signaling.md)."""

from __future__ import annotations

from channels.generic.websocket import AsyncJsonWebsocketConsumer

PROTOCOL_VERSION = 1


class HelloConsumer(AsyncJsonWebsocketConsumer):
    """``/ws/v1/hello``: a client checks it can reach the WebSocket endpoint and is authenticated.

    Answers one ``hello`` message naming the protocol version and the user, then stays open until the
    client closes. Anonymous connections are closed with code 4401.
    """

    async def connect(self) -> None:
        principal = self.scope.get("principal")
        if principal is None:
            await self.close(code=4401)
            return
        await self.accept()
        user = principal.user
        await self.send_json(
            {
                "type": "hello",
                "v": PROTOCOL_VERSION,
                "auth": principal.kind,
                "user": {"id": user.public_id, "email": user.email} if user else None,
            }
        )

    async def receive_json(self, content, **kwargs) -> None:
        # Nothing to do yet; ping/pong keeps intermediaries from closing an idle socket.
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong", "v": PROTOCOL_VERSION})
