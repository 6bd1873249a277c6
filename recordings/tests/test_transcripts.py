"""Transcripts: a WebVTT attached to a complete recording is found by a word it contains, only by those who may
see the recording, and only within its own organization; bad WebVTT is refused and changes nothing."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from audit.models import AuditEntry
from orgs.models import Role
from orgs.tests.factories import MembershipFactory
from recordings.models import Transcript
from recordings.tests.factories import RecordingFactory
from sessions.tests.factories import SupportSessionFactory

pytestmark = pytest.mark.django_db

VTT = """WEBVTT

00:00:01.000 --> 00:00:04.250
Good morning, which printer is it?

00:00:05.000 --> 00:00:09.500
The Brother in accounting shows error forty-two.
"""


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def recording(acme, bob):
    return RecordingFactory(organization=acme, session=SupportSessionFactory(organization=acme, agent=bob, active=True))


def test_an_uploaded_transcript_is_found_by_a_word_it_contains(recording, bob):
    bob_client = client_for(bob)
    response = bob_client.put(f"/api/v1/recordings/{recording.public_id}/transcript", {"vtt": VTT}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["cue_count"] == 2 and body["cues"][1] == {
        "start": 5.0,
        "end": 9.5,
        "text": "The Brother in accounting shows error forty-two.",
    }
    assert bob_client.get(f"/api/v1/recordings/{recording.public_id}/transcript").json()["vtt"] == VTT
    [hit] = bob_client.get("/api/v1/recordings/search", {"q": "accounting"}).json()
    assert (hit["recording"], hit["session"], hit["start"]) == (recording.public_id, recording.session.public_id, 5.0)
    assert "accounting" in hit["snippet"]
    assert bob_client.get("/api/v1/recordings/search", {"q": "ACCOUNTING printer"}).json()[0]["start"] == 1.0
    assert bob_client.get("/api/v1/recordings/search", {"q": "scanner"}).json() == []
    assert AuditEntry.objects.for_org(recording.organization).filter(action="recording.transcript_added").count() == 1


def test_search_stays_in_its_organization_and_within_the_session_rule(recording, bob, globex, gina, acme):
    client_for(bob).put(f"/api/v1/recordings/{recording.public_id}/transcript", {"vtt": VTT}, format="json")
    theirs = RecordingFactory(organization=globex, session=SupportSessionFactory(organization=globex, agent=gina))
    client_for(gina).put(f"/api/v1/recordings/{theirs.public_id}/transcript", {"vtt": VTT}, format="json")
    hits = client_for(gina).get("/api/v1/recordings/search", {"q": "accounting"}).json()
    assert [hit["recording"] for hit in hits] == [theirs.public_id]  # not Acme's
    dave = MembershipFactory(organization=acme, role=Role.AGENT, user__email="dave@acme.test").user
    assert client_for(dave).get("/api/v1/recordings/search", {"q": "accounting"}).json() == []  # not his session
    other = client_for(gina)
    assert other.get(f"/api/v1/recordings/{recording.public_id}/transcript").status_code == 404
    put = other.put(f"/api/v1/recordings/{recording.public_id}/transcript", {"vtt": VTT}, format="json")
    assert put.status_code == 404


@pytest.mark.parametrize(
    "vtt",
    ["", "not a transcript", "WEBVTT\n\n", "WEBVTT\n\n00:00:01.000 --> nonsense\nhello\n", "WEBVTT\n\x00"],
)
def test_bad_webvtt_is_refused_and_changes_nothing(recording, bob, vtt):
    response = client_for(bob).put(f"/api/v1/recordings/{recording.public_id}/transcript", {"vtt": vtt}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]) == {"code", "message", "details"}
    assert not Transcript.objects.unscoped("test").exists()


def test_a_transcript_needs_a_complete_recording_and_a_search_needs_words(acme, bob):
    uploading = RecordingFactory(
        organization=acme, uploading=True, session=SupportSessionFactory(organization=acme, agent=bob, active=True)
    )
    client = client_for(bob)
    response = client.put(f"/api/v1/recordings/{uploading.public_id}/transcript", {"vtt": VTT}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "recording_not_complete"
    for q in ["", "   ", "!!!", "x" * 201]:
        assert client.get("/api/v1/recordings/search", {"q": q}).status_code == 400


def test_on_postgresql_the_search_uses_its_gin_index(recording, bob):
    from django.db import connection

    from orgs.tenancy import org_context_for_user
    from recordings import transcripts

    if connection.vendor != "postgresql":
        pytest.skip("the full-text index exists on PostgreSQL only (SQLite searches with LIKE)")
    client_for(bob).put(f"/api/v1/recordings/{recording.public_id}/transcript", {"vtt": VTT}, format="json")
    ctx = org_context_for_user(bob, "acme")
    from django.contrib.postgres.search import SearchQuery, SearchVector

    # The expression transcript_search filters on, alone: the index must match it exactly for the planner to use it.
    query = (
        Transcript.objects.unscoped("test: the search expression alone")
        .annotate(document=SearchVector("text", config=transcripts.SEARCH_CONFIG))
        .filter(document=SearchQuery("printers", config=transcripts.SEARCH_CONFIG, search_type="websearch"))
        .values("pk")
    )
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = query.explain()
    assert "recordings_transcript_text_search" in plan
    assert [hit.transcript.pk for hit in transcripts.transcript_search(ctx, "printers")] == [recording.transcript.pk]
