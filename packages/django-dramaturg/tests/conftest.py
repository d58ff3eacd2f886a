"""The package's tests run in the host project (tests/host) with the harness's real parts (tests/harness)."""

pytest_plugins = ["harness.fixtures"]
