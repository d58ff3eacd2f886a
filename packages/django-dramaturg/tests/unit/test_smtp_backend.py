"""dramaturg.mail: RFC 5321's two timeouts on Django's SMTP backend, against a real SMTP server on loopback,
and the upstream code the override relies on (fails loudly when Django or smtplib changes it)."""

import email
import email.message
import email.policy
import inspect
import smtplib

import django
import pytest
from django.core.mail import EmailMessage
from django.core.mail.backends.smtp import EmailBackend as DjangoSmtpBackend
from dramatiq.rate_limits import RateLimitExceeded

from dramaturg.mail import EmailBackend, OutcomeUnknown, is_transient


def test_the_override_is_written_against_django_6_1_and_python_3_12s_smtplib():
    assert django.VERSION[:2] == (6, 1), "dramaturg/smtp.py overrides Django 6.1's SMTP backend: check it again"
    assert isinstance(inspect.getattr_static(DjangoSmtpBackend, "connection_class"), property)
    assert "self.connection_class(" in inspect.getsource(DjangoSmtpBackend.open)
    assert "self.connection.sendmail(" in inspect.getsource(DjangoSmtpBackend._send)
    data = inspect.getsource(smtplib.SMTP.data)
    # The message and its final "." go out in one send(), then the final reply is read.
    assert 'q = q + b"." + bCRLF\n            self.send(q)\n            (code, msg) = self.getreply()' in data
    assert "self.mail(" in inspect.getsource(smtplib.SMTP.sendmail)


def backend(smtp, **options) -> EmailBackend:
    return EmailBackend(alias="test", host="127.0.0.1", port=smtp.port, **options)


def message(to: str = "ann@example.com") -> EmailMessage:
    return EmailMessage("Hello", "Body", "from@example.com", [to])


def test_a_final_reply_slower_than_the_command_timeout_is_waited_for(smtp):
    smtp.handler.final_reply_delay = 2.5
    assert backend(smtp, timeout=1, data_timeout=10).send_messages([message()]) == 1
    assert len(smtp.received("ann@example.com")) == 1


def test_a_command_slower_than_the_command_timeout_fails_before_anything_was_handed_over(smtp):
    smtp.handler.rcpt_delay = 2.5
    with pytest.raises(OSError) as raised:
        backend(smtp, timeout=1, data_timeout=10).send_messages([message()])
    assert not isinstance(raised.value, OutcomeUnknown) and is_transient(raised.value)
    assert smtp.received() == []


def test_no_final_reply_within_the_data_timeout_is_outcome_unknown(smtp):
    smtp.handler.final_reply_delay = 3.0
    with pytest.raises(OutcomeUnknown, match="handed over"):
        backend(smtp, timeout=1, data_timeout=1).send_messages([message()])
    assert len(smtp.received("ann@example.com")) == 1  # the server had it: sending again would be a copy


def test_a_refusal_of_the_message_is_an_answer_not_an_unknown_outcome(smtp):
    smtp.handler.reply = "554 5.7.1 Rejected"
    with pytest.raises(smtplib.SMTPDataError) as raised:
        backend(smtp, timeout=1, data_timeout=1).send_messages([message()])
    assert not is_transient(raised.value)


@pytest.mark.parametrize(
    "error, transient",
    [
        (ConnectionRefusedError(111, "Connection refused"), True),
        (TimeoutError("timed out"), True),
        (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), True),
        (smtplib.SMTPDataError(451, b"try again later"), True),
        (smtplib.SMTPRecipientsRefused({"a@example.com": (450, b"mailbox busy")}), True),
        (RateLimitExceeded("the SMTP send rate stayed at its limit"), True),
        (smtplib.SMTPDataError(554, b"rejected"), False),
        (smtplib.SMTPRecipientsRefused({"a@example.com": (550, b"no such user")}), False),
        (ValueError("Invalid address"), False),
    ],
)
def test_transient_and_permanent_failures(error, transient):
    assert is_transient(error) is transient


