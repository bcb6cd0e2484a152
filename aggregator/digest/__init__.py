"""The daily newsletter (issue 11): what was published since the last digest, by e-mail.

Modules, each with one job:

- ``compose``: pure: the window rule, the day in the configured time zone, one digest for
  one subscriber's filters (groups, "also published by", clean links);
- ``render``: the mails (digest, mailing-list variant, confirmation, re-confirmation) as
  ``multipart/alternative`` messages with the list headers (wire bytes on the fast path);
- ``addresses``: strangers' addresses, validated and normalised;
- ``tokens``: keyed tokens, address hashes and Message-IDs from one stored secret;
- ``links``: the absolute URLs mails carry (the web routes must answer them);
- ``smtp``: ``AGGREGATOR_SMTP_URL`` and the aiosmtplib transport, answers classified;
- ``deliver``: the exactly-once delivery loop (``Newsletter.send_due``);
- ``subscriptions``: subscribing, confirming, unsubscribing, changing filters (the web routes);
- ``archive``: the stored digests as the web and ``digest show`` read them;
- ``shapes``: the JSON of ``digest show --json`` and the ``/digest.atom``, ``/digest.json`` feeds;
- ``throttle``: per-client limits on the forms;
- ``routes``: the pages, mounted by the factory on the readers' app (``routes.setup``).

It reads and writes through ``aggregator.store`` only, renders its pages with the web
front end's templates, and never crawls or searches.
"""

from .deliver import MailTransport, Newsletter, SendCounts, keyring_for
from .smtp import SmtpSettings, SmtpTransport, parse_smtp_url
from .subscriptions import SubscribeOutcome, Subscriptions, filters_from_form

__all__ = [
    "MailTransport", "Newsletter", "SendCounts", "SmtpSettings", "SmtpTransport", "SubscribeOutcome", "Subscriptions",
    "filters_from_form", "keyring_for", "parse_smtp_url",
]
