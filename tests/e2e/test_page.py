"""The home page in Debian's Chromium, driven by Playwright, against a real hub and engine.

Screenshots of each state go to artifacts/screenshots/.
"""

import re
from contextlib import contextmanager

import pytest
from playwright.sync_api import expect

from tests.support.browser import SCREENSHOTS, SLOW
from tests.support.dockerutil import container_of, docker_escape, volume_file, volume_names, write_file
from tests.support.hubproc import PREFIX, running_hub


def vol(user, kind, server=""):
    return f"{PREFIX}-{docker_escape(user)}--{docker_escape(server)}-{kind}"


@pytest.fixture(scope="module")
def hub(versioned_hub):
    """The page on every JupyterHub major under test."""
    return versioned_hub


@contextmanager
def logged_in(browser, hub, username, height=800):
    """A browser page logged in as a new user, on the hub's home page."""
    hub.create_user(username)
    context = browser.new_context(viewport={"width": 1100, "height": height})
    page = context.new_page()
    page.goto(f"{hub.url}/hub/login?next=%2Fhub%2Fhome")
    page.fill("#username_input", username)
    page.fill("#password_input", hub.password)
    page.click("#login_submit")
    page.wait_for_url("**/hub/home")
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def page(browser, hub, username):
    with logged_in(browser, hub, username) as page:
        yield page


def choice(page, volume):
    return page.locator(f'input.reset-volume-choice[value="{volume}"]')


def home(page, hub):
    page.goto(f"{hub.url}/hub/home")
    page.wait_for_function("window._resettable_ready === true")


def shot(page, hub, name):
    page.screenshot(path=str(SCREENSHOTS / f"{hub.name}-{name}.png"))


def test_restart_through_the_dialog(hub, docker, page, username):
    hub.start_server(username)
    c = container_of(docker, hub, username)
    write_file(c, "/home/jovyan/marker", "kept")
    home(page, hub)
    expect(page.locator("#restart-server-btn")).to_be_visible()
    expect(page.locator("#reset-home-volume-btn")).to_be_hidden()
    shot(page, hub, "01-running")

    page.click("#restart-server-btn")
    modal = page.locator("#restart-server-modal")
    expect(modal).to_be_visible()
    expect(modal).to_contain_text("running kernels")
    expect(page.locator("#confirm-restart-btn")).to_be_focused()
    shot(page, hub, "02-restart-dialog")

    page.click("#confirm-restart-btn")
    expect(page.locator("#restart-server-btn")).to_have_text("Restarting…")
    expect(modal).to_be_hidden()
    expect(page.locator(".resettable-goto").first).to_be_visible(timeout=SLOW)
    expect(page.locator(".resettable-status").first).to_contain_text("Restarted your server")
    shot(page, hub, "03-restarted")

    c.reload()
    assert c.status == "running"
    assert container_of(docker, hub, username).id == c.id
    assert hub.route_status(username) == 200
    assert c.exec_run(["cat", "/home/jovyan/marker"]).output.decode() == "kept"
    expect(page.locator("#restart-server-btn")).to_be_visible()
    hub.stop_server(username)


def test_stock_stop_then_reset_then_stock_start(hub, docker, image, page, username):
    hub.start_server(username)
    c = container_of(docker, hub, username)
    write_file(c, "/home/jovyan/marker", "old home")
    write_file(c, "/home/jovyan/work/marker", "work")
    home(page, hub)
    expect(page.locator("#restart-server-btn")).to_be_visible()

    # The stock Stop button: ours follow without a reload.
    page.click("#stop")
    expect(page.locator("#restart-server-btn")).to_be_hidden()
    expect(page.locator("#reset-home-volume-btn")).to_be_visible(timeout=SLOW)
    assert hub.server_model(username) is None
    shot(page, hub, "04-stopped")

    page.click("#reset-home-volume-btn")
    expect(page.locator("#reset-volume-modal")).to_be_visible()
    expect(page.locator("#reset-volume-name")).to_have_text(vol(username, "home"))
    # Home is ticked; the other volumes are offered but not ticked.
    expect(choice(page, vol(username, "home"))).to_be_checked()
    expect(choice(page, vol(username, "workspace"))).not_to_be_checked()
    expect(page.locator("#reset-volume-confirm-input")).to_be_focused()
    confirm = page.locator("#confirm-reset-btn")
    expect(confirm).to_be_disabled()
    page.fill("#reset-volume-confirm-input", "not-the-name")
    expect(confirm).to_be_disabled()
    page.fill("#reset-volume-confirm-input", vol(username, "home"))
    expect(confirm).to_be_enabled()
    shot(page, hub, "05-reset-dialog")

    confirm.click()
    expect(page.locator(".resettable-status").first).to_contain_text(
        f"Deleted {vol(username, 'home')}", timeout=SLOW
    )
    expect(page.locator("#reset-volume-modal")).to_be_hidden()
    shot(page, hub, "06-reset-done")
    assert vol(username, "home") not in volume_names(docker)
    assert volume_file(docker, image, vol(username, "workspace"), "marker") == "work"
    # The backup is listed; the workspace can still be reset, so the button stays.
    expect(page.locator("#home-volume-backups .resettable-backup")).to_have_count(1, timeout=SLOW)
    expect(page.locator("#home-volume-backups")).to_contain_text(vol(username, "home"))

    # The stock Start button still works and gives a fresh home.
    page.click("#start")
    hub.wait_for(lambda: (hub.server_model(username) or {}).get("ready"), 90)
    c = container_of(docker, hub, username)
    assert c.exec_run(["test", "-e", "/home/jovyan/marker"]).exit_code == 1
    assert c.exec_run(["cat", "/home/jovyan/work/marker"]).output.decode() == "work"
    hub.stop_server(username)


