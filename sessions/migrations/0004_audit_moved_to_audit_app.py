"""The audit log now lives in the ``audit`` app (its 0003 copied every entry); the old table goes."""

from django.db import migrations


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "DROP TRIGGER IF EXISTS support_auditentry_no_update ON support_auditentry;"
            "DROP FUNCTION IF EXISTS support_auditentry_append_only();"
        )
    elif schema_editor.connection.vendor == "sqlite":
        schema_editor.execute("DROP TRIGGER IF EXISTS support_auditentry_no_update;")


class Migration(migrations.Migration):
    dependencies = [
        ("support", "0003_session_agent_snapshot"),
        ("audit", "0003_copy_session_audit_log"),
    ]

    operations = [
        migrations.RunPython(drop_trigger, migrations.RunPython.noop),
        migrations.DeleteModel(name="AuditEntry"),
    ]
