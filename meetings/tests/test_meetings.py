"""Meetings through LiveKit, checked against a fake LiveKit server at the HTTP boundary (livekit-api runs for real)."""

from __future__ import annotations

import jwt
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEntry
from billing import services as billing_services
from billing.models import Metric, UsageRecord
from meetings.models import Meeting, MeetingParticipant
from orgs.models import Role
from orgs.tests.factories import MembershipFactory, UserFactory

from .conftest import KEY, SECRET, client_for, webhook_auth, webhook_body
from .factories import MeetingFactory

pytestmark = pytest.mark.django_db

HOST_VIDEO = {
    "roomJoin": True,
    "canPublish": True,
    "canSubscribe": True,
    "canPublishData": True,
    "roomAdmin": True,
    "canPublishSources": ["camera", "microphone", "screen_share", "screen_share_audio"],
}
MEMBER_VIDEO = {**{k: v for k, v in HOST_VIDEO.items() if k != "roomAdmin"}}
MEMBER_VIDEO["canPublishSources"] = ["camera", "microphone", "screen_share"]
GUEST_VIDEO = {**MEMBER_VIDEO, "canPublishSources": ["camera", "microphone"]}


def create(user, **values) -> dict:
    response = client_for(user).post("/api/v1/meetings", {"title": "Weekly", **values}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def join(user, meeting_id: str, **body):
    return client_for(user).post(f"/api/v1/meetings/{meeting_id}/join", body, format="json")


def guest(invite: str, name: str = "Gus", **extra):
    return client_for(None).post("/api/v1/meetings/join", {"invite": invite, "name": name, **extra}, format="json")


def video_of(answer: dict, room: str) -> dict:
    claims = jwt.decode(answer["livekit"]["token"], SECRET, algorithms=["HS256"], issuer=KEY)
    assert claims["sub"] == answer["participant"]["identity"]
    video = claims["video"]
    assert video.pop("room") == room
    return video


def error(response) -> dict:
    body = response.json()
    assert set(body["error"]) == {"code", "message", "details"}, body
    return body["error"]


def test_tokens_carry_exactly_the_grants_of_each_role(livekit, alice, bob):
    meeting = create(alice)
    host = join(alice, meeting["id"]).json()
    assert host["state"] == "admitted" and host["participant"]["role"] == "host"
    assert host["livekit"]["url"] == livekit.url
    assert video_of(host, meeting["id"]) == HOST_VIDEO
    member = join(bob, meeting["id"]).json()
    assert member["participant"]["role"] == "member"
    assert video_of(member, meeting["id"]) == MEMBER_VIDEO

    waiting = guest(meeting["invite"]).json()
    assert waiting["state"] == "lobby" and waiting["livekit"] is None  # the lobby gets no token
    still = guest(meeting["invite"], guest_token=waiting["guest_token"]).json()
    assert still["state"] == "lobby" and still["livekit"] is None
    admitted = client_for(alice).post(
        f"/api/v1/meetings/{meeting['id']}/participants/{waiting['participant']['id']}/admit"
    )
    assert admitted.status_code == 200 and admitted.json()["state"] == "admitted"
    now = guest(meeting["invite"], guest_token=waiting["guest_token"]).json()
    assert now["state"] == "admitted" and video_of(now, meeting["id"]) == GUEST_VIDEO

    # The room was created once, on the fake, with the plan's participants (business: 100), signed with our key.
    (created,) = livekit.of("CreateRoom")
    assert created.request.name == meeting["id"] and created.request.max_participants == 100
    assert created.request.empty_timeout > 0 and created.claims.video.room_create
    assert not livekit.refused


def test_guests_may_share_their_screen_when_the_meeting_allows_it(livekit, alice):
    meeting = create(alice, guests_may_share_screen=True)
    waiting = guest(meeting["invite"]).json()
    client_for(alice).post(f"/api/v1/meetings/{meeting['id']}/participants/{waiting['participant']['id']}/admit")
    admitted = guest(meeting["invite"], guest_token=waiting["guest_token"]).json()
    assert video_of(admitted, meeting["id"]) == {
        **GUEST_VIDEO,
        "canPublishSources": ["camera", "microphone", "screen_share"],
    }
    assert len(livekit.of("CreateRoom")) == 1  # an admitted guest alone still gets a room


def test_host_controls_reach_livekit_with_the_room_and_identity(livekit, alice, bob, acme):
    meeting = create(alice)
    join(alice, meeting["id"])
    member = join(bob, meeting["id"]).json()["participant"]
    base = f"/api/v1/meetings/{meeting['id']}"
    host = client_for(alice)

    muted = host.post(f"{base}/participants/{member['id']}/mute", {"track_sid": "TR_mic"}, format="json")
    assert muted.status_code == 200, muted.content
    (mute,) = livekit.of("MutePublishedTrack")
    assert (mute.request.room, mute.request.identity, mute.request.track_sid, mute.request.muted) == (
        meeting["id"],
        member["identity"],
        "TR_mic",
        True,
    )
    assert mute.claims.video.room_admin and mute.claims.video.room == meeting["id"]

    assert host.post(f"{base}/lock", {"locked": True}, format="json").json()["locked"] is True
    removed = host.post(f"{base}/participants/{member['id']}/remove")
    assert removed.status_code == 200 and removed.json()["state"] == "removed"
    (remove,) = livekit.of("RemoveParticipant")
    assert (remove.request.room, remove.request.identity) == (meeting["id"], member["identity"])

    ended = host.post(f"{base}/end")
    assert ended.status_code == 200 and ended.json()["status"] == "ended"
    (delete,) = livekit.of("DeleteRoom")
    assert delete.request.room == meeting["id"]
    actions = set(AuditEntry.objects.for_org(acme).values_list("action", flat=True))
    assert {"meeting.created", "meeting.started", "meeting.joined", "meeting.muted", "meeting.locked"} <= actions
    assert {"meeting.removed", "meeting.ended"} <= actions


def test_only_the_host_or_an_admin_may_use_host_controls(livekit, alice, bob, carol):
    meeting = create(alice)
    join(alice, meeting["id"])
    member = join(bob, meeting["id"]).json()["participant"]
    waiting = guest(meeting["invite"]).json()
    base = f"/api/v1/meetings/{meeting['id']}"
    controls = [
        (f"{base}/participants/{waiting['participant']['id']}/admit", {}),
        (f"{base}/participants/{member['id']}/remove", {}),
        (f"{base}/participants/{member['id']}/mute", {"track_sid": "TR_x"}),
        (f"{base}/lock", {"locked": True}),
        (f"{base}/end", {}),
    ]
    before = len(livekit.calls)
    for url, body in controls:
        refused = client_for(bob).post(url, body, format="json")  # a member, not the host
        assert refused.status_code == 403 and error(refused)["code"] == "not_meeting_host", url
        anonymous = client_for(None).post(url, body, format="json")  # a guest has no credential for these
        assert anonymous.status_code in (401, 403), url
        error(anonymous)
    assert len(livekit.calls) == before
    assert MeetingParticipant.objects.unscoped("test").get(public_id=waiting["participant"]["id"]).state == "lobby"
    # An admin of the organization may.
    assert client_for(carol).post(f"{base}/lock", {"locked": True}, format="json").status_code == 200


def test_another_organization_gets_404_everywhere(livekit, alice, gina):
    meeting = create(alice)
    member = join(alice, meeting["id"]).json()["participant"]
    base = f"/api/v1/meetings/{meeting['id']}"
    other = client_for(gina)
    assert other.get(base).status_code == 404
    assert meeting["id"] not in str(other.get("/api/v1/meetings").content)
    for url, body in [
        (f"{base}/join", {}),
        (f"{base}/lock", {"locked": True}),
        (f"{base}/end", {}),
        (f"{base}/participants/{member['id']}/admit", {}),
        (f"{base}/participants/{member['id']}/remove", {}),
        (f"{base}/participants/{member['id']}/mute", {"track_sid": "TR_x"}),
    ]:
        response = other.post(url, body, format="json")
        assert response.status_code == 404 and error(response)["code"] == "not_found", url
    assert Meeting.objects.unscoped("test").get(public_id=meeting["id"]).status == "live"


def test_webhooks_update_participants_and_meter_minutes_once(livekit, alice, bob):
    meeting = create(alice)
    join(alice, meeting["id"])
    member = join(bob, meeting["id"]).json()["participant"]
    webhook = client_for(None)
    t = 1_800_000_000

    def post(body: str, auth: str):
        return webhook.generic(
            "POST",
            "/api/v1/meetings/livekit/webhook",
            body,
            content_type="application/webhook+json",
            HTTP_AUTHORIZATION=auth,
        )

    joined = webhook_body(
        "participant_joined", room=meeting["id"], identity=member["identity"], at=t, event_id="EV_1", joined_at=t
    )
    left = webhook_body(
        "participant_left", room=meeting["id"], identity=member["identity"], at=t + 150, event_id="EV_2"
    )

    # Refused: a wrong secret, a tampered body, no signature at all. Nothing changes.
    for body, auth in [
        (joined, webhook_auth(joined, secret="not-the-secret-" * 4)),
        (joined.replace("participant_joined", "participant_left"), webhook_auth(joined)),
        (joined, ""),
    ]:
        refused = post(body, auth)
        assert refused.status_code == 401 and error(refused)["code"] == "invalid_webhook_signature"
    participant = MeetingParticipant.objects.unscoped("test").get(public_id=member["id"])
    assert participant.joined_at is None

    assert post(joined, webhook_auth(joined)).status_code == 204
    assert post(left, webhook_auth(left)).status_code == 204
    participant.refresh_from_db()
    assert participant.state == "left" and participant.minutes_counted == 3  # 150 s: three started minutes
    records = UsageRecord.objects.for_org(participant.organization).filter(metric=Metric.MEETING_MINUTES)
    assert [r.quantity for r in records] == [3]

    # Replays change nothing.
    assert post(joined, webhook_auth(joined)).status_code == 204
    assert post(left, webhook_auth(left)).status_code == 204
    participant.refresh_from_db()
    assert participant.minutes_counted == 3 and participant.state == "left"
    assert [r.quantity for r in records.all()] == [3]

    finished = webhook_body("room_finished", room=meeting["id"], at=t + 600, event_id="EV_3")
    assert post(finished, webhook_auth(finished)).status_code == 204
    assert Meeting.objects.unscoped("test").get(public_id=meeting["id"]).status == "ended"


def test_a_plan_without_meetings_is_refused(livekit, alice, acme):
    billing_services.license_change(organization=acme, overrides={"features_remove": ["meetings"]})
    response = client_for(alice).post("/api/v1/meetings", {"title": "No"}, format="json")
    assert response.status_code == 402 and error(response)["code"] == "plan_limit"
    assert error(response)["details"]["limit"] == "feature:meetings"


def test_the_plans_participants_limit_is_enforced(livekit, alice, bob, carol, acme):
    billing_services.license_change(organization=acme, overrides={"meeting_participants": 2})
    meeting = create(alice)
    assert join(alice, meeting["id"]).status_code == 200
    assert join(bob, meeting["id"]).status_code == 200
    third = join(carol, meeting["id"])
    assert third.status_code == 402 and error(third)["details"]["limit"] == "meeting_participants"
    assert guest(meeting["invite"]).status_code == 402


def test_the_plans_concurrent_meetings_limit_is_enforced(livekit, alice, acme):
    billing_services.license_change(organization=acme, overrides={"concurrent_meetings": 1})
    first = create(alice)
    join(alice, first["id"])
    response = client_for(alice).post("/api/v1/meetings", {"title": "Second"}, format="json")
    assert response.status_code == 402 and error(response)["details"]["limit"] == "concurrent_meetings"


def test_a_locked_meeting_refuses_new_joiners(livekit, alice, bob, carol):
    meeting = create(alice)
    join(alice, meeting["id"])
    join(bob, meeting["id"])
    client_for(alice).post(f"/api/v1/meetings/{meeting['id']}/lock", {"locked": True}, format="json")
    refused = join(carol, meeting["id"])
    assert refused.status_code == 403 and error(refused)["code"] == "meeting_locked"
    assert guest(meeting["invite"]).status_code == 403
    assert join(bob, meeting["id"]).status_code == 200  # someone already in may reconnect
    client_for(alice).post(f"/api/v1/meetings/{meeting['id']}/lock", {"locked": False}, format="json")
    assert join(carol, meeting["id"]).status_code == 200


def test_a_removed_participant_cannot_rejoin(livekit, alice, bob):
    meeting = create(alice)
    join(alice, meeting["id"])
    member = join(bob, meeting["id"]).json()["participant"]
    waiting = guest(meeting["invite"]).json()
    base = f"/api/v1/meetings/{meeting['id']}/participants"
    client_for(alice).post(f"{base}/{member['id']}/remove")
    client_for(alice).post(f"{base}/{waiting['participant']['id']}/remove")
    again = join(bob, meeting["id"])
    assert again.status_code == 403 and error(again)["code"] == "removed_from_meeting"
    back = guest(meeting["invite"], guest_token=waiting["guest_token"])
    assert back.status_code == 403 and error(back)["code"] == "removed_from_meeting"
    assert client_for(alice).post(f"{base}/{member['id']}/admit").status_code == 409


def test_without_livekit_a_meeting_is_a_mesh_of_at_most_four(alice, acme, settings):
    settings.LIVEKIT_URL = ""
    meeting = create(alice)
    answer = join(alice, meeting["id"]).json()
    assert answer["mode"] == "mesh" and answer["livekit"] is None
    assert answer["socket"] == {"url": f"/ws/v1/meetings/{meeting['id']}"}
    others = [UserFactory() for _ in range(4)]
    for other in others:
        MembershipFactory(organization=acme, user=other, role=Role.AGENT)
    assert [join(other, meeting["id"]).status_code for other in others[:3]] == [200, 200, 200]
    refused = join(others[3], meeting["id"])
    assert refused.status_code == 409 and error(refused)["code"] == "meeting_full"
    assert "SFU" in error(refused)["message"] and error(refused)["details"]["allowed"] == 4
    assert guest(meeting["invite"], name="Gus").status_code == 409  # a guest waiting counts too
    assert MeetingParticipant.objects.unscoped("test").filter(meeting__public_id=meeting["id"]).count() == 4


def test_a_wrong_invite_is_not_found_and_rate_limited(livekit, settings):
    settings.CONNECT_CODE_ATTEMPTS_PER_MINUTE = 2
    answers = [guest("mti_wrong").status_code for _ in range(3)]
    assert answers == [404, 404, 429]


def test_the_list_runs_a_constant_number_of_queries(alice, acme):
    client = client_for(alice)
    MeetingFactory(organization=acme, host=alice)
    client.get("/api/v1/meetings")  # warm: the licence, the session
    with CaptureQueriesContext(connection) as one:
        assert len(client.get("/api/v1/meetings").json()["results"]) == 1
    MeetingFactory.create_batch(4, organization=acme, host=alice)
    with CaptureQueriesContext(connection) as five:
        assert len(client.get("/api/v1/meetings").json()["results"]) == 5
    assert len(five) == len(one)


def test_an_invite_link_shows_who_invites_to_what_and_a_wrong_one_is_refused(alice, settings):
    settings.LIVEKIT_URL = ""
    meeting = create(alice, title="Printer rollout")
    shown = client_for(None).post("/api/v1/meetings/invite", {"invite": meeting["invite"]}, format="json")
    assert shown.status_code == 200
    assert shown.json()["title"] == "Printer rollout" and shown.json()["organization"] == "Acme Inc"
    wrong = client_for(None).post("/api/v1/meetings/invite", {"invite": "mti_wrong"}, format="json")
    assert wrong.status_code == 404 and error(wrong)["code"] == "invalid_invite"
