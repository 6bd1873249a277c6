"""Verify every organization's audit chain (or one, with --org); exit 1 at the first broken one."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from audit.services import audit_verify
from orgs.models import Organization


class Command(BaseCommand):
    help = "Walk each organization's audit chain: ok, or the first sequence number that does not hold."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--org", metavar="SLUG", help="Only this organization.")

    def handle(self, *args, org: str | None = None, **options) -> None:
        organizations = Organization.objects.order_by("slug")
        if org:
            organizations = organizations.filter(slug=org)
            if not organizations.exists():
                raise CommandError(f"No organization has the slug {org!r}.")
        broken = False
        for organization in organizations:
            result = audit_verify(organization=organization)
            if result.ok:
                self.stdout.write(f"{organization.slug}: ok ({result.checked} entries)")
            else:
                broken = True
                self.stdout.write(f"{organization.slug}: broken at #{result.broken_seq}: {result.reason}")
        if broken:
            sys.exit(1)
