"""JupyterHub config for the test hubs, as an importable module.

`jupyterhub -f tests/support/jupyterhub_config.py` (started by tests/support/hubproc.py)
calls configure(get_config()); everything that varies comes through RS_* environment
variables. benchmarks/naive_config.py calls configure with a TestSpawner subclass.
"""

import asyncio
import json
import logging
import os
import sys
import time

import resettable_spawner
from traitlets import default

env = os.environ


class TestSpawner(resettable_spawner.ResettableDockerSpawner):
    """Per-user test behaviour by name prefix, so that one hub serves every test.

    - ratelimited-*: a small rate limit.
    - gappy-*: fault injection. Between a restart's stop and its start the container
      is down only briefly, so a 1 s poll catches it only now and then; for these
      users a pause of RS_GAP_SECONDS follows the real stop, so the hub's poll sees
      the gap every time.
    - outside-*: with RS_HOST_HOME_BASE, a host-path home outside host_home_roots.
    - legacy-*: containers created with Docker's auto-remove on, as before it was
      turned off, to test what a restart does with such containers.
    - leaky-*: the server first prints each kind of secret the logs endpoint must
      redact (LEAKS: its own API token and OAuth client id, a token= URL, Authorization
      headers, OAuth query values), then runs as usual.
    - failing-*: prints the same, then FAILING_LINE on stderr, and exits 3 a few seconds
      later without ever answering: a server that fails on purpose at start-up.
    """

    @default("action_rate_limit")
    def _default_rate_limit(self):
        return 3 if self.user.name.startswith("ratelimited-") else 1000

    def _docker(self, method, *args, **kwargs):
        if method == "create_container" and self.user.name.startswith("legacy-"):
            kwargs["host_config"]["AutoRemove"] = True
        point = env.get("RS_PAUSE_AT")
        if point:
            _pause_if(point, "before", method, args, kwargs)
        result = super()._docker(method, *args, **kwargs)
        if point:
            _pause_if(point, "after", method, args, kwargs, result)
        return result

    def make_engine(self, log_name=None):
        engine = super().make_engine(log_name)
        if env.get("RS_ENGINE_VOLUME_FOLDER"):
            # An engine whose volume folder is not where it says (as a remote engine, or
            # one in a VM, may be): backups by move must detect it and copy instead.
            async def volume_folder():
                return env["RS_ENGINE_VOLUME_FOLDER"]

            engine.volume_folder = volume_folder
        return engine

    @default("volumes")
    def _default_volumes(self):
        # Only where configure() leaves volumes unset (RS_HOST_HOME_BASE): host-path
        # homes, allowed under <base>/homes; outside-* users' lie outside the roots.
        where = "outside" if self.user.name.startswith("outside-") else "homes"
        return {os.path.join(env["RS_HOST_HOME_BASE"], where, "{username}"): "/home/jovyan"}

    async def _stop_for_restart(self, container_id):
        await super()._stop_for_restart(container_id)
        if self.user.name.startswith("gappy-"):
            await asyncio.sleep(float(env.get("RS_GAP_SECONDS", "3")))

    async def get_command(self):
        cmd = await super().get_command()
        if self.user.name.startswith("leaky-"):
            return ["sh", "-c", LEAK_SCRIPT + 'exec "$@"', "sh", *cmd]
        if self.user.name.startswith("failing-"):
            # Up for a moment without answering, so the hub's spawn is pending until http_timeout.
            # Docker stamps stdout and stderr lines as they reach it, so under load a line on
            # one stream can overtake one on the other: a pause keeps FAILING_LINE the last.
            return ["sh", "-c", LEAK_SCRIPT + f"sleep 1; echo '{FAILING_LINE}' >&2; sleep 3; exit 3", "sh", *cmd]
        return cmd


# What leaky-* and failing-* servers print (tests/integration/test_logs_history.py): the
# values that must never leave the hub, each in the way a real server might log it.
LEAKS = {
    "query": "query-secret-7d3f",
    "header": "header-secret-91ab",
    "bearer": "bearer-secret-c2e8",
    "code": "oauth-code-5f10",
    "state": "oauth-state-a4b6",
}
LEAK_SCRIPT = (
    'echo "api token: $JUPYTERHUB_API_TOKEN"; '
    'echo "client id: $JUPYTERHUB_CLIENT_ID" >&2; '
    f'echo "GET /user/x/lab?token={LEAKS["query"]}&next=/ 200"; '
    f'echo "Authorization: token {LEAKS["header"]}" >&2; '
    f'echo "{{\'Authorization\': \'Bearer {LEAKS["bearer"]}\'}}"; '
    f'echo "302 GET /user/x/oauth_callback?code={LEAKS["code"]}&state={LEAKS["state"]}"; '
)
FAILING_LINE = "fatal: this server cannot start (on purpose)"


