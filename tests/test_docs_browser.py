"""The documentation page at `/` in a real browser: Debian's Chromium, driven by Playwright.

No browser is downloaded: Playwright drives /usr/bin/chromium (`apt-get install chromium`).
Without it, or without the `playwright` package, these tests skip.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from live_server import LiveServer, live_server

CHROMIUM = Path("/usr/bin/chromium")
# Only loopback is reachable here: these flags keep Chromium from trying anything else.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
SPEC = Path(__file__).resolve().parent.parent / "openapi" / "bucketlist.yaml"
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
TIMEOUT_MS = 20_000

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)", allow_module_level=True)
sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="the playwright package is missing (pip install -e '.[test]')",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("docs-server")) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Tab:
    page: Any  # playwright.sync_api.Page
    foreign_requests: list[str] = field(default_factory=list)
    script_errors: list[str] = field(default_factory=list)


@pytest.fixture
def tab(browser, server: LiveServer) -> Iterator[Tab]:
    """A fresh page that may only talk to our server: the docs must work offline."""
    context = browser.new_context()
    tab = Tab(context.new_page())
    tab.page.set_default_timeout(TIMEOUT_MS)

    def only_our_server(route) -> None:
        if route.request.url.startswith(f"{server.origin}/"):
            route.continue_()
        else:
            tab.foreign_requests.append(route.request.url)
            route.abort()

    tab.page.route("**/*", only_our_server)
    tab.page.on("pageerror", lambda error: tab.script_errors.append(str(error)))
    yield tab
    context.close()


def spec_operations() -> set[tuple[str, str]]:
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    return {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def open_docs(page, server: LiveServer) -> None:
    page.goto(f"{server.origin}/")
    page.locator(".opblock").first.wait_for()


def test_docs_list_every_operation(tab: Tab, server: LiveServer) -> None:
    page = tab.page
    open_docs(page, server)
    shown = set()
    for summary in page.locator(".opblock-summary").all():
        method = summary.locator(".opblock-summary-method").inner_text().strip()
        path = summary.locator(".opblock-summary-path").get_attribute("data-path")
        shown.add((method, path))
    assert shown == spec_operations()
    assert page.locator(".info .title").inner_text().startswith("Bucketlist API")
    assert tab.foreign_requests == []
    assert tab.script_errors == []


def test_try_it_out_with_a_real_token(tab: Tab, server: LiveServer) -> None:
    page = tab.page
    token = server.register()
    status, created = server.request("POST", "/bucketlists", {"name": "Seen in a browser"}, token=token)
    assert status == 201, created
    open_docs(page, server)

    page.locator(".auth-wrapper .authorize").click()
    dialog = page.locator(".dialog-ux")
    dialog.locator("input").fill(token)
    dialog.locator(".auth-btn-wrapper .authorize").click()
    assert dialog.locator(".auth-btn-wrapper button").first.inner_text().strip() == "Logout"
    dialog.locator(".btn-done").click()

    operation = page.locator(".opblock-get").filter(has=page.locator('[data-path="/bucketlists"]'))
    operation.locator(".opblock-summary").click()
    operation.locator(".try-out__btn").click()
    with page.expect_request(re.compile(rf"^{re.escape(server.api)}/bucketlists(\?|$)")) as sent:
        operation.locator(".execute").click()
    assert sent.value.headers["authorization"] == f"Bearer {token}"

    shown = operation.locator(".live-responses-table .response")
    shown.locator(".response-col_status").first.wait_for()
    assert shown.locator(".response-col_status").first.inner_text().strip() == "200"
    body = shown.locator(".microlight, pre").first.inner_text()
    assert '"status": "success"' in body
    assert "Seen in a browser" in body
    assert tab.foreign_requests == []
    assert tab.script_errors == []
