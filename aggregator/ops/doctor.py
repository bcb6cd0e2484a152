"""``aggregator doctor``: every check an operator needs, one line per finding, with the fix.

Each check returns findings (``ok``, ``warning``, ``error``); an ``error`` is something
that stops the aggregator from doing its job (an invalid configuration, a database that
does not answer, refused relay credentials, a full disk), and makes ``doctor`` exit 1.
What is checked, in order: the configuration (every error the file has), the public
address and the mail server, the data directory (writable, free space), the database
(reachable, migrations), the search index (opens, in step with the database), each
source's host name (resolved through the crawler's own guard: a private address is a
finding) and its last fetch, and the relay accounts (a real authenticated call, nothing
posted).

Doctor migrates nothing and never creates the database. The one thing it may write is a
refreshed Bluesky session, which the relay keeps anyway.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from ..config import load_config
from ..digest.smtp import SmtpTransport, parse_smtp_url
from ..errors import AggregatorError, BlockedAddressError, ConfigError, MailError
from ..factory import Aggregator, make_aggregator
from ..fetch.guard import HINT, AddressPolicy, GuardedResolver, parse_ip
from ..model import Config
from ..settings import Settings
from ..store import usage
from ..store.migrate import head_revision, known_revisions

Severity = Literal["ok", "warning", "error"]
GUIDE_RELAY = "docs/relay-setup.md"
#: Below this much free space the database cannot grow safely (a crawl writes in bursts).
FREE_ERROR = 200 * 1024 * 1024
FREE_WARNING = 1024 * 1024 * 1024
DNS_TIMEOUT = 10.0
DNS_CONCURRENCY = 16
NETWORK_TIMEOUT = 20.0


@dataclass(frozen=True)
class Finding:
    check: str
    severity: Severity
    message: str
    fix: str = ""

    def line(self) -> str:
        mark = {"ok": "ok  ", "warning": "warn", "error": "FAIL"}[self.severity]
        fix = f" -> {self.fix}" if self.fix else ""
        return f"{mark}  {self.check}: {self.message}{fix}"

    def as_json(self) -> dict[str, str]:
        return asdict(self)


def ok(check: str, message: str) -> Finding:
    return Finding(check, "ok", message)


def warn(check: str, message: str, fix: str = "") -> Finding:
    return Finding(check, "warning", message, fix)


def fail(check: str, message: str, fix: str = "") -> Finding:
    return Finding(check, "error", message, fix)


def blocking(findings: Iterable[Finding]) -> bool:
    return any(f.severity == "error" for f in findings)


async def examine(settings: Settings) -> list[Finding]:
    """Run every check; ``settings`` need not hold a valid configuration (it is read here)."""
    findings: list[Finding] = []
    config = _configuration(settings, findings)
    if config is not None:
        settings = replace(settings, config=config)
    findings += _public_address(settings)
    findings += await _mail(settings)
    database = usage.sqlite_file(settings.database_url)
    findings += _data_dir(settings, database)
    if database is not None and not database.exists():
        findings.append(warn("database", f"no database yet at {database}",
                             "`aggregator run` (or `aggregator db upgrade`) creates it"))
        findings += _relay_without_store(settings)
        return findings
    # Asked before this process opens the database (and marks it in use itself).
    running = database is not None and usage.in_use(database)
    async with make_aggregator(settings, migrate=False, mirror_config=False) as agg:
        current = _database(agg, database, running, findings)
        if current:
            findings += await _index(agg)
            findings += await _sources(agg, with_status=True)
        else:
            findings += await _sources(agg, with_status=False)
        findings += await _relay(agg, with_store=current)
    return findings


# -- configuration and environment ----------------------------------------------------------


def _configuration(settings: Settings, findings: list[Finding]) -> Config | None:
    try:
        config = load_config(settings.config_path)
    except ConfigError as exc:
        for line in str(exc).splitlines():
            findings.append(fail("configuration", line.strip(), "fix the file (the line and field are named)"))
        return None
    relay = ", ".join(config.relay.targets()) or "off"
    findings.append(ok("configuration", f"{settings.config_path}: {len(config.sources)} sources, relay: {relay}, "
                                        f"newsletter: {'on' if config.digest else 'off'}"))
    if not config.sources:
        findings.append(warn("configuration", "no source is configured", "add sources to the sources: list"))
    return config


def _public_address(settings: Settings) -> list[Finding]:
    name = "public address"
    if settings.base_url is None:
        if settings.config.digest is not None:
            return [fail(name, "AGGREGATOR_BASE_URL is not set, and the newsletter needs it for its links",
                         "set AGGREGATOR_BASE_URL=https://your.site")]
        return [warn(name, "AGGREGATOR_BASE_URL is not set: feeds and the API take their links from each request",
                     "set AGGREGATOR_BASE_URL to the public https:// address behind your reverse proxy")]
    host = urlsplit(settings.base_url).hostname or ""
    if settings.base_url.startswith("http://") and not _loopback(host):
        return [warn(name, f"{settings.base_url} is plain http", "serve it over https (docs/single-vps.md)")]
    return [ok(name, settings.base_url)]


def _loopback(host: str) -> bool:
    ip = parse_ip(host)
    return host == "localhost" or (ip is not None and ip.is_loopback)


async def _mail(settings: Settings) -> list[Finding]:
    name = "mail server"
    if settings.smtp_url is None:
        if settings.config.digest is not None:
            return [fail(name, "the newsletter is configured (digest:) but AGGREGATOR_SMTP_URL is not set",
                         "set AGGREGATOR_SMTP_URL=smtp://user:password@mail.example.org:587 (docs/newsletter.md)")]
        return []
    try:
        smtp = parse_smtp_url(settings.smtp_url)
    except ConfigError as exc:
        return [fail(name, str(exc), "correct AGGREGATOR_SMTP_URL (docs/newsletter.md)")]
    try:
        await SmtpTransport(replace(smtp, timeout=min(smtp.timeout, NETWORK_TIMEOUT))).probe()
    except MailError as exc:
        return [fail(name, str(exc), "check AGGREGATOR_SMTP_URL and that the server accepts this machine")]
    how = {"starttls": "STARTTLS", "tls": "TLS", "none": "no encryption"}[smtp.security]
    auth = ", logged in" if smtp.username else ""
    return [ok(name, f"{smtp.redacted()} answers ({how}{auth}); nothing was sent")]


# -- data dir, database, index ----------------------------------------------------------------


def _data_dir(settings: Settings, database: Path | None) -> list[Finding]:
    name = "data directory"
    if database is None:
        return []  # PostgreSQL keeps everything, the search index included
    where = database.parent.absolute()
    if not where.exists():
        parent = next((p for p in where.parents if p.exists()), Path("/"))
        if not os.access(parent, os.W_OK | os.X_OK):
            return [fail(name, f"{where} does not exist and {parent} is not writable",
                         f"create {where} and give it to the user that runs aggregator")]
        return [warn(name, f"{where} does not exist yet", "`aggregator run` creates it")]
    try:
        with tempfile.NamedTemporaryFile(dir=where, prefix=".doctor-"):
            pass
    except OSError as exc:
        return [fail(name, f"{where} is not writable: {exc.strerror or exc}",
                     f"chown {where} to the user that runs aggregator")]
    free = shutil.disk_usage(where).free
    text = f"{where} is writable, {free / 1024**3:.1f} GB free"
    if free < FREE_ERROR:
        return [fail(name, text, "free some disk space: the database cannot grow")]
    if free < FREE_WARNING:
        return [warn(name, text, "less than 1 GB left: free some space, or move the data dir")]
    return [ok(name, text)]


def _database(agg: Aggregator, database: Path | None, running: bool, findings: list[Finding]) -> bool:
    """Reachable and migrated? True when the database answers with this version's schema
    (the checks that read its tables need that)."""
    name = "database"
    store = agg.store
    where = str(database) if database else f"PostgreSQL at {store.url.split('@')[-1]}"
    try:
        revision = store.schema_revision()
    except AggregatorError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        findings.append(fail(name, f"{where} does not answer: {first}",
                             "check AGGREGATOR_DATABASE_URL and that the database server runs"))
        return False
    head = head_revision()
    if revision == head:
        used = " (in use by a running aggregator process)" if running else ""
        findings.append(ok(name, f"{where}, schema {revision} (up to date){used}"))
        return True
    if revision is None:
        findings.append(warn(name, f"{where} was never migrated", "`aggregator db upgrade` (run does it too)"))
    elif revision not in known_revisions():
        findings.append(fail(name, f"{where} is at schema {revision}, newer than this version ({head})",
                             "upgrade aggregator to the version that wrote it"))
    else:
        findings.append(warn(name, f"{where} is at schema {revision}, this version needs {head}",
                             "`aggregator db upgrade` (run does it when it starts)"))
    return False


async def _index(agg: Aggregator) -> list[Finding]:
    name = "search index"
    try:
        index = agg.index()
        documents = await asyncio.to_thread(index.doc_count)
        entries = await asyncio.to_thread(agg.store.entries.count)
        waiting = await asyncio.to_thread(agg.store.index_log.backlog)
    except AggregatorError as exc:
        return [fail(name, str(exc), "`aggregator reindex` rebuilds it from the database")]
    text = f"{documents} documents for {entries} items"
    if waiting and abs(documents - entries) <= waiting:
        return [warn(name, f"{text}; {waiting} changes wait to be indexed",
                     "`aggregator run` indexes them within seconds; or `aggregator reindex`")]
    if documents != entries:
        return [warn(name, f"{text}: out of step with the database", "`aggregator reindex`")]
    return [ok(name, text)]


# -- sources ----------------------------------------------------------------------------------


def source_host(kind: str, url: str | None, account: str | None, appview: str) -> str | None:
    """The host name the crawler connects to for a source."""
    if url and kind != "bluesky":
        return urlsplit(url).hostname
    if kind == "mastodon" and account:
        return account.rsplit("@", 1)[-1].split(":")[0].lower()
    if kind == "bluesky":
        return urlsplit(appview).hostname
    return None


@dataclass(frozen=True)
class Unreachable:
    """Why the crawler cannot connect to a host: a refused (private) address, or DNS."""

    private: bool
    message: str


async def _resolve(hosts: Iterable[str], policy: AddressPolicy) -> dict[str, Unreachable]:
    """The hosts the crawler cannot connect to, and why (resolved through its own guard)."""
    resolver = GuardedResolver(policy)
    gate = asyncio.Semaphore(DNS_CONCURRENCY)

    async def one(host: str) -> tuple[str, Unreachable | None]:
        ip = parse_ip(host)
        if ip is not None:
            why = policy.reason(str(ip))
            return host, None if why is None else Unreachable(True, f"{host} is {why}")
        async with gate:
            try:
                await asyncio.wait_for(resolver.resolve(host, 0, socket.AF_UNSPEC), DNS_TIMEOUT)
            except BlockedAddressError as exc:
                text = str(exc).removeprefix("refused: ").replace(f" ({HINT})", "")
                return host, Unreachable(True, text)
            except TimeoutError:
                return host, Unreachable(False, f"resolving {host} timed out")
            except OSError as exc:
                return host, Unreachable(False, f"cannot resolve host name {host} ({exc.strerror or exc})")
        return host, None

    try:
        found = await asyncio.gather(*(one(h) for h in sorted(set(hosts))))
    finally:
        await resolver.close()
    return {host: why for host, why in found if why is not None}


async def _sources(agg: Aggregator, *, with_status: bool) -> list[Finding]:
    config = agg.config
    if not config.sources:
        return []
    hosts = {s.slug: source_host(s.kind, s.url, s.account, config.settings.bluesky_appview) for s in config.sources}
    refused = await _resolve([h for h in hosts.values() if h], AddressPolicy(agg.settings.allow_private_networks))
    states = {s.slug: s for s in await asyncio.to_thread(agg.store.sources.states)} if with_status else {}
    findings: list[Finding] = []
    counts: dict[str, int] = {}
    for source in config.sources:
        check = f"source {source.slug}"
        host = hosts[source.slug]
        why = refused.get(host) if host else None
        if why is not None:
            fix = ("the crawler refuses private addresses; set AGGREGATOR_ALLOW_PRIVATE_NETWORKS=1 only for a feed "
                   "on your own network" if why.private else "check the URL in sources.yaml, and this machine's DNS")
            findings.append(warn(check, why.message, fix))
        state = states.get(source.slug)
        status = state.status if state else "never"
        counts[status] = counts.get(status, 0) + 1
        if state is None:
            continue
        if state.disabled or status == "disabled":
            findings.append(warn(check, f"disabled: {state.last_error or 'the server answered 410 Gone'}",
                                 "fix its URL in sources.yaml, or `aggregator crawl --source "
                                 f"{source.slug}` to try again"))
        elif status == "failing":
            since = f" since {state.failing_since:%Y-%m-%d %H:%M} UTC" if state.failing_since else ""
            findings.append(warn(check, f"failing{since} ({state.error_count} errors): {state.last_error}",
                                 "check the URL in a browser; the crawler keeps retrying with back-off"))
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    unreachable = sum(1 for h in hosts.values() if h and h in refused)
    text = f"{len(config.sources)} sources ({summary})" if with_status else f"{len(config.sources)} sources"
    findings.insert(0, ok("sources", text + (f"; {unreachable} cannot be reached" if unreachable else "")))
    return findings


# -- relay ----------------------------------------------------------------------------------


CREDENTIALS = {"mastodon": "MASTODON_ACCESS_TOKEN", "bluesky": "BLUESKY_HANDLE and BLUESKY_APP_PASSWORD"}
FIXES = {
    "mastodon": ("create a new access token with the scopes write:statuses read:accounts read:statuses read:search "
                 f"({GUIDE_RELAY})"),
    "bluesky": f"check BLUESKY_HANDLE and make a new app password ({GUIDE_RELAY})",
    "activitypub": "check the database and the activitypub: section (docs/activitypub.md)",
}


def _relay_without_store(settings: Settings) -> list[Finding]:
    return _credential_findings(settings)


def _credential_findings(settings: Settings) -> list[Finding]:
    findings = []
    configured = settings.config.relay.targets()
    creds = settings.credentials
    for target in configured:
        if target not in _credentialed(settings):
            findings.append(warn(f"relay {target}", f"configured, but {CREDENTIALS[target]} is not set: nothing is "
                                                    f"posted there", f"`aggregator relay --dry-run` shows what would "
                                                                     f"be; then set the credentials ({GUIDE_RELAY})"))
    if creds.mastodon_token and "mastodon" not in configured:
        findings.append(warn("relay mastodon", "MASTODON_ACCESS_TOKEN is set but relay.mastodon is not configured",
                             "add relay: mastodon: api_base_url: to sources.yaml"))
    if (creds.bluesky_handle or creds.bluesky_password) and "bluesky" not in configured:
        findings.append(warn("relay bluesky", "Bluesky credentials are set but relay.bluesky is not configured",
                             "add relay: bluesky: to sources.yaml"))
    return findings


def _credentialed(settings: Settings) -> set[str]:
    creds = settings.credentials
    out = set()
    if creds.mastodon_token:
        out.add("mastodon")
    if creds.bluesky_handle and creds.bluesky_password:
        out.add("bluesky")
    return out


async def _relay(agg: Aggregator, *, with_store: bool) -> list[Finding]:
    findings = _credential_findings(agg.settings)
    if not agg.relay_targets_enabled():
        return findings
    if not with_store:  # the Bluesky session lives in the database, which is not ready
        findings.append(warn("relay", "the accounts were not checked: the database is not ready", "see above"))
        return findings
    for name, target in (await agg.relay_targets()).items():
        try:
            who = await asyncio.wait_for(target.verify(), NETWORK_TIMEOUT)
        except AggregatorError as exc:
            findings.append(fail(f"relay {name}", str(exc), FIXES[name]))
            continue
        except TimeoutError:
            findings.append(fail(f"relay {name}", f"no answer within {NETWORK_TIMEOUT:.0f} s",
                                 "check the service address in relay: and this machine's network"))
            continue
        findings.append(ok(f"relay {name}", f"posting as {who}; nothing was posted"))
    counts = await asyncio.to_thread(agg.store.outbox.counts)
    failed = sum(n for (_, state), n in counts.items() if state == "failed")
    if failed:
        findings.append(warn("relay", f"{failed} deliveries failed after relay.max_attempts attempts",
                             "read the errors in `aggregator sources`, then `aggregator relay --retry-failed`"))
    return findings
