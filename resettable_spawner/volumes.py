"""The volume layer: which volumes a server mounts, and resetting, backing up and restoring them.

Volume names only ever come from DockerSpawner's own rendering (``_volumes_to_binds``,
``mount_binds``, ``format_volume_name``). Every engine call goes down to
``self.engine`` (engine.py); backups are a ``BackupStore`` (backups.py) composed
here; names, labels and JSON models are pure builders (objects.py).
"""

import asyncio
import os
import secrets
import time

from traitlets import Bool, Float, Integer, List, Unicode, validate

from .backups import BackupStore
from .base import EngineSpawner
from .errors import (
    BadRequest,
    NotFound,
    OperationInProgress,
    StartRefused,
    VolumeInUse,
    WrongServerState,
)
from .objects import (
    Storage,
    derived_name,
    describe_volumes,
    host_root_of,
    hub_identity,
    is_driver_backed,
    is_host_path,
    name_stem,
    parse_du,
    public,
    size_mounts_and_paths,
    status_model,
    utcnow,
)

# Seconds beyond backup_helper_timeout after which another hub's helper is surely orphaned.
HELPER_GRACE_MARGIN = 60

# States in which a container still holds its volumes and must not be removed.
LIVE_CONTAINER_STATES = ("Running", "Restarting", "Paused")


