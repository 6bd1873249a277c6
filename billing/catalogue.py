"""The plans a new installation starts with; editable afterwards in the Django admin (plans are data).

Both the seeding migration and :func:`ensure_plans` read this list, so a database flushed by a test (or an operator who
deleted a plan a licence needs) gets the same four back.
"""

from __future__ import annotations

GIB = 1024**3
ALL = ["sso", "scim", "api", "webhooks", "recording", "unattended", "meetings", "widget", "branding", "audit_export"]
PLANS: list[dict] = [
    dict(
        code="free",
        name="Free",
        order=0,
        price_per_seat_month_cents=0,
        included_seats=1,
        max_seats=1,
        sessions_per_seat=1,
        max_session_minutes=40,
        unattended_machines=0,
        meeting_participants=4,
        concurrent_meetings=1,
        meeting_minutes_month=600,
        recording_storage_bytes=0,
        recording_retention_days=0,
        api_requests_per_minute=0,
        features=[],
    ),
    dict(
        code="pro",
        name="Pro",
        order=1,
        price_per_seat_month_cents=1900,
        included_seats=1,
        max_seats=9,
        sessions_per_seat=2,
        max_session_minutes=240,
        unattended_machines=10,
        meeting_participants=25,
        concurrent_meetings=2,
        meeting_minutes_month=10_000,
        recording_storage_bytes=5 * GIB,
        recording_retention_days=30,
        api_requests_per_minute=60,
        features=["api", "webhooks", "recording", "unattended", "meetings"],
    ),
    dict(
        code="business",
        name="Business",
        order=2,
        price_per_seat_month_cents=3900,
        included_seats=10,
        max_seats=None,
        sessions_per_seat=5,
        max_session_minutes=720,
        unattended_machines=200,
        meeting_participants=100,
        concurrent_meetings=20,
        meeting_minutes_month=None,
        recording_storage_bytes=100 * GIB,
        recording_retention_days=365,
        api_requests_per_minute=600,
        features=[f for f in ALL if f != "scim"],
    ),
    dict(
        code="enterprise",
        name="Enterprise",
        order=3,
        is_public=False,
        price_per_seat_month_cents=0,
        included_seats=25,
        max_seats=None,
        sessions_per_seat=None,
        max_session_minutes=None,
        unattended_machines=None,
        meeting_participants=300,
        concurrent_meetings=None,
        meeting_minutes_month=None,
        recording_storage_bytes=None,
        recording_retention_days=None,
        api_requests_per_minute=6000,
        features=ALL,
    ),
]


def ensure_plans(plan_model) -> None:
    """Create any of the four seeded plans that is missing; an existing plan (perhaps edited) is left as it is."""
    for fields in PLANS:
        plan_model.objects.get_or_create(code=fields["code"], defaults=fields)
