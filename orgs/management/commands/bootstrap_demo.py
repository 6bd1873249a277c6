"""Create a demo organization on a fresh install (``make run``); says how to sign in, once."""

from __future__ import annotations

import secrets

from django.core.management.base import BaseCommand

from orgs.models import Organization
from orgs.services import organization_create

DEMO_SLUG = "demo"
DEMO_OWNER = "owner@demo.connect.test"


class Command(BaseCommand):
    help = "Create the demo organization and its owner if this database has no organization yet."

    def handle(self, *args, **options) -> None:
        if Organization.objects.exists():
            self.stdout.write(f"Organizations exist already; the demo owner (if any) is {DEMO_OWNER}.")
            return
        password = secrets.token_urlsafe(12)
        organization_create(
            name="Demo Support",
            slug=DEMO_SLUG,
            owner_email=DEMO_OWNER,
            owner_password=password,
            owner_name="Demo Owner",
        )
        line = "=" * 72
        self.stdout.write(
            f"{line}\nDemo organization created. Sign in at /accounts/login/ with\n"
            f"  e-mail:   {DEMO_OWNER}\n  password: {password}\n"
            f"This password is shown only now.\n{line}"
        )
