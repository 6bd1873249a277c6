"""Speech-to-text: a complete recording is sent to an OpenAI-compatible transcription API (``CONNECT_STT_URL``) and
the WebVTT it answers becomes the recording's transcript (``source`` ``stt``), stored through
``transcripts.transcript_put`` so it is checked like an uploaded one.

The service is the operator's own setting, not an address a tenant supplied, so it is reached directly rather than
through ``connect/outbound.py`` (a self-hosted Whisper on the private network is the common case). The openai
library's own retries are off: the Celery task ``recordings.transcribe`` retries transient failures (timeouts, lost
connections, 408, 429, 5xx) with backoff, so a worker is not held asleep between attempts. Permanent failures (any other
4xx, an answer that is not WebVTT) and recordings too large to send are noted in the session log and the audit log,
and not tried again.
"""

from __future__ import annotations

import logging

import openai
from django.conf import settings
from django.db import transaction

from sessions.services import Actor

from . import storage as store
from .models import Recording, Transcript
from .services import _audit, _locked, log
from .transcripts import InvalidTranscript, transcript_put

logger = logging.getLogger(__name__)

STT = Actor(kind="system", label="speech-to-text")
# Some self-hosted services take no key; the openai library refuses to start without one (and would otherwise read
# OPENAI_API_KEY from the environment, which belongs to something else).
NO_KEY = "none"
DETAIL_MAX = 300


class TransientFailure(Exception):
    """The service may answer later: try again."""


def enabled() -> bool:
    return bool(settings.CONNECT_STT_URL)


def _client() -> openai.OpenAI:
    return openai.OpenAI(
        base_url=settings.CONNECT_STT_URL,
        api_key=settings.CONNECT_STT_API_KEY or NO_KEY,
        timeout=settings.CONNECT_STT_TIMEOUT_SECONDS,
        max_retries=0,
    )


def _note(recording: Recording, outcome: str, data: dict) -> None:
    """``outcome`` is ``failed`` or ``skipped``: one session-log row and one audit entry saying why."""
    data = {"recording_id": recording.public_id, **data}
    with transaction.atomic():
        log(recording, f"recording_transcription_{outcome}", STT, data)
        _audit(recording, f"recording.transcription_{outcome}", STT, data)


def _has_transcript(recording: Recording) -> bool:
    return Transcript.objects.for_org(recording.organization).filter(recording=recording).exists()


def recording_transcription_gave_up(*, recording: Recording, reason: str) -> None:
    """The service kept failing transiently on every attempt: say so, once."""
    logger.warning("recording %s: speech-to-text gave up: %s", recording.public_id, reason)
    _note(recording, "failed", {"reason": "unavailable", "detail": reason[:DETAIL_MAX]})


def recording_transcribe(*, recording: Recording) -> Transcript | None:
    """Send the complete ``recording`` to the speech-to-text service and keep its WebVTT as the transcript.

    ``None`` when nothing was made: the service is off, the recording is not complete (purged, still uploading), it
    has a transcript already (uploaded or made before: never replaced), it is larger than ``CONNECT_STT_MAX_BYTES``,
    or the service refused it or answered no valid WebVTT (the last three are noted). Raises
    :class:`TransientFailure` when trying again later may succeed."""
    if not enabled() or recording.status != Recording.Status.COMPLETE or _has_transcript(recording):
        return None
    limit = settings.CONNECT_STT_MAX_BYTES
    if recording.size_bytes > limit:
        logger.info(
            "recording %s: %s bytes, over CONNECT_STT_MAX_BYTES (%s): not sent to speech-to-text",
            recording.public_id,
            recording.size_bytes,
            limit,
        )
        _note(recording, "skipped", {"reason": "too_large", "size_bytes": recording.size_bytes, "max_bytes": limit})
        return None

    data = b"".join(store.read_blocks(store.recordings_storage(), recording.storage_key))
    try:
        vtt = _client().audio.transcriptions.create(
            model=settings.CONNECT_STT_MODEL,
            file=(f"{recording.public_id}.webm", data, "audio/webm"),  # the audio track is what is transcribed
            response_format="vtt",
        )
    except (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError) as exc:
        # APIConnectionError includes APITimeoutError; InternalServerError is every 5xx.
        raise TransientFailure(f"{type(exc).__name__}: {exc}") from exc
    except openai.APIStatusError as exc:
        if exc.status_code == 408:  # the service's own request timeout
            raise TransientFailure(f"{type(exc).__name__}: {exc}") from exc
        logger.warning("recording %s: speech-to-text refused it (%s): %s", recording.public_id, exc.status_code, exc)
        _note(
            recording,
            "failed",
            {"reason": "refused", "status": exc.status_code, "detail": str(exc.message)[:DETAIL_MAX]},
        )
        return None

    try:
        with transaction.atomic():
            locked = _locked(recording)
            # Purged, or a person uploaded a transcript, while the service worked: theirs stands.
            if locked.status != Recording.Status.COMPLETE or _has_transcript(locked):
                return None
            transcript = transcript_put(
                recording=locked, vtt=str(vtt), actor=STT, source=Transcript.Source.SPEECH_TO_TEXT
            )
            log(locked, "recording_transcribed", STT, {"recording_id": locked.public_id, "cues": transcript.cue_count})
            return transcript
    except InvalidTranscript as exc:
        logger.warning("recording %s: speech-to-text answered no valid WebVTT: %s", recording.public_id, exc.message)
        _note(recording, "failed", {"reason": "invalid_transcript", "detail": exc.message[:DETAIL_MAX]})
        return None
