"""The engine fails: a real dockerd SIGKILLed or SIGSTOPped while a restart, a backup or a
restore runs.

One throwaway dockerd (tests/support/dockerd.py: its own socket, data root, exec root
and bridge) and the hubs on it for the whole module, so killing it disturbs no other
test. Run on one JupyterHub version only (this venv's). Each test leaves the engine
running and answering (the ``faults`` fixture), whatever happened.

Asserted: the request answers a clear 503 (or 502) JSON error, never a 500 and never a
hang, within its bound; the hub serves other users meanwhile; no data is lost; once
dockerd is back the sweep removes the leftovers, the hub's view matches Docker's and a
retry works. Backups by move are held between two steps (RS_PAUSE_AT) on a second hub
while dockerd is SIGKILLed: each tree then lies in exactly one place. The timings
reported in the README come from benchmarks/bench_engine_faults.py, not from these tests.
"""

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.e2e.test_move_crash import places_of
from tests.integration.test_backups import reset, restore, status, vol
from tests.support.dockerd import ThrowawayDockerd
from tests.support.dockerutil import container_of, volume_names
from tests.support.hubproc import HubProcess, cleanup_docker, quote
from tests.support.volumes import backups_of, fill, fill_big, helpers, listing

RESTART_TIMEOUT = 6
HTTP_TIMEOUT = 30
CALL_TIMEOUT = 5  # docker_call_timeout of this hub
SLACK = 3  # seconds of scheduling on a busy 2-core machine
FREEZE = 30


def no_such_backup(user):
    """A well-formed backup id: finding out that it does not exist takes a Docker call."""
    return vol(user, "home") + ".backup-20260101T000000Z-00000000"


@pytest.fixture(scope="module")
def engine(image):
    """The throwaway dockerd, with the single-user image copied in (once for the module)."""
    d = ThrowawayDockerd()
    try:
        d.start()
        d.load_image(image)
        yield d
    finally:
        d.stop()


@pytest.fixture(scope="module")
def fault_hub(tmp_path_factory, engine, image):
    hub = HubProcess(
        tmp_path_factory.mktemp("fault-hub"),
        image,
        name="fault-hub",
        # Its containers reach the hub on the throwaway bridge.
        env={"RS_HUB_CONNECT_IP": engine.gateway},
        docker_url=engine.url,
        restart_timeout=RESTART_TIMEOUT,
        http_timeout=HTTP_TIMEOUT,
        docker_call_timeout=CALL_TIMEOUT,
        backup_prune_interval=2,
        # Copies, not moves (well under a second): the kills must land mid-copy.
        backup_by_move=0,
    )
    try:
        hub.start()
        yield hub
    finally:
        engine.thaw()
        hub.stop()
        cleanup_docker(engine.client)


@pytest.fixture(scope="module")
def move_fault_hub(tmp_path_factory, engine, image):
    """A second hub on the throwaway engine, with backups by move (the default): its pause
    points (RS_PAUSE_AT) hold it between two steps of a move while the engine is killed."""
    workdir = tmp_path_factory.mktemp("move-fault-hub")
    hub = HubProcess(
        workdir,
        image,
        name="move-fault-hub",
        env={"RS_HUB_CONNECT_IP": engine.gateway, "RS_RESUME_FILE": str(workdir / "resume")},
        docker_url=engine.url,
        http_timeout=HTTP_TIMEOUT,
        docker_call_timeout=CALL_TIMEOUT,
        backup_prune_interval=2,
    )
    hub.resume_file = workdir / "resume"
    try:
        hub.start()
        yield hub
    finally:
        hub.resume_file.touch()
        hub.stop()


@pytest.fixture
def faults(engine):
    """The engine for one test; afterwards it runs and answers again, whatever the test did."""
    yield engine
    if engine.proc.poll() is not None:
        engine.start()
    else:
        engine.thaw()


# --- helpers ------------------------------------------------------------------------

_background = ThreadPoolExecutor(8)


