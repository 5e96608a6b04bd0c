# JupyterHub config for the isolation benchmark's "naive" hub: the test hub's config
# (tests/hub_config.py, unchanged), but restarts and resets go through DockerSpawner's
# shared single-thread executor, as a straightforward `self.docker("restart", ...)`
# would. It shows what running long Docker calls on their own pool buys.
from pathlib import Path

_tests_config = Path(__file__).resolve().parent.parent / "tests" / "hub_config.py"
# exec in this namespace (get_config and c included) so TestSpawner is visible here.
exec(compile(_tests_config.read_text(), str(_tests_config), "exec"))


class NaiveRestartSpawner(TestSpawner):  # noqa: F821 (defined by tests/hub_config.py)
    """Every long Docker call on DockerSpawner's shared executor, like any other call."""

    def docker_long(self, method, *args, **kwargs):
        return self.docker(method, *args, **kwargs)


c.JupyterHub.spawner_class = NaiveRestartSpawner  # noqa: F821
