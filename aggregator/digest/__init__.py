"""The daily newsletter (issue 11): what was published since the last digest, by e-mail.

Modules, each with one job:

- ``compose``: pure: the window rule, the day in the configured time zone, one digest for
  one subscriber's filters (groups, "also published by", clean links);
- ``render``: the mails (digest, mailing-list variant, confirmation, re-confirmation) as
  ``multipart/alternative`` ``EmailMessage`` objects with the list headers;
- ``addresses``: strangers' addresses, validated and normalised;
- ``tokens``: keyed tokens, address hashes and Message-IDs from one stored secret;
- ``links``: the absolute URLs mails carry (the web routes must answer them);
- ``smtp``: ``AGGREGATOR_SMTP_URL`` and the aiosmtplib transport, answers classified;
- ``deliver``: the exactly-once delivery loop (``Newsletter.send_due``);
- ``subscriptions``: subscribing, confirming, unsubscribing, changing filters (the web routes);

It reads and writes through ``aggregator.store`` only and never crawls or posts elsewhere.
"""

from .deliver import MailTransport, Newsletter, SendCounts, keyring_for
from .smtp import SmtpSettings, SmtpTransport, parse_smtp_url
from .subscriptions import SubscribeOutcome, Subscriptions, filters_from_form

__all__ = [
    "MailTransport", "Newsletter", "SendCounts", "SmtpSettings", "SmtpTransport", "SubscribeOutcome", "Subscriptions",
    "filters_from_form", "keyring_for", "parse_smtp_url",
]
