"""Bad input is a 4xx, never a 500 (issue 19, item 7 and the oversize posts of item 8): page numbers and
cursors parsed strictly on every operator URL, text that is not UTF-8 in every field, addresses no mail
server should be given, bodies too big or with too many fields, and charsets that decode to such text."""

import json

import pytest
from django.core import mail
from django.test import Client
from django.utils import translation

from accounts.models import EmailDelivery, User
from dramaturg.models import OutboxEmail, OutboxMessage
from dramaturg.params import MAX_PAGE
from tests.bad_input import LONE_SURROGATE, UNDELIVERABLE

pytestmark = pytest.mark.django_db

GOOD_PASSWORD = "correct-horse-battery-staple"
# What isdigit() takes and int() refuses ('²'), reads in another script ('٣'), or what Redis refuses.
ODD_NUMBERS = ["²", "1²", "٣", "-1", "1e3", " 1", "1.0", "99999999999999999999", "9" * 5000]


# --- every operator URL that pages ----------------------------------------------------------

PAGED_URLS = [
    "/jobs/queues/default/?page={}",
    "/jobs/queues/default/?page={}&actor=send_welcome_email",
    "/jobs/queues/default/?tab=delayed&cursor={}",
    "/jobs/retries/?cursor={}",
    "/jobs/retries/?cursor={}.{}",
    "/jobs/retries/?cursor=0.{}",
    "/jobs/dead/?older={}:default/1-0",
    "/jobs/dead/?newer={}:default/1-0",
    "/jobs/dead/?older={}",
    "/admin/dramaturg/failedmessage/?older={}:default/1-0",
    "/admin/dramaturg/failedmessage/?newer={}:default/1-0",
]


@pytest.fixture
def staff(clean_redis):
    [user] = User.objects.bulk_create([User(email="ops@example.com", is_staff=True, is_superuser=True)])
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("url", PAGED_URLS)
@pytest.mark.parametrize("number", ODD_NUMBERS)
def test_every_operator_url_answers_odd_page_numbers_and_cursors_with_a_page(staff, url, number):
    response = staff.get(url.replace("{}", number))
    assert response.status_code == 200, response.content[:500]
    assert b"Redis is unreachable" not in response.content


def test_a_huge_page_number_is_the_last_page_served(staff):
    response = staff.get("/jobs/queues/default/?page=99999999999999999999")
    assert response.status_code == 200 and response.context["page"] == MAX_PAGE


@pytest.mark.parametrize("url", ["/reports/99999999999999999999/", "/jobs/bulk/99999999999999999999/"])
def test_huge_ids_in_paths_are_not_found(staff, url):
    assert staff.get(url).status_code in (302, 404)  # the bulk page sends to the overview with a message


# --- text that is not UTF-8, in every field -------------------------------------------------


def api(client, body: bytes | str, **extra):
    return client.post("/api/signup/", data=body, content_type="application/json", **extra)


@pytest.mark.parametrize("field", ["email", "password", "display_name", "language"])
def test_a_lone_surrogate_in_any_api_field_is_a_400_naming_the_field(client, clean_redis, field):
    payload = {"email": "ann@example.com", "password": GOOD_PASSWORD, "display_name": "Ann", "language": "en"}
    payload[field] = "ab" + LONE_SURROGATE + "cd"
    response = api(client, json.dumps(payload))  # JSON escapes it: "\udfff"
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]
    assert not User.objects.exists() and not OutboxMessage.objects.exists()
    assert mail.outbox == [] and not OutboxEmail.objects.exists()


@pytest.mark.parametrize("charset", ["utf-7", "unicode_escape", "raw_unicode_escape", "utf-16"])
@pytest.mark.parametrize("url", ["/accounts/signup/", "/accounts/login/", "/accounts/password-reset/", "/api/signup/"])
def test_a_body_in_a_charset_that_decodes_to_surrogates_is_refused_with_415(client, clean_redis, charset, url):
    body = "email=a%40example.com&password1=%5Cudfff&password2=%5Cudfff&username=a%40example.com&password=%5Cudfff"
    response = client.post(url, data=body, content_type=f"application/x-www-form-urlencoded; charset={charset}")
    assert response.status_code == 415
    if url.startswith("/api/"):
        assert list(response.json()["errors"]) == ["__all__"]
    assert not User.objects.exists()


def test_a_query_string_in_such_a_charset_is_refused_too(staff):
    response = staff.get("/jobs/queues/default/", {"id": "+3/8-"}, CONTENT_TYPE="text/plain; charset=utf-7")
    assert response.status_code == 415


def test_utf8_and_plain_form_posts_are_still_read(client, clean_redis):
    for content_type in ["application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=UTF-8"]:
        body = f"email=b{len(content_type)}%40example.com&password1={GOOD_PASSWORD}&password2={GOOD_PASSWORD}"
        assert client.post("/accounts/signup/", data=body, content_type=content_type).status_code == 302
    assert User.objects.count() == 2


# --- addresses no mail server should be given -------------------------------------------------


@pytest.mark.parametrize("address", UNDELIVERABLE)
def test_the_api_refuses_an_undeliverable_address_with_a_field_error_and_owes_nothing(client, clean_redis, address):
    response = api(client, json.dumps({"email": address, "password": GOOD_PASSWORD}))
    assert response.status_code == 400 and list(response.json()["errors"]) == ["email"]
    assert not User.objects.exists() and not EmailDelivery.objects.exists() and not OutboxMessage.objects.exists()


@pytest.mark.parametrize("address", ['"a\x0bb"@example.com', "x@[127.0.0.1]", "x@localhost"])
def test_the_signup_and_reset_forms_refuse_them_in_english_and_korean(client, clean_redis, address, outbox_mailers):
    User.objects.create_user("x@localhost", GOOD_PASSWORD)  # even a registered one gets no reset mail
    signup = {"email": address, "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD}
    for language, text in [("en", "can receive mail"), ("ko", "메일을 받을 수 있는")]:
        response = client.post("/accounts/signup/", signup, HTTP_ACCEPT_LANGUAGE=language)
        assert response.status_code == 400 and text in response.content.decode()
        response = client.post("/accounts/password-reset/", {"email": address}, HTTP_ACCEPT_LANGUAGE=language)
        assert response.status_code == 200 and text in response.content.decode()
    translation.deactivate()
    assert User.objects.count() == 1 and not OutboxEmail.objects.exists()


# --- bodies Django refuses: too many fields, too big ------------------------------------------


def test_too_many_fields_is_a_400_page_and_no_mail(client, clean_redis, settings):
    settings.DEBUG = False
    body = "&".join(f"f{n}=x" for n in range(2000))
    response = client.post("/accounts/signup/", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400 and b"Bad request" in response.content
    assert mail.outbox == [] and not OutboxEmail.objects.exists()


def test_a_body_over_the_upload_limit_is_a_413_and_no_mail(client, clean_redis, settings):
    settings.DEBUG = False
    body = "email=" + "x" * 3_000_000
    response = client.post("/accounts/login/", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert mail.outbox == [] and not OutboxEmail.objects.exists()


def test_too_many_files_is_a_400_and_no_mail(client, clean_redis, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.DEBUG = False
    files = {f"f{n}": SimpleUploadedFile(f"{n}.txt", b"x") for n in range(120)}
    response = client.post("/accounts/signup/", files)
    assert response.status_code == 400
    assert mail.outbox == [] and not OutboxEmail.objects.exists()
