"""Server logs (redacted) and the maintenance history, on a real hub and engine (JupyterHub 6).

The servers of leaky-* and failing-* users print every kind of secret first
(tests/support/hub_config.py); failing-* then exits at start-up on purpose.
"""

import json
import uuid

import pytest

from tests.support.dockerutil import container_of, docker_escape, volume_names
from tests.support.hub_config import FAILING_LINE, LEAKS
from tests.support.hubproc import PREFIX, quote, running_hub


@pytest.fixture(scope="module")
def hub(tmp_path_factory, docker, image):
    # remove=False (DockerSpawner's default): a stopped server keeps its container and log.
    # A short http_timeout: a server that never answers fails its spawn quickly.
    # Backups are copies here, so that a restored backup stays and can be deleted in the history test.
    with running_hub(tmp_path_factory, docker, image, "logs-hub", http_timeout=20, backup_by_move=0) as h:
        yield h


def path(user, action, server=""):
    base = f"/users/{quote(user)}"
    return f"{base}/servers/{quote(server)}/{action}" if server else f"{base}/{action}"


def container_token(container):
    env = dict(item.split("=", 1) for item in container.attrs["Config"]["Env"])
    return env["JUPYTERHUB_API_TOKEN"], env["JUPYTERHUB_CLIENT_ID"]


def assert_redacted(body, token, client_id):
    """No secret in the answer; each shows as [secret] where the server printed it."""
    text = json.dumps(body)
    for value in [token, client_id, *LEAKS.values()]:
        assert value not in text, value
    lines = [line["text"] for line in body["lines"]]
    for expected in [
        "api token: [secret]",
        "client id: [secret]",
        "GET /user/x/lab?token=[secret]&next=/ 200",
        "Authorization: token [secret]",
        "{'Authorization': 'Bearer [secret]'}",
        "302 GET /user/x/oauth_callback?code=[secret]&state=[secret]",
    ]:
        assert expected in lines, (expected, lines[:10])


def fail_to_start(hub, user, server=""):
    hub.create_user(user)
    spawn = f"/users/{quote(user)}/servers/{quote(server)}" if server else f"/users/{quote(user)}/server"
    r = hub.api("POST", spawn)
    # JupyterHub answers 500 itself when its slow-spawn poll finds the server dead.
    assert r.status_code in (201, 202, 500), r.text
    hub.wait_for(lambda: hub.server_model(user, server) is None, 90)


