"""A test-only app of `@task` functions (installed by tests/settings.py), so workers started by tests know them."""
