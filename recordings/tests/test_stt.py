"""Speech-to-text: a recording that completes is sent to an OpenAI-compatible service and the WebVTT it answers is
found by the organization's search. The service is a fake HTTP server on loopback speaking the transcription API
(multipart in, WebVTT out), so the real openai library runs; Celery is eager, so retries run at once."""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from audit.models import AuditEntry
from recordings import tasks
from recordings.models import Recording, Transcript
from sessions.models import SessionEvent
from sessions.tests.factories import SupportSessionFactory

pytestmark = pytest.mark.django_db

API_KEY = "sk-test-stt"
MODEL = "whisper-test"
CHUNK = 64 * 1024
SPOKEN = """WEBVTT

00:00:00.000 --> 00:00:03.500
Please open the spooler settings.

00:00:04.000 --> 00:00:07.000
Now restart the print queue.
"""


@dataclass
class Received:
    path: str
    authorization: str
    fields: dict[str, str]
    filename: str
    content_type: str
    audio: bytes


@dataclass
class FakeSTT:
    """Answers ``POST /v1/audio/transcriptions``: the queued answers first (status, body), then ``SPOKEN``."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    answers: list[tuple[int, str]] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)

    def answer(self, body: bytes, headers) -> tuple[int, str, str]:
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {headers['Content-Type']}\r\n\r\n".encode() + body
        )
        fields, audio, filename, content_type = {}, b"", "", ""
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if part.get_filename():
                audio, filename, content_type = (
                    part.get_payload(decode=True),
                    part.get_filename(),
                    part.get_content_type(),
                )
            else:
                fields[name] = part.get_content()
        self.received.append(Received("", headers.get("Authorization", ""), fields, filename, content_type, audio))
        if headers.get("Authorization") != f"Bearer {API_KEY}":
            return 401, json.dumps({"error": {"message": "Incorrect API key", "type": "invalid_request_error"}}), "json"
        if fields.get("model") != MODEL or fields.get("response_format") != "vtt" or not audio:
            return 400, json.dumps({"error": {"message": "bad request", "type": "invalid_request_error"}}), "json"
        if self.delays:
            time.sleep(self.delays.pop(0))
        if self.answers:
            status, text = self.answers.pop(0)
            kind = "text" if status == 200 else "json"
            return status, text if status == 200 else json.dumps({"error": {"message": text}}), kind
        return 200, SPOKEN, "text"


@pytest.fixture
def fake_stt(settings):
    fake = FakeSTT()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path != "/v1/audio/transcriptions":
                status, text, kind = 404, "{}", "json"
            else:
                status, text, kind = fake.answer(body, self.headers)
                fake.received[-1].path = self.path
            payload = text.encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "text/vtt" if kind == "text" else "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client timed out first

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    settings.CONNECT_STT_URL = fake.url
    settings.CONNECT_STT_API_KEY = API_KEY
    settings.CONNECT_STT_MODEL = MODEL
    settings.CONNECT_STT_TIMEOUT_SECONDS = 5
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def session(acme, bob):
    return SupportSessionFactory(organization=acme, agent=bob, active=True)


def record(client, session, data: bytes, capture) -> str:
    """Upload ``data`` as a recording and complete it, running what completing enqueues; its public id."""
    started = client.post(f"/api/v1/sessions/{session.public_id}/recordings")
    assert started.status_code == 201, started.content
    recording_id = started.json()["id"]
    pieces = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]
    for index, piece in enumerate(pieces):
        response = client.put(
            f"/api/v1/recordings/{recording_id}/chunks/{index}",
            data=piece,
            content_type="application/octet-stream",
            HTTP_X_CHUNK_SHA256=hashlib.sha256(piece).hexdigest(),
        )
        assert response.status_code == 201, response.content
    with capture(execute=True):
        done = client.post(
            f"/api/v1/recordings/{recording_id}/complete",
            {"chunk_count": len(pieces), "sha256": hashlib.sha256(data).hexdigest()},
            format="json",
        )
    assert done.status_code == 200, done.content
    return recording_id


def transcript_of(recording_id: str) -> Transcript | None:
    return Transcript.objects.unscoped("test").filter(recording__public_id=recording_id).first()


def notes(acme, recording_id: str) -> list[tuple[str, dict]]:
    return [
        (entry.action, entry.data)
        for entry in AuditEntry.objects.for_org(acme).filter(target_id=recording_id).order_by("seq")
        if entry.action.startswith("recording.transcription_")
    ]


def session_events(session) -> list[str]:
    return list(
        SessionEvent.objects.for_org(session.organization).filter(session=session).values_list("type", flat=True)
    )


@pytest.fixture
def webm() -> bytes:
    return b"\x1aE\xdf\xa3" + os.urandom(3 * CHUNK - 777)


def test_a_completed_recording_is_transcribed_and_found_by_search(
    agent_client, acme, session, local_storage, fake_stt, webm, django_capture_on_commit_callbacks
):
    recording_id = record(agent_client, session, webm, django_capture_on_commit_callbacks)

    [sent] = fake_stt.received
    assert sent.path == "/v1/audio/transcriptions" and sent.authorization == f"Bearer {API_KEY}"
    assert sent.audio == webm  # exactly the assembled recording
    assert (sent.filename, sent.content_type) == (f"{recording_id}.webm", "audio/webm")
    assert sent.fields["model"] == MODEL and sent.fields["response_format"] == "vtt"

    [hit] = agent_client.get("/api/v1/recordings/search", {"q": "spooler"}).json()
    assert hit["recording"] == recording_id and hit["start"] == 0.0
    assert agent_client.get("/api/v1/recordings/search", {"q": "print queue"}).json()[0]["start"] == 4.0
    body = agent_client.get(f"/api/v1/recordings/{recording_id}/transcript").json()
    assert body["vtt"] == SPOKEN and body["cue_count"] == 2 and body["source"] == "stt"
    assert transcript_of(recording_id).source == Transcript.Source.SPEECH_TO_TEXT
    added = AuditEntry.objects.for_org(acme).get(target_id=recording_id, action="recording.transcript_added")
    assert added.data["source"] == "stt" and added.actor_kind == "system"
    assert "recording_transcribed" in session_events(session)


def test_an_unavailable_service_is_retried_until_it_answers(
    agent_client, acme, session, local_storage, fake_stt, webm, django_capture_on_commit_callbacks
):
    fake_stt.answers = [(503, "overloaded"), (429, "slow down"), (408, "request timeout")]
    recording_id = record(agent_client, session, webm, django_capture_on_commit_callbacks)
    assert len(fake_stt.received) == 4 and all(sent.audio == webm for sent in fake_stt.received)
    assert transcript_of(recording_id).text == "Please open the spooler settings.\nNow restart the print queue."
    assert notes(acme, recording_id) == []


def test_a_timeout_is_retried(
    agent_client, session, local_storage, fake_stt, settings, webm, django_capture_on_commit_callbacks
):
    settings.CONNECT_STT_TIMEOUT_SECONDS = 0.5
    fake_stt.delays = [1.5]
    recording_id = record(agent_client, session, webm, django_capture_on_commit_callbacks)
    assert len(fake_stt.received) == 2
    assert transcript_of(recording_id) is not None


def test_a_service_down_on_every_attempt_gives_up_after_five_with_a_note(
    agent_client, acme, session, local_storage, fake_stt, webm, django_capture_on_commit_callbacks
):
    fake_stt.answers = [(502, "bad gateway")] * 10
    recording_id = record(agent_client, session, webm, django_capture_on_commit_callbacks)
    assert len(fake_stt.received) == tasks.TRANSCRIBE_ATTEMPTS == 5
    assert transcript_of(recording_id) is None
    [(action, data)] = notes(acme, recording_id)
    assert action == "recording.transcription_failed" and data["reason"] == "unavailable"
    assert "recording_transcription_failed" in session_events(session)


def test_a_refusal_is_not_retried_and_is_noted(
    agent_client, acme, session, local_storage, fake_stt, webm, django_capture_on_commit_callbacks
):
    fake_stt.answers = [(400, "Audio file might be corrupted or unsupported")]
    recording_id = record(agent_client, session, webm, django_capture_on_commit_callbacks)
    assert len(fake_stt.received) == 1
    assert transcript_of(recording_id) is None
    assert agent_client.get(f"/api/v1/recordings/{recording_id}/transcript").status_code == 404
    [(action, data)] = notes(acme, recording_id)
    assert action == "recording.transcription_failed"
    assert data["reason"] == "refused" and data["status"] == 400 and "corrupted" in data["detail"]
    assert "recording_transcription_failed" in session_events(session)


def test_a_wrong_key_is_a_refusal_too(
    agent_client, acme, session, local_storage, fake_stt, settings, webm, django_capture_on_commit_callbacks
):
    settings.CONNECT_STT_API_KEY = "sk-wrong"
    recording_id = record(agent_client, session, webm, django_capture_on_commit_callbacks)
    assert [sent.authorization for sent in fake_stt.received] == ["Bearer sk-wrong"]
    assert transcript_of(recording_id) is None
    assert [data["status"] for _, data in notes(acme, recording_id)] == [401]


@pytest.mark.parametrize("answer", ["Sure! Here is your transcript.", "WEBVTT\n\n", "WEBVTT\n\n00:01 --> soon\nhi\n"])
def test_an_answer_that_is_not_webvtt_is_refused(
    agent_client, acme, session, local_storage, fake_stt, webm, answer, django_capture_on_commit_callbacks
):
    fake_stt.answers = [(200, answer)]
    recording_id = record(agent_client, session, webm, django_capture_on_commit_callbacks)
    assert len(fake_stt.received) == 1
    assert transcript_of(recording_id) is None
    [(action, data)] = notes(acme, recording_id)
    assert action == "recording.transcription_failed" and data["reason"] == "invalid_transcript"


def test_a_recording_with_a_transcript_is_not_sent_again(
    agent_client, session, local_storage, fake_stt, webm, django_capture_on_commit_callbacks
):
    recording_id = record(agent_client, session, webm, django_capture_on_commit_callbacks)
    assert tasks.transcribe.delay(recording_id).get() == "skipped"
    assert len(fake_stt.received) == 1

    # A transcript the agent uploaded is never replaced by the service's either.
    mine = "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nMy own words.\n"
    put = agent_client.put(f"/api/v1/recordings/{recording_id}/transcript", {"vtt": mine}, format="json")
    assert put.status_code == 200
    assert tasks.transcribe.delay(recording_id).get() == "skipped"
    assert len(fake_stt.received) == 1
    assert (transcript_of(recording_id).vtt, transcript_of(recording_id).source) == (mine, "upload")


def test_a_purged_recording_is_not_sent(
    agent_client, session, local_storage, fake_stt, settings, webm, django_capture_on_commit_callbacks
):
    settings.CONNECT_STT_URL = ""
    recording_id = record(agent_client, session, webm, django_capture_on_commit_callbacks)
    assert agent_client.delete(f"/api/v1/recordings/{recording_id}").status_code in (200, 204)
    settings.CONNECT_STT_URL = fake_stt.url
    assert tasks.transcribe.delay(recording_id).get() == "skipped"
    assert fake_stt.received == []


def test_without_a_service_url_nothing_is_enqueued(
    agent_client, session, local_storage, fake_stt, settings, monkeypatch, webm, django_capture_on_commit_callbacks
):
    settings.CONNECT_STT_URL = ""
    enqueued = []
    monkeypatch.setattr(tasks.transcribe, "apply_async", lambda *args, **kwargs: enqueued.append(args))
    recording_id = record(agent_client, session, webm, django_capture_on_commit_callbacks)
    assert enqueued == [] and fake_stt.received == []
    assert transcript_of(recording_id) is None
    assert Recording.objects.unscoped("test").get(public_id=recording_id).status == Recording.Status.COMPLETE


def test_a_recording_over_the_limit_is_not_sent(
    agent_client, acme, session, local_storage, fake_stt, settings, webm, django_capture_on_commit_callbacks
):
    settings.CONNECT_STT_MAX_BYTES = len(webm) - 1
    recording_id = record(agent_client, session, webm, django_capture_on_commit_callbacks)
    assert fake_stt.received == []
    assert transcript_of(recording_id) is None
    [(action, data)] = notes(acme, recording_id)
    assert action == "recording.transcription_skipped"
    assert (data["reason"], data["size_bytes"], data["max_bytes"]) == ("too_large", len(webm), len(webm) - 1)
    assert "recording_transcription_skipped" in session_events(session)

    settings.CONNECT_STT_MAX_BYTES = len(webm)  # exactly the limit is sent
    assert tasks.transcribe.delay(recording_id).get() == "transcribed"
    assert [sent.audio for sent in fake_stt.received] == [webm]
