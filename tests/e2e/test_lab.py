"""The JupyterLab extension (labextension/) in Debian's Chromium, against a real hub,
proxy and engine, with the extension installed in the test image.

Runs on one JupyterHub version (this venv's), to keep `make test` short. Screenshots
go to artifacts/screenshots/lab-*.png.
"""

import json
import os
import subprocess
import uuid
from contextlib import contextmanager
from urllib.parse import quote as urlquote

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from tests.support import ROOT
from tests.support.browser import SCREENSHOTS, SLOW
from tests.support.dockerutil import container_of, read_file, write_file
from tests.support.hubproc import EXAMPLE_PREFIX, quote, running_hub

COMMAND_LABEL = "Restart Server in Place"
# The dialogs JupyterLab or JupyterHub's lab extension show when the server goes away.
CONNECTION_ERRORS = ("Server Connection Error", "Server unavailable or unreachable")

# Records every JupyterLab dialog title and every notification, from the first page
# load on, so a dialog that came and went is still seen.
RECORDER = """
window.__rsDialogs = [];
window.__rsNotes = [];
new MutationObserver(() => {
  for (const h of document.querySelectorAll('.jp-Dialog-header')) {
    if (!h.dataset.rsSeen) { h.dataset.rsSeen = '1'; window.__rsDialogs.push(h.textContent.trim()); }
  }
  for (const n of document.querySelectorAll('.Toastify__toast')) {
    const t = n.textContent.trim();
    if (n.dataset.rsSeen !== t) { n.dataset.rsSeen = t; window.__rsNotes.push(t); }
  }
}).observe(document, {childList: true, subtree: true});
"""


@pytest.fixture(scope="module")
def lab_image(docker, image):
    """The test image, which must have the extension: the local build always does."""
    out = docker.containers.run(
        image, ["sh", "-c", "jupyter labextension list 2>&1"], entrypoint=[], remove=True
    ).decode()
    if "resettable-spawner-labextension" not in out:
        if image.startswith("resettable-spawner/"):
            pytest.fail(f"{image} lacks resettable-spawner-labextension:\n{out}")
        pytest.skip(f"{image} (not the local build) has no resettable-spawner-labextension")
    return image


@pytest.fixture(scope="module")
def hub(tmp_path_factory, docker, lab_image):
    """A hub with the README's lab setup (tests/support/hub_config.py, RS_LAB_SCOPES=1)."""
    with running_hub(tmp_path_factory, docker, lab_image, "labhub", lab_scopes=1) as h:
        yield h


def started_at(container):
    container.reload()
    return container.attrs["State"]["StartedAt"]


def lab_path(user, server=""):
    return f"/user/{quote(user)}/{quote(server) + '/' if server else ''}lab"


