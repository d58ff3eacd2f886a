"""The package's translation catalogs (dramaturg/locale, as installed) are complete and compiled."""

from __future__ import annotations

from pathlib import Path

import pytest

import dramaturg
from harness.catalogs import assert_complete_and_compiled

PACKAGE_DIR = Path(dramaturg.__file__).resolve().parent
CATALOGS = sorted(PACKAGE_DIR.glob("locale/*/LC_MESSAGES/*.po"))


def test_the_package_ships_a_korean_catalog():
    assert [p.relative_to(PACKAGE_DIR).parts[1] for p in CATALOGS] == ["ko"]


@pytest.mark.parametrize("po", CATALOGS, ids=lambda p: str(p.relative_to(PACKAGE_DIR)))
def test_catalog_is_fully_translated_and_compiled(po: Path):
    assert_complete_and_compiled(po, PACKAGE_DIR)
