"""A fake LiveKit server at the HTTP boundary: it answers the room API's Twirp routes, and the Egress service's start
and stop (protobuf, as livekit-api sends them), so the real client library runs; it checks each request's bearer token
with livekit-api's own verifier, and keeps every request it accepted for the tests to look at."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from livekit import api
from livekit.protocol import egress as lk_egress
from livekit.protocol import models as lk_models
from livekit.protocol import room as lk_room

ROUTES = {
    "CreateRoom": (lk_room.CreateRoomRequest, lambda req: lk_models.Room(name=req.name, sid="RM_fake")),
    "DeleteRoom": (lk_room.DeleteRoomRequest, lambda req: lk_room.DeleteRoomResponse()),
    "RemoveParticipant": (lk_room.RoomParticipantIdentity, lambda req: lk_room.RemoveParticipantResponse()),
    "MutePublishedTrack": (lk_room.MuteRoomTrackRequest, lambda req: lk_room.MuteRoomTrackResponse()),
}
PREFIX = "/twirp/livekit.RoomService/"
EGRESS_PREFIX = "/twirp/livekit.Egress/"
EGRESS_ROUTES = {
    "StartRoomCompositeEgress": (
        lk_egress.RoomCompositeEgressRequest,
        lambda req: lk_egress.EgressInfo(
            egress_id="EG_fake", room_name=req.room_name, status=lk_egress.EgressStatus.EGRESS_STARTING
        ),
    ),
    "StopEgress": (
        lk_egress.StopEgressRequest,
        lambda req: lk_egress.EgressInfo(egress_id=req.egress_id, status=lk_egress.EgressStatus.EGRESS_ENDING),
    ),
}


@dataclass
class Call:
    method: str
    request: object
    claims: api.access_token.Claims


class FakeLiveKit:
    def __init__(self, key: str, secret: str) -> None:
        self.key, self.secret = key, secret
        self.calls: list[Call] = []
        self.refused: list[tuple[str, int]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _error(self, status: int, code: str, msg: str) -> None:
                fake.refused.append((self.path, status))
                body = json.dumps({"code": code, "msg": msg}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.startswith(EGRESS_PREFIX):
                    method, routes = self.path[len(EGRESS_PREFIX) :], EGRESS_ROUTES
                else:
                    method, routes = (self.path[len(PREFIX) :] if self.path.startswith(PREFIX) else ""), ROUTES
                if method not in routes:
                    return self._error(404, "bad_route", "no such route")
                auth = self.headers.get("Authorization", "")
                if not auth.startswith("Bearer "):
                    return self._error(401, "unauthenticated", "no bearer token")
                try:
                    claims = api.TokenVerifier(fake.key, fake.secret).verify(auth[len("Bearer ") :])
                except (jwt.PyJWTError, ValueError) as exc:
                    return self._error(401, "unauthenticated", str(exc))
                request_class, answer = routes[method]
                request = request_class.FromString(body)
                fake.calls.append(Call(method, request, claims))
                out = answer(request).SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/protobuf")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> FakeLiveKit:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def of(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]
