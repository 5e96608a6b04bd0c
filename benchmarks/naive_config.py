# JupyterHub config for the isolation benchmark's "naive" hub: the test hub's config
# (tests/support/hub_config.py, unchanged), but restarts and resets go through
# DockerSpawner's shared single-thread executor, as a straightforward
# `self.docker("restart", ...)` would. It shows what running long Docker calls on their
# own pool buys. HubProcess puts the repository root on PYTHONPATH for these imports.
from tests.support.hub_config import TestSpawner, configure


class NaiveRestartSpawner(TestSpawner):
    """Every long Docker call on DockerSpawner's shared executor, like any other call."""

    def docker_long(self, method, *args, **kwargs):
        return self.docker(method, *args, **kwargs)


configure(get_config(), spawner_class=NaiveRestartSpawner)  # noqa: F821
