"""Pure builders: no Docker, no hub, no I/O (kubespawner's ``objects.py`` is the model).

Names, labels, helper specs and scripts, ``du`` parsing, volume descriptions,
retention and ``backup_keep`` choice, and the JSON models of the status and of
backups. Everything here is unit-tested without an engine (tests/unit/).

Volume names only ever come from DockerSpawner's own rendering; the functions here
take rendered names and never build one from a user name.
"""

import datetime
import hashlib
import os
import re
import string

from docker.types import Mount

# --- labels -------------------------------------------------------------------------

BACKUP_OF = "resettable-spawner.backup-of"
USER_LABEL = "resettable-spawner.user"
SERVER_LABEL = "resettable-spawner.server"
CREATED_LABEL = "resettable-spawner.created"
EXPIRES_LABEL = "resettable-spawner.expires"
REASON_LABEL = "resettable-spawner.reason"
# DockerSpawner.prefix of the hub that made it: the sweep only touches its own hub's objects.
PREFIX_LABEL = "resettable-spawner.prefix"
# On helper containers: their kind (backup, restore, sizes).
HELPER_LABEL = "resettable-spawner.helper"
# On a backup helper: the backup volume it is filling (partial while the helper exists).
PARTIAL_LABEL = "resettable-spawner.partial-backup"
# On a restore helper: the volume whose content it is replacing.
RESTORING_LABEL = "resettable-spawner.restoring"
# On helpers: the hub process that made them, so a new hub knows they are leftovers.
INSTANCE_LABEL = "resettable-spawner.hub-instance"
# On a backup-by-move helper: the volume whose data it is moving into the partial backup.
MOVING_LABEL = "resettable-spawner.moving"
# On helpers and backups: the hub that made them (hub_identity()), stable across its
# restarts, so that two hubs with one prefix on one engine tell their objects apart.
HUB_LABEL = "resettable-spawner.hub"

COMPLETE_MARKER = ".resettable-spawner-complete"
DATA_DIR = "data"

# template_namespace() fields that differ between users or servers.
PER_SERVER_FIELDS = frozenset(
    {"username", "safe_username", "raw_username", "servername", "raw_servername"}
)

_BACKUP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")

# Helper scripts: fixed text, run as ``sh -c SCRIPT sh RELATIVE_PATH``; no name is ever
# part of a script. The storage is mounted at /host (a volume at /host/volume, or a host
# root at /host), and every script first resolves /host/$1, following symlinks, and
# refuses anything that does not resolve strictly inside /host (exit 4) or is not a
# folder (exit 5): a symlink can never lead a helper out of the storage it was given.
HELPER_ROOT = "/host"
_RESOLVE = (
    f'p=$(realpath -m -- "{HELPER_ROOT}/$1") || exit 4; '
    f'case "$p" in {HELPER_ROOT}/?*) ;; *) exit 4;; esac; '
    'test -d "$p" || exit 5; '
)
_EMPTY = 'find "$p" -mindepth 1 -maxdepth 1 -exec rm -rf {} +; '
# The backup copies the whole tree (owner, modes, times, symlinks, hard links, dotfiles,
# empty directories) into data/, then marks it complete and prints its size.
BACKUP_SCRIPT = (
    f'set -e; {_RESOLVE}cp -a "$p" /backup/{DATA_DIR}; touch /backup/{COMPLETE_MARKER}; '
    f"du -sb /backup/{DATA_DIR}"
)
# Exit 3: the backup is not complete; nothing in the target was touched.
RESTORE_SCRIPT = (
    f"set -e; {_RESOLVE}test -f /backup/{COMPLETE_MARKER} -a -d /backup/{DATA_DIR} || exit 3; {_EMPTY}"
    f'cp -a /backup/{DATA_DIR}/. "$p"/; '
    f'chown --reference=/backup/{DATA_DIR} "$p"; chmod --reference=/backup/{DATA_DIR} "$p"; '
    f'touch -r /backup/{DATA_DIR} "$p"'
)
# A reset of storage that removing the volume would not empty: the files go, the folder
# (and the volume's driver, options and labels) stay.
EMPTY_SCRIPT = f"set -e; {_RESOLVE}{_EMPTY}"
RESTORE_INCOMPLETE_EXIT = 3
OUTSIDE_ROOT_EXIT = 4
MISSING_EXIT = 5

