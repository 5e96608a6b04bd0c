"""The bulk restart's pure parts (resettable_spawner/bulk.py): the request, the states and
counts, the notice board, and the order of a run's steps (with stand-in servers: the
real restarts are tests/integration/test_bulk.py's)."""

import asyncio
import logging
import time

import pytest

from resettable_spawner import bulk
from resettable_spawner.bulk import (
    FINAL,
    STATES,
    BulkRestarts,
    NoticeBoard,
    Target,
    bulk_model,
    counts,
    live_state,
    parse_request,
    server_ref,
    skip_reason,
    state_after,
)
from resettable_spawner.errors import BadRequest, WrongServerState


def test_servers_and_notice():
    r = parse_request({"servers": ["alice", "bob/nb"], "notice_seconds": 20})
    assert r.servers == (("alice", ""), ("bob", "nb"))
    assert not r.all_running and r.notice_seconds == 20
    assert [server_ref(*s) for s in r.servers] == ["alice", "bob/nb"]


def test_all_running_without_notice():
    r = parse_request({"all_running": True})
    assert r.all_running and r.servers == () and r.notice_seconds == 0


@pytest.mark.parametrize(
    "body, says",
    [
        (None, "request body must be"),
        ([], "request body must be"),
        ("alice", "request body must be"),
        ({}, "either"),
        ({"servers": ["a"], "all_running": True}, "either"),
        ({"servers": ["a"], "force": True}, "Unknown field 'force'"),
        ({"all_running": False}, "must be true"),
        ({"all_running": 1}, "must be true"),
        ({"servers": []}, "list of 1 to 1000"),
        ({"servers": "alice"}, "list of 1 to 1000"),
        ({"servers": ["u%d" % i for i in range(1001)]}, "list of 1 to 1000"),
        ({"servers": [""]}, "is not"),
        ({"servers": ["alice/"]}, "is not"),
        ({"servers": ["/nb"]}, "is not"),
        ({"servers": ["a/b/c"]}, "is not"),
        ({"servers": [3]}, "is not"),
        ({"servers": [None]}, "is not"),
        ({"servers": ["alice", "alice"]}, "listed twice"),
        ({"servers": ["a"], "notice_seconds": -1}, "whole number from 0 to 3600"),
        ({"servers": ["a"], "notice_seconds": 3601}, "whole number from 0 to 3600"),
        ({"servers": ["a"], "notice_seconds": 2.5}, "whole number"),
        ({"servers": ["a"], "notice_seconds": 5.0}, "whole number"),
        ({"servers": ["a"], "notice_seconds": True}, "whole number"),
        ({"servers": ["a"], "notice_seconds": "10"}, "whole number"),
    ],
)
def test_bad_bodies_are_400s_with_a_reason(body, says):
    with pytest.raises(BadRequest) as e:
        parse_request(body)
    assert e.value.status_code == 400
    assert says in e.value.message


def test_a_long_bad_name_is_cut_in_the_message():
    with pytest.raises(BadRequest) as e:
        parse_request({"servers": ["x" * 500 + "/a/b"]})
    assert len(e.value.message) < 150


def test_states_and_counts():
    assert set(FINAL) < set(STATES)
    c = counts(["done", "done", "forbidden", "queued"])
    assert c == dict(waiting=0, noticed=0, queued=1, restarting=0, done=2, failed=0, forbidden=1, skipped=0)
    assert list(c) == list(STATES)
    assert live_state("restarting", queued=True) == "queued"
    assert live_state("restarting", queued=False) == "restarting"
    assert live_state("done", queued=True) == "done"


@pytest.mark.parametrize(
    "status, state",
    [(200, "done"), (403, "forbidden"), (400, "skipped"), (404, "skipped"), (409, "skipped"),
     (429, "skipped"), (500, "failed"), (502, "failed"), (503, "failed")],
)
def test_state_after_the_status_a_single_restart_would_answer(status, state):
    assert state_after(status) == state


def test_only_running_servers_restart():
    assert skip_reason("running") is None
    assert skip_reason("stopped")[0] == "wrong-state"
    assert skip_reason("pending")[0] == "wrong-state"
    for busy in ("restarting", "queued", "resetting", "restoring"):
        assert skip_reason(busy)[0] == "in-progress", busy


def test_model_counts_live_states():
    bulks = BulkRestarts()
    b = bulks.new("admin", [Target("a", ""), Target("b", "nb"), Target("c", "")], 30)
    b.targets[0].state = "restarting"
    b.targets[2].end("forbidden", "forbidden", "You are not allowed to restart this server.")
    model = bulk_model(b, queued={("a", "")})
    assert model["id"] == b.id and bulks.get(b.id) is b
    assert [s["name"] for s in model["servers"]] == ["a", "b/nb", "c"]
    assert [s["state"] for s in model["servers"]] == ["queued", "waiting", "forbidden"]
    assert model["counts"]["queued"] == 1 and model["counts"]["waiting"] == 1
    assert model["finished"] is False and model["duration_seconds"] is None
    assert model["notice_seconds"] == 30 and model["requested_by"] == "admin"
    assert model["restart_at"] > model["created"]


