"""The dashboard in a real browser (Debian's Chromium, driven by Playwright) against a real
`mcpfleet up` with real servers and authentication on: log in, see every server, call a tool,
drain and undrain, revoke a key, filter the audit log, and a viewer who may only look.

One fleet for the whole module. Screenshots of each page go to a temporary folder; their paths
are printed (run with -s to see them), with the overview's page weight and first paint.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpers import fleet, free_port, npm_server, pypi_server
from mcpfleet.config import dump_config
from mcpfleet.database import Database
from mcpfleet.security.config import AccessConfig, AuthConfig
from mcpfleet.security.keys import ApiKeyStore

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow, pytest.mark.npm, pytest.mark.pypi]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency: uv sync")
if not os.access(CHROMIUM, os.X_OK):
    pytest.skip(
        "Chromium is not installed: scripts/test installs Debian's `chromium` with apt-get where it can "
        "(as root); install it yourself to run the browser tests",
        allow_module_level=True,
    )
Page = playwright_api.Page
expect = playwright_api.expect
SERVERS = ("memory", "everything", "time")


@dataclass
class Fleet:
    url: str
    keys: dict[str, str]
    shots: Path

    def shot(self, page: Any, name: str) -> None:
        path = self.shots / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    root = tmp_path_factory.mktemp("ui")
    config = fleet(
        root / "home",
        memory=npm_server("server-memory"),
        everything=npm_server("server-everything"),
        time=pypi_server("mcp-server-time"),
    )
    config.auth = AuthConfig(mode="api_key")
    config.access = AccessConfig.model_validate({"roles": {"admin": ["all"], "viewer": ["read", "list"]}})
    config.health_check_interval = 1.0
    (root / "mcpfleet.yaml").write_text(dump_config(config))
    store = ApiKeyStore(Database.for_fleet(config))
    keys = {name: store.create(f"{name}-key", role)[0] for name, role in
            (("admin", "admin"), ("viewer", "viewer"), ("temp", "viewer"))}  # fmt: skip
    port = free_port()
    log = (root / "up.log").open("wb")
    command = [sys.executable, "-m", "mcpfleet", "-c", str(root / "mcpfleet.yaml"), "up", "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"mcpfleet up exited: {(root / 'up.log').read_text()[-3000:]}")
            return _ready(url)

        _until(ready, within=90, what=f"the fleet to be ready ({root / 'up.log'})")
        yield Fleet(url, keys, Path(tempfile.mkdtemp(prefix="mcpfleet-ui-screenshots-")))
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


def _ready(url: str) -> bool:
    try:
        reply = httpx.get(f"{url}/readyz", timeout=2)
    except httpx.HTTPError:
        return False
    return reply.status_code == 200


def _until(check: Callable[[], bool], *, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


def _logged_in(browser: Any, up: Fleet, who: str, **options: Any) -> Page:
    context = browser.new_context(**options)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # every action's confirmation: yes
    page.goto(f"{up.url}/ui")
    expect(page).to_have_url(f"{up.url}/ui/login?next=/ui")
    page.get_by_label("API key or token").fill(up.keys[who])
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{up.url}/ui")
    return page


def test_log_in_and_see_every_server_live(browser: Any, up: Fleet) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{up.url}/")
    page.get_by_label("API key or token").fill("mcpf_00000000_wrong")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#login-error")).to_contain_text("Not logged in")
    up.shot(page, "login-refused")
    context.close()

    page = _logged_in(browser, up, "admin")
    for server in SERVERS:
        row = page.locator(f'#fleet tr[data-server="{server}"]')
        expect(row.locator('[data-field="state"]')).to_have_text("ready")
        expect(row.locator('[data-chart="rate"] svg')).to_have_count(1)  # drawn by the live update
    expect(page.locator("#live-state")).to_contain_text("updated")
    up.shot(page, "overview")
    timing = """() => {
        const nav = performance.getEntriesByType('navigation')[0];
        const res = performance.getEntriesByType('resource').filter(r => r.name.includes('/ui/static/'));
        const paint = Object.fromEntries(
            performance.getEntriesByType('paint').map(p => [p.name, p.startTime]));
        const sizes = res.map(r => [r.name.split('/').pop(), r.decodedBodySize, r.transferSize]);
        return {html: nav.decodedBodySize, assets: sizes, paint};
    }"""  # performance entries: bytes of the page and its own CSS and JS, paint times in ms
    after_login = page.evaluate(timing)
    page.reload()  # the same page again: its first paint without the login's redirect
    # The paint entries appear once the browser has painted, which may be after the load event.
    page.wait_for_function(
        "() => performance.getEntriesByType('paint').some(p => p.name === 'first-contentful-paint')"
    )
    reloaded = page.evaluate(timing)
    total = after_login["html"] + sum(size for _, size, _ in after_login["assets"])
    print(f"overview weight: {total} bytes: html {after_login['html']}, {after_login['assets']}")
    print(f"overview paint (ms) after logging in: {after_login['paint']}; on reload: {reloaded['paint']}")
    assert reloaded["paint"].get("first-contentful-paint") is not None
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    up.shot(page, "overview-phone")
    page.context.close()


def test_call_a_tool_in_the_playground(browser: Any, up: Fleet) -> None:
    page = _logged_in(browser, up, "admin")
    page.get_by_role("link", name="Playground").click()
    page.wait_for_load_state()  # its script picks up the choice below
    page.get_by_label("Tool").select_option("time__get_current_time")
    page.wait_for_load_state()
    expect(page.locator("#call-form")).to_be_visible()
    page.get_by_label("timezone").fill("Europe/Paris")
    page.get_by_role("button", name="Call").click()
    expect(page.locator("#call-status")).to_contain_text("Done in")
    expect(page.locator("#call-result")).to_contain_text("Europe/Paris")
    up.shot(page, "playground")
    page.goto(f"{up.url}/ui/playground?tool=everything__get-sum")
    page.locator("#arg-a").fill("40")
    page.locator("#arg-b").fill("")
    page.get_by_role("button", name="Call").click()
    expect(page.locator("#call-status")).to_contain_text("Some fields need attention")
    expect(page.locator("#problem-b")).to_have_text("b is required")
    page.locator("#arg-b").fill("2")
    page.get_by_role("button", name="Call").click()
    expect(page.locator("#call-result")).to_contain_text("42")
    up.shot(page, "playground-get-sum")
    page.context.close()


def test_drain_and_undrain_a_server_and_watch_its_state(browser: Any, up: Fleet) -> None:
    page = _logged_in(browser, up, "admin")
    page.get_by_role("link", name="memory").click()
    expect(page.locator("#server-state")).to_have_text("ready")
    expect(page.locator("#instances tbody tr")).to_have_count(1)
    page.wait_for_load_state()
    with page.expect_event("dialog") as asked:  # each action asks first (and the test says yes)
        page.get_by_role("button", name="Drain", exact=True).click()
    assert asked.value.message == "Stop sending new calls to memory?"
    expect(page.locator(".notice")).to_contain_text("draining")
    expect(page.locator("#server-state")).to_have_text("draining")
    expect(page.locator("#server-mode")).to_have_text("draining")
    up.shot(page, "server-draining")
    page.get_by_role("link", name="Fleet", exact=True).click()
    expect(page.locator('#fleet tr[data-server="memory"] [data-field="state"]')).to_have_text("draining")
    page.goto(f"{up.url}/ui/servers/memory")
    page.get_by_role("button", name="Undrain").click()
    expect(page.locator("#server-state")).to_have_text("ready")
    expect(page.locator("#server-mode")).to_have_text("taking calls")
    up.shot(page, "server")
    page.context.close()


def test_revoke_a_key_and_see_it_refused(browser: Any, up: Fleet) -> None:
    temp = _logged_in(browser, up, "temp")
    admin = _logged_in(browser, up, "admin")
    admin.get_by_role("link", name="API keys").click()
    admin.locator('tr[data-key="temp-key"]').get_by_role("button", name="Revoke").click()
    expect(admin.locator(".notice")).to_contain_text("Revoked temp-key")
    expect(admin.locator('tr[data-key="temp-key"] .state')).to_have_text("revoked")
    up.shot(admin, "keys")
    temp.reload()  # (or its next live update) sends it to the login form
    expect(temp).to_have_url(re.compile(r"/ui/login\?next="))
    temp.get_by_label("API key or token").fill(up.keys["temp"])
    temp.get_by_role("button", name="Log in").click()
    expect(temp.locator("#login-error")).to_contain_text("revoked")
    api = httpx.get(f"{up.url}/api/v1/status", headers={"x-api-key": up.keys["temp"]}, timeout=10)
    assert api.status_code == 401
    for page in (temp, admin):
        page.context.close()


def test_filter_the_audit_log(browser: Any, up: Fleet) -> None:
    page = _logged_in(browser, up, "admin")
    page.get_by_role("link", name="Audit").click()
    expect(page.locator("#verification")).to_contain_text("OK")
    page.get_by_label("Server").select_option("time")
    page.get_by_label("Outcome").select_option("success")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("#audit tbody tr[data-outcome]")
    expect(rows.first).to_be_visible()
    assert set(rows.locator('td[data-label="Server"]').all_inner_texts()) == {"time"}
    expect(rows.first.locator('td[data-label="Principal"]')).to_contain_text("admin-key")
    up.shot(page, "audit")
    page.get_by_label("Principal").fill("nobody-at-all")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#audit tbody")).to_contain_text("No records match")
    for name in ("Approvals", "Catalog"):
        page.get_by_role("link", name=name).click()
        expect(page.locator("h1")).to_have_text(name)
        up.shot(page, name.lower())
    page.context.close()


def test_a_viewer_sees_no_action_buttons_and_its_posts_are_refused(browser: Any, up: Fleet) -> None:
    page = _logged_in(browser, up, "viewer")
    expect(page.locator("#view-only")).to_be_visible()
    expect(page.locator('#fleet tr[data-server="time"] [data-field="state"]')).to_have_text("ready")
    page.goto(f"{up.url}/ui/servers/time")
    expect(page.locator("#tools-title")).to_be_visible()
    expect(page.locator("button[data-action]")).to_have_count(0)
    page.goto(f"{up.url}/ui/keys")
    expect(page.get_by_role("button", name="Revoke")).to_have_count(0)
    up.shot(page, "viewer-keys")
    csrf = page.locator("body").get_attribute("data-csrf")
    for path in ("/ui/servers/time/restart", "/ui/servers/time/drain", "/ui/keys/x/revoke"):
        reply = page.request.post(f"{up.url}{path}", form={"csrf": csrf or ""})
        assert reply.status == 403, path
    reply = page.request.post(f"{up.url}/ui/servers/time/drain", form={})
    assert reply.status == 403  # no CSRF token: refused before anything else
    page.goto(f"{up.url}/ui/servers/time")
    expect(page.locator("#server-mode")).to_have_text("taking calls")
    up.shot(page, "viewer-server")
    page.context.close()
