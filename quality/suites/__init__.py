"""Expectation suites: one per raw lake table, staging table and main model (see quality/checks.py)."""