def timed(call):
    """Start call() on a thread; its future gives (response or exception, seconds)."""

    def run():
        tic = time.monotonic()
        try:
            result = call()
        except Exception as e:
            result = e
        return result, time.monotonic() - tic

    return _background.submit(run)


def action(hub, method, user, what, **kwargs):
    return hub.api(method, f"/users/{quote(user)}/{what}", timeout=120, **kwargs)


def assert_clear_error(response, codes=(503,)):
    """A JSON error for users: the expected status, a message, no internals."""
    assert isinstance(response, httpx.Response), response
    assert response.status_code in codes, response.text
    body = response.json()
    assert body["status"] == response.status_code
    message = body["message"]
    assert message
    for internal in ("sock", "/tmp/", "Traceback", "http+docker", "Errno"):
        assert internal not in message, message


def assert_serves_others(hub, other):
    """The hub answers requests that need no Docker call, for someone else, at once."""
    tic = time.monotonic()
    r = hub.api("GET", f"/users/{quote(other)}", timeout=10)
    assert r.status_code == 200, r.text
    assert hub.api("GET", "/", timeout=10).status_code == 200
    assert time.monotonic() - tic < SLACK


def container_running(engine, hub, user):
    try:
        c = container_of(engine.client, hub, user)
    except Exception:  # docker.errors.NotFound
        return False
    return c.status == "running"


def hub_says_running(hub, user):
    return bool((hub.server_model(user) or {}).get("ready"))


def wait_converged(hub, engine, user, timeout=30):
    """Until the hub's view of the server is Docker's, and stays so over a few polls."""
    agree = lambda: hub_says_running(hub, user) == container_running(engine, hub, user)  # noqa: E731
    hub.wait_for(agree, timeout, interval=0.5)
    time.sleep(3)
    assert agree()
    return container_running(engine, hub, user)


def backed_up_then_changed(hub, engine, image, user, filler):
    """A home filled by filler(), reset with a backup, then given newer content:
    (home, its first tree, the backup's id, the newer tree)."""
    hub.create_user(user)
    home = vol(user, "home")
    filler(engine.client, image, home)
    first = listing(engine.client, image, home)
    r = reset(hub, user)
    assert r.status_code == 200, r.text
    (backup,) = r.json()["backups"]
    fill(engine.client, image, home, "echo newer > /v/newer; chown -R 1000:100 /v")
    return home, first, backup["id"], listing(engine.client, image, home)


def helper_leftovers(engine):
    """This hub's helper containers on the throwaway engine (each marks a partial backup)."""
    return helpers(engine.client)


# --- dockerd SIGKILLed --------------------------------------------------------------


def test_engine_killed_in_the_stop_phase_of_a_restart(fault_hub, faults, username):
    hub, engine = fault_hub, faults
    other = hub.create_user(username + "-other")
    hub.create_user(username)
    hub.start_server(username)
    c = container_of(engine.client, hub, username)
    c.kill(signal="SIGSTOP")  # ignores SIGTERM: the stop waits out restart_timeout

    answer = timed(lambda: action(hub, "POST", username, "restart-server"))
    hub.wait_for(lambda: status(hub, username)["state"] == "restarting", 10, interval=0.1)
    time.sleep(1)
    engine.kill()

    r, seconds = answer.result(RESTART_TIMEOUT + HTTP_TIMEOUT)
    assert_clear_error(r)
    assert seconds < RESTART_TIMEOUT + HTTP_TIMEOUT
    # While dockerd is down: the hub serves others, needs-Docker requests are a quick
    # 503, and the server is not torn down on polls that get no answer.
    assert_serves_others(hub, other)
    r, seconds = timed(lambda: action(hub, "GET", username, "home-volume")).result(60)
    assert_clear_error(r)
    assert seconds < SLACK
    time.sleep(2)
    assert hub.server_model(username) is not None

    engine.start()
    running = wait_converged(hub, engine, username)
    assert not helper_leftovers(engine)
    # Retry: start it if dockerd's restart stopped it (it does without live-restore),
    # then the restart works, on the same container.
    if not running:
        hub.start_server(username)
    r = action(hub, "POST", username, "restart-server")
    assert r.status_code == 200, r.text
    assert r.json()["container_id"] == c.id
    assert hub.route_status(username) == 200
    hub.stop_server(username)


