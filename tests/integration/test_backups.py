"""Safe reset: chosen volumes, sizes, backups, restore, retention and crash safety.

Against the real engine and a real hub: the API tests on every JupyterHub major under
test (RS_HUB5_PYTHON), the heavy ones (retention, SIGKILL during a backup and during a
restore) on this venv's JupyterHub only. Files are compared with ``find -printf``
(owner, mode, type, link target, link count, mtime) plus sha256 checksums.
"""

import threading
import time

import pytest

from tests.support.dockerutil import docker_escape, volume_names
from tests.support.hubproc import PREFIX, cleanup_docker, hub_pythons, make_hub, quote, running_hub
from tests.support.volumes import (
    BACKUP_OF,
    backups_of,
    call_surviving,
    fill,
    fill_big,
    helpers,
    listing,
    run_in,
)

def vol(user, kind, server=""):
    return f"{PREFIX}-{docker_escape(user)}--{docker_escape(server)}-{kind}"


SHARED = f"{PREFIX}-shared-data"


def path(user, action, server=""):
    base = f"/users/{quote(user)}" + (f"/servers/{quote(server)}" if server else "")
    return f"{base}/{action}"





@pytest.fixture(scope="module", params=sorted(hub_pythons()))
def hub(request, tmp_path_factory, docker, image):
    """A hub whose servers also mount a shared volume, for every JupyterHub major under test."""
    python = hub_pythons()[request.param]
    with running_hub(
        tmp_path_factory, docker, image, f"backups-{request.param}", python=python, shared_volume=1
    ) as h:
        yield h


def status(hub, user, server="", token=None, sizes=False):
    r = hub.api("GET", path(user, "home-volume", server) + ("?sizes=1" if sizes else ""), token=token)
    assert r.status_code == 200, r.text
    return r.json()


def reset(hub, user, volumes=(), backup=None, server="", token=None):
    query = [f"volume={quote(v)}" for v in volumes] + ([f"backup={backup}"] if backup is not None else [])
    return hub.api(
        "DELETE", path(user, "reset-home-volume", server) + ("?" + "&".join(query) if query else ""), token=token
    )


def restore(hub, user, backup_id, server="", token=None):
    return hub.api("POST", path(user, "restore-home-volume", server), json={"backup": backup_id}, token=token)


def test_reset_then_restore_gives_back_the_identical_tree(hub, docker, image, username):
    hub.create_user(username)
    home = vol(username, "home")
    fill(docker, image, home)
    before = listing(docker, image, home)
    assert "|1000|100|4755|f|" in before and "|0|0|600|f|" in before  # uid 1000 and root files
    assert "./.a|" in before and "./emptydir|" in before and "./dangling|" in before

    body = status(hub, username)
    assert body["state"] == "stopped"
    volumes = {v["name"]: v for v in body["volumes"]}
    assert volumes[home] == {
        "name": home, "kind": "volume", "mount_path": "/home/jovyan", "home": True, "resettable": True,
        "exists": True, "size_bytes": None,
    }
    assert volumes[SHARED]["resettable"] is False and volumes[SHARED]["home"] is False
    assert volumes[vol(username, "cache")]["exists"] is False
    assert body["backups"] == [] and body["actions"]["restore"] is False

    r = reset(hub, username)
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["volume"] == home and result["volumes"] == [home]
    (made,) = result["backups"]
    assert made["volume"] == home and made["id"].startswith(home + ".backup-")
    assert made["created"].endswith("Z") and made["expires"] > made["created"]
    assert home not in volume_names(docker)

    # A Docker volume with the documented labels; the operator's filter finds it.
    labels = docker.volumes.get(made["id"]).attrs["Labels"]
    assert labels[BACKUP_OF] == home
    assert labels["resettable-spawner.user"] == username and labels["resettable-spawner.server"] == ""
    assert labels["resettable-spawner.created"] == made["created"]
    assert labels["resettable-spawner.expires"] == made["expires"]
    assert backups_of(docker, home) == [made["id"]]
    assert not helpers(docker)

    body = status(hub, username)
    assert [b["id"] for b in body["backups"]] == [made["id"]]
    assert body["actions"]["restore"] is True

    r = restore(hub, username, made["id"])
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["volume"] == home and result["backup"]["id"] == made["id"]
    assert result["replaced_backup"] is None  # the volume did not exist: nothing to keep
    assert listing(docker, image, home) == before
    # The backup was consumed: its data is the volume's now (a move, not a copy).
    assert made["id"] not in volume_names(docker)
    assert not helpers(docker)

    # The started server sees the restored files as its user.
    hub.start_server(username)
    c = docker.containers.get(f"{PREFIX}-{docker_escape(username)}--")
    assert c.exec_run(["cat", "/home/jovyan/notebooks/a.py"], user="jovyan").output == b"print(1)\n"
    assert c.exec_run(["cat", "/home/jovyan/.a"], user="jovyan").output == b"secret"
    hub.stop_server(username)


