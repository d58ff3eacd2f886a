"""The operator's pages in English and Korean: every page of /jobs/ renders in the language the staff user
asked for (Accept-Language), with <html lang>, in a host with no translations of its own; the JSON endpoints
stay English; the package's catalog is checked by tests/unit/test_catalogs.py. (The reference project checks
its own header's language menu, its admin index links and the report workflow page.)"""

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from dramatiq import Message, get_broker

from dramaturg import actions
from dramaturg.models import AuditEntry, BulkAction
from dramaturg.store import dead_letters, delayed
from dramaturg.store.filters import MessageFilter

pytestmark = pytest.mark.django_db


def _waiting_retry(user_id: int, retries: int = 2) -> Message:
    message: Message[Any] = Message(
        queue_name="emails", actor_name="send_health_alert", args=(user_id,), kwargs={}, options={"retries": retries}
    )
    return get_broker().enqueue(message, delay=600_000)


@pytest.fixture
def jobs_data(staff) -> dict[str, str]:
    """A waiting retry, a dead letter (a killed retry) and a bulk action: something on every page."""
    retry = _waiting_retry(1)
    killed = _waiting_retry(2, retries=5)
    actions.perform(
        None, AuditEntry.Action.KILL, "one", refs=[delayed.MessageRef("emails", killed.options["redis_message_id"])]
    )
    [letter] = dead_letters.page_dead(MessageFilter(queue="emails"), limit=5).messages
    staff_user = get_user_model().objects.get(email="ops@example.com")
    bulk = BulkAction.objects.create(user=staff_user, user_email=staff_user.email, action="delete", total=40)
    return {
        "retry_id": retry.message_id,
        "dead_url": f"/jobs/dead/emails/{letter.redis_id}/",
        "dead_ref": letter.ref,
        "bulk_url": f"/jobs/bulk/{bulk.pk}/",
    }


# (url, a Korean text on it, the English it stands for)
PAGES = [
    ("/jobs/", "처리량, 최근 1시간", "Throughput, last hour"),
    ("/jobs/?fragment=1", "가장 오래 대기", "oldest ready"),  # whatever workers other tests left registered
    ("/jobs/queues/emails/", "큐 일시 중지", "Pause the queue"),
    ("/jobs/queues/emails/?tab=delayed", "지연 (", "Delayed ("),
    ("/jobs/dead/", "액터와 예외별", "By actor and exception"),
    ("{dead_url}", "트레이스백", "Traceback"),
    ("/jobs/retries/", "대기 중인 재시도", "Waiting retries"),
    ("/jobs/actors/", "이 기간에 끝난 작업이 없습니다.", "No job has finished in this window."),
    ("/jobs/actors/send_health_alert/?window=day", "최근 1일, 시간 단위", "Last day, by hour"),
    ("/jobs/actors/send_health_alert/", "시도 / 분", "attempts / minute"),
    ("/jobs/messages/?id={retry_id}", "2회 실패 후", "after 2 failed attempts"),
    ("/jobs/messages/?id=no-such-message", "어디에도 없고", "is queued, delayed, running or dead"),
    ("{bulk_url}", "일치하는 메시지 모두 삭제", "Deleted all matching"),
    ("/jobs/schedules/", "예약된 작업", "Scheduled jobs"),
    ("/admin/dramaturg/failedmessage/", "조건에 맞는 데드 레터가 없습니다.", "No dead letters match."),
    ("/admin/dramaturg/auditentry/", "감사 기록", "Audit entries"),
]


@pytest.mark.parametrize(("url", "korean", "english"), PAGES, ids=[p[0] for p in PAGES])
def test_every_operator_page_in_korean_and_english(staff, jobs_data, url, korean, english):
    url = url.format(**jobs_data)
    if url.startswith("/admin/dramaturg/failedmessage/"):
        url += "?exception=NoSuchException"
    ko = staff.get(url, HTTP_ACCEPT_LANGUAGE="ko-KR,ko;q=0.9,en;q=0.5")
    en = staff.get(url, HTTP_ACCEPT_LANGUAGE="en")
    assert ko.status_code == en.status_code == 200
    ko_html, en_html = ko.content.decode(), en.content.decode()
    assert korean in ko_html and english not in ko_html
    assert english in en_html and korean not in en_html
    if "fragment" not in url:
        assert '<html lang="ko"' in ko_html and '<html lang="en"' in en_html
        assert ">데드 레터</a>" in ko_html or url.startswith("/admin/")  # the console's menu


def test_confirm_pages_outcomes_and_counts_in_korean(staff, jobs_data):
    ko = {"HTTP_ACCEPT_LANGUAGE": "ko"}
    dead = staff.post("/jobs/dead/action/", {"op": "requeue:selected", "refs": jobs_data["dead_ref"]}, **ko)
    html = dead.content.decode()
    assert "메시지 1개를 다시 넣을까요?" in html and "네, 다시 넣습니다" in html and '<html lang="ko">' in html
    retries = staff.post("/jobs/retries/action/", {"op": "kill:matching", "queue": "emails"}, **ko).content.decode()
    assert "일치하는 메시지(최대 1개)를 모두 종료할까요?" in retries and "네, 종료합니다" in retries
    english = staff.post("/jobs/retries/action/", {"op": "kill:matching", "queue": "emails"}).content.decode()
    assert "Kill all matching (up to 1)?" in english and "Yes, kill" in english
    done = staff.post(
        "/jobs/dead/action/",
        {"op": "delete:selected", "refs": jobs_data["dead_ref"], "confirm": "yes"},
        follow=True,
        **ko,
    )
    assert "메시지 1개를 삭제했습니다." in done.content.decode()
    paused = staff.post("/jobs/queues/emails/pause/", {"op": "pause"}, follow=True, **ko).content.decode()
    assert "emails 큐를 일시 중지했습니다." in paused
    assert 'data-paused="yes"' in paused and '<span class="pill paused">일시 중지됨</span>' in paused
    assert ">재개</button>" in paused
    unknown = staff.post("/jobs/dead/action/", {"op": "explode:one"}, follow=True, **ko).content.decode()
    assert "알 수 없는 작업입니다." in unknown


def test_the_503_page_in_korean(staff, redis_down):
    response = staff.get("/jobs/", HTTP_ACCEPT_LANGUAGE="ko")
    html = response.content.decode()
    assert response.status_code == 503 and "Redis에 연결할 수 없습니다" in html and '<html lang="ko">' in html


def test_json_endpoints_stay_english_and_machine_readable(staff, jobs_data):
    ko = {"HTTP_ACCEPT_LANGUAGE": "ko"}
    overview = staff.get("/jobs/overview.json", **ko).json()
    assert {"queues", "totals", "throughput", "workers"} == set(overview)
    assert staff.get("/jobs/health", **ko).json()["status"] in ("ok", "failing")
    assert "# HELP jobs_queue_messages" in staff.get("/jobs/metrics", **ko).content.decode()
    progress = staff.get(jobs_data["bulk_url"], {"format": "json"}, **ko).json()
    assert progress["status"] == "queued"  # the page's script shows it through the page's own labels
