"""The documentation as the tests read it: the README's quick start and the reference pages
in ``docs/``. Contracts are checked against the page that holds them (every variable and key
in ``docs/configuration.md``, every command in ``docs/commands.md``), so moving a section
without its contract fails a test."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"


def page(name: str) -> str:
    """The text of ``README.md`` or of ``docs/NAME``."""
    path = README if name == "README.md" else DOCS / name
    return path.read_text(encoding="utf-8")


def pages() -> list[Path]:
    """The README and every page of ``docs/``."""
    return [README, *sorted(DOCS.glob("*.md"))]


def anchors(text: str) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown text: lower case, punctuation
    dropped except ``-`` and ``_``, spaces to ``-``; a repeated heading gets ``-1``, ``-2``…"""
    seen: dict[str, int] = {}
    found: set[str] = set()
    in_code = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        if in_code or not line.startswith("#"):
            continue
        title = line.lstrip("#").strip().lower()
        slug = "".join(c for c in title if c.isalnum() or c in " -_" or unicodedata.category(c) == "Mn")
        slug = slug.replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        found.add(slug if n == 0 else f"{slug}-{n}")
    return found


LINK = re.compile(r"\]\(([^)\s]+)\)")


def relative_links(text: str) -> list[str]:
    """Every Markdown link target of ``text`` that is not an absolute URL or a mail address."""
    return [t for t in LINK.findall(text) if not re.match(r"^[a-z][a-z0-9+.-]*:", t)]
