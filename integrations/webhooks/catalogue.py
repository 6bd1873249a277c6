"""Every event type integrations can subscribe to, with what it means: computed from the declarations in
``connect.event_types`` (which docs/webhooks.md is generated from too), never written out by hand."""

from __future__ import annotations

from django.utils.functional import Promise

from connect.event_types import webhook_types

EVENT_TYPES: dict[str, str | Promise] = {name: cls.description for name, cls in webhook_types().items()}
