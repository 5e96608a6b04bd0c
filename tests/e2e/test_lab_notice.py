"""The lab before a restart, in Debian's Chromium against a real hub, proxy and engine
(JupyterHub 6, the README's lab setup): an administrator's bulk restart with a notice
(the countdown, Save all, the restart when it runs out), and "Save open documents first"
on the user's own restart. Lab helpers and the image check come from test_lab.py.

Screenshots go to artifacts/screenshots/lab-notice-*.png.
"""

import re
import time

import pytest
from playwright.sync_api import expect

from tests.e2e.test_lab import (  # noqa: F401  (lab_image is a fixture)
    CONNECTION_ERRORS,
    NOTEBOOK,
    dialogs,
    lab_image,
    open_lab,
    open_notebook,
    page_token,
    run_from_palette,
    shot,
    started_at,
)
from tests.support.browser import SLOW
from tests.support.dockerutil import container_of, read_file, write_file
from tests.support.hubproc import quote, running_hub

NOTICE = 20
COUNTDOWN = re.compile(r"An administrator will restart this server in (\d+) s; save your work")


@pytest.fixture(scope="module")
def hub(tmp_path_factory, docker, lab_image):  # noqa: F811
    with running_hub(tmp_path_factory, docker, lab_image, "noticehub", lab_scopes=1) as h:
        yield h


def edit_without_saving(page, text):
    """Types into the open notebook's cell, without running or saving it."""
    editor = page.locator(".jp-NotebookPanel:visible .jp-Cell .cm-content").last
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(text)
    # JupyterLab marks the tab of a document with unsaved changes.
    expect(page.locator(".lm-TabBar-tab.jp-mod-dirty", has_text="calc.ipynb")).to_be_visible()


def countdown(toast):
    match = COUNTDOWN.search(toast.inner_text())
    assert match, toast.inner_text()
    return int(match.group(1))


def test_a_bulk_restart_with_notice_warns_the_lab(hub, docker, browser, username):
    hub.create_user(username)
    hub.start_server(username)
    c = container_of(docker, hub, username)
    write_file(c, "/home/jovyan/calc.ipynb", NOTEBOOK)
    with open_lab(browser, hub, username) as page:
        open_notebook(page)
        edit_without_saving(page, "saved_by = 'save all'")
        before = started_at(c)

        r = hub.api("POST", "/bulk-restart", json={"servers": [username], "notice_seconds": NOTICE})
        assert r.status_code == 202, r.text
        posted = time.monotonic()
        bulk_id = r.json()["id"]

        # The lab hears of it within its poll interval (10 s), and counts down.
        toast = page.locator(".Toastify__toast", has_text="An administrator will restart this server in")
        expect(toast).to_be_visible(timeout=15_000)
        first = countdown(toast)
        assert 0 < first <= NOTICE
        shot(page, "notice-countdown")
        page.wait_for_timeout(2_000)
        assert countdown(toast) < first

        # Save all writes the edited notebook now, and the countdown goes on.
        toast.get_by_role("button", name="Save all").click()
        expect(toast).to_contain_text("Saved 1 document.")
        expect(page.locator(".lm-TabBar-tab.jp-mod-dirty", has_text="calc.ipynb")).to_have_count(0)
        assert "save all" in read_file(c, "/home/jovyan/calc.ipynb")
        assert started_at(c) == before  # not before the notice runs out
        shot(page, "notice-saved")

        # The restart starts when the notice runs out; the lab carries on afterwards.
        done = page.locator(".Toastify__toast", has_text="An administrator restarted this server")
        expect(done).to_be_visible(timeout=NOTICE * 1000 + SLOW)
        shot(page, "notice-restarted")
        body = hub.api("GET", f"/bulk-restart/{bulk_id}").json()
        assert body["servers"][0]["state"] == "done", body
        assert time.monotonic() - posted >= NOTICE
        seen = dialogs(page)
        assert not [d for d in seen if any(e in d for e in CONNECTION_ERRORS)], seen

    after = container_of(docker, hub, username)
    assert after.id == c.id and after.status == "running"
    assert started_at(after) != before
    assert "save all" in read_file(after, "/home/jovyan/calc.ipynb")
    hub.stop_server(username)


def test_save_open_documents_first_on_the_users_own_restart(hub, docker, browser, username):
    hub.create_user(username)
    hub.start_server(username)
    c = container_of(docker, hub, username)
    write_file(c, "/home/jovyan/calc.ipynb", NOTEBOOK)
    before = started_at(c)
    with open_lab(browser, hub, username) as page:
        open_notebook(page)
        edit_without_saving(page, "saved_by = 'save first'")
        assert "save first" not in read_file(c, "/home/jovyan/calc.ipynb")

        run_from_palette(page)
        dialog = page.locator(".jp-Dialog")
        save_first = dialog.get_by_label("Save open documents first")
        expect(save_first).to_be_checked()  # ticked by default
        shot(page, "notice-save-first-dialog")
        dialog.locator("button.jp-mod-accept").click()
        expect(page.get_by_text("Restarted your server in")).to_be_visible(timeout=SLOW)

        # Saved before the restart, and unchanged on disk afterwards.
        after = container_of(docker, hub, username)
        assert after.id == c.id and started_at(after) != before
        saved = read_file(after, "/home/jovyan/calc.ipynb")
        assert "save first" in saved
        expect(page.locator(".lm-TabBar-tab.jp-mod-dirty", has_text="calc.ipynb")).to_have_count(0)
        page.wait_for_timeout(3_000)
        assert read_file(after, "/home/jovyan/calc.ipynb") == saved
        token = page_token(page)

    # The lab's token reads its server's notice, and still cannot stop, start or reset anything.
    path = f"/users/{quote(username)}"
    assert hub.api("GET", path + "/restart-notice", token=token).status_code == 200
    assert hub.api("DELETE", path + "/server", token=token).status_code == 403
    assert hub.api("POST", path + "/server", token=token).status_code == 403
    assert hub.api("DELETE", path + "/reset-home-volume", token=token).status_code == 403
    assert hub.api("GET", "/maintenance/servers", token=token).status_code == 403
    r = hub.api("POST", "/bulk-restart", token=token, json={"servers": ["someone-else"]})
    assert r.status_code == 202 and r.json()["servers"][0]["state"] == "forbidden"
    assert hub.server_model(username)["ready"]
    hub.stop_server(username)
