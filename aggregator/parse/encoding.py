"""Turning bytes into text for the documents feedparser does not decode for us (HTML, JSON).

Order of precedence, as browsers do it (WHATWG "encoding sniffing"): a byte-order mark,
then the HTTP charset, then a ``<meta charset>``/XML declaration in the first bytes, then
UTF-8 if it decodes, then windows-1252 (what "latin-1" means on the web).
"""

from __future__ import annotations

import codecs
import re

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: its BOM starts with FF FE too
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
#: WHATWG: the prescan looks at the first 1024 bytes only.
_PRESCAN = 1024
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9_.:-]{1,40})["']""")


def strip_bom(body: bytes) -> tuple[bytes, str | None]:
    """Remove a byte-order mark and name the encoding it announces."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            return body[len(bom):], name
    return body, None


def codec_name(label: str | None) -> str | None:
    """Python's codec name for a charset label, or None when Python does not know it."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    # WHATWG: these labels mean windows-1252, which is a superset that never fails on them.
    if label in ("iso-8859-1", "iso8859-1", "latin1", "latin-1", "us-ascii", "ascii"):
        label = "windows-1252"
    try:
        return codecs.lookup(label).name
    except (LookupError, ValueError):
        return None


def declared_charset(body: bytes) -> str | None:
    """The charset a document declares in its first bytes (XML prolog or HTML meta)."""
    head = body[:_PRESCAN]
    match = _XML_ENCODING.match(head) or _META_CHARSET.search(head)
    return codec_name(match.group(1).decode("ascii", "replace")) if match else None


def decode_text(body: bytes, charset: str | None = None) -> str:
    """Decode a web document to text; never raises on bad bytes (they become U+FFFD)."""
    body, bom = strip_bom(body)
    candidates = [bom, codec_name(charset), declared_charset(body), "utf-8"]
    for name in candidates:
        if not name:
            continue
        try:
            return body.decode(name)
        except (UnicodeDecodeError, LookupError):
            continue
    return body.decode("windows-1252", "replace")


_DECLARED = re.compile(rb"""^(<\?xml[^>]*?encoding\s*=\s*)(["'])[^"']*\2""")


def wide_to_utf8(body: bytes) -> bytes | None:
    """Re-encode a UTF-16/UTF-32 document as UTF-8 (declaration fixed); None for anything else.

    With a BOM the encoding is certain. Without one, XML 1.0 Appendix F: the first four
    bytes of ``<`` or ``<?`` tell the width and byte order (00 3C 00 3F is UTF-16 BE,
    3C 00 00 00 is UTF-32 LE...). feedparser stumbles on both (the BOM'd UTF-16/32 and
    the undeclared ones of SimplePie's tests), so they are converted before it sees them.
    """
    rest, name = strip_bom(body)
    if name == "utf-8":
        return None
    if name is None:
        name = _unmarked_width(rest[:4])
        if name is None:
            return None
    text = rest.decode(name, "replace").encode("utf-8")
    return _DECLARED.sub(rb"\1\2utf-8\2", text, count=1)


def _unmarked_width(first: bytes) -> str | None:
    if len(first) < 4:
        return None
    if first[:3] == b"\x00\x00\x00" and first[3]:
        return "utf-32-be"
    if first[1:] == b"\x00\x00\x00" and first[0]:
        return "utf-32-le"
    if first[0] == 0 and first[2] == 0 and first[1] and first[3]:
        return "utf-16-be"
    if first[1] == 0 and first[3] == 0 and first[0] and first[2]:
        return "utf-16-le"
    return None
