"""Pure logic of the operator's view, without Redis: histogram quantiles, charts, readable
durations, the metrics token, health lines and the Prometheus rendering of a snapshot."""

from datetime import timedelta

from django.test import RequestFactory
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from dramaturg.banner import Kept
from dramaturg.charts import _nice_ticks, duration_label, line_chart, sparkline
from dramaturg.decorators import bearer_token_matches
from dramaturg.health import Problem
from dramaturg.monitoring import OutboxBacklog, QueueState, Snapshot
from dramaturg.prometheus import render
from dramaturg.store.actor_metrics import BUCKETS_MS, ActorCounts, bucket_of, parse
from dramaturg.store.delayed import KILLED, KILLED_REASON, killed_body, retried_now_body
from dramaturg.store.filters import MessageFilter
from dramaturg.store.messages import StoredMessage
from dramaturg.store.queues import QueueCounts
from dramaturg.templatetags.dramaturg_tags import seconds_label
from harness.dramaturg_settings import set_dramaturg


def test_runtime_buckets_and_quantiles_interpolate_like_prometheus():
    assert bucket_of(0.4) == 0 and bucket_of(1) == 0 and bucket_of(1.1) == 1 and bucket_of(10**9) == len(BUCKETS_MS)
    counts = ActorCounts()
    for ms in [300] * 90 + [2000] * 10:
        counts.observe(ms, failed=False)
    assert counts.finished == 100 and counts.processed == 100 and counts.mean_ms == 470
    assert 250 < counts.quantile(0.5) < 500  # in the 250-500 ms bucket
    assert 1000 < counts.quantile(0.99) <= 2500
    assert ActorCounts().quantile(0.5) is None
    slow = ActorCounts()
    slow.observe(10**7, failed=True)
    assert slow.quantile(0.5) == BUCKETS_MS[-1] and slow.failed == 1


def test_counts_round_trip_through_hash_fields():
    counts = ActorCounts(processed=3, failed=1, retried=1, dead=0)
    counts.observe(12, failed=False)
    raw = {f"send|{k}".encode(): str(v).encode() for k, v in counts.fields().items()}
    raw[b"other|p"] = b"7"
    back = parse(raw)
    assert back["send"].processed == 4 and back["send"].retried == 1 and back["send"].buckets == counts.buckets
    assert parse(raw, only="other")["other"].processed == 7 and "send" not in parse(raw, only="other")
    total = ActorCounts()
    total.add(back["send"])
    total.add(back["send"])
    assert total.processed == 8 and total.finished == 2


def test_line_chart_has_axes_units_time_zone_and_deploy_markers(settings):
    settings.TIME_ZONE = "UTC"
    times = [i * 60_000 for i in range(60)]
    chart = line_chart(
        times,
        [("p95", "p95", [None] * 10 + [float(i) for i in range(50)])],
        unit="runtime, ms",
        markers=[(30 * 60_000, "v2"), (10**12, "far away")],
    )
    assert chart.unit == "runtime, ms" and chart.x_title == "time (UTC)"
    assert chart.y_ticks[0][1] == "0" and chart.y_ticks[-1][0] == 0.0
    assert len(chart.lines[0].segments) == 1 and chart.x_ticks[0][1] == "00:00"
    assert [m.label for m in chart.markers] == ["v2"] and chart.markers[0].x == 360.0
    assert _nice_ticks(7) == [0, 2, 4, 6] and _nice_ticks(0) == [0]
    assert sparkline([0, 0]).peak == 0 and sparkline([1, 3]).points.endswith(",1.0")


def test_readable_durations_and_ages():
    assert [duration_label(v) for v in (None, 0.3, 850, 2500, 192_000)] == ["–", "<1 ms", "850 ms", "2.5 s", "3.2 min"]
    assert [seconds_label(v) for v in (None, 45, 600, 7200, 3 * 86_400)] == ["–", "45 s", "10 min", "2.0 h", "3 d"]


