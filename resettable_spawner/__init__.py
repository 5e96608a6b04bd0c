"""resettable-spawner: in-place restart and home-volume reset for DockerSpawner.

Operators' configs use three names::

    c.JupyterHub.spawner_class = "resettable-docker"  # or resettable_spawner.ResettableDockerSpawner
    # on Docker Swarm: "resettable-swarm" (resettable_spawner.ResettableSwarmSpawner)
    c.JupyterHub.extra_handlers = resettable_spawner.extra_handlers
    c.JupyterHub.template_paths = [resettable_spawner.template_dir]

A running hub whose config reads these names starts the hub-wide backup sweep
(sweep.py); ``resettable_spawner.start_with_hub()`` is its explicit form.
"""

from pathlib import Path

from .errors import (
    DockerUnreachable,
    NotFound,
    OperationFailed,
    OperationInProgress,
    ResettableSpawnerError,
    WrongServerState,
)
from . import handlers
from .handlers import RESTART_SCOPE
from .spawner import ResettableDockerSpawner
from .swarm_spawner import ResettableSwarmSpawner
from .sweep import start_with_hub

__version__ = "0.1.0"


def _find_template_dir():
    # In a wheel the top-level templates/ ships inside the package; in an editable
    # install it stays beside it.
    here = Path(__file__).parent
    for candidate in (here / "templates", here.parent / "templates"):
        if (candidate / "home.html").is_file():
            return str(candidate)
    raise RuntimeError(f"resettable_spawner: templates not found near {here}")


_template_dir = _find_template_dir()


def __getattr__(name):
    # The two names a hub's config reads arm the hub-wide sweep. JupyterHub imports
    # this package early, while it builds its app object (it loads every spawner entry
    # point), before its event loop runs; it reads its config file inside the running
    # loop, so a read of either name there is where the sweep can start.
    if name == "extra_handlers":
        start_with_hub()
        return handlers.extra_handlers
    if name == "template_dir":
        start_with_hub()
        return _template_dir
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# A config that imports the package itself, inside the running hub, arms it here.
start_with_hub()

__all__ = [
    "DockerUnreachable",
    "NotFound",
    "OperationFailed",
    "OperationInProgress",
    "RESTART_SCOPE",
    "ResettableDockerSpawner",
    "ResettableSpawnerError",
    "ResettableSwarmSpawner",
    "WrongServerState",
    "extra_handlers",
    "start_with_hub",
    "template_dir",
]
