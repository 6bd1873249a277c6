"""The old session audit log moves into the chains: every entry, in order, verifiable, actors as snapshots."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("audit", "0002_append_only"), ("support", "0003_session_agent_snapshot")]
AFTER = [("audit", "0003_copy_session_audit_log"), ("support", "0004_audit_moved_to_audit_app")]


@pytest.mark.django_db(transaction=True)
def test_existing_entries_are_migrated_none_lost():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    Organization, User = old.get_model("orgs", "Organization"), old.get_model("orgs", "User")
    OldEntry = old.get_model("support", "AuditEntry")
    acme = Organization.objects.create(public_id="org_acme", name="Acme", slug="acme")
    globex = Organization.objects.create(public_id="org_globex", name="Globex", slug="globex")
    alice = User.objects.create(public_id="usr_alice", email="alice@acme.test")
    now = timezone.now()
    for i in range(3):
        OldEntry.objects.create(
            organization=acme, action=f"session.step{i}", actor=alice, actor_label="alice@acme.test", data={"i": i}
        )
    OldEntry.objects.create(organization=acme, action="session.expired", actor_label="system", ip="10.0.0.1")
    OldEntry.objects.create(organization=globex, action="session.created", actor_label="customer")
    assert OldEntry.objects.filter(created_at__gte=now).count() == 5

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps
    Entry = new.get_model("audit", "AuditEntry")
    rows = list(Entry.objects.filter(organization_id=acme.pk).order_by("seq"))
    assert [(r.seq, r.action) for r in rows] == [
        (1, "session.step0"),
        (2, "session.step1"),
        (3, "session.step2"),
        (4, "session.expired"),
    ]
    assert (rows[0].actor_kind, rows[0].actor_id, rows[0].actor_label) == ("user", "usr_alice", "alice@acme.test")
    assert (rows[3].actor_kind, rows[3].ip) == ("system", "10.0.0.1")
    assert Entry.objects.filter(organization_id=globex.pk).get().actor_kind == "customer"

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    from audit.services import audit_verify
    from orgs.models import Organization as CurrentOrganization

    for slug in ("acme", "globex"):
        assert audit_verify(organization=CurrentOrganization.objects.get(slug=slug)).ok
