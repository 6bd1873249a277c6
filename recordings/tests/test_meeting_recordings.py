# ruff: noqa: F811  (the livekit fixture is imported from meetings.tests.conftest and named by the tests)
"""Recordings of meetings through LiveKit's egress, into the same bucket (moto's S3 server): the egress request names
the bucket and the object key; LiveKit's signed ``egress_ended`` webhook completes the recording, which is then
metered, played from a presigned URL and listed with the meeting; only the host may start or stop it; a replayed or
wrongly signed webhook changes nothing; without LiveKit or without S3 it is refused in words."""

from __future__ import annotations

import urllib.request

import pytest
from google.protobuf.json_format import MessageToJson
from livekit.protocol import egress as lk_egress
from livekit.protocol import webhook as lk_webhook
from rest_framework.test import APIClient

from audit.models import AuditEntry
from billing.models import Metric, UsageRecord
from meetings.tests.conftest import livekit, webhook_auth  # noqa: F401  (fixture)
from recordings.models import Recording

from .conftest import BUCKET

pytestmark = pytest.mark.django_db

MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40


def client_for(user) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.force_login(user)
    return client


def error(response) -> str:
    return response.json()["error"]["code"]


@pytest.fixture
def live_meeting(livekit, alice):  # noqa: F811
    client = client_for(alice)
    meeting = client.post("/api/v1/meetings", {"title": "Quarterly review"}, format="json").json()
    assert client.post(f"/api/v1/meetings/{meeting['id']}/join", {}, format="json").status_code == 200
    return meeting


def egress_event(*, egress_id: str, room: str, event_id: str, size: int, status=None) -> str:
    info = lk_egress.EgressInfo(
        egress_id=egress_id,
        room_name=room,
        status=lk_egress.EgressStatus.EGRESS_COMPLETE if status is None else status,
        file_results=[lk_egress.FileInfo(filename="x.mp4", size=size)] if size else [],
        error="" if size else "the room composite failed",
    )
    return MessageToJson(lk_webhook.WebhookEvent(event="egress_ended", id=event_id, created_at=1, egress_info=info))


def deliver(body: str, auth: str | None = None):
    return APIClient().generic(
        "POST",
        "/api/v1/meetings/livekit/webhook",
        body,
        content_type="application/webhook+json",
        HTTP_AUTHORIZATION=auth if auth is not None else webhook_auth(body),
    )


