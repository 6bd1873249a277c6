"""``python manage.py create_org "Acme Inc" --owner alice@acme.test``: bootstrap an organization and its owner."""

from __future__ import annotations

import getpass
import os

from django.core.management.base import BaseCommand, CommandError

from connect.errors import ApplicationError
from orgs.models import User
from orgs.services import normalize_email, organization_create


class Command(BaseCommand):
    help = "Create an organization with its first owner. The owner's password comes from --password, "
    help += "CONNECT_OWNER_PASSWORD, or a prompt (only needed when the owner has no account yet)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="Display name, e.g. 'Acme Inc'")
        parser.add_argument("--owner", required=True, help="E-mail address of the first owner")
        parser.add_argument("--slug", help="URL name; derived from the name when omitted")
        parser.add_argument("--owner-name", default="", help="The owner's display name")
        parser.add_argument("--password", help="The new owner's password (prefer CONNECT_OWNER_PASSWORD or the prompt)")

    def handle(self, *args, name: str, owner: str, slug: str | None, owner_name: str, password: str | None, **opts):
        try:
            email = normalize_email(owner)
            needs_password = not User.objects.filter(email=email).exists()
            if needs_password:
                password = password or os.environ.get("CONNECT_OWNER_PASSWORD") or self._prompt()
            organization, user, created = organization_create(
                name=name, slug=slug, owner_email=email, owner_password=password, owner_name=owner_name
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        who = "new user" if created else "existing user"
        self.stdout.write(
            self.style.SUCCESS(
                f"Created organization '{organization.name}' (slug {organization.slug}, "
                f"id {organization.public_id}) with owner {user.email} ({who})."
            )
        )

    def _prompt(self) -> str:
        if not os.isatty(0):
            raise CommandError("The new owner needs a password: pass --password or set CONNECT_OWNER_PASSWORD.")
        first = getpass.getpass("Password for the new owner: ")
        if first != getpass.getpass("Password (again): "):
            raise CommandError("The passwords did not match; nothing was created.")
        return first
