"""What an operator runs beside the service: backups, the doctor, relay housekeeping.

Modules, each with one job:

- ``unrelayed``: items that never reached the relay outbox (stored before ``relay:`` was
  configured, older than the backlog window…): why, and queueing recent ones
  (``relay --queue-recent``), by decide's own rule;
- ``backup``: ``backup DEST`` and ``restore SRC`` (SQLite's online backup, the
  configuration, a manifest; the search index is rebuilt, not copied);
- ``doctor``: ``doctor``, every check an operator needs, one line per finding.

The package sits above ``webapp | relay | update`` and beside ``service`` in the layers
(``pyproject.toml``): it builds nothing itself and works on an ``Aggregator`` from the
factory.
"""
