"""A GIN index for searching transcripts (recordings.transcripts.transcript_search), on PostgreSQL only: SQLite
searches with LIKE and has no such index."""

from django.db import migrations

INDEX = "recordings_transcript_text_search"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON recordings_transcript "
        "USING gin (to_tsvector('english'::regconfig, COALESCE(text, ''::text)))"
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("recordings", "0002_transcript")]

    operations = [migrations.RunPython(create, drop)]
