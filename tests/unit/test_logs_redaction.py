"""Server logs: Docker's timestamped lines parsed, secrets redacted, long lines cut (pure)."""

from resettable_spawner.objects import (
    MAX_LOG_LINE,
    SECRET,
    container_model,
    logs_model,
    parse_docker_log,
    redact,
    secret_values,
)

TOKEN = "0123456789abcdef0123456789abcdef"
CLIENT = "jupyterhub-user-alice"
ENV = [
    f"JUPYTERHUB_API_TOKEN={TOKEN}",
    f"JPY_API_TOKEN={TOKEN}",
    f"JUPYTERHUB_CLIENT_ID={CLIENT}",
    "JUPYTERHUB_USER=alice",
    "JUPYTERHUB_SERVICE_PREFIX=/user/alice/",
    "MY_DB_PASSWORD=hunter2hunter2",
    "SHORT_SECRET=abc",
    "PATH=/usr/bin:/bin",
]


def test_parse_keeps_order_times_and_lines_without_time():
    text = (
        "2025-03-15T12:00:00.123456789Z first\n"
        "2025-03-15T12:00:01.000000000Z second line with  two spaces\r\n"
        "no time here\n"
        "2025-03-15T12:00:02.5+01:00 offset\n\n"
    )
    assert parse_docker_log(text) == [
        {"time": "2025-03-15T12:00:00.123456789Z", "text": "first"},
        {"time": "2025-03-15T12:00:01.000000000Z", "text": "second line with  two spaces"},
        {"time": None, "text": "no time here"},
        {"time": "2025-03-15T12:00:02.5+01:00", "text": "offset"},
    ]
    assert parse_docker_log("") == []
    assert parse_docker_log("2025-03-15T12:00:00Z ") == [{"time": "2025-03-15T12:00:00Z", "text": ""}]


def test_secret_values_from_the_environment_and_the_spawner():
    values = secret_values(ENV, [TOKEN, CLIENT, "", None, "spawner-only-token-xyz"])
    assert set(values) == {TOKEN, CLIENT, "hunter2hunter2", "spawner-only-token-xyz"}
    # Not secrets: ordinary variables, values too short to mean anything.
    assert "alice" not in values and "abc" not in values and "/usr/bin:/bin" not in values
    # Longest first, so that a secret containing another is replaced whole.
    assert values == sorted(values, key=len, reverse=True)


def test_the_api_token_and_oauth_client_id():
    secrets = secret_values(ENV)
    assert redact(f"JUPYTERHUB_API_TOKEN is {TOKEN}", secrets) == f"JUPYTERHUB_API_TOKEN is {SECRET}"
    assert redact(f"client {CLIENT} registered", secrets) == f"client {SECRET} registered"
    assert redact(f"{TOKEN}{TOKEN}", secrets) == SECRET + SECRET


def test_token_query_values_and_assignments():
    cases = {
        "http://127.0.0.1:8888/lab?token=abc123&next=/": "http://127.0.0.1:8888/lab?token=[secret]&next=/",
        "GET /api?access_token=zzz HTTP/1.1": "GET /api?access_token=[secret] HTTP/1.1",
        "api_token=qqq, user=alice": "api_token=[secret], user=alice",
        "TOKEN=Q;x": "TOKEN=[secret];x",
        "'http://x/?a=1&token=t0k3n#frag'": "'http://x/?a=1&token=[secret]#frag'",
    }
    for line, expected in cases.items():
        assert redact(line, []) == expected, line


def test_oauth_query_values():
    line = "302 GET /user/alice/oauth_callback?code=AUTHCODE123&state=eyJ1cmkiOi (alice@1.2.3.4)"
    assert redact(line, []) == "302 GET /user/alice/oauth_callback?code=[secret]&state=[secret] (alice@1.2.3.4)"
    assert redact("/token?client_secret=s3cr3t&grant_type=x", []) == "/token?client_secret=[secret]&grant_type=x"
    # Outside a query string, "state=" is an ordinary word.
    assert redact("server state=running", []) == "server state=running"


def test_authorization_headers_in_every_spelling():
    cases = {
        "Authorization: token abcdef": "Authorization: token [secret]",
        "authorization: Bearer eyJhbGciOi.x.y": "authorization: Bearer [secret]",
        "AUTHORIZATION: Basic dXNlcjpwYXNz": "AUTHORIZATION: Basic [secret]",
        "{'Authorization': 'token abcdef', 'Host': 'hub'}": "{'Authorization': 'token [secret]', 'Host': 'hub'}",
        '{"Authorization": "Bearer abc"}': '{"Authorization": "Bearer [secret]"}',
        "Authorization=rawvalue": "Authorization=[secret]",
    }
    for line, expected in cases.items():
        assert redact(line, []) == expected, line


def test_ordinary_lines_are_unchanged():
    for line in [
        "[I 2025-03-15 12:00:00.000 ServerApp] Jupyter Server 2.14.2 is running at:",
        "[W ServerApp] No web browser found",
        "tokenizer loaded; authorization required",
        "",
    ]:
        assert redact(line, secret_values(ENV)) == line


def test_logs_model_redacts_before_it_cuts():
    long_line = "x" * (MAX_LOG_LINE - 10) + TOKEN  # the token straddles the cut
    logs = {
        "lines": [
            {"time": "2025-03-15T12:00:00Z", "text": f"token is {TOKEN}"},
            {"time": None, "text": long_line},
        ],
        "truncated": True,
    }
    container = {"State": {"Status": "exited", "Running": False, "ExitCode": 3, "OOMKilled": False,
                           "StartedAt": "2025-03-15T11:59:59Z", "FinishedAt": "2025-03-15T12:00:01Z"}}
    body = logs_model(logs, secret_values(ENV), 2, container, "Spawn failed")
    assert body["tail"] == 2 and body["truncated"] is True
    assert body["lines"][0] == {"time": "2025-03-15T12:00:00Z", "text": f"token is {SECRET}"}
    assert TOKEN[:8] not in body["lines"][1]["text"]
    assert len(body["lines"][1]["text"]) <= MAX_LOG_LINE + 1
    assert body["container"] == {
        "status": "exited", "exit_code": 3, "oom_killed": False,
        "started_at": "2025-03-15T11:59:59Z", "finished_at": "2025-03-15T12:00:01Z",
    }
    assert body["last_start_error"] == "Spawn failed"


def test_container_model_running_and_never_finished():
    running = {"State": {"Status": "running", "Running": True, "ExitCode": 0,
                         "StartedAt": "2025-03-15T11:59:59Z", "FinishedAt": "0001-01-01T00:00:00Z"}}
    assert container_model(running) == {
        "status": "running", "exit_code": None, "oom_killed": False,
        "started_at": "2025-03-15T11:59:59Z", "finished_at": None,
    }
    assert container_model(None)["status"] == "unknown"