def test_restore_can_be_undone(hub, docker, image, username):
    hub.create_user(username)
    home = vol(username, "home")
    fill(docker, image, home, "echo first > /v/state; chown -R 1000:100 /v")
    first = reset(hub, username).json()["backups"][0]
    fill(docker, image, home, "echo second > /v/state; echo new > /v/only-in-second; chown -R 1000:100 /v")
    second_listing = listing(docker, image, home)

    r = restore(hub, username, first["id"])
    assert r.status_code == 200, r.text
    replaced = r.json()["replaced_backup"]
    assert replaced["volume"] == home and replaced["id"] != first["id"]
    assert run_in(docker, image, home, "cat /v/state; ls /v", read_only=True) == "first\nstate\n"
    ids = [b["id"] for b in status(hub, username)["backups"]]
    # The replaced content is a new backup; the one restored from was consumed (a move).
    assert replaced["id"] in ids and first["id"] not in ids
    assert first["id"] not in volume_names(docker)

    # Undo: restore the content the restore replaced.
    r = restore(hub, username, replaced["id"])
    assert r.status_code == 200, r.text
    assert listing(docker, image, home) == second_listing

    # Restore refuses while the server runs, and changes nothing.
    hub.start_server(username)
    r = restore(hub, username, first["id"])
    assert r.status_code == 409, r.text
    hub.stop_server(username)
    assert run_in(docker, image, home, "cat /v/state", read_only=True) == "second\n"


def test_selective_reset_removes_exactly_the_chosen_volumes(hub, docker, image, username):
    other = username + "o"
    for u in (username, other):
        hub.create_user(u)
        for kind in ("home", "workspace", "cache"):
            fill(docker, image, vol(u, kind), f"echo {kind} of {u} > /v/marker")
    fill(docker, image, SHARED, "echo shared > /v/shared-marker")
    before = volume_names(docker)

    # Not resettable: shared, another user's, unknown, empty. 400 and nothing deleted.
    for bad in ([SHARED], [vol(other, "home")], [vol(username, "home"), "nope"], [""]):
        r = reset(hub, username, bad)
        assert r.status_code == 400, (bad, r.text)
        assert "message" in r.json() and "Traceback" not in r.text
    r = reset(hub, username, backup="maybe")
    assert r.status_code == 400
    assert volume_names(docker) == before

    chosen = [vol(username, "home"), vol(username, "cache")]
    r = reset(hub, username, chosen, backup=0)
    assert r.status_code == 200, r.text
    body = r.json()
    assert sorted(body["volumes"]) == sorted(chosen) and body["volume"] == vol(username, "home")
    assert body["backups"] == []  # ?backup=0
    after = volume_names(docker)
    assert after == before - set(chosen)
    assert run_in(docker, image, vol(username, "workspace"), "cat /v/marker", read_only=True) == f"workspace of {username}\n"
    assert run_in(docker, image, SHARED, "cat /v/shared-marker", read_only=True) == "shared\n"
    for kind in ("home", "workspace", "cache"):
        assert run_in(docker, image, vol(other, kind), "cat /v/marker", read_only=True) == f"{kind} of {other}\n"

    # Only the workspace now, with a backup; home alone is not touched when not chosen.
    r = reset(hub, username, [vol(username, "workspace")])
    assert r.status_code == 200, r.text
    assert [b["volume"] for b in r.json()["backups"]] == [vol(username, "workspace")]
    assert r.json()["volume"] is None


