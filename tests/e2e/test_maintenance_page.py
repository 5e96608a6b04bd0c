"""The maintenance page (/hub/maintenance) in Debian's Chromium, against a real hub and engine
(JupyterHub 6): a bulk restart of selected servers, per-row actions, who may see the page.

Screenshots go to artifacts/screenshots/maintenance-*.png.
"""

import uuid
from contextlib import contextmanager

import httpx
import pytest
from playwright.sync_api import expect

from tests.support.browser import SCREENSHOTS, SLOW
from tests.support.dockerutil import container_of, docker_escape, volume_names
from tests.support.hubproc import PREFIX, quote, running_hub


@pytest.fixture(scope="module")
def hub(tmp_path_factory, docker, image):
    with running_hub(tmp_path_factory, docker, image, "mainthub") as h:
        yield h


@contextmanager
def logged_in(browser, hub, user, path):
    hub.create_user(user)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(f"{hub.url}/hub/login?next={quote('/hub/' + path)}")
    page.fill("#username_input", user)
    page.fill("#password_input", hub.password)
    page.click("#login_submit")
    page.wait_for_url(f"**/hub/{path}")
    try:
        yield page
    finally:
        context.close()


def shot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"maintenance-{name}.png"), full_page=True)


def row(page, user, server=""):
    return page.locator(f'tr.maintenance-server[data-user="{user}"][data-server="{server}"]')


def started_at(container):
    container.reload()
    return container.attrs["State"]["StartedAt"]


def open_page(page, hub):
    page.goto(f"{hub.url}/hub/maintenance")
    page.wait_for_function("window._maintenance_ready === true")


@pytest.fixture(scope="module")
def servers(hub):
    """Four users with running servers: three to restart, one to leave alone."""
    tag = uuid.uuid4().hex[:6]
    users = [f"m{i}-{tag}" for i in range(4)]
    for user in users:
        hub.create_user(user)
        assert hub.api("POST", f"/users/{user}/server").status_code in (201, 202)
    for user in users:
        hub.wait_for(lambda u=user: (hub.server_model(u) or {}).get("ready"), 180)
    return tag, users


def test_admin_restarts_three_selected_servers(hub, docker, browser, servers):
    tag, users = servers
    chosen, untouched = users[:3], users[3]
    containers = {u: container_of(docker, hub, u) for u in users}
    before = {u: (c.id, started_at(c)) for u, c in containers.items()}

    with logged_in(browser, hub, "admin", "home") as page:
        link = page.locator("#maintenance-nav-link")
        expect(link).to_be_visible()
        link.click()
        page.wait_for_url("**/hub/maintenance")
        page.wait_for_function("window._maintenance_ready === true")
        table = page.locator("#maintenance-table")
        expect(table).to_be_visible()
        for user in users:
            expect(row(page, user)).to_have_count(1)
            expect(row(page, user).locator(".maintenance-state")).to_have_text("running")
            expect(row(page, user).locator(".maintenance-image")).to_have_text(containers[user].attrs["Config"]["Image"])
        # The filter box narrows the rows (admin's own row goes); the list is sorted by
        # user, and a click on the header reverses it.
        expect(row(page, "admin")).to_have_count(1)
        page.fill("#maintenance-filter", tag)
        expect(page.locator("tr.maintenance-server")).to_have_count(4)
        expect(page.locator("th[data-sort='user']")).to_have_attribute("aria-sort", "ascending")
        page.locator("button.maintenance-sort[data-sort='user']").click()
        expect(page.locator("th[data-sort='user']")).to_have_attribute("aria-sort", "descending")
        assert page.locator("tr.maintenance-server").evaluate_all(
            "rows => rows.map(r => r.dataset.user)"
        ) == sorted(users, reverse=True)
        shot(page, "01-list")

        for user in chosen:
            row(page, user).locator("input.maintenance-select").check()
        expect(page.locator("#restart-selected-btn")).to_have_text("Restart selected (3)")
        expect(page.locator("#restart-all-btn")).to_be_enabled()
        page.click("#restart-selected-btn")
        dialog = page.locator("#bulk-restart-modal")
        expect(dialog).to_be_visible()
        expect(page.locator("#bulk-restart-modal-label")).to_have_text("Restart 3 servers?")
        expect(page.locator("#confirm-bulk-restart-btn")).to_be_focused()
        shot(page, "02-bulk-dialog")
        page.click("#confirm-bulk-restart-btn")

        progress = page.locator("#bulk-restart-progress")
        expect(progress).to_have_attribute("data-finished", "false", timeout=10_000)
        bulk_id = progress.get_attribute("data-bulk-id")
        shot(page, "03-bulk-running")
        # The hub goes on without the page; a reload follows the same bulk restart again.
        page.reload()
        page.wait_for_function("window._maintenance_ready === true")
        expect(progress).to_have_attribute("data-bulk-id", bulk_id, timeout=10_000)
        expect(progress).to_have_attribute("data-finished", "true", timeout=SLOW)
        expect(progress).to_contain_text("3 of 3 done")
        expect(progress).to_have_attribute("data-done", "3")
        for user in chosen:
            expect(row(page, user).locator(".maintenance-bulk-state")).to_have_text("restarted")
            expect(row(page, user).locator(".maintenance-last-restart")).to_contain_text("done", timeout=10_000)
        shot(page, "04-bulk-done")

    for user in chosen:
        c = container_of(docker, hub, user)
        assert c.id == before[user][0], user
        assert c.status == "running"
        assert started_at(c) != before[user][1], user
        assert hub.route_status(user) == 200
    assert started_at(container_of(docker, hub, untouched)) == before[untouched][1]


