"""Edits to ``sources.yaml`` made by commands, keeping the operator's comments and layout.

The file is the operator's: it is never re-serialized. New entries are inserted as text
right after the last entry of ``sources:`` (wherever that section is in the file), and an
entry is removed by cutting exactly its lines. Every edit is checked before the file is
replaced, atomically: the new text must parse, and parse to the same configuration plus
(or minus) the sources edited, nothing else. When that cannot be done safely (an unusual
layout, a flow-style list), nothing is written and the error says why.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import yaml

from .config import parse_config
from .errors import ConfigError
from .model import Config, SourceConfig
from .sources import slugify, sources_to_yaml

_DASH = re.compile(r"^(\s*)-\s+$")


def append_sources(path: Path, sources: Sequence[SourceConfig], *, comment: str | None = None) -> None:
    """Add ``sources`` after the last entry of the ``sources:`` list of the file at ``path``.

    Raises:
        ConfigError: the file cannot be edited safely, or would not be valid afterwards:
            it is left untouched.
    """
    original = path.read_text(encoding="utf-8")
    before = parse_config(original, str(path))
    seq = _sources_node(original, str(path))
    block = sources_to_yaml(list(sources))
    if not seq.value:
        if not (seq.flow_style and original[seq.start_mark.index:seq.end_mark.index].strip() == "[]"):
            raise ConfigError("the sources: list has an unusual form; add the entries by hand", file=str(path))
        # sources: [] becomes a block list under its key
        text = original[:seq.start_mark.index].rstrip(" ") + "\n" + _indent(block, 2, comment) \
            + original[seq.end_mark.index:].lstrip(" ").removeprefix("\n")
    else:
        last = seq.value[-1]
        dash = _dash_column(original, last)
        if seq.flow_style or dash is None:
            raise ConfigError("the sources: list is written on one line ([...]); add the entries by hand",
                              file=str(path), line=seq.start_mark.line + 1, field="sources")
        at = _line_start(original, _end_line(last))
        head = original[:at] if original[:at].endswith("\n") else original[:at] + "\n"
        text = head + _indent(block, dash, comment) + original[at:]
    _replace_checked(path, text, before, before.sources, added=[s.slug for s in sources])


def remove_source(path: Path, slug: str) -> SourceConfig:
    """Cut the entry of source ``slug`` out of the file, every other byte kept.

    Returns:
        The removed source, as it was configured.

    Raises:
        ConfigError: no such source, it is the only one, or the file's layout does not
            allow a safe cut: the file is left untouched.
    """
    original = path.read_text(encoding="utf-8")
    before = parse_config(original, str(path))
    index = next((i for i, s in enumerate(before.sources) if s.slug == slug), None)
    if index is None:
        raise ConfigError(f"no source with slug {slug}", file=str(path))
    if len(before.sources) == 1:
        raise ConfigError(f"{slug} is the only source; a configuration needs at least one (add another first)",
                          file=str(path))
    seq = _sources_node(original, str(path))
    node = seq.value[index]
    if _slug_of(node) != slug or seq.flow_style:
        raise ConfigError(f"cannot find the entry of {slug} safely (an unusual layout); remove it by hand",
                          file=str(path))
    dash = _dash_column(original, node)
    if dash is None:
        raise ConfigError(f"the entry of {slug} does not start on its own line; remove it by hand",
                          file=str(path), line=node.start_mark.line + 1)
    start = _line_start(original, node.start_mark.line)
    end = _line_start(original, _end_line(node))
    removed = before.sources[index]
    text = original[:start] + original[end:]
    _replace_checked(path, text, before, before.sources[:index] + before.sources[index + 1:], added=[])
    return removed


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


def _replace_checked(path: Path, text: str, before: Config, kept: Sequence[SourceConfig], *, added: Sequence[str]) -> None:
    """Replace the file with ``text`` only if it configures what ``before`` did, with the
    sources ``kept`` exactly as they were, followed by the ``added`` slugs, nothing else."""
    try:
        after = parse_config(text, str(path))
    except ConfigError as exc:
        raise ConfigError(f"the edit would make the file invalid ({exc}); nothing was written", file=str(path)) from exc
    same_rest = replace(after, sources=(), warnings=()) == replace(before, sources=(), warnings=())
    if not same_rest or after.sources[:len(kept)] != tuple(kept) or \
            [s.slug for s in after.sources[len(kept):]] != list(added):
        raise ConfigError("the file's layout does not allow a safe edit; nothing was written, edit it by hand",
                          file=str(path))
    replace_file(path, text)


def _sources_node(text: str, file: str) -> yaml.SequenceNode:
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if isinstance(key, yaml.ScalarNode) and key.value == "sources" and isinstance(value, yaml.SequenceNode):
                return value
    raise ConfigError("no sources: list to edit", file=file)


def _slug_of(node: yaml.Node) -> str | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    values = {k.value: v.value for k, v in node.value if isinstance(k, yaml.ScalarNode) and isinstance(v, yaml.ScalarNode)}
    slug = values.get("slug") or (slugify(values["name"]) if values.get("name") else None)
    return str(slug) if slug else None


def _dash_column(text: str, item: yaml.Node) -> int | None:
    """The column of the ``-`` of a block list entry, when the dash starts its own line."""
    line_start = _line_start(text, item.start_mark.line)
    match = _DASH.match(text[line_start:item.start_mark.index])
    return len(match.group(1)) if match else None


def _end_line(node: yaml.Node) -> int:
    """The first line after everything the node holds (its last value's line included).

    Block collections end where the next token starts, which may be the next entry's
    line; scalars and flow collections end right after their text, so those are used.
    """
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and not node.flow_style and node.value:
        children = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else node.value
        return max(_end_line(child) for child in children)
    end = node.end_mark
    return end.line + (1 if end.column > 0 else 0)


def _line_start(text: str, line: int) -> int:
    """The offset of the start of ``line`` (0-based); the end of the text past the last."""
    offset = 0
    for _ in range(line):
        found = text.find("\n", offset)
        if found < 0:
            return len(text)
        offset = found + 1
    return offset


def _indent(block: str, dash: int, comment: str | None) -> str:
    pad = " " * dash
    lines = [f"{pad}# {comment}\n"] if comment else []
    lines += [(pad + line if line.strip() else line) for line in block.splitlines(keepends=True)]
    return "".join(lines)