def test_metrics_token_is_checked_only_when_configured(settings):
    factory = RequestFactory()
    set_dramaturg(settings, "CONSOLE", METRICS_TOKEN="s3cret")
    assert bearer_token_matches(factory.get("/")) is None
    assert bearer_token_matches(factory.get("/", HTTP_AUTHORIZATION="Bearer s3cret")) is True
    assert bearer_token_matches(factory.get("/", HTTP_AUTHORIZATION="bearer s3cret ")) is True
    assert bearer_token_matches(factory.get("/", HTTP_AUTHORIZATION="Bearer nope")) is False
    assert bearer_token_matches(factory.get("/", HTTP_AUTHORIZATION="Token s3cret")) is False
    set_dramaturg(settings, "CONSOLE", METRICS_TOKEN="")
    assert bearer_token_matches(factory.get("/", HTTP_AUTHORIZATION="Bearer ")) is False


def test_retry_now_and_kill_bodies():
    data = {
        "queue_name": "emails.DQ",
        "actor_name": "a",
        "args": [1],
        "kwargs": {},
        "message_id": "m",
        "options": {"eta": 5, "retries": 2, "redis_message_id": "r"},
    }
    import json

    now = json.loads(retried_now_body(data, 100))
    assert now["queue_name"] == "emails" and "eta" not in now["options"] and now["options"]["retries"] == 2
    assert now["options"]["ready_at"] == 100
    dead = json.loads(killed_body(data, 100))
    assert dead["options"]["dead_letter_reason"] == KILLED_REASON and dead["options"]["exception_type"] == KILLED
    message = StoredMessage("r", "emails", data)
    assert MessageFilter().matches_retry(message) and not MessageFilter(actor="b").matches_retry(message)
    assert not MessageFilter().matches_retry(StoredMessage("r", "emails", {**data, "options": {}}))
    assert MessageFilter.from_params({"queue": " emails.DQ ", "x": 1}) == MessageFilter("emails", "")


def test_prometheus_text_of_a_snapshot_parses_and_labels_every_series():
    now = timezone.now()
    counts = ActorCounts(retried=1, dead=2)
    counts.observe(30, failed=False)
    counts.observe(4000, failed=True)
    snapshot = Snapshot(
        queues=[QueueState(QueueCounts("emails", 3, 1, 2, 4), 1_000, True, 2, 1, 61_000)],
        workers=[],
        actors={"send_health_alert": counts},
        outbox=[OutboxBacklog("emails", 5, now - timedelta(seconds=30))],
        taken_at=now,
    )
    families = {f.name: f for f in text_string_to_metric_families(render(snapshot).decode())}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    assert samples[("jobs_queue_messages", (("queue", "emails"), ("state", "in_progress")))] == 2
    assert samples[("jobs_queue_oldest_ready_age_seconds", (("queue", "emails"),))] == 60
    assert samples[("jobs_queue_paused", (("queue", "emails"),))] == 1
    assert samples[("jobs_workers", (("queue", "emails"), ("state", "lost")))] == 1
    assert samples[("jobs_actor_dead_total", (("actor", "send_health_alert"), ("queue", "emails")))] == 2
    runtime = {
        float(s.labels["le"]): s.value
        for s in families["jobs_actor_runtime_seconds"].samples
        if s.name.endswith("_bucket")
    }
    assert runtime[0.025] == 0 and runtime[0.05] == 1 and runtime[2.5] == 1 and runtime[5] == 2
    assert runtime[float("inf")] == 2
    assert samples[("jobs_outbox_oldest_pending_age_seconds", (("queue", "emails"),))] >= 30
    for family in families.values():
        for sample in family.samples:
            assert "queue" in sample.labels or "actor" in sample.labels, sample


def test_problems_print_one_line_each():
    assert Problem("no_worker", "reports", "3 ready").line() == "no_worker reports: 3 ready"


def test_the_banners_checks_are_kept_for_their_time_then_run_again():
    runs: list[int] = []

    def run() -> int:
        runs.append(len(runs))
        return len(runs)

    kept = Kept(run, 10.0)
    assert [kept.get(now=100.0), kept.get(now=105.0), kept.get(now=109.9)] == [1, 1, 1]
    assert kept.get(now=110.0) == 2 and len(runs) == 2
