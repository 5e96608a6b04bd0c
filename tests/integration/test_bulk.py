"""Bulk restarts (POST /hub/api/bulk-restart), the lab's notice and the maintenance page's list,
on one real hub (JupyterHub 6) with max_concurrent_restarts = 2."""

import json
import re
import threading
import time
import uuid

import pytest

from tests.support.dockerutil import container_of
from tests.support.hubproc import quote, running_hub

BOUND = 2


@pytest.fixture(scope="module")
def hub(tmp_path_factory, docker, image):
    with running_hub(tmp_path_factory, docker, image, "bulkhub", max_concurrent_restarts=BOUND) as h:
        yield h


def started_at(container):
    container.reload()
    return container.attrs["State"]["StartedAt"]


def start_all(hub, servers):
    """Start these (user, server) pairs at once, for new users; wait until each is ready."""
    for user, server in servers:
        hub.create_user(user)
        r = hub.api("POST", hub.server_path(user, server))
        assert r.status_code in (201, 202), r.text
    for user, server in servers:
        hub.wait_for(lambda u=user, s=server: (hub.server_model(u, s) or {}).get("ready"), 180)


@pytest.fixture(scope="module")
def fleet(hub):
    """12 running servers: 11 users' default servers and a named one, shared by this module's tests."""
    tag = uuid.uuid4().hex[:6]
    users = [f"bulk{i:02d}-{tag}" for i in range(11)]
    servers = [(u, "") for u in users] + [(users[0], "nb")]
    start_all(hub, servers)
    return servers


def ref(user, server):
    return f"{user}/{server}" if server else user


def follow(hub, bulk_id, token=None, timeout=240):
    """GET the bulk restart every 0.2 s until it has finished; returns (last answer, states seen)."""
    seen = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = hub.api("GET", f"/bulk-restart/{bulk_id}", token=token)
        assert r.status_code == 200, r.text
        body = r.json()
        seen |= {s["state"] for s in body["servers"]}
        if body["finished"]:
            return body, seen
        time.sleep(0.2)
    raise TimeoutError(body)


def audit_events(hub):
    lines = (hub.workdir / "events.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["__schema__"].endswith(":server-maintenance")]


class Probe:
    """Other users' API calls, back to back on a thread, while something runs."""

    def __init__(self, hub, user):
        self.hub, self.user = hub, user
        self.answers, self.failures = [], []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop)

    def _loop(self):
        paths = [f"/users/{quote(self.user)}", f"/users/{quote(self.user)}/home-volume"]
        while not self._stop.is_set():
            for path in paths:
                tic = time.perf_counter()
                try:
                    code = self.hub.api("GET", path, timeout=10).status_code
                except Exception as e:  # a call that did not answer within 10 s
                    self.failures.append(repr(e))
                    continue
                (self.answers if code == 200 else self.failures).append((path, code, time.perf_counter() - tic))
            time.sleep(0.1)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def test_twelve_servers_with_a_bound_of_two(hub, docker, fleet):
    bystander = f"bystander-{uuid.uuid4().hex[:6]}"
    hub.create_user(bystander)
    names = [ref(*s) for s in fleet]
    containers = {ref(*s): container_of(docker, hub, *s) for s in fleet}
    before = {name: (c.id, started_at(c)) for name, c in containers.items()}
    log_start = len(hub.log())

    with Probe(hub, bystander) as probe:
        r = hub.api("POST", "/bulk-restart", json={"servers": names})
        assert r.status_code == 202, r.text
        accepted = r.json()
        assert [s["name"] for s in accepted["servers"]] == names
        assert {s["state"] for s in accepted["servers"]} <= {"waiting", "restarting"}
        body, seen = follow(hub, accepted["id"])

    assert body["counts"]["done"] == 12, body
    assert all(s["state"] == "done" and s["duration_seconds"] > 0 for s in body["servers"])
    # The servers waited for the two start slots, and the list said so.
    assert "queued" in seen, seen
    for (user, server), (name, c) in zip(fleet, containers.items()):
        assert c.id == before[name][0] == container_of(docker, hub, user, server).id
        assert c.status == "running"
        assert started_at(c) != before[name][1], name
        assert hub.route_status(user, server) == 200

    # The bound, counted from the hub's own log: never more than 2 starting at once.
    in_use = [int(n) for n in re.findall(r"restart slots in use: (\d+) of (?:\d+)", hub.log()[log_start:])]
    assert len(in_use) == 12, in_use
    assert max(in_use) == BOUND, in_use

    # Other users' calls kept answering throughout.
    assert probe.failures == [], probe.failures[:5]
    assert len(probe.answers) >= 10, probe.answers
    print(f"bystander calls during the bulk restart: {len(probe.answers)}, "
          f"slowest {max(a[2] for a in probe.answers):.3f} s")

    # One audit event per server, each with the bulk's id.
    ours = [e for e in audit_events(hub) if e.get("bulk") == accepted["id"]]
    assert sorted((e["username"], e["servername"]) for e in ours) == sorted(fleet)
    assert {(e["action"], e["outcome"], e["status"], e["actor"]) for e in ours} == {
        ("restart", "done", 200, "service:admin-svc")
    }
    # And the servers' histories have the restart.
    r = hub.api("GET", f"/users/{quote(fleet[-1][0])}/servers/nb/maintenance-history")
    assert r.json()["entries"][0]["action"] == "restart" and r.json()["entries"][0]["outcome"] == "done"


