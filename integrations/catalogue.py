"""Every event type integrations can subscribe to, with what its ``data`` holds. Documented in docs/webhooks.md."""

from __future__ import annotations

SESSION_FIELDS = (
    "id, organization_id, agent_id, status, customer_name, created_at, started_at, ended_at, end_reason, "
    "duration_seconds"
)

EVENT_TYPES: dict[str, str] = {
    "session.created": f"A support session was started. data: {SESSION_FIELDS}",
    "session.started": f"The customer consented; media flows. data: {SESSION_FIELDS}",
    "session.ended": f"A session ended (end_reason and duration_seconds tell how). data: {SESSION_FIELDS}",
    "session.declined": f"The customer declined to share. data: {SESSION_FIELDS}",
    "member.added": "Someone joined the organization. data: user_id, email, role",
    "member.removed": "Someone left or was removed. data: user_id, email, role",
    "api_key.created": "An API key was created. data: id, name, prefix, scopes",
    "api_key.revoked": "An API key was revoked. data: id, name, prefix",
    "webhook.test": "Sent by 'send test event'. data: endpoint_id, message",
}
