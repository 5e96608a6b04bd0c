"""The swarm's pure builders (resettable_spawner/swarm_objects.py), without a swarm."""

import datetime
import time

import pytest
from docker.types import DriverConfig, Mount

from resettable_spawner.swarm_objects import (
    HELPER_NAME_LABEL,
    NODE_LABEL,
    helper_from_service,
    helper_job_spec,
    generation,
    helper_service_name,
    job_outcome,
    newest_task,
    node_local_volumes,
    node_problem,
    parse_docker_time,
    pinned_node,
    server_description,
    service_mounts,
    task_address,
    task_verdict,
    update_kwargs,
    with_pin,
)


def iso(seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + ".123456789Z"


def task(state, created, node="n1", exit_code=None, task_id=None, ports=()):
    status = {"State": state, "PortStatus": {"Ports": list(ports)}}
    if exit_code is not None:
        status["ContainerStatus"] = {"ExitCode": exit_code}
    return {"ID": task_id or f"t-{state}-{created}", "CreatedAt": iso(created), "NodeID": node, "Status": status}


def node(state="ready", availability="active", addr="10.0.0.2", hostname="node2"):
    return {
        "ID": "n2",
        "Status": {"State": state, "Addr": addr},
        "Spec": {"Availability": availability},
        "Description": {"Hostname": hostname},
    }


def test_docker_times_with_nanoseconds_and_offsets():
    base = datetime.datetime(2026, 12, 2, 3, 25, 43, tzinfo=datetime.timezone.utc).timestamp()
    assert parse_docker_time("2026-12-02T03:25:43.123456789Z") == pytest.approx(base + 0.123456789)
    assert parse_docker_time("2026-12-02T04:25:43+01:00") == pytest.approx(base)
    assert parse_docker_time("garbage") is None
    assert parse_docker_time(None) is None


def test_the_newest_task_decides_whatever_order_swarm_lists_them_in():
    old = task("shutdown", 100)
    new = task("ready", 200)
    assert newest_task([old, new]) is new
    assert newest_task([new, old]) is new
    assert newest_task([]) is None


def test_tasks_on_their_way_and_running_count_as_running():
    now = 1000
    for state in ("new", "pending", "assigned", "accepted", "preparing", "ready", "starting", "running"):
        assert task_verdict(task(state, now - 1), node(), now, 60) is None, state


@pytest.mark.parametrize("state", ["complete", "failed", "shutdown", "rejected", "orphaned"])
def test_ended_tasks_are_not_running(state):
    verdict = task_verdict(task(state, 0, exit_code=3 if state == "failed" else None), node(), 10, 60)
    assert verdict and state in verdict
    if state == "failed":
        assert "exit code 3" in verdict


def test_a_task_on_a_node_marked_down_is_not_running_whatever_it_last_said():
    verdict = task_verdict(task("running", 0), node(state="down"), 10, 60)
    assert verdict == "its node node2 is down"


def test_a_task_pending_beyond_the_bound_is_not_running():
    t = task("pending", 100, node="")
    assert task_verdict(t, None, 100 + 59, 60) is None
    assert "pending for more than 60s" in task_verdict(t, None, 100 + 61, 60)


def test_a_pending_task_pinned_to_an_unusable_node_is_not_running_at_once():
    t = task("pending", 100, node="")
    assert "pinned to node node2, which is drained" in task_verdict(t, node(availability="drain"), 101, 60)
    assert task_verdict(t, node(), 101, 60) is None


def test_no_task_is_not_running():
    assert task_verdict(None, None, 0, 60)


def test_node_problems():
    assert node_problem(node()) is None
    assert node_problem(node(state="down")) == "down"
    assert node_problem(node(availability="drain")) == "drained"
    assert node_problem(node(availability="pause")) == "pause"
    assert node_problem(None) == "no longer in the swarm"


def test_host_mode_address_is_the_nodes_address_and_the_tasks_port():
    t = task("running", 0, ports=[{"TargetPort": 8888, "PublishedPort": 32771, "PublishMode": "host"}])
    assert task_address(t, node(addr="172.23.0.2"), 8888) == ("172.23.0.2", 32771)
    assert task_address(t, node(), 8000) is None
    assert task_address(task("running", 0), node(), 8888) is None


def test_pins_replace_any_other_node_id_pin_and_keep_the_rest():
    assert with_pin(None, "abc") == ["node.id==abc"]
    assert with_pin(["node.role==worker", "node.id == old"], "abc") == ["node.role==worker", "node.id==abc"]
    assert with_pin(["node.id==old"], "") == []
    assert pinned_node(["node.role==worker", "node.id==abc"]) == "abc"
    assert pinned_node(["node.hostname==x"]) is None


def test_named_volumes_are_volume_mounts_and_host_paths_binds():
    binds = {
        "alice-home": {"bind": "/home/jovyan", "mode": "rw"},
        "/srv/shared": {"bind": "/shared", "mode": "ro"},
    }
    extra = Mount("/data", "alice-data", type="volume")
    mounts = service_mounts(binds, [extra], DriverConfig("local", {"type": "nfs"}))
    home, shared, data = mounts
    assert (home["Type"], home["Source"], home["Target"], home["ReadOnly"]) == ("volume", "alice-home", "/home/jovyan", False)
    assert home["VolumeOptions"]["DriverConfig"] == {"Name": "local", "Options": {"type": "nfs"}}
    assert (shared["Type"], shared["ReadOnly"]) == ("bind", True)
    assert "VolumeOptions" not in shared
    assert data is extra


def test_only_per_user_local_volumes_need_a_pin():
    plain = Mount("/home/jovyan", "alice-home", type="volume")
    nfs = Mount("/work", "alice-work", type="volume", driver_config=DriverConfig("local", {"type": "nfs", "o": "addr=x"}))
    plugin = Mount("/cache", "alice-cache", type="volume", driver_config=DriverConfig("rexray"))
    shared = Mount("/shared", "shared-data", type="volume")
    bind = Mount("/srv", "/srv/alice", type="bind")
    mounts = [plain, nfs, plugin, shared, bind]
    names = {"alice-home", "alice-work", "alice-cache", "/srv/alice"}
    assert node_local_volumes(mounts, names) == ["alice-home"]
    assert node_local_volumes([nfs, plugin], names) == []


def test_updates_keep_the_spec_and_change_only_what_is_asked():
    spec = {
        "Name": "jupyter-alice",
        "Labels": {"a": "b"},
        "Mode": {"Replicated": {"Replicas": 1}},
        "TaskTemplate": {"ContainerSpec": {"Image": "img"}, "Placement": {"Constraints": ["x==y"]}, "ForceUpdate": 2},
        "EndpointSpec": {"Ports": [{"TargetPort": 8888, "PublishMode": "host"}]},
    }
    scaled = update_kwargs(spec, replicas=0)
    assert scaled["mode"] == {"Replicated": {"Replicas": 0}}
    assert scaled["task_template"] == spec["TaskTemplate"]
    assert (scaled["name"], scaled["labels"], scaled["endpoint_spec"]) == ("jupyter-alice", {"a": "b"}, spec["EndpointSpec"])
    pinned = update_kwargs(spec, constraints=["node.id==n2"])
    assert pinned["task_template"]["Placement"]["Constraints"] == ["node.id==n2"]
    assert pinned["mode"] == spec["Mode"]
    assert update_kwargs(spec, force=3)["task_template"]["ForceUpdate"] == 3
    assert generation(spec) == 2
    assert generation({"Spec": {"ForceUpdate": 5}}) == 5, "a task's spec"
    assert generation({"TaskTemplate": {}}) == 0
    assert spec["TaskTemplate"]["Placement"]["Constraints"] == ["x==y"], "the spec itself is not changed"


def test_a_service_in_a_containers_shape():
    service = {"ID": "s1", "Spec": {"Name": "jupyter-alice", "TaskTemplate": {"ContainerSpec": {"Env": ["A=1"]}}}}
    running = server_description(service, task("running", 0, task_id="t1"))
    assert (running["Id"], running["Name"], running["NodeID"], running["TaskID"]) == ("s1", "jupyter-alice", "n1", "t1")
    assert running["State"]["Running"] and running["State"]["Status"] == "running"
    assert running["Config"]["Env"] == ["A=1"]
    assert running["HostConfig"] == {}
    starting = server_description(service, task("preparing", 0))["State"]
    assert not starting["Running"] and starting["Restarting"], "a task on its way holds the volumes soon"
    failed = server_description(service, task("failed", 0, exit_code=3))["State"]
    assert (failed["Running"], failed["Status"], failed["ExitCode"]) == (False, "exited", 3)
    none = server_description(service, None)
    assert not none["State"]["Running"] and none["NodeID"] is None


def test_helper_jobs_run_once_as_root_on_their_node():
    mounts = [Mount("/host/volume", "alice-home", type="volume", read_only=True)]
    spec = helper_job_spec("alice-home.backup-20261202T000000Z-abcd", "img", ["/bin/sh", "-c", "S", "sh", "volume"],
                           mounts, {"k": "v"}, "n2")
    assert spec["mode"] == {"ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 1}}
    template = spec["task_template"]
    c = template["ContainerSpec"]
    assert (c["Command"], c["Args"], c["User"], c["Dir"]) == (["/bin/sh"], ["-c", "S", "sh", "volume"], "0:0", "/")
    assert c["Mounts"] == mounts
    assert template["RestartPolicy"]["Condition"] == "none"
    assert template["Placement"]["Constraints"] == ["node.id==n2"]
    assert spec["labels"] == {"k": "v", HELPER_NAME_LABEL: "alice-home.backup-20261202T000000Z-abcd", NODE_LABEL: "n2"}
    assert c["Labels"] == spec["labels"]


def test_helper_service_names_are_valid_and_stable():
    long = "x" * 200 + ".backup-20261202T000000Z-abcd"
    name = helper_service_name(long)
    assert len(name) <= 63 and "." not in name
    assert name == helper_service_name(long) != helper_service_name(long + "x")


def test_helpers_are_listed_by_their_own_name():
    service = {"ID": "s", "CreatedAt": iso(100), "Spec": {"Name": "rs-helper-x", "Labels": {HELPER_NAME_LABEL: "h"}}}
    assert helper_from_service(service) == {
        "id": "s", "name": "h", "labels": {HELPER_NAME_LABEL: "h"}, "created": pytest.approx(100.123456789)
    }


def test_job_outcomes():
    assert job_outcome(None) == (False, None)
    assert job_outcome(task("running", 0)) == (False, None)
    assert job_outcome(task("complete", 0, exit_code=0)) == (True, 0)
    assert job_outcome(task("failed", 0, exit_code=5)) == (True, 5)
    assert job_outcome(task("rejected", 0)) == (True, None)