def test_engine_killed_during_a_backup_copy(fault_hub, faults, image, username):
    hub, engine = fault_hub, faults
    other = hub.create_user(username + "-other")
    hub.create_user(username)
    home = vol(username, "home")
    fill_big(engine.client, image, home)
    before = listing(engine.client, image, home)

    answer = timed(lambda: reset(hub, username))
    hub.wait_for(lambda: helpers(engine.client) and backups_of(engine.client, home), 30, interval=0.05)
    time.sleep(0.5)
    assert helpers(engine.client), "the copy finished before the kill; make the volume bigger"
    partial = backups_of(engine.client, home)
    engine.kill()

    r, seconds = answer.result(RESTART_TIMEOUT + HTTP_TIMEOUT)
    assert_clear_error(r)
    assert_serves_others(hub, other)

    engine.start()
    # The sweep (every 2 s here) removes the helper and the partial backup; the
    # original is untouched, and no backup is listed meanwhile.
    assert status(hub, username)["backups"] == []
    hub.wait_for(lambda: not helper_leftovers(engine) and not backups_of(engine.client, home), 30, interval=0.5)
    assert not (set(partial) & volume_names(engine.client))
    assert listing(engine.client, image, home) == before
    assert not hub_says_running(hub, username) and not container_running(engine, hub, username)

    r = reset(hub, username)
    assert r.status_code == 200, r.text
    (made,) = r.json()["backups"]
    assert restore(hub, username, made["id"]).status_code == 200
    assert listing(engine.client, image, home) == before


def test_engine_killed_during_a_restore(fault_hub, faults, image, username):
    hub, engine = fault_hub, faults
    home, original, backup_id, newer = backed_up_then_changed(hub, engine, image, username, fill_big)

    restoring = lambda: [  # noqa: E731
        h for h in helpers(engine.client) if h["Labels"].get("resettable-spawner.helper") == "restore"
    ]
    answer = timed(lambda: restore(hub, username, backup_id))
    hub.wait_for(restoring, 60, interval=0.05)
    time.sleep(0.5)
    assert restoring(), "the restore finished before the kill; make the volume bigger"
    engine.kill()

    r, seconds = answer.result(RESTART_TIMEOUT + HTTP_TIMEOUT)
    assert_clear_error(r)

    engine.start()
    # As after a hub crash: the half-restored volume is known, starting is refused,
    # neither backup is lost.
    body = status(hub, username)
    assert body["interrupted_restore"]["backup"] == backup_id
    replaced = body["interrupted_restore"]["replaced_backup"]
    assert set(backups_of(engine.client, home)) == {backup_id, replaced}
    r = hub.api("POST", f"/users/{quote(username)}/server")
    assert r.status_code == 409, r.text
    assert "interrupted" in r.json()["message"]
    assert hub.server_model(username) is None
    hub.wait_for(lambda: not helper_leftovers(engine), 30, interval=0.5)

    # The retry finishes it, without backing up the half-restored content.
    r = restore(hub, username, backup_id)
    assert r.status_code == 200, r.text
    assert r.json()["replaced_backup"]["id"] == replaced
    assert listing(engine.client, image, home) == original
    assert status(hub, username)["interrupted_restore"] is None
    assert restore(hub, username, replaced).status_code == 200  # the undo still works
    assert listing(engine.client, image, home) == newer
    hub.start_server(username)
    hub.stop_server(username)


# --- dockerd SIGKILLed between two steps of a move ----------------------------------


