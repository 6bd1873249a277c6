"""dj-stripe's schema as one migration (settings.MIGRATION_MODULES points dj-stripe here).

dj-stripe 2.11 ships a long migration history, mostly data migrations for upgrading installations of older
versions; applying it took 287 s on a loaded 2-core machine, paid by every fresh database (each test database,
each end-to-end server, the benchmark). This installation never ran those migrations, so it starts from the schema
they end in: ``makemigrations djstripe`` against dj-stripe 2.11, 14 s to apply. ``billing/tests/test_djstripe_schema.py``
fails when dj-stripe's models and this migration drift apart; after upgrading dj-stripe, run
``manage.py makemigrations djstripe`` and commit what it writes here.
"""
