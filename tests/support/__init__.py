"""Helpers shared by the end-to-end suites (tests/e2e) and the benchmark (bench/); no pytest in here."""
