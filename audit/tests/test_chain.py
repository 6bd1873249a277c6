"""The audit chain: gapless under concurrent writers, tampering found at its sequence number, append-only in the
database, verifiable after a retention purge."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, connections, transaction
from django.utils import timezone

from audit.models import AuditEntry, ChainHead
from audit.services import audit_pseudonymize, audit_purge_before, audit_record, audit_verify


def _write(organization, n: int, actor=None) -> None:
    for i in range(n):
        audit_record(organization=organization, action="test.write", actor=actor, data={"i": i})


@pytest.fixture
def tamper():
    """Change a row behind the triggers' back, as someone with the database's keys could."""

    def change(entry: AuditEntry, **fields) -> None:
        table = AuditEntry._meta.db_table
        assignments = ", ".join(f"{name} = %s" for name in fields)
        fields = {name: json.dumps(value) if isinstance(value, dict) else value for name, value in fields.items()}
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SET LOCAL session_replication_role = replica")
                cursor.execute(f"UPDATE {table} SET {assignments} WHERE id = %s", [*fields.values(), entry.pk])
                cursor.execute("SET LOCAL session_replication_role = origin")
            else:
                cursor.execute("DROP TRIGGER audit_entry_no_update")
                cursor.execute(f"UPDATE {table} SET {assignments} WHERE id = %s", [*fields.values(), entry.pk])
                # The test's transaction rolls the DROP back with everything else.

    return change


def test_entries_chain_and_verify(acme, globex, alice):
    _write(acme, 5, alice)
    _write(globex, 2)
    entries = list(AuditEntry.objects.for_org(acme).order_by("seq"))
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == "0" * 64
    assert all(later.prev_hash == earlier.hash for earlier, later in zip(entries, entries[1:], strict=False))
    assert entries[0].actor_kind == "user" and entries[0].actor_id == alice.public_id
    assert audit_verify(organization=acme).as_dict() == {"ok": True, "checked": 5, "last_seq": 5}
    assert audit_verify(organization=globex).ok


def test_tampering_is_reported_at_its_sequence_number(acme, tamper):
    _write(acme, 12)
    seventh = AuditEntry.objects.for_org(acme).get(seq=7)
    tamper(seventh, action="session.nothing_happened")
    result = audit_verify(organization=acme)
    assert (result.ok, result.broken_seq) == (False, 7)
    assert "content" in result.reason


def test_a_removed_entry_is_reported(acme, tamper):
    _write(acme, 6)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        else:
            cursor.execute("DROP TRIGGER audit_entry_no_delete")
        cursor.execute("DELETE FROM audit_auditentry WHERE seq = 4")
    result = audit_verify(organization=acme)
    assert (result.ok, result.broken_seq) == (False, 4)


def test_database_refuses_changes_and_deletes_but_lets_labels_be_pseudonymized(acme, alice):
    _write(acme, 2, alice)
    entry = AuditEntry.objects.for_org(acme).get(seq=1)
    for change in (
        lambda: AuditEntry.objects.for_org(acme).filter(pk=entry.pk).update(action="tampered"),
        lambda: AuditEntry.objects.for_org(acme).filter(pk=entry.pk).update(data={"i": 99}),
        lambda: AuditEntry.objects.for_org(acme).filter(pk=entry.pk).delete(),
    ):
        with pytest.raises(DatabaseError), transaction.atomic():
            change()
    assert AuditEntry.objects.for_org(acme).get(pk=entry.pk).action == "test.write"
    assert audit_pseudonymize(person_id=alice.public_id) == 2
    entry.refresh_from_db()
    assert (entry.actor_label, entry.actor_id) == ("Erased user", alice.public_id)
    assert audit_verify(organization=acme).ok


def test_retention_purge_keeps_the_rest_verifiable_and_is_recorded(acme, django_capture_on_commit_callbacks):
    _write(acme, 10)
    old = timezone.now() - timedelta(days=100)
    AuditEntry.objects.for_org(acme)  # rows are immutable: age them behind the trigger, as time would
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        else:
            cursor.execute("DROP TRIGGER audit_entry_no_update")
        cursor.execute("UPDATE audit_auditentry SET created_at = %s WHERE seq <= 6", [old])
    # The hashes covered the old times: re-seal the aged rows as if they had been written then.
    from audit import chain

    prev = "0" * 64
    with connection.cursor() as cursor:
        for entry in AuditEntry.objects.for_org(acme).order_by("seq"):
            entry.prev_hash = prev
            digest = chain.hash_of(entry, acme.public_id)
            cursor.execute(
                "UPDATE audit_auditentry SET prev_hash = %s, hash = %s WHERE id = %s", [prev, digest, entry.pk]
            )
            prev = digest
        cursor.execute("UPDATE audit_chainhead SET last_hash = %s", [prev])
    assert audit_verify(organization=acme).ok

    assert audit_purge_before(organization=acme, before=timezone.now() - timedelta(days=30)) == 6
    remaining = list(AuditEntry.objects.for_org(acme).order_by("seq").values_list("seq", "action"))
    assert remaining == [
        (7, "test.write"),
        (8, "test.write"),
        (9, "test.write"),
        (10, "test.write"),
        (11, "audit.purged"),
    ]
    head = ChainHead.objects.for_org(acme).get()
    assert head.anchor_seq == 6
    assert audit_verify(organization=acme).as_dict() == {"ok": True, "checked": 5, "last_seq": 11}
    purged = AuditEntry.objects.for_org(acme).get(seq=11)
    assert purged.data["up_to_seq"] == 6 and purged.data["entries"] == 6
    # Idempotent: nothing older is left, nothing happens, nothing is recorded.
    assert audit_purge_before(organization=acme, before=timezone.now() - timedelta(days=30)) == 0
    assert AuditEntry.objects.for_org(acme).count() == 5


def test_audit_verify_command(acme, globex, tamper, capsys):
    _write(acme, 3)
    _write(globex, 3)
    call_command("audit_verify")
    out = capsys.readouterr().out
    assert "acme: ok (3 entries)" in out and "globex: ok (3 entries)" in out
    tamper(AuditEntry.objects.for_org(globex).get(seq=2), data={"i": 7})
    with pytest.raises(SystemExit) as exit_:
        call_command("audit_verify", "--org", globex.slug)
    assert exit_.value.code == 1
    assert "globex: broken at #2" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_eight_concurrent_writers_append_ten_thousand_gapless_entries():
    from orgs.tests.factories import OrganizationFactory

    organization = OrganizationFactory(slug="busy")
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def writer() -> None:
        try:
            start.wait()
            _write(organization, 1250)
        except Exception as error:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    seqs = list(AuditEntry.objects.for_org(organization).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, 10_001))
    assert audit_verify(organization=organization).as_dict() == {"ok": True, "checked": 10_000, "last_seq": 10_000}
