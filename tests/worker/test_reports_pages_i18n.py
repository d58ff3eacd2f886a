"""The reports pages in English and Korean. They are console pages (dramaturg/base.html), whose health banner
reads Redis: hence the worker tier (a Redis server); the admin and error pages stay in tests/unit."""

from datetime import date

import pytest

from reports.models import Report
from tests.report_fixtures import EN, KO

pytestmark = pytest.mark.usefixtures("clean_redis")


def test_report_page_in_korean_and_english(staff_client, done_report):
    korean = staff_client.get(f"/reports/{done_report.pk}/", **KO).content.decode()
    assert '<html lang="ko">' in korean
    assert "<h1>일간 활동 2026-03-08</h1>" in korean and '<b id="status">완료</b>' in korean
    for text in ("환영 이메일 지연 시간", "7일 재방문율", "시간대별 가입", "시간대별 로그인", "청크 1/1개", "1.5초"):
        assert text in korean, text
    assert '<th>시각</th><th class="num">가입</th><th class="num">로그인</th>' in korean  # the hours table
    assert "<td>3초</td><td>45초</td><td>45초</td>" in korean  # median, p95, max
    assert "4명 중 2명이 다시 방문했습니다" in korean
    # Charts: unit, axis title, bucket labels and the bars' tooltips.
    assert '<text x="4" y="12">가입</text>' in korean and "시각 (Asia/Seoul)</text>" in korean
    assert "가입부터 환영 이메일까지 걸린 시간(초)" in korean and "0~10초" in korean and "09: 5 가입" in korean
    assert "Signups per hour" not in korean and "Done" not in korean

    english = staff_client.get(f"/reports/{done_report.pk}/", **EN).content.decode()
    assert '<html lang="en">' in english and "<h1>Daily activity 2026-03-08</h1>" in english
    assert '<b id="status">Done</b>' in english and "1/1 chunk" in english and "Signups per hour" in english
    assert "hour of the day (Asia/Seoul)" in english and "0-10s" in english and "2 of 4 came back" in english
    assert "환영" not in english


def test_report_list_and_its_empty_state_in_korean(staff_client, done_report):
    korean = staff_client.get("/reports/", **KO).content.decode()
    assert '<html lang="ko">' in korean and "<h1>보고서</h1>" in korean
    assert "<th>상태</th>" in korean and "일간 활동 2026-03-08</a></td><td>완료</td>" in korean
    assert "<h1>Reports</h1>" in staff_client.get("/reports/", **EN).content.decode()
    Report.objects.all().delete()
    assert "아직 보고서가 없습니다." in staff_client.get("/reports/", **KO).content.decode()


def test_a_running_report_says_its_figures_come_later(staff_client):
    report = Report.objects.create(kind=Report.Kind.WEEKLY, period_start=date(2026, 3, 2), status="running")
    page = staff_client.get(f"/reports/{report.pk}/", **KO).content.decode()
    assert (
        "주간 요약 2026-03-02" in page and "실행 중" in page and "보고서가 완료되면 여기에 수치가 표시됩니다." in page
    )
