"""Factories for recordings: a complete recording by default (its object is not written: tests that need the bytes
upload them through the API)."""

from __future__ import annotations

import hashlib

import factory
from django.utils import timezone

from recordings.models import Recording, Transcript
from sessions.tests.factories import SupportSessionFactory

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class RecordingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Recording

    class Params:
        uploading = factory.Trait(
            status=Recording.Status.UPLOADING, completed_at=None, size_bytes=0, sha256="", chunk_count=None
        )

    session = factory.SubFactory(
        SupportSessionFactory, organization=factory.SelfAttribute("..organization"), active=True
    )
    started_by = factory.LazyAttribute(lambda o: o.session.agent)
    started_by_label = factory.LazyAttribute(lambda o: o.started_by.email if o.started_by else "")
    status = Recording.Status.COMPLETE
    size_bytes = 0
    sha256 = EMPTY_SHA256
    chunk_count = 1
    completed_at = factory.LazyFunction(timezone.now)
    storage_key = factory.LazyAttribute(lambda o: f"recordings/{o.organization.public_id}/factory.webm")


class TranscriptFactory(factory.django.DjangoModelFactory):
    """A complete recording's two-cue transcript."""

    class Meta:
        model = Transcript

    recording = factory.SubFactory(RecordingFactory)
    vtt = "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nHello\n\n00:00:04.000 --> 00:00:06.000\nIt works now\n"
    text = "Hello\nIt works now"
    cue_count = 2