# --- backups by moving the data (one rename(2) within the engine's volume folder) ----
#
# The move helper mounts the engine's volume folder (``docker info`` DockerRootDir +
# /volumes) at /volumes: it sees every volume's data, so it is kept narrow. It runs one
# of three fixed scripts with exactly two arguments, the data folders of two volumes
# (``/volumes/<name>/_data``, from the Mountpoints the engine reported), and each
# script first refuses (exit 4) anything that is not exactly such a folder: no other
# shape, no ``..``, no symlink. A rename never crosses filesystems (exit 6: the caller
# copies instead), so at every instant each byte is in exactly one of the two volumes.
MOVE_ROOT = "/volumes"
CONSUMING_MARKER = ".resettable-spawner-consuming"
_MOVE_CHECKS = (
    "set -e; "
    'for p in "$1" "$2"; do '
    'case "$p" in /volumes/?*/_data) ;; *) exit 4;; esac; '
    'd=${p%/_data}; n=${d#/volumes/}; '
    'case "$n" in */*|.|..) exit 4;; esac; '
    'test "$(realpath -e -- "$d")" = "$d" || exit 4; '
    'test ! -L "$p" || exit 4; '
    "done; "
    'test "$(stat -c %d -- "${1%/_data}")" = "$(stat -c %d -- "${2%/_data}")" || exit 6; '
)
# Back up $1 into the new backup volume $2: its data folder becomes the backup's data/.
# The volume keeps an empty data folder, so that it stays a valid volume until removed.
MOVE_BACKUP_SCRIPT = (
    f"{_MOVE_CHECKS}"
    'test -d "$1" -a ! -e "$2/data" || exit 7; '
    'mv -T -- "$1" "$2/data"; mkdir -- "$1"; '
    f'touch -- "$2/{COMPLETE_MARKER}"; du -sb -- "$2/data"'
)
# Restore the backup $1 into the volume $2, consuming the backup: its data folder
# becomes the volume's. The backup is first marked as being consumed, so that a retry
# after a crash finishes the move (MOVE_RESUME_SCRIPT), and nothing ever restores from a
# half-consumed backup. The volume's data folder must be empty (what a move left), or
# exit 8. A backup that an earlier restore consumed already: exit 10.
_MOVE_CONSUME = (
    'if [ -d "$1/data" ]; then '
    'if [ -e "$2" ]; then rmdir -- "$2" || exit 8; fi; '
    'mv -T -- "$1/data" "$2"; fi; '
    'test -d "$2"'
)
MOVE_RESTORE_SCRIPT = (
    f"{_MOVE_CHECKS}"
    f'if [ ! -f "$1/{COMPLETE_MARKER}" ]; then test -f "$1/{CONSUMING_MARKER}" && exit 10; exit 3; fi; '
    'test -d "$1/data" || exit 3; '
    f'mv -- "$1/{COMPLETE_MARKER}" "$1/{CONSUMING_MARKER}"; '
    f"{_MOVE_CONSUME}"
)
# The same, finishing a restore that the operation record says was interrupted.
MOVE_RESUME_SCRIPT = (
    f"{_MOVE_CHECKS}"
    f'if [ -f "$1/{COMPLETE_MARKER}" ]; then mv -- "$1/{COMPLETE_MARKER}" "$1/{CONSUMING_MARKER}"; fi; '
    f'test -f "$1/{CONSUMING_MARKER}" || exit 3; '
    f"{_MOVE_CONSUME}"
)
CONSUMED_EXIT = 10
# The sweep's repair of a backup-by-move that a hub (or engine) death interrupted: the
# data goes back into the volume $1 from the partial backup $2, whose marker goes.
UNMOVE_SCRIPT = (
    f"{_MOVE_CHECKS}"
    'if [ -d "$2/data" ]; then '
    'if [ -e "$1" ]; then rmdir -- "$1" || exit 8; fi; '
    'mv -T -- "$2/data" "$1"; fi; '
    f'rm -f -- "$2/{COMPLETE_MARKER}"'
)
NOT_SAME_FILESYSTEM_EXIT = 6
TARGET_NOT_EMPTY_EXIT = 8
# A probe of the engine's volume folder: is the probe volume, mounted at /probe, the
# folder /volumes/<probe>/_data? ($1). If not, the folder cannot be reached (a rootless
# engine, an engine in a VM, a remote host) and backups are copies.
MOVE_PROBE_SCRIPT = 'test "$(stat -c %d:%i /probe)" = "$(stat -c %d:%i -- "$1")"'