def test_a_threads_connection_is_kept_between_sends_and_one_the_server_dropped_is_opened_again(smtp):
    first = backend(smtp, timeout=2, data_timeout=2)
    assert first.send_messages([message("ann@example.com")]) == 1
    assert first.connection is None  # handed back for this thread's next send, not closed
    kept = backend(smtp, timeout=2, data_timeout=2)
    assert kept.open() is True and kept.connection is not None  # the same mailer's next send takes it
    kept.close()

    smtp.stop()  # the server goes away, and with it the kept connection
    smtp.start()
    # The dropped connection fails at MAIL FROM, before anything was handed over: sent once, on a new one.
    assert backend(smtp, timeout=2, data_timeout=2).send_messages([message("bob@example.com")]) == 1
    assert [m["To"] for m in smtp.received()] == ["ann@example.com", "bob@example.com"]


def test_a_connection_whose_send_failed_is_not_kept(smtp):
    smtp.handler.reply = "554 5.7.1 Rejected"
    failing = backend(smtp, timeout=2, data_timeout=2, keep_alive_s=30)
    with pytest.raises(smtplib.SMTPDataError):
        failing.send_messages([message()])
    smtp.handler.reply = None
    again = backend(smtp, timeout=2, data_timeout=2, keep_alive_s=30)
    again.open()
    assert again._reused is False  # a new connection: the failed one was closed
    again.close()


# Header values each message has its own of: plain ones are kept as written, the others parsed.
SUBJECTS = [
    "Welcome, Ann",
    "Welcome to Dramatiq Reference Project, ann.lee+welcome@example.com!",
    "Re: [list] 50% off & free; ask <me> {now} ~ `x` | y ^ z",
    "a  b",  # a run of spaces
    " leading space",
    "=?utf-8?q?looks_encoded?=",
    '"quoted" (commented) back\\slash',
    "word " * 20,  # longer than a line
    "Welcome to Dramatiq Reference Project, r0-project-1765111111111-1@example.com!",  # two lines
    " ".join(["word"] * 40),  # three lines
    "A-word-longer-than-any-line-" * 4 + " then more",  # folded by the standard policy itself
    "환영합니다, 김철수님",
    "tab\there",
]
RECIPIENTS = [
    "ann@example.com",
    "Ann Lee <ann@example.com>",
    # Parsed, the next three read as "Ann <ann@example.com>" each, and each is written as it came.
    '"Ann" <ann@example.com>',
    "Ann  <ann@example.com>",
    "Ann<ann@example.com>",
    "ann@example.com, bob@example.com",
    '"Lee, Ann" <ann@example.com>',
    "Ann (work) <ann@example.com>",
    "undisclosed-recipients:;",
    "ann@[192.0.2.1]",
    "Kim 철수 <kim@example.com>",
    "kim@bücher.example",
]
MESSAGE_IDS = ["<1@x>", "<welcome-12-7@mail.example.com>", "<a.b@[192.0.2.1]>", '<"q"@x>']


def test_messages_built_with_the_faster_policy_are_the_bytes_the_standard_one_builds():
    import email.policy
    import re

    from django.core.mail import EmailMultiAlternatives

    from dramaturg.mail.smtp import SMTP_8BIT_POLICY, SMTP_POLICY

    def built(policy, head_only: bool = False) -> bytes:
        # The boundary and the date differ per build whatever the policy: left out.
        data = re.sub(rb'(boundary="|--=+|Date: )[^"\r]*', b"", alternative.message(policy=policy).as_bytes())
        return data.split(b"\r\n\r\n")[0] if head_only else data

    for _ in range(2):  # the second build reads the cached headers
        for n in range(max(len(SUBJECTS), len(RECIPIENTS))):  # each subject and each recipient at least once
            subject, to, message_id = (values[n % len(values)] for values in (SUBJECTS, RECIPIENTS, MESSAGE_IDS))
            alternative = EmailMultiAlternatives(
                subject, "Body é\n" * 40, "Welcome Team <welcome@example.com>", [to], headers={"Message-ID": message_id}
            )
            alternative.attach_alternative("<p>Body é</p>", "text/html")
            assert built(SMTP_POLICY) == built(email.policy.SMTP), (subject, to)
            assert built(SMTP_8BIT_POLICY, head_only=True) == built(email.policy.SMTP, head_only=True)


