"""dramaturg.PUBLIC_API names things that exist."""

from __future__ import annotations

import importlib

import pytest

import dramaturg


def _resolve(dotted: str) -> object:
    try:
        return importlib.import_module(dotted)
    except ModuleNotFoundError:
        module, _, name = dotted.rpartition(".")
        return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("dotted", dramaturg.PUBLIC_API)
def test_every_public_name_resolves(dotted: str) -> None:
    assert _resolve(dotted) is not None


def test_public_api_has_no_duplicates() -> None:
    assert len(set(dramaturg.PUBLIC_API)) == len(dramaturg.PUBLIC_API)
