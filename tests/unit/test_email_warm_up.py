"""accounts.emails.warm_up, which each worker process runs at boot (DRAMATURG["WORKER"]["WARM_UP"])."""

from __future__ import annotations

from django.conf import settings

from accounts import emails, filled_templates


def test_the_warm_up_compiles_every_email_template_without_the_database():
    # The unit tier has no database: a query here would fail the test.
    emails._template.cache_clear()
    filled_templates.forget()
    emails.warm_up()
    stems = [emails.WELCOME, emails.EXISTING_ACCOUNT, emails.PASSWORD_RESET]
    compiled = {f"accounts/email/{stem}{part}" for stem in stems for part in ("_subject.txt", ".txt", ".html")}
    assert emails._template.cache_info().currsize == len(compiled)
    assert all(emails._template(name) for name in compiled)  # found in the cache: no miss added
    assert emails._template.cache_info().misses == len(compiled)
    # Each rendered once per language, to be filled in for each recipient (accounts.filled_templates).
    assert filled_templates._compiled.cache_info().currsize == len(compiled) * len(settings.LANGUAGES)
    assert "accounts.emails.warm_up" in settings.DRAMATURG["WORKER"]["WARM_UP"]
