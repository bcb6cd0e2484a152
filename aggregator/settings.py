"""One ``Settings`` object: command-line flags, then the environment, then ``sources.yaml``.

Every command starts by building it (``load_settings``) and hands it to the factory
(``aggregator.factory.make_aggregator``); nothing else in the package reads
``os.environ``. The environment variables are listed once, in ``ENVIRONMENT``, which the
documentation test holds against docs/configuration.md.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .config import load_config
from .errors import ConfigError
from .model import Config

#: Every environment variable the program reads, with its meaning (docs/configuration.md, Environment).
ENVIRONMENT: dict[str, str] = {
    "AGGREGATOR_CONFIG": "path of sources.yaml (default ./sources.yaml); --config wins",
    "AGGREGATOR_DATA_DIR": "directory for the SQLite database and the search index (default ./data); --data-dir wins",
    "AGGREGATOR_DATABASE_URL": "any SQLAlchemy URL; postgresql://user:pass@host/db for scale",
    "AGGREGATOR_ALLOW_PRIVATE_NETWORKS": "1 allows fetching loopback and private addresses",
    "AGGREGATOR_LEASE_SECONDS": "seconds a crawler process keeps the sources it leased (default 600)",
    "AGGREGATOR_LOG_LEVEL": "DEBUG, INFO (default), WARNING",
    "AGGREGATOR_LOG_FORMAT": "text or json",
    "AGGREGATOR_BASE_URL": "the public address every absolute URL is built from",
    "AGGREGATOR_SMTP_URL": "the SMTP server the newsletter is sent through",
    "MASTODON_ACCESS_TOKEN": "access token of the relay's Mastodon account",
    "BLUESKY_HANDLE": "handle of the relay's Bluesky account",
    "BLUESKY_APP_PASSWORD": "an app password of the relay's Bluesky account",
}

_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Credentials:
    """Secrets of the relay accounts: from the environment only, never from ``sources.yaml``."""

    mastodon_token: str | None = None
    bluesky_handle: str | None = None
    bluesky_password: str | None = None

    def __repr__(self) -> str:  # never print a secret by accident (logs, tracebacks)
        shown = {k: ("set" if v else None) for k, v in vars(self).items()}
        return f"Credentials({shown})"


@dataclass(frozen=True)
class Settings:
    """What a command runs with.

    Attributes:
        config: the validated ``sources.yaml`` (an empty one for commands that do not read it).
        base_url: the public address (``AGGREGATOR_BASE_URL``), without a trailing slash;
            None when unset: pages then link relatively and features that need absolute
            URLs (mail, ActivityPub, the Bluesky feed) refuse to start.
    """

    config_path: Path
    data_dir: Path
    database_url: str
    config: Config = field(default_factory=lambda: Config(sources=()))
    allow_private_networks: bool = False
    lease_seconds: float = 600.0
    #: ``AGGREGATOR_LOG_LEVEL`` and ``_FORMAT``; None: the command decides (``cli.log_rule``).
    log_level: str | None = None
    log_format: str | None = None
    base_url: str | None = None
    smtp_url: str | None = field(default=None, repr=False)
    credentials: Credentials = field(default_factory=Credentials)

    @property
    def index_dir(self) -> Path:
        """Where the embedded search index lives (SQLite deployments)."""
        return self.data_dir / "index"


def default_database_url(data_dir: Path) -> str:
    """SQLite in the data directory: the one-machine default."""
    return f"sqlite:///{data_dir.resolve() / 'aggregator.sqlite3'}"


def load_settings(
    environ: Mapping[str, str] | None = None,
    *,
    config_path: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    read_config: bool = True,
) -> Settings:
    """Merge flags (the keyword arguments), the environment and ``sources.yaml``.

    Args:
        read_config: False for commands that must work whatever the file says
            (``db upgrade``); ``config`` is then empty.

    Raises:
        ConfigError: an invalid file or environment variable, naming the culprit.
    """
    env = os.environ if environ is None else environ

    def get(name: str) -> str | None:
        value = (env.get(name) or "").strip()
        return value or None

    path = Path(config_path or get("AGGREGATOR_CONFIG") or "sources.yaml")
    data = Path(data_dir or get("AGGREGATOR_DATA_DIR") or "data")
    return Settings(
        config_path=path,
        data_dir=data,
        database_url=get("AGGREGATOR_DATABASE_URL") or default_database_url(data),
        config=load_config(path) if read_config else Config(sources=(), path=str(path)),
        allow_private_networks=(get("AGGREGATOR_ALLOW_PRIVATE_NETWORKS") or "").lower() in _TRUE,
        lease_seconds=_positive_seconds(get("AGGREGATOR_LEASE_SECONDS"), "AGGREGATOR_LEASE_SECONDS", 600.0),
        log_level=(get("AGGREGATOR_LOG_LEVEL") or "").upper() or None,
        log_format=get("AGGREGATOR_LOG_FORMAT"),
        base_url=parse_base_url(get("AGGREGATOR_BASE_URL")),
        smtp_url=get("AGGREGATOR_SMTP_URL"),
        credentials=Credentials(get("MASTODON_ACCESS_TOKEN"), get("BLUESKY_HANDLE"), get("BLUESKY_APP_PASSWORD")),
    )


def _positive_seconds(raw: str | None, name: str, default: float) -> float:
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ConfigError(f"expected a number of seconds above 0, got {raw!r}", file="environment", field=name)
    return value


def parse_base_url(raw: str | None) -> str | None:
    """``https://medias.example.org`` (a path prefix is allowed); no query, no fragment.

    Raises:
        ConfigError: not an absolute http(s) URL.
    """
    if raw is None:
        return None
    parts = urlsplit(raw)
    try:
        port = parts.port  # raises on a port out of range
    except ValueError:
        port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or port == -1 or parts.query or parts.fragment \
            or parts.username or parts.password:
        raise ConfigError(
            f"expected the site's public address such as https://medias.example.org, got {raw!r}",
            file="environment", field="AGGREGATOR_BASE_URL",
        )
    return f"{parts.scheme}://{parts.netloc.lower()}{parts.path.rstrip('/')}"
