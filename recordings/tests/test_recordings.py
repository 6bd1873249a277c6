"""Recordings end to end against a real S3 endpoint (moto's server): chunks in any order, resumed uploads, hashes,
quota, retention purge, access and audit."""

from __future__ import annotations

import base64
import hashlib
import os
import urllib.request
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEntry
from billing.models import Metric, UsageRecord
from orgs.models import Role
from orgs.tests.factories import MembershipFactory
from recordings import tasks
from recordings.models import Recording
from sessions.models import SessionEvent
from sessions.tests.factories import SupportSessionFactory

from .conftest import bucket_keys

pytestmark = pytest.mark.django_db

CHUNK = 64 * 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pieces(data: bytes, size: int = CHUNK) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.fixture
def session(acme, bob):
    return SupportSessionFactory(organization=acme, agent=bob, active=True)


def start(client, session) -> dict:
    response = client.post(f"/api/v1/sessions/{session.public_id}/recordings")
    assert response.status_code == 201, response.content
    return response.json()


def put(client, recording_id: str, index: int, data: bytes, digest: str | None = None, **headers):
    if "HTTP_DIGEST" not in headers:
        headers.setdefault("HTTP_X_CHUNK_SHA256", digest or sha(data))
    return client.put(
        f"/api/v1/recordings/{recording_id}/chunks/{index}",
        data=data,
        content_type="application/octet-stream",
        **headers,
    )


def complete(client, recording_id: str, chunk_count: int, digest: str):
    return client.post(
        f"/api/v1/recordings/{recording_id}/complete", {"chunk_count": chunk_count, "sha256": digest}, format="json"
    )


def uploaded(client, session, data: bytes, capture) -> dict:
    recording = start(client, session)
    for index, piece in enumerate(pieces(data)):
        assert put(client, recording["id"], index, piece).status_code == 201
    with capture(execute=True):
        response = complete(client, recording["id"], len(pieces(data)), sha(data))
    assert response.status_code == 200, response.content
    return response.json()


def audit_actions(organization, recording_id: str) -> list[str]:
    return list(
        AuditEntry.objects.for_org(organization)
        .filter(target_id=recording_id)
        .order_by("seq")
        .values_list("action", flat=True)
    )


def test_chunks_out_of_order_and_resent_after_an_interruption_make_the_exact_file(
    agent_client, acme, session, s3_storage, django_capture_on_commit_callbacks
):
    data = os.urandom(5 * CHUNK - 1234)
    parts = pieces(data)
    recording = start(agent_client, session)
    assert recording["id"].startswith("rec_") and recording["status"] == "uploading"
    for index in (3, 0, 4):
        assert put(agent_client, recording["id"], index, parts[index]).status_code == 201
    # Chunk 2 arrives, but the tab closes before its answer does.
    digest_b64 = base64.b64encode(hashlib.sha256(parts[2]).digest()).decode()
    assert put(agent_client, recording["id"], 2, parts[2], HTTP_DIGEST=f"sha-256={digest_b64}").status_code == 201

    # The reopened page asks what arrived and sends only the rest; chunk 2 again changes nothing.
    resumed = agent_client.get(f"/api/v1/recordings/{recording['id']}").json()
    assert resumed["chunks_received"] == [0, 2, 3, 4]
    again = put(agent_client, recording["id"], 2, parts[2])
    assert again.status_code == 200 and again.json()["sha256"] == sha(parts[2])
    assert put(agent_client, recording["id"], 1, parts[1]).status_code == 201

    with django_capture_on_commit_callbacks(execute=True):
        done = complete(agent_client, recording["id"], 5, sha(data))
    assert done.status_code == 200, done.content
    body = done.json()
    assert body["status"] == "complete" and body["size_bytes"] == len(data) and body["sha256"] == sha(data)
    assert body["purge_after"] is not None  # the trial plan (business) keeps recordings 365 days

    # One object left in the bucket: the assembled file (its chunks were deleted once it was complete).
    stored = Recording.objects.for_org(acme).get(public_id=recording["id"])
    assert bucket_keys(s3_storage) == [stored.storage_key]

    link = agent_client.get(f"/api/v1/recordings/{recording['id']}/download").json()
    assert "X-Amz-Signature=" in link["url"] and link["url"].startswith("http://127.0.0.1:")
    with urllib.request.urlopen(link["url"]) as response:  # no credentials: the URL is presigned
        fetched = response.read()
        assert response.headers["Content-Type"] == "video/webm"
    assert fetched == data and sha(fetched) == sha(data)

    usage = UsageRecord.objects.for_org(acme).get(metric=Metric.RECORDING_BYTES, source_key=f"recording:{body['id']}")
    assert usage.quantity == len(data)
    assert audit_actions(acme, body["id"]) == ["recording.started", "recording.completed", "recording.downloaded"]
    assert list(
        SessionEvent.objects.filter(session=session, type__startswith="recording_").values_list("type", flat=True)
    ) == ["recording_started", "recording_completed"]
    # Completing again (its answer lost) changes nothing.
    assert complete(agent_client, recording["id"], 5, sha(data)).status_code == 200
    assert audit_actions(acme, body["id"]).count("recording.completed") == 1