@contextmanager
def open_lab(browser, hub, user, server=""):  # noqa: F811
    """Logs in through the hub's form and opens the user's JupyterLab (OAuth and all)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_init_script(RECORDER)
    page = context.new_page()
    page.goto(f"{hub.url}/hub/login?next={urlquote(lab_path(user, server), safe='')}")
    page.fill("#username_input", user)
    page.fill("#password_input", hub.password)
    page.click("#login_submit")
    page.wait_for_url(f"**{lab_path(user, server)}**", timeout=SLOW)
    expect(page.locator(".jp-DirListing-content")).to_be_visible(timeout=SLOW)
    page.console_lines = []
    page.on("console", lambda m: page.console_lines.append(m.text))
    # JupyterLab asks about its news feed on a first visit; answer, to keep screenshots clean.
    news = page.locator(".Toastify__toast", has_text="Jupyter news")
    try:
        news.get_by_role("button", name="No", exact=True).click(timeout=5_000)
    except PlaywrightTimeout:
        pass
    try:
        yield page
    finally:
        context.close()


def run_from_palette(page):
    page.keyboard.press("Control+Shift+C")
    palette = page.locator(".lm-CommandPalette-input")
    expect(palette).to_be_visible()
    palette.fill(COMMAND_LABEL)
    item = page.locator(".lm-CommandPalette-item", has_text=COMMAND_LABEL)
    expect(item).to_have_count(1)
    expect(item).to_have_attribute("data-command", "resettable-spawner:restart-server")
    item.click()


def page_token(page):
    return page.evaluate(
        "() => JSON.parse(document.getElementById('jupyter-config-data').textContent).token"
    )


def dialogs(page):
    return page.evaluate("() => window.__rsDialogs")


def shot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"lab-{name}.png"))


def restart_in_lab_and_check(hub, docker, page, user, server=""):
    """Runs the command and confirms; asserts the same container restarted and the lab carried on."""
    c = container_of(docker, hub, user, server)
    before = started_at(c)
    # Written behind the lab's back: the file browser shows it only if it talks to the
    # server again after the restart.
    write_file(c, "/home/jovyan/before-restart.txt", "kept")
    url = page.url

    run_from_palette(page)
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Kept:")
    expect(dialog).to_contain_text("Lost:")
    expect(dialog).to_contain_text("running kernels")
    if server:
        expect(dialog.locator(".jp-Dialog-header")).to_contain_text(f'server "{server}"')
    accept = dialog.locator("button.jp-mod-accept")
    expect(accept).to_have_text("Restart")
    shot(page, f"dialog{'-' + server if server else ''}")

    accept.click()
    expect(dialog).to_be_hidden()
    label = f'server "{server}"' if server else "your server"
    expect(page.get_by_text(f"Restarted {label} in")).to_be_visible(timeout=SLOW)
    shot(page, f"restarted{'-' + server if server else ''}")

    after = container_of(docker, hub, user, server)
    assert after.id == c.id
    assert after.status == "running"
    assert started_at(after) != before
    assert read_file(after, "/home/jovyan/before-restart.txt") == "kept"
    assert hub.route_status(user, server) == 200

    # The file browser works against the restarted server, in the same tab.
    expect(page.locator(".jp-DirListing-item", has_text="before-restart.txt")).to_be_visible(
        timeout=30_000
    )
    assert page.url == url
    assert page.context.pages == [page]  # no new tab
    seen = dialogs(page)
    assert not [d for d in seen if any(e in d for e in CONNECTION_ERRORS)], seen
    notes = page.evaluate("() => window.__rsNotes")
    assert any(f"Restarting {label} in place" in n for n in notes), notes
    ignored = [line for line in page.console_lines if "ignored" in line]
    print(f"connection failures the extension kept from JupyterLab during the restart: {len(ignored)}")


NOTEBOOK = json.dumps(
    {
        "cells": [{"cell_type": "code", "execution_count": None, "id": "c1", "metadata": {},
                   "outputs": [], "source": ""}],
        "metadata": {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                                    "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
)


def open_notebook(page, name="calc.ipynb"):
    page.locator(".jp-DirListing-item", has_text=name).dblclick()
    expect(page.locator(".jp-NotebookPanel")).to_be_visible(timeout=30_000)
    select = page.locator(".jp-Dialog", has_text="Select Kernel").locator("button.jp-mod-accept")
    try:
        select.click(timeout=15_000)  # JupyterLab asks which kernel; the notebook names one
    except PlaywrightTimeout:
        pass
    expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_be_visible(
        timeout=60_000
    )


def run_cell(page, code, expected):
    editor = page.locator(".jp-NotebookPanel:visible .jp-Cell .cm-content").last
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(code)
    page.keyboard.press("Control+Enter")
    try:
        expect(page.locator(".jp-NotebookPanel:visible .jp-OutputArea-output").last).to_have_text(
            expected, timeout=60_000
        )
    except AssertionError:
        shot(page, "run-cell-failed")
        print("\n".join(page.console_lines[-40:]))
        raise


def test_restart_default_server_from_the_palette(hub, docker, browser, username):  # noqa: F811
    hub.create_user(username)
    hub.start_server(username)
    c = container_of(docker, hub, username)
    write_file(c, "/home/jovyan/calc.ipynb", NOTEBOOK)
    with open_lab(browser, hub, username) as page:
        open_notebook(page)
        run_cell(page, "x = 6 * 7; print(x)", "42")
        page.keyboard.press("Control+S")
        restart_in_lab_and_check(hub, docker, page, username)
        expect(page.get_by_text("1 open notebook or console has a fresh kernel")).to_be_visible()

        # The open notebook carries on, on a fresh kernel of the same kind.
        expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_be_visible(
            timeout=60_000
        )
        run_cell(page, "print(globals().get('x', 'fresh kernel'))", "fresh kernel")
        shot(page, "notebook-after-restart")

        # And a notebook closed and opened again works too.
        page.locator(".lm-TabBar-tab", has_text="calc.ipynb").locator(".lm-TabBar-tabCloseIcon").click()
        unsaved = page.locator(".jp-Dialog", has_text="Save")
        try:
            unsaved.get_by_role("button", name="Save", exact=True).click(timeout=3_000)
        except PlaywrightTimeout:
            pass
        expect(page.locator(".jp-NotebookPanel")).to_have_count(0)
        open_notebook(page)
        run_cell(page, "print(6 * 7)", "42")
        shot(page, "notebook-reopened")
        token = page_token(page)

    # The lab's token may restart this server and do nothing else on the hub.
    path = f"/users/{quote(username)}"
    assert hub.api("DELETE", path + "/reset-home-volume", token=token).status_code == 403
    assert hub.api("DELETE", path + "/server", token=token).status_code == 403
    assert hub.api("POST", path + "/server", token=token).status_code == 403
    assert hub.api("POST", "/users/someone-else/restart-server", token=token).status_code in (403, 404)
    hub.stop_server(username)


def test_restart_named_server_from_the_palette(hub, docker, browser, username):  # noqa: F811
    hub.create_user(username)
    hub.start_server(username, "dev")
    with open_lab(browser, hub, username, "dev") as page:
        # The command is in the File menu too, next to the hub's own items.
        page.locator(".lm-MenuBar-itemLabel", has_text="File").click()
        menu = page.locator(".lm-Menu").first
        expect(menu.locator(".lm-Menu-item", has_text=COMMAND_LABEL)).to_be_visible()
        expect(menu.locator(".lm-Menu-item", has_text="Hub Control Panel")).to_be_visible()
        shot(page, "file-menu")
        page.keyboard.press("Escape")
        restart_in_lab_and_check(hub, docker, page, username, "dev")
    hub.stop_server(username, "dev")


def test_without_the_hub_setup_the_command_explains_and_nothing_restarts(
    tmp_path_factory, docker, lab_image, browser, username  # noqa: F811
):
    with running_hub(tmp_path_factory, docker, lab_image, "labplain") as plain:
        plain.create_user(username)
        plain.start_server(username)
        c = container_of(docker, plain, username)
        before = started_at(c)
        with open_lab(browser, plain, username) as page:
            run_from_palette(page)
            dialog = page.locator(".jp-Dialog")
            expect(dialog.locator(".jp-Dialog-header")).to_have_text(
                "Restart from JupyterLab is not set up"
            )
            expect(dialog).to_contain_text("restart scope")
            expect(dialog.locator("button.jp-mod-accept")).to_have_text("Open Hub Page")
            shot(page, "not-configured")
            # "Open Hub Page" opens the hub's home page, with its own Restart button.
            with page.context.expect_page() as opened:
                dialog.locator("button.jp-mod-accept").click()
            home = opened.value
            home.wait_for_load_state()
            assert home.url.startswith(f"{plain.url}/hub/home")
            expect(home.locator("#restart-server-btn")).to_be_visible(timeout=30_000)
            home.close()
            expect(dialog).to_be_hidden()
            token = page_token(page)
            assert "Restart your server in place?" not in dialogs(page)

        # The hub refuses the lab's token too, so nothing could have restarted.
        r = plain.api("POST", f"/users/{quote(username)}/restart-server", token=token)
        assert r.status_code == 403, r.text
        after = container_of(docker, plain, username)
        assert after.id == c.id and started_at(after) == before
        events = [json.loads(line) for line in (plain.workdir / "events.jsonl").read_text().splitlines()]
        assert not [e for e in events if e.get("action") == "restart" and e.get("outcome") == "done"]


def test_extension_logic_unit_tests():
    """labextension/tests: URL building and error mapping, with Node's test runner."""
    env = dict(os.environ, PATH=f"{ROOT / '.venv-labbuild' / 'bin'}{os.pathsep}{os.environ['PATH']}")
    subprocess.run(["make", "-s", "-C", str(ROOT), "labextension"], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    r = subprocess.run(["jlpm", "test"], cwd=ROOT / "labextension", env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "# fail 0" in r.stdout


def test_example_config_gives_the_lab_restart_and_nothing_more(example_hub, docker):  # noqa: F811
    """examples/jupyterhub_config.py ships the lab setup enabled: the user holds the
    restart-only scope, and each server's OAuth client may hand it to its lab."""
    hub = example_hub
    user = hub.create_user(f"u{uuid.uuid4().hex[:6]}")
    hub.start_server(user)
    c = docker.containers.get(f"{EXAMPLE_PREFIX}-{user}")
    env = dict(e.split("=", 1) for e in c.attrs["Config"]["Env"])
    assert json.loads(env["JUPYTERHUB_OAUTH_CLIENT_ALLOWED_SCOPES"]) == [
        "custom:resettable-spawner:restart!server"
    ]

    # A token with just that scope, as the lab's would have: the hub issues it only
    # because the user role grants the scope.
    r = hub.api(
        "POST",
        f"/users/{user}/tokens",
        json={"scopes": [f"custom:resettable-spawner:restart!server={user}/"], "note": "lab-like"},
    )
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    before = started_at(c)
    r = hub.api("POST", f"/users/{user}/restart-server", token=token)
    assert r.status_code == 200, r.text
    assert r.json()["container_id"] == c.id and started_at(c) != before
    assert hub.api("DELETE", f"/users/{user}/server", token=token).status_code == 403
    hub.stop_server(user)
    assert hub.api("DELETE", f"/users/{user}/reset-home-volume", token=token).status_code == 403
