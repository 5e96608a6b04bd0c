"""The REST API on a real hub, for every JupyterHub major under test (RS_HUB5_PYTHON)."""

import json
import re
import threading
import uuid

import httpx
import pytest

from tests.support.dockerutil import container_of, docker_escape, volume_names
from tests.support.hubproc import PREFIX, quote, running_hub


@pytest.fixture(scope="module")
def hub(versioned_hub):
    return versioned_hub


def action_path(user, server, action):
    base = f"/users/{quote(user)}"
    if server:
        base += f"/servers/{quote(server)}"
    return f"{base}/{action}"


def home_volume(user, server=""):
    return f"{PREFIX}-{docker_escape(user)}--{docker_escape(server)}-home"


@pytest.fixture(scope="module")
def people(hub):
    """An owner, another user and an admin, with tokens; the owner has a named server too."""
    tag = uuid.uuid4().hex[:6]
    owner, other, admin = f"owner-{tag}", f"other-{tag}", "admin"  # admin_users in hub_config
    for name in (owner, other, admin):
        hub.create_user(name)
    tokens = {
        "owner": hub.user_token(owner),
        "other": hub.user_token(other),
        "admin": hub.user_token(admin),
        "ops-service": hub.ops_token,
        "reader-service": hub.reader_token,
        "anonymous": False,
    }
    return {"owner": owner, "tokens": tokens}


ALLOWED = {"owner", "admin", "ops-service"}
ACTORS = ["owner", "other", "admin", "ops-service", "reader-service", "anonymous"]


def ensure_running(hub, user, server):
    model = hub.server_model(user, server)
    if not (model and model["ready"]):
        hub.start_server(user, server)


def ensure_stopped_with_volume(hub, docker, user, server):
    if home_volume(user, server) not in volume_names(docker):
        ensure_running(hub, user, server)
    if hub.server_model(user, server):
        hub.stop_server(user, server)


@pytest.mark.parametrize("server", ["", "lab"], ids=["default", "named"])
@pytest.mark.parametrize("actor", ACTORS)
def test_restart_permissions(hub, docker, people, actor, server):
    owner = people["owner"]
    ensure_running(hub, owner, server)
    c = container_of(docker, hub, owner, server)
    started_at = c.attrs["State"]["StartedAt"]

    r = hub.api("POST", action_path(owner, server, "restart-server"), token=people["tokens"][actor])

    c.reload()
    assert c.status == "running"
    if actor in ALLOWED:
        assert r.status_code == 200, r.text
        assert r.json()["container_id"] == c.id
        assert c.attrs["State"]["StartedAt"] != started_at
        assert hub.route_status(owner, server) == 200
    else:
        assert r.status_code == (404 if actor == "other" else 403), r.text
        assert "message" in r.json()
        assert c.attrs["State"]["StartedAt"] == started_at


@pytest.mark.parametrize("server", ["", "lab"], ids=["default", "named"])
@pytest.mark.parametrize("actor", ACTORS)
def test_reset_permissions(hub, docker, people, actor, server):
    owner = people["owner"]
    ensure_stopped_with_volume(hub, docker, owner, server)
    r = hub.api("DELETE", action_path(owner, server, "reset-home-volume"), token=people["tokens"][actor])
    if actor in ALLOWED:
        assert r.status_code == 200, r.text
        assert home_volume(owner, server) not in volume_names(docker)
    else:
        assert r.status_code == (404 if actor == "other" else 403), r.text
        assert home_volume(owner, server) in volume_names(docker)


