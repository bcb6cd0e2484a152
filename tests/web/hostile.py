"""A deterministic corpus of hostile input for the web fuzz test, and the routes to aim it at.

Values are grouped by what they try (sizes, encodings, unicode, markup, search syntax,
numbers, forged cursors, traversal). Each is the *encoded* form sent on the wire: most are
``quote``d so the application receives them exactly, the ``ENCODINGS`` group is sent raw to
try the decoders. Markup uses ``fz`` markers that never occur in the site's own pages, so
a marker found in an answer was reflected. The forged host name never occurs in any value:
finding it in an answer means a URL was built from a request header.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from urllib.parse import quote

from aiohttp import web

#: The host name forged in Host, X-Forwarded-Host and Forwarded; never in an answer.
FORGED_HOST = "forged-host.example"
#: Substrings that, found in an answer, are reader input reflected as markup.
MARKUP_NEEDLES = ("<fz-", "<script>fz", "fz(2)>", 'href="javascript:fz', 'src="javascript:fz')


def _q(value: str) -> str:
    return quote(value, safe="")


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode("latin-1")).decode().rstrip("=")


SIZES = ["", _q(" "), "a" * 200, "a" * 501, _q("é" * 1200), "x" * 7000, _q("a b ") * 300]
ENCODINGS = [  # sent as they are, undecoded
    "%00", "a%00b", "%ff%fe", "%c0%af", "%ED%A0%80", "%F4%90%80%80", "%25", "%", "%zz", "%%%", "+", "%2B",
    "%0d%0aX-Fz-Injected:%201", "%u003cfz-u%u003e", "%252e%252e%252f", "%E2%80%AE", "&&&==&", "a=b=c", ";x=1",
]
UNICODE = [_q(v) for v in (
    "\u202egnp.exe", "\ufeffbom", "\U0001f4a9", "e\u0301" * 60, "\ufb01", "\u0130", "\u200d\u200c\u2060", "\uffff",
    "\u2028\u2029", "\U0001d54f" * 80, "Ω≈ç√∫˜µ≤≥÷", "\uff1cfz-w\uff1e", "\x7f", "\x1b[31m", "\t\n\r",
    "Z̷̢͔̈́͝a̸̛͍̓l̵͎͂g̶̪̿o̴͙͒",
)]
MARKUP = [_q(v) for v in (
    "<fz-a>", '"><fz-b onmouseover=fz(2)>', "<script>fz(3)</script>", "javascript:fz(4)", "'\"><fz-c/>",
    "{{7*7}}{% raw %}", "${7*7}#{7*7}", "'", '"', "\\", "</textarea><fz-d>", "<!--", "]]><fz-e>",
)]
SEARCH = [_q(v) for v in (
    '"unbalanced', '""', "a AND OR NOT", "title:x", "*", "?", "(((", ")", "-", "NOT", "a~2", "[a TO b]", "a^99999999",
    "{}", ":", "source:", "tag:", "lang:zz", "after:2026-13-45", "after:99999-01-01", "before:-1", "/.*/",
    "a" + " OR a" * 120, '"' + "mot " * 150 + '"', "*" * 100, "\\*\\?", "-grève -paris", "grève" + " -x" * 100,
    "source:paris-luttes tag:logement lang:fr after:2026-01-01 grève",
)]
NUMBERS = [_q(v) for v in (
    "-1", "0", "1e309", "NaN", "inf", "0x10", "\uff11\uff12", "9" * 30, "9223372036854775808",
    "-9223372036854775809", "1_000", "1.5", " 5 ", "201", "10001",
)]
CURSORS = [
    _b64("k1.9223372036854775808"), _b64("k1.18446744073709551616"), _b64("k-99999999999999999999.1"),
    _b64("k99999999999999999.1"), _b64("k1.-1"), _b64("k1"), _b64("k."), _b64("o-1"), _b64("o10001"),
    _b64("o" + "9" * 30), _b64("o1e3"), _b64("\xff\xfe"), _b64("k1.1\x00"), "====", "A" * 101, "!!",
    _b64("k 1.1"), _b64("k1_0.1"), _b64("o\xef\xbc\x91"),  # the last: "o" and a fullwidth 1 in UTF-8
]
TRAVERSAL = [_q(v) for v in (
    "../../etc/passwd", "..%2f..%2fetc%2fpasswd", "....//....//etc/passwd", "/etc/passwd",
    "\\..\\..\\windows\\win.ini", "file:///etc/passwd", "http://169.254.169.254/latest/meta-data/",
    "../aggregator.sqlite3", "//" + "evil.test/x",
)] + ["..", "%2e%2e", "..%2f..%2f..%2fetc%2fpasswd"]

GROUPS: dict[str, list[str]] = {
    "sizes": SIZES, "encodings": ENCODINGS, "unicode": UNICODE, "markup": MARKUP, "search": SEARCH,
    "numbers": NUMBERS, "cursors": CURSORS, "traversal": TRAVERSAL,
}
VALUES: list[str] = [v for group in GROUPS.values() for v in group]

#: The parameters of the routes (docs/web.md), and some a new route might read.
PARAMS = ("source", "tag", "lang", "q", "cursor", "limit", "sort", "ui", "resource", "token", "url", "page", "id")

#: Headers forged on every route (name, value); values the client library can send.
HEADERS: list[tuple[str, str]] = [
    ("Host", FORGED_HOST), ("Host", f"{FORGED_HOST}:99999"), ("Host", f"{FORGED_HOST}:-1"), ("Host", "[::1"),
    ("Host", "a" * 300), ("Host", ""), ("Host", f"{FORGED_HOST}:8080"), ("Host", "127.0.0.1:0"),
    ("X-Forwarded-Host", FORGED_HOST), ("X-Forwarded-Proto", "gopher"), ("X-Forwarded-For", "1.2.3.4, <fz-f>"),
    ("Forwarded", f'for="[::1]";host={FORGED_HOST};proto=https'), ("X-Original-URL", "/metrics"),
    ("X-Rewrite-URL", "/admin"), ("X-HTTP-Method-Override", "DELETE"),
    ("Accept-Language", "*"), ("Accept-Language", "en;q=NaN"), ("Accept-Language", "fr;q=1e999, en;q=-1"),
    ("Accept-Language", "x" * 4000), ("Accept-Language", ",,,;;;"), ("Accept-Language", "en-" + "a" * 100),
    ("Cookie", "ui=<fz-g>"), ("Cookie", "ui=en; ui=fr"), ("Cookie", 'session="unterminated'),
    ("Cookie", "a=" + "b" * 4000), ("Cookie", "=;=;;ui"), ("Cookie", f"ui=en; session={FORGED_HOST}"),
    ("If-None-Match", "*"), ("If-None-Match", '"'), ("If-None-Match", 'W/"x", "y", ' * 50),
    ("If-Modified-Since", "garbage"), ("If-Modified-Since", "Fri, 31 Dec 9999 23:59:59 GMT"),
    ("If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT"), ("If-Modified-Since", "-1"),
    ("Accept", "application/activity+json"), ("Accept", "*/*;q=x"), ("Accept", "text/html;level=" + "9" * 40),
    ("Accept-Encoding", "gzip;q=NaN, br, *;q=0"), ("Range", "bytes=999999999999-"), ("Range", "bytes=-1,-2,0-0,5-1"),
    ("Origin", "null"), ("Referer", "javascript:fz(5)"), ("Authorization", "Bearer <fz-h>"),
    ("Authorization", 'Signature keyId="https://' + FORGED_HOST + '/key",signature="AAAA"'),
    ("Expect", "fz-continue"), ("Content-Type", "multipart/form-data; boundary=" + "-" * 200),
    ("User-Agent", "<fz-i>" * 100), ("Via", "1.1 " + FORGED_HOST), ("Connection", "Upgrade"), ("Upgrade", "h2c"),
]

#: Methods tried on every route (aiohttp answers 405 where a route has no such method).
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND", "FZ-METHOD")

#: Bodies sent to every route with a method that takes one: (content type, body).
BODIES: list[tuple[str, bytes]] = [
    ("application/json", b""), ("application/json", b"{"), ("application/json", b"[" * 100_000),
    ("application/json", b'{"a":' * 5000 + b"1" + b"}" * 5000), ("application/json", b"\xff\xfe\x00"),
    ("application/activity+json", b'{"type":"Follow","actor":"http://127.0.0.1:1/","object":"<fz-j>"}'),
    ("application/x-www-form-urlencoded", b"email=%ff%fe&email=" + b"a" * 1000 + b"&" * 1000),
    ("application/x-www-form-urlencoded", b"email=<fz-k>@example.org"),
    ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n<fz-l>\r\n--x"),
    ("text/plain", b"a" * 70_000), ("application/xml", b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'),
]

#: What raw requests over a socket try (aiohttp's own parser answers most with 400).
RAW: dict[str, bytes] = {
    "url of 9,000 characters": b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "header of 8 KB": b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8200 + b"\r\n\r\n",
    "Content-Length: -1": b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "NUL in a header": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    "two Host headers": b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
    "Content-Length and chunked": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "bad chunk size": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n",
    "HTTP/9.9": b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    "bare LF line ends": b"GET / HTTP/1.1\nHost: x\n\n",
    "header without colon": b"GET / HTTP/1.1\r\nHost: x\r\nnocolon\r\n\r\n",
    "folded header": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
    "space in the URL": b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n",
    "absolute-form, forged host": b"GET http://" + FORGED_HOST.encode() + b"/feed.atom HTTP/1.1\r\nHost: x\r\n\r\n",
    "absolute-form, port out of range": b"GET http://" + FORGED_HOST.encode() + b":99999/api/items HTTP/1.1\r\nHost: x\r\n\r\n",
    "markup in a malformed header": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: <fz-m>\x00\r\n\r\n",
    "Host: port out of range": b"GET /feed.atom HTTP/1.1\r\nHost: " + FORGED_HOST.encode() + b":99999\r\n\r\n",
    "Host in UTF-8": b"GET /api/items HTTP/1.1\r\nHost: \xc3\xa9vil.example\r\n\r\n",
    "CRLF injected in the path": b"GET /%0d%0aSet-Cookie:%20fz=1 HTTP/1.1\r\nHost: x\r\n\r\n",
    "traversal in static": b"GET /static/../../pyproject.toml HTTP/1.1\r\nHost: x\r\n\r\n",
    "encoded traversal in static": b"GET /static/%2e%2e/%2e%2e/pyproject.toml HTTP/1.1\r\nHost: x\r\n\r\n",
    "encoded slash traversal": b"GET /static/..%2f..%2f..%2fetc%2fpasswd HTTP/1.1\r\nHost: x\r\n\r\n",
    "protocol-relative path": b"GET //evil.test/ HTTP/1.1\r\nHost: x\r\n\r\n",
    "OPTIONS *": b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
    "CONNECT": b"CONNECT " + FORGED_HOST.encode() + b":443 HTTP/1.1\r\nHost: " + FORGED_HOST.encode() + b":443\r\n\r\n",
    "TLS hello": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40,
    "200 headers": b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: a\r\n" % i for i in range(200)) + b"\r\n",
    "HTTP/0.9": b"GET /\r\n\r\n",
    "NUL in the request line": b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
    "method of 9,000 characters": b"G" * 9000 + b" / HTTP/1.1\r\nHost: x\r\n\r\n",
}
#: Files that must never be served, whatever the path: (marker found in their content).
SECRETS = (b"root:x:0:0", b"[project]", b"SQLite format 3", b"[tool.")


@dataclass(frozen=True)
class Route:
    """One route of the app: its name, its methods, and its path with ``{param}`` holes."""

    name: str
    template: str
    methods: frozenset[str]

    @property
    def params(self) -> list[str]:
        out, rest = [], self.template
        while "{" in rest:
            start, end = rest.index("{"), rest.index("}")
            out.append(rest[start + 1:end].split(":")[0])
            rest = rest[end + 1:]
        return out

    def path(self, values: dict[str, str]) -> str:
        """The template with each ``{param}`` replaced by an (already encoded) value."""
        out, rest = "", self.template
        while "{" in rest:
            start, end = rest.index("{"), rest.index("}")
            name = rest[start + 1:end].split(":")[0]
            out += rest[:start] + values[name]
            rest = rest[end + 1:]
        return out + rest


def routes_of(app: web.Application, prefix: str = "") -> list[Route]:
    """Every route registered on the app, whoever added it (new routes are fuzzed too)."""
    routes = []
    for resource in app.router.resources():
        info = resource.get_info()
        if "app" in info:  # a sub-application mounted under a prefix
            routes += routes_of(info["app"], prefix + info["prefix"])
            continue
        if "path" in info:
            template = info["path"]
        elif "formatter" in info:
            template = info["formatter"]
        else:  # a static directory
            template = info["prefix"].rstrip("/") + "/{filename}"
        methods = frozenset(route.method for route in resource)
        routes.append(Route(resource.name or prefix + template, prefix + template, methods))
    return routes
