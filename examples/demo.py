"""`make demo`: a hub on 127.0.0.1 with resettable-spawner, in the foreground.

Ctrl-C (or `make demo-stop`) shuts it down cleanly: JupyterHub stops the user
containers; their volumes stay, so a second run finds the same homes.
"""

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import docker

HERE = Path(__file__).parent
ROOT = HERE.parent
PORT = int(os.environ.get("DEMO_PORT", "8000"))
HUB_PORT = int(os.environ.get("DEMO_HUB_PORT", "8081"))
NETWORK = os.environ.get("DEMO_NETWORK", "rsdemo-net")
PREFIX = os.environ.get("DEMO_PREFIX", "rsdemo")
DATA = Path(os.environ.get("DEMO_DATA_DIR", ROOT / "demo"))


def ensure_network(client):
    try:
        net = client.networks.get(NETWORK)
    except docker.errors.NotFound:
        net = client.networks.create(NETWORK, driver="bridge")
        net.reload()
    return net.attrs["IPAM"]["Config"][0]["Gateway"]


def wait_until_up(url, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"demo: the hub exited early; see {DATA / 'jupyterhub.log'}")
        try:
            with urllib.request.urlopen(url + "/hub/api/", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    sys.exit(f"demo: the hub did not answer within {timeout}s; see {DATA / 'jupyterhub.log'}")


def main():
    image = os.environ["SINGLEUSER_IMAGE"]
    DATA.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(9)
    token = secrets.token_hex(16)
    url = f"http://127.0.0.1:{PORT}"
    env = dict(
        os.environ,
        SINGLEUSER_IMAGE=image,
        DOCKER_NETWORK_NAME=NETWORK,
        # The hub runs on this machine: containers reach it at the network's gateway.
        HUB_CONNECT_IP=ensure_network(docker.from_env()),
        JUPYTERHUB_BIND_URL=url,
        JUPYTERHUB_HUB_PORT=str(HUB_PORT),
        JUPYTERHUB_DATA_DIR=str(DATA),
        JUPYTERHUB_CONTAINER_PREFIX=PREFIX,
        RESETTABLE_OPS_TOKEN=token,
        DEMO_PASSWORD=password,
    )
    log = open(DATA / "jupyterhub.log", "ab")
    hub = subprocess.Popen(
        [sys.executable, "-m", "jupyterhub", "-f", str(HERE / "demo_config.py")],
        cwd=DATA,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def shutdown(signum, frame):
        print("\ndemo: stopping the hub and the user containers…", flush=True)
        hub.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, shutdown)
    signal.signal(signal.SIGTERM, shutdown)
    wait_until_up(url, hub)

    api = f"{url}/hub/api/users/alice"
    auth = f'-H "Authorization: token {token}"'
    print(
        f"""
Demo hub is up: {url}
  Log in with any user name (for example: alice) and the password: {password}
  Hub log: {DATA / 'jupyterhub.log'}

Try this:
  1. Start My Server, then come back to Home ({url}/hub/home).
  2. Restart My Server: confirm, and watch it come back in place (same container).
  3. Stop My Server, then Reset Home Volume: type the volume name to confirm.
  4. Start again: a fresh home, while ~/work kept its files.

The same through the REST API (this token belongs to the demo's "ops" service):
  curl -X POST {auth} {api}                     # create alice
  curl -X POST {auth} {api}/server              # start
  curl {auth} {api}/home-volume                 # volume name, state, allowed actions
  curl -X POST {auth} {api}/restart-server      # restart in place
  curl -X DELETE {auth} {api}/server            # stop
  curl -X DELETE {auth} {api}/reset-home-volume # delete the home volume

Ctrl-C stops the demo (or: make demo-stop).""",
        flush=True,
    )
    code = hub.wait()
    log.close()
    print(f"demo: hub stopped (exit code {code})", flush=True)
    sys.exit(0 if code in (0, -signal.SIGTERM) else code)


if __name__ == "__main__":
    main()
