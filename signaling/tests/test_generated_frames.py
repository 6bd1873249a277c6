"""Generated frames against both consumers (hypothesis): arbitrary text and binary, JSON of any shape and depth, valid
types with wrong fields, NULs and lone surrogates, sizes at the limits, and clients that drop.

For every frame: it gets a normal answer (a pong, the message relayed to the peer and, for chat and control, recorded,
a state change) or exactly one ``error``, never both, never an uncaught exception; nothing the server sends holds a
NUL or a lone surrogate; a socket the server closes gets a close frame with a code; and a socket that closes, from
either end, runs its disconnect logic (its presence goes offline, the peer is told, the reconnect grace timer starts).
Rate limits are raised out of the way here (test_hostile_frames.py covers them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connect.asgi import application
from connect.tests.test_asgi import session_cookie_for
from sessions import services
from sessions.models import FINAL_STATUSES, ChatMessage, SessionEvent, SupportSession
from signaling import consumers, live, protocol
from signaling.consumers import CLOSE_ENDED
from signaling.tests.test_session_consumer import new_session

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = (b"origin", b"http://localhost")
GENERATED = settings(
    max_examples=150,
    deadline=None,
    database=None,  # no .hypothesis/ folder in the work tree; a failure prints how to reproduce it
    print_blob=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # one support session for all the examples, on purpose
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
DROP = "drop"  # not a frame: the client goes away (and comes back)
ENDING = {"end", "consent.revoke"}  # what an active session's parties can end it with


# --- frames --------------------------------------------------------------------------------------------------------

any_text = st.text(alphabet=st.characters(), max_size=30)  # NUL and lone surrogates included
leaves = st.none() | st.booleans() | st.integers() | st.floats() | any_text  # floats: NaN and infinities too
json_values = st.recursive(
    leaves, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(any_text, kids, max_size=4), max_leaves=12
)


def text(value: str) -> tuple[str, Any]:
    return ("text", value)


def dumps(value: Any, ascii_only: bool) -> tuple[str, Any]:
    # NaN and Infinity come out as bare tokens, and with ascii_only off a lone surrogate as itself.
    return text(json.dumps(value, ensure_ascii=ascii_only))


@st.composite
def nested_frames(draw) -> tuple[str, Any]:
    depth = draw(st.integers(1, 20_000) | st.integers(protocol.MAX_JSON_DEPTH - 3, protocol.MAX_JSON_DEPTH + 3))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    core = opener * depth + "0" + closer * depth
    wrapper = draw(
        st.sampled_from(
            [
                "%s",
                '{"type": "chat", "text": "hi", "x": %s}',
                '{"type": "ice", "candidate": {"c": %s}}',
                '{"type": "ping", "x": %s}',
            ]
        )
    )
    return text(wrapper % core)


@st.composite
def typed_messages(draw) -> tuple[str, Any]:
    """Message types of the protocol (and a few that are not), with fields of any type, right or wrong."""
    kind = draw(st.sampled_from([*protocol.CLIENT_TYPES, "", "teleport", "hello", "error", "relay.message"]))
    message: dict[str, Any] = {"type": kind}
    good = {
        "sdp": st.text(alphabet=st.characters(), max_size=200),
        "text": st.text(alphabet=st.characters(), max_size=60),
        "candidate": st.none() | st.dictionaries(any_text, json_values, max_size=3),
        "last_seq": st.integers(-5, 2**53),
    }
    for name, right in good.items():
        if draw(st.booleans()):
            message[name] = draw(right | json_values)
    if draw(st.booleans()):
        message.update(draw(st.dictionaries(any_text, json_values, max_size=3)))
        message["type"] = kind
    return dumps(message, draw(st.booleans()))


@st.composite
def near_limits(draw) -> tuple[str, Any]:
    delta = draw(st.integers(-3, 3))
    char = draw(st.sampled_from(["a", "é", "\U0001f600"]))
    what = draw(st.sampled_from(["chat", "sdp", "frame"]))
    if what == "chat":
        return dumps({"type": "chat", "text": char * (protocol.MAX_CHAT_CHARS + delta)}, draw(st.booleans()))
    if what == "sdp":
        return dumps({"type": "offer", "sdp": "v" * (protocol.MAX_SDP_CHARS + delta)}, True)
    head = '{"type": "answer", "sdp": "'
    return text(head + "x" * (protocol.MAX_MESSAGE_BYTES + delta - len(head) - 2) + '"}')


frames = st.one_of(
    st.text(alphabet=st.characters(), max_size=200).map(text),
    st.binary(max_size=200).map(lambda data: ("bytes", data)),
    st.tuples(json_values, st.booleans()).map(lambda pair: dumps(*pair)),
    nested_frames(),
    typed_messages(),
    near_limits(),
)
actions = frames | st.just((DROP, None))


# --- what the server says ----------------------------------------------------------------------------------------


def clean(value: Any) -> bool:
    """No NUL and no lone surrogate anywhere in a message the server sent."""
    if isinstance(value, str):
        return "\x00" not in value and value.encode("utf-8", "surrogatepass") == value.encode("utf-8", "replace")
    if isinstance(value, dict):
        return all(clean(k) and clean(v) for k, v in value.items())
    if isinstance(value, list):
        return all(clean(v) for v in value)
    return True


async def send_frame(communicator: WebsocketCommunicator, frame: tuple[str, Any]) -> None:
    kind, data = frame
    await communicator.send_input({"type": "websocket.receive", kind: data})


async def read_until(communicator: WebsocketCommunicator, last) -> tuple[list[dict], dict | None]:
    """What the server sends up to and including the first message ``last`` accepts, or up to a close (returned)."""
    received = []
    while True:
        try:
            output = await communicator.receive_output(timeout=5)
        except TimeoutError:
            raise AssertionError(f"nothing more after {received}") from None
        if output["type"] == "websocket.close":
            return received, output
        assert output["type"] == "websocket.send" and "text" in output, output
        message = json.loads(output["text"])
        assert isinstance(message, dict) and message.get("v") == 1, message
        assert clean(message), message
        received.append(message)
        if last(message):
            return received, None


async def read_to(communicator: WebsocketCommunicator, last) -> list[dict]:
    """:func:`read_until` on a socket that must stay open."""
    received, closed = await read_until(communicator, last)
    assert closed is None, (closed, received)
    return received


def decoded(frame: tuple[str, Any]) -> Any:
    if frame[0] != "text":
        return None
    try:
        return json.loads(frame[1])
    except (ValueError, RecursionError):
        return None


# --- the presence socket -----------------------------------------------------------------------------------------


@pytest.fixture
def relaxed_limits(monkeypatch):
    for name in protocol.RATE_LIMITS:
        monkeypatch.setitem(protocol.RATE_LIMITS, name, (1e6, 10**6))


async def presence_socket(cookie: bytes) -> WebsocketCommunicator:
    socket = WebsocketCommunicator(application, "/ws/v1/hello", headers=[ORIGIN, (b"cookie", cookie)])
    connected, code = await socket.connect()
    assert connected, code
    assert (await socket.receive_json_from())["type"] == "hello"
    return socket


async def presence_answers(socket: WebsocketCommunicator, frame: tuple[str, Any]) -> None:
    await send_frame(socket, frame)
    await socket.send_json_to({"type": "ping"})  # answered in order: the first answer is the frame's
    answers, closed = await read_until(socket, lambda m: m["type"] == "pong")
    assert closed is None, (closed, answers)
    if answers[0]["type"] == "error":
        assert answers[0]["code"] in protocol.ERROR_CODES and answers[0]["message"], answers
        assert len(answers) == 2, answers  # one error, then the pong of the ping that followed
    else:
        message = decoded(frame)  # answered pong: it was a ping
        assert isinstance(message, dict) and message.get("type") == "ping", frame
        assert await socket.receive_json_from() == {"v": 1, "type": "pong"}
    assert await socket.receive_nothing(timeout=0.01)


@pytest.fixture
async def agent_cookie(acme, bob) -> bytes:
    return await session_cookie_for(bob)


@GENERATED
@given(script=st.lists(actions, min_size=1, max_size=3))
async def test_every_generated_frame_on_the_presence_socket_is_answered(relaxed_limits, agent_cookie, script):
    socket = await presence_socket(agent_cookie)
    for action in script:
        if action[0] == DROP:
            await socket.disconnect()
            await socket.wait(timeout=2)  # its disconnect logic ran, without an exception
            socket = await presence_socket(agent_cookie)
        else:
            await presence_answers(socket, action)
    await socket.disconnect()
    await socket.wait(timeout=2)


# --- the session socket ------------------------------------------------------------------------------------------


@dataclass
class Session:
    """A session kept active across examples; each example opens both parties' sockets, and ``role`` sends.

    Sockets never outlive an example: Hypothesis seeds ``random`` alike for every example, and Channels' in-memory
    layer names channels with ``random``, so a socket kept from an earlier example could share its channel name with
    a new one (and receive its messages)."""

    agent_user: Any
    role: str
    session_id: str = ""
    token: str = ""
    over: bool = True  # no session yet, or it ended: the next example starts one
    sockets: dict[str, WebsocketCommunicator] = field(default_factory=dict)
    sentinel: int = 0
    cookie: bytes = b""

    @property
    def peer_role(self) -> str:
        return "customer" if self.role == "agent" else "agent"

    async def connect(self, role: str) -> WebsocketCommunicator:
        if role == "agent":
            self.cookie = self.cookie or await session_cookie_for(self.agent_user)
            path, headers = f"/ws/v1/sessions/{self.session_id}", [(b"cookie", self.cookie)]
        else:
            path, headers = f"/ws/v1/sessions/{self.session_id}?customer_token={self.token}", []
        socket = WebsocketCommunicator(application, path, headers=[ORIGIN, *headers])
        connected, code = await socket.connect()
        assert connected, code
        hello = await socket.receive_json_from()
        assert (hello["type"], hello["role"], hello["session"]["status"]) == ("hello", role, "active"), hello
        self.sockets[role] = socket
        return socket

    async def open(self) -> None:
        """Both parties connected to an active session, every notice so far read."""
        if self.over:
            self.session_id, self.token = await new_session(self.agent_user)
            await database_sync_to_async(_grant_consent)(self.session_id)
            self.over = False
        await self.connect(self.peer_role)
        await self.connect(self.role)
        await read_to(self.sockets[self.peer_role], lambda m: m == notice(self.role, online=True))

    async def drop_and_return(self) -> None:
        """The sender's client goes away: its disconnect logic runs; then it comes back."""
        await self.close(self.role)
        await self.connect(self.role)
        await read_to(self.sockets[self.peer_role], lambda m: m == notice(self.role, online=True))

    async def close(self, role: str) -> None:
        """The client closes ``role``'s socket: its disconnect logic runs (presence offline, the peer told, the
        reconnect grace timer started)."""
        timers = set(consumers.grace_timers)
        socket = self.sockets.pop(role)
        await socket.disconnect()
        await socket.wait(timeout=2)  # the consumer finished, without an exception
        presence = await live.presence_get(self.session_id, role)
        assert presence is not None and presence["online"] is False, presence
        if self.over:
            return
        other = self.sockets.get("customer" if role == "agent" else "agent")
        if other is not None:
            await read_to(other, lambda m: m == notice(role, online=False))
        assert set(consumers.grace_timers) - timers  # the session ends unless the party comes back in time

    async def close_all(self) -> None:
        for role in (self.role, self.peer_role):
            if role in self.sockets:
                await self.close(role)
        for task in list(consumers.grace_timers):
            task.cancel()


