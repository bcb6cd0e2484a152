"""Readers suggest sources (issue 13): ``/suggest``, checked once, decided by the operator.

A stranger's URL is read once through the crawler's own retrieval (``update/retrieve``:
feed discovery, the SSRF guard of the one HTTP client, the parse pool), within a bounded
time, and kept as a pending suggestion; nothing of it is shown publicly until the
operator accepts it into ``sources.yaml`` (``aggregator suggestions accept ID``).

Modules, each with one job:

- ``urls``: what a suggested address may be, its normal form and its comparison key;
- ``limits``: the in-memory rate limit per client (and for everyone together);
- ``check``: reading the URL once, in bounded time, into a ``CheckResult``;
- ``accept``: the ``sources.yaml`` entry an accepted suggestion becomes (pure);
- ``ports``: what this package needs of the store and of the retriever;
- ``routes``: the ``/suggest`` form and its answer, mounted by the factory (``setup``).

It sits above ``webapp | relay | update``: it renders with the web front end's templates
and reads with the crawler's retriever, and neither of those knows it.
"""

from .accept import source_for
from .check import CheckResult, check_url
from .limits import RateLimiter
from .routes import SuggestDeps, setup
from .urls import InvalidSuggestion, normalize_url, url_key

__all__ = [
    "CheckResult", "InvalidSuggestion", "RateLimiter", "SuggestDeps", "check_url", "normalize_url", "setup",
    "source_for", "url_key",
]