def test_sizes_match_du(hub, docker, image, username):
    hub.create_user(username)
    work = vol(username, "workspace")
    # 64 MiB in 1,000 files of 65536 + a little (varied sizes), plus a few directories.
    fill(
        docker,
        image,
        work,
        "set -e; cd /v; for d in 0 1 2 3 4 5 6 7 8 9; do mkdir d$d; done; "
        "i=0; while [ $i -lt 1000 ]; do head -c $((67108 + i)) /dev/zero > d$((i % 10))/f$i; i=$((i+1)); done",
    )
    fill(docker, image, vol(username, "home"), "echo hi > /v/x")
    expected = int(run_in(docker, image, work, "du -sb /v | cut -f1", read_only=True))
    assert expected > 64 * 1024 * 1024

    tic = time.monotonic()
    body = status(hub, username, sizes=True)
    measured = time.monotonic() - tic
    sizes = {v["name"]: v["size_bytes"] for v in body["volumes"]}
    assert abs(sizes[work] - expected) <= expected * 0.01, (sizes[work], expected)
    assert sizes[vol(username, "cache")] is None  # does not exist
    assert sizes[vol(username, "home")] > 0
    # Cached briefly: the next call answers without measuring again.
    tic = time.monotonic()
    again = status(hub, username, sizes=True)
    assert {v["name"]: v["size_bytes"] for v in again["volumes"]} == sizes
    assert time.monotonic() - tic < measured
    print(f"sizes: {expected} bytes by du -sb, {sizes[work]} by the API, first call {measured:.2f}s")


def test_backup_keep_drops_the_oldest(hub, docker, image, username):
    hub.create_user(username)
    cache = vol(username, "cache")
    made = []
    for i in range(4):
        fill(docker, image, cache, f"echo {i} > /v/round")
        r = reset(hub, username, [cache])
        assert r.status_code == 200, r.text
        made.append(r.json()["backups"][0]["id"])
        time.sleep(1.1)  # distinct creation seconds
    assert backups_of(docker, cache) == sorted(made[1:])  # backup_keep = 3
    assert [b["id"] for b in status(hub, username)["backups"]] == made[:0:-1]


def test_foreign_and_unknown_backups_are_not_found(hub, docker, image, username):
    thief = username + "t"
    for u in (username, thief):
        hub.create_user(u)
    fill(docker, image, vol(username, "home"), "echo mine > /v/f")
    backup_id = reset(hub, username).json()["backups"][0]["id"]
    thief_token = hub.user_token(thief)
    fill(docker, image, vol(thief, "home"), "echo thief > /v/f")

    # Through the thief's own paths: 404, and nothing changes.
    assert restore(hub, thief, backup_id, token=thief_token).status_code == 404
    r = hub.api("DELETE", path(thief, f"home-volume-backups/{backup_id}"), token=thief_token)
    assert r.status_code == 404
    # Through the owner's paths: JupyterHub's 404 for a user one may not see.
    assert restore(hub, username, backup_id, token=thief_token).status_code == 404
    r = hub.api("DELETE", path(username, f"home-volume-backups/{backup_id}"), token=thief_token)
    assert r.status_code == 404
    assert backup_id in volume_names(docker)
    assert run_in(docker, image, vol(thief, "home"), "cat /v/f", read_only=True) == "thief\n"
    assert status(hub, thief)["backups"] == []

    # Unknown ids, a volume that is not a backup, bad bodies.
    for bad in ("nope", vol(thief, "home"), "../../etc"):
        assert restore(hub, username, bad).status_code == 404, bad
    r = hub.api("POST", path(username, "restore-home-volume"), content=b"{not json")
    assert r.status_code == 400
    r = hub.api("POST", path(username, "restore-home-volume"), json={"backup": 3})
    assert r.status_code == 400

    # The owner deletes it.
    r = hub.api("DELETE", path(username, f"home-volume-backups/{backup_id}"))
    assert r.status_code == 200, r.text
    assert r.json()["deleted"]["id"] == backup_id
    assert backup_id not in volume_names(docker)
    assert hub.api("DELETE", path(username, f"home-volume-backups/{backup_id}")).status_code == 404


