"""Inputs of issue 19's bad-input rows, shared by the unit and worker tiers' tests."""

LONE_SURROGATE = "\udfff"  # what JSON's "\udfff" decodes to: text no UTF-8 encoder takes

UNDELIVERABLE = [
    '"a\x0bb"@example.com',  # a control character in a quoted local part (Django accepts it)
    '"a\x01b"@example.com',
    '"a.b"@example.com',  # any quoted local part
    "x@[127.0.0.1]",  # IP literals: mail to whatever that host is
    "x@[IPv6:::1]",
    "x@localhost",  # Django's allowlist
    "a" * 65 + "@example.com",  # RFC 5321's 64 characters
    "a\x00b@example.com",
    "a\udfffb@example.com",
]

DELIVERABLE = ["ann@example.com", "ann.lee+tag@mail.example.co.kr", "o'brien@example.com", "ann@bücher.example"]
