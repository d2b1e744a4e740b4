"""End-to-end: the pages in real headless Chromium (Debian's ``chromium`` driven by
Playwright through ``executable_path``; ``.ci/run`` installs it). Under CI these tests fail
rather than skip when the browser is missing.

Screenshots of the list, conversation and tree pages are saved in a temporary directory
(``$THREADLINE_WEB_SCREENSHOTS`` if set), printed at the end of the run.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from threadline.web import FileSource, create_app, loopback_hosts

from . import _sessions
from .conftest import WebData

CHROMIUM = os.environ.get("THREADLINE_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]

pytestmark = pytest.mark.slow


def _need_browser() -> Any:
    problem = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        problem = f"playwright is not installed: {exc}"
    if problem is None and not Path(CHROMIUM).exists():
        problem = f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{problem} (CI is set: the browser tests must run)", pytrace=False)
        pytest.skip(problem)
    return sync_playwright


class Server:
    """uvicorn in a thread, on a free loopback port."""

    def __init__(self, config: Path, *, allow_writes: bool = False) -> None:
        import uvicorn

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        app = create_app(FileSource(config), allow_writes=allow_writes,
                         allowed_hosts=loopback_hosts("127.0.0.1", self.port))
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@pytest.fixture(scope="module")
def e2e(web_data: WebData, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    sync_playwright = _need_browser()
    config = tmp_path_factory.mktemp("e2e") / "config"
    shutil.copytree(web_data.config, config, symlinks=True)
    shutil.rmtree(config / "threadline", ignore_errors=True)
    big = _sessions.big(config, 20_000, project="-tmp-web-big")
    shots = Path(os.environ.get("THREADLINE_WEB_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    server = Server(config)
    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    try:
        yield {"url": server.url, "browser": browser, "big": big, "shots": shots, "config": config}
    finally:
        browser.close()
        pw.stop()
        server.stop()
        print(f"\nscreenshots of the web pages: {shots}")


@pytest.fixture
def page(e2e: dict[str, Any]) -> Iterator[Any]:
    context = e2e["browser"].new_context(viewport={"width": 1280, "height": 860})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    pg.set_default_timeout(20_000)
    pg.errors = errors
    try:
        yield pg
    finally:
        context.close()


def _wait_text(page: Any, ok: Any, timeout: float = 20.0) -> str:
    """Poll the items' text (the page's CSP forbids the eval wait_for_function uses)."""
    deadline = time.monotonic() + timeout
    while True:
        text = str(page.locator("[data-testid=items]").inner_text())
        if ok(text):
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"the page never showed the expected text: {text[:300]!r}")
        time.sleep(0.05)


def test_list_and_search(page: Any, e2e: dict[str, Any], web_data: WebData) -> None:
    page.goto(e2e["url"] + "/")
    page.wait_for_selector("[data-testid=sessions] tbody tr[data-session]")
    rows = page.locator("[data-testid=sessions] tbody tr[data-session]")
    assert rows.count() >= len(web_data.ids)
    page.screenshot(path=str(e2e["shots"] / "list.png"))
    # sort by title, then filter by the tag
    page.click("th:has-text('Title')")
    page.wait_for_url("**sort=title**")
    page.select_option("select[name=tag]", "oracle-tag")
    page.wait_for_url("**tag=oracle-tag**")
    page.wait_for_selector("text=Renamed By SDK")
    assert page.locator("[data-testid=sessions] tbody tr[data-session]").count() == 1
    # full-text search with highlighted snippets
    page.goto(e2e["url"] + "/")
    page.fill("input[name=search]", "alternative")
    page.click("button:has-text('Search')")
    page.wait_for_selector("[data-testid=hits] mark")
    assert page.locator("[data-testid=hits] mark").first.inner_text().lower() == "alternative"
    page.screenshot(path=str(e2e["shots"] / "search.png"))
    page.locator("[data-testid=hits] a").first.click()
    page.wait_for_selector(".item.focus")
    assert "alternative" in page.locator(".item.focus").inner_text()
    assert page.errors == []


def test_session_with_a_fork_and_a_subagent(page: Any, e2e: dict[str, Any], web_data: WebData) -> None:
    sid = web_data.ids["subagent_fg"]
    page.goto(f"{e2e['url']}/s/{sid}")
    page.wait_for_selector("[data-testid=subagent]")
    page.click("[data-testid=subagent] summary")
    page.wait_for_selector("[data-testid=subagent] .items >> text=SUBTASK-FG please work")
    assert "subagent fg done" in page.locator("[data-testid=subagent]").inner_text()
    page.screenshot(path=str(e2e["shots"] / "conversation.png"), full_page=True)
    page.click("button:has-text('Branch tree')")
    page.wait_for_selector("[data-testid=tree] .node.fork")
    page.locator("main").screenshot(path=str(e2e["shots"] / "tree.png"))
    fork = page.locator("[data-testid=tree] .node.fork")
    assert fork.count() == 1
    fork.click()
    page.wait_for_url(f"**/s/{web_data.ids['sdk_fork_sub']}")
    page.wait_for_selector("[data-testid=title]")
    assert page.locator("[data-testid=title]").inner_text() == "SDK fork of the subagent session"
    assert page.errors == []


def test_tree_and_diff(page: Any, e2e: dict[str, Any], web_data: WebData) -> None:
    sid = web_data.ids["branch"]
    page.goto(f"{e2e['url']}/s/{sid}/tree")
    page.wait_for_selector("[data-testid=tree] .node")
    nodes = page.locator("[data-testid=tree] .node:not(.fork)")
    assert nodes.count() == 3
    assert page.locator("[data-testid=tree] .node.fork").count() == 1
    page.locator("main").screenshot(path=str(e2e["shots"] / "tree-branches.png"))
    # a node links to its path
    page.locator("[data-testid=tree] .node.leaf:not(.default)").click()
    page.wait_for_selector("text=echo: branch turn two")
    assert "branch turn alternative" not in page.locator("[data-testid=items]").inner_text()
    page.go_back()
    page.wait_for_selector("[data-testid=compare]")
    page.click("[data-testid=compare]")
    page.wait_for_selector("[data-testid=diff-a] .item")
    left = page.locator("[data-testid=diff-a]").inner_text()
    right = page.locator("[data-testid=diff-b]").inner_text()
    assert "branch turn two" in left and "branch turn alternative" not in left
    assert "branch turn alternative" in right and "branch turn two" not in right
    assert "branch turn one" in page.locator("[data-testid=common]").inner_text()
    page.screenshot(path=str(e2e["shots"] / "diff.png"))
    assert page.errors == []


def test_page_through_a_20000_entry_session(page: Any, e2e: dict[str, Any]) -> None:
    started = time.perf_counter()
    page.goto(f"{e2e['url']}/s/{e2e['big']}")
    page.wait_for_selector("[data-testid=items] .item")
    opened = time.perf_counter() - started
    first = page.locator("[data-testid=items] .item").first.inner_text()
    assert "prompt number 0" in first
    assert page.locator("[data-testid=items] .item").count() == 100
    assert "prompt number 60:" not in page.locator("[data-testid=items]").inner_text()
    page.locator("[data-testid=next]").first.click()
    page.wait_for_selector("[data-testid=items] >> text=prompt number 60:")
    assert "prompt number 0:" not in page.locator("[data-testid=items]").inner_text()
    page.locator("[data-testid=last]").first.click()
    _wait_text(page, lambda t: "reply number" in t and "prompt number 60:" not in t)
    total = page.locator(".pager span.muted").first.inner_text()
    pages = page.locator("[data-testid=page]").first.inner_text()
    assert "items" in total and "of" in pages
    jump = page.locator("[data-testid=page] input").first
    jump.fill("3")
    jump.dispatch_event("change")
    page.wait_for_selector("[data-testid=items] >> text=prompt number 100:")
    print(f"\n20 000-entry session: first page shown {opened:.2f}s after navigation (cold)")
    assert page.errors == []


def test_script_in_a_transcript_does_not_run(page: Any, e2e: dict[str, Any], web_data: WebData) -> None:
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(msg.text))
    page.goto(f"{e2e['url']}/s/{web_data.ids['hostile']}")
    page.wait_for_selector("[data-testid=items] .item")
    page.locator("details.thinking summary").first.click()
    time.sleep(0.3)
    assert page.evaluate("window.__pwned") is None
    assert page.title() != "pwned"
    assert page.locator("[data-testid=items] script").count() == 0
    assert page.locator("[data-testid=items] img").count() == 0
    assert page.locator("a[href^='javascript']").count() == 0
    text = page.locator("[data-testid=items]").inner_text()
    assert "<script>window.__pwned = 1" in text
    assert '<a href="javascript:window.__pwned = 3">' in text
    assert "\x1b" not in text and "␛[31mRED" in text  # ESC shown as a visible symbol
    assert "\u202e" not in text and "⟦U+202E⟧" in text
    assert page.locator("[data-testid=title]").inner_text().startswith("hostile <script>")
    # the list shows the hostile title as text too
    page.goto(e2e["url"] + "/?project=-tmp-web-generated")
    page.wait_for_selector("text=hostile <script>")
    assert page.evaluate("window.__pwned") is None


def test_writes_refused_without_allow_writes(page: Any, e2e: dict[str, Any], web_data: WebData) -> None:
    sid = web_data.ids["single"]
    page.goto(f"{e2e['url']}/s/{sid}")
    page.wait_for_selector("[data-testid=title]")
    assert page.locator("#mode").inner_text() == "read-only"
    for label in ("Rename", "Tag", "Fork", "Move to trash", "Fork here"):
        assert page.locator(f"button:has-text('{label}')").count() == 0
    status = page.evaluate(
        """async (sid) => (await fetch('/api/sessions/' + sid + '/rename', {method: 'POST',
             headers: {'content-type': 'application/json'}, body: JSON.stringify({title: 'x'})})).status""",
        sid,
    )
    assert status == 403
    assert page.locator("[data-testid=title]").inner_text() == "hello single turn"


def test_writes_from_the_page_when_allowed(e2e: dict[str, Any], web_data: WebData, tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(e2e["config"], config, symlinks=True, ignore=shutil.ignore_patterns("-tmp-web-big"))
    server = Server(config, allow_writes=True)
    context = e2e["browser"].new_context()
    try:
        pg = context.new_page()
        sid = web_data.ids["single"]
        pg.goto(f"{server.url}/s/{sid}")
        pg.wait_for_selector("button:has-text('Rename')")
        assert pg.locator("#mode").inner_text() == "writes enabled"
        pg.once("dialog", lambda d: d.accept("Renamed in the browser"))
        pg.click("button:has-text('Rename')")
        pg.wait_for_selector("[data-testid=title] >> text=Renamed in the browser")
        pg.once("dialog", lambda d: d.accept("browser fork"))
        pg.locator("button:has-text('Fork here')").first.click()
        pg.wait_for_selector("[data-testid=title] >> text=browser fork")
        assert "/s/" in pg.url and sid not in pg.url
    finally:
        context.close()
        server.stop()
