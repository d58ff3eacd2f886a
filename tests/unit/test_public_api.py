"""The reference project uses django-dramaturg through its public API only (dramaturg.PUBLIC_API)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import dramaturg

ROOT = Path(__file__).resolve().parents[2]
DOTTED = re.compile(r"dramaturg(\.[A-Za-z_][A-Za-z0-9_]*)+")


def _uses(path: Path) -> list[tuple[int, str]]:
    """(line, dotted name) of every dramaturg name `path` imports, attributes it reads off an
    imported dramaturg module, and dotted dramaturg paths it writes as strings (settings)."""
    tree = ast.parse(path.read_text(), str(path))
    found: list[tuple[int, str]] = []
    modules: dict[str, str] = {}  # local name -> dramaturg module it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "dramaturg":
            for alias in node.names:
                dotted = f"{node.module}.{alias.name}"
                if dotted in _modules_with_public_names():  # `from dramaturg import outbox`: its uses are checked
                    modules[alias.asname or alias.name] = dotted
                else:
                    found.append((node.lineno, dotted))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "dramaturg":
                    found.append((node.lineno, alias.name))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and DOTTED.fullmatch(node.value):
            found.append((node.lineno, node.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules:
            found.append((node.lineno, f"{modules[node.value.id]}.{node.attr}"))
    return found


def _modules_with_public_names() -> set[str]:
    """Every module path that holds a public name (dramaturg.outbox for dramaturg.outbox.enqueue_on_commit)."""
    return {name.rpartition(".")[0] for name in dramaturg.PUBLIC_API}


def test_reference_project_imports_only_the_public_api() -> None:
    files = [
        p
        for app in ("project", "accounts", "reports")
        for p in sorted((ROOT / app).rglob("*.py"))
        if "migrations" not in p.parts
    ]
    outside = [
        f"{path.relative_to(ROOT)}:{line} {dotted}"
        for path in files
        for line, dotted in _uses(path)
        if dotted not in dramaturg.PUBLIC_API
    ]
    assert not outside, "not in dramaturg.PUBLIC_API:\n" + "\n".join(outside)
