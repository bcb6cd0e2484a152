"""``html_to_text`` folds white space with str methods now; it must match the regular expressions it replaced."""

from __future__ import annotations

import html
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.text import _BLOCK_END, _TAG, _text_cleaner, html_to_text

_SPACE = re.compile(r"[ \t\r\f\v\u00a0]+")
_LINES = re.compile(r"\s*\n\s*")
PIECES = [" ", "\n", "\t", "\r", "\u00a0", "\u2028", "\x0b", "\x0c", "\x1c", "\x85", "a", "é", "<p>", "</p>", "<br>", "&amp;", "&nbsp;", "<b>x</b>"]


def _regex_text(fragment: str, limit: int | None) -> str:
    """html_to_text as it was written before (two regular expressions)."""
    if not fragment:
        return ""
    if "<" in fragment:
        fragment = _TAG.sub(" ", _BLOCK_END.sub("\n", _text_cleaner().clean(fragment)))
    text = _LINES.sub("\n", _SPACE.sub(" ", html.unescape(fragment))).strip()
    if limit is not None and len(text) > limit:
        cut = text.rfind(" ", 0, limit)
        text = text[: cut if cut > limit // 2 else limit].rstrip(" ,;:.-") + "…"
    return text


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=40), st.sampled_from([None, 10, 600]))
def test_same_text_as_the_regular_expressions(pieces: list[str], limit: int | None) -> None:
    fragment = "".join(pieces)
    assert html_to_text(fragment, limit) == _regex_text(fragment, limit)


def test_paragraphs_and_spaces() -> None:
    fragment = "<p>Un  \t texte\u00a0 ici</p>\n\n<p> deux </p><br> trois"
    assert html_to_text(fragment) == _regex_text(fragment, None) == "Un texte ici\ndeux\ntrois"
