"""The worker tier of the package's tests."""
