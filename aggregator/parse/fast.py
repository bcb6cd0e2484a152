"""The fast path for well-formed RSS/Atom/RDF: lxml builds the tree, a port of feedparser reads it.

feedparser spends most of its time in expat's Python callbacks and its SAX mixin
(parsing is the crawler's bottleneck, measured in bench/parse.py). Here libxml2 builds the tree in C and
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

import collections
import contextlib
import re
import xml.parsers.expat
from collections.abc import Callable
from typing import Any, NamedTuple

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
        #: Per tags list (by id): how many of its dicts hold each (term, scheme, label).
        self._tag_counts: dict[int, collections.Counter[tuple[Any, Any, Any]]] = {}
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
        """feedparser's ``value not in tags``, counted instead of scanned.

        feedparser compares each new tag with every earlier one: 10,000 categories cost
        seconds (a hostile feed's cheap attack). The counts give the same answer at once;
        ``_end_category``, the only other place a tag changes, keeps them true.
        """
        tags = self._get_context().setdefault("tags", [])
        if not term and not scheme and not label:
            return
        counts = self._tag_counts.setdefault(id(tags), collections.Counter())
        key = (term, scheme, label)
        if not counts[key]:
            counts[key] += 1
            tags.append({"term": term, "scheme": scheme, "label": label})

    # -- handlers (namespaces/_base.py and friends) ------------------------------------
    # Named after feedparser's. Where a row of ``_ELEMENTS`` declares what an element pushes
    # and which context flag it raises, its ``_start_*`` hook is the rest of feedparser's
    # start handler and its ``_end_*`` hook the rest of the end handler (given the popped
    # text); a row without those declarations names feedparser's whole handlers.
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
        _refuse_cdf(attrs)

    def _start_feed(self, attrs: dict[str, Any]) -> None:
        if not self.version:
            self.version = {"0.1": "atom01", "0.2": "atom02", "0.3": "atom03"}.get(attrs.get("version") or "", "atom")

    def _start_item(self, attrs: dict[str, Any]) -> None:
        self.entries.append(_Ctx())
        self.push("item", 0)
        self.inentry = 1
        self.guidislink = 0
        self.title_depth = -1
        about = attrs.get("rdf:about")
        if about:
            self._get_context()["id"] = about  # the entry's context: after inentry is raised
        _refuse_cdf(attrs)

    def _end_item(self) -> None:
        self.pop("item")
        self.inentry = 0
        self.has_content = 0

    def _start_image(self, attrs: dict[str, Any]) -> None:
        context = self._get_context()  # before inimage is raised
        if not self.inentry:
            context.setdefault("image", _Ctx())
        self.title_depth = -1

    def _start_textinput(self, attrs: dict[str, Any]) -> None:
        self._get_context().setdefault("textinput", _Ctx())
        self.title_depth = -1

    def _start_source(self, attrs: dict[str, Any]) -> None:
        if "url" in attrs:
            self.sourcedata["href"] = attrs["url"]
        self.push("source", 1)
        self.insource = 1
        self.title_depth = -1

    def _end_source(self) -> None:
        self.insource = 0  # before the pop: the source's text is stored as the entry's
        value = self.pop("source")
        if value:
            self.sourcedata["title"] = value
        self._get_context()["source"] = _Ctx(self.sourcedata)
        self.sourcedata = _Ctx()

    # People: author, contributor, publisher (webMaster, itunes:owner) and their fields.
    def _start_author(self, attrs: dict[str, Any]) -> None:
        self._get_context().setdefault("authors", []).append(_Ctx())

    def _start_contributor(self, attrs: dict[str, Any]) -> None:
        self._get_context().setdefault("contributors", []).append(_Ctx())

    def _end_author(self, key: str, value: Any) -> None:
        """_end_author, _end_webmaster, _end_itunes_owner: the person's detail from its text."""
        self._sync_author_detail(key)

    def _end_person(self, key: str, value: Any) -> None:
        """_end_name, _end_email, _end_url (``href``): a field of the person being read."""
        if self.inpublisher and key != "href":
            self._save_author(key, value, "publisher")
        elif self.inauthor:
            self._save_author(key, value)
        elif self.incontributor:
            self._save_contributor(key, value)
        elif self.intextinput and key == "name":
            self._get_context()["name"] = value

    def _end_dimension(self, key: str, value: Any) -> None:
        """_end_width, _end_height: a number, kept inside an image."""
        try:
            number = int(value)
        except ValueError:
            number = 0
        if self.inimage:
            self._get_context()[key] = number

    def _end_language(self, key: str, value: Any) -> None:
        self.lang = value

    def _end_date(self, key: str, value: Any) -> None:
        """_end_published, _end_updated, _end_created, _end_expirationdate: the date parsed."""
        self._save(f"{key}_parsed", _parse_date(value), overwrite=True)

    # Text constructs.
    def _end_title(self, key: str, value: Any) -> None:
        if value:
            self.title_depth = self.depth

    def _start_description(self, attrs: dict[str, Any]) -> None:
        if not self._summary_as_content(attrs):
            self.push_content("description", attrs, "text/html", self.infeed or self.inentry or self.insource)

    def _start_summary(self, attrs: dict[str, Any]) -> None:
        if not self._summary_as_content(attrs):
            self._summary_key = "summary"
            self.push_content("summary", attrs, "text/plain", 1)

    def _summary_as_content(self, attrs: dict[str, Any]) -> bool:
        """A description or summary after a summary and before any content is read as content."""
        if "summary" in self._get_context() and not self.has_content:
            self._summary_key = "content"
            self._start_content(attrs)
            return True
        return False

    def _end_description(self) -> None:
        self._end_summary_as("description")

    def _end_summary(self) -> None:
        self._end_summary_as(self._summary_key or "summary")

    def _end_summary_as(self, key: str) -> None:
        if self._summary_key == "content":
            self._end_content()
        else:
            self.pop_content(key)
        self._summary_key = None

    def _start_content(self, attrs: dict[str, Any]) -> None:
        self.has_content = 1
        self.push_content("content", attrs, "text/plain", 1)
        src = attrs.get("src")
        if src:
            self.contentparams["src"] = src
        self.push("content", 1)

    def _start_content_encoded(self, attrs: dict[str, Any]) -> None:
        self.has_content = 1

    def _end_content(self) -> None:
        copy_to_summary = _map_content_type(self.contentparams.get("type")) in ({"text/plain"} | _HTML_TYPES)
        value = self.pop_content("content")
        if copy_to_summary:
            self._save("summary", value)

    # Categories, links, ids and the rest of RSS.
    def _start_category(self, attrs: dict[str, Any]) -> None:
        self._add_tag(attrs.get("term"), attrs.get("scheme", attrs.get("domain")), attrs.get("label"))

    def _end_category(self, key: str, value: Any) -> None:
        if not value:
            return
        tags = self._get_context()["tags"]
        if value and len(tags) and not tags[-1]["term"]:
            last = tags[-1]
            counts = self._tag_counts.setdefault(id(tags), collections.Counter())
            counts[(last["term"], last["scheme"], last["label"])] -= 1
            last["term"] = value
            counts[(value, last["scheme"], last["label"])] += 1
        else:
            self._add_tag(value, None, None)

    def _end_tags(self, key: str, value: Any) -> None:
        for term in value.split(","):
            self._add_tag(term.strip(), None, None)

    def _end_keywords(self, key: str, value: Any) -> None:
        """_end_media_keywords, _end_itunes_keywords: comma-separated tags, blanks skipped."""
        scheme = "http://www.itunes.com/" if key == "itunes_keywords" else None
        for term in value.split(","):
            if term.strip():
                self._add_tag(term.strip(), scheme, None)

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

    def _end_guid(self, key: str, value: Any) -> None:
        self._save("guidislink", self.guidislink and "link" not in self._get_context())
        if self.guidislink:
            self._save("link", value)

    def _start_generator(self, attrs: dict[str, Any]) -> None:
        if attrs:
            attrs = _enforce_href(attrs)
            if "href" in attrs:
                attrs["href"] = _urljoin(self.baseuri or "", attrs["href"])
        self._get_context()["generator_detail"] = _Ctx(attrs)

    def _end_generator(self, key: str, value: Any) -> None:
        context = self._get_context()
        if "generator_detail" in context:
            context["generator_detail"]["name"] = value

    def _start_enclosure(self, attrs: dict[str, Any]) -> None:
        attrs = _enforce_href(attrs)
        context = self._get_context()
        attrs["rel"] = "enclosure"
        context.setdefault("links", []).append(_Ctx(attrs))

    # Media RSS (namespaces/mediarss.py)
    def _start_media_category(self, attrs: dict[str, Any]) -> None:
        attrs.setdefault("scheme", "http://search.yahoo.com/mrss/category_schema")
        self._start_category(attrs)

    def _start_media_group(self, attrs: dict[str, Any]) -> None:
        pass

    def _end_media_text(self, key: str, value: Any) -> None:
        """_end_media_rating, _end_media_credit (the last one), _end_media_license: the text."""
        if value is not None and value.strip():
            target = self._get_context()[f"media_{key}"]
            (target[-1] if key == "credit" else target)["content"] = value

    def _end_media_thumbnail(self, key: str, value: Any) -> None:
        context = self._get_context()
        if value is not None and value.strip() and "url" not in context["media_thumbnail"][-1]:
            context["media_thumbnail"][-1]["url"] = value

    def _start_media_player(self, attrs: dict[str, Any]) -> None:
        self._get_context()["media_player"] = _Ctx(attrs)

    def _end_media_player(self, key: str, value: Any) -> None:
        self._get_context()["media_player"]["content"] = value

    # GeoRSS, Podlove chapters, Creative Commons: only their effect on the element stack
    # and on ``links`` matters here.
    def _start_georss_geometry(self, attrs: dict[str, Any]) -> None:
        self._get_context()["where"] = _Ctx()

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

    def _end_creativecommons_license(self, key: str, value: Any) -> None:
        context = self._get_context()
        link = _Ctx(rel="license")
        if value:
            link["href"] = value
        context.setdefault("links", []).append(link)
        del context["license"]

    # iTunes (namespaces/itunes.py)
    def _start_itunes_category(self, attrs: dict[str, Any]) -> None:
        self._add_tag(attrs.get("text"), "http://www.itunes.com/", None)

    def _start_itunes_image(self, attrs: dict[str, Any]) -> None:
        self.push("itunes_image", 0)
        if attrs.get("href"):
            self._get_context()["image"] = _Ctx({"href": attrs.get("href")})
        elif attrs.get("url"):
            self._get_context()["image"] = _Ctx({"href": attrs.get("url")})


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


# -- the element table ------------------------------------------------------------------
_Start = Callable[[_Reader, dict[str, Any]], None]
_Then = Callable[[_Reader, str, Any], None]
_End = Callable[[_Reader], None]
#: ``text`` of an element whose text is kept only inside the feed, an entry or a source.
_IN_CONTEXT = -1


class _Element(NamedTuple):
    """How feedparser reads an element, under each of its names: one row of ``_ELEMENTS``.

    One row declares both ends of an element, so the start and end dispatch (once two
    tables of the same aliases) cannot drift apart. The start runs ``start`` with the
    attributes, pushes ``key`` (``push_content``, ``construct`` being the default type, for
    a text construct) and raises the flag ``opens``; the end pops ``key`` (``pop_content``),
    gives the text to ``then`` and lowers the flag. feedparser's handlers do these in this
    order or in one that comes to the same (a push reads no flag). Where its order differs
    and matters (an entry's ``rdf:about`` is stored once ``inentry`` is raised, ``insource``
    is lowered before the pop), the row names whole handlers: a ``start`` with neither
    ``key`` nor ``opens`` is the whole start, an ``end`` the whole end.
    """

    names: str  #: feedparser's handler suffixes for the element, space-separated
    key: str = ""  #: what it pushes on the element stack and pops
    text: int = 1  #: expecting_text for the push (or _IN_CONTEXT)
    construct: str = ""  #: a text construct's default content type
    opens: str = ""  #: the context flag (``inimage``...) raised from start to end
    start: _Start | None = None  #: feedparser's start handler, less the push and the flag
    then: _Then | None = None  #: feedparser's end handler after the pop, less the flag
    end: _End | None = None  #: feedparser's whole end handler, instead of the above
    end_only: bool = False  #: feedparser has no start handler: its generic start runs


def _keeps(key: str, *, many: bool = False) -> _Start:
    """A start hook keeping the element's attributes in the context: the first, or all of them."""

    def keep_first(reader: _Reader, attrs: dict[str, Any]) -> None:
        reader._get_context().setdefault(key, attrs)

    def keep_all(reader: _Reader, attrs: dict[str, Any]) -> None:
        reader._get_context().setdefault(key, []).append(attrs)

    return keep_all if many else keep_first


R = _Reader
#: The elements feedparser has handlers for that the port reads (any other it has a handler
#: for is declined), by feedparser's handler suffixes, aliases as feedparser defines them.
_ELEMENTS = (
    # namespaces/_base.py: the document, channel, entries, images, text inputs, sources
    _Element("rss", start=R._start_rss),
    _Element("channel", opens="infeed", start=R._start_channel),
    _Element("feed", opens="infeed", start=R._start_feed),
    _Element("item entry", start=R._start_item, end=R._end_item),
    _Element("image", key="image", text=0, opens="inimage", start=R._start_image),
    _Element("textinput textInput", key="textinput", text=0, opens="intextinput", start=R._start_textinput),
    _Element("source", start=R._start_source, end=R._end_source),
    # people
    _Element("author managingeditor dc_author dc_creator itunes_author", key="author", opens="inauthor",
             start=R._start_author, then=R._end_author),
    _Element("contributor", key="contributor", text=0, opens="incontributor", start=R._start_contributor),
    _Element("dc_contributor", key="name", text=0, opens="incontributor", start=R._start_contributor,
             then=R._end_person),
    _Element("itunes_owner", key="publisher", text=0, opens="inpublisher", then=R._end_author),
    _Element("webmaster dc_publisher", key="publisher", then=R._end_author),
    _Element("name itunes_name", key="name", text=0, then=R._end_person),
    _Element("email itunes_email", key="email", text=0, then=R._end_person),
    _Element("url homepage uri", key="href", then=R._end_person),
    # text constructs
    _Element("title dc_title", key="title", construct="text/plain", text=_IN_CONTEXT, then=R._end_title),
    # feedparser's _end_media_title puts title_depth back as it was: the pop alone
    _Element("media_title", key="title", construct="text/plain", text=_IN_CONTEXT),
    _Element("subtitle tagline itunes_subtitle", key="subtitle", construct="text/plain"),
    _Element("rights copyright dc_rights", key="rights", construct="text/plain"),
    _Element("info feedburner_browserfriendly", key="info", construct="text/plain"),
    _Element("description dc_description media_description", start=R._start_description, end=R._end_description),
    _Element("abstract", key="description", construct="text/plain", text=_IN_CONTEXT, end=R._end_description),
    _Element("summary itunes_summary", start=R._start_summary, end=R._end_summary),
    _Element("content", start=R._start_content, end=R._end_content),
    _Element("content_encoded fullitem", key="content", construct="text/html", start=R._start_content_encoded,
             end=R._end_content),
    # dates, language, sizes
    _Element("published issued pubdate dcterms_issued", key="published", then=R._end_date),
    _Element("updated modified lastbuilddate dc_date dcterms_modified", key="updated", then=R._end_date),
    _Element("created dcterms_created", key="created", then=R._end_date),
    _Element("expirationdate", key="expired", then=R._end_date),
    _Element("language dc_language", key="language", then=R._end_language),
    _Element("width", key="width", text=0, then=R._end_dimension),
    _Element("height", key="height", text=0, then=R._end_dimension),
    # categories, links, ids and the rest of RSS
    _Element("category keywords dc_subject", key="category", start=R._start_category, then=R._end_category),
    _Element("tags", key="tags", then=R._end_tags),
    _Element("cloud", start=R._start_cloud),
    _Element("link", start=R._start_link, end=R._end_link),
    _Element("guid id", key="id", start=R._start_guid, then=R._end_guid),
    _Element("generator", key="generator", start=R._start_generator, then=R._end_generator),
    _Element("enclosure", start=R._start_enclosure),
    _Element("newlocation", key="newlocation"),  # stored as ``newlocation``, which nobody reads
    # Media RSS
    _Element("media_category", key="category", start=R._start_media_category, then=R._end_category),
    _Element("media_keywords", key="media_keywords", end_only=True, then=R._end_keywords),
    _Element("media_group", start=R._start_media_group),
    _Element("media_rating", key="rating", start=_keeps("media_rating"), then=R._end_media_text),
    _Element("media_credit", key="credit", start=_keeps("media_credit", many=True), then=R._end_media_text),
    # stored under media_restriction, which nobody reads
    _Element("media_restriction", key="restriction", start=_keeps("media_restriction")),
    _Element("media_license", key="license", start=_keeps("media_license"), then=R._end_media_text),
    _Element("media_content", start=_keeps("media_content", many=True)),
    _Element("media_thumbnail", key="url", start=_keeps("media_thumbnail", many=True), then=R._end_media_thumbnail),
    _Element("media_player", key="media_player", text=0, start=R._start_media_player, then=R._end_media_player),
    # GeoRSS, Podlove chapters, Creative Commons
    _Element("georss_point georss_line georss_polygon georss_box", key="geometry", text=0,
             start=R._start_georss_geometry),
    _Element("georss_where", key="where", end_only=True),
    _Element("psc_chapters", start=R._start_psc_chapters, end=R._end_psc_chapters),
    _Element("psc_chapter", start=R._start_psc_chapter),
    _Element("cc_license", start=R._start_cc_license),
    _Element("creativecommons_license", key="license", then=R._end_creativecommons_license),
    # iTunes
    _Element("itunes_category", key="category", start=R._start_itunes_category, then=R._end_category),
    _Element("itunes_image itunes_link", start=R._start_itunes_image),
    _Element("itunes_keywords", key="itunes_keywords", end_only=True, then=R._end_keywords),
    _Element("itunes_block", key="itunes_block", end_only=True),  # stored as a flag nobody reads
    _Element("itunes_explicit", key="itunes_explicit", end_only=True),
)
del R


def _start_handler(row: _Element) -> _Start | None:
    """The row's start handler: its hook, its push, its flag raised (see ``_Element``)."""
    hook, key, text, construct, flag = row.start, row.key, row.text, row.construct, row.opens
    if row.end_only:
        return None
    if not key and not flag:
        return hook
    in_context = text == _IN_CONTEXT

    def start(reader: _Reader, attrs: dict[str, Any]) -> None:
        if hook is not None:
            hook(reader, attrs)
        if key:
            expecting = (reader.infeed or reader.inentry or reader.insource) if in_context else text
            if construct:
                reader.push_content(key, attrs, construct, expecting)
            else:
                reader.elementstack.append([key, expecting, []])  # push(), inlined: most elements push
        if flag:
            setattr(reader, flag, 1)

    return start


def _end_handler(row: _Element) -> _End | None:
    """The row's end handler: its pop, its hook given the popped text, its flag lowered."""
    key, construct, then, flag = row.key, row.construct, row.then, row.opens
    if row.end is not None or not (key or flag):
        return row.end

    def end(reader: _Reader) -> None:
        value = (reader.pop_content(key) if construct else reader.pop(key)) if key else None
        if then is not None:
            then(reader, key, value)
        if flag:
            setattr(reader, flag, 0)

    return end


def _handler_tables(rows: tuple[_Element, ...]) -> tuple[dict[str, _Start], dict[str, _End]]:
    """The start and end dispatch tables ``_Reader.start``/``end`` read, keyed by handler suffix."""
    starts: dict[str, _Start] = {}
    ends: dict[str, _End] = {}
    for row in rows:
        start, end = _start_handler(row), _end_handler(row)
        for name in row.names.split():
            if name in starts or name in ends:
                raise ValueError(f"element {name!r} in two rows")
            if start is not None:
                starts[name] = start
            if end is not None:
                ends[name] = end
    return starts, ends


_STARTS, _ENDS = _handler_tables(_ELEMENTS)
