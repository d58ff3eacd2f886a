"""The rules behind issue 19's bad-input rows, without Redis: the one parser of page numbers and cursors,
the UTF-8 check of every account form's fields, the addresses a mail server is given, and the 400/413
answers to bodies Django refuses."""

import json

import pytest

from accounts.forms import (
    AccountForm,
    ApiSignupForm,
    LoginForm,
    OutboxPasswordResetForm,
    ResetSetPasswordForm,
    SignupForm,
)
from accounts.models import User
from accounts.validators import validate_deliverable_email
from jobs.params import MAX_REDIS_CURSOR, natural
from jobs.store.dead_letters import decode_cursor
from jobs.store.delayed import _decode as decode_retry_cursor
from tests.bad_input import DELIVERABLE, LONE_SURROGATE, UNDELIVERABLE

GOOD_PASSWORD = "correct-horse-battery-staple"

# --- the one parser --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, 0),
        ("", 0),
        ("0", 0),
        ("7", 7),
        ("007", 7),
        ("²", 0),
        ("٣", 0),
        ("-1", 0),
        ("1e3", 0),
        (" 1", 0),
        ("100", 100),
        ("101", 100),
        ("99999999999999999999", 100),
        ("9" * 5000, 100),
        ("0" * 5000 + "5", 5),
    ],
)
def test_natural_reads_ascii_digits_only_and_clamps_to_its_bound(text, expected):
    assert natural(text, maximum=100) == expected


def test_cursors_decode_strictly_and_within_bounds():
    assert decode_retry_cursor("1.²") == (0, 0)
    assert decode_retry_cursor("².1") == (0, 0)
    assert decode_retry_cursor("2.99999999999999999999999") == (2, MAX_REDIS_CURSOR)
    assert decode_cursor("²:default/1-0") is None
    assert decode_cursor("٣:default/1-0") is None
    score, ref = decode_cursor("9" * 5000 + ":default/1-0")
    assert score == 2**53 and str(ref) == "default/1-0"


SURROGATE_FORMS = [
    (SignupForm, {"email": "a@example.com", "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD}),
    (ApiSignupForm, {"email": "a@example.com", "password": GOOD_PASSWORD, "display_name": "x", "language": "en"}),
    (LoginForm, {"username": "a@example.com", "password": GOOD_PASSWORD}),
    (OutboxPasswordResetForm, {"email": "a@example.com"}),
    (AccountForm, {"display_name": "Ann", "language": "en"}),
    (ResetSetPasswordForm, {"new_password1": GOOD_PASSWORD, "new_password2": GOOD_PASSWORD}),
]


@pytest.mark.parametrize(("form_class", "data"), SURROGATE_FORMS, ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.django_db
def test_every_account_form_gives_a_field_error_for_a_lone_surrogate_in_any_field(form_class, data):
    user = User.objects.create_user("a@example.com", GOOD_PASSWORD)
    for field in data:
        bad = {**data, field: data[field] + LONE_SURROGATE}
        if form_class is AccountForm:
            form = form_class(data=bad, instance=user)
        elif form_class is ResetSetPasswordForm:
            form = form_class(user, data=bad)
        else:
            form = form_class(data=bad)
        assert not form.is_valid()
        assert field in form.errors, (field, form.errors)


@pytest.mark.parametrize("address", UNDELIVERABLE)
def test_undeliverable_addresses_are_refused(address):
    with pytest.raises(Exception, match="Enter"):
        validate_deliverable_email(address)


@pytest.mark.parametrize("address", DELIVERABLE)
def test_ordinary_addresses_pass(address):
    validate_deliverable_email(address)


def test_on_the_api_they_are_json():
    from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
    from django.test import RequestFactory

    from project.errors import bad_request

    request = RequestFactory().post("/api/signup/")
    too_big, too_many = bad_request(request, RequestDataTooBig("x")), bad_request(request, TooManyFieldsSent("x"))
    assert (too_big.status_code, too_many.status_code) == (413, 400)
    assert list(json.loads(too_big.content)["errors"]) == ["__all__"]
