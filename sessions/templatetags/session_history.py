"""How the session log reads to a person: a label for each event type, and who did it by name."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext_lazy as _

from sessions.models import SessionEvent

register = template.Library()

EVENT_LABELS = {
    "created": _("Session opened"),
    "customer_joined": _("Customer entered the code"),
    "consent_granted": _("Customer allowed screen sharing"),
    "consent_declined": _("Customer declined"),
    "consent_revoked": _("Customer stopped sharing"),
    "ended": _("Session ended"),
    "expired": _("Code expired unused"),
    "chat": _("Chat message"),
    "control_request": _("Agent asked for control"),
    "control_grant": _("Customer allowed control"),
    "control_deny": _("Customer refused control"),
    "control_revoke": _("Customer took control back"),
    "transferred": _("Handed to another agent"),
    "details_changed": _("Tags or ticket changed"),
    "note_added": _("Private note added"),
    "rated": _("Customer rated the session"),
    "invitation_emailed": _("Invitation e-mailed"),
    "file_offered": _("File offered"),
    "file_accepted": _("File accepted"),
    "file_declined": _("File declined"),
    "file_received": _("File received"),
    "file_sent": _("File sent"),
    "file_cancelled": _("File transfer cancelled"),
    "desktop_agent_offered": _("Customer downloaded the desktop agent"),
    "desktop_agent_joined": _("Desktop agent took over from the browser"),
}

ACTOR_KINDS = {
    "customer": _("Customer"),
    "system": _("System"),
    "api_key": _("API key"),
    "oauth_app": _("Integration"),
    "api": _("API"),
    "agent": _("Agent"),
}


@register.filter
def event_label(event_type: str) -> str:
    """``consent_granted`` -> "Customer allowed screen sharing"; an unknown type reads as words."""
    label = EVENT_LABELS.get(event_type)
    return str(label) if label is not None else event_type.replace("_", " ").replace(".", " ").capitalize()


@register.filter
def actor_name(event: SessionEvent) -> str:
    """Who did it, by name: the agent's name (or e-mail), the customer's name, else what kind of actor it was."""
    if event.actor is not None:
        return event.actor.get_full_name() or event.actor.email
    if event.actor_kind == "customer" and event.session.customer_name:
        return event.session.customer_name
    return str(ACTOR_KINDS.get(event.actor_kind, event.actor_kind))
