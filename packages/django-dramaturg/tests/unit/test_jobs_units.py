"""Pure logic of the job store and dashboard, without Redis: references, filters, cursors,
exception typing, previews, requeued bodies, charts and the millisecond clock."""

import json
from datetime import UTC

import pytest

from dramaturg.charts import bar_chart, throughput_chart
from dramaturg.store.dead_letters import (
    DeadGroup,
    DeadLetterRef,
    InvalidReference,
    decode_cursor,
    encode_cursor,
    parse_refs,
    preview_of,
    requeued_body,
)
from dramaturg.store.filters import MessageFilter
from dramaturg.store.messages import NO_EXCEPTION, decode, exception_type_of
from dramaturg.timeutil import from_ms, now_ms


def test_references_parse_once_and_print_back():
    ref = DeadLetterRef.parse("emails/6f1c2a4e-0000-4000-8000-000000000001")
    assert (ref.queue, ref.redis_id) == ("emails", "6f1c2a4e-0000-4000-8000-000000000001")
    assert str(ref) == "emails/6f1c2a4e-0000-4000-8000-000000000001"
    assert DeadLetterRef.parse("emails.XQ/abc") == DeadLetterRef("emails", "abc")  # canonical queue name
    assert DeadLetterRef.of("reports", "abc") == DeadLetterRef.parse("reports/abc")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no-slash",
        "/abc",
        "emails/",
        "1emails/abc",
        "em ails/abc",
        "emails/a b",
        "emails/a/b",
        "emails|x/abc",
        "emails/" + "x" * 201,
    ],
)
def test_malformed_references_raise_a_clear_error(text):
    with pytest.raises(InvalidReference, match="not a dead-letter reference"):
        DeadLetterRef.parse(text)
    with pytest.raises(ValueError):
        parse_refs(["emails/ok", text])


def test_filters_from_parameters_and_back():
    f = MessageFilter.from_params({"queue": " emails ", "actor": "send_welcome_email", "exception": "", "x": "1"})
    assert f == MessageFilter("emails", "send_welcome_email", "")
    assert f.as_params() == {"queue": "emails", "actor": "send_welcome_email"} and f.by_group
    assert MessageFilter.from_params({}) == MessageFilter() and not MessageFilter(queue="q").by_group
    group = DeadGroup("emails", "send_welcome_email", "SMTPDataError", 3)
    assert f.matches(group) and MessageFilter().matches(group)
    assert not MessageFilter(exception="TypeError").matches(group)
    assert not MessageFilter(queue="reports").matches(group)


def test_cursors_round_trip_and_garbage_means_the_first_page():
    ref = DeadLetterRef("emails", "abc-1")
    assert encode_cursor(1_700_000_000_123, ref) == "1700000000123:emails/abc-1"
    assert decode_cursor(encode_cursor(1_700_000_000_123, ref)) == (1_700_000_000_123, ref)
    for garbage in (None, "", "garbage", "12:no-slash", "-5:emails/abc", "x:emails/abc", "12:1bad/abc"):
        assert decode_cursor(garbage) is None, garbage


def test_exception_type_comes_from_options_then_traceback_then_a_default():
    assert exception_type_of({"options": {"exception_type": "SMTPDataError"}}) == "SMTPDataError"
    traceback = "Traceback (most recent call last):\n  File ...\nsmtplib.SMTPDataError: (554, b'no')\n"
    assert exception_type_of({"options": {"traceback": traceback}}) == "SMTPDataError"
    assert exception_type_of({"options": {"traceback": "-- 42 --"}}) == NO_EXCEPTION
    assert exception_type_of({}) == NO_EXCEPTION


def test_decode_keeps_undecodable_bodies_visible():
    assert decode(None) is None
    assert decode(b'{"actor_name": "a"}') == {"actor_name": "a"}
    assert decode(b"{not json")["undecodable"] == "{not json"
    assert decode(b"[1, 2]")["undecodable"] == "[1, 2]"


def test_previews_are_bounded_and_masked():
    data = {
        "message_id": "m1",
        "actor_name": "import_contacts",
        "args": ["x" * 2_000_000],
        "kwargs": {"api_token": "t0k"},
        "options": {"retries": 3, "exception_type": "ValueError", "dead_letter_reason": "ValueError: " + "y" * 5000},
    }
    preview = preview_of(data, 2_000_100)
    assert len(json.dumps(preview)) < 1000
    assert preview["args"].startswith('("xxx') and len(preview["args"]) <= 200 and "t0k" not in json.dumps(preview)
    assert (preview["exception"], preview["retries"], preview["size"]) == ("ValueError", 3, 2_000_100)


def test_a_requeued_body_keeps_the_id_and_drops_the_death_details():
    data = {
        "queue_name": "emails.XQ",
        "message_id": "m1",
        "args": [1],
        "options": {
            "retries": 8,
            "traceback": "...",
            "dead_letter_reason": "r",
            "exception_type": "E",
            "dead_lettered_at": 1,
            "eta": 2,
            "redis_message_id": "r1",
        },
    }
    body = json.loads(requeued_body(data, now=123))
    assert body["message_id"] == "m1" and body["queue_name"] == "emails" and body["args"] == [1]
    assert body["options"] == {"redis_message_id": "r1", "requeued_at": 123}


def test_bar_chart_geometry():
    chart = bar_chart(
        [("a", (2, 2)), ("b", (0, 0)), ("c", (1, 0))], [("processed", "ok"), ("failed", "bad")], width=300, height=100
    )
    assert chart.max_value == 4 and len(chart.bars) == 3
    [(_, h1, css1, v1), (y2, h2, css2, v2)] = chart.bars[0].segments
    assert (h1, h2, css1, css2, v1, v2) == (50.0, 50.0, "ok", "bad", 2, 2) and y2 == 0.0
    assert bar_chart([], [("x", "ok")]).max_value == 1  # an empty chart still draws


def test_throughput_chart_labels_minutes_in_the_current_time_zone(settings):
    settings.TIME_ZONE = "UTC"
    chart = throughput_chart([(29_000_000 + i, i, 0) for i in range(60)])
    assert chart.bars[0].label == "21:20" and sum(b.show_label for b in chart.bars) == 12


def test_millisecond_clock():
    assert abs(now_ms() - from_ms(now_ms()).timestamp() * 1000) < 1000
    assert from_ms(0).astimezone(UTC).year == 1970 and from_ms(None) is None and from_ms("") is None
