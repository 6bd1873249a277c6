"""Seed the four plans (editable afterwards in the Django admin) and give every existing organization a licence."""

from datetime import timedelta

from django.db import migrations
from django.utils import timezone

GIB = 1024**3
ALL = ["sso", "scim", "api", "webhooks", "recording", "unattended", "meetings", "widget", "branding", "audit_export"]
PLANS = [
    dict(code="free", name="Free", order=0, price_per_seat_month_cents=0, included_seats=1, max_seats=1,
         sessions_per_seat=1, max_session_minutes=40, unattended_machines=0, meeting_participants=4,
         concurrent_meetings=1, meeting_minutes_month=600, recording_storage_bytes=0, recording_retention_days=0,
         api_requests_per_minute=0, features=[]),
    dict(code="pro", name="Pro", order=1, price_per_seat_month_cents=1900, included_seats=1, max_seats=9,
         sessions_per_seat=2, max_session_minutes=240, unattended_machines=10, meeting_participants=25,
         concurrent_meetings=2, meeting_minutes_month=10_000, recording_storage_bytes=5 * GIB,
         recording_retention_days=30, api_requests_per_minute=60,
         features=["api", "webhooks", "recording", "unattended", "meetings"]),
    dict(code="business", name="Business", order=2, price_per_seat_month_cents=3900, included_seats=10,
         max_seats=None, sessions_per_seat=5, max_session_minutes=720, unattended_machines=200,
         meeting_participants=100, concurrent_meetings=20, meeting_minutes_month=None,
         recording_storage_bytes=100 * GIB, recording_retention_days=365, api_requests_per_minute=600,
         features=[f for f in ALL if f != "scim"]),
    dict(code="enterprise", name="Enterprise", order=3, is_public=False, price_per_seat_month_cents=0,
         included_seats=25, max_seats=None, sessions_per_seat=None, max_session_minutes=None,
         unattended_machines=None, meeting_participants=300, concurrent_meetings=None, meeting_minutes_month=None,
         recording_storage_bytes=None, recording_retention_days=None, api_requests_per_minute=6000, features=ALL),
]


def seed(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    License = apps.get_model("billing", "License")
    Organization = apps.get_model("orgs", "Organization")
    for fields in PLANS:
        Plan.objects.update_or_create(code=fields["code"], defaults=fields)
    # Organizations made by operators before licensing: a Business trial from today, nothing taken away.
    business = Plan.objects.get(code="business")
    for organization in Organization.objects.all():
        if not License.objects.filter(organization=organization).exists():
            License.objects.create(
                organization=organization, plan=business, seats=business.included_seats, status="trialing",
                trial_ends_at=timezone.now() + timedelta(days=14),
            )


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_plans_and_licenses"), ("orgs", "0005_file_transfer_limit")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
