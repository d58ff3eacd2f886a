"""accounts.filled_templates: a template rendered once per language and filled in per recipient gives
exactly what rendering it in full gives, and a template that does more with a value renders in full."""

from __future__ import annotations

import pytest
from django.template import engines
from django.template.loader import get_template
from django.utils import translation

from accounts import emails, filled_templates
from accounts.models import User

NAMES = [
    "ann@example.com",
    'Ann O\'Neil <ann@example.com> & "co"',  # every character HTML escaping changes
    "김민수",
    "x",
    "%(name)s {{ name }} {% if %}",  # what blocktranslate and the template language would read
    "\x1aa0<&>\"'\x1a",  # the first rendering's own marker
    "",  # empty: a {% if name %} would see it
]
STEMS = [emails.WELCOME, emails.EXISTING_ACCOUNT, emails.PASSWORD_RESET]


@pytest.fixture(autouse=True)
def _fresh():
    filled_templates.forget()
    yield
    filled_templates.forget()


def _template(source: str):
    return engines["django"].from_string(source)


@pytest.mark.parametrize("language", ["en", "ko"])
@pytest.mark.parametrize("stem", STEMS)
def test_each_email_part_filled_in_is_the_template_rendered_in_full(stem, language):
    for name in NAMES * 2:  # the second time from the cache
        user = User(pk=7, email="ann@example.com", display_name=name, language=language)
        with translation.override(language):
            context, values = emails._context(), emails._values(user, stem)
            for part in ("_subject.txt", ".txt", ".html"):
                template = get_template(f"accounts/email/{stem}{part}")
                expected = template.render({**context, **values})
                assert filled_templates.render(template, context, values) == expected, (part, name)


def test_a_template_is_rendered_once_per_language_then_filled_in():
    template = get_template("accounts/email/welcome.html")
    for language in ("en", "ko", "en", "ko"):
        with translation.override(language):
            html = filled_templates.render(template, emails._context(), {"name": "<Ann>"})
        assert "&lt;Ann&gt;" in html and "<Ann>" not in html
    assert filled_templates._compiled.cache_info().misses == 2  # one rendering (with two sets of markers) each
    assert filled_templates._compiled.cache_info().hits == 2


def test_a_value_printed_escaped_in_one_place_and_raw_in_another_is_filled_in_both_ways():
    template = _template("<b>{{ name }}</b> {% autoescape off %}{{ name }}{% endautoescape %}")
    assert filled_templates.render(template, {}, {"name": "<&>"}) == "<b>&lt;&amp;&gt;</b> <&>"
    assert filled_templates._compiled(template, "en-us", (), ("name",)) is not None


@pytest.mark.parametrize(
    "source",
    [
        "Hi {{ name|upper }}",
        "Hi {{ name|truncatechars:4 }}",
        "{% if name|length > 12 %}long{% else %}short{% endif %} {{ name }}",
        "{% if name|length > 60 %}long{% else %}short{% endif %} {{ name }}",
        "{{ name|first }} {{ name }}",
        "{{ name|last }} {{ name }}",
        "{{ name|slice:'2:4' }} {{ name }}",
        "{{ name|urlencode }}",
        "{{ name|wordcount }} {{ name }}",
        "{{ name|linebreaksbr }}",
    ],
)
def test_a_template_that_does_more_with_a_value_than_print_it_renders_in_full(source):
    template = _template(source)
    for name in ("ann", "a much longer name", "", "<&>", "x" * 70):
        assert filled_templates.render(template, {}, {"name": name}) == template.render({"name": name})
    assert filled_templates._compiled(template, translation.get_language(), (), ("name",)) is None


def test_a_value_that_is_only_tested_for_being_empty_is_filled_in_unless_empty():
    template = _template("Hi {{ name|default:'friend' }}{% if not name %}!{% endif %}")
    for name in ("ann", "", "<&>"):
        assert filled_templates.render(template, {}, {"name": name}) == template.render({"name": name})
    assert filled_templates._compiled(template, translation.get_language(), (), ("name",)) is not None


def test_the_constant_context_is_part_of_the_key():
    template = _template("{{ site_name }}: {{ name }}")
    assert filled_templates.render(template, {"site_name": "A"}, {"name": "x"}) == "A: x"
    assert filled_templates.render(template, {"site_name": "B"}, {"name": "y"}) == "B: y"