def test_named_server_paths(hub, docker, image, username):
    hub.create_user(username)
    hub.start_server(username, "lab")
    hub.stop_server(username, "lab")
    home = vol(username, "home", "lab")
    fill(docker, image, home, "echo lab > /v/f")
    r = reset(hub, username, [home], server="lab")
    assert r.status_code == 200, r.text
    backup_id = r.json()["backups"][0]["id"]
    assert [b["id"] for b in status(hub, username, "lab")["backups"]] == [backup_id]
    assert status(hub, username)["backups"] == []  # the default server's list
    assert restore(hub, username, backup_id).status_code == 404  # not the default server's
    r = restore(hub, username, backup_id, server="lab")
    assert r.status_code == 200, r.text
    assert run_in(docker, image, home, "cat /v/f", read_only=True) == "lab\n"
    assert status(hub, username, "lab")["backups"] == []  # consumed by the restore (a move)
    backup_id = reset(hub, username, [home], server="lab").json()["backups"][0]["id"]
    r = hub.api("DELETE", path(username, f"home-volume-backups/{backup_id}", "lab"))
    assert r.status_code == 200, r.text


def test_audit_events_record_volumes_and_backups(hub):
    import json

    events = [json.loads(line) for line in (hub.workdir / "events.jsonl").read_text().splitlines()]
    ours = [e for e in events if e["__schema__"] == "urn:resettable-spawner:events:server-maintenance"]
    resets = [e for e in ours if e["action"] == "reset" and e["outcome"] == "done"]
    assert any(e["volumes"] and e["backups"] for e in resets)
    assert all(e["backups"] == [] for e in resets if len(e["volumes"]) == 2)  # the ?backup=0 one
    assert any(e["action"] == "restore" and e["outcome"] == "done" and e["backup"] for e in ours)
    assert any(e["action"] == "restore" and e["status"] == 404 for e in ours)
    assert any(e["action"] == "delete-backup" and e["outcome"] == "done" for e in ours)
    import httpx

    text = httpx.get(f"{hub.url}/hub/metrics", timeout=10).text
    assert 'resettable_spawner_actions_total{action="restore",outcome="done"}' in text
    assert 'resettable_spawner_actions_total{action="delete-backup",outcome="done"}' in text


# --- retention: a separate hub with a short retention and sweep interval --------------


def test_retention_sweep_removes_expired_backups(tmp_path_factory, docker, image, username):
    with running_hub(
        tmp_path_factory, docker, image, "retention-hub", backup_retention=3, backup_prune_interval=1
    ) as hub:
        hub.create_user(username)
        home = vol(username, "home")
        fill(docker, image, home, "echo x > /v/f")
        r = reset(hub, username)
        assert r.status_code == 200, r.text
        backup_id = r.json()["backups"][0]["id"]
        assert backup_id in volume_names(docker)
        # No further request for this user: the hub-wide sweep removes it after expiry.
        hub.wait_for(lambda: backup_id not in volume_names(docker), timeout=20, interval=0.5)


# --- crash safety: SIGKILL the hub while a backup copies ------------------------------


