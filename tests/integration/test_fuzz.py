"""The API fuzzed against its OpenAPI document (resettable_spawner/rest-api.yml) with schemathesis,
on a real hub and engine (JupyterHub 6).

The requests carry the token of one test user (the fuzzer: it may act on its own servers
only). Every operation gets positive and negative cases, each with the fuzzer's own names,
with the other user's (the victim: a running server, a stopped named one, a backup) and
with generated ones. After every request:
- no 5xx, and the answer conforms to the document (status, content type, headers, body);
- negative data is refused with a 4xx;
- none of the victim's containers (id, status, start time), volumes or backups changed;
- nothing of the fuzzer's was deleted unless the request was a valid one (a 200 of a
  reset, restore or backup deletion).
Bounded: RS_FUZZ_EXAMPLES cases per operation and mode (default 25), and RS_FUZZ_SECONDS
in all (default 150; the cases left are then not sent). The counts go to
artifacts/fuzz-report.json, and the README reports them.
"""

import collections
import json
import os
import time
import uuid

import pytest
import schemathesis
from schemathesis import GenerationMode
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import resettable_spawner
from tests.support import ROOT
from tests.support.dockerutil import docker_escape
from tests.support.hubproc import PREFIX, running_hub

DOC = os.path.join(os.path.dirname(resettable_spawner.__file__), "rest-api.yml")
EXAMPLES = int(os.environ.get("RS_FUZZ_EXAMPLES", "25"))
SECONDS = float(os.environ.get("RS_FUZZ_SECONDS", "150"))
REPORT = ROOT / "artifacts" / "fuzz-report.json"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# The answers that may go with a deletion: a valid reset, restore or backup deletion.
DELETING = {"DELETE", "POST"}


@pytest.fixture(scope="module")
def hub(tmp_path_factory, docker, image):
    with running_hub(tmp_path_factory, docker, image, "fuzz-hub") as h:
        yield h


def objects_of(docker, user):
    """The user's containers (id, status, start) and volumes, backups included."""
    prefix = f"{PREFIX}-{docker_escape(user)}-"
    containers = {
        c.name: (c.id, c.attrs["State"]["Status"], c.attrs["State"]["StartedAt"])
        for c in docker.containers.list(all=True, filters={"name": prefix})
        if c.name.startswith(prefix)
    }
    volumes = {v.name for v in docker.volumes.list(filters={"name": prefix}) if v.name.startswith(prefix)}
    return containers, volumes


def make_backup(hub, user, server=""):
    path = f"/users/{user}" + (f"/servers/{server}" if server else "")
    r = hub.api("DELETE", f"{path}/reset-home-volume")
    assert r.status_code == 200, r.text
    return r.json()["backups"][0]["id"]


def test_fuzz_the_api_against_its_document(hub, docker):
    tag = uuid.uuid4().hex[:6]
    fuzzer, victim = f"fuzz-{tag}", f"victim-{tag}"
    for user in (fuzzer, victim):
        hub.create_user(user)
        hub.start_server(user, "lab")
        hub.start_server(user)
        hub.stop_server(user)
    fuzzer_backup = make_backup(hub, fuzzer)
    victim_backup = make_backup(hub, victim)
    hub.start_server(victim)  # the victim: default server running, "lab" running too, a backup
    hub.stop_server(victim, "lab")
    token = hub.user_token(fuzzer)
    victim_before = objects_of(docker, victim)

    # Unknown query parameters are ignored, as everywhere in JupyterHub's API (the page
    # sends _xsrf); OpenAPI 3.0 cannot forbid them, so negative cases do not add any.
    config = schemathesis.Config.from_str("[generation]\nallow-extra-parameters = false\n")
    schema = schemathesis.openapi.from_path(DOC, config=config)
    base_url = f"{hub.url}/hub"
    headers = {"Authorization": f"token {token}"}
    tally = collections.Counter()
    statuses = collections.defaultdict(collections.Counter)
    findings = []
    deadline = time.monotonic() + SECONDS

    def fixed(op, user, backup):
        names = {p.name for p in op.path_parameters}
        values = {"name": user, "server": "lab", "backup_id": backup, "path": "resettable-home.js"}
        return {k: v for k, v in values.items() if k in names}

    def fuzz(op, mode):
        flavours = [
            op.as_strategy(mode, path_parameters=fixed(op, fuzzer, fuzzer_backup)),
            op.as_strategy(mode, path_parameters=fixed(op, victim, victim_backup)),
            op.as_strategy(mode),
        ]

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=st.one_of(flavours))
        def one(case):
            if time.monotonic() > deadline:
                tally["not sent (time bound)"] += 1
                return
            before = objects_of(docker, fuzzer)[1]
            response = case.call(base_url=base_url, headers=headers, timeout=120)
            tally["requests"] += 1
            statuses[op.label][response.status_code] += 1
            checks = CHECKS + ([negative_data_rejection] if mode == GenerationMode.NEGATIVE else [])
            try:
                case.validate_response(response, checks=checks, headers=headers)
            except FailureGroup as group:
                for failure in group.exceptions:
                    findings.append(finding(op, mode, case, response, failure.title))
            except Failure as failure:
                findings.append(finding(op, mode, case, response, failure.title))
            if objects_of(docker, victim) != victim_before:
                findings.append(finding(op, mode, case, response, "another user's objects changed"))
            gone = before - objects_of(docker, fuzzer)[1]
            if gone and not (response.status_code == 200 and case.method.upper() in DELETING):
                findings.append(finding(op, mode, case, response, f"deleted without a valid request: {sorted(gone)}"))

        try:
            one()
        except Unsatisfiable:
            # Nothing to negate: an operation whose only inputs are path names (a name
            # that breaks its schema, an empty one, makes no URL).
            tally["operation and mode without a case"] += 1

    tic = time.monotonic()
    for result in schema.get_all_operations():
        op = result.ok()
        if not op.path.startswith("/api/"):
            # The maintenance page and the static files are HTML and files, not the API:
            # the document lists them for the route check, and no input of theirs is refused.
            tally["pages and files not fuzzed"] += 1
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz(op, mode)
    tally["seconds"] = round(time.monotonic() - tic, 1)

    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(
        json.dumps(
            {
                "schemathesis": schemathesis.__version__,
                "examples_per_operation_and_mode": EXAMPLES,
                "time_bound_seconds": SECONDS,
                **tally,
                "findings": findings,
                "statuses": {label: dict(sorted(c.items())) for label, c in statuses.items()},
            },
            indent=2,
        )
    )
    assert tally["requests"] >= 100, tally
    assert findings == [], json.dumps(findings[:10], indent=2)
    # The victim's running server still answers, untouched.
    assert hub.server_model(victim)["ready"]


def finding(op, mode, case, response, what):
    return {
        "operation": op.label,
        "mode": mode.value,
        "status": response.status_code,
        "what": what,
        "request": f"{case.method} {response.request.url}"[:300],
        "body": response.text[:300],
    }
