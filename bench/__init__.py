"""Benchmarks: ``make bench`` (see docs/performance.md). Not part of the product and never imported by it."""
