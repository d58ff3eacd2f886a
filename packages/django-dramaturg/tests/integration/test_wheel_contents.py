"""What `make package-test` promises: the tests ran against the installed wheel, not the source tree,
and the wheel carries the package's data files (Lua, templates, static files, catalogs, migrations)."""

from __future__ import annotations

import importlib.metadata
import os
import sysconfig
from pathlib import Path

import pytest

import dramaturg

pytestmark = pytest.mark.skipif(
    os.environ.get("DRAMATURG_TESTS_EXPECT_WHEEL") != "1",
    reason="run by make package-test (DRAMATURG_TESTS_EXPECT_WHEEL=1), against the installed wheel",
)

DATA_FILES = [
    "store/lua/enqueue.lua",
    "templates/dramaturg/overview.html",
    "locale/ko/LC_MESSAGES/django.mo",
    "static/dramaturg/refresh.js",
    "static/dramaturg/console.css",
    "migrations/0001_initial.py",
]


def test_runs_the_installed_wheel():
    site_packages = Path(sysconfig.get_paths()["purelib"]).resolve()
    assert Path(dramaturg.__file__).resolve().is_relative_to(site_packages), dramaturg.__file__
    assert dramaturg.__version__ == importlib.metadata.version("django-dramaturg") == "0.1.0"


def test_wheel_has_templates_lua_locale_static():
    installed = {str(path) for path in importlib.metadata.files("django-dramaturg") or []}
    assert [f for f in DATA_FILES if f"dramaturg/{f}" not in installed] == []
    assert all((Path(dramaturg.__file__).parent / f).is_file() for f in DATA_FILES)