def test_a_server_that_fails_at_start_up_shows_why(hub, docker):
    user = f"failing-{uuid.uuid4().hex[:6]}"
    fail_to_start(hub, user)
    c = container_of(docker, hub, user)
    token, client_id = container_token(c)

    r = hub.api("GET", path(user, "server-logs"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["lines"][-1]["text"] == FAILING_LINE
    assert body["lines"][-1]["time"].endswith("Z")
    assert body["container"]["status"] == "exited" and body["container"]["exit_code"] == 3
    assert body["last_start_error"]  # what JupyterHub told the user, in the hub's memory
    assert body["truncated"] is False and body["tail"] == 100
    assert (body["user"], body["server"]) == (user, "")
    assert_redacted(body, token, client_id)


def test_a_running_server_logs_redacted_and_bounded(hub, docker):
    user = f"leaky-{uuid.uuid4().hex[:6]}"
    hub.create_user(user)
    hub.start_server(user)
    token, client_id = container_token(container_of(docker, hub, user))

    r = hub.api("GET", path(user, "server-logs") + "?tail=1000")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["container"]["status"] == "running" and body["container"]["exit_code"] is None
    assert body["last_start_error"] is None
    assert body["truncated"] is False
    assert_redacted(body, token, client_id)
    everything = len(body["lines"])
    assert everything > 8  # the leaks and the server's own start-up lines

    r = hub.api("GET", path(user, "server-logs") + "?tail=3")
    assert r.status_code == 200, r.text
    short = r.json()
    assert len(short["lines"]) == 3 and short["truncated"] is True and short["tail"] == 3
    assert [line["text"] for line in short["lines"]] == [line["text"] for line in body["lines"][-3:]]
    # Newest last, in the order written.
    times = [line["time"] for line in body["lines"]]
    assert times == sorted(times)

    # Anything but 1..1000 is a 400 with a message, and changes nothing.
    for bad in ["0", "1001", "-1", "abc", "1.5", "", "1e3", "%2B5", "٣"]:
        r = hub.api("GET", path(user, "server-logs") + f"?tail={bad}")
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["message"] == "?tail= must be a whole number from 1 to 1000."
    assert hub.server_model(user)["ready"]


def test_a_stopped_container_keeps_its_log_until_it_is_gone(hub, docker):
    user = f"leaky-{uuid.uuid4().hex[:6]}"
    hub.create_user(user)
    hub.start_server(user)
    c = container_of(docker, hub, user)
    token, client_id = container_token(c)
    hub.stop_server(user)

    r = hub.api("GET", path(user, "server-logs") + "?tail=1000")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["container"]["status"] == "exited" and body["container"]["finished_at"]
    assert body["last_start_error"] is None
    assert_redacted(body, token, client_id)

    c.remove(force=True)
    r = hub.api("GET", path(user, "server-logs"))
    assert r.status_code == 404, r.text
    assert "no container left" in r.json()["message"]
    # A server that was never started has none either.
    never = f"never-{uuid.uuid4().hex[:6]}"
    hub.create_user(never)
    r = hub.api("GET", path(never, "server-logs"))
    assert r.status_code == 404 and "no container left" in r.json()["message"]


@pytest.fixture(scope="module")
def people(hub):
    tag = uuid.uuid4().hex[:6]
    owner, other = f"leaky-owner-{tag}", f"other-{tag}"
    for name in (owner, other, "admin"):
        hub.create_user(name)
    hub.start_server(owner)
    hub.start_server(owner, "lab")
    return {
        "owner": owner,
        "tokens": {
            "owner": hub.user_token(owner),
            "other": hub.user_token(other),
            "admin": hub.user_token("admin"),
            "reader-service": hub.reader_token,
            "anonymous": False,
        },
    }


EXPECTED = {"owner": 200, "admin": 200, "reader-service": 200, "other": 404, "anonymous": 403}


@pytest.mark.parametrize("action", ["server-logs", "maintenance-history"])
@pytest.mark.parametrize("server", ["", "lab"], ids=["default", "named"])
@pytest.mark.parametrize("actor", sorted(EXPECTED))
def test_permissions(hub, people, actor, server, action):
    r = hub.api("GET", path(people["owner"], action, server), token=people["tokens"][actor])
    assert r.status_code == EXPECTED[actor], r.text
    body = r.json()
    if r.status_code == 200:
        assert (body["user"], body["server"]) == (people["owner"], server)
    else:
        assert set(body) == {"status", "message"}
        assert "lines" not in body and "entries" not in body


def test_history_records_what_was_done_and_survives_a_hub_restart(hub, docker, people):
    owner, tokens = people["owner"], people["tokens"]
    as_owner = {"token": tokens["owner"]}
    # Refused for lack of permission: not in the history.
    assert hub.api("POST", path(owner, "restart-server"), token=tokens["other"]).status_code == 404
    assert hub.api("POST", path(owner, "restart-server"), **as_owner).status_code == 200
    assert hub.api("DELETE", path(owner, "reset-home-volume"), **as_owner).status_code == 409  # running
    hub.stop_server(owner)
    r = hub.api("DELETE", path(owner, "reset-home-volume"), **as_owner)
    assert r.status_code == 200, r.text
    made = [b["id"] for b in r.json()["backups"]]
    home = r.json()["volume"]
    assert home == f"{PREFIX}-{docker_escape(owner)}---home" and len(made) == 1
    r = hub.api("POST", path(owner, "restore-home-volume"), json={"backup": made[0]}, **as_owner)
    assert r.status_code == 200, r.text
    r = hub.api("DELETE", path(owner, f"home-volume-backups/{made[0]}"), token=hub.admin_token)
    assert r.status_code == 200, r.text
    assert made[0] not in volume_names(docker)

    def history():
        r = hub.api("GET", path(owner, "maintenance-history"), **as_owner)
        assert r.status_code == 200, r.text
        return r.json()

    before = history()
    entries = before["entries"]
    assert before["keep"] == 50
    assert [(e["action"], e["outcome"], e["status"]) for e in entries] == [
        ("delete-backup", "done", 200),
        ("restore", "done", 200),
        ("reset", "done", 200),
        ("reset", "refused", 409),
        ("restart", "done", 200),
    ]
    deleted, restore, reset, refused, restart = entries
    assert deleted["actor"] == "service:admin-svc" and deleted["backup"] == made[0]
    assert restore["actor"] == owner and restore["backup"] == made[0] and restore["volumes"] == [home]
    assert restore["backups"] == []  # the reset had deleted the volume: no content to back up first
    assert reset["volumes"] == [home] and reset["backups"] == made  # the backup names its reset
    assert refused["reason"] == "wrong-state" and "stop it" in refused["message"]
    assert restart["actor"] == owner and restart["volumes"] == [] and restart["message"] is None
    assert all(e["time"].endswith("Z") for e in entries)
    assert [e["time"] for e in entries] == sorted((e["time"] for e in entries), reverse=True)
    # Another server's history is its own.
    r = hub.api("GET", path(owner, "maintenance-history", "lab"), **as_owner)
    assert r.json()["entries"] == []

    hub.stop()
    hub.start()
    assert history() == before
