"""``dumpdata``, the operator's export of the whole database: it reads every organization's rows, by name
(org-owned default managers refuse unscoped reads, orgs.tenancy)."""

from __future__ import annotations

from typing import Any

from django.core.management.commands.dumpdata import Command as DumpDataCommand

from orgs.tenancy import cross_organization


class Command(DumpDataCommand):
    def handle(self, *app_labels: str, **options: Any) -> Any:
        with cross_organization("dumpdata: an operator's export of the whole database"):
            return super().handle(*app_labels, **options)
