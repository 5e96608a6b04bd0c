"""Volume work for ResettableDockerSpawner: which volumes, their sizes, backups, restore, retention.

Two halves:

- pure functions (no Docker): which volumes a server mounts and which of them are
  per-user (resettable), backup names and labels, which backups expire or exceed
  ``backup_keep``, and the specs of the short-lived helper containers;
- ``VolumeMixin``, the spawner methods that do the Docker work, every call through the
  spawner's own client (``self._call`` / ``self.docker_long``).

Volume names only ever come from DockerSpawner's own rendering (``_volumes_to_binds``,
``mount_binds``, ``format_volume_name``). Backup volumes and helper containers are
named after the original volume plus a timestamp and a random token, and labelled so
that a hub-wide sweep finds them by label.

A backup is a Docker volume holding ``data/`` (an exact copy of the original volume's
tree, made with ``cp -a``) and a marker file written once the copy is complete. While
its helper container exists the backup is partial: it is never listed, restored or
counted, and the sweep removes the pair if the hub died meanwhile.
"""

import asyncio
import datetime
import os
import re
import secrets
import string
import time
import uuid

from docker.errors import APIError
from docker.types import Mount
from traitlets import Bool, Float, HasTraits, Integer, Unicode

from .errors import (
    BadRequest,
    NotFound,
    OperationFailed,
    OperationInProgress,
    StartRefused,
    WrongServerState,
)

from .objects import (  # noqa: F401
    BACKUP_OF,
    USER_LABEL,
    SERVER_LABEL,
    CREATED_LABEL,
    EXPIRES_LABEL,
    REASON_LABEL,
    PREFIX_LABEL,
    HELPER_LABEL,
    PARTIAL_LABEL,
    RESTORING_LABEL,
    INSTANCE_LABEL,
    COMPLETE_MARKER,
    DATA_DIR,
    BACKUP_SCRIPT,
    RESTORE_SCRIPT,
    RESTORE_INCOMPLETE_EXIT,
    utcnow,
    derived_name,
    backup_labels,
    backup_from_volume,
    public,
    expired_backups,
    backups_over_keep,
    valid_backup_id,
    helper_spec,
    backup_mounts,
    restore_mounts,
    size_mounts_and_paths,
    parse_du,
    describe_volumes,
)

# One id per hub process: helpers carrying another id are leftovers of a dead hub.
HUB_INSTANCE = uuid.uuid4().hex[:16]


