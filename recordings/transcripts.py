"""Transcripts: a WebVTT file attached to a complete recording, and the organization's search across them.

WebVTT is parsed with webvtt-py (a malformed file is refused, nothing kept); the cues' words are kept joined in
``Transcript.text`` for search. On PostgreSQL the search is full-text (``websearch_to_tsquery``: words, "quoted
phrases", -excluded); elsewhere (the embedded SQLite) every word must appear, case-insensitively. Either way only the
transcripts of recordings the person may see are searched: the session access rule, within their organization.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import webvtt
from django.db import connection, transaction
from django.utils.translation import gettext as _

from connect.errors import ApplicationError, Conflict
from orgs.tenancy import OrgContext
from sessions.services import Actor

from . import selectors
from .models import Recording, Transcript
from .services import _audit

MAX_QUERY = 200
WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str

    def as_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "text": self.text}


class InvalidTranscript(ApplicationError):
    status_code = 400
    code = "invalid_transcript"


def parse(vtt: str) -> list[Cue]:
    """The cues of a WebVTT document, or :class:`InvalidTranscript` saying why not."""
    if "\x00" in vtt:
        raise InvalidTranscript(_("A transcript is WebVTT text: it holds a NUL character."))
    try:
        document = webvtt.from_buffer(io.StringIO(vtt))
    except Exception as exc:  # noqa: BLE001  webvtt-py raises its own errors and ValueError for bad timestamps
        raise InvalidTranscript(_("This is not a WebVTT file: %(why)s") % {"why": exc}) from None
    cues = [
        Cue(c.start_time.in_milliseconds() / 1000, c.end_time.in_milliseconds() / 1000, c.text.strip())
        for c in document
    ]
    cues = [cue for cue in cues if cue.text]
    if not cues:
        raise InvalidTranscript(_("This WebVTT file has no cues with text."))
    return cues


def cues_of(transcript: Transcript) -> list[Cue]:
    return parse(transcript.vtt)


def transcript_put(
    *, recording: Recording, vtt: str, actor: Actor, language: str = "en", source: str = Transcript.Source.UPLOAD
) -> Transcript:
    """Attach (or replace) the transcript of a complete recording; audited."""
    if recording.status != Recording.Status.COMPLETE:
        raise Conflict(
            _("This recording is %(status)s: a transcript goes with a complete recording.")
            % {"status": recording.status},
            code="recording_not_complete",
            details={"status": recording.status},
        )
    cues = parse(vtt)
    with transaction.atomic():
        transcript, created = Transcript.objects.unscoped("the recording is already the caller's").update_or_create(
            recording=recording,
            defaults={
                "vtt": vtt,
                "text": "\n".join(cue.text for cue in cues),
                "cue_count": len(cues),
                "language": language,
                "source": source,
            },
        )
        _audit(
            recording,
            "recording.transcript_added" if created else "recording.transcript_replaced",
            actor,
            {"cues": len(cues), "language": language, "source": source},
        )
    return transcript


SEARCH_CONFIG = "english"  # PostgreSQL's text search configuration: English stemming ("printers" finds "printer")


@dataclass(frozen=True)
class Hit:
    transcript: Transcript
    cue: Cue | None


def transcript_search(ctx: OrgContext, query: str, *, limit: int = 20) -> list[Hit]:
    """Transcripts of the recordings ``ctx`` may see that hold ``query``, newest recording first, each with the first
    cue that holds one of its words (to start playback there)."""
    query = (query or "").strip()
    words = [word.lower() for word in WORD.findall(query)]
    if not words or len(query) > MAX_QUERY:
        raise ApplicationError(
            _("Search for one or more words (at most %(max)s characters).") % {"max": MAX_QUERY},
            code="validation_error",
            details={"field": "q"},
        )
    visible = selectors.recordings_visible(ctx).values("pk")
    found = (
        Transcript.objects.for_org(ctx.organization)
        .filter(recording__in=visible)
        .select_related("recording", "recording__session", "recording__meeting")
    )
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchVector

        # The same expression as the GIN index of migration 0003 (recordings_transcript_text_search), so it is used.
        found = found.annotate(document=SearchVector("text", config=SEARCH_CONFIG)).filter(
            document=SearchQuery(query, config=SEARCH_CONFIG, search_type="websearch")
        )
    else:
        for word in words:
            found = found.filter(text__icontains=word)
    hits = []
    for transcript in found.order_by("-recording__created_at")[:limit]:
        cue = next((c for c in cues_of(transcript) if any(w in c.text.lower() for w in words)), None)
        hits.append(Hit(transcript, cue))
    return hits
