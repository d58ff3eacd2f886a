"""The signup API against its OpenAPI document (served at /api/openapi.json), and in both languages."""

import json

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from accounts.models import User
from jobs import limits

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-staple"
DOC_URI = "urn:signup-openapi"


@pytest.fixture(scope="module")
def spec():
    from django.test import Client

    response = Client().get("/api/openapi.json")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    document = response.json()
    assert document["openapi"].startswith("3.1")
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    return document


def validator(spec, pointer: str) -> Draft202012Validator:
    registry = Registry().with_resource(DOC_URI, Resource.from_contents(spec, default_specification=DRAFT202012))
    return Draft202012Validator(
        {"$ref": f"{DOC_URI}#{pointer}"}, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def check(spec, response) -> None:
    """The answer is one the document describes: a documented status, its headers, a body of its schema."""
    operation = spec["paths"]["/api/signup/"]["post"]
    status = str(response.status_code)
    assert status in operation["responses"], f"undocumented status {status}"
    documented = operation["responses"][status]
    assert response["Content-Type"] == "application/json"
    for name, header in documented.get("headers", {}).items():
        assert not header.get("required") or response.has_header(name), name
    validator(spec, f"/paths/~1api~1signup~1/post/responses/{status}/content/application~1json/schema").validate(
        json.loads(response.content)
    )


def api(client, body, **extra):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post("/api/signup/", data=data, content_type="application/json", **extra)


def test_the_documents_examples_are_valid_requests(spec):
    examples = spec["paths"]["/api/signup/"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    for example in examples.values():
        validator(spec, "/components/schemas/SignupRequest").validate(example["value"])


def test_every_documented_answer_matches_the_document(client, clean_redis, spec, settings, monkeypatch):
    seen = set()

    def answer(response) -> None:
        check(spec, response)
        seen.add(str(response.status_code))

    answer(api(client, {"email": "ann@example.com", "password": PASSWORD, "display_name": "Ann", "language": "en"}))
    answer(api(client, {"email": "ann@example.com", "password": PASSWORD}))  # registered: the same 202
    for bad in (
        {},
        {"email": "x"},
        {"email": 1, "password": [], "display_name": {}, "language": 5},
        {"email": "b@example.com", "password": PASSWORD, "language": "fr"},
        b"{not json",
        b"[1]",
    ):
        answer(api(client, bad))
    answer(client.get("/api/signup/"))
    answer(client.post("/api/signup/", data=b"x", content_type="text/plain"))
    settings.SIGNUP_API_MAX_BODY_BYTES = 100
    answer(api(client, {"email": "c@example.com", "password": "x" * 200}))
    settings.SIGNUP_RATE_PER_MINUTE = 1
    monkeypatch.setattr(limits, "_clock", lambda: 1_900_000_000.0)
    api(client, {"email": "d@example.com", "password": PASSWORD})
    answer(api(client, {"email": "e@example.com", "password": PASSWORD}))
    assert seen == set(spec["paths"]["/api/signup/"]["post"]["responses"])  # every documented status was checked


@pytest.mark.parametrize(
    "body, errors",
    [
        ({"email": "x"}, {"email": ["Enter a valid email address."], "password": ["This field is required."]}),
        ({"email": "bob@example.com"}, {"password": ["This field is required."]}),
        (
            {"email": 12, "password": True, "display_name": 3, "language": ["ko"]},
            {name: ["Must be a string."] for name in ("email", "password", "display_name", "language")},
        ),
        (
            {"email": "bob@example.com", "password": PASSWORD, "language": "fr"},
            {"language": ["Select a valid choice. fr is not one of the available choices."]},
        ),
        (
            {"email": "bob@example.com", "password": PASSWORD, "display_name": "x" * 151},
            {"display_name": ["Ensure this value has at most 150 characters (it has 151)."]},
        ),
    ],
)
def test_one_message_per_field_error_and_wrong_types_are_field_errors(client, clean_redis, body, errors):
    response = api(client, body)
    assert response.status_code == 400 and response.json() == {"errors": errors}


@pytest.mark.parametrize(
    "body, errors",
    [
        ({"email": "x"}, {"email": ["올바른 이메일 주소를 입력하세요."], "password": ["필수 항목입니다."]}),
        ({"email": 1, "password": PASSWORD}, {"email": ["문자열이어야 합니다."]}),
        (b"{nope", {"__all__": ["요청 본문은 올바른 UTF-8 JSON이어야 합니다."]}),
        (b"[]", {"__all__": ["요청 본문은 JSON 객체여야 합니다."]}),
    ],
)
def test_api_errors_in_korean(client, clean_redis, body, errors):
    response = api(client, body, HTTP_ACCEPT_LANGUAGE="ko-KR,ko;q=0.9")
    assert response.status_code == 400 and response.json() == {"errors": errors}
    assert response["Content-Language"] == "ko"


def test_other_api_errors_in_korean(client, clean_redis, settings):
    assert client.get("/api/signup/", HTTP_ACCEPT_LANGUAGE="ko").json() == {
        "errors": {"__all__": ["GET 메서드는 허용되지 않습니다. POST를 사용하세요."]}
    }
    wrong_type = client.post("/api/signup/", data=b"{}", content_type="text/plain", HTTP_ACCEPT_LANGUAGE="ko")
    assert wrong_type.json()["errors"]["__all__"] == ["요청 본문은 JSON이어야 합니다 (Content-Type: application/json)."]
    settings.SIGNUP_API_MAX_BODY_BYTES = 10
    assert api(client, {"email": "a@example.com"}, HTTP_ACCEPT_LANGUAGE="ko").json() == {
        "errors": {"__all__": ["요청 본문은 10바이트 이하여야 합니다."]}
    }


def test_the_users_language_comes_from_accept_language_or_the_body(client, clean_redis):
    korean = api(
        client,
        {"email": "minji@example.com", "password": PASSWORD, "display_name": "김민지"},
        HTTP_ACCEPT_LANGUAGE="ko-KR,ko;q=0.9,en;q=0.8",
    )
    assert korean.status_code == 202 and korean.json()["detail"].startswith("감사합니다")
    api(client, {"email": "sam@example.com", "password": PASSWORD}, HTTP_ACCEPT_LANGUAGE="fr, en;q=0.5")
    api(client, {"email": "jun@example.com", "password": PASSWORD, "language": "ko"}, HTTP_ACCEPT_LANGUAGE="en")
    api(client, {"email": "kim@example.com", "password": PASSWORD})
    assert dict(User.objects.values_list("email", "language")) == {
        "minji@example.com": "ko",
        "sam@example.com": "en",
        "jun@example.com": "ko",
        "kim@example.com": "en",
    }
    assert User.objects.get(email="minji@example.com").display_name == "김민지"