def test_a_chunk_that_does_not_match_its_hash_is_refused_and_nothing_is_stored(agent_client, session, s3_storage):
    recording = start(agent_client, session)
    response = put(agent_client, recording["id"], 0, b"damaged on the way", digest=sha(b"what was sent"))
    assert response.status_code == 400 and response.json()["error"]["code"] == "chunk_hash_mismatch"
    assert bucket_keys(s3_storage) == []
    assert agent_client.get(f"/api/v1/recordings/{recording['id']}").json()["chunks_received"] == []
    missing = agent_client.put(
        f"/api/v1/recordings/{recording['id']}/chunks/0", data=b"x", content_type="application/octet-stream"
    )
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "digest_required"


def test_other_bytes_for_a_stored_chunk_are_a_conflict(agent_client, session, s3_storage):
    recording = start(agent_client, session)
    assert put(agent_client, recording["id"], 0, b"first").status_code == 201
    response = put(agent_client, recording["id"], 0, b"second")
    assert response.status_code == 409 and response.json()["error"]["code"] == "chunk_conflict"
    assert len(bucket_keys(s3_storage)) == 1


def test_completing_with_a_missing_chunk_names_it(agent_client, session, s3_storage):
    recording = start(agent_client, session)
    parts = [b"a" * 10, b"b" * 10, b"c" * 10, b"d" * 10]
    for index in (0, 2):
        put(agent_client, recording["id"], index, parts[index])
    response = complete(agent_client, recording["id"], 4, sha(b"".join(parts)))
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "chunks_missing" and error["details"]["missing"] == [1, 3]
    assert agent_client.get(f"/api/v1/recordings/{recording['id']}").json()["status"] == "uploading"


def test_a_whole_file_hash_that_differs_is_refused(agent_client, session, s3_storage):
    recording = start(agent_client, session)
    put(agent_client, recording["id"], 0, b"video")
    response = complete(agent_client, recording["id"], 1, sha(b"another video"))
    assert response.status_code == 409 and response.json()["error"]["code"] == "recording_hash_mismatch"
    assert agent_client.get(f"/api/v1/recordings/{recording['id']}").json()["status"] == "uploading"


def test_past_the_plans_storage_a_chunk_is_refused_with_plan_limit_and_not_stored(
    agent_client, session, s3_storage, plan_limits
):
    plan_limits(recording_storage_bytes=100_000)
    recording = start(agent_client, session)
    assert put(agent_client, recording["id"], 0, os.urandom(60_000)).status_code == 201
    response = put(agent_client, recording["id"], 1, os.urandom(60_000))
    assert response.status_code == 402
    error = response.json()["error"]
    assert error["code"] == "plan_limit"
    assert error["details"]["limit"] == "recording_storage_bytes"
    assert error["details"]["allowed"] == 100_000 and error["details"]["current"] == 60_000
    assert error["details"]["upgrade_url"]
    assert len(bucket_keys(s3_storage)) == 1
    assert agent_client.get(f"/api/v1/recordings/{recording['id']}").json()["chunks_received"] == [0]


def test_completed_recordings_count_against_the_quota(
    agent_client, session, s3_storage, plan_limits, django_capture_on_commit_callbacks
):
    plan_limits(recording_storage_bytes=100_000)
    uploaded(agent_client, session, os.urandom(70_000), django_capture_on_commit_callbacks)
    second = start(agent_client, session)
    response = put(agent_client, second["id"], 0, os.urandom(40_000))
    assert response.status_code == 402 and response.json()["error"]["details"]["current"] == 70_000


def test_retention_purge_deletes_the_object_and_marks_it_purged(
    agent_client, acme, session, s3_storage, plan_limits, django_capture_on_commit_callbacks
):
    plan_limits(recording_retention_days=7)
    body = uploaded(agent_client, session, os.urandom(100_000), django_capture_on_commit_callbacks)
    recording = Recording.objects.for_org(acme).get(public_id=body["id"])
    assert recording.purge_after - recording.completed_at == timedelta(days=7)
    assert bucket_keys(s3_storage) == [recording.storage_key]

    assert tasks.purge_expired.apply().get() == 0  # not yet due
    Recording.objects.for_org(acme).filter(pk=recording.pk).update(purge_after=timezone.now() - timedelta(seconds=1))
    assert tasks.purge_expired.apply().get() == 1
    assert tasks.purge_expired.apply().get() == 0  # once

    assert bucket_keys(s3_storage) == []
    recording.refresh_from_db()
    assert recording.status == "purged" and recording.purge_reason == "retention" and recording.purged_at
    given_back = UsageRecord.objects.for_org(acme).get(source_key=f"recording:{body['id']}:deleted")
    assert given_back.quantity == -100_000
    assert audit_actions(acme, body["id"])[-1] == "recording.purged"
    gone = agent_client.get(f"/api/v1/recordings/{body['id']}/download")
    assert gone.status_code == 409 and gone.json()["error"]["code"] == "recording_not_complete"