class VolumeSpawner(EngineSpawner):
    home_mount_path = Unicode(
        "/home/jovyan",
        config=True,
        help="""Path inside the container where the home volume is mounted.

        The home volume is the entry of ``volumes`` whose mount point is this path.
        Its name is rendered with DockerSpawner's own templates and escaping, so it
        follows ``{username}``, ``{servername}`` and ``format_volume_name``.
        Volumes mounted below this path (for example ``/home/jovyan/work``) are
        separate volumes and are never touched by a reset.
        """,
    )

    @validate("home_mount_path")
    def _validate_home_mount_path(self, proposal):
        path = proposal.value
        if not path.startswith("/"):
            raise ValueError(f"home_mount_path must be an absolute path, got {path!r}")
        return os.path.normpath(path)

    host_home_roots = List(
        Unicode(),
        config=True,
        help="""Host folders under which per-user host paths may be reset, backed up and restored.

        Empty (the default): a host path in ``volumes`` (``{"/srv/homes/{username}":
        "/home/jovyan"}``) is listed but never resettable. A host path becomes
        resettable when its template has a per-user or per-server field and its
        rendered path lies strictly inside one of these roots. Helpers mount the root
        and refuse a path that resolves outside it, symlinks included, so a link can
        never lead a reset out of the root. A reset empties the folder and keeps it.
        """,
    )

    @validate("host_home_roots")
    def _validate_host_home_roots(self, proposal):
        roots = []
        for root in proposal.value:
            if not os.path.isabs(root) or os.path.normpath(root) == "/":
                raise ValueError(f"host_home_roots must be absolute folders other than /, got {root!r}")
            roots.append(os.path.normpath(root))
        return roots

    backup_by_move = Bool(
        True,
        config=True,
        help="""Make a reset's backup by moving the volume's data instead of copying it.

        A reset deletes the volume anyway, so its backup can be the old data itself: one
        rename(2) within the engine's volume folder, in well under a second and with no
        extra disk, whatever the size. A restore moves the chosen backup's data back
        (the backup is consumed) and the replaced content into a new backup. Only for a
        ``local`` volume without options whose data lies in the engine's own volume
        folder, which a helper must be able to reach (probed once per engine);
        everywhere else (driver-backed volumes, host paths, a rootless or remote engine)
        and with False, backups are copies (``cp -a``).
        """,
    )

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

    # Process-wide: volume name -> (bytes, monotonic time of the measurement).
    _volume_sizes = {}

    _backups = None

    @property
    def backups(self):
        """This hub's backups on this spawner's engine."""
        if self._backups is None:
            hub_id = hub_identity(self.user.settings.get("cookie_secret"))
            self._backups = BackupStore(self.engine, self.prefix, hub_id, self.log, self._log_name)
        return self._backups

    @property
    def helper_grace_seconds(self):
        """How old another hub's helper must be before this hub's sweep removes it."""
        return self.backup_helper_timeout + HELPER_GRACE_MARGIN

    @property
    def _helper_image(self):
        return self.backup_helper_image or self.image

    @property
    def _server_key(self):
        return self.user.name, self.name or ""

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
        return describe_volumes(self._volume_entries(), self.home_mount_path, self.host_home_roots)

    def storage_of(self, name):
        """Where a volume of this server keeps its data, for the helpers."""
        if is_host_path(name):
            return Storage(name, host_root_of(name, self.host_home_roots))
        return Storage(name)

    def per_user_volume_names(self):
        """Names of the per-user (resettable) volumes; shared volumes are never among them."""
        return [v["name"] for v in self.server_volumes() if v["resettable"]]

    @property
    def home_volume_name(self):
        """Name of the Docker volume mounted at ``home_mount_path``, or None if there is none.

        Rendered from ``volumes`` (and ``mounts``) with DockerSpawner's templates.
        """
        return next((v["name"] for v in self.server_volumes() if v["home"]), None)

    def volumes_to_reset(self, requested):
        """The volumes a reset deletes: the home volume, or exactly the requested ones."""
        if not requested:
            home = self.home_volume_name
            if home is None:
                self.log.error(
                    "%s: no named Docker volume is mounted at %s; check DockerSpawner.volumes",
                    self._log_name,
                    self.home_mount_path,
                )
                raise NotFound(
                    f"No home volume is configured for this server (nothing is mounted at {self.home_mount_path})."
                )
            if home not in self.per_user_volume_names():
                if is_host_path(home):
                    raise BadRequest(
                        f"The home folder {home} is a host path that is shared, read-only or outside"
                        " host_home_roots, and cannot be reset."
                    )
                raise BadRequest(f"The home volume {home} is shared or read-only and cannot be reset.")
            return [home]
        resettable = set(self.per_user_volume_names())
        chosen = list(dict.fromkeys(requested))
        bad = [name for name in chosen if name not in resettable]
        if bad:
            raise BadRequest("Not a resettable volume of this server: " + ", ".join(repr(n[:200]) for n in bad))
        return chosen

    async def _volume_exists(self, name):
        # A host path is taken to exist (Docker creates it at the first start, and a reset
        # empties it rather than removing it); a helper that finds it missing says so (404).
        return is_host_path(name) or await self.engine.inspect_volume(name) is not None

    async def _back_up(self, name, reason):
        """A backup of the volume: by moving its data where that is safe, else by copying it."""
        storage = self.storage_of(name)
        args = (reason, *self._server_key, self.backup_retention, self._helper_image, self.backup_helper_timeout)
        if self.backup_by_move:
            data_path = await self.backups.movable(storage, self._helper_image, self.backup_helper_timeout)
            if data_path:
                made = await self.backups.make_by_move(storage, data_path, *args)
                if made is not None:
                    return made
        return await self.backups.make(storage, *args)

    async def _restore_data(self, backup_id, volume, resume):
        """Put the backup's content into the volume: by a move that consumes the backup, else a copy.

        Returns whether the backup was consumed.
        """
        user, server = self._server_key
        storage, image, timeout = self.storage_of(volume), self._helper_image, self.backup_helper_timeout
        if self.backup_by_move:
            target = await self.backups.movable(storage, image, timeout)
            source = target and await self.backups.movable(Storage(backup_id), image, timeout)
            if source and await self.backups.restore_by_move(
                backup_id, source, storage, target, user, server, image, timeout, resume
            ):
                return True
        await self.backups.restore(backup_id, storage, user, server, image, timeout)
        return False

    async def _reset_storage(self, name):
        """Empty a volume as a freshly created one is, on the same storage.

        A plain local volume is removed (the fast path; the next start creates it
        anew). Removing one with another driver or with options (NFS, bind) would
        remove its definition and leave its files, and the next start would create a
        plain local volume in its place, off the operator's storage; such volumes, and
        host paths, are emptied in place instead: driver, options and labels stay.
        Returns how: "removed" or "emptied".
        """
        volume = None if is_host_path(name) else await self.engine.inspect_volume(name)
        if volume is not None and not is_driver_backed(volume):
            await self.engine.remove_volume(name)
            return "removed"
        await self.backups.empty(
            self.storage_of(name), *self._server_key, self._helper_image, self.backup_helper_timeout
        )
        return "emptied"

    async def _container_if_stopped(self, what):
        """The server's stopped container (or None); WrongServerState while it runs."""
        if self.active:
            raise WrongServerState(f"The server is running or busy; stop it before {what}.")
        container = await self.engine.inspect_server(self.object_name)
        if container and any(container["State"].get(s) for s in LIVE_CONTAINER_STATES):
            # JupyterHub thinks the server is stopped, but Docker still runs it.
            self.log.warning("%s: container %s runs although the server is stopped", self._log_name, self.object_name)
            raise WrongServerState(f"The server's container is still running; stop the server before {what}.")
        return container

    async def _remove_stopped_container(self, container):
        """remove=False leaves a stopped container that still references the volumes,
        and Docker refuses to delete a referenced volume (409 "volume is in use")."""
        await self.engine.remove_server(container["Id"])
        self.object_id = ""
        return container["Name"].lstrip("/")

    # --- reset ---------------------------------------------------------------------

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
            lambda: self._reset(volumes, backup),
            requested_by,
            lambda r: (
                "removed volumes %s (backups: %s; container removed: %s) in %.2fs",
                ", ".join(r["volumes"]),
                ", ".join(b["id"] for b in r["backups"]) or "none",
                r["removed_container"],
                r["duration_seconds"],
            ),
        )

    async def _reset(self, volumes, backup):
        if self.active:
            raise WrongServerState("The server is running or busy; stop it before resetting the home volume.")
        targets = self.volumes_to_reset(volumes)
        home = self.home_volume_name
        container = await self._container_if_stopped("resetting")
        for name in targets:
            if not await self._volume_exists(name):
                what = "home volume" if name == home else "volume"
                raise NotFound(f"The {what} {name} does not exist.")

        do_backup = self.backup_before_reset if backup is None else backup
        half_restored = (self.operation.interrupted_action("restore") or {}).get("volume")
        # An unfinished restore keeps its record (it blocks starts) until its volume is gone.
        record = half_restored is None
        user, server = self._server_key
        made = []
        tic = time.perf_counter()
        try:
            if do_backup:
                if record:
                    self.operation.step("reset", step="backup", volumes=targets)
                for name in targets:
                    if name == half_restored:
                        continue  # its real content is in the interrupted restore's backups
                    made.append(await self._back_up(name, "reset"))
        except BaseException:
            for b in made:
                await self.backups.discard(b)
            if record:
                self.operation.clear()
            raise
        backup_seconds = round(time.perf_counter() - tic, 3)

        try:
            removed_container = await self._remove_stopped_container(container) if container else None
            if record:
                self.operation.step("reset", step="delete", volumes=targets, backups=[b["id"] for b in made])
            for name in targets:
                try:
                    await self._reset_storage(name)
                except VolumeInUse:
                    what = "home volume" if name == home else "volume"
                    raise VolumeInUse(name, f"The {what} {name} is in use by another container.") from None
                VolumeSpawner._volume_sizes.pop(name, None)
            if record or half_restored in targets:
                self.operation.clear()
        finally:
            for b in made:
                BackupStore.busy.discard(b["id"])
        if made:
            await self._prune(targets, protect={b["id"] for b in made})
        return {
            "volume": home if home in targets else None,
            "volumes": targets,
            "backups": [public(b) for b in made],
            "backup_duration_seconds": backup_seconds if made else 0.0,
            "removed_container": removed_container,
        }

    # --- restore -------------------------------------------------------------------

    async def restore_backup(self, backup_id, requested_by=None):
        """Replace a volume's content with a backup's, while the server is stopped.

        The current content is first backed up itself (so the restore can be undone),
        unless the volume does not exist or holds a restore the hub did not finish.
        The backup restored from stays until it expires. Returns the volume, the
        backup, the backup of the replaced content (or None) and the duration.
        """
        return await self._perform(
            "restore",
            lambda: self._restore(backup_id),
            requested_by,
            lambda r: (
                "restored %s from %s (replaced content backed up as %s) in %.2fs",
                r["volume"],
                r["backup"]["id"],
                (r["replaced_backup"] or {}).get("id"),
                r["duration_seconds"],
            ),
        )

    async def _restore(self, backup_id):
        if self.active:
            raise WrongServerState("The server is running or busy; stop it before restoring a backup.")
        user, server = self._server_key
        b = await self.backups.find(backup_id, user, server)
        volume = b["volume"]
        if volume not in self.per_user_volume_names():
            raise WrongServerState(f"The volume {volume} is no longer a resettable volume of this server.")
        await self._container_if_stopped("restoring")
        interrupted = self.operation.interrupted_action("restore")
        if interrupted and interrupted.get("volume") != volume:
            raise WrongServerState(
                f"A restore of the volume {interrupted.get('volume')} was interrupted; restore it again first."
            )
        BackupStore.busy.add(b["id"])
        replaced, replaced_here = None, False
        try:
            exists = await self._volume_exists(volume)
            if interrupted:
                # The content there is a partial copy; the real one is already backed up.
                replaced_id = interrupted.get("replaced_backup")
                if replaced_id:
                    try:
                        replaced = await self.backups.find(replaced_id, user, server)
                    except NotFound:
                        replaced = None
            elif exists:
                replaced, replaced_here = await self._back_up(volume, "restore"), True
                BackupStore.busy.add(replaced["id"])
            await self.backups.remove_stale_restore_helpers(volume, self.helper_grace_seconds)
            if not exists:
                # Gone altogether (its storage issue is the operator's): a plain local volume.
                await self.engine.create_volume(volume)
            self.operation.step(
                "restore", volume=volume, backup=b["id"], replaced_backup=replaced["id"] if replaced else None
            )
            try:
                consumed = await self._restore_data(
                    b["id"], volume, resume=bool(interrupted) and interrupted.get("backup") == b["id"]
                )
            except NotFound:
                # Nothing was restored: the content just backed up (moved away) comes back.
                if replaced_here:
                    await self.backups.discard(replaced)
                    replaced = None
                self.operation.clear()
                raise
            # On any other failure the record stays: the server refuses to start until a restore succeeds.
            self.operation.clear()
            VolumeSpawner._volume_sizes.pop(volume, None)
            if consumed:
                # Its data is the volume's now; cleared first, so a retry never needs it.
                await self.backups.remove(b["id"])
        finally:
            BackupStore.busy.discard(b["id"])
            if replaced:
                BackupStore.busy.discard(replaced["id"])
        await self._prune([volume], protect={b["id"]} | ({replaced["id"]} if replaced else set()))
        return {"volume": volume, "backup": public(b), "replaced_backup": public(replaced) if replaced else None}

    # --- backups -------------------------------------------------------------------

    async def list_backups(self):
        """This server's complete backups, newest first."""
        return await self.backups.of_server(*self._server_key)

    def _protected_by_record(self):
        record = self.operation.interrupted_action("restore") or {}
        return {record.get("backup"), record.get("replaced_backup")} - {None}

    async def _prune(self, volumes, protect=()):
        return await self.backups.prune(
            volumes, *self._server_key, self.backup_keep, set(protect) | self._protected_by_record()
        )

    async def delete_backup(self, backup_id, requested_by=None):
        """Delete one of this server's backups now."""
        tic = time.perf_counter()
        b = await self.backups.find(backup_id, *self._server_key)
        if b["id"] in BackupStore.busy or b["id"] in self._protected_by_record():
            raise OperationInProgress("This backup is in use by a reset or restore; try again later.")
        try:
            await self.engine.remove_volume(b["id"])
        except VolumeInUse:
            raise OperationInProgress("This backup is in use; try again later.") from None
        BackupStore.sizes.pop(b["id"], None)
        self._log_action("delete-backup", requested_by, "removed %s", b["id"])
        return {"deleted": public(b), "duration_seconds": round(time.perf_counter() - tic, 3)}

    async def remove_volumes_and_backups(self):
        """For delete_forever: remove every per-user volume of this server and its backups.

        Shared volumes are never touched. The caller removes the container first.
        Returns the names removed.
        """
        removed = []
        for name in self.per_user_volume_names():
            if not await self._volume_exists(name):
                continue
            try:
                # Its data too, not only a driver-backed volume's definition.
                if await self._reset_storage(name) == "emptied" and not is_host_path(name):
                    await self.engine.remove_volume(name)
            except Exception as e:
                self.log.error("%s: cannot remove volume %s: %s", self._log_name, name, e)
                continue
            removed.append(name)
            VolumeSpawner._volume_sizes.pop(name, None)
        for b in await self.list_backups():
            if await self.backups.remove(b["id"]):
                removed.append(b["id"])
        return removed

    # --- start ---------------------------------------------------------------------

    def check_volumes_before_start(self):
        """Refuse to start on volumes that a reset or restore is changing, or a restore left half-done."""
        if self.operation.action in ("reset", "restore"):
            raise StartRefused(
                f"A {self.operation.action} of this server's volumes is in progress; start it when that has finished."
            )
        interrupted = self.operation.interrupted_action("restore")
        if interrupted:
            raise StartRefused(
                f"A restore of the volume {interrupted.get('volume')} was interrupted; restore the backup"
                f" {interrupted.get('backup')} again (or reset the volume) before starting the server."
            )

    # --- sizes ---------------------------------------------------------------------

    _sizes_lock = None

    async def _measure_sizes(self, volumes, backups):
        """Apparent sizes (``du -sb``) of existing volumes and backups, cached; one helper.

        Concurrent requests for one server wait for the same measurement instead of
        starting helpers of their own.
        """
        if self._sizes_lock is None:
            self._sizes_lock = asyncio.Lock()
        async with self._sizes_lock:
            return await self._measure_sizes_now(volumes, backups)

    async def _measure_sizes_now(self, volumes, backups):
        todo_v = [v for v in volumes if self._cached_volume_size(v) is None]
        todo_b = [b for b in backups if b not in BackupStore.sizes]
        measured = {}
        if todo_v or todo_b:
            mounts, paths = size_mounts_and_paths([self.storage_of(v) for v in todo_v], todo_b)
            name = derived_name(name_stem((todo_v or todo_b)[0], self.prefix), "sizes", utcnow(), secrets.token_hex(4))
            _, out = await self.engine.run_helper(
                name,
                self._helper_image,
                ["du", "-sb", *paths],
                mounts,
                self.backups.helper_labels("sizes", *self._server_key),
                self.backup_helper_timeout,
            )
            measured = parse_du(out, paths)
            stamp = time.monotonic()
            for v in todo_v:
                if v in measured:
                    VolumeSpawner._volume_sizes[v] = (measured[v], stamp)
            for b in todo_b:
                if b in measured:
                    BackupStore.sizes[b] = measured[b]
        for v in volumes:
            if v not in measured and self._cached_volume_size(v) is not None:
                measured[v] = self._cached_volume_size(v)
        return measured

    def _cached_volume_size(self, name):
        hit = VolumeSpawner._volume_sizes.get(name)
        if hit and time.monotonic() - hit[1] <= self.volume_size_cache_seconds:
            return hit[0]
        return None

    # --- status --------------------------------------------------------------------

    async def home_volume_status(self, sizes=False):
        """The volumes, their backups and the server's state: the body of GET .../home-volume."""
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
            v["size_bytes"] = measured.get(v["name"], self._cached_volume_size(v["name"])) if v["exists"] else None
        for b in backups:
            b["size_bytes"] = BackupStore.sizes.get(b["id"])
        return status_model(
            self.home_volume_name,
            self.home_mount_path,
            volumes,
            backups,
            self.operation.state(self.pending, self.ready),
            self.pending,
            (self.backup_before_reset, self.backup_retention, self.backup_keep),
            self.operation.interrupted_action("restore"),
        )
