"""Browser tests: a live server, Debian's Chromium, and a page that checks itself.

Every test here is marked ``e2e`` and ``slow``. ``checked_page`` wraps pytest-playwright's ``page``:
its ``goto``, ``follow`` and ``submit`` wait for the new page and run axe-core on it,
and the test fails on script errors, failed requests, error responses and dialogs.
A page that loads without an audit fails the test too, so none is skipped by mistake.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest

from tests.support import service_missing

E2E_DIR = Path(__file__).parent
AXE_JS = E2E_DIR / "vendor" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 10_000


def pytest_collection_modifyitems(config, items):
    """Mark every test in this folder ``e2e`` and ``slow``."""
    for item in items:
        if E2E_DIR in item.path.parents:
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args, browser_name):
    """Launch Debian's Chromium (``playwright install`` does not work here)."""
    if browser_name != "chromium":
        return browser_type_launch_args
    if not os.access(CHROMIUM, os.X_OK):
        service_missing(f"{CHROMIUM} is not installed (apt-get install chromium)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def base_url(pytestconfig):
    """``--base-url`` as pytest-playwright reads it, whose own fixture warns on pytest 9.

    The tests do not use it: they go to the live server, whose port changes per test.
    """
    return pytestconfig.getoption("--base-url", None) or pytestconfig.getini("base_url") or None


def audit(page) -> None:
    """Run axe-core (WCAG 2.0/2.1 A and AA) on the page; fail on any violation."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # Not page.add_script_tag(path=AXE_JS): that adds an inline <script>, which the
        # site's Content-Security-Policy (script-src 'self') rightly refuses. Evaluating
        # the source through the driver, as Deque's @axe-core/playwright does, is not
        # subject to the page's CSP, so the site is audited with its real headers.
        page.evaluate(_axe_source())
    violations = page.evaluate(
        """async (tags) => {
            // Only violations are read: axe's documented way to skip the work of the rest.
            const results = await axe.run(document, {
                runOnly: {type: "tag", values: tags},
                resultTypes: ["violations"],
            });
            return results.violations.map((v) => ({
                id: v.id,
                impact: v.impact,
                help: v.help,
                helpUrl: v.helpUrl,
                count: v.nodes.length,
                targets: v.nodes.slice(0, 3).map((n) => n.target.join(" ")),
                summary: v.nodes.length ? v.nodes[0].failureSummary : "",
            }));
        }""",
        AXE_TAGS,
    )
    if violations:
        lines = [f"axe found {len(violations)} accessibility violation(s) on {page.url}:"]
        for v in violations:
            lines.append(f"- {v['id']} ({v['impact']}): {v['help']} [{v['count']} node(s)]")
            lines.append(f"    {v['helpUrl']}")
            lines.extend(f"    at {target}" for target in v["targets"])
            if v["summary"]:
                lines.extend(f"    | {line}" for line in v["summary"].splitlines())
        pytest.fail("\n".join(lines), pytrace=False)


@functools.cache
def _axe_source() -> str:
    return AXE_JS.read_text(encoding="utf-8")


class CheckedPage:
    """A Playwright page on the live server that audits each page it loads.

    Use ``goto``, ``follow`` and ``submit`` to move between pages: each waits for
    the new page, audits it and checks that nothing went wrong on the way. Use
    ``page`` for locators and assertions.
    """

    def __init__(self, page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self._netloc = urlsplit(base_url).netloc
        self.problems: list[str] = []
        self._reported = 0
        self._allowed: set[tuple[str, int]] = set()
        self._loads: list[str] = []
        self._audited = 0
        page.set_default_timeout(TIMEOUT_MS)
        page.on("console", self._on_console)
        page.on("pageerror", self._on_pageerror)
        page.on("requestfailed", self._on_requestfailed)
        page.on("response", self._on_response)
        page.on("dialog", self._on_dialog)
        page.on("load", self._on_load)

    # --- moving between pages ------------------------------------------------------

    def url(self, path: str) -> str:
        """An absolute URL on the live server."""
        return urljoin(self.base_url + "/", path)

    def goto(self, path_or_url: str, status: int = 200):
        """Open a page (a path on the live server, or a full URL), audit it, check it."""
        url = self.url(path_or_url)
        if status >= 400:
            self.allow(url, status)
        response = self.page.goto(url, wait_until="load")
        assert response is not None, f"no response for {url}"
        assert response.status == status, f"{url} answered {response.status}, not {status}"
        self._after_load()
        return response

    def follow(self, locator) -> None:
        """Click something that loads a new page (a link, a button); audit the new page."""
        with self.page.expect_event("load"):
            locator.click()
        self._after_load()

    def submit(self, button: str, within=None) -> None:
        """Press the submit button named ``button`` (inside ``within``), audit the result."""
        scope = within if within is not None else self.page
        self.follow(scope.get_by_role("button", name=button, exact=True))

    def _after_load(self) -> None:
        self.audit()
        self.check()

    # --- checks --------------------------------------------------------------------

    def audit(self) -> None:
        """Audit the current page with axe-core."""
        audit(self.page)
        self._audited = len(self._loads)

    def allow(self, url: str, status: int) -> None:
        """Expect ``status`` from one URL on the live server: not a problem then."""
        self._allowed.add((self.url(url), status))

    def check(self) -> None:
        """Fail now if anything went wrong since the last check."""
        new = self.problems[self._reported :]
        self._reported = len(self.problems)
        if new:
            pytest.fail(_problem_report(new, self.page.url), pytrace=False)

    def final_check(self, request) -> None:
        """After the test: unreported problems, and pages loaded but never audited."""
        # pytest-playwright's report hook leaves each phase's report on the item.
        call = getattr(request.node, "rep_call", None)
        if call is not None and call.failed:
            # The test stopped early (perhaps in an audit): its last page is no news,
            # and what the browser saw goes with the failure rather than a second error.
            new = self.problems[self._reported :]
            if new:
                request.node.add_report_section(
                    "teardown", "browser", _problem_report(new, self.page.url)
                )
            return
        unaudited = self._loads[self._audited :]
        if unaudited:
            self.problems.append(
                "page(s) loaded but never audited (move with goto/follow/submit, "
                f"or call audit()): {', '.join(unaudited)}"
            )
        self.check()

    # --- listeners -----------------------------------------------------------------

    def _ours(self, url: str) -> bool:
        return urlsplit(url).netloc == self._netloc

    def _is_allowed(self, url: str, status: int | None = None) -> bool:
        if status is None:
            return any(allowed_url == url for allowed_url, _ in self._allowed)
        return (url, status) in self._allowed

    def _on_console(self, message) -> None:
        if message.type != "error":
            return
        source = (message.location or {}).get("url", "")
        # Chromium logs each error response once more as "Failed to load resource".
        if message.text.startswith("Failed to load resource") and self._is_allowed(source):
            return
        self.problems.append(f"console error: {message.text} (at {source or self.page.url})")

    def _on_pageerror(self, error) -> None:
        self.problems.append(f"uncaught script error: {error.message}\n{error.stack or ''}")

    def _on_requestfailed(self, request) -> None:
        # Chromium cancels a page's low-priority loads (the favicon most often) when
        # the test moves on before they finish: ERR_ABORTED on a subresource is the
        # browser's own choice, not a server failure. A document aborted still counts.
        if request.failure == "net::ERR_ABORTED" and request.resource_type != "document":
            return
        if self._ours(request.url):
            self.problems.append(
                f"request failed: {request.method} {request.url}: {request.failure}"
            )

    def _on_response(self, response) -> None:
        status, url = response.status, response.url
        if status >= 400 and self._ours(url) and not self._is_allowed(url, status):
            request = response.request
            self.problems.append(
                f"HTTP {status} for {request.method} {url} ({request.resource_type})"
            )

    def _on_dialog(self, dialog) -> None:
        self.problems.append(
            f"{dialog.type} dialog opened on {self.page.url} with message "
            f"{dialog.message!r}: script ran, which means an injection got through"
        )
        dialog.dismiss()

    def _on_load(self, page) -> None:
        self._loads.append(page.url)


def _problem_report(problems: list[str], url: str) -> str:
    lines = [f"{len(problems)} problem(s) in the browser (now on {url}):"]
    lines.extend(f"- {problem}" for problem in problems)
    return "\n".join(lines)


@pytest.fixture
def checked_page(request, live_server, page):
    """The live server's pages, audited and checked for errors (see CheckedPage)."""
    checked = CheckedPage(page, live_server)
    yield checked
    checked.final_check(request)
