"""The aggregator as a fediverse citizen: one followable ActivityPub actor that follows others.

Modules, from pure to I/O:

* ``documents``: the URL scheme every id follows, the actor, WebFinger, NodeInfo;
* ``activities``: collections, the Notes of stories, the activities we send;
* ``signatures``: draft-cavage (``cavage``) and RFC 9421 (``rfc9421``) HTTP Signatures over
  ``httpsig`` and ``digests``, signing and verifying;
* ``keys``: RSA key pairs, PEM, and the seam to the store that keeps ours;
* ``remote``: reading other servers' actors and keys, and the key cache;
* ``inbox``: the checks a POST to our inbox passes before anything is believed;
* ``handlers``: what each verified activity means for us;
* ``delivery``: the fan-out, delivering what we publish to every follower inbox;
* ``following``: the Follows of ``activitypub`` sources (WebFinger, Follow, Undo);
* ``transport``: signed GETs and POSTs through the crawler's SSRF guard.

This ``__init__`` imports nothing, so that importing ``documents`` or ``inbox`` does not
pull in the network modules.
"""
