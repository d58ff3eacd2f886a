"""The integration tier of the package's tests."""