def test_the_host_records_a_meeting_into_the_bucket_through_egress(
    livekit,  # noqa: F811
    live_meeting,
    alice,
    bob,
    gina,
    acme,
    s3_storage,
    s3_endpoint,
    django_capture_on_commit_callbacks,
):
    meeting_id = live_meeting["id"]
    host = client_for(alice)
    assert client_for(bob).post(f"/api/v1/meetings/{meeting_id}/recordings").status_code == 403  # not the host
    assert client_for(gina).post(f"/api/v1/meetings/{meeting_id}/recordings").status_code == 404  # other org

    started = host.post(f"/api/v1/meetings/{meeting_id}/recordings")
    assert started.status_code == 201, started.content
    body = started.json()
    assert (body["meeting_id"], body["session_id"], body["status"]) == (meeting_id, None, "uploading")
    assert body["content_type"] == "video/mp4"
    [call] = livekit.of("StartRoomCompositeEgress")
    recording = Recording.objects.for_org(acme).get(public_id=body["id"])
    output = call.request.file_outputs[0]
    assert call.request.room_name == meeting_id and output.filepath == recording.storage_key
    assert (output.s3.bucket, output.s3.endpoint, output.s3.force_path_style) == (BUCKET, s3_endpoint, True)
    assert output.s3.access_key == "testing"
    assert error(host.post(f"/api/v1/meetings/{meeting_id}/recordings")) == "already_recording"
    chunk = host.put(
        f"/api/v1/recordings/{body['id']}/chunks/0",
        data=b"x",
        content_type="application/octet-stream",
        HTTP_X_CHUNK_SHA256="2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881",
    )
    assert chunk.status_code == 409 and error(chunk) == "recorded_by_the_sfu"

    assert client_for(bob).post(f"/api/v1/recordings/{body['id']}/stop").status_code == 403  # not the host
    stopped = host.post(f"/api/v1/recordings/{body['id']}/stop")
    assert stopped.status_code == 200 and stopped.json()["status"] == "uploading"  # until LiveKit says it is written
    assert [c.request.egress_id for c in livekit.of("StopEgress")] == ["EG_fake"]

    s3_storage.put_object(Bucket=BUCKET, Key=recording.storage_key, Body=MP4)  # what LiveKit's egress writes
    ended = egress_event(egress_id="EG_fake", room=meeting_id, event_id="EV_egress_1", size=len(MP4))
    assert (
        deliver(ended, auth=webhook_auth(ended, secret="wrong-secret-of-enough-length-0123456789")).status_code == 401
    )
    assert Recording.objects.for_org(acme).get(pk=recording.pk).status == "uploading"
    with django_capture_on_commit_callbacks(execute=True):
        assert deliver(ended).status_code == 204
    recording.refresh_from_db()
    assert (recording.status, recording.size_bytes) == ("complete", len(MP4))
    usage = UsageRecord.objects.for_org(acme).get(
        metric=Metric.RECORDING_BYTES, source_key=f"recording:{recording.public_id}"
    )
    assert usage.quantity == len(MP4)
    with django_capture_on_commit_callbacks(execute=True):
        assert deliver(ended).status_code == 204  # a replay
    assert UsageRecord.objects.for_org(acme).filter(metric=Metric.RECORDING_BYTES).count() == 1

    link = client_for(bob).get(f"/api/v1/recordings/{recording.public_id}/download").json()  # members may view
    with urllib.request.urlopen(link["url"]) as response:
        assert response.read() == MP4 and response.headers["Content-Type"] == "video/mp4"
    assert client_for(gina).get(f"/api/v1/recordings/{recording.public_id}").status_code == 404
    listed = host.get("/api/v1/recordings", {"meeting_id": meeting_id}).json()["results"]
    assert [r["id"] for r in listed] == [recording.public_id]
    page = client_for(alice).get(f"/o/acme/meetings/{meeting_id}/").content.decode()
    assert f"/o/acme/recordings/{recording.public_id}/" in page
    playback = client_for(alice).get(f"/o/acme/recordings/{recording.public_id}/")
    assert playback.status_code == 200 and "X-Amz-Signature" in playback.content.decode()
    actions = list(
        AuditEntry.objects.for_org(acme)
        .filter(target_id=recording.public_id)
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions[:3] == ["recording.started", "recording.stop_requested", "recording.completed"]
    assert "recording.viewed" in actions


def test_an_egress_that_failed_marks_the_recording_failed(
    livekit,
    live_meeting,
    alice,
    acme,
    s3_storage,
    django_capture_on_commit_callbacks,  # noqa: F811
):
    body = client_for(alice).post(f"/api/v1/meetings/{live_meeting['id']}/recordings").json()
    failed = egress_event(
        egress_id="EG_fake",
        room=live_meeting["id"],
        event_id="EV_egress_2",
        size=0,
        status=lk_egress.EgressStatus.EGRESS_FAILED,
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert deliver(failed).status_code == 204
    assert Recording.objects.for_org(acme).get(public_id=body["id"]).status == "failed"
    assert not UsageRecord.objects.for_org(acme).filter(metric=Metric.RECORDING_BYTES).exists()


def test_without_s3_or_without_livekit_a_meeting_is_not_recorded(
    livekit,
    live_meeting,
    alice,
    acme,
    local_storage,
    settings,  # noqa: F811
):
    refused = client_for(alice).post(f"/api/v1/meetings/{live_meeting['id']}/recordings")
    assert refused.status_code == 409 and error(refused) == "object_storage_required"
    settings.LIVEKIT_URL = ""
    refused = client_for(alice).post(f"/api/v1/meetings/{live_meeting['id']}/recordings")
    assert refused.status_code == 409 and error(refused) == "sfu_required"
    assert not Recording.objects.for_org(acme).exists()
    assert not livekit.of("StartRoomCompositeEgress")


def test_with_the_policy_off_a_meeting_is_not_recorded(livekit, live_meeting, alice, acme, s3_storage):  # noqa: F811
    acme.recording_policy = "off"
    acme.save(update_fields=["recording_policy"])
    refused = client_for(alice).post(f"/api/v1/meetings/{live_meeting['id']}/recordings")
    assert refused.status_code == 403 and error(refused) == "recording_disabled"
    assert not livekit.of("StartRoomCompositeEgress")