class VolumeMixin(HasTraits):
    """Volumes, sizes, backups and restore for ResettableDockerSpawner (Docker work)."""

    backup_before_reset = Bool(
        True,
        config=True,
        help="""Copy each volume into a backup volume before a reset deletes it.

        A request may skip it with ``?backup=0``. Restores always back up the content
        they replace.
        """,
    )

    backup_retention = Integer(
        7 * 24 * 3600,
        min=1,
        config=True,
        help="Seconds a backup is kept before the hub-wide sweep deletes it (default 7 days).",
    )

    backup_keep = Integer(
        3,
        min=1,
        config=True,
        help="Most backups kept per volume; when a new one is made, the oldest go first.",
    )

    backup_prune_interval = Float(
        3600.0,
        min=1.0,
        config=True,
        help="""Seconds between hub-wide sweeps that delete expired backups (and leftovers
        of a hub that died mid-copy). The hub also sweeps at start-up.""",
    )

    backup_helper_image = Unicode(
        "",
        config=True,
        help="""Image of the short-lived helper containers that copy volumes and measure sizes.

        Empty (the default): the server's own image, which is already present. It
        needs ``sh``, GNU ``cp``, ``find``, ``du``, ``chown``, ``chmod`` and ``touch``;
        it runs as root with its entrypoint overridden and no network.
        """,
    )

    backup_helper_timeout = Float(
        3600.0,
        min=1.0,
        config=True,
        help="Seconds a backup, restore or size helper may run before it is killed and the operation fails.",
    )

    volume_size_cache_seconds = Float(
        30.0,
        min=0.0,
        config=True,
        help="Seconds a measured volume size is reused. Backups never change, so their sizes are kept.",
    )

    # Class-wide: shared by every spawner of the hub process.
    _volume_sizes = {}  # volume name -> (bytes, monotonic time)
    _backup_sizes = {}  # backup id -> bytes
    _active_helpers = set()  # helper container names in use by this process
    _busy_backups = set()  # backup ids a restore or reset of this process is using

    # --- which volumes -------------------------------------------------------------

    def _volume_entries(self):
        """(template, rendered name, mount path, read-only) for every named volume mounted."""
        entries = []
        for templates, mode in ((self.volumes, "rw"), (self.read_only_volumes, "ro")):
            for template, bind in templates.items():
                # DockerSpawner's own rendering (format_volume_name), one entry at a time.
                ((name, rendered),) = self._volumes_to_binds({template: bind}, {}, mode=mode).items()
                entries.append((template, name, rendered["bind"], rendered["mode"] == "ro"))
        for mount, bound in zip(self.mounts, self.mount_binds):
            if bound.get("Type", "volume") == "volume" and bound.get("Source"):
                entries.append(
                    (mount.get("source", ""), bound["Source"], bound["Target"], bool(bound.get("ReadOnly")))
                )
        return entries

    def server_volumes(self):
        """This server's named volumes: name, mount path, whether home, whether resettable."""
        return describe_volumes(self._volume_entries(), self.home_mount_path)

    def per_user_volume_names(self):
        """Names of the per-user (resettable) volumes; shared volumes are never among them."""
        return [v["name"] for v in self.server_volumes() if v["resettable"]]

    def kept_volumes(self):
        """The other named volumes this server mounts, which a default reset leaves alone."""
        return [
            {"name": v["name"], "mount_path": v["mount_path"]}
            for v in sorted(self.server_volumes(), key=lambda v: v["mount_path"])
            if not v["home"]
        ]

    def _choose_volumes(self, requested):
        """The volumes a reset deletes: the home volume, or exactly the requested ones."""
        if not requested:
            home = self._require_home_volume()
            entry = next((v for v in self.server_volumes() if v["name"] == home), None)
            if entry is not None and not entry["resettable"]:
                raise BadRequest(f"The home volume {home} is shared or read-only and cannot be reset.")
            return [home]
        resettable = set(self.per_user_volume_names())
        chosen = list(dict.fromkeys(requested))
        bad = [name for name in chosen if name not in resettable]
        if bad:
            raise BadRequest(
                "Not a resettable volume of this server: " + ", ".join(repr(n[:200]) for n in bad)
            )
        return chosen

    async def _volume_exists(self, name):
        try:
            await self._call("inspect_volume", name)
            return True
        except APIError as e:
            if e.status_code == 404:
                return False
            raise self._docker_failure("inspect volume", e) from None

    # --- helpers ---------------------------------------------------------------------

    def _helper_labels(self, kind, **extra):
        return {
            HELPER_LABEL: kind,
            PREFIX_LABEL: self.prefix,
            INSTANCE_LABEL: HUB_INSTANCE,
            USER_LABEL: self.user.name,
            SERVER_LABEL: self.name or "",
            **extra,
        }

    async def _run_helper(self, name, script, mounts, labels, entrypoint=None, command=None):
        """Run a helper container to its end; return (exit status, stdout). Always removed."""
        spec = helper_spec(self.backup_helper_image or self.image, name, script, labels)
        if entrypoint is not None:
            spec["entrypoint"], spec["command"] = entrypoint, command
        spec["host_config"] = self.client.create_host_config(mounts=mounts, network_mode="none")
        cls = VolumeMixin
        cls._active_helpers.add(name)
        container_id = None
        try:
            try:
                container_id = (await self._call("create_container", **spec))["Id"]
                await self._call("start", container_id)
            except APIError as e:
                raise self._docker_failure("start a helper container", e) from None
            try:
                result = await self.docker_long("wait", container_id, timeout=self.backup_helper_timeout)
            except APIError as e:
                raise self._docker_failure("wait for a helper container", e) from None
            except Exception as e:  # a read timeout: the helper ran too long
                self.log.error("%s: helper %s did not finish: %s", self._log_name, name, e)
                raise OperationFailed(
                    f"Copying took longer than {self.backup_helper_timeout:.0f} seconds and was stopped."
                ) from None
            status = result.get("StatusCode", -1)
            out = (await self._call("logs", container_id, stdout=True, stderr=False)).decode(errors="replace")
            if status != 0:
                err = (await self._call("logs", container_id, stdout=False, stderr=True)).decode(errors="replace")
                self.log.error("%s: helper %s exited with %s: %s", self._log_name, name, status, err[-2000:])
            return status, out
        finally:
            if container_id is None:
                container_id = name
            try:
                await self._call("remove_container", container_id, v=False, force=True)
            except APIError as e:
                if e.status_code != 404:
                    self.log.error("%s: cannot remove helper %s: %s", self._log_name, name, e)
            except Exception as e:
                self.log.error("%s: cannot remove helper %s: %s", self._log_name, name, e)
            cls._active_helpers.discard(name)

    async def _remove_volume_quietly(self, name):
        try:
            await self._call("remove_volume", name, long=True)
            return True
        except APIError as e:
            if e.status_code == 404:
                return True
            self.log.error("%s: cannot remove volume %s: %s", self._log_name, name, e)
        except Exception as e:
            self.log.error("%s: cannot remove volume %s: %s", self._log_name, name, e)
        return False

    # --- backups ---------------------------------------------------------------------

    async def _make_backup(self, volume, reason):
        """Copy ``volume`` into a new backup volume; return its entry once complete."""
        now = utcnow()
        token = secrets.token_hex(4)
        backup = derived_name(volume, "backup", now, token)
        labels = backup_labels(
            volume,
            self.user.name,
            self.name or "",
            now,
            now + datetime.timedelta(seconds=self.backup_retention),
            self.prefix,
            reason,
        )
        helper = derived_name(volume, "helper", now, token)
        VolumeMixin._busy_backups.add(backup)
        try:
            status, out = await self._run_helper(
                helper,
                BACKUP_SCRIPT,
                backup_mounts(volume, backup, labels),
                self._helper_labels("backup", **{PARTIAL_LABEL: backup}),
            )
            if status != 0:
                await self._remove_volume_quietly(backup)
                raise OperationFailed(f"Backing up the volume {volume} failed; see the hub log.")
        except BaseException:
            # The helper is gone (finally above); a failed copy leaves no backup behind.
            await self._remove_volume_quietly(backup)
            VolumeMixin._busy_backups.discard(backup)
            raise
        size = parse_du(out, {f"/backup/{DATA_DIR}": backup}).get(backup)
        if size is not None:
            VolumeMixin._backup_sizes[backup] = size
        entry = backup_from_volume({"Name": backup, "Labels": labels})
        entry["size_bytes"] = size
        self.log.info("%s: backed up %s into %s (%s bytes)", self._log_name, volume, backup, size)
        return entry

    async def _partial_backups(self):
        """Backup volumes a helper is still filling (here or in a hub that died)."""
        helpers = await self._call(
            "containers", all=True, filters={"label": [PARTIAL_LABEL, f"{PREFIX_LABEL}={self.prefix}"]}
        )
        return {h["Labels"].get(PARTIAL_LABEL) for h in helpers}

    async def _all_backups(self, **label_filters):
        labels = [BACKUP_OF, f"{PREFIX_LABEL}={self.prefix}"] + [f"{k}={v}" for k, v in label_filters.items()]
        listing = await self._call("volumes", filters={"label": labels})
        partial = await self._partial_backups()
        out = []
        for v in listing.get("Volumes") or []:
            b = backup_from_volume(v)
            if b and b["_prefix"] == self.prefix and b["id"] not in partial:
                out.append(b)
        return out

    async def list_backups(self):
        """This server's complete backups, newest first."""
        try:
            backups = await self._all_backups(**{USER_LABEL: self.user.name})
        except APIError as e:
            raise self._docker_failure("list backups", e) from None
        mine = [b for b in backups if b["_user"] == self.user.name and b["_server"] == (self.name or "")]
        for b in mine:
            b["size_bytes"] = VolumeMixin._backup_sizes.get(b["id"])
        return sorted(mine, key=lambda b: (b["created"], b["id"]), reverse=True)

    async def _find_backup(self, backup_id):
        """This server's complete backup with this id; NotFound for unknown or foreign ids."""
        missing = NotFound("No such backup for this server.")
        if not isinstance(backup_id, str) or not valid_backup_id(backup_id):
            raise missing
        try:
            volume = await self._call("inspect_volume", backup_id)
        except APIError as e:
            if e.status_code == 404:
                raise missing from None
            raise self._docker_failure("inspect volume", e) from None
        b = backup_from_volume(volume)
        if (
            b is None
            or b["_user"] != self.user.name
            or b["_server"] != (self.name or "")
            or b["_prefix"] != self.prefix
        ):
            raise missing
        if b["id"] in await self._partial_backups():
            raise missing
        b["size_bytes"] = VolumeMixin._backup_sizes.get(b["id"])
        return b

    async def _prune(self, volumes, protect=()):
        """Drop this server's backups of ``volumes`` beyond ``backup_keep`` (oldest first)."""
        try:
            backups = [b for b in await self.list_backups() if b["volume"] in volumes]
        except Exception as e:
            self.log.error("%s: cannot list backups to prune: %s", self._log_name, e)
            return []
        protect = set(protect) | VolumeMixin._busy_backups | self._protected_by_record()
        removed = []
        for b in backups_over_keep(backups, self.backup_keep, protect):
            if await self._remove_volume_quietly(b["id"]):
                VolumeMixin._backup_sizes.pop(b["id"], None)
                removed.append(b["id"])
        if removed:
            self.log.info("%s: removed backups beyond backup_keep=%s: %s", self._log_name, self.backup_keep, removed)
        return removed

    def _protected_by_record(self):
        record = self._interrupted_restore() or {}
        return {record.get("backup"), record.get("replaced_backup")} - {None}

    def _interrupted_restore(self):
        record = getattr(self, "interrupted_operation", None) or {}
        return record if record.get("action") == "restore" else None

    # --- sizes -----------------------------------------------------------------------

    async def _measure_sizes(self, volumes, backups):
        """Apparent sizes (``du -sb``) of existing volumes and backups, cached; one helper.

        Concurrent requests for one server wait for the same measurement instead of
        starting helpers of their own.
        """
        if getattr(self, "_sizes_lock", None) is None:
            self._sizes_lock = asyncio.Lock()
        async with self._sizes_lock:
            return await self._measure_sizes_now(volumes, backups)

    async def _measure_sizes_now(self, volumes, backups):
        now = time.monotonic()
        todo_v = [
            v
            for v in volumes
            if now - VolumeMixin._volume_sizes.get(v, (0, -1e18))[1] > self.volume_size_cache_seconds
        ]
        todo_b = [b for b in backups if b not in VolumeMixin._backup_sizes]
        measured = {}
        if todo_v or todo_b:
            mounts, paths = size_mounts_and_paths(todo_v, todo_b)
            first = (todo_v or todo_b)[0]
            name = derived_name(first, "sizes", utcnow(), secrets.token_hex(4))
            _, out = await self._run_helper(
                name, "", mounts, self._helper_labels("sizes"), entrypoint=["du", "-sb"], command=list(paths)
            )
            measured = parse_du(out, paths)
            stamp = time.monotonic()
            for v in todo_v:
                if v in measured:
                    VolumeMixin._volume_sizes[v] = (measured[v], stamp)
            for b in todo_b:
                if b in measured:
                    VolumeMixin._backup_sizes[b] = measured[b]
        for v in volumes:
            if v not in measured and self._cached_volume_size(v) is not None:
                measured[v] = self._cached_volume_size(v)
        return measured

    def _cached_volume_size(self, name):
        hit = VolumeMixin._volume_sizes.get(name)
        if hit and time.monotonic() - hit[1] <= self.volume_size_cache_seconds:
            return hit[0]
        return None

    # --- status ----------------------------------------------------------------------

    async def home_volume_status(self, sizes=False):
        """Describe the volumes, their backups and the server's state, for the API and the page."""
        name = self.home_volume_name
        volumes = self.server_volumes()
        for v in volumes:
            v["exists"] = await self._volume_exists(v["name"])
        backups = await self.list_backups()
        measured = {}
        if sizes:
            measured = await self._measure_sizes(
                [v["name"] for v in volumes if v["exists"]],
                [b["id"] for b in backups if b["size_bytes"] is None],
            )
        for v in volumes:
            size = measured.get(v["name"], self._cached_volume_size(v["name"]))
            v["size_bytes"] = size if v["exists"] else None
        for b in backups:
            b["size_bytes"] = VolumeMixin._backup_sizes.get(b["id"])
        exists = any(v["exists"] for v in volumes if v["name"] == name)
        if name and not any(v["name"] == name for v in volumes):
            exists = await self._volume_exists(name)
        state = getattr(self, "_operation_state", None)
        if not state:
            if self._operation:
                state = {"restart": "restarting", "reset": "resetting", "restore": "restoring"}.get(
                    self._operation, self._operation
                )
            elif self.pending:
                state = "pending"
            elif self.ready:
                state = "running"
            else:
                state = "stopped"
        interrupted = self._interrupted_restore()
        return {
            "volume": {"name": name, "exists": exists, "mount_path": self.home_mount_path},
            "kept_volumes": self.kept_volumes(),
            "state": state,
            "pending": self.pending or None,
            "volumes": volumes,
            "backups": [public(b) for b in backups],
            "backup_policy": {
                "enabled": self.backup_before_reset,
                "retention_seconds": self.backup_retention,
                "keep": self.backup_keep,
            },
            "interrupted_restore": (
                {k: interrupted.get(k) for k in ("volume", "backup", "replaced_backup")} if interrupted else None
            ),
        }

    # --- reset -----------------------------------------------------------------------

    async def reset_home_volume(self, requested_by=None, volumes=None, backup=None):
        """Delete this server's home volume (or exactly ``volumes``) while the server is stopped.

        Each volume is first copied into a backup volume (``backup_before_reset``, or
        ``backup`` for this call); a volume is deleted only once every backup is
        complete. A stopped container left by ``remove = False`` still holds the
        volumes, so it is removed first; the next start creates a fresh one.

        Returns the deleted volumes, the home volume among them (or None), the backups
        made, the removed container (or None) and the duration in seconds.
        """
        return await self._perform(
            "reset",
            lambda: self._reset_home_volume(volumes, backup),
            requested_by,
            lambda r: (
                "removed volumes %s (backups: %s; container removed: %s) in %.2fs",
                ", ".join(r["volumes"]),
                ", ".join(b["id"] for b in r["backups"]) or "none",
                r["removed_container"],
                r["duration_seconds"],
            ),
        )

    async def _check_stopped(self, what):
        if self.active:
            raise WrongServerState(f"The server is running or busy; stop it before {what}.")
        container = await self._inspect_container()
        if container and any(container["State"].get(s) for s in ("Running", "Restarting", "Paused")):
            # JupyterHub thinks the server is stopped, but Docker still runs it.
            self.log.warning(
                "%s: container %s runs although the server is stopped", self._log_name, self.object_name
            )
            raise WrongServerState(f"The server's container is still running; stop the server before {what}.")
        return container

    async def _reset_home_volume(self, volumes=None, backup=None):
        if self.active:
            raise WrongServerState("The server is running or busy; stop it before resetting the home volume.")
        targets = self._choose_volumes(volumes)
        home = self.home_volume_name
        container = await self._check_stopped("resetting")

        for name in targets:
            if not await self._volume_exists(name):
                what = "home volume" if name == home else "volume"
                raise NotFound(f"The {what} {name} does not exist.")

        do_backup = self.backup_before_reset if backup is None else backup
        half_restored = (self._interrupted_restore() or {}).get("volume")
        # An unfinished restore keeps its record (it blocks starts) until its volume is gone.
        record = half_restored is None
        made = []
        tic = time.perf_counter()
        try:
            if do_backup:
                if record:
                    self._record_operation("reset", step="backup", volumes=targets)
                for name in targets:
                    if name == half_restored:
                        continue  # its real content is in the interrupted restore's backups
                    made.append(await self._make_backup(name, "reset"))
        except BaseException:
            for b in made:
                await self._remove_volume_quietly(b["id"])
                VolumeMixin._busy_backups.discard(b["id"])
            if record:
                self._clear_operation()
            raise
        backup_seconds = round(time.perf_counter() - tic, 3)

        try:
            removed_container = None
            if container:
                # remove=False leaves a stopped container that still references the volumes,
                # and Docker refuses to delete a referenced volume (409 "volume is in use").
                try:
                    await self._call("remove_container", container["Id"], v=False)
                except APIError as e:
                    if e.status_code != 404:
                        raise self._docker_failure("remove container", e) from None
                removed_container = container["Name"].lstrip("/")
                self.object_id = ""

            if record:
                self._record_operation("reset", step="delete", volumes=targets, backups=[b["id"] for b in made])
            for name in targets:
                try:
                    await self._call("remove_volume", name, long=True)
                except APIError as e:
                    what = "home volume" if name == home else "volume"
                    if e.status_code == 404:
                        continue  # gone meanwhile: the outcome asked for
                    if e.status_code == 409:
                        self.log.warning("%s: volume %s is in use: %s", self._log_name, name, e)
                        raise WrongServerState(f"The {what} {name} is in use by another container.") from None
                    raise self._docker_failure("remove volume", e) from None
                VolumeMixin._volume_sizes.pop(name, None)
            if record or half_restored in targets:
                self._clear_operation()
        finally:
            for b in made:
                VolumeMixin._busy_backups.discard(b["id"])
        if made:
            await self._prune(targets, protect={b["id"] for b in made})
        return {
            "volume": home if home in targets else None,
            "volumes": targets,
            "backups": [public(b) for b in made],
            "backup_duration_seconds": backup_seconds if made else 0.0,
            "removed_container": removed_container,
        }

    # --- restore ---------------------------------------------------------------------

    async def restore_backup(self, backup_id, requested_by=None):
        """Replace a volume's content with a backup's, while the server is stopped.

        The current content is first backed up itself (so the restore can be undone),
        unless the volume does not exist or holds a restore the hub did not finish.
        The backup restored from stays until it expires. Returns the volume, the
        backup, the backup of the replaced content (or None) and the duration.
        """
        return await self._perform(
            "restore",
            lambda: self._restore_backup(backup_id),
            requested_by,
            lambda r: (
                "restored %s from %s (replaced content backed up as %s) in %.2fs",
                r["volume"],
                r["backup"]["id"],
                (r["replaced_backup"] or {}).get("id"),
                r["duration_seconds"],
            ),
        )

    async def _restore_backup(self, backup_id):
        if self.active:
            raise WrongServerState("The server is running or busy; stop it before restoring a backup.")
        b = await self._find_backup(backup_id)
        volume = b["volume"]
        if volume not in self.per_user_volume_names():
            raise WrongServerState(f"The volume {volume} is no longer a resettable volume of this server.")
        await self._check_stopped("restoring")
        other = self._interrupted_restore()
        if other and other.get("volume") != volume:
            raise WrongServerState(
                f"A restore of the volume {other.get('volume')} was interrupted; restore it again first."
            )
        cls = VolumeMixin
        cls._busy_backups.add(b["id"])
        replaced = None
        try:
            interrupted = self._interrupted_restore()
            half_restored = interrupted is not None and interrupted.get("volume") == volume
            exists = await self._volume_exists(volume)
            if half_restored:
                # The content there is a partial copy; the real one is already backed up.
                replaced_id = interrupted.get("replaced_backup")
                if replaced_id:
                    try:
                        replaced = await self._find_backup(replaced_id)
                    except NotFound:
                        replaced = None
            elif exists:
                replaced = await self._make_backup(volume, "restore")
                cls._busy_backups.add(replaced["id"])
            # A restore helper left by a hub that died must not keep writing meanwhile.
            await self._remove_stale_restore_helpers(volume)
            if not exists:
                try:
                    await self._call("create_volume", volume)
                except APIError as e:
                    raise self._docker_failure("create volume", e) from None

            self._record_operation(
                "restore",
                volume=volume,
                backup=b["id"],
                replaced_backup=replaced["id"] if replaced else None,
            )
            now = utcnow()
            status, _ = await self._run_helper(
                derived_name(volume, "restore", now, secrets.token_hex(4)),
                RESTORE_SCRIPT,
                restore_mounts(volume, b["id"]),
                self._helper_labels("restore", **{RESTORING_LABEL: volume}),
            )
            if status == RESTORE_INCOMPLETE_EXIT:
                self._clear_operation()
                raise NotFound("No such backup for this server.")
            if status != 0:
                # The record stays: the server refuses to start until a restore succeeds.
                raise OperationFailed(
                    f"Restoring {volume} failed part-way; restore again before starting the server. See the hub log."
                )
            self._clear_operation()
            cls._volume_sizes.pop(volume, None)
        finally:
            cls._busy_backups.discard(b["id"])
            if replaced:
                cls._busy_backups.discard(replaced["id"])
        await self._prune([volume], protect={b["id"]} | ({replaced["id"]} if replaced else set()))
        return {"volume": volume, "backup": public(b), "replaced_backup": public(replaced) if replaced else None}

    async def _remove_stale_restore_helpers(self, volume):
        stale = await self._call(
            "containers",
            all=True,
            filters={"label": [f"{RESTORING_LABEL}={volume}", f"{PREFIX_LABEL}={self.prefix}"]},
        )
        for h in stale:
            name = (h.get("Names") or ["/?"])[0].lstrip("/")
            if name in VolumeMixin._active_helpers:
                continue
            self.log.warning("%s: removing a restore helper left by an earlier hub: %s", self._log_name, name)
            try:
                await self._call("remove_container", h["Id"], v=False, force=True)
            except APIError as e:
                if e.status_code != 404:
                    raise self._docker_failure("remove a leftover helper container", e) from None

    # --- delete ----------------------------------------------------------------------

    async def delete_backup(self, backup_id, requested_by=None):
        """Delete one of this server's backups now."""
        tic = time.perf_counter()
        b = await self._find_backup(backup_id)
        if b["id"] in VolumeMixin._busy_backups or b["id"] in self._protected_by_record():
            raise OperationInProgress("This backup is in use by a reset or restore; try again later.")
        try:
            await self._call("remove_volume", b["id"], long=True)
        except APIError as e:
            if e.status_code == 404:
                raise NotFound("No such backup for this server.") from None
            if e.status_code == 409:
                raise OperationInProgress("This backup is in use; try again later.") from None
            raise self._docker_failure("remove volume", e) from None
        VolumeMixin._backup_sizes.pop(b["id"], None)
        self._log_action("delete-backup", requested_by, "removed %s", b["id"])
        return {"deleted": public(b), "duration_seconds": round(time.perf_counter() - tic, 3)}

    async def remove_volumes_and_backups(self):
        """For delete_forever: remove every per-user volume of this server and its backups.

        Shared volumes are never touched. The caller removes the container first.
        Returns the names removed.
        """
        removed = []
        for name in self.per_user_volume_names():
            if await self._volume_exists(name) and await self._remove_volume_quietly(name):
                removed.append(name)
                VolumeMixin._volume_sizes.pop(name, None)
        for b in await self.list_backups():
            if await self._remove_volume_quietly(b["id"]):
                removed.append(b["id"])
                VolumeMixin._backup_sizes.pop(b["id"], None)
        return removed

    # --- start and sweep ---------------------------------------------------------------

    async def check_volumes_before_start(self):
        """Refuse to start on volumes that a reset or restore is changing, or a restore left half-done."""
        if self._operation in ("reset", "restore"):
            raise StartRefused(
                f"A {self._operation} of this server's volumes is in progress; start it when that has finished."
            )
        interrupted = self._interrupted_restore()
        if interrupted:
            raise StartRefused(
                f"A restore of the volume {interrupted.get('volume')} was interrupted; restore the backup"
                f" {interrupted.get('backup')} again (or reset the volume) before starting the server."
            )

    async def sweep_backups(self):
        """Hub-wide: delete expired backups and the leftovers of a hub that died mid-copy.

        Considers only objects labelled with this hub's ``DockerSpawner.prefix``.
        Removes helper containers that no operation of this hub process uses (with
        the partial backups they were filling), then backups past their expiry.
        Idempotent; logs errors and never raises.
        """
        removed = []
        try:
            helpers = await self._call(
                "containers", all=True, filters={"label": [HELPER_LABEL, f"{PREFIX_LABEL}={self.prefix}"]}
            )
            for h in helpers:
                labels = h.get("Labels") or {}
                name = (h.get("Names") or ["/?"])[0].lstrip("/")
                if labels.get(INSTANCE_LABEL) == HUB_INSTANCE and name in VolumeMixin._active_helpers:
                    continue
                try:
                    await self._call("remove_container", h["Id"], v=False, force=True)
                except APIError as e:
                    if e.status_code != 404:
                        self.log.error("sweep: cannot remove helper %s: %s", name, e)
                        continue
                removed.append(name)
                if labels.get(RESTORING_LABEL):
                    self.log.warning(
                        "sweep: removed an unfinished restore of %s; its server will not start until it is restored again",
                        labels[RESTORING_LABEL],
                    )
                partial = labels.get(PARTIAL_LABEL)
                if partial and await self._remove_volume_quietly(partial):
                    removed.append(partial)
            backups = await self._all_backups()
            # backup_keep is applied when a backup is made (where restores protect theirs).
            for backup_id in [b["id"] for b in expired_backups(backups, utcnow())]:
                if backup_id in VolumeMixin._busy_backups:
                    continue
                if await self._remove_volume_quietly(backup_id):
                    VolumeMixin._backup_sizes.pop(backup_id, None)
                    removed.append(backup_id)
            if removed:
                self.log.info("sweep: removed %s", ", ".join(removed))
        except Exception as e:
            self.log.error("sweep of backups failed: %s", e)
        return removed
