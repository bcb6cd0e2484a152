"""The newsletter in Debian's Chromium (Playwright): the digest mail's HTML as a mail client
would show it, and the pages a reader goes through, each photographed (into a temporary
directory) and checked with axe-core; nothing may reach another host, nothing may break
the Content-Security-Policy (the browser enforces it and reports violations)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aggregator.factory import Aggregator
from aggregator.model import Config, DigestConfig
from aggregator.store import Store
from tests.browser import NEEDS_BROWSER, ServedInThread, Watch, axe, chromium, running
from tests.building import aggregator_for
from tests.conftest import FrozenClock, free_port

from .conftest import SOURCES, SmtpServer, article, at, save, start_server

pytestmark = NEEDS_BROWSER

DAY = "2026-11-20"


class Served(ServedInThread):
    """The app as ``serve`` builds it, on its own event loop in a thread, mailing through a
    real SMTP server; the mails' links point to it (``AGGREGATOR_BASE_URL``)."""

    def __init__(self, tmp: Path):
        super().__init__()
        self.tmp = tmp
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.smtp: SmtpServer = start_server()
        self.clock = FrozenClock(at("2026-11-19 09:00"))

    async def setup(self) -> None:
        self.store = Store(f"sqlite:///{self.tmp / 'browser.sqlite3'}", clock=self.clock)
        self.store.upgrade()
        self.stack.callback(self.smtp.controller.stop)
        self.stack.callback(self.store.close)
        config = Config(sources=tuple(SOURCES), digest=DigestConfig(
            from_address="Médias libres <lettre@medias.example.org>", group_by="source"))
        self.agg: Aggregator = await self.stack.enter_async_context(
            aggregator_for(self.store, config, base_url=self.base, smtp_url=self.smtp.url))
        save(self.store, "rebellyon", [
            article("r1", "Grève générale à Lyon ce jeudi : le point sur les rassemblements",
                    "https://rebellyon.example/spip.php?article1", text="Les syndicats appellent à manifester. " * 8,
                    tags=("lyon",)),
            article("r2", "Expulsion du squat de la rue des Lilas", "https://rebellyon.example/2"),
        ])
        save(self.store, "paris-luttes", [article("p1", "Grève générale à Lyon ce jeudi !", "https://paris-luttes.example/1")])
        save(self.store, "crimethinc", [article("c1", "A story in English about mutual aid", "https://crimethinc.example/1")])
        await self.serve(self.agg.web_app(with_index=False), self.port)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with running(Served(tmp_path_factory.mktemp("digest-browser"))) as s:
        yield s


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("digest-screenshots")


def check(page: Any, watch: Watch, shots: Path, name: str, *, accessible: bool = True) -> None:
    """Clean, no sideways scrolling, photographed; accessible (axe-core) unless the page is
    one already checked at another width or a one-paragraph answer (axe is the slow part)."""
    watch.assert_clean()
    if accessible:
        violations = axe(page)
        assert violations == [], json.dumps(violations, indent=1)
    width = page.viewport_size["width"]
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0, f"{name} at {width}px"
    page.screenshot(path=str(shots / f"{name}-{width}.png"), full_page=True)
    assert (shots / f"{name}-{width}.png").stat().st_size > 0


def new_page(browser: Any, served: Served, *, width: int = 1280, script: str | None = None) -> tuple[Any, Any, Watch]:
    context = browser.new_context(viewport={"width": width, "height": 900}, locale="fr-FR", is_mobile=width < 500)
    if script:
        context.add_init_script(script)
    page = context.new_page()
    return context, page, Watch(page, served.port)


def confirm_link(served: Served) -> str:
    body = served.smtp.sink.received[-1].message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    match = re.search(rf"{re.escape(served.base)}(/confirm/\S+)", body)
    assert match, body
    return match.group(1)