def test_a_caller_with_scopes_for_some_users(hub, docker, fleet):
    mine, others = [u for u, _ in fleet[1:3]], [u for u, _ in fleet[3:5]]
    before = {u: started_at(container_of(docker, hub, u)) for u in mine + others}
    # A token that may stop, start and read the first two users' servers only.
    scopes = [f"{s}!user={u}" for u in mine for s in ("delete:servers", "start:servers", "read:servers")]
    hub.create_user("admin")
    r = hub.api("POST", "/users/admin/tokens", json={"scopes": scopes, "note": "some users"})
    assert r.status_code == 201, r.text
    token = r.json()["token"]

    r = hub.api("POST", "/bulk-restart", token=token, json={"servers": mine + others})
    assert r.status_code == 202, r.text
    accepted = r.json()
    assert {s["name"]: s["state"] for s in accepted["servers"] if s["name"] in others} == dict.fromkeys(
        others, "forbidden"
    )
    body, _ = follow(hub, accepted["id"], token=token)
    states = {s["name"]: (s["state"], s["reason"]) for s in body["servers"]}
    assert states == {**dict.fromkeys(mine, ("done", "")), **dict.fromkeys(others, ("forbidden", "forbidden"))}
    assert body["counts"]["done"] == 2 and body["counts"]["forbidden"] == 2
    for u in mine:
        assert started_at(container_of(docker, hub, u)) != before[u]
    for u in others:
        assert started_at(container_of(docker, hub, u)) == before[u]

    # "All running", with the same token, covers only the servers it may see.
    r = hub.api("POST", "/bulk-restart", token=token, json={"all_running": True, "notice_seconds": 0})
    assert r.status_code == 202, r.text
    assert sorted(s["name"] for s in r.json()["servers"]) == sorted(mine)
    follow(hub, r.json()["id"], token=token)

    # Someone else's bulk id is unknown to this caller, as a made-up one.
    assert hub.api("GET", f"/bulk-restart/{accepted['id']}").status_code == 404
    assert hub.api("GET", "/bulk-restart/no-such-id", token=token).status_code == 404
    # Each refused server has its own audit event too.
    refused = [e for e in audit_events(hub) if e.get("bulk") == accepted["id"] and e["outcome"] == "refused"]
    assert sorted(e["username"] for e in refused) == sorted(others)
    assert {(e["reason"], e["status"]) for e in refused} == {("forbidden", 403)}


