"""Seed the four plans (editable afterwards in the Django admin) and give every existing organization a licence."""

from datetime import timedelta

from django.db import migrations
from django.utils import timezone

from billing.catalogue import ensure_plans


def seed(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    License = apps.get_model("billing", "License")
    Organization = apps.get_model("orgs", "Organization")
    ensure_plans(Plan)
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
