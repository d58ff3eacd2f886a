"""Every translation catalog of the project (locale/ and each app's locale/) is complete and compiled.

A catalog entry left empty or fuzzy shows English on a Korean page; a .mo not compiled from the
committed .po shows stale text. Both are caught here without gettext tools: the .po is parsed and
compared with what Python's gettext reads from the .mo.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from harness.catalogs import assert_complete_and_compiled

BASE_DIR = Path(settings.BASE_DIR)
CATALOGS = sorted(
    [
        *BASE_DIR.glob("locale/*/LC_MESSAGES/django.po"),
        *BASE_DIR.glob("*/locale/*/LC_MESSAGES/*.po"),
        *BASE_DIR.glob("packages/*/src/*/locale/*/LC_MESSAGES/*.po"),
    ]
)


def test_every_app_with_translations_has_a_catalog():
    names = {"locale" if path.parents[3] == BASE_DIR else path.parents[3].name for path in CATALOGS}
    assert {"locale", "dramaturg", "reports"} <= names


@pytest.mark.parametrize("po", CATALOGS, ids=lambda p: str(p.relative_to(BASE_DIR)))
def test_catalog_is_fully_translated_and_compiled(po: Path):
    assert_complete_and_compiled(po, BASE_DIR)