def test_home_volume_describes_state_and_allowed_actions(hub, docker, people):
    owner = people["owner"]
    ensure_stopped_with_volume(hub, docker, owner, "")
    r = hub.api("GET", action_path(owner, "", "home-volume"), token=people["tokens"]["owner"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["volume"] == {"name": home_volume(owner), "exists": True, "mount_path": "/home/jovyan", "resettable": True}
    assert body["state"] == "stopped"
    assert body["actions"] == {
        "restart": False, "reset": True, "reset_volumes": True, "restore": bool(body["backups"]),
        "delete_backup": True,
    }
    # Wave 2: every named volume, and the backups (earlier resets in this module made some).
    assert {v["name"] for v in body["volumes"]} >= {home_volume(owner)}
    assert all(set(v) == {"name", "kind", "mount_path", "home", "resettable", "exists", "size_bytes"} for v in body["volumes"])
    assert all(b["volume"] == home_volume(owner) for b in body["backups"])

    # The reader may look but not act.
    r = hub.api("GET", action_path(owner, "", "home-volume"), token=hub.reader_token)
    assert r.status_code == 200
    assert r.json()["actions"] == {
        "restart": False, "reset": False, "reset_volumes": False, "restore": False, "delete_backup": False,
    }

    ensure_running(hub, owner, "")
    body = hub.api("GET", action_path(owner, "", "home-volume"), token=people["tokens"]["owner"]).json()
    assert body["state"] == "running"
    assert {k: body["actions"][k] for k in ("restart", "reset", "reset_volumes", "restore")} == {
        "restart": True, "reset": False, "reset_volumes": False, "restore": False,
    }
    hub.stop_server(owner)


@pytest.mark.parametrize(
    "path",
    [
        "/users/no-such-user/reset-home-volume",
        "/users/%00/reset-home-volume",
        "/users/" + "x" * 300 + "/reset-home-volume",
        "/users/{owner}/servers/no-such-server/reset-home-volume",
        "/users/{owner}/servers/a%2Fb/reset-home-volume",
        "/users/{owner}/servers/" + "y" * 300 + "/reset-home-volume",
    ],
    ids=["unknown-user", "nul-user", "long-user", "unknown-server", "slash-server", "long-server"],
)
def test_malformed_and_unknown_names_get_clean_4xx(hub, docker, people, path):
    before = volume_names(docker)
    r = hub.api("DELETE", path.format(owner=people["owner"]))
    assert 400 <= r.status_code < 500, r.text
    assert set(r.json()) >= {"status", "message"}
    assert volume_names(docker) == before


def test_ten_parallel_restarts_serialise(hub, docker, people):
    owner = people["owner"]
    ensure_running(hub, owner, "")
    c = container_of(docker, hub, owner)
    responses = []

    def call():
        responses.append(hub.api("POST", action_path(owner, "", "restart-server")))

    threads = [threading.Thread(target=call) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)

    codes = sorted(r.status_code for r in responses)
    assert len(codes) == 10
    assert all(code < 500 for code in codes), codes
    assert set(codes) <= {200, 409}, codes
    assert codes.count(200) >= 1
    for r in responses:
        if r.status_code == 409:
            assert "already in progress" in r.json()["message"]
    c.reload()
    assert c.status == "running"
    assert hub.route_status(owner) == 200
    hub.stop_server(owner)


def test_rate_limit_answers_429_with_retry_after(hub, docker):
    user = f"ratelimited-{uuid.uuid4().hex[:6]}"
    hub.create_user(user)
    codes = [hub.api("DELETE", action_path(user, "", "reset-home-volume")) for _ in range(4)]
    # The first three count (404: no volume yet); the fourth is over the limit of 3.
    assert [r.status_code for r in codes] == [404, 404, 404, 429]
    assert int(codes[-1].headers["Retry-After"]) > 0
    assert "Too many" in codes[-1].json()["message"]


def login(hub, user):
    """A browser-like session: cookies from the hub's login form."""
    client = httpx.Client(base_url=hub.url, timeout=30)
    page = client.get("/hub/login").text
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page).group(1)
    # Not following the redirect: it would spawn the server.
    r = client.post("/hub/login", data={"username": user, "password": hub.password, "_xsrf": xsrf})
    assert r.status_code == 302, r.text
    return client


def test_cookie_request_needs_the_xsrf_token(hub, docker, people):
    owner = people["owner"]
    ensure_stopped_with_volume(hub, docker, owner, "")
    client = login(hub, owner)
    path = "/hub/api" + action_path(owner, "", "reset-home-volume")

    r = client.delete(path)
    assert r.status_code == 403, r.text
    assert home_volume(owner) in volume_names(docker)

    r = client.delete(path, headers={"X-XSRFToken": client.cookies["_xsrf"]})
    assert r.status_code == 200, r.text
    assert home_volume(owner) not in volume_names(docker)


def test_metrics_count_actions(hub):
    text = httpx.get(f"{hub.url}/hub/metrics", timeout=10).text
    assert re.search(r'resettable_spawner_actions_total\{action="restart",outcome="done"\} [1-9]', text)
    assert re.search(r'resettable_spawner_actions_total\{action="reset",outcome="refused"\} [1-9]', text)
    assert "resettable_spawner_action_duration_seconds_bucket" in text


def test_audit_events_record_every_attempt(hub, people):
    events = [json.loads(line) for line in (hub.workdir / "events.jsonl").read_text().splitlines()]
    ours = [e for e in events if e["__schema__"] == "urn:resettable-spawner:events:server-maintenance"]
    owner = people["owner"]
    done = [e for e in ours if e["username"] == owner and e["outcome"] == "done"]
    assert {e["action"] for e in done} == {"restart", "reset"}
    assert {e["actor"] for e in done} >= {owner, "service:ops-svc"}
    limited = [e for e in ours if e["reason"] == "rate-limited"]
    assert limited and limited[0]["status"] == 429 and limited[0]["outcome"] == "refused"
    assert all(e["duration_seconds"] >= 0 for e in ours)


@pytest.fixture(scope="module")
def broken_docker_hub(tmp_path_factory, docker, image):
    url = "unix:///nonexistent/docker.sock"
    with running_hub(tmp_path_factory, docker, image, "no-docker-hub", docker_url=url) as h:
        yield h


def test_docker_unreachable_is_503_without_internals(broken_docker_hub):
    hub = broken_docker_hub
    user = hub.create_user(f"u{uuid.uuid4().hex[:6]}")
    for method, action in (("DELETE", "reset-home-volume"), ("GET", "home-volume")):
        r = hub.api(method, action_path(user, "", action))
        assert r.status_code == 503, r.text
        message = r.json()["message"]
        assert "cannot be reached" in message
        assert "nonexistent" not in message and "sock" not in message and "Traceback" not in message
    assert "/nonexistent/docker.sock" in hub.log()  # the detail goes to the hub log


@pytest.fixture(scope="module")
def admin_only_reset_hub(tmp_path_factory, docker, image):
    scopes = '["admin:servers"]'
    with running_hub(tmp_path_factory, docker, image, "admin-only-hub", reset_scopes=scopes) as h:
        yield h


def test_admin_only_reset_switch(admin_only_reset_hub, docker):
    hub = admin_only_reset_hub
    tag = uuid.uuid4().hex[:6]
    owner, admin = hub.create_user(f"owner-{tag}"), hub.create_user("admin")
    ensure_stopped_with_volume(hub, docker, owner, "")

    r = hub.api("DELETE", action_path(owner, "", "reset-home-volume"), token=hub.user_token(owner))
    assert r.status_code == 403, r.text
    assert home_volume(owner) in volume_names(docker)
    body = hub.api("GET", action_path(owner, "", "home-volume"), token=hub.user_token(owner)).json()
    assert body["actions"]["reset"] is False

    r = hub.api("DELETE", action_path(owner, "", "reset-home-volume"), token=hub.user_token(admin))
    assert r.status_code == 200, r.text
    assert home_volume(owner) not in volume_names(docker)


@pytest.fixture(scope="module")
def custom_scope_hub(tmp_path_factory, docker, image):
    with running_hub(
        tmp_path_factory,
        docker,
        image,
        "custom-scope-hub",
        custom_reset_scope="custom:home-reset",
        resetters="resetter",
    ) as h:
        yield h


def test_custom_scope_gates_reset(custom_scope_hub, docker):
    hub = custom_scope_hub
    plain = hub.create_user(f"plain-{uuid.uuid4().hex[:6]}")
    resetter = hub.create_user("resetter")  # holds custom:home-reset!user via its role
    for user in (plain, resetter):
        ensure_stopped_with_volume(hub, docker, user, "")

    r = hub.api("DELETE", action_path(plain, "", "reset-home-volume"), token=hub.user_token(plain))
    assert r.status_code == 403, r.text
    assert home_volume(plain) in volume_names(docker)

    r = hub.api("DELETE", action_path(resetter, "", "reset-home-volume"), token=hub.user_token(resetter))
    assert r.status_code == 200, r.text
    assert home_volume(resetter) not in volume_names(docker)