def test_reset_error_is_shown_in_the_page(hub, docker, page, username):
    hub.start_server(username)
    hub.stop_server(username)
    home(page, hub)
    page.click("#reset-home-volume-btn")
    page.fill("#reset-volume-confirm-input", username)  # the user name confirms too
    expect(page.locator("#confirm-reset-btn")).to_be_enabled()

    # Once the dialog's size measurement is done, the volume disappears behind the page's back.
    size = page.locator(f'.reset-volume-size[data-volume="{vol(username, "home")}"]')
    expect(size).not_to_have_text("measuring…", timeout=SLOW)
    docker.containers.get(f"{PREFIX}-{docker_escape(username)}--").remove()
    docker.volumes.get(vol(username, "home")).remove()

    page.click("#confirm-reset-btn")
    status = page.locator(".resettable-status").first
    expect(status).to_contain_text(f"Reset failed: The home volume {vol(username, 'home')} does not exist.")
    expect(status).to_have_class("resettable-status alert mb-2 alert-danger")
    expect(page.locator("#reset-volume-modal")).to_be_hidden()
    shot(page, hub, "07-reset-error")


def test_named_server_row(hub, docker, page, username):
    hub.start_server(username, "lab")
    c = container_of(docker, hub, username, "lab")
    home(page, hub)
    row = page.locator('.home-server-row[data-server-name="lab"]')
    expect(row.locator(".restart-named-server")).to_be_visible()
    expect(row.locator(".reset-named-home-volume")).to_be_hidden()

    row.locator(".restart-named-server").click()
    expect(page.locator("#restart-server-modal")).to_contain_text('server "lab"')
    page.click("#confirm-restart-btn")
    expect(row.locator(".resettable-status")).to_contain_text('Restarted server "lab"', timeout=SLOW)
    assert container_of(docker, hub, username, "lab").id == c.id
    assert hub.route_status(username, "lab") == 200
    shot(page, hub, "08-named-restarted")

    # The stock row Stop button; then reset from the row.
    row.locator(".stop-server").click()
    expect(row.locator(".reset-named-home-volume")).to_be_visible(timeout=SLOW)
    row.locator(".reset-named-home-volume").click()
    expect(page.locator("#reset-volume-name")).to_have_text(vol(username, "home", "lab"))
    page.fill("#reset-volume-confirm-input", vol(username, "home", "lab"))
    page.keyboard.press("Enter")
    expect(row.locator(".resettable-status")).to_contain_text("Deleted", timeout=SLOW)
    assert vol(username, "home", "lab") not in volume_names(docker)


def test_escape_closes_the_dialog(hub, page, username):
    hub.start_server(username)
    home(page, hub)
    page.click("#restart-server-btn")
    expect(page.locator("#restart-server-modal")).to_be_visible()
    expect(page.locator("#confirm-restart-btn")).to_be_focused()  # shown, focus inside
    page.keyboard.press("Escape")
    expect(page.locator("#restart-server-modal")).to_be_hidden()
    expect(page.locator("#restart-server-btn")).to_be_focused()
    hub.stop_server(username)


# --- Safe reset: choose volumes, see sizes, restore a backup (wave 2) ---------------------


@pytest.fixture(scope="module")
def shared_hub(tmp_path_factory, docker, image):
    """JupyterHub 6 with a shared volume in every server (the page is the same on 5)."""
    with running_hub(tmp_path_factory, docker, image, "page-shared-hub", shared_volume=1) as h:
        yield h


@pytest.fixture
def shared_page(browser, shared_hub, username):
    with logged_in(browser, shared_hub, username, height=900) as page:
        yield page


