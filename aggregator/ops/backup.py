"""``aggregator backup DEST`` and ``aggregator restore SRC``: what cannot be rebuilt, kept safe.

A backup is a directory: the database (a consistent copy taken with SQLite's online
backup API while ``run`` keeps writing, ``store/snapshot.py``), the configuration file as
it was, and ``manifest.json`` (when, which version and schema, how many items and
sources, a SHA-256 of each file). The search index is not copied: it is rebuilt from the
database. Secrets live in the environment (``MASTODON_ACCESS_TOKEN``…), not in the data
dir, and are not copied either. The directory is written beside DEST under a temporary
name and renamed when complete: a DEST that exists is a whole backup.

Restore checks the backup (manifest, checksums, SQLite's integrity check, a schema this
version knows), refuses to swap the database of a running instance unless forced
(``store/usage.py`` says whether a process has it open), keeps the database and
configuration it replaces beside them (``*.before-restore-<time>``), writes the backup's
pages into place through the same backup API, and rebuilds the search index.

On PostgreSQL both commands explain what to do instead (``pg_dump`` / ``pg_restore``),
after checking that the database answers.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from .. import __version__, logs
from ..config import load_config
from ..errors import ConfigError, OperationError, SearchIndexError
from ..factory import make_aggregator
from ..model import to_iso
from ..settings import Settings
from ..store import Store, snapshot, usage
from ..store.migrate import known_revisions

log = logs.get("aggregator.ops")

FORMAT = 1
MANIFEST = "manifest.json"
DATABASE = "aggregator.sqlite3"
CONFIG = "sources.yaml"
#: How long ``restore`` keeps trying to rebuild an index whose writer a running ``run`` holds.
INDEX_ATTEMPTS = 30


@dataclass(frozen=True)
class Backup:
    path: Path
    manifest: dict[str, Any]


@dataclass(frozen=True)
class Restored:
    info: snapshot.SnapshotInfo
    taken: str | None
    kept_database: Path | None  # the database it replaced, kept aside
    kept_config: Path | None
    config_written: bool
    indexed: int | None  # entries in the rebuilt index; None: left to the next sync


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _stamp(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%SZ")


def postgres_advice(store: Store, *, restoring: bool) -> str:
    """What to do on PostgreSQL, once we know whether the database answers."""
    url = make_url(store.url).set(drivername="postgresql").render_as_string(hide_password=True)
    if not store.ping():
        raise OperationError(f"the database at {url} does not answer: check AGGREGATOR_DATABASE_URL and that "
                             "PostgreSQL is running")
    if restoring:
        return (f"the database is PostgreSQL ({url}, reachable): restore a pg_dump with "
                f"`pg_restore --clean --if-exists --no-owner -d '{url}' FILE.dump`, then `aggregator db upgrade` "
                "(docs/single-vps.md)")
    return (f"the database is PostgreSQL ({url}, reachable, schema {store.schema_revision() or 'never migrated'}): "
            f"back it up with `pg_dump -Fc -d '{url}' > aggregator-$(date +%F).dump` (the password from "
            "PGPASSWORD or ~/.pgpass), and keep a copy of your sources.yaml (docs/single-vps.md)")


def take_backup(store: Store, settings: Settings, dest: Path, *, now: datetime) -> Backup:
    """Write a backup directory at ``dest`` (synchronous: run it in a thread).

    Raises:
        OperationError: ``dest`` exists and is not empty, or the copy is not sound.
    """
    dest = dest.absolute()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise OperationError(f"{dest} exists and is not an empty directory: back up into a new one, "
                             "e.g. backups/aggregator-$(date +%F-%H%M)")
    partial = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    # Backups hold subscribers' addresses and the relay's session: for the owner's eyes only.
    partial.mkdir(parents=True, mode=0o700)
    try:
        database = partial / DATABASE
        store.backup_to(database)
        problem = snapshot.check(database)
        if problem:
            raise OperationError(f"the copy failed SQLite's integrity check ({problem}); the database may be "
                                 "damaged: run `aggregator doctor`")
        info = snapshot.describe(database)
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "created": to_iso(now),
            "aggregator": __version__,
            "database": {"file": DATABASE, "revision": info.revision, "entries": info.entries,
                         "sources": info.sources, "outbox": info.outbox, "sha256": _sha256(database)},
            "config": None,
            "not_included": ["the search index (restore rebuilds it)",
                             "secrets from the environment (relay credentials, AGGREGATOR_SMTP_URL)"],
        }
        if settings.config_path.is_file():
            shutil.copyfile(settings.config_path, partial / CONFIG)
            manifest["config"] = {"file": CONFIG, "from": str(settings.config_path.absolute()),
                                  "sha256": _sha256(partial / CONFIG)}
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", "utf-8")
        for path in partial.iterdir():
            path.chmod(0o600)
        if dest.exists():
            dest.rmdir()  # empty, checked above
        partial.rename(dest)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    log.info("backup.done", path=str(dest), entries=info.entries, sources=info.sources)
    return Backup(dest, manifest)


def read_backup(src: Path) -> tuple[dict[str, Any], snapshot.SnapshotInfo]:
    """Check a backup directory before anything is replaced by it.

    Raises:
        OperationError: not a backup, a file missing or altered, a damaged or too new database.
    """
    try:
        manifest = json.loads((src / MANIFEST).read_text("utf-8"))
    except FileNotFoundError:
        raise OperationError(f"{src} is not a backup: it has no {MANIFEST} (made by `aggregator backup DEST`)") from None
    except (OSError, ValueError) as exc:
        raise OperationError(f"{src / MANIFEST} cannot be read: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise OperationError(f"{src} was written in a backup format this version does not know")
    files = [manifest["database"], *([manifest["config"]] if manifest.get("config") else [])]
    for entry in files:
        path = src / entry["file"]
        if not path.is_file():
            raise OperationError(f"{path} is missing: the backup is incomplete")
        if _sha256(path) != entry["sha256"]:
            raise OperationError(f"{path} does not match its checksum in {MANIFEST}: the backup was altered or "
                                 "damaged")
    database = src / manifest["database"]["file"]
    problem = snapshot.check(database)
    if problem:
        raise OperationError(f"{database} failed SQLite's integrity check: {problem}")
    info = snapshot.describe(database)
    if info.revision is not None and info.revision not in known_revisions():
        raise OperationError(f"{src} was made by a newer version of aggregator (schema {info.revision}): "
                             "upgrade this installation first")
    return manifest, info


def restore_files(settings: Settings, src: Path, *, force: bool, now: datetime) -> Restored:
    """Put a backup's database and configuration in place (synchronous: run it in a thread).

    Raises:
        OperationError: a bad backup, or a running instance and no ``force``.
    """
    src = src.absolute()
    manifest, info = read_backup(src)
    target = usage.sqlite_file(settings.database_url)
    assert target is not None, "the caller handles PostgreSQL"
    target = target.absolute()
    stamp = _stamp(now)
    kept_db: Path | None = None
    kept_config: Path | None = None
    written = False
    with usage.exclusive(target) as alone:
        if not alone and not force:
            raise OperationError(
                f"an aggregator process is using {target} (`aggregator run`, a crawler, the web or the relay): "
                "stop it first (e.g. `systemctl stop aggregator`), or pass --force to restore under it")
        if not alone:
            log.warning("restore.forced", database=str(target))
        if target.exists():
            kept_db = target.with_name(f"{target.name}.before-restore-{stamp}")
            snapshot.copy_file(target, kept_db, standalone=True)
            kept_db.chmod(0o600)
        snapshot.copy_file(src / manifest["database"]["file"], target)
        if manifest.get("config"):
            try:
                written, kept_config = _put_config(src / manifest["config"]["file"], settings.config_path, stamp)
            except OSError as exc:  # the database is restored already: say what is left to do
                raise OperationError(
                    f"the database was restored, but the configuration could not be written to "
                    f"{settings.config_path} ({exc.strerror or exc}): copy {src / manifest['config']['file']} there, "
                    "then run `aggregator reindex`") from None
    log.info("restore.done", source=str(src), entries=info.entries, sources=info.sources)
    return Restored(info, manifest.get("created"), kept_db, kept_config, written, None)


def _put_config(backup: Path, config: Path, stamp: str) -> tuple[bool, Path | None]:
    """Write the backup's configuration; the one it replaces is kept beside it."""
    data = backup.read_bytes()
    if config.is_file() and config.read_bytes() == data:
        return False, None
    kept = None
    if config.exists():
        kept = config.with_name(f"{config.name}.before-restore-{stamp}")
        shutil.copyfile(config, kept)
    config.parent.mkdir(parents=True, exist_ok=True)
    tmp = config.with_name(f".{config.name}.restoring")
    tmp.write_bytes(data)
    tmp.replace(config)
    return True, kept


async def rebuild_index(settings: Settings) -> int | None:
    """Migrate the restored database to this version and rebuild the search index from it.

    Returns the entries indexed, or None when another process kept the index's writer
    busy throughout (``run`` restored under with ``--force``): it is then rebuilt by
    ``aggregator reindex``, which the caller says.
    """
    try:
        settings = replace(settings, config=load_config(settings.config_path))
        mirror = True
    except ConfigError as exc:
        log.warning("restore.config_invalid", error=str(exc))
        mirror = False
    async with make_aggregator(settings, mirror_config=mirror) as agg:
        index = agg.index()
        for _ in range(INDEX_ATTEMPTS):
            try:
                return await asyncio.to_thread(index.reindex)
            except SearchIndexError as exc:
                log.info("restore.index_busy", error=str(exc))
                await asyncio.sleep(1.0)
    return None