def engine_killed_at(hub, engine, point, request):
    """request() on a thread; at point the hub pauses, dockerd is SIGKILLed, the hub goes on
    (its next step meets a dead engine). Returns the answer; dockerd is started again."""
    hub.stop()  # again with the pause armed
    hub.resume_file.unlink(missing_ok=True)
    hub.env["RS_PAUSE_AT"] = point
    hub.start()
    before = hub.log().count(f"RS-PAUSED {point}")
    answer = timed(request)
    hub.wait_for(lambda: hub.log().count(f"RS-PAUSED {point}") > before, 60, interval=0.05)
    engine.kill()
    hub.resume_file.touch()
    r, seconds = answer.result(HTTP_TIMEOUT + 30)
    assert_clear_error(r, codes=(502, 503))
    assert seconds < CALL_TIMEOUT + HTTP_TIMEOUT
    engine.start()
    # The periodic sweep (every 2 s here), in the same hub process, without a restart.
    hub.wait_for(lambda: not helper_leftovers(engine), 60, interval=0.5)
    assert "Backups by move: on" in hub.log()
    return r


@pytest.mark.parametrize("point", ["after-wait-move", "before-remove-volume"])
def test_engine_killed_between_two_steps_of_a_reset_by_move(move_fault_hub, faults, image, username, point):
    hub, engine = move_fault_hub, faults
    hub.create_user(username)
    fill(engine.client, image, vol(username, "home"))
    tree = listing(engine.client, image, vol(username, "home"))

    engine_killed_at(hub, engine, point, lambda: reset(hub, username))

    # Each byte in exactly one place: the volume, or one complete backup.
    places = places_of(engine.client, image, username, tree)
    assert len(places) == 1, f"after an engine kill at {point} the tree is in {places}"
    # Killed after the move: the sweep moved the data back. Killed once the backup was
    # complete: it stays there, and the retry removes the emptied volume.
    assert (places == ["volume"]) == (point == "after-wait-move"), places
    # Retried, the reset ends as without the fault: no volume, the tree in one listed backup.
    r = reset(hub, username)
    assert r.status_code == 200, r.text
    places = places_of(engine.client, image, username, tree)
    assert len(places) == 1 and places[0] != "volume", places
    assert places[0] in [b["id"] for b in status(hub, username)["backups"]]
    assert not helper_leftovers(engine)


@pytest.mark.parametrize("point", ["after-wait-move", "after-wait-restore"])
def test_engine_killed_between_two_steps_of_a_restore_by_move(move_fault_hub, faults, image, username, point):
    hub, engine = move_fault_hub, faults
    home, old, first, current = backed_up_then_changed(hub, engine, image, username, fill)

    engine_killed_at(hub, engine, point, lambda: restore(hub, username, first))

    for tree in (old, current):
        places = places_of(engine.client, image, username, tree)
        assert len(places) == 1, f"after an engine kill at {point} a tree is in {places}"
    # Killed after the current content moved out: the sweep moved it back. Killed after the
    # backup's data moved in: it stays, and the restore is recorded as interrupted.
    if point == "after-wait-move":
        assert places_of(engine.client, image, username, current) == ["volume"]
        assert status(hub, username)["interrupted_restore"] is None
    else:
        assert places_of(engine.client, image, username, old) == ["volume"]
        assert status(hub, username)["interrupted_restore"]["backup"] == first
    # A restore the fault cut short blocks the start until it is retried; retried, it
    # ends as without the fault: the old tree in the volume, the current one in a backup.
    if status(hub, username)["interrupted_restore"]:
        r = hub.api("POST", f"/users/{quote(username)}/server")
        assert r.status_code == 409, r.text
    if places_of(engine.client, image, username, old) != ["volume"] or status(hub, username)["interrupted_restore"]:
        r = restore(hub, username, first)
        assert r.status_code == 200, r.text
    assert places_of(engine.client, image, username, old) == ["volume"]
    (holder,) = places_of(engine.client, image, username, current)
    assert holder != "volume" and holder in [b["id"] for b in status(hub, username)["backups"]]
    assert status(hub, username)["interrupted_restore"] is None
    hub.start_server(username)
    hub.stop_server(username)


