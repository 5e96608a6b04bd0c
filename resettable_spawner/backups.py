"""Backup volumes on an ``Engine``: make, find, list, restore from, prune and sweep them.

A backup is a volume holding ``data/`` (an exact copy of the original volume's tree,
made with ``cp -a``) and a marker file written once the copy is complete. While its
helper container exists the backup is partial: it is never listed, restored or
counted, and the sweep removes the pair if the hub died meanwhile.

``BackupStore`` is composed by the spawner's volume layer (for one server) and by the
hub-wide sweep (for every server of this hub); it knows nothing of either.
"""

import datetime
import secrets
import time
import uuid

from docker.types import Mount

from .engine import active_helpers
from .errors import BadRequest, NotFound, OperationFailed
from .objects import (
    BACKUP_OF,
    BACKUP_SCRIPT,
    DATA_DIR,
    HELPER_LABEL,
    INSTANCE_LABEL,
    PARTIAL_LABEL,
    PREFIX_LABEL,
    RESTORE_INCOMPLETE_EXIT,
    EMPTY_SCRIPT,
    HELPER_ROOT,
    HUB_LABEL,
    MISSING_EXIT,
    MOVE_BACKUP_SCRIPT,
    MOVE_PROBE_SCRIPT,
    MOVE_RESTORE_SCRIPT,
    MOVE_RESUME_SCRIPT,
    CONSUMED_EXIT,
    MOVE_ROOT,
    MOVING_LABEL,
    NOT_SAME_FILESYSTEM_EXIT,
    TARGET_NOT_EMPTY_EXIT,
    UNMOVE_SCRIPT,
    OUTSIDE_ROOT_EXIT,
    RESTORE_SCRIPT,
    RESTORING_LABEL,
    SERVER_LABEL,
    USER_LABEL,
    backup_from_volume,
    backup_labels,
    backup_mounts,
    backups_over_keep,
    derived_name,
    expired_backups,
    is_leftover_helper,
    move_argv,
    movable_data_path,
    name_stem,
    parse_du,
    restore_mounts,
    script_argv,
    utcnow,
    valid_backup_id,
)

# Exit statuses of a move helper that refused before touching anything: copy instead.
MOVE_REFUSED = (4, 6, 7)

# One id per hub process: helpers carrying another id are leftovers of a dead hub.
HUB_INSTANCE = uuid.uuid4().hex[:16]


