"""The unit tier: no Redis and no process. A unit test that opens a Redis connection or starts a
process fails, naming what it did; such a test belongs in tests/worker or tests/integration."""

from harness.unit_tier import unit_tier_rule  # noqa: F401  (an autouse fixture)