# Fault injection for tests/e2e/test_move_crash.py: with RS_PAUSE_AT=<when>-<what>, the
# hub stops (in the Docker call's thread) at that point between two steps of a backup or
# restore by move, logs "RS-PAUSED <point>", and waits to be SIGKILLed. With
# RS_RESUME_FILE as well, it goes on once that file exists (tests/e2e/test_engine_faults.py
# kills the engine in the pause, so the hub's next step meets a dead engine).
#   before-create-<kind> / after-wait-<kind>: a helper of that kind (move, restore);
#   before-remove-volume / after-remove-volume: removing the original volume;
#   before-remove-backup: removing a backup (a restore's consumed one).
_helper_kinds = {}


def _pause_if(point, when, method, args, kwargs, result=None):
    kind = None
    if method == "create_container":
        kind = (kwargs.get("labels") or {}).get("resettable-spawner.helper")
        if when == "after" and kind:
            _helper_kinds[result["Id"]] = kind
        here = f"{when}-create-{kind}"
    elif method == "wait":
        here = f"{when}-wait-{_helper_kinds.get(args[0])}"
    elif method == "remove_volume":
        # The move probe's volume (once per hub process, before the first move) is neither.
        what = "backup" if ".backup-" in args[0] else "probe" if ".probe-" in args[0] else "volume"
        here = f"{when}-remove-{what}"
    else:
        return
    if here == point:
        print(f"RS-PAUSED {point}", file=sys.stderr, flush=True)
        resume = env.get("RS_RESUME_FILE")
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and not (resume and os.path.exists(resume)):
            time.sleep(0.05)


