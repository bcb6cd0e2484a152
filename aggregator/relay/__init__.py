"""The relay bot: delivers the outbox to Mastodon and Bluesky, exactly once per (item, target).

How "exactly once" survives a crash at any instant:

1. The store writes the outbox row in the same transaction as the entry (nothing lost).
2. Before any network call, the attempt is committed (state ``sending``, attempts + 1).
3. The post carries an identity derived from the item: Mastodon's ``Idempotency-Key``
   (the server answers a repeat within an hour with the first status) and the Bluesky
   record key (a TID: a second create of the same key is refused).
4. Any row that was attempted before (a ``sending`` row left by a crash, or a retry after
   an error whose request may have landed) is first looked up on the target: Bluesky
   ``getRecord`` with the derived key, Mastodon the account's recent statuses linking to
   the item. Only when it is not there is it posted again.

Modules: ``plan`` (pure: what a row means and its text, with ``format``), ``delivery``
(the loop over due rows), ``preview`` (the dry run: the same rows, cards included, for
every configured target, without posters), ``leader`` (one relay process posts),
``targets`` (what a target offers, and which are enabled), ``mastodon`` and ``bluesky``
(the targets).
"""

from __future__ import annotations

from .delivery import Relay
from .targets import enabled_targets

__all__ = ["Relay", "enabled_targets"]