def test_row_actions_logs_reset_and_backups(hub, docker, browser, servers):
    _, users = servers
    user = users[0]
    hub.stop_server(user)
    home_volume = f"{PREFIX}-{docker_escape(user)}---home"
    assert home_volume in volume_names(docker)
    with logged_in(browser, hub, "admin", "maintenance") as page:
        page.wait_for_function("window._maintenance_ready === true")
        stopped = row(page, user)
        expect(stopped.locator(".maintenance-state")).to_have_text("stopped")
        expect(stopped.locator(".maintenance-restart-btn")).to_have_count(0)
        expect(stopped.locator("input.maintenance-select")).to_be_disabled()

        # Logs of a running server.
        row(page, users[1]).locator(".maintenance-logs-btn").click()
        expect(page.locator("#server-logs-modal")).to_be_visible()
        expect(page.locator("#server-logs-summary")).to_contain_text("The container is running", timeout=30_000)
        expect(page.locator("#server-logs-modal-label")).to_contain_text(users[1])
        shot(page, "05-logs")
        page.locator("#server-logs-modal .btn-close").click()
        expect(page.locator("#server-logs-modal")).to_be_hidden()

        # Volume sizes on request.
        stopped.locator(".maintenance-sizes-btn").click()
        expect(stopped.locator(".maintenance-sizes")).to_contain_text("home ", timeout=30_000)
        expect(stopped.locator(".maintenance-sizes")).to_contain_text("work ")

        # Reset: the home page's dialog, confirmed by typing the user's name.
        stopped.locator(".maintenance-reset-btn").click()
        expect(page.locator("#reset-volume-modal")).to_be_visible()
        expect(page.locator("#reset-volume-name")).to_have_text(home_volume)
        confirm = page.locator("#confirm-reset-btn")
        expect(confirm).to_be_disabled()
        page.fill("#reset-volume-confirm-input", "someone-else")
        expect(confirm).to_be_disabled()
        page.fill("#reset-volume-confirm-input", user)
        expect(confirm).to_be_enabled()
        shot(page, "06-reset-dialog")
        confirm.click()
        expect(stopped.locator(".maintenance-row-status")).to_contain_text("Deleted", timeout=SLOW)
        expect(stopped.locator(".maintenance-last-reset")).to_contain_text("done, just now, by admin")
        expect(stopped.locator(".maintenance-backups")).to_contain_text("1")

        # Backups: the one the reset made, with Restore.
        stopped.locator(".maintenance-backups-btn").click()
        expect(page.locator("#server-backups-modal")).to_be_visible()
        expect(page.locator("#server-backups-list .resettable-backup")).to_have_count(1, timeout=30_000)
        expect(page.locator("#server-backups-list .restore-backup-btn")).to_be_enabled()
        shot(page, "07-backups")
    assert home_volume not in volume_names(docker)


def test_non_admins_get_403_and_no_link(hub, browser):
    user = f"plain-{uuid.uuid4().hex[:6]}"
    with logged_in(browser, hub, user, "home") as page:
        expect(page.locator("#maintenance-nav-link")).to_have_count(0)
        response = page.goto(f"{hub.url}/hub/maintenance")
        assert response.status == 403
        expect(page.locator("#maintenance-table")).to_have_count(0)
        shot(page, "08-forbidden")
    # Without login: to the login page.
    r = httpx.get(f"{hub.url}/hub/maintenance", follow_redirects=False)
    assert r.status_code == 302 and "/hub/login" in r.headers["location"]