def test_plain_words_longer_than_a_line_are_folded_as_the_standard_policy_folds_them():
    import email.policy
    import random

    from dramaturg.mail.smtp import SMTP_POLICY

    rng = random.Random(5)
    atext = [c for c in map(chr, range(33, 127)) if c not in '"(),:;<>@[\\]']
    checked = 0
    for _ in range(3000):
        words = ["".join(rng.choices(atext, k=rng.randint(1, 79))) for _ in range(rng.randint(1, 8))]
        value = " ".join(words).replace("=?", "=!")
        name = rng.choice(["Subject", "Comments", "X-A-Rather-Long-Header-Name"])
        ours = SMTP_POLICY.fold_binary(name, SMTP_POLICY.header_store_parse(name, value)[1])
        standard = email.policy.SMTP.fold_binary(name, email.policy.SMTP.header_store_parse(name, value)[1])
        assert ours == standard, value
        checked += b"\r\n " in ours
    assert checked > 1000  # most of them took more than a line


TEXT_SUBJECTS = [
    "환영합니다, 김철수님",
    "환영합니다, r0-project-1765111111111-0@example.com님! — Dramatiq Reference Project",
    "가" * 100,  # three-octet characters over several words
    "Grüße 👋 " * 12,  # four-octet ones, spaces at the end
    "  leading and  double spaces: é",
]


def test_non_ascii_text_goes_as_encoded_words_of_whole_characters_that_read_back_as_the_text():
    import email
    import email.header
    import email.policy

    from dramaturg.mail.smtp import SMTP_POLICY

    for subject in TEXT_SUBJECTS:
        folded = SMTP_POLICY.fold_binary("Subject", SMTP_POLICY.header_store_parse("Subject", subject)[1])
        lines = folded.decode("ascii").removesuffix("\r\n").split("\r\n")
        assert all(len(line) <= 76 for line in lines), lines  # RFC 2047 §2
        words = [word for line in lines for word in line.split() if word.startswith("=?")]
        assert words and all(len(word) <= 75 for word in words) and len(words) == len(lines)
        for word in words:  # each decodes alone: no character is split between two
            assert email.message_from_bytes(b"Subject: " + word.encode() + b"\r\n\r\n", policy=email.policy.default)
            assert email.header.decode_header(word)[0][0].decode("utf-8")
        read = email.message_from_bytes(folded + b"\r\n", policy=email.policy.default)
        assert read["Subject"] == subject


def test_a_plain_header_reads_back_as_written_and_others_as_the_standard_policy_parses_them():
    from email.message import EmailMessage as StdMessage
    from email.policy import SMTP

    from dramaturg.mail.smtp import SMTP_POLICY

    for name, value in [("Subject", s) for s in SUBJECTS] + [("To", r) for r in RECIPIENTS]:
        ours, standard = StdMessage(policy=SMTP_POLICY), StdMessage(policy=SMTP)
        ours[name] = standard[name] = value
        assert str(ours[name]) == str(standard[name]), value
    plain = StdMessage(policy=SMTP_POLICY)
    plain["To"] = "ann@example.com"
    assert type(plain["To"]) is str  # kept as written: nothing parsed


@pytest.mark.parametrize(
    "body",
    ["Hello\n", "", "no newline", "환영합니다\r\n\r\nline\rcr", "a\n\n\n", "é" * 499 + "\n", "tab\there\x0c\n"],
)
@pytest.mark.parametrize(("args", "kw"), [((), {}), (("html",), {}), ((), {"subtype": "html", "charset": "utf8"})])
def test_text_set_in_fewer_steps_is_what_the_standard_content_manager_sets(body, args, kw):
    from email.contentmanager import raw_data_manager
    from email.message import EmailMessage as StdMessage

    from dramaturg.mail.smtp import SMTP_8BIT_POLICY

    ours, standard = StdMessage(policy=SMTP_8BIT_POLICY), StdMessage(policy=SMTP_8BIT_POLICY)
    for message in (ours, standard):
        message["Subject"] = "Hi"
        message["Content-Disposition"] = "inline"  # cleared by both: a content header set before
    ours.set_content(body, *args, **kw)
    cte = "7bit" if body.isascii() else "8bit"
    standard.set_content(body, *args, **kw, cte=cte, content_manager=raw_data_manager)
    assert ours.items() == standard.items() and ours.as_bytes() == standard.as_bytes()
    assert ours.get_content() == standard.get_content()


