"""resettable-spawner: in-place restart and home-volume reset for DockerSpawner.

Operators' configs use three names, and one call::

    c.JupyterHub.spawner_class = "resettable-docker"  # or resettable_spawner.ResettableDockerSpawner
    c.JupyterHub.extra_handlers = resettable_spawner.extra_handlers
    c.JupyterHub.template_paths = [resettable_spawner.template_dir]
    resettable_spawner.start_with_hub()  # the hub-wide backup sweep, at start-up
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
from .handlers import RESTART_SCOPE, extra_handlers
from .hub_tasks import start_with_hub
from .spawner import ResettableDockerSpawner

__version__ = "0.1.0"


def _find_template_dir():
    # In a wheel the top-level templates/ ships inside the package; in an editable
    # install it stays beside it.
    here = Path(__file__).parent
    for candidate in (here / "templates", here.parent / "templates"):
        if (candidate / "home.html").is_file():
            return str(candidate)
    raise RuntimeError(f"resettable_spawner: templates not found near {here}")


template_dir = _find_template_dir()

__all__ = [
    "DockerUnreachable",
    "NotFound",
    "OperationFailed",
    "OperationInProgress",
    "RESTART_SCOPE",
    "ResettableDockerSpawner",
    "ResettableSpawnerError",
    "WrongServerState",
    "extra_handlers",
    "start_with_hub",
    "template_dir",
]