_VOLUME_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]+$")


def movable_data_path(name, volume, folder):
    """The move helper's path of a volume's data (``/volumes/<name>/_data``), or None.

    Only a ``local`` volume without options whose Mountpoint, as the engine reported
    it, is exactly ``<folder>/<name>/_data``: its data lies in the engine's own volume
    folder, on the engine's filesystem. Anything else (another driver, NFS or bind
    options, another layout, an odd name or Mountpoint) is copied instead.
    """
    if not folder or volume is None or not _VOLUME_NAME.match(name) or volume.get("Name") != name:
        return None
    if (volume.get("Driver") or "local") != "local" or volume.get("Options"):
        return None
    if volume.get("Mountpoint") != f"{folder.rstrip('/')}/{name}/_data":
        return None
    return f"{MOVE_ROOT}/{name}/_data"


def move_argv(script, source_path, target_path):
    return ["/bin/sh", "-c", script, "sh", source_path, target_path]


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def iso(dt):
    """ISO 8601 in UTC with a Z, as the API and the labels carry times."""
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text):
    try:
        dt = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return dt


def template_fields(template):
    """The replacement fields of a str.format template ({username} -> "username")."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return set()
    return {re.split(r"[.\[]", field)[0] for _, field, _, _ in parsed if field}


def is_per_server_template(template):
    """A volume name template with a per-user or per-server field names one volume per server."""
    return bool(template_fields(template) & PER_SERVER_FIELDS)


def is_host_path(source):
    """A volumes key names a host path (a bind mount) rather than a named volume."""
    return source.startswith(("/", ".", "~"))


def host_root_of(path, roots):
    """The root of ``roots`` that ``path`` lies strictly inside (lexically), or None.

    ``..`` is resolved first, so ``/srv/homes/../etc`` is not inside ``/srv/homes``.
    Symlinks cannot be resolved here (the hub may not see the host's files): every
    helper resolves them itself and refuses a path that leaves its root.
    """
    if not os.path.isabs(path):
        return None
    path = os.path.normpath(path)
    for root in roots:
        root = os.path.normpath(root)
        if path != root and path.startswith(root.rstrip("/") + "/"):
            return root
    return None


def describe_volumes(entries, home_mount_path, host_roots=()):
    """The volumes a server mounts, from ``(template, name, mount_path, read_only)``.

    Resettable: a per-user or per-server template, mounted read-write. Shared volumes
    (no such field) and read-only mounts are listed but never resettable. Host paths
    (``kind: host-path``) are listed too, and resettable only when they also lie
    strictly inside one of ``host_roots``.
    """
    seen, out = set(), []
    for template, name, mount_path, read_only in entries:
        if name in seen:
            continue
        seen.add(name)
        mount_path = os.path.normpath(mount_path)
        host_path = is_host_path(name)
        resettable = is_per_server_template(template) and not read_only
        if host_path:
            resettable = resettable and host_root_of(name, host_roots) is not None
        out.append(
            {
                "name": name,
                "kind": "host-path" if host_path else "volume",
                "mount_path": mount_path,
                "home": mount_path == home_mount_path,
                "resettable": resettable,
            }
        )
    return sorted(out, key=lambda v: (not v["home"], v["mount_path"]))


def is_driver_backed(volume):
    """A volume whose data removing it would not delete: another driver, or ``local`` with options.

    ``docker volume rm`` of an NFS (``type=nfs``) or bind-backed (``o=bind``) local
    volume, or of a plugin's volume, removes its definition and leaves the files.
    """
    return (volume.get("Driver") or "local") != "local" or bool(volume.get("Options"))


def name_stem(name, prefix):
    """A volume-name-safe stem for derived names: the volume's name, or one made from a host path.

    A host path's stem starts with the hub's ``prefix``, as its volumes' names do.
    """
    if _BACKUP_ID.match(name) and len(name) <= 120:
        return name
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_.-")[-80:] or "path"
    return f"{prefix}-host_{slug}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def derived_name(volume, kind, now, token):
    """``<volume>.<kind>-<UTC time>-<token>``: a backup volume or helper container name."""
    return f"{volume}.{kind}-{now.strftime('%Y%m%dT%H%M%SZ')}-{token}"


def backup_labels(volume, user, server, created, expires, prefix, reason):
    return {
        BACKUP_OF: volume,
        USER_LABEL: user,
        SERVER_LABEL: server,
        CREATED_LABEL: iso(created),
        EXPIRES_LABEL: iso(expires),
        REASON_LABEL: reason,
        PREFIX_LABEL: prefix,
    }


def backup_from_volume(volume):
    """A backup entry (the API's shape) from a volume as Docker lists it, or None."""
    labels = volume.get("Labels") or {}
    if not labels.get(BACKUP_OF):
        return None
    return {
        "id": volume["Name"],
        "volume": labels[BACKUP_OF],
        "created": labels.get(CREATED_LABEL, ""),
        "expires": labels.get(EXPIRES_LABEL, ""),
        "reason": labels.get(REASON_LABEL, "reset"),
        "size_bytes": None,
        # Not in the API: who it belongs to.
        "_user": labels.get(USER_LABEL),
        "_server": labels.get(SERVER_LABEL),
        "_prefix": labels.get(PREFIX_LABEL),
    }


def public(backup):
    return {k: v for k, v in backup.items() if not k.startswith("_")}


def expired_backups(backups, now):
    """Backups whose expiry time has passed (an unreadable expiry counts as expired)."""
    out = []
    for b in backups:
        expires = parse_iso(b["expires"])
        if expires is None or expires <= now:
            out.append(b)
    return out


def backups_over_keep(backups, keep, protect=()):
    """Per original volume, the backups beyond the newest ``keep``; the oldest go first.

    Protected ids (a backup being restored from, the one just made) are never chosen,
    though they count towards ``keep``.
    """
    by_volume = {}
    for b in backups:
        by_volume.setdefault(b["volume"], []).append(b)
    out = []
    for group in by_volume.values():
        group.sort(key=lambda b: (b["created"], b["id"]), reverse=True)
        out += [b for b in group[keep:] if b["id"] not in protect]
    return out


def hub_identity(cookie_secret):
    """A hub's stable identity, from its cookie secret (never the secret itself).

    Two hubs never share a cookie secret, and one hub keeps its secret across
    restarts (``cookie_secret_file``), so this tells hubs apart and recognises a hub
    that restarted.
    """
    return hashlib.sha256(b"resettable-spawner hub\0" + (cookie_secret or b"")).hexdigest()[:16]


def is_leftover_helper(labels, created, now, hub_id, instance, active, grace):
    """Whether the sweep of hub ``hub_id`` (process ``instance``) may remove this helper.

    Its own hub's helpers are leftovers unless this very process runs them (``active``,
    names of helpers in use): those of an earlier process of the same hub died with it.
    Another hub's helper is left alone while it may still be running: no live hub lets a
    helper run past ``backup_helper_timeout``, so one older than that plus a margin
    (``grace``) belongs to a hub that is gone, and any hub removes it.
    """
    if labels.get(HUB_LABEL) == hub_id:
        return not (labels.get(INSTANCE_LABEL) == instance and labels.get("_name") in active)
    return now - created > grace


def valid_backup_id(backup_id):
    return bool(backup_id) and bool(_BACKUP_ID.match(backup_id))


def helper_spec(image, name, argv, labels):
    """``create_container`` arguments of a helper running ``argv``: root, no network.

    The image's entrypoint is replaced by ``argv[0]``; the arguments are passed as a
    list, never through a shell string built from names.
    """
    return {
        "image": image,
        "name": name,
        "entrypoint": list(argv[:1]),
        "command": list(argv[1:]),
        "user": "0:0",
        "working_dir": "/",
        "labels": labels,
        "network_disabled": True,
    }


class Storage:
    """Where one of a server's volumes keeps its data, as a helper mounts it.

    A named volume is mounted itself; a host path is reached through the host root it
    lies in (``host_root``), so that the helper can check where its symlinks lead.
    """

    def __init__(self, name, host_root=None):
        self.name = name
        self.host_root = host_root

    @property
    def relative_path(self):
        """The argument of a helper script: the data's path below HELPER_ROOT."""
        return os.path.relpath(self.name, self.host_root) if self.host_root else "volume"

    def mount(self, at, read_only):
        """The mount that puts the data at ``at/<relative_path>``."""
        if self.host_root:
            return Mount(at, self.host_root, type="bind", read_only=read_only)
        return Mount(f"{at}/volume", self.name, type="volume", read_only=read_only, no_copy=True)

    def __repr__(self):
        return f"Storage({self.name!r}, host_root={self.host_root!r})"


def script_argv(script, storage):
    """The argv of a helper running one of the fixed scripts on ``storage``."""
    return ["/bin/sh", "-c", script, "sh", storage.relative_path]


def backup_mounts(storage, backup, labels):
    """The original read-only at /host; the backup at /backup, created with its labels.

    Docker creates the backup volume in the same request as the helper container, so
    a backup volume never exists without the helper that marks it partial.
    """
    return [
        storage.mount(HELPER_ROOT, read_only=True),
        Mount("/backup", backup, type="volume", no_copy=True, labels=labels),
    ]


def restore_mounts(storage, backup):
    return [
        Mount("/backup", backup, type="volume", read_only=True, no_copy=True),
        storage.mount(HELPER_ROOT, read_only=False),
    ]


def size_mounts_and_paths(storages, backups):
    """Mount each storage read-only under /v/<i>; a backup's size is that of its data/."""
    mounts, paths = [], {}
    for i, storage in enumerate(storages):
        mounts.append(storage.mount(f"/v/{i}", read_only=True))
        paths[f"/v/{i}/{storage.relative_path}"] = storage.name
    for i, name in enumerate(backups, start=len(storages)):
        mounts.append(Mount(f"/v/{i}", name, type="volume", read_only=True, no_copy=True))
        paths[f"/v/{i}/{DATA_DIR}"] = name
    return mounts, paths


def parse_du(output, paths):
    """``du -sb`` lines (``bytes<TAB>path``) -> {volume name: bytes}."""
    sizes = {}
    for line in output.splitlines():
        parts = line.split("\t", 1)
        if len(parts) == 2 and parts[0].isdigit() and parts[1] in paths:
            sizes[paths[parts[1]]] = int(parts[0])
    return sizes




# --- the status and backups JSON models ---------------------------------------------

# What GET .../home-volume says while an operation holds the server's lock.
OPERATION_STATES = {"restart": "restarting", "reset": "resetting", "restore": "restoring"}


def server_state(operation, queued, pending, ready):
    """One word for the page: queued, restarting, resetting, restoring, pending, running or stopped."""
    if queued:
        return "queued"
    if operation:
        return OPERATION_STATES.get(operation, operation)
    if pending:
        return "pending"
    return "running" if ready else "stopped"


def kept_volumes(volumes):
    """The named volumes other than home, which a default reset leaves alone."""
    return [
        {"name": v["name"], "mount_path": v["mount_path"]}
        for v in sorted(volumes, key=lambda v: v["mount_path"])
        if not v["home"]
    ]


def status_model(home, home_mount_path, volumes, backups, state, pending, policy, interrupted_restore):
    """The body of GET .../home-volume, less who asks (``user``, ``server``, ``actions``).

    ``volumes`` come from ``describe_volumes`` with ``exists`` and ``size_bytes`` added;
    ``backups`` are backup entries; ``policy`` is (enabled, retention seconds, keep).
    """
    enabled, retention, keep = policy
    return {
        "volume": {
            "name": home,
            "exists": any(v["exists"] for v in volumes if v["name"] == home),
            "mount_path": home_mount_path,
            "resettable": any(v["resettable"] for v in volumes if v["name"] == home),
        },
        "kept_volumes": kept_volumes(volumes),
        "state": state,
        "pending": pending or None,
        "volumes": volumes,
        "backups": [public(b) for b in backups],
        "backup_policy": {"enabled": enabled, "retention_seconds": retention, "keep": keep},
        "interrupted_restore": (
            {k: interrupted_restore.get(k) for k in ("volume", "backup", "replaced_backup")}
            if interrupted_restore
            else None
        ),
    }


def actions_model(status, may_restart, may_reset, may_delete_backup):
    """What the caller may do now, from the status and their permissions."""
    stopped = may_reset and status["state"] == "stopped"
    return {
        "restart": may_restart and status["state"] == "running",
        "reset": stopped and status["volume"]["exists"] and status["volume"]["resettable"],
        # Any resettable volume can be reset (the dialog lets the user choose).
        "reset_volumes": stopped and any(v["resettable"] and v["exists"] for v in status["volumes"]),
        "restore": stopped and bool(status["backups"]),
        "delete_backup": may_delete_backup,
    }


# --- container settings ---------------------------------------------------------------


def no_auto_remove(host_config, log=None):
    """``host_config`` with Docker's auto-remove off (a copy; the operator's dict is kept)."""
    host_config = dict(host_config or {})
    if host_config.get("auto_remove") and log is not None:
        log.warning(
            "extra_host_config asks for auto_remove, which races restarts and loses"
            " containers; it is turned off (remove=True still removes stopped containers)"
        )
    host_config["auto_remove"] = False
    return host_config


# --- server logs: parsing and redaction -------------------------------------------------

SECRET = "[secret]"
# Longer lines are cut (after redaction) so that 1000 lines stay a bounded answer.
MAX_LOG_LINE = 4000
# Environment variables whose values are secrets (JupyterHub's own: the server's API
# token, which is also its OAuth client secret, and its OAuth client id; and the
# usual names operators give theirs).
_SECRET_ENV = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|CLIENT_ID|API_KEY|PRIVATE_KEY|CREDENTIAL", re.I)
# Values shorter than this are not treated as secrets: replacing "1" everywhere helps no one.
_MIN_SECRET = 6
# `token=`, `access_token=`, `api_token=` ... anywhere (URLs, command lines, key=value logs).
_TOKEN_ASSIGNMENT = re.compile(r"(?i)([\w.-]*token=)[^&\s\"'#;,]+")
# OAuth values in query strings: the authorization code, its state, a client secret.
_OAUTH_QUERY = re.compile(r"(?i)([?&;](?:code|state|client_secret|password)=)[^&\s\"'#;,]+")
# An Authorization header as HTTP, JSON or a Python dict writes it; the scheme word stays.
_AUTHORIZATION = re.compile(
    r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(?:(bearer|token|basic)\s+)?[^\s\"',}\]]+"
)
_DOCKER_TIME = re.compile(r"^\d{4}-\d\d-\d\dT[0-9:.]+(Z|[+-]\d\d:\d\d)$")


def parse_docker_log(text):
    """Docker's ``timestamps=True`` log -> ``[{"time", "text"}]``, oldest first.

    Each line is ``<RFC 3339 time> <text>``; a line without a time keeps ``time`` None.
    """
    out = []
    for line in text.split("\n"):
        if not line:
            continue
        stamp, sep, rest = line.partition(" ")
        if sep and _DOCKER_TIME.match(stamp):
            out.append({"time": stamp, "text": rest.rstrip("\r")})
        else:
            out.append({"time": None, "text": line.rstrip("\r")})
    return out


def secret_values(env, known=()):
    """The values to redact: of the secret-named variables in ``env`` ("K=V" strings, as
    Docker lists a container's environment), and the ``known`` ones (the spawner's own
    API token and OAuth client id)."""
    values = set()
    for item in env or ():
        name, sep, value = str(item).partition("=")
        if sep and _SECRET_ENV.search(name):
            values.add(value)
    values.update(v for v in known if isinstance(v, str))
    return sorted((v for v in values if len(v) >= _MIN_SECRET), key=len, reverse=True)


def redact(text, secrets):
    """``text`` with each of ``secrets``, ``token=`` values, OAuth query values and
    Authorization headers replaced by ``[secret]``."""
    for value in secrets:
        text = text.replace(value, SECRET)
    text = _TOKEN_ASSIGNMENT.sub(r"\1" + SECRET, text)
    text = _OAUTH_QUERY.sub(r"\1" + SECRET, text)
    return _AUTHORIZATION.sub(lambda m: m.group(1) + (m.group(2) + " " if m.group(2) else "") + SECRET, text)


def container_model(container):
    """The part of a container's description the logs answer shows: is it running, how did it end."""
    state = (container or {}).get("State") or {}
    finished = state.get("FinishedAt") or ""
    return {
        "status": state.get("Status") or "unknown",
        "exit_code": state.get("ExitCode") if not state.get("Running") else None,
        "oom_killed": bool(state.get("OOMKilled")),
        "started_at": state.get("StartedAt") or None,
        # Docker says 0001-01-01T00:00:00Z for "never".
        "finished_at": finished if finished and not finished.startswith("0001-") else None,
    }


def logs_model(logs, secrets, tail, container, last_start_error):
    """The body of GET .../server-logs, less who asks: redacted lines, then cut to length."""
    lines = []
    for line in logs["lines"]:
        text = redact(line["text"], secrets)
        if len(text) > MAX_LOG_LINE:
            text = text[:MAX_LOG_LINE] + "…"
        lines.append({"time": line["time"], "text": text})
    return {
        "tail": tail,
        "truncated": bool(logs["truncated"]),
        "lines": lines,
        "container": container_model(container),
        "last_start_error": last_start_error,
    }