# --- dockerd SIGSTOPped -------------------------------------------------------------


def needs_docker_requests(hub, running, stopped):
    """One of each request kind that needs a Docker call, all at once."""
    return [
        timed(lambda: action(hub, "POST", running, "restart-server")),
        timed(lambda: action(hub, "GET", running, "home-volume")),
        timed(lambda: action(hub, "DELETE", stopped, "reset-home-volume")),
        timed(lambda: action(hub, "DELETE", stopped, "home-volume-backups/" + quote(no_such_backup(stopped)))),
    ]


def assert_bounded_503s(futures):
    for future in futures:
        r, seconds = future.result(CALL_TIMEOUT + 60)
        assert_clear_error(r)
        assert seconds < CALL_TIMEOUT + SLACK, f"{r.request.method} {r.request.url.path}: {seconds:.1f}s"


def test_engine_frozen_for_30_seconds(fault_hub, faults, username):
    hub, engine = fault_hub, faults
    stopped = hub.create_user(username + "-stopped")
    engine.client.volumes.create(vol(stopped, "home"))
    hub.create_user(username)
    started = hub.start_server(username)
    c = container_of(engine.client, hub, username)

    engine.freeze()
    frozen_at = time.monotonic()
    # The hub's own API, which needs no Docker call, answers all along.
    with httpx.Client(base_url=hub.url, headers={"Authorization": f"token {hub.admin_token}"}, timeout=10) as http:
        first = needs_docker_requests(hub, username, stopped)
        while time.monotonic() - frozen_at < FREEZE / 2:
            r = http.get(f"/hub/api/users/{quote(username)}")
            assert r.status_code == 200 and r.elapsed.total_seconds() < SLACK
            time.sleep(0.05)
        assert_bounded_503s(first)
        # Later calls queue behind the stuck ones on DockerSpawner's shared thread, and
        # are still answered within the bound.
        assert_bounded_503s(needs_docker_requests(hub, username, stopped))
        # Polls that got no answer did not tear the server down.
        assert hub_says_running(hub, username)
        time.sleep(max(0.0, FREEZE - (time.monotonic() - frozen_at)))
    engine.thaw()

    # Everything resumes, without a hub restart.
    hub.wait_for(lambda: action(hub, "GET", username, "home-volume").status_code == 200, CALL_TIMEOUT + 30)
    model = hub.server_model(username)
    assert model["ready"] and model["started"] == started["started"]
    c.reload()
    assert c.status == "running"
    r = action(hub, "POST", username, "restart-server")
    assert r.status_code == 200, r.text
    assert r.json()["container_id"] == c.id
    assert hub.route_status(username) == 200
    r = action(hub, "DELETE", stopped, "reset-home-volume")
    assert r.status_code == 200, r.text
    assert not helper_leftovers(engine)
    hub.stop_server(username)


def test_hub_restarted_while_the_engine_is_frozen(fault_hub, faults, username):
    """At start-up JupyterHub tears down every server whose poll raises: an engine that
    does not answer must not cost every user their server."""
    hub, engine = fault_hub, faults
    hub.create_user(username)
    started = hub.start_server(username)
    c = container_of(engine.client, hub, username)

    engine.freeze()
    hub.kill()
    hub.start(timeout=90)
    model = hub.server_model(username)
    assert model and model["ready"] and model["started"] == started["started"]
    assert "taking the server as running" in hub.log()
    engine.thaw()

    hub.wait_for(lambda: action(hub, "GET", username, "home-volume").status_code == 200, CALL_TIMEOUT + 30)
    time.sleep(3)  # a few polls, now answered
    assert hub_says_running(hub, username)
    c.reload()
    assert c.status == "running"
    assert hub.route_status(username) == 200
    r = action(hub, "POST", username, "restart-server")
    assert r.status_code == 200, r.text
    hub.stop_server(username)
