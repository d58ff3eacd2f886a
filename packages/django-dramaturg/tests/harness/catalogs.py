"""Checks of a gettext catalog without gettext tools: the .po is parsed and compared with what Python's
gettext reads from the .mo. An entry left empty or fuzzy shows English on a translated page; a .mo not
compiled from the committed .po shows stale text."""

from __future__ import annotations

import ast
import gettext
import re
from dataclasses import dataclass, field
from pathlib import Path

PLACEHOLDER = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[sdfir]")


@dataclass
class Entry:
    msgctxt: str | None = None
    msgid: str = ""
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    line: int = 0  # where its block starts


def parse_po(path: Path) -> list[Entry]:
    """The live entries of a .po file, one per blank-line separated block (obsolete `#~` ones skipped)."""
    entries = []
    text = path.read_text(encoding="utf-8")
    offset = 1
    for block in re.split(r"\n\s*\n", text):
        entry, key = Entry(line=offset), ""
        offset += block.count("\n") + 2
        for line in block.strip().splitlines():
            if line.startswith("#,"):
                entry.flags.update(flag.strip() for flag in line[2:].split(","))
            elif line.startswith('"'):
                value = ast.literal_eval(line)
                if key.startswith("msgstr"):
                    index = int(key[7:-1]) if "[" in key else 0
                    entry.msgstr[index] += value
                else:
                    setattr(entry, key, getattr(entry, key) + value)
            elif line.startswith("msg"):
                key, value = line.split(" ", 1)
                if key.startswith("msgstr"):
                    entry.msgstr[int(key[7:-1]) if "[" in key else 0] = ast.literal_eval(value)
                else:
                    setattr(entry, key, ast.literal_eval(value))
        if entry.msgstr:
            entries.append(entry)
    return entries


def assert_complete_and_compiled(po: Path, base: Path) -> None:
    """Every entry of `po` translated, none fuzzy, placeholders kept, and its .mo compiled from it
    (`base`: what paths in the messages are relative to)."""
    entries = parse_po(po)
    header, messages = entries[0], entries[1:]
    assert header.msgid == "" and "fuzzy" not in header.flags, "the header is still marked fuzzy"
    assert messages, "an empty catalog"
    problems = []
    for e in messages:
        where = f"{po.relative_to(base)}:{e.line} {e.msgid!r}"
        if "fuzzy" in e.flags:
            problems.append(f"{where} is fuzzy")
        if not e.msgstr or not all(e.msgstr.values()):
            problems.append(f"{where} is not translated")
        if "python-format" in e.flags:
            wanted = set(PLACEHOLDER.findall(e.msgid)) | set(PLACEHOLDER.findall(e.msgid_plural or ""))
            for text in e.msgstr.values():
                if set(PLACEHOLDER.findall(text)) != wanted:
                    problems.append(f"{where}: the translation's placeholders differ")
    assert not problems, "\n".join(problems)

    mo = po.with_suffix(".mo")
    assert mo.exists(), f"{mo} is missing: run compilemessages"
    with mo.open("rb") as f:
        compiled = gettext.GNUTranslations(f)._catalog  # type: ignore[attr-defined]
    for e in messages:
        key = f"{e.msgctxt}\x04{e.msgid}" if e.msgctxt is not None else e.msgid
        if e.msgid_plural is None:
            assert compiled.get(key) == e.msgstr[0], f"{mo} is older than {po.name} at {e.msgid!r}: compilemessages"
        else:
            for n, text in e.msgstr.items():
                assert compiled.get((key, n)) == text, f"{mo} is older than {po.name} at {e.msgid!r}"