def test_hub_killed_during_backup(tmp_path_factory, docker, image, username):
    # The copy path (the move path's crashes: tests/e2e/test_move_crash.py).
    hub = make_hub(tmp_path_factory, image, "crash-hub", backup_by_move=0)
    try:
        hub.create_user(username)
        home = vol(username, "home")
        fill_big(docker, image, home)
        before = listing(docker, image, home)
        responses = []
        caller = threading.Thread(target=lambda: responses.append(call_surviving(lambda: reset(hub, username))))
        caller.start()
        hub.wait_for(lambda: helpers(docker) and backups_of(docker, home), timeout=30, interval=0.05)
        time.sleep(0.5)
        assert helpers(docker), "the copy finished before the kill; make the volume bigger"
        partial = backups_of(docker, home)
        hub.kill()
        caller.join(30)

        hub.start()
        # No server runs and no request comes, and the test config has only the README's
        # three lines: the sweep armed when the hub imported the package runs at start-up.
        # Helper and partial backup go, the original stays.
        hub.wait_for(lambda: not helpers(docker) and not backups_of(docker, home), timeout=60, interval=0.5)
        assert not (set(partial) & volume_names(docker))
        assert home in volume_names(docker)
        assert listing(docker, image, home) == before
        assert status(hub, username)["backups"] == []

        r = reset(hub, username)
        assert r.status_code == 200, r.text
        (made,) = r.json()["backups"]
        assert home not in volume_names(docker)
        assert restore(hub, username, made["id"]).status_code == 200
        assert listing(docker, image, home) == before
    finally:
        hub.stop()
        cleanup_docker(docker)


def test_hub_killed_during_restore(tmp_path_factory, docker, image, username):
    """The server never starts on a half-restored volume; both backups survive; a retry works."""
    hub = make_hub(tmp_path_factory, image, "restore-crash-hub", backup_by_move=0)
    try:
        hub.create_user(username)
        home = vol(username, "home")
        fill_big(docker, image, home)
        original = listing(docker, image, home)
        r = reset(hub, username)
        assert r.status_code == 200, r.text
        backup_id = r.json()["backups"][0]["id"]
        fill(docker, image, home, "echo newer > /v/newer; chown -R 1000:100 /v")
        newer = listing(docker, image, home)

        caller = threading.Thread(target=lambda: call_surviving(lambda: restore(hub, username, backup_id)))
        caller.start()
        restoring = lambda: [c for c in helpers(docker) if c["Labels"].get("resettable-spawner.helper") == "restore"]
        hub.wait_for(restoring, timeout=60, interval=0.05)
        time.sleep(0.5)
        assert restoring(), "the restore finished before the kill; make the volume bigger"
        hub.kill()
        caller.join(30)
        replaced = [b for b in backups_of(docker, home) if b != backup_id]
        assert len(replaced) == 1  # the content the restore was replacing, complete

        hub.start()
        body = status(hub, username)
        assert body["interrupted_restore"]["backup"] == backup_id
        assert body["interrupted_restore"]["replaced_backup"] == replaced[0]
        # Starting is refused, with a clear message, and no container is made.
        r = hub.api("POST", f"/users/{quote(username)}/server")
        assert r.status_code == 409, r.text
        assert "interrupted" in r.json()["message"]
        assert hub.server_model(username) is None
        # Neither backup is lost.
        assert set(backups_of(docker, home)) == {backup_id, replaced[0]}
        assert {b["id"] for b in body["backups"]} == {backup_id, replaced[0]}

        # Retrying the restore finishes it, without backing up the half-restored content.
        r = restore(hub, username, backup_id)
        assert r.status_code == 200, r.text
        assert r.json()["replaced_backup"]["id"] == replaced[0]
        assert listing(docker, image, home) == original
        assert set(backups_of(docker, home)) == {backup_id, replaced[0]}
        assert status(hub, username)["interrupted_restore"] is None
        # And the replaced content can still be restored (the undo).
        assert restore(hub, username, replaced[0]).status_code == 200
        assert listing(docker, image, home) == newer
        hub.start_server(username)
        hub.stop_server(username)
    finally:
        hub.stop()
        cleanup_docker(docker)
