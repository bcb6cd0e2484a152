"""The fast path for well-formed RSS/Atom/RDF: lxml builds the tree, a port of feedparser reads it.

feedparser spends most of its time in expat's Python callbacks and its SAX mixin
(DESIGN.md: parsing is the crawler's bottleneck). Here libxml2 builds the tree in C and
``_Reader`` walks it in document order, replaying the parts of feedparser's mixin
(``feedparser/mixin.py``, ``namespaces/_base.py``, ``dc.py``, ``mediarss.py``, ``itunes.py``)
that decide the fields ``feed.py`` reads. It produces the same raw dictionaries feedparser
would, and ``feed.py`` maps both to ``EntryData`` with the same code.

feedparser stays the reference: whatever this module is not certain to read exactly as
feedparser does raises ``FastPathDeclined`` and the caller falls back to feedparser. That
covers anything expat or libxml2 refuses, any DOCTYPE or entity declaration, xml:base,
inline XHTML or elements inside text constructs, base64 content, rebound namespace
prefixes, and elements feedparser has handlers for that are not ported below (GeoRSS,
Podlove chapters, Creative Commons...). ``tests/parse/test_fast_equivalence.py`` holds the
contract: on every corpus file and fixture the fast path accepts, the result equals
feedparser's field for field.
"""

from __future__ import annotations

import contextlib
import re
import xml.parsers.expat
from collections.abc import Callable
from typing import Any

from feedparser.datetimes import _parse_date
from feedparser.encodings import convert_to_utf8
from feedparser.html import _cp1252
from feedparser.mixin import _FeedParserMixin
from feedparser.sanitizer import replace_doctype
from feedparser.urls import _urljoin, make_safe_absolute_uri
from lxml import etree

from aggregator.errors import ParseError

_XML_NS = "http://www.w3.org/XML/1998/namespace"
_XLINK_NS = "http://www.w3.org/1999/xlink"
#: feedparser's table of known namespaces (lower-cased URI -> its standard prefix).
_KNOWN = {uri.lower(): prefix for uri, prefix in _FeedParserMixin.namespaces.items()}
#: Names feedparser has a start or end handler for (``_start_dc_creator`` -> ``dc_creator``).
_FP_STARTS = frozenset(n[len("_start_"):] for n in dir(_FeedParserMixin) if n.startswith("_start_"))
_FP_ENDS = frozenset(n[len("_end_"):] for n in dir(_FeedParserMixin) if n.startswith("_end_"))
_FEEDPARSER_HANDLED = _FP_STARTS | _FP_ENDS
#: FeedParserDict.__setitem__ stores these keys under another name.
_KEYMAP = {
    "channel": "feed", "items": "entries", "guid": "id", "date": "updated",
    "date_parsed": "updated_parsed", "description": "summary",
    "description_detail": "summary_detail", "url": "href", "modified": "updated",
    "modified_parsed": "updated_parsed", "issued": "published", "issued_parsed": "published_parsed",
    "copyright": "rights", "copyright_detail": "rights_detail", "tagline": "subtitle",
    "tagline_detail": "subtitle_detail",
}
_VERSION_NAMESPACES = frozenset({"http://my.netscape.com/rdf/simple/0.9/", "http://purl.org/rss/1.0/", "http://www.w3.org/2005/atom"})
_CAN_BE_RELATIVE_URI = frozenset(_FeedParserMixin.can_be_relative_uri)
_HTML_TYPES = frozenset(_FeedParserMixin.html_types)
_DECLARATIONS = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_C1 = re.compile("[\x80-\x9f]")
_LINK_ENTITY = re.compile("&([A-Za-z0-9_]+);")
_EMAIL = re.compile(r"""(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([a-zA-Z0-9\-]+\.)+))([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?""")
_looks_like_html = _FeedParserMixin.looks_like_html


class FastPathDeclined(ParseError):
    """The fast path is not certain to read this document exactly as feedparser does."""


class _Ctx(dict[str, Any]):
    """feedparser's FeedParserDict as far as storing goes: a few keys are stored under aliases."""

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(_KEYMAP.get(key, key), value)


def safe_xml_parser() -> etree.XMLParser:
    """libxml2 configured for hostile input: no DTD, no entity expansion, no network, no recovery.

    A billion-laughs document or an external entity is never expanded nor read: with
    ``resolve_entities=False`` and ``load_dtd=False`` entity references stay references
    (and this module refuses any document with a DOCTYPE before parsing anyway).
    """
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
        recover=False, remove_comments=False, remove_pis=False, strip_cdata=True,
    )


def parse_raw(body: bytes, headers: dict[str, str]) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    """feedparser's ``(version, feed, entries)`` for a document, without feedparser's parser.

    Args:
        body: the document (UTF-16/32 already re-encoded by the caller, as for feedparser).
        headers: the response headers handed to feedparser (content-location, content-type).

    Raises:
        FastPathDeclined: the document needs feedparser (the message says why).
    """
    result: dict[str, Any] = {"bozo": False}
    data = convert_to_utf8(headers, body, result)
    if not result.get("encoding"):
        raise FastPathDeclined("encoding unknown")
    start = re.search(rb"<\w", data)
    if start is None:
        raise FastPathDeclined("no element")
    if _DECLARATIONS.search(data, 0, start.start() + 1):
        raise FastPathDeclined("DOCTYPE or entity declaration")
    doctype_version, data, _entities = replace_doctype(data)
    if doctype_version:
        raise FastPathDeclined("Netscape DOCTYPE")
    declarations = _expat_declarations(data)
    try:
        root = etree.fromstring(data, safe_xml_parser())
    except etree.XMLSyntaxError as error:
        raise FastPathDeclined(f"libxml2: {error}") from None
    location = headers.get("content-location", "")
    base = make_safe_absolute_uri(location) or ""
    reader = _Reader(base, declarations, root)
    try:
        reader.walk(root)
    except FastPathDeclined:
        raise
    except (RecursionError, MemoryError):
        raise
    except Exception as error:  # any surprise in the port: let the reference decide
        raise FastPathDeclined(f"{type(error).__name__}: {error}") from None
    return reader.version, reader.feeddata, reader.entries


