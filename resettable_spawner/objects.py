"""Pure builders: no Docker, no hub, no I/O (kubespawner's ``objects.py`` is the model).

Names, labels, helper specs and scripts, ``du`` parsing, volume descriptions,
retention and ``backup_keep`` choice, and the JSON models of the status and of
backups. Everything here is unit-tested without an engine (tests/unit/).

Volume names only ever come from DockerSpawner's own rendering; the functions here
take rendered names and never build one from a user name.
"""

import datetime
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

COMPLETE_MARKER = ".resettable-spawner-complete"
DATA_DIR = "data"

# template_namespace() fields that differ between users or servers.
PER_SERVER_FIELDS = frozenset(
    {"username", "safe_username", "raw_username", "servername", "raw_servername"}
)

_BACKUP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")

# Helper scripts. The backup copies the whole tree (owner, modes, times, symlinks, hard
# links, dotfiles, empty directories) into data/, then marks it complete and prints its size.
BACKUP_SCRIPT = (
    f"set -e; cp -a /source /backup/{DATA_DIR}; touch /backup/{COMPLETE_MARKER}; "
    f"du -sb /backup/{DATA_DIR}"
)
# Exit 3: the backup is not complete; nothing in the target was touched.
RESTORE_SCRIPT = (
    f"set -e; test -f /backup/{COMPLETE_MARKER} || exit 3; "
    "find /target -mindepth 1 -maxdepth 1 -exec rm -rf {} +; "
    f"cp -a /backup/{DATA_DIR}/. /target/; "
    f"chown --reference=/backup/{DATA_DIR} /target; chmod --reference=/backup/{DATA_DIR} /target; "
    f"touch -r /backup/{DATA_DIR} /target"
)
RESTORE_INCOMPLETE_EXIT = 3


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


def describe_volumes(entries, home_mount_path):
    """The named volumes a server mounts, from ``(template, name, mount_path, read_only)``.

    Resettable: a per-user or per-server template, mounted read-write. Shared volumes
    (no such field) and read-only mounts are listed but never resettable.
    """
    seen, out = set(), []
    for template, name, mount_path, read_only in entries:
        if is_host_path(name) or name in seen:
            continue
        seen.add(name)
        mount_path = os.path.normpath(mount_path)
        out.append(
            {
                "name": name,
                "mount_path": mount_path,
                "home": mount_path == home_mount_path,
                "resettable": is_per_server_template(template) and not read_only,
            }
        )
    return sorted(out, key=lambda v: (not v["home"], v["mount_path"]))


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


def shell(script):
    """The argv of a helper that runs one of the fixed scripts above."""
    return ["/bin/sh", "-c", script]


def backup_mounts(volume, backup, labels):
    """The original read-only at /source; the backup at /backup, created with its labels.

    Docker creates the backup volume in the same request as the helper container, so
    a backup volume never exists without the helper that marks it partial.
    """
    return [
        Mount("/source", volume, type="volume", read_only=True, no_copy=True),
        Mount("/backup", backup, type="volume", no_copy=True, labels=labels),
    ]


def restore_mounts(volume, backup):
    return [
        Mount("/backup", backup, type="volume", read_only=True, no_copy=True),
        Mount("/target", volume, type="volume", no_copy=True),
    ]


def size_mounts_and_paths(volumes, backups):
    """Mount each volume read-only under /v/<i>; a backup's size is that of its data/."""
    mounts, paths = [], {}
    for i, name in enumerate(list(volumes) + list(backups)):
        mounts.append(Mount(f"/v/{i}", name, type="volume", read_only=True, no_copy=True))
        paths[f"/v/{i}/{DATA_DIR}" if i >= len(volumes) else f"/v/{i}"] = name
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
        "reset": stopped and status["volume"]["exists"],
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
