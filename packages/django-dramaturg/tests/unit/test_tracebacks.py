"""A failure's traceback text (dramaturg.tracebacks): the text the standard library formats, formatted once
per exception and once per process for a failure that repeats; a retry's copy as Dramatiq's Retries keeps it."""

from __future__ import annotations

import traceback

import pytest

from dramaturg.masking import mask_text
from dramaturg.tracebacks import RETRY_TRACEBACK_FRAMES, masked_traceback_text, retry_traceback_text, traceback_text


@pytest.fixture
def formatted(monkeypatch) -> list[BaseException]:
    """The exceptions whose stack the standard library formats from here on."""
    calls: list[BaseException] = []
    real = traceback.format_exception

    def counting(exc, *args, **kwargs):
        calls.append(exc)
        return real(exc, *args, **kwargs)

    monkeypatch.setattr(traceback, "format_exception", counting)
    return calls


def failing(message: str) -> BaseException:
    try:
        raise RuntimeError(message)
    except RuntimeError as exc:
        return exc


def failing_as(error: BaseException, cause: BaseException | None = None) -> None:
    raise error from cause


def caught(raiser) -> BaseException:
    try:
        raiser()
    except BaseException as exc:
        return exc
    raise AssertionError("did not raise")


def from_cause() -> None:
    try:
        raise KeyError("missing")
    except KeyError as error:
        raise ValueError("wrapped") from error


def in_handling() -> None:
    try:
        raise KeyError("missing")
    except KeyError:
        raise ValueError("while handling")


def suppressed() -> None:
    try:
        raise KeyError("missing")
    except KeyError:
        raise ValueError("suppressed") from None


def with_note() -> None:
    error = ValueError("noted")
    error.add_note("a note")
    raise error


def group() -> None:
    raise ExceptionGroup("several", [ValueError("one"), KeyError("two")])


def syntax() -> None:
    compile("x = (", "<job>", "exec")


def deep(depth: int) -> None:
    if depth:
        deep(depth - 1)
    raise RuntimeError("at the bottom")


@pytest.mark.parametrize("raiser", [from_cause, in_handling, suppressed, with_note, group, syntax])
def test_the_text_is_what_the_standard_library_formats(raiser):
    exc = caught(raiser)
    assert traceback_text(exc) == "".join(traceback.format_exception(exc))


def test_an_exception_is_formatted_once(formatted):
    exc = failing("once")
    assert traceback_text(exc) == traceback_text(exc) == masked_traceback_text(exc) != ""
    assert formatted == [exc]


# Each test below fails at code positions of its own: the process keeps what earlier tests formatted.


def test_a_failure_that_repeats_is_formatted_once_per_process(formatted):
    def down() -> BaseException:
        return caught(lambda: failing_as(RuntimeError("the mail server is down")))

    first, again = down(), down()
    text = traceback_text(first)
    assert traceback_text(again) == text == "".join(traceback.format_exception(again))
    assert formatted[:1] == [first]  # (and the check's own call)


def test_a_failure_at_the_same_place_with_another_message_reuses_its_stack(formatted):
    def user_failed(n: int) -> BaseException:
        return caught(lambda: failing_as(RuntimeError(f"user {n} failed")))

    first, other = user_failed(1), user_failed(2)
    assert traceback_text(first).replace("user 1", "user 2") == traceback_text(other)
    assert traceback_text(other) == "".join(traceback.format_exception(other))
    assert formatted[:1] == [first]


def test_the_masked_text_is_the_text_masked():
    for exc in (failing("login failed password=hunter2"), failing("login failed password=s3cret"), caught(from_cause)):
        assert masked_traceback_text(exc) == mask_text(traceback_text(exc))
    assert "hunter2" not in masked_traceback_text(failing("login failed password=hunter2"))


def test_a_failure_with_another_message_or_place_has_its_own_text():
    first = failing("user 1 failed")
    other_message, other_place = failing("user 2 failed"), caught(lambda: failing_as(RuntimeError("user 1 failed")))
    assert "user 2 failed" in traceback_text(other_message)
    assert "failing_as" in traceback_text(other_place) and "failing_as" not in traceback_text(first)
    assert traceback_text(first) != traceback_text(other_message) != traceback_text(other_place)


def test_chained_failures_that_repeat_keep_their_chain(formatted):
    def wrapped() -> BaseException:
        cause = caught(lambda: failing_as(KeyError("missing")))
        return caught(lambda: failing_as(ValueError("wrapped"), cause=cause))

    first, again = wrapped(), wrapped()
    text = traceback_text(first)
    assert traceback_text(again) == text
    assert formatted == [first]
    assert "direct cause" in traceback_text(again) and "KeyError" in traceback_text(again)
    assert traceback_text(caught(in_handling)) != traceback_text(caught(suppressed))


def test_a_retry_keeps_dramatiqs_text_of_at_most_30_frames_per_traceback():
    shallow, deeper = caught(lambda: deep(5)), caught(lambda: deep(RETRY_TRACEBACK_FRAMES + 5))
    assert retry_traceback_text(shallow) == "".join(traceback.format_exception(shallow, limit=30))
    assert retry_traceback_text(shallow) == traceback_text(shallow)
    assert retry_traceback_text(deeper) == "".join(traceback.format_exception(deeper, limit=30))
    assert retry_traceback_text(deeper) != traceback_text(deeper)


def test_an_exception_raised_on_after_its_text_was_taken_is_formatted_again():
    def inner() -> None:
        raise RuntimeError("raised on")

    def outer() -> None:
        try:
            inner()
        except RuntimeError as exc:
            assert "in outer" not in traceback_text(exc)  # as a log line inside the actor would take it
            raise

    exc = caught(outer)
    assert traceback_text(exc) == "".join(traceback.format_exception(exc)) and "in outer" in traceback_text(exc)
    assert masked_traceback_text(exc) == mask_text(traceback_text(exc))
    assert retry_traceback_text(exc) == traceback_text(exc)


def test_the_same_code_in_two_files_keeps_each_file(tmp_path):
    source = "def fails():\n    raise RuntimeError('alike')\n"
    texts = []
    for name in ("first.py", "second.py"):
        path = tmp_path / name
        path.write_text(source)
        namespace: dict = {}
        exec(compile(source, str(path), "exec"), namespace)  # two modules of the same code
        texts.append(traceback_text(caught(namespace["fails"])))
    assert "first.py" in texts[0] and "second.py" in texts[1]


def test_a_long_chain_of_contexts_is_formatted_without_recursion():
    exc: BaseException = ValueError("first")
    for n in range(3_000):
        later = ValueError(n)
        later.__context__ = exc
        exc = later
    assert retry_traceback_text(exc) == "".join(traceback.format_exception(exc))