def _expat_declarations(data: bytes) -> list[tuple[str | None, str]]:
    """Run the reference's XML parser (expat, namespaces on) and list namespace declarations.

    feedparser decides well-formedness with expat; libxml2 agrees almost always, and this
    pass (no per-element Python callback) makes "almost" exact. The declarations, in
    document order, tell the feed version the way feedparser's ``track_namespace`` does.
    """
    found: list[tuple[str | None, str]] = []
    parser = xml.parsers.expat.ParserCreate(None, " ")
    parser.namespace_prefixes = True

    def declared(prefix: str | None, uri: str | None) -> None:
        if uri:
            found.append((prefix or None, uri))

    parser.StartNamespaceDeclHandler = declared
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as error:
        raise FastPathDeclined(f"expat: {error}") from None
    return found


class _Reader:
    """A port of feedparser's ``_FeedParserMixin`` state machine over an lxml tree.

    Method and attribute names follow feedparser's so the two can be read side by side.
    """

    def __init__(self, base: str, declarations: list[tuple[str | None, str]], root: Any):
        self.version = ""
        self.feeddata: dict[str, Any] = _Ctx()
        self.entries: list[dict[str, Any]] = []
        self.infeed = self.inentry = self.incontent = self.intextinput = self.inimage = 0
        self.inauthor = self.incontributor = self.inpublisher = self.insource = 0
        self.sourcedata: dict[str, Any] = _Ctx()
        self.contentparams: dict[str, Any] = {}
        self._summary_key: str | None = None
        self.elementstack: list[list[Any]] = []
        self.lang: str | None = None
        self.langstack: list[str | None] = []
        self.title_depth = -1
        self.depth = 0
        self.has_content = 0
        self.guidislink = 0
        self.psc_chapters_flag = False
        self.property_depth_map: dict[int, dict[str, int]] = {}
        self._names: dict[tuple[str, str | None], tuple[str, str, str]] = {}
        self._bind_namespaces(declarations, root)
        # feedparser re-derives the base at every element (a urljoin each time); it only
        # changes at xml:base, provided the derivation is idempotent, which is checked.
        self.baseuri = ""
        self.basestack: list[str] = []
        self._derive_base(base)

    def _derive_base(self, given: str | None) -> None:
        """feedparser's unknown_starttag on xml:base: the new base, safe and absolute."""
        given = given or self.baseuri
        if self.baseuri:
            self.baseuri = make_safe_absolute_uri(self.baseuri, given) or self.baseuri
        else:
            self.baseuri = _urljoin(self.baseuri, given)
        if self.baseuri and (make_safe_absolute_uri(self.baseuri, self.baseuri) or self.baseuri) != self.baseuri:
            raise FastPathDeclined("base URI not stable")

    # -- namespaces -------------------------------------------------------------------
    def _bind_namespaces(self, declarations: list[tuple[str | None, str]], root: Any) -> None:
        own = {(p or None, u) for p, u in root.nsmap.items()}
        if len(own) > len(declarations) or set(declarations[: len(own)]) != own:
            raise FastPathDeclined("root namespace declarations unclear")
        bound: dict[str | None, str] = {}
        #: feedparser's namespacemap: the document's prefix -> the standard prefix.
        self.namespacemap: dict[str, str] = {}
        self.unknown_prefixes: dict[str, set[str | None]] = {}
        for prefix, uri in declarations:
            if uri == _XLINK_NS:
                raise FastPathDeclined("xlink namespace")  # feedparser copies it into attributes
            if prefix and bound.setdefault(prefix, uri) != uri:
                # feedparser's prefix tables change mid-document; this reading is static.
                raise FastPathDeclined(f"namespace prefix {prefix!r} rebound")
            standard = _KNOWN.get(_normal_uri(uri).lower())
            if standard is None:
                self.unknown_prefixes.setdefault(_normal_uri(uri), set()).add(prefix)
            elif prefix:
                self.namespacemap[prefix] = standard
        # The root's declarations come first, in document order.
        self._track_versions(declarations[: len(own)])

    def _track_versions(self, declarations: list[tuple[str | None, str]]) -> None:
        """feedparser's track_namespace: the first RSS 1.0/0.90/Atom namespace names the version."""
        for prefix, uri in declarations:
            lower = uri.lower()
            if not self.version:
                if (prefix, lower) == (None, "http://my.netscape.com/rdf/simple/0.9/"):
                    self.version = "rss090"
                elif lower == "http://purl.org/rss/1.0/":
                    self.version = "rss10"
                elif lower == "http://www.w3.org/2005/atom":
                    self.version = "atom10"

    def _track_local(self, element: Any) -> None:
        """Namespaces declared below the root still name the version while it is unknown."""
        parent = element.getparent()
        inherited = parent.nsmap if parent is not None else {}
        local = [(p, u) for p, u in element.nsmap.items() if inherited.get(p) != u]
        relevant = [d for d in local if d[1].lower() in _VERSION_NAMESPACES]
        if len(relevant) > 1:
            raise FastPathDeclined("several version namespaces on one element")
        self._track_versions(relevant)

    def _name(self, tag: str, prefix: str | None) -> tuple[str, str, str]:
        """(tag as feedparser names it, its handler suffix, its mapped prefix) for an lxml tag."""
        key = (tag, prefix)
        cached = self._names.get(key)
        if cached is not None:
            return cached
        if tag[0] == "{":
            uri, _, local = tag[1:].partition("}")
        else:
            uri, local = "", tag
        uri = _normal_uri(uri)
        local = local.lower()
        standard = _KNOWN.get(uri.lower())
        if standard is None:
            # feedparser names it after the first named prefix bound to that URI so far,
            # else by its local name alone: refuse when the document makes that unclear.
            candidates = self.unknown_prefixes.get(uri, set())
            if len(candidates) != 1:
                raise FastPathDeclined(f"namespace {uri!r} bound to several prefixes")
            (only,) = candidates
            standard = "" if only is None else only.lower()
        else:
            standard = standard.lower()
        if self.namespacemap.get(standard, standard) != standard:
            raise FastPathDeclined(f"prefix {standard!r} bound to another namespace")
        full = f"{standard}:{local}" if standard else local
        suffix = f"{standard}_{local}" if standard else local
        mapped = standard
        cached = (full, suffix, mapped)
        self._names[key] = cached
        return cached

    def _attrs(self, element: Any) -> dict[str, Any]:
        """The attribute dictionary feedparser's startElementNS builds (keys lower-cased)."""
        attrs: dict[str, Any] = {}
        inverse: dict[str, str] | None = None
        for name, value in element.attrib.items():
            if name[0] == "{":
                uri, _, local = name[1:].partition("}")
                standard = _KNOWN.get(uri.lower(), "")
                if uri == _XML_NS:
                    qname = f"xml:{local}"
                else:
                    if inverse is None:
                        inverse = {u: p for p, u in element.nsmap.items() if p}
                    qname = f"{inverse.get(uri, '')}:{local}"
                attrs[(f"{standard}:{local}" if standard else local).lower()] = value
                attrs[qname.lower()] = value
            else:
                attrs[name.lower()] = value
        for key in ("rel", "type"):
            if key in attrs:
                attrs[key] = attrs[key].lower()
        return attrs

    # -- the walk ---------------------------------------------------------------------
    def walk(self, element: Any) -> None:
        if not self.version and element.getparent() is not None:
            self._track_local(element)
        full, suffix, mapped = self._name(element.tag, element.prefix)
        attrs = self._attrs(element) if element.attrib else {}
        self.start(full, suffix, mapped, attrs)
        if element.text:
            self.handle_data(element.text)
        for child in element:
            tag = child.tag
            if isinstance(tag, str):
                if self.incontent:
                    raise FastPathDeclined("markup inside a text construct")
                self.walk(child)
            elif tag is not etree.Comment and tag is not etree.PI:
                raise FastPathDeclined("entity reference")
            if child.tail:
                self.handle_data(child.tail)
        self.end(full, suffix)

    def start(self, tag: str, suffix: str, mapped: str, attrs: dict[str, Any]) -> None:
        self.depth += 1
        given = attrs.get("xml:base", attrs.get("base"))
        if given:
            self._derive_base(given)
        self.basestack.append(self.baseuri)
        lang = attrs.get("xml:lang", attrs.get("lang"))
        if lang == "":
            lang = None
        elif lang is None:
            lang = self.lang
        if lang and tag in ("feed", "rss", "rdf:RDF"):
            self.feeddata["language"] = lang.replace("_", "-")
        self.lang = lang
        self.langstack.append(lang)
        if not mapped and tag not in ("title", "link", "description", "name"):
            self.intextinput = 0
        if not mapped and tag not in ("title", "link", "description", "url", "href", "width", "height"):
            self.inimage = 0
        handler = _STARTS.get(suffix)
        if handler is not None:
            handler(self, attrs)
        elif suffix in _FP_STARTS:
            raise FastPathDeclined(f"element {tag!r} not ported")
        elif not attrs:
            self.push(suffix, 1)
        else:
            self._get_context()[suffix] = attrs

    def end(self, tag: str, suffix: str) -> None:
        handler = _ENDS.get(suffix)
        if handler is not None:
            handler(self)
        elif suffix in _FP_ENDS:
            raise FastPathDeclined(f"element {tag!r} not ported")
        else:
            self.pop(suffix)
        if self.basestack:
            self.basestack.pop()
            if self.basestack and self.basestack[-1]:
                self.baseuri = self.basestack[-1]
        self.langstack.pop()
        if self.langstack:
            self.lang = self.langstack[-1]
        self.depth -= 1

    def handle_data(self, text: str) -> None:
        if self.elementstack:
            self.elementstack[-1][2].append(text)

    # -- feedparser's mixin -----------------------------------------------------------
    def push(self, element: str, expecting_text: int) -> None:
        self.elementstack.append([element, expecting_text, []])

    def pop(self, element: str) -> Any:
        if not self.elementstack or self.elementstack[-1][0] != element:
            return None
        element, expecting_text, pieces = self.elementstack.pop()
        output = "".join(pieces).strip()
        if not expecting_text:
            return output
        if self.contentparams.get("base64", 0):
            raise FastPathDeclined("base64 content")
        if element in _CAN_BE_RELATIVE_URI and output and (element != "id" or self.guidislink):
            output = _urljoin(self.baseuri or "", output)
        plain = self.contentparams.get("type") == "text/plain"
        if plain and not self.version.startswith("atom") and _looks_like_html(output):
            self.contentparams["type"] = "text/html"  # RSS "text" that is HTML in practice
        self.contentparams.pop("mode", None)
        self.contentparams.pop("base64", None)
        if not output.isascii():
            # feedparser's repair of UTF-8 read as ISO-8859-1, then of windows-1252 C1 codes.
            with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
                output = output.encode("iso-8859-1").decode("utf-8")
            if _C1.search(output):
                output = output.translate(_cp1252)  # a dict lookup per character: only when needed
        if element in ("category", "tags", "itunes_keywords"):
            return output
        if element == "title" and -1 < self.title_depth <= self.depth:
            return output
        if self.inentry and not self.insource:
            entry = self.entries[-1]
            if element == "content":
                entry.setdefault("content", [])
                entry["content"].append({**self.contentparams, "value": output})
            elif element == "link":
                if not self.inimage:
                    output = output.replace("&amp;", "&")
                    output = _LINK_ENTITY.sub(r"&\g<1>", output)
                    entry[element] = output
                    if output:
                        entry["links"][-1]["href"] = output
            else:
                if element == "description":
                    element = "summary"
                depths = self.property_depth_map.setdefault(id(entry), {})
                old = depths.get(element)
                if old is None or self.depth <= old:
                    depths[element] = self.depth
                    entry[element] = output
                if self.incontent:
                    entry[element + "_detail"] = {**self.contentparams, "value": output}
        elif self.infeed or self.insource:
            context = self._get_context()
            if element == "description":
                element = "subtitle"
            context[element] = output
            if element == "link":
                output = _LINK_ENTITY.sub(r"&\g<1>", output)
                context[element] = output
                context["links"][-1]["href"] = output
            elif self.incontent:
                context[element + "_detail"] = {**self.contentparams, "value": output}
        return output

    def push_content(self, tag: str, attrs: dict[str, Any], default_type: str, expecting_text: int) -> None:
        self.incontent += 1
        if self.lang:
            self.lang = self.lang.replace("_", "-")
        self.contentparams = {
            "type": _map_content_type(attrs.get("type", default_type)),
            "language": self.lang,
            "base": self.baseuri,
        }
        self.contentparams["base64"] = self._is_base64(attrs)
        self.push(tag, expecting_text)

    def pop_content(self, tag: str) -> Any:
        value = self.pop(tag)
        self.incontent -= 1
        self.contentparams = {}
        return value

    def _is_base64(self, attrs: dict[str, Any]) -> int:
        if attrs.get("mode", "") == "base64":
            return 1
        kind = self.contentparams["type"]
        if kind.startswith("text/") or kind.endswith(("+xml", "/xml")):
            return 0
        return 1

    def _get_context(self) -> dict[str, Any]:
        if self.insource:
            return self.sourcedata
        if self.inimage and "image" in self.feeddata:
            image: dict[str, Any] = self.feeddata["image"]
            return image
        if self.intextinput:
            textinput: dict[str, Any] = self.feeddata["textinput"]
            return textinput
        if self.inentry:
            return self.entries[-1]
        return self.feeddata

    def _save(self, key: str, value: Any, overwrite: bool = False) -> None:
        context = self._get_context()
        if overwrite:
            context[key] = value
        else:
            context.setdefault(key, value)

    def _save_author(self, key: str, value: Any, prefix: str = "author") -> None:
        context = self._get_context()
        context.setdefault(prefix + "_detail", _Ctx())
        context[prefix + "_detail"][key] = value
        self._sync_author_detail()
        context.setdefault("authors", [_Ctx()])
        context["authors"][-1][key] = value

    def _save_contributor(self, key: str, value: Any) -> None:
        context = self._get_context()
        context.setdefault("contributors", [_Ctx()])
        context["contributors"][-1][key] = value

    def _sync_author_detail(self, key: str = "author") -> None:
        context = self._get_context()
        detail = context.get(f"{key}s", [_Ctx()])[-1]
        if detail:
            name = detail.get("name")
            email = detail.get("email")
            if name and email:
                context[key] = f"{name} ({email})"
            elif name:
                context[key] = name
            elif email:
                context[key] = email
            return
        author, email = context.get(key), None
        if not author:
            return
        match = _EMAIL.search(author)
        if match:
            email = match.group(0)
            author = author.replace(email, "").replace("()", "").replace("<>", "").replace("&lt;&gt;", "").strip()
            if author and author[0] == "(":
                author = author[1:]
            if author and author[-1] == ")":
                author = author[:-1]
            author = author.strip()
        if author or email:
            context.setdefault(f"{key}_detail", detail)
        if author:
            detail["name"] = author
        if email:
            detail["email"] = email

    def _add_tag(self, term: Any, scheme: Any, label: Any) -> None:
        tags = self._get_context().setdefault("tags", [])
        if not term and not scheme and not label:
            return
        value = {"term": term, "scheme": scheme, "label": label}
        if value not in tags:
            tags.append(value)

    # -- handlers (namespaces/_base.py and friends) ------------------------------------
    def _start_rss(self, attrs: dict[str, Any]) -> None:
        if not self.version or not self.version.startswith("rss"):
            given = attrs.get("version", "")
            known = {"0.91": "rss091u", "0.92": "rss092", "0.93": "rss093", "0.94": "rss094"}.get(given)
            if known:
                self.version = known
            elif given.startswith("2."):
                self.version = "rss20"
            else:
                self.version = "rss"

    def _start_channel(self, attrs: dict[str, Any]) -> None:
        self.infeed = 1
        _refuse_cdf(attrs)

    def _start_feed(self, attrs: dict[str, Any]) -> None:
        self.infeed = 1
        if not self.version:
            self.version = {"0.1": "atom01", "0.2": "atom02", "0.3": "atom03"}.get(attrs.get("version") or "", "atom")

    def _end_channel(self) -> None:
        self.infeed = 0

    def _start_image(self, attrs: dict[str, Any]) -> None:
        context = self._get_context()
        if not self.inentry:
            context.setdefault("image", _Ctx())
        self.inimage = 1
        self.title_depth = -1
        self.push("image", 0)

    def _end_image(self) -> None:
        self.pop("image")
        self.inimage = 0

    def _start_textinput(self, attrs: dict[str, Any]) -> None:
        self._get_context().setdefault("textinput", _Ctx())
        self.intextinput = 1
        self.title_depth = -1
        self.push("textinput", 0)

    def _end_textinput(self) -> None:
        self.pop("textinput")
        self.intextinput = 0

    def _start_author(self, attrs: dict[str, Any]) -> None:
        self.inauthor = 1
        self.push("author", 1)
        context = self._get_context()
        context.setdefault("authors", [])
        context["authors"].append(_Ctx())

    def _end_author(self) -> None:
        self.pop("author")
        self.inauthor = 0
        self._sync_author_detail()

    def _start_contributor(self, attrs: dict[str, Any]) -> None:
        self.incontributor = 1
        context = self._get_context()
        context.setdefault("contributors", [])
        context["contributors"].append(_Ctx())
        self.push("contributor", 0)

    def _end_contributor(self) -> None:
        self.pop("contributor")
        self.incontributor = 0

    def _start_dc_contributor(self, attrs: dict[str, Any]) -> None:
        self.incontributor = 1
        context = self._get_context()
        context.setdefault("contributors", [])
        context["contributors"].append(_Ctx())
        self.push("name", 0)

    def _end_dc_contributor(self) -> None:
        self._end_name()
        self.incontributor = 0

    def _start_name(self, attrs: dict[str, Any]) -> None:
        self.push("name", 0)

    def _end_name(self) -> None:
        value = self.pop("name")
        if self.inpublisher:
            self._save_author("name", value, "publisher")
        elif self.inauthor:
            self._save_author("name", value)
        elif self.incontributor:
            self._save_contributor("name", value)
        elif self.intextinput:
            self._get_context()["name"] = value

    def _start_width(self, attrs: dict[str, Any]) -> None:
        self.push("width", 0)

    def _end_width(self) -> None:
        self._dimension("width")

    def _start_height(self, attrs: dict[str, Any]) -> None:
        self.push("height", 0)

    def _end_height(self) -> None:
        self._dimension("height")

    def _dimension(self, key: str) -> None:
        value = self.pop(key)
        try:
            number = int(value)
        except ValueError:
            number = 0
        if self.inimage:
            self._get_context()[key] = number

    def _start_url(self, attrs: dict[str, Any]) -> None:
        self.push("href", 1)

    def _end_url(self) -> None:
        value = self.pop("href")
        if self.inauthor:
            self._save_author("href", value)
        elif self.incontributor:
            self._save_contributor("href", value)

    def _start_email(self, attrs: dict[str, Any]) -> None:
        self.push("email", 0)

    def _end_email(self) -> None:
        value = self.pop("email")
        if self.inpublisher:
            self._save_author("email", value, "publisher")
        elif self.inauthor:
            self._save_author("email", value)
        elif self.incontributor:
            self._save_contributor("email", value)

    def _start_subtitle(self, attrs: dict[str, Any]) -> None:
        self.push_content("subtitle", attrs, "text/plain", 1)

    def _end_subtitle(self) -> None:
        self.pop_content("subtitle")

    def _start_rights(self, attrs: dict[str, Any]) -> None:
        self.push_content("rights", attrs, "text/plain", 1)

    def _end_rights(self) -> None:
        self.pop_content("rights")

    def _start_info(self, attrs: dict[str, Any]) -> None:
        self.push_content("info", attrs, "text/plain", 1)

    def _end_info(self) -> None:
        self.pop_content("info")

    def _start_item(self, attrs: dict[str, Any]) -> None:
        self.entries.append(_Ctx())
        self.push("item", 0)
        self.inentry = 1
        self.guidislink = 0
        self.title_depth = -1
        about = attrs.get("rdf:about")
        if about:
            self._get_context()["id"] = about
        _refuse_cdf(attrs)

    def _end_item(self) -> None:
        self.pop("item")
        self.inentry = 0
        self.has_content = 0

    def _start_language(self, attrs: dict[str, Any]) -> None:
        self.push("language", 1)

    def _end_language(self) -> None:
        self.lang = self.pop("language")

    def _start_webmaster(self, attrs: dict[str, Any]) -> None:
        self.push("publisher", 1)

    def _end_webmaster(self) -> None:
        self.pop("publisher")
        self._sync_author_detail("publisher")

    def _start_published(self, attrs: dict[str, Any]) -> None:
        self.push("published", 1)

    def _end_published(self) -> None:
        self._save("published_parsed", _parse_date(self.pop("published")), overwrite=True)

    def _start_updated(self, attrs: dict[str, Any]) -> None:
        self.push("updated", 1)

    def _end_updated(self) -> None:
        self._save("updated_parsed", _parse_date(self.pop("updated")), overwrite=True)

    def _start_created(self, attrs: dict[str, Any]) -> None:
        self.push("created", 1)

    def _end_created(self) -> None:
        self._save("created_parsed", _parse_date(self.pop("created")), overwrite=True)

    def _start_expirationdate(self, attrs: dict[str, Any]) -> None:
        self.push("expired", 1)

    def _end_expirationdate(self) -> None:
        self._save("expired_parsed", _parse_date(self.pop("expired")), overwrite=True)

    def _start_category(self, attrs: dict[str, Any]) -> None:
        self._add_tag(attrs.get("term"), attrs.get("scheme", attrs.get("domain")), attrs.get("label"))
        self.push("category", 1)

    def _end_category(self) -> None:
        value = self.pop("category")
        if not value:
            return
        tags = self._get_context()["tags"]
        if value and len(tags) and not tags[-1]["term"]:
            tags[-1]["term"] = value
        else:
            self._add_tag(value, None, None)

    def _start_cloud(self, attrs: dict[str, Any]) -> None:
        self._get_context()["cloud"] = dict(attrs)

    def _start_link(self, attrs: dict[str, Any]) -> None:
        attrs.setdefault("rel", "alternate")
        if attrs["rel"] == "self":
            attrs.setdefault("type", "application/atom+xml")
        else:
            attrs.setdefault("type", "text/html")
        context = self._get_context()
        attrs = _enforce_href(attrs)
        if "href" in attrs:
            attrs["href"] = _urljoin(self.baseuri or "", attrs["href"])
        expecting_text = self.infeed or self.inentry or self.insource
        context.setdefault("links", [])
        if not (self.inentry and self.inimage):
            context["links"].append(_Ctx(attrs))
        if "href" in attrs:
            if attrs.get("rel") == "alternate" and _map_content_type(attrs.get("type")) in _HTML_TYPES:
                context["link"] = attrs["href"]
        else:
            self.push("link", expecting_text)

    def _end_link(self) -> None:
        self.pop("link")

    def _start_guid(self, attrs: dict[str, Any]) -> None:
        self.guidislink = attrs.get("ispermalink", "true") == "true"
        self.push("id", 1)

    def _end_guid(self) -> None:
        value = self.pop("id")
        self._save("guidislink", self.guidislink and "link" not in self._get_context())
        if self.guidislink:
            self._save("link", value)

    def _start_title(self, attrs: dict[str, Any]) -> None:
        self.push_content("title", attrs, "text/plain", self.infeed or self.inentry or self.insource)

    def _end_title(self) -> None:
        if self.pop_content("title"):
            self.title_depth = self.depth

    def _start_description(self, attrs: dict[str, Any]) -> None:
        context = self._get_context()
        if "summary" in context and not self.has_content:
            self._summary_key = "content"
            self._start_content(attrs)
        else:
            self.push_content("description", attrs, "text/html", self.infeed or self.inentry or self.insource)

    def _start_abstract(self, attrs: dict[str, Any]) -> None:
        self.push_content("description", attrs, "text/plain", self.infeed or self.inentry or self.insource)

    def _end_description(self) -> None:
        if self._summary_key == "content":
            self._end_content()
        else:
            self.pop_content("description")
        self._summary_key = None

    def _start_generator(self, attrs: dict[str, Any]) -> None:
        if attrs:
            attrs = _enforce_href(attrs)
            if "href" in attrs:
                attrs["href"] = _urljoin(self.baseuri or "", attrs["href"])
        self._get_context()["generator_detail"] = _Ctx(attrs)
        self.push("generator", 1)

    def _end_generator(self) -> None:
        value = self.pop("generator")
        context = self._get_context()
        if "generator_detail" in context:
            context["generator_detail"]["name"] = value

    def _start_summary(self, attrs: dict[str, Any]) -> None:
        context = self._get_context()
        if "summary" in context and not self.has_content:
            self._summary_key = "content"
            self._start_content(attrs)
        else:
            self._summary_key = "summary"
            self.push_content("summary", attrs, "text/plain", 1)

    def _end_summary(self) -> None:
        if self._summary_key == "content":
            self._end_content()
        else:
            self.pop_content(self._summary_key or "summary")
        self._summary_key = None

    def _start_enclosure(self, attrs: dict[str, Any]) -> None:
        attrs = _enforce_href(attrs)
        context = self._get_context()
        attrs["rel"] = "enclosure"
        context.setdefault("links", []).append(_Ctx(attrs))

    def _start_source(self, attrs: dict[str, Any]) -> None:
        if "url" in attrs:
            self.sourcedata["href"] = attrs["url"]
        self.push("source", 1)
        self.insource = 1
        self.title_depth = -1

    def _end_source(self) -> None:
        self.insource = 0
        value = self.pop("source")
        if value:
            self.sourcedata["title"] = value
        self._get_context()["source"] = _Ctx(self.sourcedata)
        self.sourcedata = _Ctx()

    def _start_content(self, attrs: dict[str, Any]) -> None:
        self.has_content = 1
        self.push_content("content", attrs, "text/plain", 1)
        src = attrs.get("src")
        if src:
            self.contentparams["src"] = src
        self.push("content", 1)

    def _start_content_encoded(self, attrs: dict[str, Any]) -> None:
        self.has_content = 1
        self.push_content("content", attrs, "text/html", 1)

    def _end_content(self) -> None:
        copy_to_summary = _map_content_type(self.contentparams.get("type")) in ({"text/plain"} | _HTML_TYPES)
        value = self.pop_content("content")
        if copy_to_summary:
            self._save("summary", value)

    def _start_newlocation(self, attrs: dict[str, Any]) -> None:
        self.push("newlocation", 1)

    def _end_newlocation(self) -> None:
        self.pop("newlocation")  # feedparser stores it as ``newlocation``, which nobody reads

    def _start_tags(self, attrs: dict[str, Any]) -> None:
        self.push("tags", 1)

    def _end_tags(self) -> None:
        for term in self.pop("tags").split(","):
            self._add_tag(term.strip(), None, None)

    # Media RSS (namespaces/mediarss.py)
    def _start_media_category(self, attrs: dict[str, Any]) -> None:
        attrs.setdefault("scheme", "http://search.yahoo.com/mrss/category_schema")
        self._start_category(attrs)

    def _end_media_keywords(self) -> None:
        for term in self.pop("media_keywords").split(","):
            if term.strip():
                self._add_tag(term.strip(), None, None)

    def _end_media_title(self) -> None:
        depth = self.title_depth
        self._end_title()
        self.title_depth = depth

    def _start_media_group(self, attrs: dict[str, Any]) -> None:
        pass

    def _start_media_rating(self, attrs: dict[str, Any]) -> None:
        self._get_context().setdefault("media_rating", attrs)
        self.push("rating", 1)

    def _end_media_rating(self) -> None:
        self._media_text("rating", "media_rating", last=False)

    def _start_media_credit(self, attrs: dict[str, Any]) -> None:
        self._get_context().setdefault("media_credit", []).append(attrs)
        self.push("credit", 1)

    def _end_media_credit(self) -> None:
        self._media_text("credit", "media_credit", last=True)

    def _start_media_restriction(self, attrs: dict[str, Any]) -> None:
        self._get_context().setdefault("media_restriction", attrs)
        self.push("restriction", 1)

    def _end_media_restriction(self) -> None:
        self.pop("restriction")  # stored under media_restriction, which nobody reads

    def _start_media_license(self, attrs: dict[str, Any]) -> None:
        self._get_context().setdefault("media_license", attrs)
        self.push("license", 1)

    def _end_media_license(self) -> None:
        self._media_text("license", "media_license", last=False)

    def _media_text(self, element: str, key: str, *, last: bool) -> None:
        value = self.pop(element)
        if value is not None and value.strip():
            target = self._get_context()[key]
            (target[-1] if last else target)["content"] = value

    def _start_media_content(self, attrs: dict[str, Any]) -> None:
        self._get_context().setdefault("media_content", []).append(attrs)

    def _start_media_thumbnail(self, attrs: dict[str, Any]) -> None:
        context = self._get_context()
        context.setdefault("media_thumbnail", [])
        self.push("url", 1)
        context["media_thumbnail"].append(attrs)

    def _end_media_thumbnail(self) -> None:
        url = self.pop("url")
        context = self._get_context()
        if url is not None and url.strip() and "url" not in context["media_thumbnail"][-1]:
            context["media_thumbnail"][-1]["url"] = url

    def _start_media_player(self, attrs: dict[str, Any]) -> None:
        self.push("media_player", 0)
        self._get_context()["media_player"] = _Ctx(attrs)

    def _end_media_player(self) -> None:
        value = self.pop("media_player")
        self._get_context()["media_player"]["content"] = value

    # GeoRSS, Podlove chapters, Creative Commons: only their effect on the element stack
    # and on ``links`` matters here.
    def _start_georss_geometry(self, attrs: dict[str, Any]) -> None:
        self.push("geometry", 0)
        self._get_context()["where"] = _Ctx()

    def _end_georss_geometry(self) -> None:
        self.pop("geometry")

    def _end_georss_where(self) -> None:
        self.pop("where")

    def _start_psc_chapters(self, attrs: dict[str, Any]) -> None:
        if "psc_chapters" not in self._get_context():
            self.psc_chapters_flag = True
            self._get_context()["psc_chapters"] = _Ctx(attrs)

    def _end_psc_chapters(self) -> None:
        self.psc_chapters_flag = False

    def _start_psc_chapter(self, attrs: dict[str, Any]) -> None:
        if self.psc_chapters_flag and not isinstance(attrs.get("start"), str):
            raise FastPathDeclined("chapter without start")  # feedparser raises TypeError

    def _start_cc_license(self, attrs: dict[str, Any]) -> None:
        link = _Ctx(rel="license")
        if attrs.get("rdf:resource"):
            link["href"] = attrs["rdf:resource"]
        self._get_context().setdefault("links", []).append(link)

    def _start_creativecommons_license(self, attrs: dict[str, Any]) -> None:
        self.push("license", 1)

    def _end_creativecommons_license(self) -> None:
        value = self.pop("license")
        context = self._get_context()
        link = _Ctx(rel="license")
        if value:
            link["href"] = value
        context.setdefault("links", []).append(link)
        del context["license"]

    # iTunes (namespaces/itunes.py)
    def _start_itunes_owner(self, attrs: dict[str, Any]) -> None:
        self.inpublisher = 1
        self.push("publisher", 0)

    def _end_itunes_owner(self) -> None:
        self.pop("publisher")
        self.inpublisher = 0
        self._sync_author_detail("publisher")

    def _end_itunes_keywords(self) -> None:
        for term in self.pop("itunes_keywords").split(","):
            if term.strip():
                self._add_tag(term.strip(), "http://www.itunes.com/", None)

    def _start_itunes_category(self, attrs: dict[str, Any]) -> None:
        self._add_tag(attrs.get("text"), "http://www.itunes.com/", None)
        self.push("category", 1)

    def _start_itunes_image(self, attrs: dict[str, Any]) -> None:
        self.push("itunes_image", 0)
        if attrs.get("href"):
            self._get_context()["image"] = _Ctx({"href": attrs.get("href")})
        elif attrs.get("url"):
            self._get_context()["image"] = _Ctx({"href": attrs.get("url")})

    def _end_itunes_block(self) -> None:
        self.pop("itunes_block")  # stored as a flag nobody reads

    def _end_itunes_explicit(self) -> None:
        self.pop("itunes_explicit")


