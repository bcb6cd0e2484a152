"""The aggregator as a fediverse server: its actor's routes (WebFinger, NodeInfo, documents, the
inbox), and the posts that followed actors push to it (docs/activitypub.md).

It sits above ``webapp | relay | update`` (it writes: followers, incoming posts through
``update.ingest``) and below the factory, which builds ``federation.Federation`` and mounts
``routes.setup`` on the web application when the ``activitypub:`` section is present.
"""
