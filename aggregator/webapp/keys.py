"""Typed keys under which the app keeps its resources (aiohttp ``web.AppKey``)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from ..model import Clock, Config
from .data import SourceDirectory
from .metrics import Metrics
from .ports import ReadStore
from .render import Renderer
from .search import SearchIndexLike
from .urls import PublicUrls

STORE: web.AppKey[ReadStore] = web.AppKey("store")
CONFIG = web.AppKey("config", Config)
#: The search index, or None when the operator runs without one (search then answers 503).
INDEX: web.AppKey[SearchIndexLike | None] = web.AppKey("index")
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
RENDERER = web.AppKey("renderer", Renderer)
METRICS = web.AppKey("metrics", Metrics)
DIRECTORY = web.AppKey("directory", SourceDirectory)
EXECUTOR = web.AppKey("executor", ThreadPoolExecutor)
#: The site's public address: every absolute URL the web layer makes (urls.py).
PUBLIC_URLS = web.AppKey("public_urls", PublicUrls)
