"""The unit tier of the package's tests."""