def test_deleting_a_recording_gives_its_storage_back(
    agent_client, acme, session, s3_storage, django_capture_on_commit_callbacks
):
    body = uploaded(agent_client, session, b"x" * 5000, django_capture_on_commit_callbacks)
    response = agent_client.delete(f"/api/v1/recordings/{body['id']}")
    assert response.status_code == 200 and response.json()["status"] == "purged"
    assert bucket_keys(s3_storage) == []
    records = UsageRecord.objects.for_org(acme).filter(metric=Metric.RECORDING_BYTES)
    assert sorted(records.values_list("quantity", flat=True)) == [-5000, 5000]
    assert audit_actions(acme, body["id"])[-1] == "recording.deleted"


def test_a_plan_without_recording_refuses_to_start(agent_client, session, plan_limits, local_storage):
    plan_limits(features_remove=["recording"])
    response = agent_client.post(f"/api/v1/sessions/{session.public_id}/recordings")
    assert response.status_code == 402
    error = response.json()["error"]
    assert error["code"] == "plan_limit" and error["details"]["limit"] == "feature:recording"


def test_only_an_active_session_is_recorded(agent_client, acme, bob, local_storage):
    waiting = SupportSessionFactory(organization=acme, agent=bob)
    response = agent_client.post(f"/api/v1/sessions/{waiting.public_id}/recordings")
    assert response.status_code == 409 and response.json()["error"]["code"] == "invalid_session_state"


def _every_endpoint(client, session, recording_id: str) -> list[tuple[str, int, dict]]:
    answers = [
        ("start", client.post(f"/api/v1/sessions/{session.public_id}/recordings")),
        ("detail", client.get(f"/api/v1/recordings/{recording_id}")),
        ("chunk", put(client, recording_id, 1, b"more")),
        ("complete", complete(client, recording_id, 1, sha(b"x"))),
        ("download", client.get(f"/api/v1/recordings/{recording_id}/download")),
        ("delete", client.delete(f"/api/v1/recordings/{recording_id}")),
    ]
    return [(name, response.status_code, response.json()) for name, response in answers]


def test_another_organization_gets_404_on_every_endpoint(agent_client, session, gina, local_storage):
    recording = start(agent_client, session)
    assert put(agent_client, recording["id"], 0, b"part").status_code == 201
    other = APIClient()
    other.force_login(gina)
    for name, status, body in _every_endpoint(other, session, recording["id"]):
        assert status == 404 and body["error"]["code"] == "not_found", name
    assert other.get("/api/v1/recordings").json()["results"] == []
    assert agent_client.get(f"/api/v1/recordings/{recording['id']}").json()["chunks_received"] == [0]


def test_another_agent_who_may_not_see_the_session_gets_404(agent_client, acme, session, local_storage):
    recording = start(agent_client, session)
    dave = MembershipFactory(organization=acme, role=Role.AGENT, user__email="dave@acme.test").user
    other = APIClient()
    other.force_login(dave)
    for name, status, body in _every_endpoint(other, session, recording["id"]):
        assert status == 404, name
    assert other.get("/api/v1/recordings").json()["results"] == []


def test_an_admin_sees_every_recording_newest_first(agent_client, acme, session, carol, local_storage):
    first, second = start(agent_client, session), start(agent_client, session)
    admin = APIClient()
    admin.force_login(carol)
    listed = admin.get("/api/v1/recordings").json()
    assert [item["id"] for item in listed["results"]] == [second["id"], first["id"]]
    assert listed["results"][0]["started_by"]["name"]


def test_list_runs_a_constant_number_of_queries(agent_client, acme, session, local_storage):
    def list_queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert agent_client.get("/api/v1/recordings").status_code == 200
        return len(captured.captured_queries)

    for _ in range(2):
        recording = start(agent_client, session)
        put(agent_client, recording["id"], 0, b"chunk")
    few = list_queries()
    for _ in range(6):
        recording = start(agent_client, session)
        put(agent_client, recording["id"], 0, b"chunk")
        put(agent_client, recording["id"], 1, b"more")
    assert list_queries() == few


def test_a_chunk_must_be_octet_stream_and_within_the_chunk_limit(agent_client, session, s3_storage, settings):
    settings.CONNECT_RECORDING_CHUNK_MAX_BYTES = 1000
    recording = start(agent_client, session)
    assert agent_client.get(f"/api/v1/recordings/{recording['id']}").json()["chunk_max_bytes"] == 1000
    too_big = put(agent_client, recording["id"], 0, b"x" * 1001)
    assert too_big.status_code == 413 and too_big.json()["error"]["details"]["limit_bytes"] == 1000
    as_json = agent_client.put(
        f"/api/v1/recordings/{recording['id']}/chunks/0",
        data=b'{"a": 1}',
        content_type="application/json",
        HTTP_X_CHUNK_SHA256=sha(b'{"a": 1}'),
    )
    assert as_json.status_code == 415
    not_an_index = put(agent_client, recording["id"], "first", b"x")
    assert not_an_index.status_code == 400 and not_an_index.json()["error"]["details"]["field"] == "index"
    assert bucket_keys(s3_storage) == []
