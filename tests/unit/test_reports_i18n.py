"""The admin and the error pages in English and Korean (no Redis, no processes); the reports pages, whose
health banner reads Redis, are in tests/worker/test_reports_pages_i18n.py.

On-commit callbacks never run inside the `db` fixture's transaction, so "Run again" stops at its outbox row.
"""

import pytest
from django.template.loader import render_to_string
from django.test import Client
from django.utils import translation

from accounts.models import EmailDelivery, User
from reports.admin import format_duration
from tests.report_fixtures import EN, KO


def test_admin_index_and_reports_changelist_in_korean(staff_client, done_report):
    index = staff_client.get("/admin/", **KO).content.decode()
    assert '<html lang="ko"' in index and "사이트 관리" in index  # Django's own catalog
    assert "백그라운드 작업" in index and "실패한 메시지" in index and "감사 기록" in index  # the one job section
    assert "보고서" in index and "계정" in index and "사용자" in index and "로그인 보호" in index  # every app's names
    for english in ("Background jobs", "Users", "Axes", "Access attempts"):
        assert english not in index, english

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
