# `make demo`: examples/jupyterhub_config.py as is, with a login anyone can try.
# examples/demo.py sets the environment (image, network, ports, data directory).
import os

c = get_config()  # noqa: F821
load_subconfig(os.path.join(os.path.dirname(__file__), "jupyterhub_config.py"))  # noqa: F821

# Any user name with the printed password logs in; no sign-up step.
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = os.environ["DEMO_PASSWORD"]
c.Authenticator.admin_users = set()
