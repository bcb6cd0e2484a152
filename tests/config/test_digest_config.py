"""The ``digest:`` section of sources.yaml."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from aggregator.config import DIGEST_KEYS, parse_config
from aggregator.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
HEAD = "sources:\n  - name: A\n    url: https://a.example/feed\n"


def test_absent_section_means_no_newsletter() -> None:
    assert parse_config(HEAD).digest is None


def test_full_section() -> None:
    config = parse_config(HEAD + (
        "digest:\n"
        "  from: 'Médias libres <lettre@medias.example.org>'\n"
        "  send_at: 07:30\n"  # YAML 1.1 would read 450 (base 60): the raw text is used
        "  timezone: America/Montreal\n"
        "  list_address: medias-du-jour@lists.example.org\n"
        "  group_by: tag\n"
        "  max_per_hour: 200\n"
        "  unsubscribe_address: desabonnement@medias.example.org\n"
    ))
    d = config.digest
    assert d is not None
    assert d.from_address == "Médias libres <lettre@medias.example.org>"
    assert (d.send_at, d.timezone, d.group_by, d.max_per_hour) == (time(7, 30), "America/Montreal", "tag", 200)
    assert d.list_address == "medias-du-jour@lists.example.org"
    assert d.unsubscribe_address == "desabonnement@medias.example.org"


def test_defaults() -> None:
    d = parse_config(HEAD + "digest:\n  from: lettre@medias.example.org\n").digest
    assert d is not None
    assert (d.send_at, d.timezone, d.group_by, d.list_address) == (time(7, 0), "Europe/Paris", "source", None)
    assert d.max_per_hour == 500


@pytest.mark.parametrize(("body", "line", "field"), [
    ("digest:\n  send_at: '07:00'\n", 5, "digest.from"),
    ("digest:\n  from: not-an-address\n", 5, "digest.from"),
    ("digest:\n  from: \"a@b.org\\r\\nBcc: x@y.org\"\n", 5, "digest.from"),
    ("digest:\n  from: a@b.org\n  send_at: 25:00\n", 6, "digest.send_at"),
    ("digest:\n  from: a@b.org\n  send_at: 7h\n", 6, "digest.send_at"),
    ("digest:\n  from: a@b.org\n  timezone: Europe/Lutece\n", 6, "digest.timezone"),
    ("digest:\n  from: a@b.org\n  group_by: date\n", 6, "digest.group_by"),
    ("digest:\n  from: a@b.org\n  max_per_hour: 0\n", 6, "digest.max_per_hour"),
    ("digest:\n  from: a@b.org\n  list_address: Liste <l@b.org>\n", 6, "digest.list_address"),
    ("digest:\n  from: a@b.org\n  smtp: smtp://x\n", 6, "digest.smtp"),
])
def test_errors_name_the_line_and_field(body: str, line: int, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(HEAD + body, "s.yaml")
    assert (info.value.line, info.value.field) == (line, field)


def test_every_key_is_documented() -> None:
    doc = (ROOT / "docs" / "newsletter.md").read_text(encoding="utf-8")
    for key in DIGEST_KEYS:
        assert f"`{key}`" in doc, key
    for name in ("AGGREGATOR_SMTP_URL", "AGGREGATOR_BASE_URL"):
        assert f"`{name}`" in doc