def test_text_goes_as_8bit_to_a_server_that_takes_it_unless_told_not_to(smtp):
    from django.core.mail import EmailMultiAlternatives

    text, html = "환영합니다, 김철수님 — " * 3 + "\n", "<p>" + "Body é " * 200 + "</p>"  # one line of 1,607 octets
    ascii_text = "Welcome, Ann. " * 20  # one ASCII line of 280

    def sent(**options) -> list:
        email = EmailMultiAlternatives("Hello", text, "from@example.com", ["ann@example.com"])
        email.attach_alternative(html, "text/html")
        emails = [email, EmailMessage("Hi", ascii_text, "f@example.com", ["bob@example.com"])]
        # A new connection for each test: the server's EHLO each time.
        assert backend(smtp, keep_alive_s=0, **options).send_messages(emails)
        return smtp.received()

    two_part_got, ascii_got = sent()
    text_got, html_got = two_part_got.get_payload()
    assert text_got["Content-Transfer-Encoding"] == "8bit"
    assert html_got["Content-Transfer-Encoding"] in {"quoted-printable", "base64"}  # the standard choice for it
    assert ascii_got["Content-Transfer-Encoding"] == "7bit"
    assert ["BODY=8BITMIME" in options for options in smtp.handler.mail_options] == [True, True]
    decoded = [p.get_payload(decode=True).decode().replace("\r\n", "\n") for p in (text_got, html_got, ascii_got)]
    assert decoded == [text, html + "\n", ascii_text + "\n"]

    for server_takes_it, options in ((False, {}), (True, {"eight_bit": False})):
        smtp.reset()
        smtp.handler.eight_bit = server_takes_it  # False: a server that does not list 8BITMIME
        two_part_got, ascii_got = sent(**options)
        text_got, html_got = two_part_got.get_payload()
        assert text_got["Content-Transfer-Encoding"] in {"quoted-printable", "base64"}
        assert ["BODY=8BITMIME" in given for given in smtp.handler.mail_options] == [False, False]
        assert text_got.get_payload(decode=True).decode().replace("\r\n", "\n") == text


def two_part(body: str, subject: str = "Welcome, Ann") -> "EmailMessage":
    from django.core.mail import EmailMultiAlternatives

    built = EmailMultiAlternatives(subject, body, "Welcome Team <welcome@example.com>", ["ann@example.com"])
    built.attach_alternative(f"<p>{body}</p>", "text/html")
    return built


def test_a_multipart_message_gets_a_fixed_boundary_and_arrives_whole(smtp):
    assert backend(smtp).send_messages([two_part("Body é\n" * 40), two_part("짧은 본문")]) == 2
    for received in smtp.received("ann@example.com"):
        assert received.get_boundary() == "=_dramaturg_0_"
        text, html = received.get_payload()
        assert html.get_content_type() == "text/html" and text.get_content_type() == "text/plain"
    body = smtp.received("ann@example.com")[0].get_payload()[0].get_payload(decode=True)
    assert body.replace(b"\r\n", b"\n") == ("Body é\n" * 40).encode()


