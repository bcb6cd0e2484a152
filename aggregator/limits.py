"""How big anything taken from a feed may be, and what that makes a page weigh.

Every field of an entry comes from a stranger: a feed with a 1 MiB title, 10,000 tags or a
summary the size of a book was stored and rendered whole, and one such item made every
reader's river page too heavy for a browser to lay out. Parsers bound each field to these
limits (``parse/build.py``, after the raw values are read, whatever the format),
migration 0005 bounds what older versions stored, and docs/crawling.md lists them
("Supported feed formats and sanitizing"). Lengths are in characters; a text cut at a
word gets one more, its ellipsis.

Nothing here imports anything: the parsers, the store's migrations and the tests read it.
"""

from __future__ import annotations

#: An entry's title (plain text).
MAX_TITLE_LENGTH = 300
#: The author's name (plain text).
MAX_AUTHOR_LENGTH = 200
#: Tags per entry, and characters per tag.
MAX_TAGS = 20
MAX_TAG_LENGTH = 100
#: Any URL: the link, the image, enclosures, links of fediverse posts. Longer ones are dropped.
MAX_URL_LENGTH = 2048
#: The summary (sanitized HTML). A longer one is replaced by the plain-text excerpt.
MAX_SUMMARY_HTML = 4000
#: The plain-text excerpt that search indexes and the river falls back to.
MAX_TEXT_LENGTH = 600
#: The full content (sanitized HTML; stored, never shown in lists). Longer is cut.
MAX_CONTENT_HTML = 256 * 1024
#: The GUID (identity), and a fediverse post's URI and CID.
MAX_GUID_LENGTH = 1000
MAX_CID_LENGTH = 200
#: A language tag (``fr``, ``de-CH``); the column is this wide.
MAX_LANGUAGE_LENGTH = 20
#: A feed's own title and description (shown on the sources page).
MAX_FEED_TITLE_LENGTH = 300
MAX_FEED_DESCRIPTION_LENGTH = 600

#: The most one item adds to any page or document that lists items (river, source, tag,
#: search, Atom, JSON Feed, ``/api/items``), in bytes of the response body, when every
#: field is at its limit and written in the characters escaping multiplies most (``"``
#: becomes ``&#34;`` or ``&quot;``). A typical item adds 1 to 3 KB. A story several
#: sources published adds one link per other source.
MAX_ITEM_BYTES = 40 * 1024
#: So a page of ``PAGE_ITEMS`` items (a feed page, the API's default page; the river and
#: search show 30 and 20) weighs at most this, page and assets included.
#: tests/web/test_hostile_pages.py crawls full pages of such items and checks it.
PAGE_ITEMS = 50
MAX_PAGE_BYTES = PAGE_ITEMS * MAX_ITEM_BYTES
