# The test hubs' `jupyterhub -f` file: the config itself is tests/support/hub_config.py.
# HubProcess puts the repository root on PYTHONPATH, so that this import works.
from tests.support.hub_config import configure

configure(get_config())  # noqa: F821
