"""dramaturg.bounded: a step run by at most N requests of a process at once; past that, a fast 503 with
Retry-After (through ServiceUnavailableMiddleware), never a request queued until its client gives up."""

from __future__ import annotations

import json
import threading

import pytest
from django.http import HttpResponse
from django.test import RequestFactory
from django.utils import translation

from dramaturg.bounded import Overloaded, bounded
from dramaturg.unavailable import ServiceUnavailableMiddleware
from harness.dramaturg_settings import set_dramaturg

pytestmark = pytest.mark.unit


def test_a_step_without_slots_runs_unbounded(settings):
    set_dramaturg(settings, "WEB", BOUNDED_SLOTS={}, BOUNDED_WAIT_S=0)
    with bounded("hash"), bounded("hash"), bounded("hash"):
        pass


def test_with_every_slot_taken_the_next_request_is_overloaded_and_a_freed_slot_is_taken_again(settings):
    set_dramaturg(settings, "WEB", BOUNDED_SLOTS={"hash": 2}, BOUNDED_WAIT_S=0)
    with bounded("hash"), bounded("hash"):
        with pytest.raises(Overloaded) as raised, bounded("hash"):
            pytest.fail("ran without a slot")
        assert raised.value.name == "hash"
    with pytest.raises(RuntimeError), bounded("hash"):
        raise RuntimeError("the step failed")  # its slot is given back all the same
    with bounded("hash"), bounded("hash"):
        pass


def test_a_request_waits_for_a_slot_freed_within_the_wait(settings):
    set_dramaturg(settings, "WEB", BOUNDED_SLOTS={"hash": 1}, BOUNDED_WAIT_S=60)
    holding, release = threading.Event(), threading.Event()

    def holder() -> None:
        with bounded("hash"):
            holding.set()
            release.wait(60)

    thread = threading.Thread(target=holder)
    thread.start()
    assert holding.wait(60)
    threading.Timer(0.05, release.set).start()  # frees the slot while this request waits for it
    with bounded("hash"):
        assert release.is_set()
    thread.join(60)


def middleware_answer(path: str, **extra):
    request = RequestFactory().post(path, **extra)
    return ServiceUnavailableMiddleware(HttpResponse).process_exception(request, Overloaded("hash"))


def test_overloaded_is_a_503_with_its_retry_after_json_for_the_api_a_page_in_korean_for_a_form(settings):
    set_dramaturg(settings, "WEB", RETRY_AFTER_S=7, OVERLOADED_RETRY_AFTER_S=2)
    api = middleware_answer("/api/signup/", content_type="application/json")
    assert api.status_code == 503 and api["Retry-After"] == "2"
    assert list(json.loads(api.content)["errors"]) == ["__all__"]
    with translation.override("ko"):
        page = middleware_answer("/accounts/signup/")
    assert page.status_code == 503 and page["Retry-After"] == "2"
    assert "서비스를 사용할 수 없음" in page.content.decode()