def test_a_part_holding_the_fixed_boundary_keeps_a_random_one_and_nested_parts_get_their_own(smtp):
    holder = two_part("It says --=_dramaturg_0_ in the text")
    nested = two_part("Body")
    nested.attach("notes.txt", "notes", "text/plain")  # multipart/mixed around the alternative
    assert backend(smtp).send_messages([holder, nested, two_part("inner")]) == 3
    holder_got, nested_got, ours = smtp.received("ann@example.com")
    forwarded = EmailMessage("Fwd", "See attached", "from@example.com", ["bob@example.com"])
    forwarded.attach(email.message_from_bytes(ours.as_bytes(), policy=email.policy.SMTP))  # holds =_dramaturg_0_
    assert backend(smtp).send_messages([forwarded]) == 1
    [forwarded_got] = smtp.received("bob@example.com")
    assert holder_got.get_boundary().startswith("=" * 15)  # the generator's own choice
    assert b"--=_dramaturg_0_ in the text" in holder_got.get_payload()[0].get_payload(decode=True)
    inner = nested_got.get_payload()[0]
    assert (nested_got.get_boundary(), inner.get_boundary()) == ("=_dramaturg_0_", "=_dramaturg_1_")
    assert [p.get_content_type() for p in inner.get_payload()] == ["text/plain", "text/html"]
    assert forwarded_got.get_boundary() != "=_dramaturg_0_"
    attached = forwarded_got.get_payload()[1]  # Django attaches a message as the part itself
    assert attached.get_boundary() == "=_dramaturg_0_"
    assert [p.get_content_type() for p in attached.get_payload()] == ["text/plain", "text/html"]


def test_a_part_without_a_body_does_not_stop_the_boundaries(smtp):
    headers_only = email.message.EmailMessage()
    headers_only["Subject"] = "Only headers"
    with_it = two_part("Body")
    with_it.attach(headers_only)  # a part as it is (Django inserts a MIME part given whole): no body at all
    assert backend(smtp).send_messages([with_it]) == 1
    [got] = smtp.received("ann@example.com")
    assert got.get_boundary() == "=_dramaturg_0_"
    attached = got.get_payload()[1]
    assert attached["Subject"] == "Only headers" and not attached.get_payload()


ADDRESSES = [
    "ann@example.com",
    "ann.lee+welcome@mail.example.co.kr",
    "O'Neil@example.com",
    "a!#$%&'*+/=?^_`{|}~-z@x-y.example",
    "user@localhost",
    "x@123.45.67.89",
    "UPPER@EXAMPLE.COM",
    "a..b@example.com",
    ".a@example.com",
    "a.@example.com",
    "a@-x.example",
    "a@x-.example",
    "a@x..example",
    "Ann <ann@example.com>",
    '"quoted local"@example.com',
    "ann@bücher.example",
    "민지@example.com",
    "ann@example.com\r\nBcc: eve@example.com",
    "ann@[192.0.2.1]",
    "webmaster",
    "a@b@example.com",
    "ann@example.com, bob@example.com",
]


@pytest.mark.parametrize("address", ADDRESSES)
def test_an_address_is_prepared_as_django_prepares_it(address):
    def prepared(prep):
        try:
            return prep(address)
        except ValueError as error:
            return type(error)

    ours = prepared(EmailBackend(alias="test", host="127.0.0.1", port=25).prep_address)
    assert ours == prepared(lambda a: DjangoSmtpBackend.prep_address(None, a))


def test_the_date_header_folds_as_the_standard_policy_folds_it():
    from datetime import UTC, datetime, timedelta, timezone

    from dramaturg.mail.smtp import SMTP_POLICY

    for moment in (datetime(2026, 12, 7, 10, 42, 26, 123456, tzinfo=UTC), datetime(2026, 1, 2, 3, 4, 5)):
        for at in (moment, moment.astimezone(timezone(timedelta(hours=9))) if moment.tzinfo else moment):
            folded = [
                policy.fold_binary("Date", policy.header_store_parse("Date", at)[1])
                for policy in (SMTP_POLICY, email.policy.SMTP)
            ]
            assert folded[0] == folded[1], folded


def test_the_policy_copied_for_a_part_with_its_own_line_ending_is_the_policy_itself():
    from dramaturg.mail.smtp import SMTP_POLICY

    assert SMTP_POLICY.clone(linesep="\r\n") is SMTP_POLICY  # what the generator asks for each part
    other = SMTP_POLICY.clone(linesep="\n")
    assert other is not SMTP_POLICY and other.linesep == "\n" and SMTP_POLICY.linesep == "\r\n"
    with pytest.raises(TypeError):
        SMTP_POLICY.clone(no_such_setting=1)
