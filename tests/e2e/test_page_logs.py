"""The home page's logs dialog, history, failed-start offer and status line, in Chromium,
against a real hub and engine (JupyterHub 6; one hub for the module).

Every state of the page is photographed too (tests/e2e/page_tour.py), into
artifacts/screenshots/.
"""

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.e2e.page_tour import STATES, home, tour
from tests.e2e.test_page import logged_in
from tests.support.browser import SCREENSHOTS, SLOW
from tests.support.dockerutil import container_of
from tests.support.hub_config import FAILING_LINE, LEAKS
from tests.support.hubproc import running_hub


@pytest.fixture(scope="module")
def hub(tmp_path_factory, docker, image):
    # A short http_timeout: a server that never answers fails its spawn in 20 s.
    with running_hub(tmp_path_factory, docker, image, "page-logs-hub", http_timeout=20) as h:
        yield h


def user(kind):
    return f"{kind}-{uuid.uuid4().hex[:6]}"


def test_the_logs_dialog_shows_the_tail_redacted_and_refreshes(hub, docker, browser):
    name = user("leaky")
    hub.create_user(name)
    hub.start_server(name)
    env = dict(e.split("=", 1) for e in container_of(docker, hub, name).attrs["Config"]["Env"])
    with logged_in(browser, hub, name) as page:
        home(page, hub)
        page.click("#server-logs-btn")
        modal = page.locator("#server-logs-modal")
        expect(modal).to_be_visible()
        expect(page.locator("#server-logs-refresh-btn")).to_be_focused()
        output = page.locator("#server-logs-output")
        expect(output).to_contain_text("api token: [secret]", timeout=SLOW)
        expect(output).to_contain_text("Authorization: token [secret]")
        expect(page.locator("#server-logs-summary")).to_contain_text("The container is running.")
        text = output.inner_text()
        for secret in [env["JUPYTERHUB_API_TOKEN"], env["JUPYTERHUB_CLIENT_ID"], *LEAKS.values()]:
            assert secret not in text
        assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  ", text, re.M), text[:200]
        page.screenshot(path=str(SCREENSHOTS / "page-logs-dialog.png"))

        # Something new in the log; Refresh shows it.
        container_of(docker, hub, name).exec_run(["sh", "-c", "echo refreshed-marker > /proc/1/fd/1"])  # as the server's own user
        page.click("#server-logs-refresh-btn")
        expect(output).to_contain_text("refreshed-marker", timeout=SLOW)
        page.select_option("#server-logs-tail", "1000")
        expect(page.locator("#server-logs-summary")).to_contain_text("All ")
        page.keyboard.press("Escape")
        expect(modal).to_be_hidden()
        expect(page.locator("#server-logs-btn")).to_be_focused()
    hub.stop_server(name)


def test_a_failed_start_offers_its_log_at_once(hub, browser):
    name = user("failing")
    hub.create_user(name)
    r = hub.api("POST", f"/users/{name}/server")
    assert r.status_code in (201, 202, 500), r.text  # 500: JupyterHub's own, the server died starting
    hub.wait_for(lambda: hub.server_model(name) is None, 90)
    with logged_in(browser, hub, name) as page:
        home(page, hub)
        status = page.locator(".resettable-status").first
        expect(status).to_contain_text("your server", timeout=SLOW)
        expect(status).to_have_class(re.compile("alert-danger"))
        expect(page.locator(".resettable-last-line").first).to_have_text(FAILING_LINE)
        page.screenshot(path=str(SCREENSHOTS / "page-logs-failed-start.png"))
        page.locator(".resettable-show-logs").first.click()
        expect(page.locator("#server-logs-output")).to_contain_text(FAILING_LINE, timeout=SLOW)
        expect(page.locator("#server-logs-summary")).to_contain_text("exited with code 3")


def test_the_status_line_follows_a_stop_here_or_in_another_tab(hub, browser):
    name = user("status")
    hub.create_user(name)
    hub.start_server(name)
    with logged_in(browser, hub, name) as page:
        home(page, hub)
        status = page.locator(".resettable-status").first
        page.click("#restart-server-btn")
        page.click("#confirm-restart-btn")
        expect(status).to_contain_text("Restarted your server", timeout=SLOW)
        # The hub's own Stop: the line about the restart goes at once, no empty box stays.
        page.click("#stop")
        expect(status).to_be_hidden()
        expect(page.locator(".resettable-feedback").first).to_be_hidden()
        expect(page.locator("#reset-home-volume-btn")).to_be_visible(timeout=SLOW)
        expect(status).to_be_hidden()

        # Another tab starts and restarts it, then stops it: this page's line follows.
        hub.start_server(name)
        home(page, hub)
        page.click("#restart-server-btn")
        page.click("#confirm-restart-btn")
        expect(status).to_contain_text("Restarted your server", timeout=SLOW)
        page.wait_for_timeout(1500)  # a poll binds the line to "running"
        hub.stop_server(name)
        expect(status).to_be_hidden(timeout=SLOW)

        # No empty box behind a dialog.
        page.click("#reset-home-volume-btn")
        expect(page.locator("#reset-volume-modal")).to_be_visible()
        expect(page.locator(".resettable-feedback").first).to_be_hidden()


def test_history_and_backups_name_the_reset_that_made_them(hub, browser):
    name = user("hist")
    hub.create_user(name)
    hub.start_server(name)
    hub.stop_server(name)
    with logged_in(browser, hub, name, height=900) as page:
        home(page, hub)
        page.click("#reset-home-volume-btn")
        page.fill("#reset-volume-confirm-input", name)
        page.click("#confirm-reset-btn")
        expect(page.locator(".resettable-status").first).to_contain_text("Deleted", timeout=SLOW)
        entry = page.locator("#maintenance-history .resettable-history-entry")
        expect(entry).to_have_count(1, timeout=SLOW)
        expect(entry).to_contain_text(f"Reset by {name}")
        expect(entry).to_contain_text("Done. Deleted:")
        backup = page.locator("#home-volume-backups .resettable-backup")
        expect(backup).to_contain_text("made by the reset of", timeout=SLOW)
        expect(backup).to_contain_text(f"by {name}")
        page.screenshot(path=str(SCREENSHOTS / "page-logs-history.png"), full_page=True)


def test_every_state_of_the_page(hub, browser):
    shots = tour(browser, hub, SCREENSHOTS, "page-logs")
    assert set(STATES) <= set(shots)
