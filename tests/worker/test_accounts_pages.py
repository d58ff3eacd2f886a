"""Accounts users can use: sign in and out, the account page and "send again", password reset through the
outbox, the dev admin, both languages on every account page; times with their zone, durations in the admin."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.template import Context, Template
from django.test import Client
from django.utils import timezone

from accounts.models import EmailDelivery, LoginEvent, User
from dramaturg.mail.outbox import build
from dramaturg.models import OutboxEmail, OutboxMessage
from reports.admin import format_duration

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def ann(clean_redis) -> User:
    return User.objects.create_user("ann@example.com", PASSWORD, display_name="Ann")


def sign_in(client: Client, email: str, password: str = PASSWORD, **extra):
    return client.post("/accounts/login/", {"username": email, "password": password}, **extra)


def welcome_of(user: User) -> EmailDelivery:
    return EmailDelivery.objects.get(user=user)


# --- signing in and out ---------------------------------------------------------------------------


def test_sign_in_records_a_login_and_opens_the_account_page(client, ann):
    assert client.get("/accounts/").status_code == 302  # anonymous: to the sign-in page
    response = sign_in(client, "ANN@example.com")
    assert response.status_code == 302 and response["Location"] == "/accounts/"
    assert LoginEvent.objects.filter(user=ann).count() == 1
    page = client.get("/accounts/").content.decode()
    assert "ann@example.com" in page and 'id="welcome-state" data-state="queued"' in page


def test_wrong_password_is_a_form_error_and_no_login(client, ann):
    response = sign_in(client, "ann@example.com", "wrong-password")
    assert response.status_code == 200
    assert "Please enter a correct email address and password" in response.content.decode()
    assert not LoginEvent.objects.exists()


def test_sign_in_switches_the_pages_to_the_users_language(client, clean_redis):
    User.objects.create_user("minji@example.com", PASSWORD, language="ko")
    response = sign_in(client, "minji@example.com")
    assert response.cookies["django_language"].value == "ko"
    assert "내 계정" in client.get("/accounts/").content.decode()


def test_sign_out_is_a_post(client, ann):
    client.force_login(ann)
    assert client.get("/accounts/logout/").status_code == 405  # a link cannot sign anyone out
    response = client.post("/accounts/logout/")
    assert response.status_code == 200 and "You are signed out." in response.content.decode()
    assert client.get("/accounts/").status_code == 302


# --- the account page -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, state, text",
    [
        ({}, "queued", "On its way"),
        ({"status": "sending", "attempts": 1}, "sending", "Being sent"),
        ({"attempts": 2, "last_error": "SMTPServerDisconnected: x"}, "retrying", "2 attempts so far"),
        (
            {"status": "sent", "attempts": 1, "sent_at": datetime(2026, 3, 1, 3, 4, 5, tzinfo=UTC)},
            "sent",
            "2026-03-01 12:04:05 KST",
        ),
        ({"status": "failed", "attempts": 9, "last_error": "SMTPDataError: 554"}, "failed", "Could not be delivered"),
    ],
)
def test_account_page_shows_where_the_welcome_email_is(client, ann, change, state, text):
    EmailDelivery.objects.filter(user=ann).update(**change)
    client.force_login(ann)
    page = client.get("/accounts/").content.decode()
    assert f'data-state="{state}"' in page and text in page
    assert ('id="send-again"' in page) == (state == "failed")


def test_send_again_requeues_a_failed_welcome_email_once_through_the_outbox(client, ann, settings):
    settings.WELCOME_EMAIL_RESEND_INTERVAL_S = 300
    EmailDelivery.objects.filter(user=ann).update(status="failed", attempts=4, last_error="SMTPDataError: 554")
    client.force_login(ann)
    jobs_before = OutboxMessage.objects.filter(actor_name="send_welcome_email").count()
    response = client.post("/accounts/welcome-email/send-again/", follow=True)
    assert "on its way again" in response.content.decode()
    assert welcome_of(ann).status == "pending"
    assert OutboxMessage.objects.filter(actor_name="send_welcome_email").count() == jobs_before + 1
    # It fails again at once: "send again" waits out the interval (a double click is one job too).
    EmailDelivery.objects.filter(user=ann).update(status="failed")
    page = client.get("/accounts/").content.decode()
    assert 'id="send-again"' not in page and 'id="send-again-later"' in page
    response = client.post("/accounts/welcome-email/send-again/", follow=True)
    assert "cannot be sent again right now" in response.content.decode()
    assert OutboxMessage.objects.filter(actor_name="send_welcome_email").count() == jobs_before + 1
    EmailDelivery.objects.filter(user=ann).update(resend_requested_at=timezone.now() - timedelta(seconds=301))
    client.post("/accounts/welcome-email/send-again/")
    assert OutboxMessage.objects.filter(actor_name="send_welcome_email").count() == jobs_before + 2


def test_send_again_never_resends_a_sent_email(client, ann):
    EmailDelivery.objects.filter(user=ann).update(status="sent", sent_at=timezone.now())
    client.force_login(ann)
    assert client.get("/accounts/welcome-email/send-again/").status_code == 405
    client.post("/accounts/welcome-email/send-again/")
    assert welcome_of(ann).status == "sent"


def test_account_page_saves_name_and_language(client, ann):
    client.force_login(ann)
    response = client.post("/accounts/", {"display_name": "Ann Lee", "language": "ko"})
    assert response.status_code == 302 and response.cookies["django_language"].value == "ko"
    ann.refresh_from_db()
    assert (ann.display_name, ann.language) == ("Ann Lee", "ko")
    bad = client.post("/accounts/", {"display_name": "x", "language": "fr"})
    assert bad.status_code == 400 and "올바르게 선택해 주세요" in bad.content.decode()  # in the chosen language


# --- password reset ---------------------------------------------------------------------------------


def decide_resets() -> None:
    """What a worker does with the reset requests recorded in the outbox: decide whom to email."""
    from accounts.tasks import decide_password_reset

    for row in OutboxMessage.objects.filter(actor_name="decide_password_reset"):
        decide_password_reset(*row.args)
    OutboxMessage.objects.filter(actor_name="decide_password_reset").delete()


def test_password_reset_is_decided_by_a_worker_and_owed_through_the_outbox(client, ann, settings, outbox_mailers):
    settings.PASSWORD_RESET_EMAIL_INTERVAL_S = 300
    known = client.post("/accounts/password-reset/", {"email": "Ann@Example.com"})
    unknown = client.post("/accounts/password-reset/", {"email": "nobody@example.com"})
    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    assert known["Location"] == "/accounts/password-reset/sent/"
    assert outbox_mailers.received() == []  # nothing sent in the request
    # The same work in the request for both: one job carrying the normalised address, nothing else.
    jobs = OutboxMessage.objects.filter(actor_name="decide_password_reset").order_by("id")
    assert [row.args for row in jobs] == [["ann@example.com"], ["nobody@example.com"]]
    assert not OutboxEmail.objects.exists()
    decide_resets()
    [email] = OutboxEmail.objects.all()  # plain Django mail, recorded by the outbox backend with its job
    assert email.to == ["ann@example.com"] and email.status == "pending"
    assert OutboxMessage.objects.filter(actor_name="send_outbox_email", args=[email.pk]).count() == 1
    for _ in range(3):  # throttled per user: nobody can mail-bomb the owner through the form
        client.post("/accounts/password-reset/", {"email": "ann@example.com"})
    decide_resets()
    assert OutboxEmail.objects.count() == 1


def test_no_reset_email_for_inactive_accounts_or_accounts_without_a_password(client, clean_redis, outbox_mailers):
    User.objects.create_user("gone@example.com", PASSWORD, is_active=False)
    User.objects.create_user("nopass@example.com", None)
    for email in ("gone@example.com", "nopass@example.com"):
        assert client.post("/accounts/password-reset/", {"email": email}).status_code == 302
    decide_resets()
    assert not OutboxEmail.objects.exists()


def test_the_reset_link_in_the_email_sets_a_new_password_once(client, ann, settings, outbox_mailers):
    settings.SITE_URL = "https://accounts.example.org"
    settings.ALLOWED_HOSTS = ["*"]  # even a site that accepts any Host header builds no link from it
    client.post("/accounts/password-reset/", {"email": "ann@example.com"}, HTTP_HOST="evil.example.net")
    decide_resets()
    email = build(OutboxEmail.objects.get())  # the message as the worker will send it
    assert email.subject == "Reset your password at Dramatiq Reference Project"
    assert "Hello Ann," in email.body and "evil" not in email.body  # links from SITE_URL, not the Host header
    link = re.search(r"https://accounts\.example\.org(/accounts/password-reset/\S+/)", email.body).group(1)
    assert link in email.alternatives[0][0]
    form = client.get(link, follow=True)
    assert form.status_code == 200 and 'id="set-password-form"' in form.content.decode()
    set_url = form.redirect_chain[-1][0]
    done = client.post(set_url, {"new_password1": "brand-new-horse-42", "new_password2": "brand-new-horse-42"})
    assert done["Location"] == "/accounts/password-reset/done/"
    assert User.objects.get(pk=ann.pk).check_password("brand-new-horse-42")
    assert 'id="invalid-link"' in client.get(link, follow=True).content.decode()  # used once


# --- the dev admin ----------------------------------------------------------------------------------


def test_dev_admin_gets_no_welcome_email_and_is_no_signup(clean_redis, settings):
    from reports.metrics import chunk_metrics
    from reports.periods import today

    settings.DEBUG = True
    call_command("ensure_dev_admin")
    admin = User.objects.get(email="admin@example.com")
    assert admin.is_superuser and admin.check_password("admin")
    assert not EmailDelivery.objects.filter(user=admin).exists() and not OutboxMessage.objects.exists()
    User.objects.create_user("real@example.com", PASSWORD)
    LoginEvent.objects.create(user=admin, at=timezone.now())
    figures = chunk_metrics(today(), 0, 10**9)
    assert figures["signups"] == 1 and figures["logins"] == 0


# --- pages in both languages ------------------------------------------------------------------------

PAGES = [
    "/",
    "/accounts/signup/",
    "/accounts/login/",
    "/accounts/password-reset/",
    "/accounts/password-reset/sent/",
    "/accounts/signup/done/",
    "/accounts/password-reset/done/",
]


@pytest.mark.parametrize("url", PAGES)
def test_every_account_page_in_english_and_korean(client, url):
    english = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    korean = client.get(url, HTTP_ACCEPT_LANGUAGE="ko-KR,ko;q=0.9,en;q=0.5").content.decode()
    assert '<html lang="en">' in english and "Sign in" in english
    assert '<html lang="ko">' in korean and "로그인" in korean and "Sign in" not in korean


def test_account_page_in_korean(client, ann):
    client.force_login(ann)
    page = client.get("/accounts/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "환영 이메일" in page and "보내는 중" in page and "로그아웃" in page


def test_signup_form_errors_in_korean_and_the_language_is_stored(client, clean_redis):
    bad = client.post(
        "/accounts/signup/", {"email": "nope", "password1": "a", "password2": "b"}, HTTP_ACCEPT_LANGUAGE="ko"
    )
    assert bad.status_code == 400 and "올바른 이메일 주소를 입력하세요." in bad.content.decode()
    # The form is preset to the page's language, and the choice is stored with the user.
    assert '<option value="ko" selected>' in client.get("/accounts/signup/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    client.post(
        "/accounts/signup/",
        {
            "email": "minji@example.com",
            "display_name": "김민지",
            "language": "ko",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert User.objects.values_list("language", "display_name").get() == ("ko", "김민지")


def test_language_menu_sets_the_language(client):
    response = client.post("/i18n/setlang/", {"language": "ko", "next": "/accounts/login/"})
    assert response["Location"] == "/accounts/login/"
    assert "로그인" in client.get("/accounts/login/").content.decode()


def test_home_links_to_dashboard_and_reports_for_staff_only(client, clean_redis):
    assert "/jobs/" not in client.get("/").content.decode()
    [staff] = User.objects.bulk_create([User(email="ops@example.com", is_staff=True)])
    client.force_login(staff)
    page = client.get("/").content.decode()
    assert 'href="/jobs/"' in page and 'href="/reports/"' in page


# --- times and durations ----------------------------------------------------------------------------


def test_times_carry_their_zone():
    moment = datetime(2026, 11, 25, 7, 20, 1, tzinfo=UTC)
    render = Template('{{ t|with_zone }} / {{ t|with_zone:"H:i" }} / [{{ none|with_zone }}]').render
    assert render(Context({"t": moment, "none": None})) == "2026-11-25 16:20:01 KST / 16:20 KST / []"
    with timezone.override("Europe/Berlin"):
        assert render(Context({"t": moment})).startswith("2026-11-25 08:20:01 CET")


@pytest.mark.parametrize(
    "seconds, text",
    [(None, "-"), (0.8412, "0.84 s"), (12.34, "12.3 s"), (60.209452, "1 min 0.2 s"), (7384, "2 h 3 min")],
)
def test_durations_are_formatted_in_the_admin(seconds, text):
    assert format_duration(seconds) == text


def test_a_password_reset_email_is_sent_at_most_once_per_interval(ann, outbox_mailers):
    from accounts.tasks import send_password_reset

    assert send_password_reset(ann.pk) is True
    assert send_password_reset(ann.pk) is False  # within PASSWORD_RESET_EMAIL_INTERVAL_S
    [email] = OutboxEmail.objects.all()
    assert email.headers["Message-ID"].startswith("<password-reset-")
