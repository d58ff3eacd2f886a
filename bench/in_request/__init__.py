"""A bench-only app: the welcome email sent inside the signup request, the slow way that
bench/run.py compares the outbox against. Installed only by bench.settings_in_request."""
