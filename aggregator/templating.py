"""Where the ``web/`` templates and gettext catalogues live, and how they are loaded.

Shared by the web front end and the newsletter's mails (``aggregator/digest/render.py``),
which both render Jinja2 templates from ``web/templates`` in French or English with the
Babel catalogues of ``web/translations``. It sits below both so neither imports the other.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import jinja2
from babel.support import NullTranslations, Translations

LOCALES = ("fr", "en")
DEFAULT_LOCALE = "fr"


def web_root() -> Path:
    """The front end: the repository's ``web/`` folder, shipped as ``aggregator/frontend``."""
    return Path(str(importlib.resources.files("aggregator") / "frontend"))


def load_translations(directory: Path, domain: str = "messages") -> dict[str, NullTranslations]:
    """One compiled catalogue per locale; a missing .mo falls back to the English msgids."""
    return {locale: Translations.load(str(directory), locales=[locale], domain=domain) for locale in LOCALES}


def make_environment(templates: Path, translations: NullTranslations, *, locale: str) -> jinja2.Environment:
    """A strict environment for one locale: ``.html`` templates autoescaped, ``.txt`` not.

    ``StrictUndefined`` turns a misspelt variable into an error instead of an empty string.
    """
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates)),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html",), disabled_extensions=("txt",), default_for_string=True, default=True
        ),
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
    env.globals["locale"] = locale
    return env
