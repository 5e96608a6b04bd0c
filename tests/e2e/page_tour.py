"""Every state of the home page, as a user sees it, one screenshot each: <state>-<suffix>.png.

Used by tests/e2e/test_page_logs.py (into artifacts/screenshots/), and to make the
before-and-after pictures in docs/screenshots/:

    RS_TEST_PREFIX=rstour RS_TEST_IMAGE=$(make -s image) .venv/bin/python -m tests.e2e.page_tour \\
        --out docs/screenshots --suffix after [--code-root <a checkout of the code before>]

With --code-root DIR (holding only an older resettable_spawner/ and templates/, e.g. from
`git archive`), the hub runs that package and page, with today's test config.
"""

import argparse
import tempfile
import uuid
from pathlib import Path

from playwright.sync_api import expect

from tests.e2e.test_page import logged_in
from tests.support.browser import SLOW

STATES = [
    "running",
    "restarting",
    "stopped-after-restart",
    "reset-dialog",
    "pending",
    "failed",
    "no-volume",
    "named-server",
]


def home(page, hub):
    page.goto(f"{hub.url}/hub/home")
    page.wait_for_function("window._resettable_ready === true")


def tour(browser, hub, out_dir, suffix, new_page=True):
    """Drive each state and take its picture; returns {state: path}. ``new_page``: the page
    has this issue's parts (the logs, the history), so wait for them too."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    shots = {}

    def shot(page, state, full_page=False):
        path = out_dir / f"{state}-{suffix}.png"
        page.screenshot(path=str(path), full_page=full_page)
        shots[state] = path

    tag = uuid.uuid4().hex[:6]
    user = f"leaky-tour-{tag}"
    hub.create_user(user)
    hub.start_server(user)
    with logged_in(browser, hub, user, height=700) as page:
        home(page, hub)
        expect(page.locator("#restart-server-btn")).to_be_visible()
        shot(page, "running")

        page.click("#restart-server-btn")
        page.click("#confirm-restart-btn")
        expect(page.locator("#restart-server-btn")).to_have_text("Restarting…")
        page.wait_for_timeout(400)  # the dialog's fade
        shot(page, "restarting")
        expect(page.locator(".resettable-status").first).to_contain_text("Restarted your server", timeout=SLOW)

        # The hub's own Stop, after our restart: the line about the restart must not stay.
        page.click("#stop")
        expect(page.locator("#reset-home-volume-btn")).to_be_visible(timeout=SLOW)
        if new_page:
            expect(page.locator("#maintenance-history .resettable-history-entry")).to_have_count(1, timeout=SLOW)
        page.wait_for_timeout(500)
        shot(page, "stopped-after-restart", full_page=True)

        page.click("#reset-home-volume-btn")
        expect(page.locator("#reset-volume-modal")).to_be_visible()
        page.wait_for_timeout(600)  # sizes arrive, the fade ends
        shot(page, "reset-dialog")
        page.keyboard.press("Escape")
        expect(page.locator("#reset-volume-modal")).to_be_hidden()

        if new_page:
            page.click("#server-logs-btn")
            expect(page.locator("#server-logs-output")).to_contain_text("api token: [secret]", timeout=SLOW)
            page.wait_for_timeout(400)
            shot(page, "logs-dialog")
            page.keyboard.press("Escape")

        # A named server beside the stopped default one.
        hub.start_server(user, "lab")
        home(page, hub)
        expect(page.locator('.home-server-row[data-server-name="lab"] .restart-named-server')).to_be_visible()
        shot(page, "named-server", full_page=True)
        hub.stop_server(user, "lab")

    failing = f"failing-tour-{tag}"
    hub.create_user(failing)
    with logged_in(browser, hub, failing, height=700) as page:
        r = hub.api("POST", f"/users/{failing}/server")
        assert r.status_code in (201, 202, 500), r.text  # 500: JupyterHub's own, the server died starting
        home(page, hub)
        shot(page, "pending")
        hub.wait_for(lambda: hub.server_model(failing) is None, 90)
        home(page, hub)
        if new_page:
            expect(page.locator(".resettable-last-line").first).to_be_visible(timeout=SLOW)
        else:
            page.wait_for_timeout(1500)
        shot(page, "failed")

    fresh = f"fresh-tour-{tag}"
    with logged_in(browser, hub, fresh, height=700) as page:
        home(page, hub)
        page.wait_for_timeout(500)
        shot(page, "no-volume")
    return shots


def main():
    import sys

    from playwright.sync_api import sync_playwright

    from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
    from tests.support.hubproc import HubProcess, cleanup_docker, docker_client

    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--suffix", required=True)
    parser.add_argument("--code-root")
    args = parser.parse_args()
    import os

    image = os.environ["RS_TEST_IMAGE"]
    docker = docker_client()
    hub = HubProcess(tempfile.mkdtemp(prefix="rs-tour-"), image, name="tour", http_timeout=20)
    if args.code_root:
        hub.env["PYTHONPATH"] = os.pathsep.join([args.code_root, hub.env["PYTHONPATH"]])
    hub.start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                shots = tour(browser, hub, args.out, args.suffix, new_page=not args.code_root)
            finally:
                browser.close()
        print("\n".join(str(s) for s in shots.values()), file=sys.stderr)
    finally:
        hub.stop()
        cleanup_docker(docker)


if __name__ == "__main__":
    main()