def test_old_finished_bulks_are_forgotten_first():
    bulks = BulkRestarts(keep=2)
    running = bulks.new("admin", [Target("a", "")], 0)
    done = []
    for _ in range(3):
        b = bulks.new("admin", [Target("a", "")], 0)
        b.targets[0].end("done")
        done.append(b)
    assert bulks.get(running.id) is running  # never forgotten while it runs
    assert bulks.get(done[0].id) is None
    assert bulks.get(done[-1].id) is done[-1]


def test_notice_board_keeps_the_end_for_a_while():
    board = NoticeBoard(keep_seconds=10)
    b = BulkRestarts().new("admin", [Target("a", "")], 20)
    t = b.targets[0]
    now = time.monotonic()
    assert board.read(t.key, now) is None
    board.post(b, t)
    t.state = "noticed"
    notice = board.read(t.key, now)
    assert notice["state"] == "noticed" and notice["bulk"] == b.id
    assert 19 <= notice["seconds_left"] <= 20
    t.end("done")
    board.ended(b, t, now)
    assert board.read(t.key, now + 9)["state"] == "done"
    assert board.read(t.key, now + 11) is None


def test_ends_nobody_read_are_dropped_when_the_next_notice_is_posted():
    board = NoticeBoard(keep_seconds=10)
    bulks = BulkRestarts()
    old = bulks.new("admin", [Target("a", "")], 0)
    board.post(old, old.targets[0], now=0)
    old.targets[0].end("done")
    board.ended(old, old.targets[0], now=0)
    new = bulks.new("admin", [Target("b", "")], 0)
    board.post(new, new.targets[0], now=11)
    assert list(board._posted) == [("b", "")]


def test_a_newer_bulk_takes_over_the_notice():
    board = NoticeBoard()
    bulks = BulkRestarts()
    first = bulks.new("admin", [Target("a", "")], 0)
    second = bulks.new("admin", [Target("a", "")], 60)
    board.post(first, first.targets[0])
    board.post(second, second.targets[0])
    board.ended(first, first.targets[0])  # the first one's end does not hide the second's notice
    assert board.read(("a", ""))["bulk"] == second.id


class Operation:
    queued = False


class StandIn:
    """A server whose restart takes a moment and may refuse, to follow the run's steps."""

    def __init__(self, name, journal, refuse=None):
        self._log_name = name
        self.journal = journal
        self.refuse = refuse
        self.operation = Operation()
        self.history = self

    def add(self, entry):
        self.journal.append(("history", self._log_name, entry["outcome"]))

    async def native_restart(self, requested_by=None):
        self.journal.append(("restart", self._log_name, requested_by, time.monotonic()))
        await asyncio.sleep(0.01)
        if self.refuse:
            raise self.refuse
        return {}


def test_run_waits_out_the_notice_then_restarts_each_once(caplog):
    journal = []
    bulks = BulkRestarts()
    b = bulks.new("admin", [Target("a", ""), Target("b", "")], 1)
    b.spawners = {("a", ""): StandIn("a", journal), ("b", ""): StandIn("b", journal, WrongServerState("stopped"))}
    tic = time.monotonic()

    async def go():
        task = asyncio.ensure_future(bulk.run(b, bulks.notices, None, logging.getLogger("t")))
        await asyncio.sleep(0.2)
        assert [t.state for t in b.targets] == ["noticed", "noticed"]
        assert bulks.notices.read(("a", ""))["state"] == "noticed"
        await task

    with caplog.at_level(logging.INFO):
        asyncio.run(go())
    restarts = [j for j in journal if j[0] == "restart"]
    assert sorted(j[1] for j in restarts) == ["a", "b"]
    assert all(j[3] - tic >= 0.99 for j in restarts)  # not before the notice ran out
    assert all(f"bulk restart {b.id}" in j[2] for j in restarts)
    assert [(t.state, t.reason) for t in b.targets] == [("done", ""), ("skipped", "wrong-state")]
    assert b.finished and bulks.notices.read(("a", ""))["state"] == "done"
    assert 1 <= bulk_model(b)["duration_seconds"] < 5
    audits = [r.getMessage() for r in caplog.records if r.getMessage().startswith("audit: restart")]
    assert len(audits) == 2 and all(f"bulk={b.id}" in a for a in audits), audits
    assert ("history", "a", "done") in journal and ("history", "b", "refused") in journal
