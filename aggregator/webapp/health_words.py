"""A source's last error in plain words, for readers and operators on ``/sources``.

The raw message (from the fetch and parse errors) stays visible underneath; this adds
the sentence a non-technical collective member can act on. Messages are English msgids
translated by the catalogues (``N_`` marks them for extraction).
"""

from __future__ import annotations

import re


def N_(message: str) -> str:
    return message


_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b410\b|gone", re.I), N_("The feed was removed by the site (410 Gone): it is no longer fetched.")),
    (re.compile(r"\b404\b|not found", re.I), N_("The feed address no longer exists (404). The site may have moved it.")),
    (re.compile(r"\b(401|403)\b|forbidden|unauthori[sz]ed", re.I), N_("The site refuses our requests (access denied).")),
    (re.compile(r"\b429\b|too many|rate.?limit", re.I), N_("The site asked us to slow down; we will come back later.")),
    (re.compile(r"\b5\d\d\b|server error|unavailable", re.I), N_("The site had a server error.")),
    (re.compile(r"timeout|timed out", re.I), N_("The site did not answer in time.")),
    (re.compile(r"certificate|ssl|tls", re.I), N_("The site's security certificate could not be verified.")),
    (re.compile(r"resolve|dns|name or service|getaddrinfo|no address", re.I), N_("The site's address could not be found (DNS).")),
    (re.compile(r"private|loopback|link-local|blocked", re.I), N_("The address points to a private network, which is refused.")),
    (re.compile(r"too large|size cap|body cap|exceed", re.I), N_("The feed is too large to be read safely.")),
    (re.compile(r"refused|reset|unreachable|connect", re.I), N_("The site could not be reached.")),
    (re.compile(r"pars|not a feed|xml|json|malformed|encoding", re.I), N_("The document is not a feed we can read.")),
)

STATUS_WORDS = {
    "ok": N_("Working"),
    "not_modified": N_("Working (nothing new)"),
    "failing": N_("Failing"),
    "disabled": N_("Disabled"),
    "never": N_("Not fetched yet"),
}


def plain_error(error: str | None) -> str | None:
    """The first matching explanation, or a generic one."""
    if not error:
        return None
    for pattern, words in _RULES:
        if pattern.search(error):
            return words
    return N_("The last fetch failed.")
