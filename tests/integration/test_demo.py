"""`make demo`: starts, answers, restarts a server for the printed token, stops on Ctrl-C."""

import os
import re
import signal
import subprocess
import time

import httpx
import pytest

from tests.support import ROOT
from tests.support.hubproc import PREFIX, HubClient, free_port


def test_make_demo(docker, image, tmp_path):
    port = free_port()
    env = dict(
        os.environ,
        DEMO_PORT=str(port),
        DEMO_HUB_PORT=str(free_port()),
        DEMO_PREFIX=f"{PREFIX}-demo",
        DEMO_NETWORK=f"{PREFIX}-demo-net",
        DEMO_DATA_DIR=str(tmp_path),
        SINGLEUSER_IMAGE=image,  # what `make image` printed for this run
    )
    demo = subprocess.Popen(
        ["make", "-s", "demo", f"SINGLEUSER_IMAGE={image}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # a process group, to send Ctrl-C to make and its children
    )
    output = []
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            line = demo.stdout.readline()
            if not line:
                break
            output.append(line)
            if line.startswith("Ctrl-C stops the demo"):
                break
        text = "".join(output)
        assert f"Demo hub is up: http://127.0.0.1:{port}" in text, text
        password = re.search(r"and the password: (\S+)", text).group(1)
        token = re.search(r"token ([0-9a-f]{32})", text).group(1)

        # The printed login works, and so does the printed token.
        login = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        page = login.get("/hub/login").text
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page).group(1)
        r = login.post("/hub/login?next=%2Fhub%2Fhome", data={"username": "alice", "password": password, "_xsrf": xsrf})
        assert r.status_code == 302 and r.headers["location"].endswith("/hub/home"), r.text

        hub = HubClient(f"http://127.0.0.1:{port}", token)
        hub.start_server("alice")
        r = hub.api("POST", "/users/alice/restart-server")
        assert r.status_code == 200, r.text
        assert hub.route_status("alice") == 200
    finally:
        os.killpg(demo.pid, signal.SIGINT)
        rest, _ = demo.communicate(timeout=60)
        states = {c.name: c.status for c in docker.containers.list(all=True, filters={"name": f"{PREFIX}-demo"})}
        for c in docker.containers.list(all=True, filters={"name": f"{PREFIX}-demo"}):
            c.remove(force=True)
        for v in docker.volumes.list(filters={"name": f"{PREFIX}-demo"}):
            v.remove(force=True)
        for n in docker.networks.list(names=[f"{PREFIX}-demo-net"]):
            n.remove()
    assert "demo: hub stopped (exit code 0)" in rest, rest
    # A clean shutdown: the hub stopped alice's server, and nothing listens any more.
    assert states == {f"{PREFIX}-demo-alice": "exited"}
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/hub/api/", timeout=5)
