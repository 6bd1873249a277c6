"""The customer's `media` message: what its page sends (screen, camera, nothing), relayed to the agent's viewer."""

from __future__ import annotations

import pytest

from signaling import protocol

from .test_session_consumer import next_of, pair

pytestmark = pytest.mark.django_db(transaction=True)


async def test_media_state_reaches_the_agent_before_and_after_consent(acme, bob):
    _session_id, agent, customer = await pair(bob)
    # Before consent: a phone without screen sharing tells the agent at once.
    await customer.send_json_to({"type": "media", "state": "unavailable"})
    told = await next_of(agent, "media")
    assert told["state"] == "unavailable" and told["from"] == "customer" and told["seq"] >= 1
    await customer.send_json_to({"type": "consent.grant"})
    assert (await next_of(agent, "state"))["status"] == "active"
    for state in ("camera", "paused", "sharing"):
        await customer.send_json_to({"type": "media", "state": state})
        assert (await next_of(agent, "media"))["state"] == state
    await agent.disconnect()
    await customer.disconnect()


async def test_only_the_customer_sends_media_and_only_known_states(acme, bob):
    _session_id, agent, customer = await pair(bob)
    await customer.send_json_to({"type": "consent.grant"})
    await next_of(agent, "state")
    await next_of(customer, "state")
    await agent.send_json_to({"type": "media", "state": "sharing"})
    assert (await next_of(agent, "error"))["code"] == "not_allowed"
    for bad in ({"state": "hacking"}, {"state": 3}, {}):
        await customer.send_json_to({"type": "media", **bad})
        assert (await next_of(customer, "error"))["code"] == "invalid_message"
    assert await agent.receive_nothing(timeout=0.3)  # nothing refused was relayed
    await agent.disconnect()
    await customer.disconnect()


def test_parse_names_the_allowed_states():
    with pytest.raises(protocol.ProtocolError) as refused:
        protocol.parse({"type": "media", "state": "x"}, protocol.CUSTOMER, "active")
    assert "sharing" in refused.value.message
    with pytest.raises(protocol.ProtocolError) as ended:
        protocol.parse({"type": "media", "state": "sharing"}, protocol.CUSTOMER, "ended")
    assert ended.value.code == "session_ended"
    kind, fields = protocol.parse({"type": "media", "state": "camera"}, protocol.CUSTOMER, "consent_requested")
    assert kind.relayed and fields == {"state": "camera"}


async def test_both_ends_hear_when_the_plan_ends_the_session(acme, bob):
    from channels.db import database_sync_to_async

    from signaling import live

    session_id, agent, customer = await pair(bob)
    await database_sync_to_async(live.session_time_limit_near)(session_id, "2026-12-03T10:40:00+00:00")
    for socket in (agent, customer):
        told = await next_of(socket, "limit")
        assert (told["limit"], told["ends_at"]) == ("session_length", "2026-12-03T10:40:00+00:00")
    await agent.disconnect()
    await customer.disconnect()
