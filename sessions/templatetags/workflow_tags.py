"""The viewer's workflow panel: what it shows about a session (sessions.workflow)."""

from __future__ import annotations

from typing import Any

from django import template

from sessions import workflow
from sessions.models import Status

register = template.Library()


@register.inclusion_tag("sessions/_viewer_workflow_panel.html", takes_context=True)
def workflow_panel(context: template.Context) -> dict[str, Any]:
    session = context["session"]
    return {
        "session": session,
        "org": context.get("org"),
        "csrf_token": context.get("csrf_token"),
        "can_transfer": bool(context.get("can_drive")) and session.is_live,
        "targets": workflow.transfer_targets(session) if session.is_live else [],
        "can_invite": session.status == Status.WAITING,
        "notes": list(workflow.session_notes(session)),
        "tags_text": ", ".join(session.tags or []),
        "stars": range(1, 6),
        "max_note": workflow.MAX_NOTE_CHARS,
        "max_ticket": workflow.MAX_TICKET_REF_CHARS,
    }
