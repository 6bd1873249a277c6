"""``python manage.py create_org "Acme Inc" --owner alice@acme.test``: bootstrap an organization and its owner."""

from __future__ import annotations

import getpass
import os

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from billing.models import License, Plan
from billing.services import license_change
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
        parser.add_argument(
            "--plan", help="Plan code (free, pro, business, enterprise...); a trial of the default otherwise"
        )
        parser.add_argument("--seats", type=int, help="Seats bought; the plan's included seats otherwise")

    def handle(self, *args, name: str, owner: str, slug: str | None, owner_name: str, password: str | None, **opts):
        plan = None
        if opts.get("plan"):
            plan = Plan.objects.filter(code=opts["plan"]).first()
            if plan is None:
                codes = ", ".join(Plan.objects.order_by("order").values_list("code", flat=True))
                raise CommandError(f"No plan '{opts['plan']}'; the plans are: {codes}.")
        try:
            email = normalize_email(owner)
            needs_password = not User.objects.filter(email=email).exists()
            if needs_password:
                password = password or os.environ.get("CONNECT_OWNER_PASSWORD") or self._prompt()
            with transaction.atomic():  # the organization and its plan, or neither
                organization, user, created = organization_create(
                    name=name, slug=slug, owner_email=email, owner_password=password, owner_name=owner_name
                )
                if plan is not None or opts.get("seats"):
                    license_change(
                        organization=organization,
                        plan=plan,
                        seats=opts.get("seats") or (plan.included_seats if plan else None),
                        status=License.Status.ACTIVE if plan is not None else None,
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
