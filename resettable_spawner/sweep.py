"""The hub-wide sweep: expired backups, and the leftovers of a hub that died mid-copy.

It belongs to the hub, not to a user. It runs on the settings of the hub's configured
spawner class (its Docker client, ``prefix``, ``backup_prune_interval``), read from
the hub's config by a spawner instance that has no user, and sweeps at start-up and
then every ``backup_prune_interval`` seconds.

It is armed by the config's reading of ``resettable_spawner.extra_handlers`` or
``template_dir`` (see ``__init__.py``): JupyterHub loads its config file inside its
running event loop, while ``JupyterHub.instance()`` exists. (Importing the package
alone cannot do it: JupyterHub imports it earlier, before its loop runs, when it loads
the spawner entry points.) ``start_with_hub()`` is the explicit form of the same;
arming twice starts one sweep.
"""

import asyncio
import logging
from types import SimpleNamespace

from .backups import BackupStore
from .objects import hub_identity

log = logging.getLogger("JupyterHub")

_task = None
_NOBODY = SimpleNamespace(name="", settings={})


def start_with_hub(poll_interval=0.5):
    """Start the sweep in the running hub (idempotent); outside one, do nothing.

    Outside a running hub (``jupyterhub upgrade-db``, tools that read the config)
    there is no event loop, and it returns None.
    """
    global _task
    if _task is not None:
        return _task
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    from jupyterhub.app import JupyterHub

    if not JupyterHub.initialized():
        return None
    _task = loop.create_task(_sweep_forever(JupyterHub.instance(), poll_interval))
    return _task


async def _sweep_forever(app, poll_interval):
    from .volumes import VolumeSpawner

    # The config is complete, and spawner_class resolvable, once the web app is made.
    while getattr(app, "tornado_application", None) is None:
        await asyncio.sleep(poll_interval)
    spawner_class = app.spawner_class
    if not (isinstance(spawner_class, type) and issubclass(spawner_class, VolumeSpawner)):
        log.debug("resettable-spawner: %s is not a resettable spawner; no sweep", spawner_class)
        return
    try:
        # Settings only: DockerSpawner renders its container name whenever ``image`` is
        # configured, which needs a user name; the sweep never uses that name.
        settings = spawner_class(config=app.config, log=app.log, user=_NOBODY)
        hub_id = hub_identity(app.cookie_secret)
        store = BackupStore(settings.make_engine(log_name="sweep"), settings.prefix, hub_id, app.log, "sweep")
    except Exception:
        log.exception("resettable-spawner: cannot start the hub-wide sweep")
        return
    log.info("resettable-spawner: hub-wide sweep started at hub start-up")
    while True:
        # Logs its errors, never raises.
        await store.sweep(
            settings.helper_grace_seconds, settings.backup_helper_image or settings.image, settings.backup_helper_timeout
        )
        await asyncio.sleep(settings.backup_prune_interval)