def test_reset_two_volumes_then_restore_from_the_list(shared_hub, docker, image, shared_page, username):
    hub, page = shared_hub, shared_page
    hub.start_server(username)
    c = container_of(docker, hub, username)
    write_file(c, "/home/jovyan/marker", "precious")
    write_file(c, "/home/jovyan/.cache/marker", "cached")
    write_file(c, "/home/jovyan/work/marker", "work")
    hub.stop_server(username)
    home(page, hub)

    page.click("#reset-home-volume-btn")
    modal = page.locator("#reset-volume-modal")
    expect(modal).to_be_visible()
    expect(page.locator("input.reset-volume-choice")).to_have_count(4)
    expect(choice(page, vol(username, "home"))).to_be_checked()
    shared = choice(page, f"{PREFIX}-shared-data")
    expect(shared).to_be_disabled()
    expect(shared).not_to_be_checked()
    expect(modal).to_contain_text("shared, never reset")
    expect(modal).to_contain_text("kept until")
    # Sizes arrive after the dialog opens, in human units.
    home_size = page.locator(f'.reset-volume-size[data-volume="{vol(username, "home")}"]')
    expect(home_size).to_have_text(re.compile(r"^[0-9.]+ (bytes|KiB|MiB)$"), timeout=SLOW)

    choice(page, vol(username, "cache")).check()
    page.fill("#reset-volume-confirm-input", username)
    shot(page, hub, "09-reset-two-volumes")
    page.click("#confirm-reset-btn")
    status = page.locator(".resettable-status").first
    expect(status).to_contain_text("Deleted", timeout=SLOW)
    expect(status).to_contain_text("Backups are kept until")
    names = volume_names(docker)
    assert vol(username, "home") not in names and vol(username, "cache") not in names
    assert volume_file(docker, image, vol(username, "workspace"), "marker") == "work"

    backups = page.locator("#home-volume-backups .resettable-backup")
    expect(backups).to_have_count(2, timeout=SLOW)
    expect(page.locator("#home-volume-backups")).to_contain_text("kept until")
    expect(page.locator("#home-volume-backups")).to_contain_text(re.compile(r"[0-9.]+ (bytes|KiB|MiB)"))
    shot(page, hub, "10-backups-listed")

    row = backups.filter(has=page.locator("code", has_text=re.compile(f"^{re.escape(vol(username, 'home'))}$")))
    row.locator(".restore-backup-btn").click()
    restore_modal = page.locator("#restore-backup-modal")
    expect(restore_modal).to_be_visible()
    expect(page.locator("#restore-backup-volume")).to_have_text(vol(username, "home"))
    shot(page, hub, "11-restore-dialog")
    page.click("#confirm-restore-btn")
    expect(status).to_contain_text("Restored " + vol(username, "home"), timeout=SLOW)
    assert volume_file(docker, image, vol(username, "home"), "marker") == "precious"

    # Delete the cache's backup from the list.
    cache_row = backups.filter(has=page.locator("code", has_text=re.compile(f"^{re.escape(vol(username, 'cache'))}$")))
    cache_row.locator(".delete-backup-btn").click()
    expect(page.locator("#delete-backup-modal")).to_be_visible()
    page.click("#confirm-delete-backup-btn")
    expect(status).to_contain_text("Deleted the backup", timeout=SLOW)
    # The home backup was consumed by its restore (a move), the cache's deleted: none left.
    expect(backups).to_have_count(0, timeout=SLOW)

    # The started server finds the file back.
    page.click("#start")
    hub.wait_for(lambda: (hub.server_model(username) or {}).get("ready"), 90)
    c = container_of(docker, hub, username)
    assert c.exec_run(["cat", "/home/jovyan/marker"], user="jovyan").output.decode() == "precious"
    assert c.exec_run(["test", "-e", "/home/jovyan/.cache/marker"]).exit_code == 1
    hub.stop_server(username)


def test_restore_error_is_shown_in_the_page(shared_hub, docker, image, shared_page, username):
    hub, page = shared_hub, shared_page
    home_volume = vol(username, "home")
    hub.start_server(username)
    hub.stop_server(username)
    r = hub.api("DELETE", f"/users/{username}/reset-home-volume")
    assert r.status_code == 200, r.text
    backup_id = r.json()["backups"][0]["id"]
    home(page, hub)
    btn = page.locator(f'.restore-backup-btn[data-backup-id="{backup_id}"]')
    expect(btn).to_be_enabled()
    btn.click()
    # The backup disappears behind the page's back.
    docker.volumes.get(backup_id).remove()
    page.click("#confirm-restore-btn")
    status = page.locator(".resettable-status").first
    expect(status).to_contain_text("Restore failed: No such backup for this server.", timeout=SLOW)
    assert home_volume not in volume_names(docker)
