# A realistic JupyterHub config with resettable-spawner.
#
# Used as is by compose.yml (the hub container), and by `make demo` and the tests,
# which override only what differs on their machine through the environment below.
#
# Environment:
#   SINGLEUSER_IMAGE           single-user image (default: DockerSpawner's own default image)
#   DOCKER_NETWORK_NAME        Docker network shared by the hub and the user containers
#   HUB_CONNECT_IP             where user containers reach the hub (the hub's name on that network)
#   JUPYTERHUB_BIND_URL        public URL the proxy listens on (default http://:8000)
#   JUPYTERHUB_HUB_PORT        port of the hub's own API (default 8081)
#   JUPYTERHUB_DATA_DIR        where the SQLite database and cookie secret live
#   JUPYTERHUB_ADMIN_USERS     comma-separated admin user names (default: admin)
#   JUPYTERHUB_CONTAINER_PREFIX  first part of container and volume names (default: jupyterlab)
#   RESETTABLE_OPS_TOKEN       optional: an API token for automation (the "ops" service)
import os

import resettable_spawner

c = get_config()  # noqa: F821
env = os.environ

# --- resettable-spawner: the three lines an existing hub needs -------------------
c.JupyterHub.spawner_class = "resettable-docker"
c.JupyterHub.extra_handlers = resettable_spawner.extra_handlers
c.JupyterHub.template_paths = [resettable_spawner.template_dir]
# Importing resettable_spawner in the running hub arms the hub-wide sweep of expired
# backups and of what a crash left, from start-up on; start_with_hub() is the explicit
# form, for configs that import the package outside the hub's event loop.

# --- Networking -------------------------------------------------------------------
c.JupyterHub.bind_url = env.get("JUPYTERHUB_BIND_URL", "http://:8000")
c.JupyterHub.hub_ip = "0.0.0.0"  # user containers connect to the hub's API
c.JupyterHub.hub_port = int(env.get("JUPYTERHUB_HUB_PORT", "8081"))
c.JupyterHub.hub_connect_ip = env.get("HUB_CONNECT_IP", "jupyterhub")
# User containers join the hub's network and are reached at their internal IP.
# A restart may give the container a new IP; the spawner updates the route.
c.DockerSpawner.network_name = env.get("DOCKER_NETWORK_NAME", "jupyterhub-network")
c.DockerSpawner.use_internal_ip = True

# --- Hub state: on a volume in compose --------------------------------------------
data_dir = env.get("JUPYTERHUB_DATA_DIR", ".")
c.JupyterHub.db_url = f"sqlite:///{os.path.join(data_dir, 'jupyterhub.sqlite')}"
c.JupyterHub.cookie_secret_file = os.path.join(data_dir, "jupyterhub_cookie_secret")

# --- Authentication ---------------------------------------------------------------
# NativeAuthenticator: users sign up at /hub/signup, admins authorize them at
# /hub/authorize. Admins named in JUPYTERHUB_ADMIN_USERS sign up like everyone else
# and are authorized at once.
c.JupyterHub.authenticator_class = "nativeauthenticator.NativeAuthenticator"
c.Authenticator.admin_users = {
    name.strip() for name in env.get("JUPYTERHUB_ADMIN_USERS", "admin").split(",") if name.strip()
}
c.Authenticator.allow_all = True  # whoever an admin authorized may log in
c.NativeAuthenticator.minimum_password_length = 8

# --- The user containers ----------------------------------------------------------
if env.get("SINGLEUSER_IMAGE"):
    c.DockerSpawner.image = env["SINGLEUSER_IMAGE"]
c.DockerSpawner.prefix = env.get("JUPYTERHUB_CONTAINER_PREFIX", "jupyterlab")
c.DockerSpawner.name_template = "{prefix}-{username}"
# Three volumes per user. Workspace and cache are mounted inside home, and a reset
# deletes only the home volume: they keep their files.
c.DockerSpawner.volumes = {
    "{prefix}-{username}_home": "/home/jovyan",
    "{prefix}-{username}_workspace": "/home/jovyan/work",
    "{prefix}-{username}_cache": "/home/jovyan/.cache",
}
# Stopped containers are kept (DockerSpawner's default) and reused on the next start;
# a reset removes the stopped container along with the home volume.
c.DockerSpawner.remove = False
c.Spawner.http_timeout = 60
c.Spawner.start_timeout = 120

