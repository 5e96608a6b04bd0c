"""JupyterLab extension of resettable-spawner: restart this JupyterHub server in place.

Installed in the single-user image, not in the hub. The JavaScript is prebuilt and
ships as share/jupyter/labextensions/resettable-spawner-labextension.
"""

__version__ = "0.1.0"


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "resettable-spawner-labextension"}]