class BackupStore:
    """The backups of one hub (``DockerSpawner.prefix``) on one engine."""

    # Process-wide: backup ids a reset or restore of this process is using, and the
    # sizes measured so far (a backup never changes).
    busy = set()
    sizes = {}
    # Engine address -> its volume folder if helpers can reach it, else None (probed once).
    move_folders = {}

    def __init__(self, engine, prefix, hub_id, log, log_name="hub"):
        self.engine = engine
        self.prefix = prefix
        self.hub_id = hub_id  # objects.hub_identity()
        self.log = log
        self.log_name = log_name

    def helper_labels(self, kind, user, server, **extra):
        return {
            HELPER_LABEL: kind,
            PREFIX_LABEL: self.prefix,
            HUB_LABEL: self.hub_id,
            INSTANCE_LABEL: HUB_INSTANCE,
            USER_LABEL: user,
            SERVER_LABEL: server,
            **extra,
        }

    async def remove(self, backup_id):
        """Remove a backup volume; False (logged) if the engine refused."""
        try:
            await self.engine.remove_volume(backup_id)
        except Exception as e:
            self.log.error("%s: cannot remove volume %s: %s", self.log_name, backup_id, e)
            return False
        BackupStore.sizes.pop(backup_id, None)
        return True

    # --- listing ----------------------------------------------------------------

    async def partial_ids(self):
        """Backup volumes a helper is still filling (here or in a hub that died)."""
        helpers = await self.engine.list_helpers([PARTIAL_LABEL, f"{PREFIX_LABEL}={self.prefix}"])
        return {h["labels"].get(PARTIAL_LABEL) for h in helpers}

    async def all(self, **label_filters):
        """Complete backups of this hub, optionally of one user."""
        labels = [BACKUP_OF, f"{PREFIX_LABEL}={self.prefix}"] + [f"{k}={v}" for k, v in label_filters.items()]
        listing = await self.engine.list_volumes(labels)
        partial = await self.partial_ids()
        out = []
        for v in listing:
            b = backup_from_volume(v)
            if b and b["_prefix"] == self.prefix and b["id"] not in partial:
                b["size_bytes"] = BackupStore.sizes.get(b["id"])
                out.append(b)
        return out

    async def of_server(self, user, server):
        """One server's complete backups, newest first."""
        backups = await self.all(**{USER_LABEL: user})
        mine = [b for b in backups if b["_user"] == user and b["_server"] == server]
        return sorted(mine, key=lambda b: (b["created"], b["id"]), reverse=True)

    async def find(self, backup_id, user, server):
        """That server's complete backup with this id; NotFound for unknown or foreign ids."""
        missing = NotFound("No such backup for this server.")
        if not isinstance(backup_id, str) or not valid_backup_id(backup_id):
            raise missing
        b = backup_from_volume(await self.engine.inspect_volume(backup_id) or {})
        if b is None or (b["_user"], b["_server"], b["_prefix"]) != (user, server, self.prefix):
            raise missing
        if b["id"] in await self.partial_ids():
            raise missing
        b["size_bytes"] = BackupStore.sizes.get(b["id"])
        return b

    # --- making and restoring ---------------------------------------------------

    def _new_backup(self, volume, reason, user, server, retention):
        """A new backup's name, its labels, and the name stem of its helper."""
        now = utcnow()
        token = secrets.token_hex(4)
        stem = name_stem(volume, self.prefix)
        labels = backup_labels(
            volume, user, server, now, now + datetime.timedelta(seconds=retention), self.prefix, reason
        )
        labels[HUB_LABEL] = self.hub_id
        return derived_name(stem, "backup", now, token), labels, lambda kind: derived_name(stem, kind, now, token)

    async def make(self, storage, reason, user, server, retention, image, timeout):
        """Copy ``storage`` into a new backup volume; return its entry once complete.

        The backup volume is created with its labels in the same request as the helper
        that fills it, so it never exists without the helper that marks it partial.
        """
        volume = storage.name
        backup, labels, helper_name = self._new_backup(volume, reason, user, server, retention)
        BackupStore.busy.add(backup)
        try:
            status, out = await self.engine.run_helper(
                helper_name("helper"),
                image,
                script_argv(BACKUP_SCRIPT, storage),
                backup_mounts(storage, backup, labels),
                self.helper_labels("backup", user, server, **{PARTIAL_LABEL: backup}),
                timeout,
            )
            check_storage_status(status, volume)
            if status != 0:
                raise OperationFailed(f"Backing up the volume {volume} failed; see the hub log.")
        except BaseException:
            # The helper is gone (run_helper removes it); a failed copy leaves no backup.
            await self.remove(backup)
            BackupStore.busy.discard(backup)
            raise
        size = parse_du(out, {f"/backup/{DATA_DIR}": backup}).get(backup)
        if size is not None:
            BackupStore.sizes[backup] = size
        entry = backup_from_volume({"Name": backup, "Labels": labels})
        entry["size_bytes"] = size
        self.log.info("%s: backed up %s into %s (%s bytes)", self.log_name, volume, backup, size)
        return entry

    async def restore(self, backup_id, storage, user, server, image, timeout):
        """Replace ``storage``'s content by the backup's; NotFound if it is not complete."""
        volume = storage.name
        status, _ = await self.engine.run_helper(
            derived_name(name_stem(volume, self.prefix), "restore", utcnow(), secrets.token_hex(4)),
            image,
            script_argv(RESTORE_SCRIPT, storage),
            restore_mounts(storage, backup_id),
            self.helper_labels("restore", user, server, **{RESTORING_LABEL: volume}),
            timeout,
        )
        check_storage_status(status, volume)
        if status == RESTORE_INCOMPLETE_EXIT:
            raise NotFound("No such backup for this server.")
        if status != 0:
            raise OperationFailed(
                f"Restoring {volume} failed part-way; restore again before starting the server. See the hub log."
            )

    async def empty(self, storage, user, server, image, timeout):
        """Delete every file of ``storage`` and keep the storage itself (folder, volume, driver)."""
        status, _ = await self.engine.run_helper(
            derived_name(name_stem(storage.name, self.prefix), "empty", utcnow(), secrets.token_hex(4)),
            image,
            script_argv(EMPTY_SCRIPT, storage),
            [storage.mount(HELPER_ROOT, read_only=False)],
            self.helper_labels("empty", user, server),
            timeout,
        )
        check_storage_status(status, storage.name)
        if status != 0:
            raise OperationFailed(f"Emptying {storage.name} failed; see the hub log.")

    def _is_leftover(self, helper, grace):
        labels = {**helper["labels"], "_name": helper["name"]}
        return is_leftover_helper(labels, helper["created"], time.time(), self.hub_id, HUB_INSTANCE, active_helpers, grace)

    # --- backups by moving the data ---------------------------------------------

    async def move_folder(self, image, timeout):
        """The engine's volume folder, if a helper can reach it there; probed once per engine.

        Not where the folder is not the engine's real one (a rootless engine, an engine
        in a VM, a remote host): the probe volume's data must be the very folder
        ``<folder>/<probe>/_data`` (same device and inode) as the helper sees it.
        """
        key = getattr(self.engine, "address", id(self.engine))
        if key in BackupStore.move_folders:
            return BackupStore.move_folders[key]
        folder = await self.engine.volume_folder()
        reachable = False
        if folder:
            probe = derived_name(f"{self.prefix}-move-probe", "probe", utcnow(), secrets.token_hex(4))
            try:
                status, _ = await self.engine.run_helper(
                    probe,
                    image,
                    ["/bin/sh", "-c", MOVE_PROBE_SCRIPT, "sh", f"{MOVE_ROOT}/{probe}/_data"],
                    [Mount("/probe", probe, type="volume", no_copy=True), Mount(MOVE_ROOT, folder, type="bind", read_only=True)],
                    self.helper_labels("probe", "", "", **{PARTIAL_LABEL: probe}),
                    timeout,
                )
                reachable = status == 0
            finally:
                await self.remove(probe)
        BackupStore.move_folders[key] = folder if reachable else None
        self.log.info(
            "Backups by move: %s",
            f"on (volume folder {folder})" if reachable else f"off, the engine's volume folder {folder} cannot be reached; backups are copies",
        )
        return BackupStore.move_folders[key]

    async def movable(self, storage, image, timeout):
        """The move helper's path of ``storage``'s data if a move is safe, else None."""
        if storage.host_root:
            return None
        volume = await self.engine.inspect_volume(storage.name)
        if volume is None or (volume.get("Driver") or "local") != "local" or volume.get("Options"):
            return None
        folder = await self.move_folder(image, timeout)
        return movable_data_path(storage.name, volume, folder)

    def _move_mounts(self, folder, backup=None, labels=None):
        mounts = [Mount(MOVE_ROOT, folder, type="bind")]
        if backup:  # created with its labels in the same request, as a copy's backup is
            mounts.append(Mount("/backup", backup, type="volume", no_copy=True, labels=labels))
        return mounts

    async def make_by_move(self, storage, data_path, reason, user, server, retention, image, timeout):
        """Back ``storage`` up by moving its data into a new backup volume; None to copy instead.

        The same backup as ``make()`` (labels, layout, marker, size); the volume is left
        empty. A failure after the rename moves the data back before the backup goes.
        """
        volume = storage.name
        folder = BackupStore.move_folders[getattr(self.engine, "address", id(self.engine))]
        backup, labels, helper_name = self._new_backup(volume, reason, user, server, retention)
        paths = (data_path, f"{MOVE_ROOT}/{backup}/_data")
        helper_labels = self.helper_labels("move", user, server, **{PARTIAL_LABEL: backup, MOVING_LABEL: volume})
        BackupStore.busy.add(backup)
        status = None
        try:
            status, out = await self.engine.run_helper(
                helper_name("move"),
                image,
                move_argv(MOVE_BACKUP_SCRIPT, *paths),
                self._move_mounts(folder, backup, labels),
                helper_labels,
                timeout,
            )
            if status in MOVE_REFUSED:
                self.log.warning("%s: cannot move %s (helper exit %s); copying instead", self.log_name, volume, status)
                return None
            if status != 0:
                raise OperationFailed(f"Backing up the volume {volume} failed; see the hub log.")
        finally:
            if status != 0:
                # Refused before the rename, or failed (or interrupted) around it: where the
                # data went into the backup, it goes back, and only then the backup goes.
                if status not in MOVE_REFUSED and not await self._unmove(folder, paths, image, timeout, helper_labels):
                    BackupStore.busy.discard(backup)
                    raise OperationFailed(f"Backing up the volume {volume} failed; see the hub log.")
                await self.remove(backup)
                BackupStore.busy.discard(backup)
        size = parse_du(out, {f"{paths[1]}/{DATA_DIR}": backup}).get(backup)
        if size is not None:
            BackupStore.sizes[backup] = size
        entry = backup_from_volume({"Name": backup, "Labels": labels})
        entry["size_bytes"] = size
        entry["_undo_move"] = (folder, paths, image, timeout, helper_labels)
        self.log.info("%s: backed up %s into %s by a move (%s bytes)", self.log_name, volume, backup, size)
        return entry

    async def discard(self, entry):
        """Drop a backup this process just made, when what it was made for failed.

        A copy is removed; a backup by move first gives its data back to the volume
        (and stays, listed and complete, if that fails).
        """
        undo = entry.get("_undo_move")
        if undo is None or await self._unmove(*undo):
            await self.remove(entry["id"])
        BackupStore.busy.discard(entry["id"])

    async def _unmove(self, folder, paths, image, timeout, labels):
        """Put the data of an interrupted move back into its volume; True when it is there."""
        status, _ = await self.engine.run_helper(
            derived_name(name_stem(labels[MOVING_LABEL], self.prefix), "unmove", utcnow(), secrets.token_hex(4)),
            image,
            move_argv(UNMOVE_SCRIPT, *paths),
            self._move_mounts(folder),
            {**labels, HELPER_LABEL: "unmove", HUB_LABEL: self.hub_id, INSTANCE_LABEL: HUB_INSTANCE},
            timeout,
        )
        if status != 0:
            self.log.error(
                "%s: could not move the data of %s back from %s (exit %s); both are kept",
                self.log_name, labels[MOVING_LABEL], labels[PARTIAL_LABEL], status,
            )
        return status == 0

    async def restore_by_move(self, backup_id, backup_path, storage, data_path, user, server, image, timeout, resume):
        """Restore by moving the backup's data into the volume, consuming the backup.

        False when the data cannot be moved (the caller copies instead). The backup
        itself is removed by the caller once the operation record is cleared. With
        ``resume``, finish a restore of this backup that the record says was interrupted.
        """
        folder = BackupStore.move_folders[getattr(self.engine, "address", id(self.engine))]
        status, _ = await self.engine.run_helper(
            derived_name(name_stem(storage.name, self.prefix), "restore", utcnow(), secrets.token_hex(4)),
            image,
            move_argv(MOVE_RESUME_SCRIPT if resume else MOVE_RESTORE_SCRIPT, backup_path, data_path),
            self._move_mounts(folder),
            self.helper_labels("restore", user, server, **{RESTORING_LABEL: storage.name}),
            timeout,
        )
        if status in (OUTSIDE_ROOT_EXIT, NOT_SAME_FILESYSTEM_EXIT):
            return False
        if status == CONSUMED_EXIT:
            # Left by a hub that died between a restore and this backup's removal.
            await self.remove(backup_id)
            raise NotFound("No such backup for this server.")
        if status == RESTORE_INCOMPLETE_EXIT:
            raise NotFound("No such backup for this server.")
        if status == TARGET_NOT_EMPTY_EXIT:
            raise OperationFailed(f"The volume {storage.name} is not empty; nothing was restored. See the hub log.")
        if status != 0:
            raise OperationFailed(
                f"Restoring {storage.name} failed part-way; restore again before starting the server. See the hub log."
            )
        return True

    async def remove_stale_restore_helpers(self, volume, grace):
        """A restore helper left by a hub that died must not keep writing meanwhile."""
        stale = await self.engine.list_helpers([f"{RESTORING_LABEL}={volume}", f"{PREFIX_LABEL}={self.prefix}"])
        for h in stale:
            if not self._is_leftover(h, grace):
                continue
            self.log.warning("%s: removing a restore helper left by an earlier hub: %s", self.log_name, h["name"])
            await self.engine.remove_helper(h["id"])

    # --- retention --------------------------------------------------------------

    async def prune(self, volumes, user, server, keep, protect=()):
        """Drop that server's backups of ``volumes`` beyond ``keep`` (oldest first)."""
        try:
            backups = [b for b in await self.of_server(user, server) if b["volume"] in volumes]
        except Exception as e:
            self.log.error("%s: cannot list backups to prune: %s", self.log_name, e)
            return []
        protect = set(protect) | BackupStore.busy
        removed = [b["id"] for b in backups_over_keep(backups, keep, protect) if await self.remove(b["id"])]
        if removed:
            self.log.info("%s: removed backups beyond backup_keep=%s: %s", self.log_name, keep, removed)
        return removed

    async def _repair_move(self, helper, image, timeout):
        """A backup-by-move whose helper outlived its hub: the data goes back, then the backup."""
        labels = helper["labels"]
        volume, backup = labels[MOVING_LABEL], labels.get(PARTIAL_LABEL)
        folder = await self.engine.volume_folder()
        paths = (f"{MOVE_ROOT}/{volume}/_data", f"{MOVE_ROOT}/{backup}/_data")
        if folder and backup and await self._unmove(folder, paths, image, timeout, labels):
            self.log.warning("sweep: moved the data of an interrupted backup of %s back from %s", volume, backup)
            return True
        return False

    async def sweep(self, grace, image=None, timeout=3600):
        """Hub-wide: remove leftovers of a hub that died mid-copy, then expired backups.

        Only objects labelled with this hub's prefix are considered. This hub's helpers
        that no operation of this process uses go at once, another hub's once older
        than ``grace`` seconds (``is_leftover_helper``), each with the partial backup
        it was filling. Expired complete backups go whichever hub made them.
        Idempotent; logs errors and never raises.
        """
        removed, foreign = [], 0
        try:
            for h in await self.engine.list_helpers([HELPER_LABEL, f"{PREFIX_LABEL}={self.prefix}"]):
                labels = h["labels"]
                if not self._is_leftover(h, grace):
                    foreign += labels.get(HUB_LABEL) != self.hub_id
                    continue
                try:
                    await self.engine.remove_helper(h["id"])
                except Exception as e:
                    self.log.error("sweep: cannot remove helper %s: %s", h["name"], e)
                    continue
                removed.append(h["name"])
                if labels.get(MOVING_LABEL) and not (image and await self._repair_move(h, image, timeout)):
                    continue  # the data may be in the partial backup: it stays
                if labels.get(RESTORING_LABEL):
                    self.log.warning(
                        "sweep: removed an unfinished restore of %s; its server will not start until it is restored again",
                        labels[RESTORING_LABEL],
                    )
                partial = labels.get(PARTIAL_LABEL)
                if partial and await self.remove(partial):
                    removed.append(partial)
            # backup_keep is applied when a backup is made (where restores protect theirs).
            for b in expired_backups(await self.all(), utcnow()):
                if b["id"] not in BackupStore.busy and await self.remove(b["id"]):
                    removed.append(b["id"])
            if removed:
                self.log.info("sweep: removed %s", ", ".join(removed))
            if foreign:
                self.log.info("sweep: left %d helper(s) of another hub with this prefix alone", foreign)
        except Exception as e:
            self.log.error("sweep of backups failed: %s", e)
        return removed


def check_storage_status(status, name):
    """The helper scripts' own refusals (objects.py), as errors for users."""
    if status == OUTSIDE_ROOT_EXIT:
        raise BadRequest(f"{name} does not resolve inside an allowed host root; nothing was changed.")
    if status == MISSING_EXIT:
        raise NotFound(f"The volume {name} does not exist.")
