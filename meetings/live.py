"""Telling a meeting's open sockets (``meetings.consumers``) what the services changed: someone waits in the lobby,
was removed or muted, the meeting was locked or ended. Sent after the transaction commits, through the channel
layer, so a change made through the API reaches the pages too (and a rolled-back one reaches nobody)."""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def meeting_group(meeting_pk: int) -> str:
    return f"meeting.{meeting_pk}"


def announce(meeting, event: dict) -> None:
    """``event["type"]`` names the consumer's handler (``meeting.removed`` -> ``meeting_removed``)."""
    group = meeting_group(meeting.pk)

    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        try:
            async_to_sync(layer.group_send)(group, event)
        except Exception:  # noqa: BLE001 - the change is made; a page that misses it learns on its next connect
            logger.warning("could not tell meeting %s about %s", meeting.public_id, event.get("type"), exc_info=True)

    transaction.on_commit(send)