def configure(c, spawner_class=TestSpawner):
    """Fill the hub's config c from the RS_* environment, with spawner_class as the spawner."""
    c.JupyterHub.spawner_class = spawner_class
    c.JupyterHub.extra_handlers = resettable_spawner.extra_handlers
    # The README's three lines alone: importing the package arms the hub-wide sweep.
    c.JupyterHub.template_paths = [resettable_spawner.template_dir]
    c.JupyterHub.allow_named_servers = True
    c.JupyterHub.named_server_limit_per_user = 5

    c.JupyterHub.authenticator_class = "dummy"
    c.DummyAuthenticator.password = env["RS_PASSWORD"]
    c.Authenticator.allow_all = True
    c.Authenticator.admin_users = {"admin"}

    c.JupyterHub.bind_url = f"http://127.0.0.1:{env['RS_PORT']}"
    c.JupyterHub.hub_ip = "0.0.0.0"
    c.JupyterHub.hub_port = int(env["RS_HUB_PORT"])
    c.JupyterHub.hub_connect_ip = env["RS_HUB_CONNECT_IP"]
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{env['RS_PROXY_API_PORT']}"
    c.JupyterHub.db_url = "sqlite:///jupyterhub.sqlite"
    c.JupyterHub.cookie_secret_file = "jupyterhub_cookie_secret"
    c.JupyterHub.authenticate_prometheus = False
    c.JupyterHub.log_level = "DEBUG" if env.get("RS_DEBUG") else "INFO"

    c.Spawner.poll_interval = int(env.get("RS_POLL_INTERVAL", "1"))
    c.Spawner.http_timeout = 60
    c.Spawner.start_timeout = 120

    c.DockerSpawner.image = env["RS_IMAGE"]
    c.DockerSpawner.pull_policy = "never"
    c.DockerSpawner.remove = env.get("RS_REMOVE") == "1"
    c.DockerSpawner.prefix = env["RS_PREFIX"]
    c.DockerSpawner.name_template = "{prefix}-{username}--{servername}"
    if env.get("RS_HOST_HOME_BASE"):
        # Host-path homes (TestSpawner's volumes default), resettable under <base>/homes.
        c.ResettableDockerSpawner.host_home_roots = [os.path.join(env["RS_HOST_HOME_BASE"], "homes")]
    else:
        c.DockerSpawner.volumes = {
            "{prefix}-{username}--{servername}-home": "/home/jovyan",
            "{prefix}-{username}--{servername}-workspace": "/home/jovyan/work",
            "{prefix}-{username}--{servername}-cache": "/home/jovyan/.cache",
        }
    c.ResettableDockerSpawner.restart_timeout = int(env.get("RS_RESTART_TIMEOUT", "10"))
    if env.get("RS_MAX_CONCURRENT_RESTARTS"):
        c.ResettableDockerSpawner.max_concurrent_restarts = int(env["RS_MAX_CONCURRENT_RESTARTS"])
    if env.get("RS_REMOVE_VOLUMES_ON_DELETE"):
        c.ResettableDockerSpawner.remove_volumes_on_delete = env["RS_REMOVE_VOLUMES_ON_DELETE"] == "1"
    if env.get("RS_KEEP_SERVERS") == "1":
        # The servers outlive a hub shutdown, so a benchmark can restart the hub with other settings.
        c.JupyterHub.cleanup_servers = False
    if env.get("RS_HTTP_TIMEOUT"):
        c.Spawner.http_timeout = int(env["RS_HTTP_TIMEOUT"])
    if env.get("RS_DOCKER_URL"):
        c.DockerSpawner.client_kwargs = {"base_url": env["RS_DOCKER_URL"]}
    if env.get("RS_DOCKER_CALL_TIMEOUT"):
        c.ResettableDockerSpawner.docker_call_timeout = float(env["RS_DOCKER_CALL_TIMEOUT"])
    if env.get("RS_RESET_SCOPES"):
        c.ResettableDockerSpawner.reset_required_scopes = json.loads(env["RS_RESET_SCOPES"])

    c.JupyterHub.services = [
        {"name": "admin-svc", "api_token": env["RS_ADMIN_TOKEN"]},
        {"name": "ops-svc", "api_token": env["RS_OPS_TOKEN"]},
        {"name": "reader-svc", "api_token": env["RS_READER_TOKEN"]},
    ]
    c.JupyterHub.load_roles = [
        {
            "name": "admin-svc",
            "scopes": ["admin:users", "admin:servers", "tokens", "access:servers", "read:metrics"],
            "services": ["admin-svc"],
        },
        # May restart and reset anyone's server, and nothing else.
        {"name": "ops-svc", "scopes": ["servers"], "services": ["ops-svc"]},
        # Can look, cannot act.
        {"name": "reader-svc", "scopes": ["read:servers"], "services": ["reader-svc"]},
    ]

    # Audit events as JSON lines in the hub's directory, for tests/integration/test_api.py to read.
    c.EventLogger.handlers = [logging.FileHandler("events.jsonl")]

    # Reset gated by a custom scope, which only the users in RS_RESETTERS hold (for their own servers).
    if env.get("RS_CUSTOM_RESET_SCOPE"):
        scope = env["RS_CUSTOM_RESET_SCOPE"]
        c.JupyterHub.custom_scopes = {scope: {"description": "Reset home volumes"}}
        c.ResettableDockerSpawner.reset_required_scopes = [scope]
        c.JupyterHub.load_roles.append(
            {"name": "resetters", "scopes": [f"{scope}!user"], "users": env["RS_RESETTERS"].split(",")}
        )

    # --- Restart from JupyterLab (tests/e2e/test_lab.py), on when RS_LAB_SCOPES=1 ----
    # The operator setup from the README: the lab's token may restart its own server in
    # place, and nothing more. Without it the lab's token holds no scopes on the hub.
    if env.get("RS_LAB_SCOPES") == "1":
        _restart = resettable_spawner.RESTART_SCOPE
        _custom = dict(c.JupyterHub.custom_scopes) if "custom_scopes" in c.JupyterHub else {}
        _custom[_restart] = {"description": "Restart a server in place, from its own JupyterLab"}
        c.JupyterHub.custom_scopes = _custom
        c.JupyterHub.load_roles.append({"name": "user", "scopes": ["self", f"{_restart}!user"]})
        # "!server" is this server's own: JupyterHub expands it per OAuth client.
        c.Spawner.oauth_client_allowed_scopes = [f"{_restart}!server"]

    # --- Backups (tests/integration/test_backups.py): settings by RS_BACKUP_* ------------
    if env.get("RS_BACKUP_RETENTION"):
        c.ResettableDockerSpawner.backup_retention = int(env["RS_BACKUP_RETENTION"])
    if env.get("RS_BACKUP_KEEP"):
        c.ResettableDockerSpawner.backup_keep = int(env["RS_BACKUP_KEEP"])
    if env.get("RS_BACKUP_PRUNE_INTERVAL"):
        c.ResettableDockerSpawner.backup_prune_interval = float(env["RS_BACKUP_PRUNE_INTERVAL"])
    if env.get("RS_BACKUP_BY_MOVE"):
        c.ResettableDockerSpawner.backup_by_move = env["RS_BACKUP_BY_MOVE"] == "1"
    if env.get("RS_BACKUP_BEFORE_RESET"):
        c.ResettableDockerSpawner.backup_before_reset = env["RS_BACKUP_BEFORE_RESET"] == "1"
    if env.get("RS_SHARED_VOLUME") == "1":
        # A volume every user's server mounts: listed, never resettable.
        c.DockerSpawner.volumes = dict(
            c.DockerSpawner.volumes, **{"{prefix}-shared-data": "/home/jovyan/shared"}
        )
    if env.get("RS_VOLUME_SIZE_CACHE_SECONDS"):
        c.ResettableDockerSpawner.volume_size_cache_seconds = float(env["RS_VOLUME_SIZE_CACHE_SECONDS"])