def test_subscribing_in_the_browser(browser: Any, served: Served, shots: Path) -> None:
    for width in (1280, 390):
        context, page, watch = new_page(browser, served, width=width)
        try:
            page.goto(served.base + "/", wait_until="load")
            page.get_by_role("link", name="Recevoir les articles du jour par mail, une fois par jour").click()
            page.wait_for_url("**/subscribe")
            check(page, watch, shots, "subscribe", accessible=width == 390)
        finally:
            context.close()
    context, page, watch = new_page(browser, served)
    try:
        page.goto(served.base + "/subscribe", wait_until="load")
        page.get_by_label("Votre adresse mail").fill("camille@example.org")
        page.get_by_label("Rebellyon").check()
        page.get_by_label("English").check()
        page.get_by_role("button", name="S’abonner").click()
        page.wait_for_load_state("load")
        assert page.get_by_role("heading", level=1).inner_text() == "Regardez votre boîte mail", page.content()[-3000:]
        check(page, watch, shots, "check-mail", accessible=False)
    finally:
        context.close()
    # The link from the mail, opened by a scanner's browser (an automated one): the page
    # stays on its button and nothing is confirmed.
    link = confirm_link(served)
    context, page, watch = new_page(browser, served)
    try:
        page.goto(served.base + link, wait_until="load")
        page.wait_for_timeout(1500)  # longer than autosubmit.js waits for a person
        assert page.url == served.base + link and served.store.subscribers.counts()["confirmed"] == 0
        check(page, watch, shots, "confirm")
        page.get_by_role("button", name="Confirmer mon abonnement").click()
        page.wait_for_load_state("load")
        assert page.get_by_role("heading", level=1).inner_text() == "Votre abonnement est confirmé"
        assert served.store.subscribers.counts()["confirmed"] == 1
        check(page, watch, shots, "confirmed", accessible=False)
        page.get_by_role("link", name="Choisir vos sources, mots-clés et langues").click()
        page.wait_for_load_state("load")
        assert page.get_by_label("Rebellyon").is_checked()
        check(page, watch, shots, "preferences")
    finally:
        context.close()


def test_a_person_opening_the_link_is_confirmed_by_the_page_itself(browser: Any, served: Served) -> None:
    """autosubmit.js presses the button for a browser that is not automated (the init
    script plays a person's browser: no ``navigator.webdriver``), with CSP on."""
    context, page, watch = new_page(browser, served)
    try:
        page.goto(served.base + "/subscribe", wait_until="load")
        page.get_by_label("Votre adresse mail").fill("dominique@example.org")
        page.get_by_role("button", name="S’abonner").click()
        page.wait_for_load_state("load")
    finally:
        context.close()
    before = served.store.subscribers.counts()["confirmed"]
    context, page, watch = new_page(browser, served, script="Object.defineProperty(navigator, 'webdriver', {get: () => false})")
    try:
        page.bring_to_front()
        page.goto(served.base + confirm_link(served), wait_until="load")
        page.get_by_role("heading", name="Votre abonnement est confirmé").wait_for()  # no click: the page did it
        assert served.store.subscribers.counts()["confirmed"] == before + 1
        watch.assert_clean()
    finally:
        context.close()


def test_the_digest_mail_and_its_web_page(browser: Any, served: Served, shots: Path) -> None:
    served.clock.now = at(f"{DAY} 06:30")
    counts = served.run(served.agg.newsletter().send_due())
    assert counts.sent >= 1
    digest = next(r.message for r in reversed(served.smtp.sink.received) if r.message["List-Unsubscribe"])
    html = digest.get_body(("html",)).get_content()  # type: ignore[union-attr]
    for width in (800, 375):  # a desktop mail client, a phone
        context = browser.new_context(viewport={"width": width, "height": 900}, is_mobile=width < 500,
                                      java_script_enabled=False)  # mail clients run no script
        page = context.new_page()
        requests: list[str] = []

        def refuse(route: Any, seen: list[str] = requests) -> None:
            seen.append(route.request.url)
            route.abort()

        page.route("**/*", refuse)
        try:
            page.set_content(html, wait_until="load")
            assert requests == [], f"the mail fetched something: {requests}"  # no image, no pixel, no font
            assert page.locator("a[href^='https://rebellyon.example/spip.php?article1']").count() >= 1
            shot = shots / f"mail-{width}.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 0
            assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
        finally:
            context.close()
        if width != 375:
            continue
        # axe needs script: the same HTML again, scripts allowed for axe only
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        try:
            page.route("**/*", lambda r: r.abort())
            page.set_content(html, wait_until="load")
            violations = axe(page)
            assert violations == [], json.dumps(violations, indent=1)
        finally:
            context.close()
    for path in ("/digest", f"/digest/{DAY}"):
        context, page, watch = new_page(browser, served, width=390)
        try:
            page.goto(served.base + path, wait_until="load")
            check(page, watch, shots, path.strip("/").replace("/", "-"), accessible=path != "/digest")
        finally:
            context.close()