def _grant_consent(session_id: str) -> None:
    session = (
        SupportSession.objects.filter(organization__slug="acme")
        .select_related("organization", "agent")
        .get(public_id=session_id)
    )
    services.session_grant_consent(session=session, actor=services.Actor(kind="customer"))


def notice(role: str, *, online: bool) -> dict:
    return {"v": 1, "type": "peer", "role": role, "online": online}


@database_sync_to_async
def recorded(session_id: str) -> int:
    # Chat lines are kept as ChatMessage rows (sessions.chat), control requests in the session log.
    lines = ChatMessage.objects.filter(session__organization__slug="acme", session__public_id=session_id).count()
    return lines + (
        SessionEvent.objects.filter(
            session__organization__slug="acme", session__public_id=session_id, type__in=["chat", "control_request"]
        ).count()
    )


async def exchange(session: Session, frame: tuple[str, Any]) -> None:
    me, peer = session.sockets[session.role], session.sockets[session.peer_role]
    session.sentinel += 1
    mine, theirs = f"sentinel-{session.sentinel}", {"candidate": f"sentinel-{session.sentinel}"}
    # Only these two are written to the session log; reading it for every frame would double the test's time.
    loggable = frame[0] == "text" and ("chat" in frame[1] or "control.request" in frame[1])
    logged_before = await recorded(session.session_id) if loggable else 0

    await send_frame(me, frame)
    await me.send_json_to({"type": "ice", "candidate": theirs})  # relayed after whatever the frame caused
    await me.send_json_to({"type": mine})  # refused with an error naming it: the end of the frame's answers
    answers, my_close = await read_until(me, lambda m: m["type"] == "error" and repr(mine) in m["message"])
    relayed, peer_close = await read_until(peer, lambda m: m.get("candidate") == theirs)
    message = decoded(frame)
    if my_close or peer_close or any(m["type"] == "state" for m in answers + relayed):
        # Only the end of the session closes a socket here: it was an ending message, then both sockets get a final
        # state and a close frame with its code.
        assert isinstance(message, dict) and message.get("type") in ENDING, (frame, answers, relayed)
        assert session.role in protocol.CLIENT_TYPES[message["type"]].senders
        for socket, seen, close in ((me, answers, my_close), (peer, relayed, peer_close)):
            if close is None:
                more, close = await read_until(socket, lambda m: False)
                seen = seen + more
            assert close == {"type": "websocket.close", "code": CLOSE_ENDED}, (close, seen)
            assert any(m["type"] == "state" and m["status"] in FINAL_STATUSES for m in seen), seen
        session.over = True
        return
    answers.pop()  # the sentinel's error
    # Presence notices ("peer") come whenever the other party's connection changes, not in answer to a frame: over
    # Redis the peer's "online" can arrive in the middle of this exchange, on either socket.
    answers = [m for m in answers if m["type"] != "peer"]
    relayed = [m for m in relayed[:-1] if m["type"] != "peer"]

    errors = [a for a in answers if a["type"] == "error"]
    if errors:
        assert len(errors) == 1 and errors[0]["code"] in protocol.ERROR_CODES and errors[0]["message"], answers
        assert relayed == [], (frame, relayed)  # a refused message reaches nobody...
        assert not loggable or await recorded(session.session_id) == logged_before  # ...and is not recorded
        return
    # Accepted: it was a JSON object of a type this role may send, with what it needs.
    assert isinstance(message, dict), frame
    kind = protocol.CLIENT_TYPES[message["type"]]
    assert session.role in kind.senders, frame
    if kind.relayed:
        assert len(relayed) == 1 and relayed[0]["type"] == kind.name and relayed[0]["from"] == session.role, relayed
        for name in kind.fields:
            expected = message[name].strip() if name == "text" else message[name]
            assert relayed[0][name] == expected
    else:
        assert relayed == [], relayed
    if kind.name == "ping":
        assert [a["type"] for a in answers] == ["pong"], answers
    if kind.name == "chat":  # the sender gets its own line back, as kept and as the peer got it
        if not any(a["type"] == "chat" for a in answers):
            # The echo travels through the channel layer, the sentinel's error straight back: over Redis the error
            # may come first. The echo must still come, before anything the next frame causes.
            answers += await read_to(me, lambda m: m["type"] == "chat")
        echoes = [{k: v for k, v in a.items() if k != "seq"} for a in answers if a["type"] == "chat"]
        assert echoes == [{k: v for k, v in relayed[0].items() if k != "seq"}], answers
    if loggable:
        logged = await recorded(session.session_id) - logged_before
        assert logged == (1 if kind.name in ("chat", "control.request") else 0)


@pytest.fixture(params=["agent", "customer"])
async def session(request, acme, bob, relaxed_limits, settings):
    settings.CONNECT_RECONNECT_GRACE = 60  # timers start; none fires during the test
    yield Session(bob, request.param)
    for task in list(consumers.grace_timers):
        task.cancel()


@GENERATED
@given(script=st.lists(actions, min_size=1, max_size=3))
async def test_every_generated_frame_on_the_session_socket_is_answered(session, script):
    await session.open()
    try:
        for action in script:
            if action[0] == DROP:
                await session.drop_and_return()
            else:
                await exchange(session, action)
            if session.over:
                break
        await session.close_all()
    except BaseException:
        session.over = True  # whatever state this example left, the next one starts afresh
        raise
