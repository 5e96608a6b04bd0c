"""Start the hub-wide sweep when the hub starts, even with no server running.

The sweep (expired backups, leftovers of a hub that died mid-copy) runs on the first
``ResettableDockerSpawner`` the hub makes. JupyterHub makes spawners lazily: at
start-up only for running servers, otherwise at a user's first visit. A hub with no
running server would sweep only then; ``start_with_hub()`` makes it sweep at start-up.
"""

import asyncio
import logging

log = logging.getLogger("JupyterHub")


def start_with_hub(poll_interval=0.5):
    """Call from jupyterhub_config.py: start the sweep as soon as the hub has loaded its users.

    JupyterHub reads its config inside its running event loop, so this schedules a task
    there. Outside a running hub (``jupyterhub upgrade-db``, tools that read the config)
    it does nothing.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    return loop.create_task(_when_hub_is_up(poll_interval))


async def _when_hub_is_up(poll_interval):
    from jupyterhub import orm
    from jupyterhub.app import JupyterHub

    # The singleton exists while the config loads; its users once its web app is made.
    while not (JupyterHub.initialized() and getattr(JupyterHub.instance(), "tornado_application", None)):
        await asyncio.sleep(poll_interval)
    app = JupyterHub.instance()
    orm_user = app.db.query(orm.User).order_by(orm.User.id).first()
    if orm_user is None:
        return  # no users yet, so no backups either
    # Any user's spawner will do: the sweep is hub-wide and starts once per process.
    app.users[orm_user].spawners[""]
    log.info("resettable-spawner: hub-wide sweep started at hub start-up")
