"""Edits to ``sources.yaml`` made by commands, keeping the operator's comments and layout.

The file is the operator's: it is never re-serialized. New entries are appended as text
under ``sources:``, and the result is validated before it replaces the file, so a command
can never leave an invalid configuration behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .config import parse_config
from .model import SourceConfig
from .sources import sources_to_yaml


def append_sources(path: Path, sources: Sequence[SourceConfig], *, comment: str | None = None) -> None:
    """Append ``sources`` to the ``sources:`` list of the file at ``path``.

    Raises:
        ConfigError: the file would not be valid afterwards (for instance when ``sources:``
            is not its last section): it is left untouched.
    """
    original = path.read_text(encoding="utf-8")
    block = sources_to_yaml(list(sources))
    indented = "".join(("  " + line if line.strip() else line) for line in block.splitlines(keepends=True))
    heading = f"  # {comment}\n" if comment else ""
    replace_file(path, original.rstrip("\n") + "\n" + heading + indented)


def replace_file(path: Path, text: str) -> None:
    """Validate ``text`` as a configuration, then replace the file atomically (same directory)."""
    parse_config(text, str(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise

