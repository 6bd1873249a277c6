"""The database itself refuses to change audit rows, and on PostgreSQL to delete them.

SQLite (embedded development mode) only refuses updates: the test runner empties tables with DELETE there,
where PostgreSQL uses TRUNCATE, which row triggers do not see.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION support_auditentry_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'the audit log is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER support_auditentry_no_update BEFORE UPDATE OR DELETE ON support_auditentry
  FOR EACH ROW EXECUTE FUNCTION support_auditentry_append_only();
"""
BACKWARD = """
DROP TRIGGER IF EXISTS support_auditentry_no_update ON support_auditentry;
DROP FUNCTION IF EXISTS support_auditentry_append_only();
"""


SQLITE_FORWARD = [
    "CREATE TRIGGER support_auditentry_no_update BEFORE UPDATE ON support_auditentry "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS support_auditentry_no_update;",
]


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(FORWARD)
    elif vendor == "sqlite":
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(BACKWARD)
    elif vendor == "sqlite":
        for statement in SQLITE_BACKWARD:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("support", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
