"""The console's times: with their zone and how long ago (or ahead), in English and Korean."""

from datetime import timedelta

from django.utils import timezone, translation

from dramaturg.templatetags.dramaturg_tags import reason_label, relative, when
from dramaturg.timeutil import now_ms


def test_relative_says_how_long_ago_or_ahead_in_both_languages():
    now = timezone.now()
    with translation.override("en"):
        assert relative(now - timedelta(minutes=3)) == "3 min ago"
        assert relative(now + timedelta(seconds=45)) == "in 45 s"
        assert relative(now_ms() - 2 * 3600 * 1000) == "2.0 h ago"  # epoch milliseconds, as the store keeps times
        assert relative(None) == ""
    with translation.override("ko"):
        assert relative(now - timedelta(minutes=3)) == "3분 전"
        assert relative(now + timedelta(seconds=45)) == "45초 후"


def test_when_gives_the_time_with_its_zone_and_how_long_ago():
    moment = timezone.now() - timedelta(minutes=12)
    with translation.override("ko"):
        html = when(moment)
    local = timezone.localtime(moment)
    assert f'<time datetime="{local.isoformat(timespec="seconds")}">{local:%Y-%m-%d %H:%M:%S} KST</time>' in html
    assert "12분 전" in html
    assert when("") == "" and when(None) == ""


def test_the_operators_kill_reason_reads_in_the_pages_language():
    with translation.override("ko"):
        assert reason_label("killed by an operator") == "운영자가 종료함"
        assert reason_label("SMTPDataError: 554") == "SMTPDataError: 554"
