"""The reports pages, the admin and the error pages in English and Korean (no Redis, no processes).

A finished report is made the way tests/unit/test_reports_unit.py makes figures (chunk parts merged);
on-commit callbacks never run inside the `db` fixture's transaction, so "Run again" stops at its
outbox row.
"""

from datetime import date

import pytest
from django.template.loader import render_to_string
from django.test import Client
from django.utils import translation

from accounts.models import EmailDelivery, User
from reports import metrics
from reports.admin import format_duration
from reports.models import Report
from tests.unit.test_reports_unit import part

KO = {"HTTP_ACCEPT_LANGUAGE": "ko-KR,ko;q=0.9,en;q=0.5"}
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture
def staff_client(db) -> Client:
    [staff] = User.objects.bulk_create([User(email="analyst@example.com", is_staff=True, is_superuser=True)])
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def done_report(db) -> Report:
    result = metrics.merge(
        [part(signups=5, sent=4, failed=1, delays={3: 2, 45: 2}, logins=7, active=3, cohort=4, retained=2, hour=9)]
    )
    return Report.objects.create(
        kind=Report.Kind.DAILY,
        period_start=date(2026, 3, 8),
        status=Report.Status.DONE,
        chunks_total=1,
        chunks_done=1,
        duration_s=1.5,
        result=result,
    )


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


def test_admin_index_and_reports_changelist_in_korean(staff_client, done_report):
    index = staff_client.get("/admin/", **KO).content.decode()
    assert '<html lang="ko"' in index and "사이트 관리" in index  # Django's own catalog
    assert "<caption>작업 시스템</caption>" in index and "실패한 메시지" in index and "큐, 워커, 처리량" in index
    assert "보고서" in index and "계정" in index  # the apps' verbose names

    changelist = staff_client.get("/admin/reports/report/", **KO).content.decode()
    for text in ("다시 실행 (선택한 보고서를 다시 계산)", "기간 시작일", "소요 시간", "일간 활동", "완료", "1.50초"):
        assert text in changelist, text
    english = staff_client.get("/admin/reports/report/", **EN).content.decode()
    assert "Run again (recompute the selected reports)" in english and "1.50 s" in english

    again = staff_client.post(
        "/admin/reports/report/", {"action": "run_again", "_selected_action": [done_report.pk]}, follow=True, **KO
    )
    assert "보고서 1개를 다시 대기열에 넣었습니다." in again.content.decode()


def test_accounts_admin_in_korean(staff_client):
    user = User.objects.get()
    EmailDelivery.objects.create(user=user, status=EmailDelivery.Status.SENT)
    page = staff_client.get("/admin/accounts/emaildelivery/", **KO).content.decode()
    assert "이메일 발송" in page and "시도 횟수" in page and "보낸 시각" in page
    assert f"사용자 {user.pk}에게 보내는 환영 이메일 (보냄)" in page
    assert "개인 정보" in staff_client.get(f"/admin/accounts/user/{user.pk}/change/", **KO).content.decode()


def test_error_pages_in_korean(staff_client, db):
    missing = staff_client.get("/no-such-page/", **KO)
    assert missing.status_code == 404 and "페이지를 찾을 수 없습니다" in missing.content.decode()
    assert '<html lang="ko">' in missing.content.decode()
    assert "Page not found" in staff_client.get("/no-such-page/", **EN).content.decode()
    [member] = User.objects.bulk_create([User(email="member@example.com")])
    client = Client()
    client.force_login(member)
    denied = client.get("/reports/", **KO)
    assert denied.status_code == 403 and "접근할 수 없습니다" in denied.content.decode()
    with translation.override("ko"):
        assert "서버 오류" in render_to_string("500.html")


@pytest.mark.parametrize(
    "seconds, text", [(0.8412, "0.84초"), (12.34, "12.3초"), (60.209452, "1분 0.2초"), (7384, "2시간 3분")]
)
def test_durations_in_korean(seconds, text):
    with translation.override("ko"):
        assert format_duration(seconds) == text
