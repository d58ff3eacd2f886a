"""Email templates rendered once per language and filled in for each recipient.

A welcome email differs from the next one in the recipient's name only, yet rendering its three
templates (eleven `blocktranslate`s, an `extends`, an `include`) took a fifth of the worker's time per
email. Here a template is rendered once per language and constant context with a marker in place of
each per-recipient value; each email is then that text with the markers replaced by the recipient's
values, HTML-escaped where the template escaped them.

That is only the template's own output if the template does nothing with those values but print
them. Whether it does is found out, not assumed: it is rendered with two different sets of markers,
and filling the first rendering with the second set's markers must give the second rendering. A
template that filters a value, tests its length or cuts it fails that and renders in full each time;
so does an empty value, which a `{% if %}` would see. A test of a value against a fixed text
(`{% if name == "Ann" %}`) is not found out, nor a template that prints the time: the values filled
in are ones the templates print, and the rest is kept as first rendered.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from django.template.backends.django import Template
from django.utils import translation
from django.utils.html import escape

# A piece of a filled template: its text, or the name of a value and whether it is HTML-escaped there.
Piece = str | tuple[str, bool]


def _markers(slots: tuple[str, ...], second: bool) -> dict[str, str]:
    # Two sets that differ at every position from either end, in length and in words and lines (a filter
    # that cuts, takes a character, counts or measures a value prints or decides differently), with the
    # characters escape() changes (escaped and raw forms differ), between \x1a/\x1b: in no template.
    if second:
        return {slot: f"\x1b>\"'<&{chr(0x41 + n)} b\n" + "b" * 120 + "\x1b" for n, slot in enumerate(slots)}
    return {slot: f"\x1a{chr(0x41 + n)}a<&>\"'\x1a" for n, slot in enumerate(slots)}


def _pieces(text: str, markers: Mapping[str, str]) -> list[Piece]:
    forms = {marker: (slot, False) for slot, marker in markers.items()}
    forms.update({str(escape(marker)): (slot, True) for slot, marker in markers.items()})
    split = re.split("(" + "|".join(re.escape(form) for form in forms) + ")", text)
    return [forms[part] if n % 2 else part for n, part in enumerate(split) if part or n % 2]


def _fill(pieces: list[Piece], values: Mapping[str, str]) -> str:
    escaped: dict[str, str] = {}
    out = []
    for piece in pieces:
        if isinstance(piece, str):
            out.append(piece)
        elif piece[1]:
            name = piece[0]
            if name not in escaped:
                escaped[name] = str(escape(values[name]))
            out.append(escaped[name])
        else:
            out.append(values[piece[0]])
    return "".join(out)


@lru_cache(maxsize=256)
def _compiled(
    template: Template, language: str | None, context: tuple[tuple[str, Any], ...], slots: tuple[str, ...]
) -> list[Piece] | None:
    """The pieces of `template` rendered with this constant context in the active language (`language`),
    or None when it does more with its slots than print them."""
    first, second = _markers(slots, False), _markers(slots, True)
    pieces = _pieces(str(template.render({**dict(context), **first})), first)
    if _fill(pieces, second) != str(template.render({**dict(context), **second})):
        return None
    return pieces


def render(template: Template, context: Mapping[str, Any], values: Mapping[str, str]) -> str:
    """`template` rendered with `context` and the per-recipient `values` (strings), as
    `template.render({**context, **values})` would. `context`, the same for many emails, is part of
    the cache key with the active language: its values must be hashable."""
    if all(values.values()):
        key = (template, translation.get_language(), tuple(sorted(context.items())), tuple(sorted(values)))
        pieces = _compiled(*key)
        if pieces is not None:
            return _fill(pieces, values)
    return str(template.render({**context, **values}))


def forget() -> None:
    """Drop every compiled template (the templates or what they render changed)."""
    _compiled.cache_clear()
