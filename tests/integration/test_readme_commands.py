"""Commands that work as written: every manage.py command either README (the project's and django-dramaturg's)
shows exists, the project's are written with its virtualenv; the package's quick start is the file CI plays;
every relative link in the READMEs and the package's docs resolves; a PostgreSQL database that does not exist
yet is created; errors are one line."""

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
README = (ROOT / "README.md").read_text()
PACKAGE = ROOT / "packages" / "django-dramaturg"
PACKAGE_README = (PACKAGE / "README.md").read_text()


def run(*args: str, **env: str) -> subprocess.CompletedProcess:
    child = {**os.environ, "DJANGO_SETTINGS_MODULE": "project.settings", **env}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=child,
        capture_output=True,
        text=True,
        timeout=60,
    )


def shell_lines() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", README, re.S)
    return [line.split("#")[0].strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_readme_shell_commands_use_the_virtualenv():
    lines = shell_lines()
    assert lines, "the README shows commands"
    for line in lines:
        assert not re.match(r"^python3? manage\.py", line), f"{line!r} fails without an activated virtualenv"
    assert any(line.startswith(".venv/bin/python manage.py seed_demo") for line in lines)


def test_every_manage_py_command_in_the_readme_exists():
    names = set(re.findall(r"manage\.py\s+([a-z_]+)", README)) | set(re.findall(r'make manage ARGS="([a-z_]+)', README))
    assert {"seed_demo", "run_report", "ensure_database", "reconcile_deliveries"} <= names
    result = run("help", "--commands")
    missing = names - set(result.stdout.split())
    assert not missing, f"the README names commands that do not exist: {missing}"


def test_every_manage_py_command_in_the_package_readme_exists():
    names = set(re.findall(r"manage\.py\s+([a-z_]+)", PACKAGE_README))
    assert {"migrate", "rundramatiq", "run_outbox_relay", "runperiodiq"} <= names
    missing = names - set(run("help", "--commands").stdout.split())
    assert not missing, f"the package README names commands that do not exist: {missing}"


def test_quick_start_block_is_the_ci_file():
    """The settings lines the package README shows are exactly what ci/smoke_startproject.sh appends."""
    after = PACKAGE_README.split("Add to your `settings.py`", 1)[1]
    block = re.search(r"```python\n(.*?)```", after, re.S)
    assert block, "the quick start shows its settings lines"
    ci_file = (PACKAGE / "ci" / "quickstart_settings.py").read_text()
    assert block.group(1) == ci_file
    assert len(ci_file.splitlines()) <= 15


def test_relative_links_in_the_readmes_and_package_docs_resolve():
    docs = [*sorted((PACKAGE / "docs").glob("*.md")), *sorted((ROOT / "docs").glob("*.md"))]
    pages = [ROOT / "README.md", PACKAGE / "README.md", *docs]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)\s#]+)(?:#[^)]*)?\)", page.read_text()):
            if not re.match(r"[a-z]+:", target) and not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken, broken


def test_demo_data_comes_before_the_first_report_in_the_readme():
    lines = shell_lines()
    first_seed = next(i for i, line in enumerate(lines) if "seed_demo" in line)
    first_report = next(i for i, line in enumerate(lines) if "run_report" in line)
    assert first_seed < first_report


def _postgres_url(name: str) -> str:
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def test_ensure_database_creates_a_missing_postgresql_database():
    psycopg = pytest.importorskip("psycopg")
    try:
        psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", connect_timeout=2).close()
    except psycopg.OperationalError as error:
        pytest.skip(f"no PostgreSQL server at 127.0.0.1:5432: {error}")
    name = f"ensure_db_{uuid.uuid4().hex[:10]}"
    try:
        created = run("ensure_database", DATABASE_URL=_postgres_url(name))
        assert created.returncode == 0 and f"created PostgreSQL database '{name}'" in created.stdout, created.stderr
        again = run("ensure_database", DATABASE_URL=_postgres_url(name))
        assert again.returncode == 0 and "is there" in again.stdout
    finally:
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


def test_ensure_database_says_in_one_line_when_the_server_is_not_there():
    result = run("ensure_database", DATABASE_URL="postgres://postgres@127.0.0.1:1/nothing_here")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("CommandError: Cannot reach the postgresql database 'nothing_here'")