def _normal_uri(uri: str) -> str:
    # feedparser: "match any backend.userland.com namespace"
    return "http://backend.userland.com/rss" if "backend.userland.com/rss" in uri.lower() else uri


def _map_content_type(content_type: Any) -> str:
    kind = str(content_type).lower() if content_type is not None else "none"
    return {"text": "text/plain", "plain": "text/plain", "html": "text/html", "xhtml": "application/xhtml+xml"}.get(kind, kind)


def _enforce_href(attrs: dict[str, Any]) -> dict[str, Any]:
    href = attrs.get("url", attrs.get("uri", attrs.get("href")))
    if href:
        attrs.pop("url", None)
        attrs.pop("uri", None)
        attrs["href"] = href
    return attrs


def _refuse_cdf(attrs: dict[str, Any]) -> None:
    if "lastmod" in attrs or "href" in attrs:
        raise FastPathDeclined("CDF attributes")  # feedparser's _cdf_common: not ported


R = _Reader
#: Handler tables keyed by feedparser's method suffix, aliases as feedparser defines them.
_STARTS: dict[str, Callable[[_Reader, dict[str, Any]], None]] = {
    "rss": R._start_rss, "channel": R._start_channel, "feed": R._start_feed,
    "image": R._start_image, "textinput": R._start_textinput, "textInput": R._start_textinput,
    "author": R._start_author, "managingeditor": R._start_author, "dc_author": R._start_author,
    "dc_creator": R._start_author, "itunes_author": R._start_author,
    "contributor": R._start_contributor, "dc_contributor": R._start_dc_contributor,
    "name": R._start_name, "itunes_name": R._start_name,
    "width": R._start_width, "height": R._start_height,
    "url": R._start_url, "homepage": R._start_url, "uri": R._start_url,
    "email": R._start_email, "itunes_email": R._start_email,
    "subtitle": R._start_subtitle, "tagline": R._start_subtitle, "itunes_subtitle": R._start_subtitle,
    "rights": R._start_rights, "copyright": R._start_rights, "dc_rights": R._start_rights,
    "info": R._start_info, "feedburner_browserfriendly": R._start_info,
    "item": R._start_item, "entry": R._start_item,
    "language": R._start_language, "dc_language": R._start_language,
    "webmaster": R._start_webmaster, "dc_publisher": R._start_webmaster,
    "published": R._start_published, "issued": R._start_published, "pubdate": R._start_published,
    "dcterms_issued": R._start_published,
    "updated": R._start_updated, "modified": R._start_updated, "lastbuilddate": R._start_updated,
    "dc_date": R._start_updated, "dcterms_modified": R._start_updated,
    "created": R._start_created, "dcterms_created": R._start_created,
    "expirationdate": R._start_expirationdate,
    "category": R._start_category, "keywords": R._start_category, "dc_subject": R._start_category,
    "cloud": R._start_cloud, "link": R._start_link,
    "guid": R._start_guid, "id": R._start_guid,
    "title": R._start_title, "dc_title": R._start_title, "media_title": R._start_title,
    "description": R._start_description, "dc_description": R._start_description,
    "media_description": R._start_description, "abstract": R._start_abstract,
    "generator": R._start_generator,
    "summary": R._start_summary, "itunes_summary": R._start_summary,
    "enclosure": R._start_enclosure, "source": R._start_source,
    "content": R._start_content, "content_encoded": R._start_content_encoded,
    "fullitem": R._start_content_encoded, "newlocation": R._start_newlocation, "tags": R._start_tags,
    "media_category": R._start_media_category, "media_group": R._start_media_group,
    "media_rating": R._start_media_rating, "media_credit": R._start_media_credit,
    "media_restriction": R._start_media_restriction, "media_license": R._start_media_license,
    "media_content": R._start_media_content, "media_thumbnail": R._start_media_thumbnail,
    "media_player": R._start_media_player,
    "itunes_owner": R._start_itunes_owner, "itunes_category": R._start_itunes_category,
    "itunes_image": R._start_itunes_image, "itunes_link": R._start_itunes_image,
    "georss_point": R._start_georss_geometry, "georss_line": R._start_georss_geometry,
    "georss_polygon": R._start_georss_geometry, "georss_box": R._start_georss_geometry,
    "psc_chapters": R._start_psc_chapters, "psc_chapter": R._start_psc_chapter,
    "cc_license": R._start_cc_license, "creativecommons_license": R._start_creativecommons_license,
}
_ENDS: dict[str, Callable[[_Reader], None]] = {
    "channel": R._end_channel, "feed": R._end_channel,
    "image": R._end_image, "textinput": R._end_textinput, "textInput": R._end_textinput,
    "author": R._end_author, "managingeditor": R._end_author, "dc_author": R._end_author,
    "dc_creator": R._end_author, "itunes_author": R._end_author,
    "contributor": R._end_contributor, "dc_contributor": R._end_dc_contributor,
    "name": R._end_name, "itunes_name": R._end_name,
    "width": R._end_width, "height": R._end_height,
    "url": R._end_url, "homepage": R._end_url, "uri": R._end_url,
    "email": R._end_email, "itunes_email": R._end_email,
    "subtitle": R._end_subtitle, "tagline": R._end_subtitle, "itunes_subtitle": R._end_subtitle,
    "rights": R._end_rights, "copyright": R._end_rights, "dc_rights": R._end_rights,
    "info": R._end_info, "feedburner_browserfriendly": R._end_info,
    "item": R._end_item, "entry": R._end_item,
    "language": R._end_language, "dc_language": R._end_language,
    "webmaster": R._end_webmaster, "dc_publisher": R._end_webmaster,
    "published": R._end_published, "issued": R._end_published, "pubdate": R._end_published,
    "dcterms_issued": R._end_published,
    "updated": R._end_updated, "modified": R._end_updated, "lastbuilddate": R._end_updated,
    "dc_date": R._end_updated, "dcterms_modified": R._end_updated,
    "created": R._end_created, "dcterms_created": R._end_created,
    "expirationdate": R._end_expirationdate,
    "category": R._end_category, "keywords": R._end_category, "dc_subject": R._end_category,
    "media_category": R._end_category, "itunes_category": R._end_category,
    "link": R._end_link, "guid": R._end_guid, "id": R._end_guid,
    "title": R._end_title, "dc_title": R._end_title, "media_title": R._end_media_title,
    "description": R._end_description, "dc_description": R._end_description,
    "media_description": R._end_description, "abstract": R._end_description,
    "generator": R._end_generator,
    "summary": R._end_summary, "itunes_summary": R._end_summary,
    "source": R._end_source,
    "content": R._end_content, "content_encoded": R._end_content, "fullitem": R._end_content,
    "newlocation": R._end_newlocation, "tags": R._end_tags,
    "media_keywords": R._end_media_keywords, "media_rating": R._end_media_rating,
    "media_credit": R._end_media_credit, "media_restriction": R._end_media_restriction,
    "media_license": R._end_media_license, "media_thumbnail": R._end_media_thumbnail,
    "media_player": R._end_media_player,
    "itunes_owner": R._end_itunes_owner, "itunes_keywords": R._end_itunes_keywords,
    "itunes_block": R._end_itunes_block, "itunes_explicit": R._end_itunes_explicit,
    "georss_point": R._end_georss_geometry, "georss_line": R._end_georss_geometry,
    "georss_polygon": R._end_georss_geometry, "georss_box": R._end_georss_geometry,
    "georss_where": R._end_georss_where, "psc_chapters": R._end_psc_chapters,
    "creativecommons_license": R._end_creativecommons_license,
}
del R