@pytest.mark.parametrize(
    "body",
    [
        None,
        b"{not json",
        [],
        {},
        {"servers": []},
        {"servers": "alice"},
        {"servers": ["alice", "alice"]},
        {"servers": ["alice/"]},
        {"servers": ["a/b/c"]},
        {"servers": [1]},
        {"servers": ["alice"], "all_running": True},
        {"all_running": False},
        {"all_running": True, "notice_seconds": -1},
        {"all_running": True, "notice_seconds": 3601},
        {"all_running": True, "notice_seconds": "20"},
        {"all_running": True, "notice_seconds": 1.5},
        {"all_running": True, "extra": 1},
    ],
)
def test_bad_bodies_are_400_and_start_nothing(hub, docker, fleet, body):
    running_user = fleet[5][0]
    before = started_at(container_of(docker, hub, running_user))
    bulk_events = len([e for e in audit_events(hub) if e.get("bulk")])
    kwargs = {"content": body} if isinstance(body, bytes) else ({"json": body} if body is not None else {})
    r = hub.api("POST", "/bulk-restart", **kwargs)
    assert r.status_code == 400, r.text
    assert r.json()["status"] == 400 and r.json()["message"]
    time.sleep(0.3)
    assert started_at(container_of(docker, hub, running_user)) == before
    assert len([e for e in audit_events(hub) if e.get("bulk")]) == bulk_events


def test_stopped_pending_busy_and_unknown_are_skipped(hub, docker, fleet):
    tag = uuid.uuid4().hex[:6]
    running, busy, stopped, pending = fleet[6][0], fleet[7][0], f"stop-{tag}", f"failing-{tag}"
    hub.create_user(stopped)
    # pending: a failing-* server never answers, so its spawn stays pending until it exits
    # (the start request itself answers only then, with the failure).
    hub.create_user(pending)
    spawn = threading.Thread(target=lambda: hub.api("POST", f"/users/{quote(pending)}/server"))
    spawn.start()
    hub.wait_for(lambda: (hub.server_model(pending) or {}).get("pending") == "spawn", 30, interval=0.05)
    # busy: a restart of its own is under way when the bulk arrives.
    single = threading.Thread(target=lambda: hub.api("POST", f"/users/{quote(busy)}/restart-server"))
    single.start()
    hub.wait_for(lambda: hub.api("GET", f"/users/{quote(busy)}/home-volume").json()["state"] != "running", 10,
                 interval=0.02)
    refs = [running, stopped, pending, busy, f"ghost-{tag}", f"{running}/ghost"]
    r = hub.api("POST", "/bulk-restart", json={"servers": refs})
    assert r.status_code == 202, r.text
    body, _ = follow(hub, r.json()["id"])
    single.join()
    spawn.join()
    states = {s["name"]: (s["state"], s["reason"]) for s in body["servers"]}
    assert states == {
        running: ("done", ""),
        stopped: ("skipped", "wrong-state"),
        pending: ("skipped", "wrong-state"),
        busy: ("skipped", "in-progress"),
        f"ghost-{tag}": ("skipped", "not-found"),
        f"{running}/ghost": ("skipped", "not-found"),
    }
    messages = {s["name"]: s["message"] for s in body["servers"]}
    assert messages[stopped] == "The server is not running."
    assert messages[pending] == "The server is starting or stopping."
    assert body["counts"] == {"waiting": 0, "noticed": 0, "queued": 0, "restarting": 0, "done": 1,
                              "failed": 0, "forbidden": 0, "skipped": 5}


