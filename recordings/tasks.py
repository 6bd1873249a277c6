"""Recording housekeeping (Celery beat) and speech-to-text."""

from celery import shared_task
from celery.exceptions import Retry
from celery.utils.time import get_exponential_backoff_interval

from . import services, stt
from .models import Recording

TRANSCRIBE_ATTEMPTS = 5
# Seconds before each retry: 30, 60, 120, 240.
TRANSCRIBE_BACKOFF_FACTOR = 30
TRANSCRIBE_BACKOFF_MAX = 600


@shared_task(name="recordings.salvage_abandoned")
def salvage_abandoned() -> dict[str, int]:
    """Complete uploads abandoned half-way from the chunks that arrived in order."""
    return services.recordings_salvage_abandoned()


@shared_task(name="recordings.purge_expired")
def purge_expired() -> int:
    """Delete the objects of recordings past their retention and mark them purged; returns how many."""
    return services.recordings_purge_expired()


@shared_task(name="recordings.transcribe", bind=True, max_retries=TRANSCRIBE_ATTEMPTS - 1, acks_late=True)
def transcribe(self, recording_id: str) -> str | Retry:
    """Transcribe a complete recording with the speech-to-text service: ``transcribed``, ``skipped`` (nothing to do,
    or noted why not) or ``failed`` (the service stayed unavailable on every attempt)."""
    recording = (
        Recording.objects.unscoped("a task names its recording by its public id")
        .select_related("organization", "session")
        .filter(public_id=recording_id)
        .first()
    )
    if recording is None:
        return "skipped"
    try:
        transcript = stt.recording_transcribe(recording=recording)
    except stt.TransientFailure as exc:
        if self.request.retries >= self.max_retries:
            stt.recording_transcription_gave_up(recording=recording, reason=str(exc))
            return "failed"
        countdown = get_exponential_backoff_interval(
            TRANSCRIBE_BACKOFF_FACTOR, self.request.retries, TRANSCRIBE_BACKOFF_MAX
        )
        # A worker gets the retry raised (and runs it after the countdown). Eager (the embedded mode, tests) has no
        # worker to come back later: returned, not raised, the retry runs at once, and a failure never reaches the
        # request that completed the recording.
        return self.retry(exc=exc, countdown=countdown, throw=not self.request.is_eager)
    return "transcribed" if transcript is not None else "skipped"