# --- resettable-spawner settings (shown with their defaults) ----------------------
# Where the home volume is mounted: the volume mounted here is the one a reset deletes.
c.ResettableDockerSpawner.home_mount_path = "/home/jovyan"
# Grace period, in seconds, between SIGTERM and SIGKILL on restart (docker restart -t).
c.ResettableDockerSpawner.restart_timeout = 10
# Seconds between checks whether a restarted server answers again.
c.ResettableDockerSpawner.ready_check_interval = 0.1
# Threads for long Docker calls (restart, volume removal), apart from DockerSpawner's
# single shared thread, so one user's slow restart never stalls anyone else.
c.ResettableDockerSpawner.long_call_threads = 4
# How many restarted servers may start up at once, hub-wide (0: no bound). Further
# restarts wait their turn, so a restart storm does not starve the hub of CPU.
c.ResettableDockerSpawner.max_concurrent_restarts = 1
# Remove a deleted user's (or deleted named server's) container, per-user volumes and
# their backups. Off by default: deleting data is opt-in.
c.ResettableDockerSpawner.remove_volumes_on_delete = False
# Every reset first copies each volume it deletes into a backup volume, which the user
# can restore from the home page or the API until it expires.
c.ResettableDockerSpawner.backup_before_reset = True
c.ResettableDockerSpawner.backup_retention = 7 * 24 * 3600  # seconds
c.ResettableDockerSpawner.backup_keep = 3  # most backups per volume; the oldest go first
c.ResettableDockerSpawner.backup_prune_interval = 3600.0  # seconds between sweeps of expired backups
# The image of the helper containers that copy volumes; empty: the server's own image.
c.ResettableDockerSpawner.backup_helper_image = ""
# Restart and reset requests per user per window; more get HTTP 429. 0 turns it off.
c.ResettableDockerSpawner.action_rate_limit = 10
c.ResettableDockerSpawner.action_rate_window = 60.0
# Extra scopes needed to reset, on top of delete:servers. Uncomment to make reset
# admin-only:
# c.ResettableDockerSpawner.reset_required_scopes = ["admin:servers"]
c.ResettableDockerSpawner.reset_required_scopes = []

# --- Restart from JupyterLab ------------------------------------------------------
# With resettable-spawner-labextension in the single-user image, JupyterLab's
# "Restart Server in Place" command restarts the server with the token the lab already
# holds. These lines let that token restart its own server in place and nothing else:
# not stop it, start it, or reset a volume (the destructive actions stay on the hub page).
c.JupyterHub.custom_scopes = {
    resettable_spawner.RESTART_SCOPE: {"description": "Restart a server in place, from its own JupyterLab"},
}
# The user role must hold the scope for the lab's token to get it; keep "self".
c.JupyterHub.load_roles = [
    {"name": "user", "scopes": ["self", f"{resettable_spawner.RESTART_SCOPE}!user"]},
]
# Each server's lab token: the restart scope on that server only ("!server" is the
# server the token was issued for; JupyterHub expands it).
c.Spawner.oauth_client_allowed_scopes = [f"{resettable_spawner.RESTART_SCOPE}!server"]

# --- An optional token for automation ---------------------------------------------
# May create users and start, stop, restart and reset anyone's server.
if env.get("RESETTABLE_OPS_TOKEN"):
    c.JupyterHub.services = [{"name": "ops", "api_token": env["RESETTABLE_OPS_TOKEN"]}]
    c.JupyterHub.load_roles += [
        {
            "name": "ops",
            "scopes": ["admin:users", "admin:servers", "tokens", "read:metrics"],
            "services": ["ops"],
        }
    ]