def test_the_notice_is_what_the_servers_own_token_may_read(hub, docker, fleet):
    user = fleet[8][0]
    other = f"peer-{uuid.uuid4().hex[:6]}"
    hub.create_user(other)
    c = container_of(docker, hub, user)
    before = started_at(c)
    # As a lab's token: access to this one server, nothing else.
    r = hub.api("POST", f"/users/{quote(user)}/tokens", json={"scopes": [f"access:servers!server={user}/"]})
    assert r.status_code == 201, r.text
    lab = r.json()["token"]
    notice_path = f"/users/{quote(user)}/restart-notice"
    r = hub.api("GET", notice_path, token=lab)
    assert r.status_code == 200, r.text
    assert {k: v for k, v in r.json().items() if k != "notice"} == {"user": user, "server": "", "poll_seconds": 10}
    # Only the end of the first test's bulk restart, if anything.
    assert (r.json()["notice"] or {}).get("state", "done") == "done"

    tic = time.monotonic()
    r = hub.api("POST", "/bulk-restart", json={"servers": [user], "notice_seconds": 4})
    assert r.status_code == 202, r.text
    bulk_id = r.json()["id"]
    notice = hub.api("GET", notice_path, token=lab).json()["notice"]
    assert notice["bulk"] == bulk_id and notice["state"] == "noticed"
    assert 3 <= notice["seconds_left"] <= 4 and notice["notice_seconds"] == 4
    assert notice["requested_by"] == "service:admin-svc"
    assert hub.api("GET", f"/bulk-restart/{bulk_id}").json()["counts"]["noticed"] == 1
    # Nothing happens before the notice has run out.
    time.sleep(2)
    assert started_at(c) == before
    body, _ = follow(hub, bulk_id)
    assert body["counts"]["done"] == 1
    assert time.monotonic() - tic >= 4
    assert started_at(c) != before
    assert hub.api("GET", notice_path, token=lab).json()["notice"]["state"] == "done"

    # That token reads the notice of its own server only, and still acts on nothing.
    assert hub.api("GET", f"/users/{quote(other)}/restart-notice", token=lab).status_code in (403, 404)
    for method, path in [
        ("POST", f"/users/{quote(user)}/restart-server"),
        ("DELETE", f"/users/{quote(user)}/server"),
        ("POST", f"/users/{quote(user)}/server"),
        ("DELETE", f"/users/{quote(user)}/reset-home-volume"),
        ("GET", "/maintenance/servers"),
    ]:
        assert hub.api(method, path, token=lab).status_code in (403, 404), (method, path)
    r = hub.api("POST", "/bulk-restart", token=lab, json={"servers": [user]})
    assert r.status_code == 202 and r.json()["servers"][0]["state"] == "forbidden"
    assert hub.server_model(user)["ready"]


def test_the_maintenance_list(hub, docker, fleet):
    running_user = fleet[9][0]
    assert hub.api("POST", f"/users/{quote(running_user)}/restart-server").status_code == 200
    r = hub.api("GET", "/maintenance/servers")
    assert r.status_code == 200, r.text
    rows = {(s["user"], s["server"]): s for s in r.json()["servers"]}
    row = rows[(running_user, "")]
    c = container_of(docker, hub, running_user)
    assert row["state"] == "running"
    assert row["container"]["image"] == c.attrs["Config"]["Image"]
    assert row["container"]["started_at"] == started_at(c)[:19] + "Z"
    assert row["last_restart"]["actor"] == "service:admin-svc"
    assert row["last_restart"]["outcome"] == "done"
    assert row["actions"] == {"restart": True, "reset": False, "backups": False, "logs": True}
    assert list(rows) == sorted(rows)
    # A reader sees the rows and may press nothing but Logs; a user sees their own only.
    reader = {(s["user"], s["server"]): s for s in hub.api("GET", "/maintenance/servers", token=hub.reader_token).json()["servers"]}
    assert set(reader) == set(rows)
    assert reader[(running_user, "")]["actions"] == {"restart": False, "reset": False, "backups": False, "logs": True}
    token = hub.user_token(running_user)
    own = hub.api("GET", "/maintenance/servers", token=token).json()["servers"]
    assert {s["user"] for s in own} == {running_user}
    assert hub.api("GET", "/maintenance/servers", token=False).status_code == 403
